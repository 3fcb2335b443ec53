// Wire format v1 of one sealed identity value (docs/format.md §3):
//   "tk1." ‖ base64url( 0x01 ‖ len8(keyId) ‖ keyId ‖ nonce(12) ‖ ciphertext ‖ tag(16) )
import { TokumeiError, decryptionFailed } from '../errors.ts';
import { fromBase64url, toBase64url, utf8 } from '../internal/bytes.ts';
import { KEY_ID_PATTERN } from '../keys/member-key.ts';
import { isBucketLength, MAX_VALUE_BYTES, bucketLength } from './padding.ts';

/** The format version byte, and the digit in the `tk1.` prefix. */
export const FORMAT_VERSION = 1;
/** Every sealed identity value starts with this. */
export const ENVELOPE_PREFIX = 'tk1.';
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;

/** A parsed envelope. `body` is nonce ‖ ciphertext ‖ tag as a view into the decoded bytes. */
export interface Envelope {
  keyId: string;
  nonce: Uint8Array;
  sealed: Uint8Array;
}

const MAX_ENVELOPE_CHARS = Math.ceil(((2 + 64 + NONCE_LENGTH + bucketLength(MAX_VALUE_BYTES) + TAG_LENGTH) * 4) / 3);

/** Serializes an envelope. */
export function encodeEnvelope(keyId: string, nonce: Uint8Array, sealed: Uint8Array): string {
  const id = utf8(keyId);
  const bytes = new Uint8Array(2 + id.length + nonce.length + sealed.length);
  bytes[0] = FORMAT_VERSION;
  bytes[1] = id.length;
  bytes.set(id, 2);
  bytes.set(nonce, 2 + id.length);
  bytes.set(sealed, 2 + id.length + nonce.length);
  return ENVELOPE_PREFIX + toBase64url(bytes);
}

const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The 6-bit value of character `i` (0 when absent or invalid; only used to pick an alignment). */
function b64urlCharValue(text: string, i: number): number {
  const v = B64URL_ALPHABET.indexOf(text.charAt(i));
  return v < 0 ? 0 : v;
}

function formatError(message: string): TokumeiError {
  return new TokumeiError('ERR_FORMAT', message);
}

/**
 * Parses an envelope. Structural problems a writer could have made (not a `tk…` string, an
 * unknown version, characters outside base64url, a malformed key id) are `ERR_FORMAT`; anything
 * a truncation or bit flip of a well-formed value produces (impossible lengths, non-canonical
 * base64url) is the opaque `ERR_DECRYPTION_FAILED`, as every authentication failure is.
 */
export function decodeEnvelope(value: unknown): Envelope {
  if (typeof value !== 'string') throw formatError('a sealed identity value must be a string');
  if (!value.startsWith(ENVELOPE_PREFIX)) {
    if (/^tk[0-9]+\./.test(value)) throw formatError('unsupported envelope version');
    throw formatError('not a tokumei envelope');
  }
  if (value.length > MAX_ENVELOPE_CHARS) throw formatError('envelope too long');
  const body = value.slice(ENVELOPE_PREFIX.length);
  // Decode so that the ciphertext starts 4-byte aligned: noble copies unaligned input first.
  // Byte 1 (the key id length) is in characters 1–2 of the body.
  const idLenHint = ((b64urlCharValue(body, 1) & 15) << 4) | (b64urlCharValue(body, 2) >> 2);
  const bytes = fromBase64url(body, (4 - ((2 + idLenHint + NONCE_LENGTH) & 3)) & 3);
  if (bytes === undefined) {
    if (!/^[A-Za-z0-9_-]*$/.test(body)) throw formatError('envelope is not base64url');
    throw decryptionFailed();
  }
  if (bytes.length < 2) throw decryptionFailed();
  const idLen = bytes[1]!;
  if (bytes[0] !== FORMAT_VERSION) throw formatError('unsupported envelope version');
  if (bytes.length < 2 + idLen) throw decryptionFailed();
  let keyId = '';
  for (let i = 2; i < 2 + idLen; i++) keyId += String.fromCharCode(bytes[i]!);
  if (!KEY_ID_PATTERN.test(keyId)) throw formatError('malformed key id in envelope');
  const nonce = bytes.subarray(2 + idLen, 2 + idLen + NONCE_LENGTH);
  const sealed = bytes.subarray(2 + idLen + NONCE_LENGTH);
  if (nonce.length !== NONCE_LENGTH || !isBucketLength(sealed.length - TAG_LENGTH)) throw decryptionFailed();
  return { keyId, nonce, sealed };
}
