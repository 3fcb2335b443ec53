// The field cipher (src/keys/aes-gcm.ts) against published known answers — Wycheproof's AES-GCM
// groups and NIST CAVP's GCM vectors for AES-256 with 96-bit IVs and 128-bit tags — against
// node:crypto on random inputs, and its GHASH tables against a bit-by-bit reference.
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
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

describe('AES-256-GCM against node:crypto', () => {
  it('agrees on random keys, nonces, associated data and lengths 0…300, and refuses every flipped bit', () => {
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

describe('the per-key state', () => {
  it('holds the FIPS 197 key schedule, H = E_K(0) and GHASH tables equal to products computed bit by bit', () => {
    const keyBytes = randomBytes(32);
    const key = new Uint8Array(new ArrayBuffer(32));
    key.set(keyBytes);
    allocated.length = 0;
    const cipher = new AesGcmKey(key);
    // The one buffer it keeps with key material in it: off-heap (its own ArrayBuffer), 64 KiB+.
    const kept = allocated.filter((b) => b.some((x) => x !== 0));
    expect(kept).toHaveLength(1);
    expect(kept[0]!.byteOffset).toBe(0);
    expect(kept[0]!.buffer.byteLength).toBe(kept[0]!.length);
    const state = Buffer.from(kept[0]!.buffer);
    const h = hashSubkey(keyBytes);
    expect(state.subarray(0, 240).equals(keySchedule(keyBytes))).toBe(true);
    // Entry (window w, byte b) at word 64 + 4·(256·w + b): the block with byte w = b, times H.
    for (const [w, b] of [[0, 0x80], [0, 1], [1, 0x81], [7, 0x5a], [15, 0xff]] as const) {
      const at = 4 * (64 + 4 * (256 * w + b));
      expect(toHex(state.subarray(at, at + 16)), `entry ${w}/${b}`).toBe(toHex(tableEntry(h, w, b)));
    }
    expect(toHex(state.subarray(4 * (64 + 4 * 0x80), 4 * (64 + 4 * 0x80) + 16))).toBe(toHex(h)); // 1 · H
    cipher.destroy();
    expect(state.every((x) => x === 0)).toBe(true);
  });
});
