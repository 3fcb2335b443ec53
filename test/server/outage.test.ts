// "No key for this member" and "the key environment's HSM, KMS or store is down" are different
// answers over real HTTP: 404 ERR_KEY_UNAVAILABLE (final) against 503 with Retry-After (the
// browser retries, the operator is told). The outage is made to happen for real: a master key in
// SoftHSM2 whose token is taken away, and a KMS-style master key that loses its service.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TokumeiError } from '../../src/errors.ts';
import { createKeyEnvironment, type KeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import type { MasterKey } from '../../src/server/master-keys/master-key.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';
import { pkcs11MasterKey } from '../../src/server/master-keys/pkcs11/pkcs11-master-key.ts';
import { KeyEnvironmentOutage } from '../../src/server/outage.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { deliveryBody } from './auth/helpers.ts';
import { softHsm, USER_PIN } from './master-keys/softhsm.ts';

const hsm = softHsm();
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(() => hsm.cleanup());

let tokens = 0;
/** A key environment for M000001 (M000404 has no key) served over HTTP; what onError was told. */
async function serve(masterKey: MasterKey): Promise<{ env: KeyEnvironment; deliver: (memberId: string) => Promise<Response>; errors: unknown[] }> {
  const env = createKeyEnvironment({
    masterKey,
    store: memoryKeyStore(),
    authenticate: ({ token }) => ({ memberId: token.split('~')[0]! }),
    dpop: { required: false },
  });
  await env.createMemberKey('M000001');
  const errors: unknown[] = [];
  const handler = keyEnvironmentHandler(env, { path: '/session', onError: (e) => errors.push(e) });
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/session`;
  const deliver = async (memberId: string): Promise<Response> =>
    fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${memberId}~${++tokens}` }, // a fresh token each time
      body: JSON.stringify(await deliveryBody()),
    });
  return { env, deliver, errors };
}

/** A master key over a "KMS" that can be switched off, as a cloud KMS wrapper would be written. */
function kmsMasterKey(): { masterKey: MasterKey; up: { value: boolean } } {
  const inner = localMasterKey(new Uint8Array(32).fill(7));
  const up = { value: true };
  const call = <T>(op: () => Promise<T>): Promise<T> => {
    if (!up.value) return Promise.reject(new KeyEnvironmentOutage('the KMS did not answer', { cause: new Error('ETIMEDOUT'), retryAfterMs: 2500 }));
    return op();
  };
  return { up, masterKey: { id: inner.id, wrap: (p, c) => call(() => inner.wrap(p, c)), unwrap: (w, c) => call(() => inner.unwrap(w, c)) } };
}

describe('key environment over HTTP: no key against an outage', () => {
  it('a member with no key is 404 ERR_KEY_UNAVAILABLE, without Retry-After, and no internal error', async () => {
    const { deliver, errors } = await serve(kmsMasterKey().masterKey);
    const res = await deliver('M000404');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'ERR_KEY_UNAVAILABLE' });
    expect(res.headers.get('retry-after')).toBeNull();
    expect(errors).toEqual([]);
  });

  it('a master key whose KMS is down is 503 unavailable with Retry-After, told to onError; it delivers again once the KMS is back', async () => {
    const { masterKey, up } = kmsMasterKey();
    const { deliver, errors } = await serve(masterKey);
    expect((await deliver('M000001')).status).toBe(200); // control: the same request while it is up
    up.value = false;
    const res = await deliver('M000001');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'unavailable' }); // no detail for the browser
    expect(res.headers.get('retry-after')).toBe('3'); // 2,500 ms, rounded up to seconds
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(KeyEnvironmentOutage);
    expect((await deliver('M000404')).status).toBe(404); // a member with no key is still told so
    up.value = true;
    expect((await deliver('M000001')).status).toBe(200);
  });

  it('the master key in SoftHSM2 with its token taken away: 503 with Retry-After (not the 404 of a missing key), 200 once the token is back', async () => {
    const label = 'outage-1';
    hsm.initToken(label);
    const m = await pkcs11MasterKey({ library: hsm.library, tokenLabel: label, pin: USER_PIN, keyLabel: 'mk', create: true, sessions: 1, retryIntervalMs: 100 });
    closers.push(() => m.close());
    const { deliver, errors } = await serve(m);
    expect((await deliver('M000001')).status).toBe(200);
    const putBack = hsm.removeToken(label);
    const res = await deliver('M000001');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(errors[0]).toBeInstanceOf(KeyEnvironmentOutage);
    expect((errors[0] as TokumeiError).code).toBe('ERR_KEY_UNAVAILABLE');
    expect((errors[0] as Error).message).not.toContain(USER_PIN);
    putBack();
    await new Promise((r) => setTimeout(r, 150)); // past retryIntervalMs: the next call reconnects
    expect((await deliver('M000001')).status).toBe(200);
  });

  it('KeyEnvironmentOutage refuses a Retry-After that is not a positive integer', () => {
    expect(() => new KeyEnvironmentOutage('x', { retryAfterMs: 0 })).toThrow(RangeError);
    expect(new KeyEnvironmentOutage('x')).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', retryAfterMs: 5000, name: 'KeyEnvironmentOutage' });
  });
});
