// Wire format v1 of one sealed identity value (docs/format.md §3):
//   "tk1." ‖ base64url( 0x01 ‖ len8(keyId) ‖ keyId ‖ nonce(12) ‖ ciphertext ‖ tag(16) )
import { decryptionFailed, fieldError, type TokumeiError } from '../errors.ts';
import { base64urlInto, toBase64url, utf8 } from '../internal/bytes.ts';
import { KEY_ID_PATTERN } from '../keys/member-key.ts';
import { isBucketLength, MAX_VALUE_BYTES, bucketLength } from './padding.ts';

/** The format version byte, and the digit in the `tk1.` prefix. */
export const FORMAT_VERSION = 1;
/** Every sealed identity value starts with this. */
export const ENVELOPE_PREFIX = 'tk1.';
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;

/**
 * A parsed envelope. `nonce` and `sealed` (ciphertext ‖ tag) are views of a buffer the next
 * {@link decodeEnvelope} overwrites: use them before decoding another envelope.
 */
export interface Envelope {
  keyId: string;
  nonce: Uint8Array;
  sealed: Uint8Array;
}

/** The longest body: a 64-character key id and a value of MAX_VALUE_BYTES (docs/format.md §3). */
export const MAX_BODY_BYTES: number = 2 + 64 + NONCE_LENGTH + bucketLength(MAX_VALUE_BYTES) + TAG_LENGTH;
/** Its length in base64url characters: the limit applies to the body, after the `tk1.` prefix. */
export const MAX_BODY_CHARS: number = Math.ceil((MAX_BODY_BYTES * 4) / 3);

// Key ids repeat from value to value: the last one's bytes and string are kept (public).
let lastKeyId = '';
let lastKeyIdBytes: Uint8Array = /* @__PURE__ */ new Uint8Array(0);

/** Serializes an envelope. */
export function encodeEnvelope(keyId: string, nonce: Uint8Array, sealed: Uint8Array): string {
  if (keyId !== lastKeyId) {
    lastKeyIdBytes = utf8(keyId);
    lastKeyId = keyId;
  }
  const id = lastKeyIdBytes;
  const bytes = new Uint8Array(2 + id.length + nonce.length + sealed.length);
  bytes[0] = FORMAT_VERSION;
  bytes[1] = id.length;
  bytes.set(id, 2);
  bytes.set(nonce, 2 + id.length);
  bytes.set(sealed, 2 + id.length + nonce.length);
  return ENVELOPE_PREFIX + toBase64url(bytes);
}

/** {@link fieldError} with `ERR_FORMAT`. */
export const fieldFormatError = (message: string, field: string | undefined): TokumeiError => fieldError('ERR_FORMAT', message, field);

/** The key id in `bytes[from, to)`: the last one seen, or a new string checked against §1. */
function keyIdAt(bytes: Uint8Array, from: number, to: number, field: string | undefined): string {
  const n = to - from;
  if (n > 0 && n === lastKeyIdBytes.length) {
    let same = true;
    for (let i = 0; i < n && same; i++) same = bytes[from + i] === lastKeyIdBytes[i];
    if (same) return lastKeyId;
  }
  let keyId = '';
  for (let i = from; i < to; i++) keyId += String.fromCharCode(bytes[i]!);
  if (!KEY_ID_PATTERN.test(keyId)) throw fieldFormatError('malformed key id in envelope', field);
  lastKeyIdBytes = bytes.slice(from, to);
  lastKeyId = keyId;
  return keyId;
}

// Envelopes are decoded into one buffer, grown on demand (ciphertext only: public bytes). A
// fresh off-heap array per value cost more than the decryption of a short value.
let decoded: Uint8Array = /* @__PURE__ */ new Uint8Array(0);

/**
 * Parses an envelope (docs/format.md §6, steps 1–4). Structural problems a writer could have
 * made (not a `tk…` string, an unknown version, characters outside base64url, a malformed key
 * id) are `ERR_FORMAT`; anything a truncation or bit flip of a well-formed value produces
 * (impossible lengths, non-canonical base64url) is the opaque `ERR_DECRYPTION_FAILED`, as every
 * authentication failure is. `field` names the record field in errors.
 */
export function decodeEnvelope(value: unknown, field?: string): Envelope {
  if (typeof value !== 'string') throw fieldFormatError('a sealed identity value must be a string', field);
  if (!value.startsWith(ENVELOPE_PREFIX)) {
    throw fieldFormatError(/^tk[0-9]+\./.test(value) ? 'unsupported envelope version' : 'not a tokumei envelope', field);
  }
  // Step 2: the length limit applies to the body, the prefix excluded.
  if (value.length - ENVELOPE_PREFIX.length > MAX_BODY_CHARS) throw fieldFormatError('envelope too long', field);
  const need = Math.floor(((value.length - ENVELOPE_PREFIX.length) * 3) / 4);
  if (decoded.length < need) decoded = new Uint8Array(Math.max(need, 512));
  const n = base64urlInto(value, ENVELOPE_PREFIX.length, decoded);
  if (n < 0) {
    if (!/^[A-Za-z0-9_-]*$/.test(value.slice(ENVELOPE_PREFIX.length))) throw fieldFormatError('envelope is not base64url', field);
    throw decryptionFailed(field);
  }
  const bytes = decoded.subarray(0, n);
  if (bytes.length < 2) throw decryptionFailed(field);
  const idLen = bytes[1]!;
  if (bytes[0] !== FORMAT_VERSION) throw fieldFormatError('unsupported envelope version', field);
  if (bytes.length < 2 + idLen) throw decryptionFailed(field);
  const keyId = keyIdAt(bytes, 2, 2 + idLen, field);
  const nonce = bytes.subarray(2 + idLen, 2 + idLen + NONCE_LENGTH);
  const sealed = bytes.subarray(2 + idLen + NONCE_LENGTH);
  if (nonce.length !== NONCE_LENGTH || !isBucketLength(sealed.length - TAG_LENGTH)) throw decryptionFailed(field);
  return { keyId, nonce, sealed };
}
