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

/** The longest body: a 64-character key id and a value of MAX_VALUE_BYTES (docs/format.md §3). */
export const MAX_BODY_BYTES: number = 2 + 64 + NONCE_LENGTH + bucketLength(MAX_VALUE_BYTES) + TAG_LENGTH;
/** Its length in base64url characters: the limit applies to the body, after the `tk1.` prefix. */
export const MAX_BODY_CHARS: number = Math.ceil((MAX_BODY_BYTES * 4) / 3);

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
  // The limit is on the body, the prefix excluded (docs/format.md §6 step 2).
  if (value.length - ENVELOPE_PREFIX.length > MAX_BODY_CHARS) throw formatError('envelope too long');
  const body = value.slice(ENVELOPE_PREFIX.length);
  const bytes = fromBase64url(body);
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
