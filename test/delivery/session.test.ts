// openSession on httpKeyProvider against the real key environment over node:http: the
// delivered keyring opens records; a revocation in the key environment wipes the session with
// reason `revoked` at its next check; a logoff in the browser tells the key environment.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineSchema, httpKeyProvider, openSession, sealRecord, TokumeiError, type SealedRecord } from '../../src/index.ts';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore, type KeyEnvironment } from '../../src/server.ts';

const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });
let env: KeyEnvironment;
let server: Server;
let url: string;
let sealed: SealedRecord;

beforeAll(async () => {
  env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    authenticate: ({ token }) => (token.startsWith('sso-token~') ? { memberId: 'M000001' } : null),
    dpop: { required: false },
  });
  await env.createMemberKey('M000001');
  const ring = await env.openKeyring('M000001');
  sealed = sealRecord(ring, schema, { id: 'M000001', fullName: '佐藤 健' }, { recordId: 'M000001' });
  ring.destroy();
  server = createServer(keyEnvironmentHandler(env, { path: '/key-env/session' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/key-env/session`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('a session on delivered keys', () => {
  it('opens records; a revocation in the key environment wipes it with reason revoked', async () => {
    const session = await openSession({
      keyProvider: httpKeyProvider({ url, getToken: () => `sso-token~${Math.random()}` }),
      revocationCheckMs: 20,
      wipeOnPagehide: false,
      crossTab: false,
    });
    const reasons: string[] = [];
    session.on('wiped', ({ reason }) => reasons.push(reason));
    expect((await session.openRecord(schema, sealed, { recordId: 'M000001' })).fullName).toBe('佐藤 健');
    expect(await env.sessionStatus(session.sessionId)).toBe('active');

    expect(await env.revokeSession(session.sessionId, 'admin')).toBe(true);
    await vi.waitFor(() => expect(reasons).toEqual(['revoked']), { timeout: 5_000, interval: 10 });
    await expect(session.openRecord(schema, sealed, { recordId: 'M000001' })).rejects.toSatisfy(
      (e: unknown) => e instanceof TokumeiError && e.code === 'ERR_SESSION_CLOSED',
    );
  });

  it('logoff in the browser tells the key environment (best effort, after the wipe)', async () => {
    const session = await openSession({ keyProvider: httpKeyProvider({ url, getToken: () => `sso-token~${Math.random()}` }), wipeOnPagehide: false, crossTab: false });
    const id = session.sessionId;
    expect(await env.sessionStatus(id)).toBe('active');
    await session.logoff();
    expect(session.state).toBe('closed');
    await vi.waitFor(async () => expect(await env.sessionStatus(id)).toBe('revoked'), { timeout: 5_000, interval: 10 });
  });

  it('a refused token fails the sign-in with ERR_AUTH', async () => {
    await expect(openSession({ keyProvider: httpKeyProvider({ url, getToken: () => 'stolen' }), wipeOnPagehide: false, crossTab: false })).rejects.toSatisfy(
      (e: unknown) => e instanceof TokumeiError && e.code === 'ERR_AUTH',
    );
  });
});
