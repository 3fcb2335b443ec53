// The MasterKey contract, one suite run against every implementation: the local master key and
// the PKCS#11 master key on a real SoftHSM2 token. Whatever stands behind the interface, a wrap
// is bound to its context, every tamper is the one opaque error, the library makes every IV,
// the caller's buffers are never touched, and an unwrapped key comes back in a buffer of its own.
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { TokumeiError, DECRYPTION_FAILED_MESSAGE } from '../../../src/errors.ts';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import type { MasterKey } from '../../../src/server/master-keys/master-key.ts';
import { pkcs11MasterKey } from '../../../src/server/master-keys/pkcs11/pkcs11-master-key.ts';
import { unwrapEntry, wrapContext } from '../../../src/server/master-keys/wrap.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';
import { softHsm, USER_PIN } from './softhsm.ts';
import { codeOf } from '../../code-of.ts';

const hsm = softHsm();
hsm.initToken('contract');
const opened: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const m of opened) await m.close();
  hsm.cleanup();
});

let keyN = 0;
async function hsmKey(): Promise<MasterKey> {
  const m = await pkcs11MasterKey({ library: hsm.library, tokenLabel: 'contract', pin: USER_PIN, keyLabel: `contract-${++keyN}`, create: true, sessions: 2 });
  opened.push(m);
  return m;
}
const localKey = async (): Promise<MasterKey> => localMasterKey(crypto.getRandomValues(new Uint8Array(32)));

const implementations: [string, () => Promise<MasterKey>][] = [
  ['localMasterKey', localKey],
  ['pkcs11MasterKey (SoftHSM2)', hsmKey],
];

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return 'resolved';
}
const ctxOf = (memberId: string, keyId = 'k1.AAAAAAAAAAAAAAAA', version = 1) => wrapContext({ memberId, keyId, version, state: 'active' });

