// The AES forward cipher (FIPS 197): key expansion for 128- and 256-bit keys (§5.2) and the
// cipher (§5.1), written for the field cipher, which keeps the key schedule in its own off-heap
// buffer (so the schedule is expanded into a buffer the caller owns, never a fresh array).
//
// State: the 4×4 byte state is four 32-bit words, one per column, each loaded little-endian
// (row 0 in the low byte), so that a 16-byte block is words 0–3 of its bytes on every host. The
// key schedule uses the same packing: word i of FIPS 197's w[] with its first byte lowest.
//
// Rounds use the table method of the Rijndael proposal (Daemen and Rijmen, "AES Proposal:
// Rijndael", §5.2.1): SubBytes, ShiftRows and MixColumns of one column become four lookups in
// tables T0–T3 of 256 words and three XORs, then AddRoundKey. T0[a] is the column MixColumns
// makes of S(a) entering at row 0, i.e. (2·S(a), S(a), S(a), 3·S(a)); a byte entering at row r
// gives the same column rotated down by r rows, so T_r is T0 rotated by 8r bits.
//
// Not constant-time: every lookup is indexed by a byte of state or key, so an attacker who can
// observe this process's cache (same machine, cache-timing) may learn key bits. This holds for
// any table-based AES in JavaScript, including the one this file replaced; the tables here are
// small (5 KB) to keep the exposed footprint low, nothing more is claimed. The tables are built
// on first use, not at import, and hold only public constants.

/** FIPS 197 §4.2.1 xtime: multiplication by x (i.e. by 2) in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
const xtime = (a: number): number => ((a << 1) ^ (0x11b & -(a >> 7))) & 0xff;

/** The S-box (§5.1.1) and T0–T3 back to back (T_r at 256·r). */
let sbox: Uint8Array | undefined;
let te: Uint32Array | undefined;

function buildTables(): Uint32Array {
  // Logarithms to the base 3, a generator of GF(2^8)*: inv(a) = 3^(255 − log a).
  const pow = new Uint8Array(256);
  const log = new Uint8Array(256);
  for (let i = 0, p = 1; i < 255; i++, p ^= xtime(p)) {
    pow[i] = p;
    log[p] = i;
  }
  const s = new Uint8Array(256);
  const t = new Uint32Array(1024);
  for (let a = 0; a < 256; a++) {
    // §5.1.1: the inverse (0 for 0), then the affine map b ⊕ rotl(b,1) ⊕ … ⊕ rotl(b,4) ⊕ 0x63.
    let b = a === 0 ? 0 : pow[(255 - log[a]!) % 255]!;
    let v = b;
    for (let k = 0; k < 4; k++) v ^= b = ((b << 1) | (b >> 7)) & 0xff;
    s[a] = v ^= 0x63;
    const col = xtime(v) | (v << 8) | (v << 16) | ((xtime(v) ^ v) << 24);
    for (let r = 0; r < 4; r++) t[256 * r + a] = (col << (8 * r)) | (col >>> (32 - 8 * r));
  }
  sbox = s;
  return (te = t);
}

/** One column of SubBytes ∘ ShiftRows ∘ MixColumns: row r taken from the word given r-th. */
const mixed = (t: Uint32Array, a: number, b: number, c: number, d: number): number =>
  t[a & 0xff]! ^ t[256 | ((b >>> 8) & 0xff)]! ^ t[512 | ((c >>> 16) & 0xff)]! ^ t[768 | (d >>> 24)]!;

/** One column of SubBytes ∘ ShiftRows alone (the last round has no MixColumns; SubWord when a = b = c = d). */
const substituted = (s: Uint8Array, a: number, b: number, c: number, d: number): number =>
  s[a & 0xff]! | (s[(b >>> 8) & 0xff]! << 8) | (s[(c >>> 16) & 0xff]! << 16) | (s[d >>> 24]! << 24);

/**
 * KeyExpansion (FIPS 197 §5.2) of a 16- or 32-byte key into `xk` (44 or 60 words, packed as
 * described above): Nk = 4 or 8 words of key, then w[i] = w[i−Nk] ⊕ temp, where temp is
 * SubWord(RotWord(w[i−1])) ⊕ Rcon at every Nk-th word, SubWord(w[i−1]) four words later when
 * Nk = 8, and w[i−1] otherwise.
 */
export function expandKeyInto(key: Uint8Array, xk: Uint32Array): void {
  if (te === undefined) buildTables();
  const s = sbox!;
  const nk = key.length >> 2;
  for (let i = 0; i < nk; i++) xk[i] = key[4 * i]! | (key[4 * i + 1]! << 8) | (key[4 * i + 2]! << 16) | (key[4 * i + 3]! << 24);
  for (let i = nk, rcon = 1; i < xk.length; i++) {
    let w = xk[i - 1]!;
    if (i % nk === 0) {
      // RotWord moves byte 1 to byte 0: a right rotation of the little-endian word.
      w = (w >>> 8) | (w << 24);
      w = substituted(s, w, w, w, w) ^ rcon;
      rcon = xtime(rcon);
    } else if (nk === 8 && i % nk === 4) {
      w = substituted(s, w, w, w, w);
    }
    xk[i] = xk[i - nk]! ^ w;
  }
}

/**
 * The cipher (FIPS 197 §5.1) on one block, given as its four little-endian words, under the key
 * schedule `xk` (10 rounds for 44 words, 14 for 60). Returns the output block's four words.
 */
export function encrypt(xk: Uint32Array, s0: number, s1: number, s2: number, s3: number): { s0: number; s1: number; s2: number; s3: number } {
  const t = te ?? buildTables();
  const s = sbox!;
  s0 ^= xk[0]!;
  s1 ^= xk[1]!;
  s2 ^= xk[2]!;
  s3 ^= xk[3]!;
  const last = xk.length - 4;
  let k = 4;
  for (; k < last; k += 4) {
    const a = mixed(t, s0, s1, s2, s3) ^ xk[k]!;
    const b = mixed(t, s1, s2, s3, s0) ^ xk[k + 1]!;
    const c = mixed(t, s2, s3, s0, s1) ^ xk[k + 2]!;
    s3 = mixed(t, s3, s0, s1, s2) ^ xk[k + 3]!;
    s0 = a;
    s1 = b;
    s2 = c;
  }
  return {
    s0: substituted(s, s0, s1, s2, s3) ^ xk[k]!,
    s1: substituted(s, s1, s2, s3, s0) ^ xk[k + 1]!,
    s2: substituted(s, s2, s3, s0, s1) ^ xk[k + 2]!,
    s3: substituted(s, s3, s0, s1, s2) ^ xk[k + 3]!,
  };
}
