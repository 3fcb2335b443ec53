// The field cipher (src/keys/aes-gcm.ts: the FIPS 197 block of aes-block.ts, GHASH and the GCM
// composition) against published known answers — Wycheproof's AES-GCM groups and NIST CAVP's GCM vectors
// for AES-256 with 96-bit IVs and 128-bit tags, FIPS 197's key expansion example — against
// node:crypto and noble's `gcm` on random inputs, and its GHASH tables against a bit-by-bit
// reference.
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gcm } from '@noble/ciphers/aes.js';
import { describe, expect, it, vi } from 'vitest';
import { AesGcmKey } from '../../src/keys/aes-gcm.ts';
import { hashSubkey, keySchedule, tableEntry } from './gcm-reference.ts';

// Every secret buffer the cipher allocates, so a test can read the state it keeps.
const allocated = vi.hoisted(() => [] as Uint8Array[]);
vi.mock('../../src/internal/secret.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/internal/secret.ts')>();
  return { ...real, allocSecret: (n: number) => (allocated.push(real.allocSecret(n)), allocated.at(-1)!) };
});

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const json = (name: string) => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8'));

/** A key in an off-heap buffer, as the library keeps keys. */
function keyOf(bytes: Uint8Array): AesGcmKey {
  const k = new Uint8Array(new ArrayBuffer(32));
  k.set(bytes);
  return new AesGcmKey(k);
}

function open(key: AesGcmKey, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(Math.max(0, sealed.length - 16));
  return key.open(iv, aad, sealed, out) ? out : undefined;
}

interface WycheproofTest {
  tcId: number;
  comment: string;
  iv: string;
  key: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

describe('AES-256-GCM against Wycheproof (every 256-bit key, 96-bit IV, 128-bit tag case)', () => {
  const doc = json('wycheproof/aes_gcm_test.json') as { testGroups: { keySize: number; ivSize: number; tagSize: number; tests: WycheproofTest[] }[] };
  const tests = doc.testGroups.filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128).flatMap((g) => g.tests);

  it('has the cases it should (valid and invalid)', () => {
    expect(tests.length).toBe(66);
    expect(tests.some((t) => t.result === 'invalid')).toBe(true);
    expect(tests.some((t) => t.result === 'valid')).toBe(true);
  });

  for (const t of tests) {
    it(`tcId ${t.tcId} (${t.result}) ${t.comment}`, () => {
      const key = keyOf(hex(t.key));
      const sealed = hex(t.ct + t.tag);
      if (t.result === 'valid') {
        expect(toHex(key.seal(hex(t.iv), hex(t.aad), hex(t.msg)))).toBe(t.ct + t.tag);
        expect(toHex(open(key, hex(t.iv), hex(t.aad), sealed)!)).toBe(t.msg);
      } else {
        expect(t.result).toBe('invalid');
        expect(open(key, hex(t.iv), hex(t.aad), sealed)).toBeUndefined();
      }
    });
  }
});

describe('AES-256-GCM against NIST CAVP (gcmEncryptExtIV256, gcmDecrypt256; 96-bit IV, 128-bit tag)', () => {
  const doc = json('nist-gcm-256.json') as {
    encrypt: { key: string; iv: string; pt: string; aad: string; ct: string; tag: string }[];
    decrypt: { key: string; iv: string; ct: string; aad: string; tag: string; pt: string | null }[];
  };

  it(`encrypts and decrypts all ${doc.encrypt.length} encryption cases`, () => {
    expect(doc.encrypt.length).toBe(375);
    for (const v of doc.encrypt) {
      const key = keyOf(hex(v.key));
      expect(toHex(key.seal(hex(v.iv), hex(v.aad), hex(v.pt))), v.key).toBe(v.ct + v.tag);
      expect(toHex(open(key, hex(v.iv), hex(v.aad), hex(v.ct + v.tag))!), v.key).toBe(v.pt);
    }
  });

  it('decrypts the decryption cases, and refuses every FAIL case', () => {
    expect(doc.decrypt.filter((v) => v.pt === null).length).toBeGreaterThan(0);
    for (const v of doc.decrypt) {
      const got = open(keyOf(hex(v.key)), hex(v.iv), hex(v.aad), hex(v.ct + v.tag));
      if (v.pt === null) expect(got, v.key).toBeUndefined();
      else expect(toHex(got!), v.key).toBe(v.pt);
    }
  });
});

