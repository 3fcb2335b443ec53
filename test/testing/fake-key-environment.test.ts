// tokumei/testing (Node): deterministic keys (pinned, and derived independently with
// node:crypto), the fake key environment in-process and over the real delivery protocol to the
// real httpKeyProvider, and every failure it makes on demand.
import { createHmac, hkdfSync } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineSchema, httpKeyProvider, openRecord, openSession, sealRecord, TokumeiError, type Session, type SessionOptions } from '../../src/index.ts';
import { keyMaterial } from '../../src/keys/member-key.ts';
import { fakeKeyEnvironment, testMemberKey, type FakeKeyEnvironment } from '../../src/testing.ts';
import { publicKey } from '../server/auth/helpers.ts';

const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });
const URL_ = 'https://key-env.test/session';
const sessions: Session[] = [];

async function open(options: SessionOptions): Promise<Session> {
  const s = await openSession({ crossTab: false, activityEvents: [], ...options });
  sessions.push(s);
  return s;
}
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.logoff();
  vi.useRealTimers();
});

function isCode(code: string) {
  return (e: unknown) => e instanceof TokumeiError && e.code === code;
}
function overHttp(env: FakeKeyEnvironment, memberId = 'M000001', extra: Partial<Parameters<typeof httpKeyProvider>[0]> = {}) {
  return httpKeyProvider({ url: URL_, getToken: () => env.token(memberId), fetch: env.fetch, ...extra });
}

describe('testMemberKey', () => {
  it('is deterministic: pinned for M000001 v1, and derived as documented (HKDF-SHA256, HMAC-SHA256)', () => {
    const key = testMemberKey('M000001');
    expect(key.keyId).toBe('k1.tLh7y2OlRgkbNOj-');
    expect(Buffer.from(keyMaterial(key, 'raw')).toString('hex')).toBe('945a1f7ee93b099fb14ea031ca15ed7ab40ac112277e4ebfd6fbdb39e2b1cc0e');
    // The same, derived independently:
    const bytes = Buffer.from(hkdfSync('sha256', 'tokumei-testing', new Uint8Array(0), 'tokumei-testing/member-key\0M000001\x001', 32));
    expect(Buffer.from(keyMaterial(key, 'raw')).equals(bytes)).toBe(true);
    const id = createHmac('sha256', 'tokumei-testing').update('tokumei-testing/key-id\0M000001\x001').digest('base64url').slice(0, 16);
    expect(key.keyId).toBe(`k1.${id}`);
    key.destroy();
  });

  it('differs by member, version and seed; a fixture sealed with it opens with a fresh handle', () => {
    const ids = [testMemberKey('M000001'), testMemberKey('M000002'), testMemberKey('M000001', { version: 2 }), testMemberKey('M000001', { seed: 'other' })].map((k) => k.keyId);
    expect(new Set(ids).size).toBe(4);
    const sealed = sealRecord(testMemberKey('M000001'), schema, { id: 'M000001', fullName: '山田 太郎' }, { recordId: 'M000001' });
    const env = fakeKeyEnvironment();
    expect(env.memberKey('M000001').keyId).toBe(ids[0]);
    expect(() => testMemberKey('')).toThrow(RangeError);
    expect(() => testMemberKey('M1', { version: 0 })).toThrow(RangeError);
    return open({ keyProvider: env.keyProvider('M000001') }).then(async (s) => {
      expect((await s.openRecord(schema, sealed, { recordId: 'M000001' })).fullName).toBe('山田 太郎');
    });
  });
});

