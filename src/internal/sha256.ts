// HMAC-SHA256 (RFC 2104, FIPS 198-1) for the code a browser loads: subkeys (HKDF), search tags,
// record seals, HPKE's key schedule. Written from the standards (SHA-256: FIPS 180-4 §4.1.2,
// §4.2.2, §5.1.1, §5.3.3, §6.2.2; HMAC: RFC 2104), not taken from a library, for two reasons:
// every intermediate (the padded key, the state, the message schedule, the block) lives in one
// off-heap buffer owned by this module and zeroed after every MAC — a general-purpose hasher
// keeps its state in small typed arrays on the V8 heap, where a scavenge may copy them
// (docs/threat-model.md §7) — and `@noble/hashes`' SHA-256 and HMAC bring 3.0 KB gzip of
// generic hasher machinery into the browser bundle for one hash. There is one entry point: a
// whole MAC into a caller's buffer. test/internal/sha256.test.ts checks it against node:crypto
// and noble on random keys and messages of every length around the block boundaries, and
// against RFC 4231's vectors.

/** SHA-256's round constants K (FIPS 180-4 §4.2.2). */
// prettier-ignore
export const K: Uint32Array = /* @__PURE__ */ Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
/** SHA-256's initial hash value H(0) (FIPS 180-4 §5.3.3). */
// prettier-ignore
export const IV: Uint32Array = /* @__PURE__ */ Uint32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

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

// FIPS 180-4 §4.1.2: the four functions of SHA-256 on 32-bit words (Ch and Maj are inlined).
const bigSigma0 = (x: number): number => rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22);
const bigSigma1 = (x: number): number => rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25);
const smallSigma0 = (x: number): number => rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
const smallSigma1 = (x: number): number => rotr(x, 17) ^ rotr(x, 19) ^ (x >>> 10);

/** FIPS 180-4 §6.2.2: hashes the 64-byte `block` into the state `S`. */
function process(): void {
  // 1. The message schedule W[0..63]: the block as 16 big-endian words, then expanded.
  for (let t = 0; t < 16; t++) W[t] = (block[4 * t]! << 24) | (block[4 * t + 1]! << 16) | (block[4 * t + 2]! << 8) | block[4 * t + 3]!;
  for (let t = 16; t < 64; t++) W[t] = (smallSigma1(W[t - 2]!) + W[t - 7]! + smallSigma0(W[t - 15]!) + W[t - 16]!) | 0;
  // 2. The eight working variables from the state.
  let a = S[0]!, b = S[1]!, c = S[2]!, d = S[3]!, e = S[4]!, f = S[5]!, g = S[6]!, h = S[7]!;
  // 3. 64 rounds.
  for (let t = 0; t < 64; t++) {
    const t1 = (h + bigSigma1(e) + ((e & f) ^ (~e & g)) + K[t]! + W[t]!) | 0;
    const t2 = (bigSigma0(a) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  // 4. The intermediate hash value.
  S[0] = (S[0]! + a) | 0; S[1] = (S[1]! + b) | 0; S[2] = (S[2]! + c) | 0; S[3] = (S[3]! + d) | 0;
  S[4] = (S[4]! + e) | 0; S[5] = (S[5]! + f) | 0; S[6] = (S[6]! + g) | 0; S[7] = (S[7]! + h) | 0;
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
