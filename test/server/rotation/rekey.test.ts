// The rotation bookkeeping of the key environment, on a fake clock: which key each session
// seals with (recorded from the delivery and from the browser's status reports), the `rekey`
// status, rekeyProgress, and the refusal to retire a version a session may still seal with.
import { describe, expect, it } from 'vitest';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { memorySessionRegistry } from '../../../src/server/sessions/memory-registry.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';
import { codeOf } from '../../code-of.ts';

const PUBLIC_KEY = await (async () => {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
  return Buffer.from(await crypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
})();
const body = { protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey: PUBLIC_KEY };
const GRACE = 60_000;

async function setup() {
  let clock = 1_700_000_000_000;
  const sessions = memorySessionRegistry();
  const env = createKeyEnvironment({
    masterKey: localMasterKey(new Uint8Array(32).fill(3)),
    store: memoryKeyStore(),
    sessions,
    // `M1~<n>`: a fresh token for each delivery (a token opens one session).
    authenticate: ({ token }) => ({ memberId: token.split('~')[0]! }),
    dpop: { required: false },
    now: () => clock,
    rekeyGraceMs: GRACE,
  });
  const v1 = await env.createMemberKey('M1');
  await env.createMemberKey('M2');
  let tokens = 0;
  const req = (memberId: string, b: object) => ({ authorization: `Bearer ${memberId}~${++tokens}`, method: 'POST', url: 'https://keys.example/session', body: b });
  const deliver = async (memberId = 'M1') => (await env.deliverKeys(req(memberId, body))).sessionId;
  return { env, sessions, v1, deliver, req, tick: (ms: number) => (clock += ms) };
}

describe('rotation bookkeeping', () => {
  it('a session is recorded with the primary it was delivered; after a rotation its status is rekey until its browser reports the new key', async () => {
    const { env, sessions, v1, deliver, req } = await setup();
    const id = await deliver();
    expect((await sessions.get(id))!.primaryKeyId).toBe(v1.keyId);
    expect(await env.sessionStatus(id)).toBe('active');
    const v2 = await env.rotateMemberKey('M1');
    expect(await env.sessionStatus(id)).toBe('rekey');
    expect(await env.sessionStatus(id, { keyId: v1.keyId })).toBe('rekey');
    expect(await env.rekeyProgress('M1')).toEqual({ primaryKeyId: v2.keyId, live: 1, behind: 1, settling: 0 });
    // A resume delivers the new keyring, but the record waits for the browser's own report.
    await env.deliverKeys(req('M1', { ...body, sessionId: id }));
    expect((await sessions.get(id))!.primaryKeyId).toBe(v1.keyId);
    expect(await env.sessionStatus(id, { keyId: v2.keyId })).toBe('active');
    expect((await sessions.get(id))!.primaryKeyId).toBe(v2.keyId);
    expect(await env.rekeyProgress('M1')).toEqual({ primaryKeyId: v2.keyId, live: 1, behind: 0, settling: 1 });
    // A session created after the rotation seals with v2 from the start.
    const fresh = await deliver();
    expect(await env.sessionStatus(fresh)).toBe('active');
  });

  it("a reported key id that is not one of the member's is ignored, never recorded", async () => {
    const { env, sessions, v1, deliver } = await setup();
    const other = (await env.keyVersions('M2'))[0]!.keyId;
    const id = await deliver();
    await env.rotateMemberKey('M1');
    for (const keyId of [other, 'k1.made-up', '']) {
      expect(await env.sessionStatus(id, { keyId })).toBe('rekey');
      expect((await sessions.get(id))!.primaryKeyId).toBe(v1.keyId);
    }
  });

  it('retire is refused while a live session seals with the version, and while a switch is within the grace', async () => {
    const { env, v1, deliver, tick } = await setup();
    const id = await deliver();
    const v2 = await env.rotateMemberKey('M1');
    expect(await codeOf(env.retireKeyVersion('M1', v1.keyId))).toBe('ERR_KEY_IN_USE');
    await env.sessionStatus(id, { keyId: v2.keyId });
    expect(await codeOf(env.retireKeyVersion('M1', v1.keyId))).toBe('ERR_KEY_IN_USE'); // another tab may still hold v1
    tick(GRACE + 1);
    expect(await env.rekeyProgress('M1')).toEqual({ primaryKeyId: v2.keyId, live: 1, behind: 0, settling: 0 });
    expect(await codeOf(env.retireKeyVersion('M1', v1.keyId))).toBe('resolved');
    expect((await env.keyVersions('M1')).map((v) => v.state)).toEqual(['retired', 'active']);
  });

  it('a session revoked while on the old version blocks retire for the grace (its tab learns at its next check); a logoff does not', async () => {
    const { env, v1, deliver, tick } = await setup();
    const revoked = await deliver();
    const loggedOff = await deliver();
    await env.rotateMemberKey('M1');
    await env.logoff(loggedOff);
    await env.revokeSession(revoked, 'admin');
    expect(await codeOf(env.retireKeyVersion('M1', v1.keyId))).toBe('ERR_KEY_IN_USE');
    expect((await env.rekeyProgress('M1')).settling).toBe(1);
    tick(GRACE + 1);
    expect(await codeOf(env.retireKeyVersion('M1', v1.keyId))).toBe('resolved');
  });

  it("sessions of other members, and expired sessions, do not block a member's retire", async () => {
    const { env, v1, deliver, tick } = await setup();
    await deliver('M2');
    const s = await deliver('M1');
    await env.rotateMemberKey('M1');
    expect(await codeOf(env.retireKeyVersion('M1', v1.keyId))).toBe('ERR_KEY_IN_USE');
    tick(8 * 60 * 60_000 + 1); // the session's absolute lifetime
    expect(await env.sessionStatus(s)).toBe('revoked');
    expect(await codeOf(env.retireKeyVersion('M1', v1.keyId))).toBe('resolved');
  });

  it('rotateMemberKey refuses a key id that exists (the current one, an older one, another member\'s): ERR_CONFLICT, the store unchanged', async () => {
    const { env, v1 } = await setup();
    expect(await codeOf(env.rotateMemberKey('M1', { keyId: v1.keyId }))).toBe('ERR_CONFLICT');
    const v2 = await env.rotateMemberKey('M1', { keyId: 'k1.second' });
    expect(await codeOf(env.rotateMemberKey('M1', { keyId: 'k1.second' }))).toBe('ERR_CONFLICT');
    expect(await codeOf(env.rotateMemberKey('M1', { keyId: v1.keyId }))).toBe('ERR_CONFLICT');
    expect(await codeOf(env.rotateMemberKey('M1', { keyId: (await env.keyVersions('M2'))[0]!.keyId }))).toBe('ERR_CONFLICT');
    expect((await env.keyVersions('M1')).map((v) => [v.keyId, v.version])).toEqual([
      [v1.keyId, 1],
      [v2.keyId, 2],
    ]);
  });

  it('rekeyProgress of a member without a key is ERR_KEY_UNAVAILABLE; rekeyGraceMs must be a non-negative integer', async () => {
    const { env } = await setup();
    expect(await codeOf(env.rekeyProgress('nobody'))).toBe('ERR_KEY_UNAVAILABLE');
    const base = { masterKey: localMasterKey(new Uint8Array(32)), store: memoryKeyStore(), authenticate: () => null };
    expect(() => createKeyEnvironment({ ...base, rekeyGraceMs: -1 })).toThrow(RangeError);
    expect(() => createKeyEnvironment({ ...base, rekeyGraceMs: 0 })).not.toThrow();
    expect(() => createKeyEnvironment({ ...base, rekeyGraceMs: 11 * 60_000 })).toThrow(RangeError);
  });
});
