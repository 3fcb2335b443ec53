// Boundary checks, encodings and randomness. Internal: never exported from an entry.
import { allocSecret } from './secret.ts';

export { allocSecret, wipe } from './secret.ts';

/** Copies bytes into a fresh off-heap secret buffer. */
export function copySecret(bytes: Uint8Array): Uint8Array {
  const out = allocSecret(bytes.length);
  out.set(bytes);
  return out;
}

/** What a value is, for error messages: `null`, `length=N` for bytes, a class name or its `typeof` — never its contents. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `length=${value.length}`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

/**
 * Checks that `value` is a `Uint8Array` (of `length`, when given). One message shape for every
 * boundary: `"key" expected Uint8Array of length 32, got length=16`. The message names only the
 * type or length of what was passed, never its contents.
 */
export function abytes(name: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (value instanceof Uint8Array && (length === undefined || value.length === length)) return;
  const want = length === undefined ? 'Uint8Array' : `Uint8Array of length ${length}`;
  const msg = `"${name}" expected ${want}, got ${describe(value)}`;
  if (value instanceof Uint8Array) throw new RangeError(msg);
  throw new TypeError(msg);
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The index of the first lone surrogate in `text` — a UTF-16 code unit D800–DFFF that is not
 * half of a pair, which no Unicode encoding can represent — or -1 when `text` is well-formed.
 */
export function loneSurrogateAt(text: string): number {
  return LONE_SURROGATE.exec(text)?.index ?? -1;
}

/**
 * Checks that `value` is a well-formed string (non-empty when asked). Same message shape as
 * {@link abytes}. A lone surrogate is refused: UTF-8 cannot encode it, and TextEncoder would
 * silently turn every one into U+FFFD, so two different strings would bind the same bytes.
 */
export function astring(name: string, value: unknown, nonEmpty = false): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`"${name}" expected string, got ${describe(value)}`);
  if (nonEmpty && value.length === 0) throw new RangeError(`"${name}" expected non-empty string, got length=0`);
  const at = loneSurrogateAt(value);
  if (at >= 0) throw new RangeError(`"${name}" expected well-formed Unicode, got a lone surrogate at index ${at}`);
}

/** Checks that `value` is an ordinary object (options, a request; not an array, a typed array, a Date …). */
export function aobject(name: string, value: unknown): asserts value is object {
  if (Object.prototype.toString.call(value) !== '[object Object]') throw new TypeError(`"${name}" expected object, got ${describe(value)}`);
}

/** Checks that `value` is a safe integer in `[min, max]`. */
export function ainteger(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max) return;
  if (typeof value !== 'number') throw new TypeError(`"${name}" expected integer, got ${describe(value)}`);
  throw new RangeError(`"${name}" expected integer in [${min}, ${max}], got ${value}`);
}

const encoder = /* @__PURE__ */ new TextEncoder();
const decoder = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8 encodes a well-formed string. Throws RangeError on a lone surrogate instead of encoding
 * it as U+FFFD (callers check their inputs first and name them; this is the last line).
 */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  if (loneSurrogateAt(text) >= 0) throw new RangeError('expected well-formed Unicode, got a lone surrogate');
  return encoder.encode(text);
}

/** UTF-8 encodes well-formed `text` into `out` (which must have room); returns the bytes written. */
export function utf8Into(text: string, out: Uint8Array): number {
  return encoder.encodeInto(text, out).written;
}

/** The length of `text` in UTF-8 bytes (well-formed text), without encoding it. */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1; // a pair: 2 units, 4 bytes
  }
  return n;
}

/** Decodes UTF-8; throws on malformed input (callers map that to their own error). */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_INDEX: Int16Array = /* @__PURE__ */ (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64URL.charCodeAt(i)] = i;
  return t;
})();

const B64URL_CODES: Uint8Array = /* @__PURE__ */ utf8(B64URL);
const latin1 = /* @__PURE__ */ new TextDecoder('latin1');

/** base64url without padding (RFC 4648 §5). Not for secrets: the result is a string. */
export function toBase64url(bytes: Uint8Array): string {
  // Character codes go into a byte array decoded once: much faster than growing a string.
  const out = new Uint8Array(Math.ceil((bytes.length * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = B64URL_CODES[n >> 18]!;
    out[o++] = B64URL_CODES[(n >> 12) & 63]!;
    out[o++] = B64URL_CODES[(n >> 6) & 63]!;
    out[o++] = B64URL_CODES[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = B64URL_CODES[n >> 18]!;
    out[o++] = B64URL_CODES[(n >> 12) & 63]!;
    if (rest === 2) out[o++] = B64URL_CODES[(n >> 6) & 63]!;
  }
  return latin1.decode(out);
}

/**
 * Strict base64url decoding without padding of `text` from index `start` into `out` (which
 * needs ⌊3·n/4⌋ bytes): returns the number of bytes written, or -1 for any character outside
 * the alphabet, an impossible length (4n+1), or non-zero trailing bits — so every string has at
 * most one decoding and a changed character can never decode to the same bytes.
 */
export function base64urlInto(text: string, start: number, out: Uint8Array): number {
  if ((text.length - start) % 4 === 1) return -1;
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = start; i < text.length; i++) {
    // -(c >>> 7) is negative for every code from 128: outside the table, invalid like its -1s.
    const c = text.charCodeAt(i);
    const v = B64URL_INDEX[c & 127]! | -(c >>> 7);
    if (v < 0) return -1;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = acc >> bits;
    }
  }
  return acc & ((1 << bits) - 1) ? -1 : o; // non-canonical trailing bits
}

/** {@link base64urlInto} into a fresh array: `undefined` where it returns -1. */
export function fromBase64url(text: string, start = 0): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor(((text.length - start) * 3) / 4));
  return base64urlInto(text, start, out) < 0 ? undefined : out;
}

/** Concatenates byte arrays into a new (heap) array. Not for secrets. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time comparison of two byte arrays of public length. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Fills a buffer with cryptographically secure random bytes (WebCrypto, Node ≥ 20 and browsers). */
export function fillRandom(out: Uint8Array): Uint8Array {
  // getRandomValues caps a call at 65,536 bytes.
  for (let o = 0; o < out.length; o += 65536) globalThis.crypto.getRandomValues(out.subarray(o, o + 65536));
  return out;
}

/** Fresh random bytes on the heap (nonces, salts, ids: not secret once used). */
export function randomBytes(length: number): Uint8Array {
  return fillRandom(new Uint8Array(length));
}