describe('fakeKeyEnvironment, in-process', () => {
  it("delivers the member's key and their dependants'; counts deliveries and sessions", async () => {
    const env = fakeKeyEnvironment({ members: { M000001: { dependants: ['M000002'] }, M000002: {} } });
    const child = sealRecord(env.memberKey('M000002'), schema, { id: 'M000002', fullName: '山田 花子' }, { recordId: 'M000002' });
    const s = await open({ keyProvider: env.keyProvider('M000001') });
    expect((await s.openRecord(schema, child, { recordId: 'M000002' })).fullName).toBe('山田 花子');
    const mine = await s.sealRecord(schema, { id: 'M000001', fullName: '山田 太郎' }, { recordId: 'M000001' });
    expect(openRecord(env.memberKey('M000001'), schema, mine, { recordId: 'M000001' }).fullName).toBe('山田 太郎'); // the member's own key seals
    expect(() => openRecord(env.memberKey('M000002'), schema, mine, { recordId: 'M000001' })).toThrow(TokumeiError);
    expect(env.deliveries).toBe(1);
    expect(env.sessions).toEqual([{ sessionId: s.sessionId, memberId: 'M000001', expiresAt: s.expiresAt, status: 'active', deliveries: 1 }]);
    await expect(openSession({ keyProvider: env.keyProvider('M999999') })).rejects.toSatisfy(isCode('ERR_KEY_UNAVAILABLE'));
  });

  it('revoke(): the next revocation check wipes the session; a resume is refused', async () => {
    vi.useFakeTimers();
    const env = fakeKeyEnvironment();
    const provider = env.keyProvider('M000001');
    const s = await open({ keyProvider: provider, revocationCheckMs: 1000 });
    const other = await open({ keyProvider: provider, revocationCheckMs: 1000 });
    env.revoke(s.sessionId);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.wipeReason).toBe('revoked');
    expect(other.state).toBe('open'); // positive control: only that session
    await expect(provider.fetchKeys({ resume: s.sessionId })).rejects.toSatisfy(isCode('ERR_REVOKED'));
    env.revoke();
    await vi.advanceTimersByTimeAsync(1000);
    expect(other.wipeReason).toBe('revoked');
    expect(env.sessions.map((x) => x.status)).toEqual(['revoked', 'revoked']);
  });

  it('expire(): the session is reported revoked and cannot be resumed; logoff is recorded', async () => {
    const env = fakeKeyEnvironment();
    const provider = env.keyProvider('M000001');
    const a = await open({ keyProvider: provider });
    const b = await open({ keyProvider: provider });
    expect((await provider.fetchKeys({ resume: a.sessionId })).sessionId).toBe(a.sessionId); // resumable while live
    env.expire(a.sessionId);
    expect(await provider.checkSession!(a.sessionId, {})).toBe('revoked');
    await expect(provider.fetchKeys({ resume: a.sessionId })).rejects.toSatisfy(isCode('ERR_REVOKED'));
    await b.logoff();
    await vi.waitFor(() => expect(env.sessions.map((x) => x.status)).toEqual(['expired', 'logged-off']));
    expect(env.sessions[0]!.deliveries).toBe(2);
  });

  it.each([
    ['auth', 'ERR_AUTH'],
    ['no-key', 'ERR_KEY_UNAVAILABLE'],
    ['unavailable', 'ERR_KEY_UNAVAILABLE'],
    ['html', 'ERR_KEY_UNAVAILABLE'],
    ['network', 'ERR_KEY_UNAVAILABLE'],
    ['csp', 'ERR_KEY_UNAVAILABLE'],
    ['cors', 'ERR_KEY_UNAVAILABLE'],
  ] as const)('failNext(%s) fails the next sign-in with %s, and only that one', async (failure, code) => {
    const env = fakeKeyEnvironment();
    env.failNext(failure);
    await expect(openSession({ keyProvider: env.keyProvider('M000001') })).rejects.toSatisfy(isCode(code));
    expect((await open({ keyProvider: env.keyProvider('M000001') })).state).toBe('open');
  });

  it("failNext('timeout') holds the sign-in until it is aborted", async () => {
    const env = fakeKeyEnvironment();
    env.failNext('timeout');
    const abort = new AbortController();
    const p = openSession({ keyProvider: env.keyProvider('M000001'), signal: abort.signal });
    await new Promise((r) => setTimeout(r, 20));
    abort.abort(new Error('gave up'));
    await expect(p).rejects.toThrow('gave up');
  });
});

