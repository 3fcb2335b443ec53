// The AES forward cipher of src/keys/aes-block.ts (FIPS 197, written for this project) against
// two independent implementations: @noble/ciphers' `unsafe.expandKeyLE` and `unsafe.encrypt`,
// whose little-endian word packing it shares, on random 128- and 256-bit keys and blocks, and
// node:crypto's AES-ECB on the same; plus the FIPS 197 Appendix C known answers.
import { createCipheriv, randomBytes } from 'node:crypto';
import { unsafe } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import { encrypt, expandKeyInto } from '../../src/keys/aes-block.ts';

const words = (b: Uint8Array): [number, number, number, number] => {
  const v = new DataView(b.buffer, b.byteOffset);
  return [v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)];
};

describe('the AES forward cipher', () => {
  it('expands 16- and 32-byte keys exactly as noble does', () => {
    for (let n = 0; n < 200; n++) {
      const key = Uint8Array.from(randomBytes(n % 2 === 0 ? 32 : 16));
      const xk = new Uint32Array(key.length + 28);
      expandKeyInto(key, xk);
      expect(xk).toEqual(unsafe.expandKeyLE(key));
    }
  });

  it('encrypts blocks exactly as noble and node:crypto do', () => {
    for (let n = 0; n < 500; n++) {
      const key = Uint8Array.from(randomBytes(n % 2 === 0 ? 32 : 16));
      const xk = new Uint32Array(key.length + 28);
      expandKeyInto(key, xk);
      const block = Uint8Array.from(randomBytes(16));
      const [a, b, c, d] = words(block);
      const r = encrypt(xk, a, b, c, d);
      expect(r).toEqual(unsafe.encrypt(unsafe.expandKeyLE(key), a, b, c, d));
      const ecb = createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false);
      expect([r.s0, r.s1, r.s2, r.s3].map((w) => w >>> 0)).toEqual(words(Buffer.concat([ecb.update(block), ecb.final()])));
    }
  });

  it('gives the FIPS 197 Appendix C answers (AES-128 C.1, AES-256 C.3)', () => {
    const pt = Uint8Array.from(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
    for (const [key, ct] of [
      ['000102030405060708090a0b0c0d0e0f', '69c4e0d86a7b0430d8cdb78070b4c55a'],
      ['000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', '8ea2b7ca516745bfeafc49904b496089'],
    ] as const) {
      const k = Uint8Array.from(Buffer.from(key, 'hex'));
      const xk = new Uint32Array(k.length + 28);
      expandKeyInto(k, xk);
      const r = encrypt(xk, ...words(pt));
      const out = Buffer.alloc(16);
      [r.s0, r.s1, r.s2, r.s3].forEach((w, i) => out.writeUInt32LE(w >>> 0, 4 * i));
      expect(out.toString('hex')).toBe(ct);
    }
  });
});
