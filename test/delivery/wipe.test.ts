// Zeroization by instrumentation for key delivery (STYLE.md): every secret buffer allocated on
// either side (unwrapped member keys, payload, DH output, shared secret, PRKs, AEAD key, base
// nonce) and every plaintext the cipher produced is zero once fetchKeys returns — on success and
// on every failure path — except the delivered keys the keyring owns, which are zero after destroy().
import { beforeEach, describe, expect, it, vi } from 'vitest';

const seen = vi.hoisted(() => ({ allocated: [] as Uint8Array[], dh: [] as ArrayBuffer[], plain: [] as Uint8Array[] }));

vi.mock('../../src/internal/secret.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/internal/secret.ts')>();
  return {
    ...real,
    allocSecret: (n: number) => {
      const b = real.allocSecret(n);
      seen.allocated.push(b);
      return b;
    },
  };
});

// What the AEAD opens is recorded (it must be wiped, and never produced when the tag fails).
vi.mock('../../src/keys/aes-gcm.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/keys/aes-gcm.ts')>();
  class Observed extends real.AesGcmKey {
    override open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
      const ok = super.open(nonce, aad, sealed, out);
      if (ok) seen.plain.push(out);
      return ok;
    }
  }
  return { ...real, AesGcmKey: Observed };
});

const { httpKeyProvider } = await import('../../src/delivery/http-key-provider.ts');
const { createKeyEnvironment } = await import('../../src/server/key-environment.ts');
const { memoryKeyStore } = await import('../../src/server/stores/memory-store.ts');
const { localMasterKey } = await import('../../src/server/master-keys/local.ts');
const { keyMaterial } = await import('../../src/keys/member-key.ts');
const { fromBase64url, toBase64url } = await import('../../src/internal/bytes.ts');
const { sealBase } = await import('../../src/server/delivery/hpke-seal.ts');
const { deliveryInfo, suiteFor, PAYLOAD_BLOCK } = await import('../../src/delivery/payload.ts');
const { TokumeiError } = await import('../../src/errors.ts');

const env = createKeyEnvironment({
  masterKey: localMasterKey(new Uint8Array(32).fill(3)),
  store: memoryKeyStore(),
  authenticate: () => ({ memberId: 'M1', dependants: ['M2'] }),
  dpop: { required: false },
});
await env.createMemberKey('M1');
await env.rotateMemberKey('M1');
await env.createMemberKey('M2');

const realDeriveBits = crypto.subtle.deriveBits.bind(crypto.subtle);
vi.spyOn(crypto.subtle, 'deriveBits').mockImplementation(async (...args: Parameters<typeof crypto.subtle.deriveBits>) => {
  const out = await realDeriveBits(...args);
  seen.dh.push(out);
  return out;
});

type Answer = (request: { kem: string; publicKey: string }) => Promise<unknown>;
const providerAnswering = (answer: Answer, kem: 'P-256' | 'X25519' = 'P-256') =>
  httpKeyProvider({
    kem,
    url: 'https://key-env.invalid/session',
    getToken: () => 'token',
    retries: 0,
    fetch: async (_url, init) => new Response(JSON.stringify(await answer(JSON.parse(String(init?.body)))), { status: 200 }),
  });
// A fresh token for every delivery (each token opens one session).
const realDelivery: Answer = (body) =>
  env.deliverKeys({ authorization: `Bearer token-${Math.random()}`, method: 'POST', url: 'https://keys.example/session', body: { protocol: 'tokumei-key-delivery/1', ...body } });
const isZero = (b: Uint8Array) => b.every((x) => x === 0);

beforeEach(() => {
  seen.allocated.length = 0;
  seen.dh.length = 0;
  seen.plain.length = 0;
});

function expectAllZeroExcept(keep: Set<Uint8Array>) {
  expect(seen.allocated.length).toBeGreaterThan(10);
  expect(seen.dh.length).toBeGreaterThanOrEqual(1);
  expect(seen.plain.length).toBeGreaterThanOrEqual(1);
  for (const b of seen.allocated) if (!keep.has(b)) expect(isZero(b), `allocSecret(${b.length})`).toBe(true);
  for (const b of seen.dh) expect(isZero(new Uint8Array(b)), 'DH output').toBe(true);
  for (const b of seen.plain) expect(isZero(b), 'opened payload').toBe(true);
}

describe('delivery leaves no secret behind', () => {
  for (const kem of ['P-256', 'X25519'] as const) {
    it(`${kem}: success — only the keyring's own key buffers are non-zero, and those after destroy()`, async () => {
      const keys = await providerAnswering(realDelivery, kem).fetchKeys({});
      expect(seen.dh).toHaveLength(1);
      expect(keys.keyring.keyIds).toHaveLength(3);
      const held = new Set(keys.keyring.keyIds.map((id) => keyMaterial(keys.keyring.get(id), 'raw')));
      for (const b of held) {
        expect(seen.allocated).toContain(b); // the delivered key landed directly in an allocSecret buffer
        expect(isZero(b)).toBe(false);
      }
      expectAllZeroExcept(held);
      keys.keyring.destroy();
      expectAllZeroExcept(new Set());
    });
  }

  it('a tampered ciphertext: everything is zero when the error arrives', async () => {
    const p = providerAnswering(async (body) => {
      const res = (await realDelivery(body)) as Record<string, string>;
      const ct = fromBase64url(res.ciphertext!)!;
      ct[0]! ^= 1;
      return { ...res, ciphertext: toBase64url(ct) };
    });
    const err = await p.fetchKeys({}).catch((e: unknown) => e);
    expect((err as InstanceType<typeof TokumeiError>).code).toBe('ERR_DECRYPTION_FAILED');
    expect(seen.plain).toHaveLength(0); // the tag failed: no plaintext was ever produced
    for (const b of seen.allocated) expect(isZero(b)).toBe(true);
    for (const b of seen.dh) expect(isZero(new Uint8Array(b))).toBe(true);
  });

  it('an authentic payload that is malformed after two keys: the keys made so far are destroyed', async () => {
    const p = providerAnswering(async (body) => {
      // Two well-formed entries, then a non-zero padding byte.
      const payload = new Uint8Array(PAYLOAD_BLOCK);
      payload.set([1, 2, 0]);
      let o = 3;
      for (const id of ['a.1', 'b.1']) {
        payload[o++] = id.length;
        payload.set(new TextEncoder().encode(id), o);
        o += id.length;
        payload.fill(0x5a, o, o + 32);
        o += 32;
      }
      payload[PAYLOAD_BLOCK - 1] = 1;
      const expiresAt = Date.now() + 60_000;
      const sealed = sealBase(suiteFor(body.kem)!, fromBase64url(body.publicKey)!, deliveryInfo('M1', 's1.x', expiresAt), new Uint8Array(0), payload);
      return { protocol: 'tokumei-key-delivery/1', kem: body.kem, sessionId: 's1.x', memberId: 'M1', expiresAt, enc: toBase64url(sealed.enc), ciphertext: toBase64url(sealed.ciphertext) };
    });
    const err = await p.fetchKeys({}).catch((e: unknown) => e);
    expect((err as InstanceType<typeof TokumeiError>).code).toBe('ERR_DECRYPTION_FAILED');
    expect(seen.allocated.filter((b) => b.length === 32).length).toBeGreaterThanOrEqual(2);
    expectAllZeroExcept(new Set());
  });
});