describe('fakeKeyEnvironment over the delivery protocol (the real httpKeyProvider)', () => {
  it('signs in with HPKE, resumes the same session, reports status and records the logoff', async () => {
    const env = fakeKeyEnvironment();
    const sealed = sealRecord(env.memberKey('M000001'), schema, { id: 'M000001', fullName: '山田 太郎' }, { recordId: 'M000001' });
    const provider = overHttp(env);
    const s = await open({ keyProvider: provider });
    expect((await s.openRecord(schema, sealed, { recordId: 'M000001' })).fullName).toBe('山田 太郎');
    const again = await provider.fetchKeys({ resume: s.sessionId });
    expect(again.sessionId).toBe(s.sessionId);
    expect(again.expiresAt).toBe(s.expiresAt);
    again.keyring.destroy();
    expect(await provider.checkSession!(s.sessionId, {})).toBe('active');
    await s.logoff();
    await vi.waitFor(() => expect(env.sessions[0]!.status).toBe('logged-off'));
    expect(await provider.checkSession!(s.sessionId, {})).toBe('revoked');
    await expect(provider.fetchKeys({ resume: s.sessionId })).rejects.toSatisfy(isCode('ERR_REVOKED'));
    expect(env.deliveries).toBe(2);
  });

  it('refuses a token it did not issue (401) and a member it does not know (404)', async () => {
    const env = fakeKeyEnvironment({ members: { M000001: {} } });
    await expect(openSession({ keyProvider: httpKeyProvider({ url: URL_, getToken: () => 'forged', fetch: env.fetch }) })).rejects.toSatisfy(isCode('ERR_AUTH'));
    await expect(openSession({ keyProvider: overHttp(env, 'M999999') })).rejects.toSatisfy(isCode('ERR_KEY_UNAVAILABLE'));
  });

  it.each([
    ['auth', 'ERR_AUTH'],
    ['no-key', 'ERR_KEY_UNAVAILABLE'],
  ] as const)('failNext(%s) over HTTP is %s, not retried', async (failure, code) => {
    const env = fakeKeyEnvironment();
    env.failNext(failure);
    await expect(openSession({ keyProvider: overHttp(env) })).rejects.toSatisfy(isCode(code));
    expect((await open({ keyProvider: overHttp(env) })).state).toBe('open'); // the next one works
  });

  it("an unavailable key environment (503) or the network failing is retried: one failure is survived, three are not", async () => {
    for (const failure of ['unavailable', 'network'] as const) {
      const env = fakeKeyEnvironment();
      env.failNext(failure, 1);
      expect((await open({ keyProvider: overHttp(env, 'M000001', { retries: 2 }) })).state).toBe('open');
      env.failNext(failure, 3);
      await expect(openSession({ keyProvider: overHttp(env, 'M000001', { retries: 2 }) })).rejects.toSatisfy(isCode('ERR_KEY_UNAVAILABLE'));
    }
  });

  it.each([
    ['no-key', 'no-key'],
    ['unavailable', 'outage'],
    ['html', 'not-key-environment'],
    ['network', 'unreachable'],
  ] as const)('failNext(%s) gives reason %s, in-process as over HTTP through httpKeyProvider', async (failure, reason) => {
    const env = fakeKeyEnvironment();
    const reasons: unknown[] = [];
    for (const keyProvider of [env.keyProvider('M000001'), overHttp(env, 'M000001', { retries: 0 })]) {
      env.failNext(failure);
      reasons.push(await openSession({ keyProvider }).then(() => 'opened', (err: TokumeiError) => [err.code, err.reason]));
    }
    expect(reasons).toEqual([['ERR_KEY_UNAVAILABLE', reason], ['ERR_KEY_UNAVAILABLE', reason]]);
  });

  it("failNext('csp' | 'cors'): reason csp or cors in-process; over HTTP in Node, unreachable after the retries, as the real httpKeyProvider says there", async () => {
    for (const failure of ['csp', 'cors'] as const) {
      const env = fakeKeyEnvironment();
      env.failNext(failure);
      const inProcess = await openSession({ keyProvider: env.keyProvider('M000001') }).then(() => 'opened', (err: TokumeiError) => [err.code, err.reason, err.message]);
      expect(inProcess).toEqual(['ERR_KEY_UNAVAILABLE', failure, `key environment: ${failure} (fake: ${failure})`]);
      let posts = 0;
      const counting: typeof fetch = (input, init) => {
        if (init?.method === 'POST') posts++;
        return env.fetch(input, init);
      };
      env.failNext(failure, 3);
      const http = httpKeyProvider({ url: URL_, getToken: () => env.token('M000001'), fetch: counting, retries: 2 });
      expect(await openSession({ keyProvider: http }).then(() => 'opened', (err: TokumeiError) => [err.code, err.reason, posts])).toEqual(['ERR_KEY_UNAVAILABLE', 'unreachable', 3]);
      // Control: with nothing planned the same provider signs in.
      expect((await open({ keyProvider: http })).state).toBe('open');
    }
  });

  it("handle(): 'cors' aborts the request but answers the GET after it; 'csp' aborts both", async () => {
    const env = fakeKeyEnvironment();
    const delivery = async () => ({ url: URL_, headers: { origin: 'https://portal.test', authorization: `Bearer ${env.token('M000001')}` }, body: JSON.stringify({ protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey: await publicKey() }) });
    env.failNext('cors');
    await expect(env.handle(await delivery())).rejects.toThrow(TypeError);
    expect((await env.handle({ url: URL_, method: 'GET' })).status).toBe(405);
    const ok = await env.handle(await delivery()); // control: the same request, nothing planned
    expect([ok.status, ok.headers['access-control-allow-origin']]).toEqual([200, 'https://portal.test']);
    env.failNext('csp');
    await expect(env.handle(await delivery())).rejects.toThrow(TypeError);
    await expect(env.handle({ url: URL_, method: 'GET' })).rejects.toThrow(TypeError);
    expect(() => env.failNext('proxy' as never)).toThrow(RangeError);
  });

  it("failNext('timeout') over HTTP: no answer, so httpKeyProvider's deadline gives ERR_TIMEOUT", async () => {
    const env = fakeKeyEnvironment();
    env.failNext('timeout');
    await expect(openSession({ keyProvider: overHttp(env, 'M000001', { timeoutMs: 200 }) })).rejects.toSatisfy(isCode('ERR_TIMEOUT'));
  });

  it('handle(): CORS preflight for any origin, 405 for other methods, 400 for a body of another protocol', async () => {
    const env = fakeKeyEnvironment();
    const pre = await env.handle({ url: URL_, method: 'OPTIONS', headers: { origin: 'https://portal.test' } });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://portal.test');
    expect(pre.headers['access-control-allow-headers']).toContain('DPoP');
    expect((await env.handle({ url: URL_, method: 'GET' })).status).toBe(405);
    expect((await env.handle({ url: URL_, body: JSON.stringify({ protocol: 'other' }) })).status).toBe(400);
  });

  it('rejects malformed options and failures', () => {
    expect(() => fakeKeyEnvironment({ lifetimeMs: 0 })).toThrow(RangeError);
    expect(() => fakeKeyEnvironment({ seed: '' })).toThrow(RangeError);
    const env = fakeKeyEnvironment();
    expect(() => env.failNext('boom' as never)).toThrow(RangeError);
    expect(() => env.revoke('s1.unknown')).toThrow(RangeError);
  });
});