describe('AES-256-GCM against node:crypto and noble', () => {
  it('agrees with node:crypto and noble\'s gcm on random keys, nonces, associated data and lengths 0…300, and refuses every flipped bit', () => {
    for (let n = 0; n < 600; n++) {
      const keyBytes = randomBytes(32);
      const nonce = randomBytes(12);
      const aad = randomBytes(n % 97);
      const pt = randomBytes(n % 301);
      const c = createCipheriv('aes-256-gcm', keyBytes, nonce);
      c.setAAD(aad);
      const expected = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
      const key = keyOf(keyBytes);
      const sealed = key.seal(nonce, aad, pt);
      expect(Buffer.from(sealed).equals(expected)).toBe(true);
      expect(Buffer.from(gcm(Uint8Array.from(keyBytes), nonce, aad).encrypt(pt)).equals(expected)).toBe(true);
      expect(Buffer.from(open(key, nonce, aad, sealed)!).equals(pt)).toBe(true);
      const bit = n % (sealed.length * 8);
      sealed[bit >> 3]! ^= 1 << (bit & 7);
      expect(open(key, nonce, aad, sealed)).toBeUndefined();
    }
  });

  it('refuses a sealed value shorter than a tag, and an output buffer of the wrong length', () => {
    const key = keyOf(randomBytes(32));
    const nonce = randomBytes(12);
    const sealed = key.seal(nonce, new Uint8Array(0), new Uint8Array(32));
    expect(key.open(nonce, new Uint8Array(0), sealed.subarray(0, 15), new Uint8Array(0))).toBe(false);
    expect(key.open(nonce, new Uint8Array(0), sealed, new Uint8Array(31))).toBe(false);
  });
});

describe('the key schedule the cipher keeps', () => {
  it('keeps FIPS 197\'s key expansion of its Appendix A.3 key (AES-256)', () => {
    const key = new Uint8Array(new ArrayBuffer(32));
    key.set(hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4'));
    allocated.length = 0;
    const cipher = new AesGcmKey(key);
    const state = new DataView(allocated.find((b) => b.length > 1024)!.buffer);
    // w[8], w[9] and the last round key w[56…59] of the appendix's table, each as FIPS 197 writes it (first byte first).
    expect([8, 9, 56, 57, 58, 59].map((i) => state.getUint32(4 * i, false).toString(16).padStart(8, '0'))).toEqual(['9ba35411', '8e6925af', 'fe4890d1', 'e6188d0b', '046df344', '706c631e']);
    cipher.destroy();
  });
});

describe('the per-key state', () => {
  it('holds the FIPS 197 key schedule, H = E_K(0) and GHASH tables equal to products computed bit by bit', () => {
    const keyBytes = randomBytes(32);
    const key = new Uint8Array(new ArrayBuffer(32));
    key.set(keyBytes);
    allocated.length = 0;
    const cipher = new AesGcmKey(key);
    // The one buffer it keeps with key material in it: off-heap (its own ArrayBuffer), 8 KiB + 256 bytes.
    const kept = allocated.filter((b) => b.some((x) => x !== 0));
    expect(kept).toHaveLength(1);
    expect(kept[0]!.byteOffset).toBe(0);
    expect(kept[0]!.buffer.byteLength).toBe(kept[0]!.length);
    const state = Buffer.from(kept[0]!.buffer);
    const h = hashSubkey(keyBytes);
    expect(state.subarray(0, 240).equals(keySchedule(keyBytes))).toBe(true);
    // Entry (window q, value v) at word 64 + 64·q + 4·v: the block whose byte q/2 has v in its
    // high nibble (q even) or low nibble (q odd), times H.
    for (const [q, v] of [[0, 8], [0, 1], [3, 0xa], [14, 5], [31, 15]] as const) {
      const at = 4 * (64 + 64 * q + 4 * v);
      expect(toHex(state.subarray(at, at + 16)), `entry ${q}/${v}`).toBe(toHex(tableEntry(h, q >> 1, q & 1 ? v : v << 4)));
    }
    expect(toHex(state.subarray(4 * (64 + 4 * 8), 4 * (64 + 4 * 8) + 16))).toBe(toHex(h)); // 1 · H (x^0: the top bit of byte 0)
    expect(state.length).toBe(4 * (64 + 32 * 16 * 4));
    cipher.destroy();
    expect(state.every((x) => x === 0)).toBe(true);
  });
});
