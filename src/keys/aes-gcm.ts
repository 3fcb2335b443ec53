// AES-256-GCM (NIST SP 800-38D) with the per-key work done once: the AES key schedule, the hash
// subkey H = E_K(0^128) and GHASH's multiplication tables are computed when the key is first
// used and kept in one off-heap buffer this object owns, wiped by destroy(). noble's `gcm`
// redoes all of that on every call, which is most of the cost of opening a short field.
//
// Built from noble's audited parts: the key schedule and the block function are noble's own
// (expandKeyLE and encrypt, kept in aes-block.ts); GHASH is noble's windowed-table algorithm
// (`_polyval.js`, class GHASH) with its table moved from JavaScript objects, which live on the
// heap and cannot be wiped, into a Uint32Array over the same off-heap buffer. Checked against
// Wycheproof's and NIST CAVP's AES-GCM vectors and against node:crypto (test/keys/aes-gcm.test.ts).
//
// Words: a 16-byte block is handled as four 32-bit words, each loaded little-endian from
// 4 bytes, on every host (the layout noble's `encrypt` and GHASH use).
import { allocSecret, wipe } from '../internal/bytes.ts';
import { encrypt, expandKeyInto } from './aes-block.ts';

/** GHASH table: 16 windows of 8 bits, 256 entries of 4 words each (noble's W = 8). */
const TABLE_WORDS = 16 * 256 * 4;
/** Layout of the state buffer, in words: key schedule (44 or 60 words, FIPS 197 §5.2), then the table. */
const TABLE_AT = 64;
const STATE_BYTES = (TABLE_AT + TABLE_WORDS) * 4;

