// Boundary checks, encodings and randomness. Internal: never exported from an entry.
import { allocSecret } from './secret.ts';

export { allocSecret, wipe } from './secret.ts';

/** Copies bytes into a fresh off-heap secret buffer. */
export function copySecret(bytes: Uint8Array): Uint8Array {
  const out = allocSecret(bytes.length);
  out.set(bytes);
  return out;
}

function describe(value: unknown): string {
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

/** Checks that `value` is a string (non-empty when asked). Same message shape as {@link abytes}. */
export function astring(name: string, value: unknown, nonEmpty = false): asserts value is string {
  if (typeof value === 'string' && (!nonEmpty || value.length > 0)) return;
  if (typeof value === 'string') throw new RangeError(`"${name}" expected non-empty string, got length=0`);
  throw new TypeError(`"${name}" expected string, got ${describe(value)}`);
}

/** Checks that `value` is a safe integer in `[min, max]`. */
export function ainteger(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max) return;
  if (typeof value !== 'number') throw new TypeError(`"${name}" expected integer, got ${describe(value)}`);
  throw new RangeError(`"${name}" expected integer in [${min}, ${max}], got ${value}`);
}

const encoder = /* @__PURE__ */ new TextEncoder();
const decoder = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });

/** UTF-8 encodes a string. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
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
 * Strict base64url decoding without padding: returns `undefined` for any character outside the
 * alphabet, an impossible length (4n+1), or non-zero trailing bits — so every string has at most
 * one decoding and a changed character can never decode to the same bytes.
 */
export function fromBase64url(text: string): Uint8Array | undefined {
  const len = text.length;
  if (len % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64URL_INDEX[c]! : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined; // non-canonical trailing bits
  return out;
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
