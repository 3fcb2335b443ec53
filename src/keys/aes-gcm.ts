// AES-256-GCM (NIST SP 800-38D) with the per-key work done once: the AES key schedule, the hash
// subkey H = E_K(0^128) and GHASH's multiplication tables are computed when the key is first
// used and kept in one off-heap buffer this object owns, wiped by destroy(). A general-purpose
// GCM (noble's `gcm`, WebCrypto) redoes that per call or keeps it where it cannot be wiped.
//
// The AES block cipher is FIPS 197 (aes-block.ts, the table method with 5 KB of tables built on
// first use). It is the project's own rather than @noble/ciphers' exported `unsafe.encrypt` /
// `unsafe.expandKeyLE`, which were tried and measured: side by side in one run (quiet machine,
// test/bench/records.mjs, median of 3) noble's block opened 158,000 fields/s in Node and 151,000/s
// in Chromium (one run 98,000/s) against 241,000/s and 203,000/s with this one, because noble's
// encryption tables take 640 KB — beyond a CPU's fastest cache, and a far larger cache-timing
// surface than 5 KB — and its module builds 1.3 MB of tables (decryption's included) as every
// page that imports it loads, and importing `unsafe` added 2.8 KB gzip to the browser bundle.
// Correctness is checked against noble's block and node:crypto on random keys and blocks
// (test/keys/aes-block.test.ts) and, for the whole cipher, against Wycheproof and NIST CAVP.
// GHASH and the GCM composition (counter mode, tag, the checks) are this file's, written from
// SP 800-38D: noble's GHASH keeps its per-key tables as arrays of small JS objects on the V8
// heap, where a garbage collection may copy them and no wipe reaches the copies, so it cannot
// hold them off-heap as this library requires of every key-derived byte. GHASH (SP 800-38D §6.4)
// multiplies by the fixed H with tables, as McGrew and Viega's GCM paper (§4.1, "Software")
// describes: multiplication by H is linear, so X · H is the XOR over the 32 four-bit windows of
// X of (that window alone, in its place) · H, and a table per window holds its 16 products:
// 32 lookups per block in 8 KB per key (building them costs a quarter of one table per byte,
// which matters because every key delivery builds one such key). The AES and GHASH lookups are
// indexed by secret-dependent values, so they are not constant-time against a cache-timing
// observer on the same machine, as no table-based AES in JavaScript is. Checked against
// Wycheproof's and NIST CAVP's AES-GCM vectors, and against node:crypto and noble's `gcm` on
// random inputs (test/keys/aes-gcm.test.ts).
//
// Words: a 16-byte block is handled as four 32-bit words, each loaded little-endian from
// 4 bytes, on every host (the packing of aes-block.ts: word i of FIPS 197's key schedule with
// its first byte lowest).
import { allocSecret } from '../internal/bytes.ts';
import { encrypt, expandKeyInto } from './aes-block.ts';

/** GHASH tables: one per 4-bit window of a block (32), 16 products of 4 words each. */
const TABLE_WORDS = 32 * 16 * 4;
/** Layout of the state buffer, in words: key schedule (44 or 60 words, FIPS 197 §5.2), then the tables. */
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
 * Writes GHASH's tables for H (given as four big-endian words) into `t` from word TABLE_AT:
 * the 4-word entry at TABLE_AT + 64·q + 4·v is the block whose window q (bits 4q … 4q+3, the
 * high nibble of byte q/2 for even q, the low one for odd q) is v, zeros elsewhere, times H,
 * stored as a block (little-endian words of its bytes).
 *
 * In GCM's bit order (SP 800-38D §6.3) bit j of a block is the coefficient of x^j, and bit 0 is
 * the top bit of byte 0; so the value 8 >> i in window q is x^(4q+i), and its entry is
 * H · x^(4q+i). Multiplying by x is a right shift of the 128-bit string, reduced when x^127
 * falls off by adding R = 11100001 ‖ 0^120 (the Algorithm 1 step). Every other entry is the
 * XOR of the entries for its bits: the entry of its top bit ⊕ the entry of the rest.
 */
