// Independent references for checking the field cipher's state: GCM's multiplication in
// GF(2^128) bit by bit (NIST SP 800-38D §6.3, Algorithm 1), the hash subkey through node:crypto,
// and the AES key schedule through noble's own expansion. Slow and simple on purpose.
import { createCipheriv } from 'node:crypto';
import { unsafe } from '@noble/ciphers/aes.js';

const toBig = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const fromBig = (n: bigint): Uint8Array => Uint8Array.from(Buffer.from(n.toString(16).padStart(32, '0'), 'hex'));

/** X · Y in GCM's field; blocks as 16 bytes, bit 0 the most significant bit of byte 0. */
export function gfMul(x: Uint8Array, y: Uint8Array): Uint8Array {
  const R = 0xe1n << 120n;
  const X = toBig(x);
  let z = 0n;
  let v = toBig(y);
  for (let i = 127; i >= 0; i--) {
    if ((X >> BigInt(i)) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return fromBig(z);
}

/** The hash subkey H = AES-256(key, 0^128) (SP 800-38D §6.4). */
export function hashSubkey(key: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(new Uint8Array(16)), c.final()]));
}

/** The AES-256 key schedule as it sits in memory: 60 words, little-endian, 240 bytes. */
export function keySchedule(key: Uint8Array): Uint8Array {
  const xk = unsafe.expandKeyLE(Uint8Array.from(key));
  return new Uint8Array(Buffer.from(xk.buffer, xk.byteOffset, xk.byteLength));
}

/** The GHASH table entry for byte value `b` at byte position `w` of a block: that block · H. */
export function tableEntry(h: Uint8Array, w: number, b: number): Uint8Array {
  const x = new Uint8Array(16);
  x[w] = b;
  return gfMul(x, h);
}
