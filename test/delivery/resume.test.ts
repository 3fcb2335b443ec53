// Resuming a session (IndexedDB mode: a reload or a second tab) by re-delivery: the key
// environment seals the same session's keyring to a fresh ephemeral key, and refuses once the
// session was logged off, revoked, expired, or belongs to another member.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpKeyProvider } from '../../src/delivery/http-key-provider.ts';
import { TokumeiError } from '../../src/errors.ts';
import { keyMaterial } from '../../src/keys/member-key.ts';
import { createKeyEnvironment, type KeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';

const TOKENS: Record<string, { memberId: string }> = { 'tok-alice': { memberId: 'alice' }, 'tok-carol': { memberId: 'carol' } };
let env: KeyEnvironment;
let server: Server;
let url: string;
let now = Date.now();

beforeAll(async () => {
  env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    // One fresh token per request (`tok-alice~1`, …): a token opens one session only.
    authenticate: ({ token }) => TOKENS[token.split('~')[0]!] ?? null,
    dpop: { required: false },
    sessionLifetimeMs: 60_000,
    now: () => now,
  });
  await env.createMemberKey('alice');
  await env.createMemberKey('carol');
  server = createServer(keyEnvironmentHandler(env, { path: '/session' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/session`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

let tokens = 0;
const provider = (token = 'tok-alice') => httpKeyProvider({ url, getToken: () => `${token}~${++tokens}`, retries: 0 });
const code = (e: unknown) => (e instanceof TokumeiError ? e.code : String(e));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('resume by re-delivery', () => {
  it('re-delivers the same session: same id, same expiry, same keys, a new envelope', async () => {
    const first = await provider().fetchKeys({});
    const again = await provider().fetchKeys({ resume: first.sessionId });
    expect(again.sessionId).toBe(first.sessionId);
    expect(again.expiresAt).toBe(first.expiresAt);
    expect(again.keyring.keyIds).toEqual(first.keyring.keyIds);
    expect(hex(keyMaterial(again.keyring.primary, 'raw'))).toBe(hex(keyMaterial(first.keyring.primary, 'raw')));
    expect(await env.sessionStatus(first.sessionId)).toBe('active');
    first.keyring.destroy();
    again.keyring.destroy();
  });

  it('refuses after logoff, after revocation and after expiry: ERR_REVOKED (HTTP 410)', async () => {
    const a = await provider().fetchKeys({});
    await env.logoff(a.sessionId);
    expect(code(await provider().fetchKeys({ resume: a.sessionId }).catch((e: unknown) => e))).toBe('ERR_REVOKED');

    const b = await provider().fetchKeys({});
    await env.revokeSession(b.sessionId, 'admin');
    expect(code(await provider().fetchKeys({ resume: b.sessionId }).catch((e: unknown) => e))).toBe('ERR_REVOKED');

    const c = await provider().fetchKeys({});
    now += 60_001;
    expect(code(await provider().fetchKeys({ resume: c.sessionId }).catch((e: unknown) => e))).toBe('ERR_REVOKED');
    for (const k of [a, b, c]) k.keyring.destroy();
  });

  it("refuses another member's session, and an unknown one", async () => {
    const alice = await provider().fetchKeys({});
    expect(code(await provider('tok-carol').fetchKeys({ resume: alice.sessionId }).catch((e: unknown) => e))).toBe('ERR_REVOKED');
    expect(code(await provider().fetchKeys({ resume: 's1.unknown' }).catch((e: unknown) => e))).toBe('ERR_REVOKED');
    // the session id alone is no credential: without a valid token nothing is delivered
    expect(code(await provider('tok-nobody').fetchKeys({ resume: alice.sessionId }).catch((e: unknown) => e))).toBe('ERR_AUTH');
    alice.keyring.destroy();
  });

  it('rejects a resume id that is not a string as a malformed request', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer tok-alice' },
      body: JSON.stringify({ protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey: 'AAAA', sessionId: 42 }),
    });
    expect(res.status).toBe(400);
  });
});
