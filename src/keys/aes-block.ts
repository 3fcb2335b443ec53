/*! The AES forward cipher below is noble's, from @noble/ciphers 2.4.0 src/aes.ts.
 * The MIT License (MIT)
 * Copyright (c) 2022 Paul Miller (https://paulmillr.com)
 * Copyright (c) 2016 Thomas Pornin <pornin@bolet.org>
 * Permission is hereby granted, free of charge, to any person obtaining a copy of this software
 * and associated documentation files (the "Software"), to deal in the Software without
 * restriction, including without limitation the rights to use, copy, modify, merge, publish,
 * distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
 * Software is furnished to do so, subject to the following conditions: The above copyright
 * notice and this permission notice shall be included in all copies or substantial portions of
 * the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 * IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A
 * PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE
 * LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
 * OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
 * IN THE SOFTWARE.
 */
// Why a copy and not `import { unsafe } from '@noble/ciphers/aes.js'`: that object holds every
// internal of aes.js (SIV, CMAC, the decryption tables), and importing it grew the browser
// bundle by 2.5 KB gzip, far past its budget; the two functions the field cipher needs are a
// few hundred bytes. Kept as noble wrote them — mul2, mul, the S-box, the merged T-tables,
// expandKeyLE and encrypt — with three changes: the tables are built on first use instead of
// at import, the key schedule is written into a buffer the caller owns (the field cipher's
// off-heap state) instead of a fresh array, and key words are loaded little-endian byte by byte
// instead of through a Uint32Array view of the key's buffer. test/keys/aes-block.test.ts checks
// both functions against noble's own on random keys and blocks.

const POLY = 0x11b; // 1 + x + x**3 + x**4 + x**8

// FIPS 197 upd1 §4.3: XTIMES.
function mul2(n: number): number {
  return (n << 1) ^ (POLY & -(n >> 7));
}

// Shift-and-add multiplication in GF(2^8).
function mul(a: number, b: number): number {
  let res = 0;
  for (; b > 0; b >>= 1) {
    res ^= a & -(b & 1); // if (b&1) res ^=a (but const-time).
    a = mul2(a);
  }
  return res;
}

const rotr32_8 = (n: number): number => (n << 24) | (n >>> 8);
const rotl32_8 = (n: number): number => (n << 8) | (n >>> 24);

interface Tables {
  sbox2: Uint16Array;
  T01: Uint32Array;
  T23: Uint32Array;
}

let encoding: Tables | undefined;

/** noble's `sbox` and `genTtable(sbox, …)` for the forward direction, built once, on first use. */
function tables(): Tables {
  if (encoding !== undefined) return encoding;
  // The S-box from finite field inversion and the affine transform (FIPS 197 upd1 §5.1.1).
  const t = new Uint8Array(256);
  for (let i = 0, x = 1; i < 256; i++, x ^= mul2(x)) t[i] = x;
  const sbox = new Uint8Array(256);
  sbox[0] = 0x63;
  for (let i = 0; i < 255; i++) {
    let x = t[255 - i]!;
    x |= x << 8;
    sbox[t[i]!] = (x ^ (x >> 4) ^ (x >> 5) ^ (x >> 6) ^ (x >> 7) ^ 0x63) & 0xff;
  }
  // T-tables, little-endian, with T0/T1 and T2/T3 merged so one lookup covers two lanes.
  const fn = (s: number): number => (mul(s, 3) << 24) | (s << 16) | (s << 8) | mul(s, 2);
  const T0 = new Uint32Array(256).map((_, j) => fn(sbox[j]!));
  const T1 = T0.map(rotl32_8);
  const T2 = T1.map(rotl32_8);
  const T3 = T2.map(rotl32_8);
  const T01 = new Uint32Array(256 * 256);
  const T23 = new Uint32Array(256 * 256);
  const sbox2 = new Uint16Array(256 * 256);
  for (let i = 0; i < 256; i++) {
    for (let j = 0; j < 256; j++) {
      const idx = i * 256 + j;
      T01[idx] = T0[i]! ^ T1[j]!;
      T23[idx] = T2[i]! ^ T3[j]!;
      sbox2[idx] = (sbox[i]! << 8) | sbox[j]!;
    }
  }
  return (encoding = { sbox2, T01, T23 });
}

function apply0123(T01: Uint32Array, T23: Uint32Array, s0: number, s1: number, s2: number, s3: number): number {
  return T01[((s0 << 8) & 0xff00) | ((s1 >>> 8) & 0xff)]! ^ T23[((s2 >>> 8) & 0xff00) | ((s3 >>> 24) & 0xff)]!;
}

function applySbox(sbox2: Uint16Array, s0: number, s1: number, s2: number, s3: number): number {
  return sbox2[(s0 & 0xff) | (s1 & 0xff00)]! | (sbox2[((s2 >>> 16) & 0xff) | ((s3 >>> 16) & 0xff00)]! << 16);
}

// FIPS 197 upd1 §5.2 Table 5: Rcon.
const xPowers = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];

/**
 * noble's `expandKeyLE`: the key schedule of a 16- or 32-byte key (FIPS 197 §5.2) as
 * little-endian words, written into `xk` (44 or 60 words).
 */
export function expandKeyInto(key: Uint8Array, xk: Uint32Array): void {
  const { sbox2 } = tables();
  const Nk = key.length / 4;
  for (let i = 0; i < Nk; i++) {
    xk[i] = key[4 * i]! | (key[4 * i + 1]! << 8) | (key[4 * i + 2]! << 16) | (key[4 * i + 3]! << 24);
  }
  const subByte = (n: number): number => applySbox(sbox2, n, n, n, n);
  for (let i = Nk; i < xk.length; i++) {
    let t = xk[i - 1]!;
    if (i % Nk === 0) t = subByte(rotr32_8(t)) ^ xPowers[i / Nk - 1]!;
    else if (Nk > 6 && i % Nk === 4) t = subByte(t);
    xk[i] = xk[i - Nk]! ^ t;
  }
}

/** noble's `encrypt`: one block, as four little-endian words, under the key schedule `xk`. */
export function encrypt(xk: Uint32Array, s0: number, s1: number, s2: number, s3: number): { s0: number; s1: number; s2: number; s3: number } {
  const { sbox2, T01, T23 } = tables();
  let k = 0;
  ((s0 ^= xk[k++]!), (s1 ^= xk[k++]!), (s2 ^= xk[k++]!), (s3 ^= xk[k++]!));
  const rounds = xk.length / 4 - 2;
  for (let i = 0; i < rounds; i++) {
    const t0 = xk[k++]! ^ apply0123(T01, T23, s0, s1, s2, s3);
    const t1 = xk[k++]! ^ apply0123(T01, T23, s1, s2, s3, s0);
    const t2 = xk[k++]! ^ apply0123(T01, T23, s2, s3, s0, s1);
    const t3 = xk[k++]! ^ apply0123(T01, T23, s3, s0, s1, s2);
    ((s0 = t0), (s1 = t1), (s2 = t2), (s3 = t3));
  }
  // last round (without mixcolumns, so using SBOX2 table)
  const t0 = xk[k++]! ^ applySbox(sbox2, s0, s1, s2, s3);
  const t1 = xk[k++]! ^ applySbox(sbox2, s1, s2, s3, s0);
  const t2 = xk[k++]! ^ applySbox(sbox2, s2, s3, s0, s1);
  const t3 = xk[k++]! ^ applySbox(sbox2, s3, s0, s1, s2);
  return { s0: t0, s1: t1, s2: t2, s3: t3 };
}