for (const [name, makeKey] of implementations) {
  describe(`MasterKey contract: ${name}`, () => {
    // Two master keys of this kind for the whole suite (opening a PKCS#11 one starts its threads).
    const made: Promise<MasterKey>[] = [];
    const make = (): Promise<MasterKey> => (made[0] ??= makeKey());
    const another = (): Promise<MasterKey> => (made[1] ??= makeKey());
    it('wraps and unwraps 1 to 65,536 bytes; the wrapped form is 0x01 ‖ iv(12) ‖ ciphertext ‖ tag(16)', async () => {
      const m = await make();
      const ctx = ctxOf('M000001');
      await expect(m.wrap(new Uint8Array(0), ctx)).rejects.toThrow(RangeError);
      await expect(m.wrap(new Uint8Array(65_537), ctx)).rejects.toThrow(RangeError);
      for (const n of [1, 32, 100, 65_536]) {
        const plain = crypto.getRandomValues(new Uint8Array(n));
        const wrapped = await m.wrap(plain, ctx);
        expect(wrapped.length).toBe(1 + 12 + n + 16);
        expect(wrapped[0]).toBe(1);
        const out = await m.unwrap(wrapped, ctx);
        expect(Buffer.from(out)).toEqual(Buffer.from(plain));
      }
    });

    it('makes a fresh IV for every wrap: the same key wrapped 200 times gives 200 different values', async () => {
      const m = await make();
      const key = crypto.getRandomValues(new Uint8Array(32));
      const wraps = await Promise.all(Array.from({ length: 200 }, () => m.wrap(key, ctxOf('M1'))));
      expect(new Set(wraps.map((w) => Buffer.from(w.subarray(1, 13)).toString('hex'))).size).toBe(200);
      expect(new Set(wraps.map((w) => Buffer.from(w).toString('hex'))).size).toBe(200);
    });

    it('is bound to its context: another member, key id or version does not unwrap', async () => {
      const m = await make();
      const key = crypto.getRandomValues(new Uint8Array(32));
      const wrapped = await m.wrap(key, ctxOf('M000001', 'k1.AAAAAAAAAAAAAAAA', 1));
      expect(Buffer.from(await m.unwrap(wrapped, ctxOf('M000001', 'k1.AAAAAAAAAAAAAAAA', 1)))).toEqual(Buffer.from(key));
      expect(await codeOf(m.unwrap(wrapped, ctxOf('M000002', 'k1.AAAAAAAAAAAAAAAA', 1)))).toBe('ERR_DECRYPTION_FAILED');
      expect(await codeOf(m.unwrap(wrapped, ctxOf('M000001', 'k1.AAAAAAAAAAAAAAAB', 1)))).toBe('ERR_DECRYPTION_FAILED');
      expect(await codeOf(m.unwrap(wrapped, ctxOf('M000001', 'k1.AAAAAAAAAAAAAAAA', 2)))).toBe('ERR_DECRYPTION_FAILED');
      expect(await codeOf(m.unwrap(wrapped, new Uint8Array(0)))).toBe('ERR_DECRYPTION_FAILED');
    });

    it('every tamper is the one opaque error: a flipped bit anywhere, truncation, extension, another version byte, another master key', async () => {
      const m = await make();
      const ctx = ctxOf('M1');
      const wrapped = await m.wrap(crypto.getRandomValues(new Uint8Array(32)), ctx);
      const bad: Uint8Array[] = [];
      for (let i = 0; i < wrapped.length; i++) {
        const b = wrapped.slice();
        b[i]! ^= 1 << (i % 8);
        bad.push(b);
      }
      bad.push(wrapped.subarray(0, wrapped.length - 1), wrapped.subarray(0, 28), wrapped.subarray(0, 1), new Uint8Array(0));
      bad.push(Uint8Array.from([...wrapped, 0]));
      const versioned = wrapped.slice();
      versioned[0] = 2;
      bad.push(versioned);
      for (const b of bad) {
        const err = await failure(m.unwrap(b, ctx));
        expect(err).toBeInstanceOf(TokumeiError);
        expect((err as TokumeiError).code).toBe('ERR_DECRYPTION_FAILED');
        expect((err as TokumeiError).message).toBe(DECRYPTION_FAILED_MESSAGE);
        expect((err as TokumeiError).cause).toBeUndefined();
      }
      expect(await codeOf((await another()).unwrap(wrapped, ctx))).toBe('ERR_DECRYPTION_FAILED');
      // Positive control: the untampered value still unwraps after all that.
      expect((await m.unwrap(wrapped, ctx)).length).toBe(32);
    });

    it('never touches the caller\'s buffers; the unwrapped key comes back in an off-heap buffer of its own', async () => {
      const m = await make();
      const key = crypto.getRandomValues(new Uint8Array(32));
      const ctx = ctxOf('M1');
      const [keyCopy, ctxCopy] = [key.slice(), ctx.slice()];
      const wrapped = await m.wrap(key, ctx);
      const wrappedCopy = wrapped.slice();
      const a = await m.unwrap(wrapped, ctx);
      const b = await m.unwrap(wrapped, ctx);
      expect([key, ctx, wrapped]).toEqual([keyCopy, ctxCopy, wrappedCopy]);
      expect(a).not.toBeInstanceOf(Buffer); // not a slice of Node's shared Buffer pool
      expect(a.byteOffset).toBe(0);
      expect(a.buffer).not.toBe(b.buffer);
      a.fill(0); // the caller's to wipe: wiping one leaves the other and the master key intact
      expect(Buffer.from(b)).toEqual(Buffer.from(key));
      expect(Buffer.from(await m.unwrap(wrapped, ctx))).toEqual(Buffer.from(key));
    });

    it('concurrent wraps and unwraps each get their own result', async () => {
      const m = await make();
      const keys = Array.from({ length: 100 }, () => crypto.getRandomValues(new Uint8Array(32)));
      const wrapped = await Promise.all(keys.map((k, i) => m.wrap(k, ctxOf(`M${i}`))));
      const out = await Promise.all(wrapped.map((w, i) => m.unwrap(w, ctxOf(`M${i}`))));
      expect(out.map((o) => Buffer.from(o).toString('hex'))).toEqual(keys.map((k) => Buffer.from(k).toString('hex')));
    });

    it('has a stable public id; JSON and inspect show no key material; non-bytes are a TypeError', async () => {
      const m = await make();
      expect(typeof m.id).toBe('string');
      expect(m.id.length).toBeGreaterThan(4);
      expect(m.id).toBe(m.id);
      expect(JSON.stringify(m)).toContain(m.id);
      expect(inspect(m)).toContain(m.id);
      expect(`${JSON.stringify(m)} ${inspect(m, { showHidden: true, depth: 5 })}`).not.toContain(USER_PIN);
      await expect(m.wrap('key' as never, ctxOf('M1'))).rejects.toThrow(TypeError);
      await expect(m.unwrap(new Uint8Array(40), 'ctx' as never)).rejects.toThrow(TypeError);
    });

    it('stands behind a key environment: keys are created, delivered, and an entry moved to another member does not unwrap', async () => {
      const m = await make();
      const store = memoryKeyStore();
      const env = createKeyEnvironment({ masterKey: m, store, authenticate: () => ({ memberId: 'M000001' }) });
      const v1 = await env.createMemberKey('M000001');
      await env.createMemberKey('M000002');
      const ring = await env.openKeyring('M000001');
      expect(ring.keyIds).toEqual([v1.keyId]);
      ring.destroy();
      const [own] = await store.versions('M000001');
      expect(own!.masterKeyId).toBe(m.id);
      expect((await unwrapEntry(m, own!)).length).toBe(32);
      expect(await codeOf(unwrapEntry(m, { ...own!, memberId: 'M000002' }))).toBe('ERR_DECRYPTION_FAILED');
      expect(await codeOf(unwrapEntry(m, { ...own!, version: 2 }))).toBe('ERR_DECRYPTION_FAILED');
    });
  });
}
