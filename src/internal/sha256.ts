/*! The SHA-256 compression below is noble's, from @noble/hashes 2.4.0 src/sha2.ts and _md.ts.
 * The MIT License (MIT)
 * Copyright (c) 2022 Paul Miller (https://paulmillr.com)
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
// HMAC-SHA256 (RFC 2104, FIPS 198-1) for the code a browser loads: subkeys (HKDF), search tags,
// record seals, HPKE's key schedule. Why a copy and not `@noble/hashes`: its SHA-256 and HMAC
// come with the library's generic hasher machinery (argument checks, cloning, XOF plumbing) —
// 3.0 KB gzip of the 16.5 KB browser budget, for one hash. The compression is kept as noble
// wrote it (the message schedule, the 64 rounds, Chi and Maj); the changes are that the state,
// the schedule and the block live in one off-heap buffer owned by this module and zeroed after
// every MAC, and that there is one entry point, a whole MAC into a caller's buffer.
// test/internal/sha256.test.ts checks it against node:crypto and noble on random keys and
// messages of every length around the block boundaries, and against RFC 4231's vectors.

// prettier-ignore
const K = /* @__PURE__ */ Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
// prettier-ignore
const IV = /* @__PURE__ */ Uint32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const rotr = (word: number, shift: number): number => (word << (32 - shift)) | (word >>> shift);

// The working memory, made on first use: W (64 words), the state (8 words), the inner hash
// (8 words), the block being filled (64 bytes), the padded key (64 bytes). An explicit
// ArrayBuffer, so it stays off the V8 heap and is really zeroed (docs/threat-model.md §7).
let mem: ArrayBuffer | undefined;
let W: Uint32Array;
let S: Uint32Array;
let block: Uint8Array;
let pad: Uint8Array;
let inner: Uint8Array;
let filled = 0;
let length = 0;

/** One compression of `block` into `S` (noble's `SHA2_32B.process`). */
function process(): void {
  for (let i = 0; i < 16; i++) W[i] = (block[4 * i]! << 24) | (block[4 * i + 1]! << 16) | (block[4 * i + 2]! << 8) | block[4 * i + 3]!;
  for (let i = 16; i < 64; i++) {
    const W15 = W[i - 15]!;
    const W2 = W[i - 2]!;
    const s0 = rotr(W15, 7) ^ rotr(W15, 18) ^ (W15 >>> 3);
    const s1 = rotr(W2, 17) ^ rotr(W2, 19) ^ (W2 >>> 10);
    W[i] = (s1 + W[i - 7]! + s0 + W[i - 16]!) | 0;
  }
  let A = S[0]!, B = S[1]!, C = S[2]!, D = S[3]!, E = S[4]!, F = S[5]!, G = S[6]!, H = S[7]!;
  for (let i = 0; i < 64; i++) {
    const sigma1 = rotr(E, 6) ^ rotr(E, 11) ^ rotr(E, 25);
    const T1 = (H + sigma1 + ((E & F) ^ (~E & G)) + K[i]! + W[i]!) | 0;
    const sigma0 = rotr(A, 2) ^ rotr(A, 13) ^ rotr(A, 22);
    const T2 = (sigma0 + ((A & B) ^ (A & C) ^ (B & C))) | 0;
    H = G;
    G = F;
    F = E;
    E = (D + T1) | 0;
    D = C;
    C = B;
    B = A;
    A = (T1 + T2) | 0;
  }
  S[0]! += A; S[1]! += B; S[2]! += C; S[3]! += D; S[4]! += E; S[5]! += F; S[6]! += G; S[7]! += H;
}

function update(data: Uint8Array): void {
  for (let i = 0; i < data.length; ) {
    const n = Math.min(64 - filled, data.length - i);
    block.set(data.subarray(i, i + n), filled);
    filled += n;
    i += n;
    if (filled === 64) {
      process();
      filled = 0;
    }
  }
  length += data.length;
}

/** Starts a hash whose first block is `pad` XOR `x` (HMAC's ipad or opad). */
function start(x: number): void {
  S.set(IV);
  for (let i = 0; i < 64; i++) block[i] = pad[i]! ^ x;
  process();
  filled = 0;
  length = 64;
}

/** Finishes the hash (FIPS 180-4 §5.1.1 padding) and writes its 32 bytes into `out`. */
function finish(out: Uint8Array): void {
  const bits = length * 8;
  block[filled++] = 0x80;
  block.fill(0, filled);
  if (filled > 56) {
    process();
    block.fill(0);
  }
  // The bit length as u64be (below 2^53, so the division is exact).
  for (let i = 0; i < 4; i++) block[63 - i] = (bits / 2 ** (8 * i)) & 0xff;
  block[59] = Math.floor(bits / 2 ** 32) & 0xff;
  process();
  for (let i = 0; i < 32; i++) out[i] = S[i >> 2]! >>> (24 - 8 * (i & 3));
}

/**
 * HMAC-SHA256(key, parts[0] ‖ parts[1] ‖ …) into `out[0..32]`. `out` may be one of `parts` or
 * `key`. Every intermediate lives in this module's off-heap memory, zeroed before returning.
 */
export function hmacSha256Into(out: Uint8Array, key: Uint8Array, ...parts: Uint8Array[]): void {
  if (mem === undefined) {
    mem = new ArrayBuffer(4 * 64 + 4 * 8 + 32 + 64 + 64);
    W = new Uint32Array(mem, 0, 64);
    S = new Uint32Array(mem, 256, 8);
    inner = new Uint8Array(mem, 288, 32);
    block = new Uint8Array(mem, 320, 64);
    pad = new Uint8Array(mem, 384, 64);
  }
  try {
    pad.fill(0);
    if (key.length > 64) {
      // RFC 2104: a key longer than the block is hashed first (plain SHA-256 of the key).
      S.set(IV);
      filled = 0;
      length = 0;
      update(key);
      finish(pad);
    } else pad.set(key);
    start(0x36);
    for (const p of parts) update(p);
    finish(inner);
    start(0x5c);
    update(inner);
    finish(out);
  } finally {
    new Uint8Array(mem).fill(0);
    filled = 0;
    length = 0;
  }
}