const load = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
function store(b: Uint8Array, o: number, w: number): void {
  b[o] = w;
  b[o + 1] = w >>> 8;
  b[o + 2] = w >>> 16;
  b[o + 3] = w >>> 24;
}
/** A word of `len` ≤ 4 bytes from `o`, zero-padded (the tail of a partial block). */
function loadPart(b: Uint8Array, o: number, end: number): number {
  let w = 0;
  for (let i = 3; i >= 0; i--) w = (w << 8) | (o + i < end ? b[o + i]! : 0);
  return w;
}
const bswap = (n: number): number => ((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24);

/**
 * Fills `t` with GHASH's tables for H (16 bytes): entry (w, b) is the product of H with the
 * 8 bits b placed at window w, so that multiplying a block by H is 16 lookups and XORs.
 * noble `_polyval.js` GHASH constructor, with W = 8 and the entries in a flat array.
 */
function buildTable(t: Uint32Array, h: Uint8Array, doubles: Uint32Array): void {
  // doubles[i] = H · x^i in GCM's reflected bit order (NIST SP 800-38D §6.3): shift right,
  // reduce by R = 0xe1 ‖ 0^120 on carry. Held as big-endian words while shifting.
  let k0 = bswap(load(h, 0)), k1 = bswap(load(h, 4)), k2 = bswap(load(h, 8)), k3 = bswap(load(h, 12));
  for (let i = 0; i < 128; i++) {
    doubles[4 * i] = bswap(k0);
    doubles[4 * i + 1] = bswap(k1);
    doubles[4 * i + 2] = bswap(k2);
    doubles[4 * i + 3] = bswap(k3);
    const carry = k3 & 1;
    k3 = (k2 << 31) | (k3 >>> 1);
    k2 = (k1 << 31) | (k2 >>> 1);
    k1 = (k0 << 31) | (k1 >>> 1);
    k0 = (k0 >>> 1) ^ (0xe1000000 & -carry);
  }
  k0 = k1 = k2 = k3 = 0;
  for (let w = 0; w < 16; w++) {
    const base = TABLE_AT + w * 1024;
    t[base] = t[base + 1] = t[base + 2] = t[base + 3] = 0;
    for (let b = 1; b < 256; b++) {
      // The highest bit of b stands for doubles[8w]; add the double of b's lowest set bit to the
      // entry without it (filled earlier, as it is smaller).
      const low = b & -b;
      const j = 8 * w + (7 - (31 - Math.clz32(low)));
      const e = base + 4 * b, p = base + 4 * (b ^ low);
      t[e] = t[p]! ^ doubles[4 * j]!;
      t[e + 1] = t[p + 1]! ^ doubles[4 * j + 1]!;
      t[e + 2] = t[p + 2]! ^ doubles[4 * j + 2]!;
      t[e + 3] = t[p + 3]! ^ doubles[4 * j + 3]!;
    }
  }
}

/**
 * GHASH_H over `data[from, to)`, zero-padded to whole blocks, continuing from the running value
 * in `y` (4 words, updated in place). noble `_polyval.js` GHASH `_updateBlock`.
 */
function ghash(t: Uint32Array, y: Uint32Array, data: Uint8Array, from: number, to: number): void {
  let s0 = y[0]!, s1 = y[1]!, s2 = y[2]!, s3 = y[3]!;
  for (let o = from; o < to; o += 16) {
    if (o + 16 <= to) {
      s0 ^= load(data, o); s1 ^= load(data, o + 4); s2 ^= load(data, o + 8); s3 ^= load(data, o + 12);
    } else {
      s0 ^= loadPart(data, o, to); s1 ^= loadPart(data, o + 4, to); s2 ^= loadPart(data, o + 8, to); s3 ^= loadPart(data, o + 12, to);
    }
    let o0 = 0, o1 = 0, o2 = 0, o3 = 0;
    // Byte p of the block (least significant byte of each word first) selects entry (p, byte).
    for (let p = 0, e = TABLE_AT; p < 16; p++, e += 1024) {
      const s = p < 4 ? s0 : p < 8 ? s1 : p < 12 ? s2 : s3;
      const i = e + 4 * ((s >>> (8 * (p & 3))) & 0xff);
      o0 ^= t[i]!; o1 ^= t[i + 1]!; o2 ^= t[i + 2]!; o3 ^= t[i + 3]!;
    }
    s0 = o0; s1 = o1; s2 = o2; s3 = o3;
  }
  y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
}

/** GCTR (SP 800-38D §6.5) from counter block 2 of a 96-bit nonce: `dst = src ⊕ keystream`. */
function ctr(xk: Uint32Array, n0: number, n1: number, n2: number, src: Uint8Array, srcAt: number, len: number, dst: Uint8Array, dstAt: number): void {
  for (let o = 0, c = 2; o < len; o += 16, c++) {
    const k = encrypt(xk, n0, n1, n2, bswap(c));
    if (o + 16 <= len) {
      store(dst, dstAt + o, load(src, srcAt + o) ^ k.s0);
      store(dst, dstAt + o + 4, load(src, srcAt + o + 4) ^ k.s1);
      store(dst, dstAt + o + 8, load(src, srcAt + o + 8) ^ k.s2);
      store(dst, dstAt + o + 12, load(src, srcAt + o + 12) ^ k.s3);
    } else {
      for (let i = o; i < len; i++) {
        const j = i - o;
        const w = j < 4 ? k.s0 : j < 8 ? k.s1 : j < 12 ? k.s2 : k.s3;
        dst[dstAt + i] = src[srcAt + i]! ^ (w >>> (8 * (j & 3)));
      }
    }
  }
}

/** Length of a GCM nonce (96 bits, the only length used) and of its tag. */
export const GCM_NONCE_LENGTH = 12;
export const GCM_TAG_LENGTH = 16;

/**
 * AES-GCM under one 32-byte key (or 16, for HPKE's AES-128-GCM suite), with its key schedule,
 * hash subkey and GHASH tables computed once and held off-heap until {@link AesGcmKey.destroy}.
 * 96-bit nonces and 128-bit tags only. Internal: the record layer makes one per member key
 * (field subkey); key delivery one per HPKE context.
 */
export class AesGcmKey {
  // One off-heap buffer (an explicit ArrayBuffer, never a small heap array) holds the key
  // schedule and the tables; `y` is GHASH's running value, `h` scratch for E_K(0).
  readonly #state: Uint32Array;
  readonly #xk: Uint32Array;
  readonly #y = new Uint32Array(allocSecret(16).buffer);

  /** @param key - 32 (or 16) bytes in an off-heap buffer; read once, not kept */
  constructor(key: Uint8Array) {
    if (key.length !== 32 && key.length !== 16) throw new RangeError(`"key" expected Uint8Array of length 32 or 16, got length=${key.length}`);
    this.#state = new Uint32Array(allocSecret(STATE_BYTES).buffer);
    this.#xk = this.#state.subarray(0, key.length + 28);
    const scratch = allocSecret(16 + 128 * 16);
    const h = scratch.subarray(0, 16);
    const doubles = new Uint32Array(scratch.buffer, 16, 128 * 4);
    try {
      expandKeyInto(key, this.#xk);
      const e = encrypt(this.#xk, 0, 0, 0, 0); // H = E_K(0^128)
      store(h, 0, e.s0); store(h, 4, e.s1); store(h, 8, e.s2); store(h, 12, e.s3);
      buildTable(this.#state, h, doubles);
    } finally {
      wipe(scratch);
    }
  }

  /** ciphertext ‖ tag of `plaintext` (a fresh heap array: ciphertext is public). */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const len = plaintext.length;
    const out = new Uint8Array(len + GCM_TAG_LENGTH);
    const n0 = load(nonce, 0), n1 = load(nonce, 4), n2 = load(nonce, 8);
    ctr(this.#xk, n0, n1, n2, plaintext, 0, len, out, 0);
    this.#tag(n0, n1, n2, aad, out, len);
    const y = this.#y;
    store(out, len, y[0]!); store(out, len + 4, y[1]!); store(out, len + 8, y[2]!); store(out, len + 12, y[3]!);
    y.fill(0);
    return out;
  }

  /**
   * Checks the tag of `sealed` (ciphertext ‖ tag) and only then decrypts into `out` (the
   * caller's off-heap buffer of `sealed.length − 16` bytes). Returns false, writing nothing,
   * when the tag does not match.
   */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
    const len = sealed.length - GCM_TAG_LENGTH;
    if (len < 0 || out.length !== len) return false;
    const n0 = load(nonce, 0), n1 = load(nonce, 4), n2 = load(nonce, 8);
    this.#tag(n0, n1, n2, aad, sealed, len);
    const y = this.#y;
    // Every word compared, no early exit.
    const diff = (y[0]! ^ load(sealed, len)) | (y[1]! ^ load(sealed, len + 4)) | (y[2]! ^ load(sealed, len + 8)) | (y[3]! ^ load(sealed, len + 12));
    y.fill(0);
    if (diff !== 0) return false;
    ctr(this.#xk, n0, n1, n2, sealed, 0, len, out, 0);
    return true;
  }

  /** Zeroes the key schedule, the tables and the scratch. Idempotent. */
  destroy(): void {
    this.#state.fill(0);
    this.#y.fill(0);
  }

  /** Leaves the tag (GHASH ⊕ E_K(J0)) in #y. SP 800-38D §7.1 steps 2, 5, 6. */
  #tag(n0: number, n1: number, n2: number, aad: Uint8Array, data: Uint8Array, len: number): void {
    const t = this.#state;
    const y = this.#y;
    y.fill(0);
    ghash(t, y, aad, 0, aad.length);
    ghash(t, y, data, 0, len);
    // Length block: u64be(bits of aad) ‖ u64be(bits of data), as little-endian-loaded words.
    const aadBits = aad.length * 8, dataBits = len * 8;
    store(lengthBlock, 0, bswap(Math.floor(aadBits / 2 ** 32))); store(lengthBlock, 4, bswap(aadBits >>> 0));
    store(lengthBlock, 8, bswap(Math.floor(dataBits / 2 ** 32))); store(lengthBlock, 12, bswap(dataBits >>> 0));
    ghash(t, y, lengthBlock, 0, 16);
    const m = encrypt(this.#xk, n0, n1, n2, 0x01000000); // E_K(J0), J0 = nonce ‖ u32be(1)
    y[0] = y[0]! ^ m.s0; y[1] = y[1]! ^ m.s1; y[2] = y[2]! ^ m.s2; y[3] = y[3]! ^ m.s3;
  }
}

// The length block holds public lengths only.
const lengthBlock = /* @__PURE__ */ new Uint8Array(16);