function buildTables(t: Uint32Array, v0: number, v1: number, v2: number, v3: number): void {
  for (let q = 0; q < 32; q++) {
    const row = TABLE_AT + 64 * q;
    for (let bit = 8; bit !== 0; bit >>= 1) {
      const e = row + 4 * bit;
      t[e] = bswap(v0);
      t[e + 1] = bswap(v1);
      t[e + 2] = bswap(v2);
      t[e + 3] = bswap(v3);
      const reduce = 0xe1000000 & -(v3 & 1);
      v3 = (v3 >>> 1) | (v2 << 31);
      v2 = (v2 >>> 1) | (v1 << 31);
      v1 = (v1 >>> 1) | (v0 << 31);
      v0 = (v0 >>> 1) ^ reduce;
    }
    t.fill(0, row, row + 4);
    for (let top = 2; top < 16; top <<= 1) {
      for (let rest = 1; rest < top; rest++) {
        const e = row + 4 * (top | rest), a = row + 4 * top, b = row + 4 * rest;
        t[e] = t[a]! ^ t[b]!;
        t[e + 1] = t[a + 1]! ^ t[b + 1]!;
        t[e + 2] = t[a + 2]! ^ t[b + 2]!;
        t[e + 3] = t[a + 3]! ^ t[b + 3]!;
      }
    }
  }
}

/**
 * GHASH_H (SP 800-38D §6.4) over `data[from, to)`, zero-padded to whole blocks, continuing from
 * the running value in `y` (4 words, updated in place): for each block X, Y ← (Y ⊕ X) · H, the
 * product as the XOR of one table entry per 4-bit window of Y ⊕ X.
 */
function ghash(t: Uint32Array, y: Uint32Array, data: Uint8Array, from: number, to: number): void {
  let y0 = y[0]!, y1 = y[1]!, y2 = y[2]!, y3 = y[3]!;
  for (let o = from; o < to; o += 16) {
    if (o + 16 <= to) {
      y0 ^= load(data, o); y1 ^= load(data, o + 4); y2 ^= load(data, o + 8); y3 ^= load(data, o + 12);
    } else {
      y0 ^= loadPart(data, o, to); y1 ^= loadPart(data, o + 4, to); y2 ^= loadPart(data, o + 8, to); y3 ^= loadPart(data, o + 12, to);
    }
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    // Byte p of the block is byte p & 3 (from the low end) of word p >> 2; its high nibble is
    // window 2p, its low nibble window 2p + 1.
    for (let p = 0; p < 16; p++) {
      const w = p < 8 ? (p < 4 ? y0 : y1) : p < 12 ? y2 : y3;
      const byte = (w >>> (8 * (p & 3))) & 0xff;
      const e = TABLE_AT + 128 * p + 4 * (byte >>> 4);
      const f = TABLE_AT + 128 * p + 64 + 4 * (byte & 15);
      z0 ^= t[e]! ^ t[f]!; z1 ^= t[e + 1]! ^ t[f + 1]!; z2 ^= t[e + 2]! ^ t[f + 2]!; z3 ^= t[e + 3]! ^ t[f + 3]!;
    }
    y0 = z0; y1 = z1; y2 = z2; y3 = z3;
  }
  y[0] = y0; y[1] = y1; y[2] = y2; y[3] = y3;
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
 * AES-GCM under one 32-byte key (or 16, for HPKE's AES-128-GCM suite), with its key schedule
 * (FIPS 197), hash subkey and GHASH tables computed once and held off-heap
 * until {@link AesGcmKey.destroy}.
 * 96-bit nonces and 128-bit tags only. Internal: the record layer makes one per member key
 * (field subkey); key delivery one per HPKE context.
 */
export class AesGcmKey {
  // One off-heap buffer (an explicit ArrayBuffer, never a small heap array) holds the key
  // schedule and the tables; `y` is GHASH's running value.
  readonly #state: Uint32Array;
  readonly #xk: Uint32Array;
  readonly #y = new Uint32Array(allocSecret(16).buffer);

  /** @param key - 32 (or 16) bytes in an off-heap buffer; read once, not kept */
  constructor(key: Uint8Array) {
    if (key.length !== 32 && key.length !== 16) throw new RangeError(`"key" expected Uint8Array of length 32 or 16, got length=${key.length}`);
    this.#state = new Uint32Array(allocSecret(STATE_BYTES).buffer);
    this.#xk = this.#state.subarray(0, key.length + 28);
    expandKeyInto(key, this.#xk);
    const h = encrypt(this.#xk, 0, 0, 0, 0); // H = E_K(0^128), as big-endian words below
    buildTables(this.#state, bswap(h.s0), bswap(h.s1), bswap(h.s2), bswap(h.s3));
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

  /** Zeroes the key schedule, the tables and the running value. Idempotent. */
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
