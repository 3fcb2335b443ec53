// Sealing and opening one identity value: AES-256-GCM under the member key's field subkey,
// a fresh random 96-bit nonce per value, associated data from aad.ts (G1, G3).
import { decryptionFailed } from '../errors.ts';
import { allocSecret, fromUtf8, loneSurrogateAt, utf8Into, utf8Length, wipe } from '../internal/bytes.ts';
import { GCM_TAG_LENGTH } from '../keys/aes-gcm.ts';
import { keyFor, sealingKey, type KeySource } from '../keys/keyring.ts';
import { fieldCipher, type MemberKey } from '../keys/member-key.ts';
import { fieldAad, type FieldContext } from './aad.ts';
import { decodeEnvelope, encodeEnvelope, fieldFormatError } from './envelope.ts';
import { bucketLength, MAX_VALUE_BYTES, unpaddedLength } from './padding.ts';

// Padded plaintexts of short values (every value of up to 511 UTF-8 bytes) go through one
// off-heap buffer, zeroed after every use, instead of a fresh buffer per value.
const SCRATCH_BYTES = 512;
let scratch: Uint8Array | undefined;

/** An off-heap buffer of `length` bytes for one padded plaintext; the caller wipes it. */
function plainBuffer(length: number): Uint8Array {
  if (length > SCRATCH_BYTES) return allocSecret(length);
  scratch ??= allocSecret(SCRATCH_BYTES);
  return scratch.subarray(0, length);
}

/**
 * Seals one identity value under the source's sealing key. `nonce` is fresh randomness the
 * caller (sealRecord) drew for this value alone — the record functions draw every value's
 * nonce in one CSPRNG call; no public function takes a nonce.
 */
export function sealField(source: KeySource, ctx: FieldContext, value: string, nonce: Uint8Array): string {
  // G3: 96 random bits per value, far below the 2^32 limit per key because each member has a
  // key of their own (docs/format.md §1).
  return encryptField(sealingKey(source), ctx, value, nonce);
}

/**
 * The deterministic core of {@link sealField}, for the known-answer vectors only
 * (test/vectors/format-v1.json). Internal: no public function takes a nonce.
 */
export function encryptField(key: MemberKey, ctx: FieldContext, value: string, nonce: Uint8Array): string {
  const cipher = fieldCipher(key);
  if (loneSurrogateAt(value) >= 0) throw fieldFormatError('identity value is not well-formed Unicode (a lone surrogate)', ctx.fieldName);
  const n = utf8Length(value);
  if (n > MAX_VALUE_BYTES) throw fieldFormatError(`identity value exceeds ${MAX_VALUE_BYTES} UTF-8 bytes`, ctx.fieldName);
  // Encoded straight into the off-heap buffer it is padded in (ISO/IEC 7816-4 padding to the
  // bucket length, docs/format.md §2): the plaintext's bytes never sit in a heap array.
  const padded = plainBuffer(bucketLength(n));
  try {
    utf8Into(value, padded);
    padded[n] = 0x80;
    return encodeEnvelope(key.keyId, nonce, cipher.seal(nonce, fieldAad(ctx, key.keyId), padded));
  } finally {
    wipe(padded);
  }
}

/** Opens one identity value; every authentication failure is the one opaque error, naming the field. */
export function openField(source: KeySource, ctx: FieldContext, value: unknown): string {
  const field = ctx.fieldName;
  const env = decodeEnvelope(value, field);
  const cipher = fieldCipher(keyFor(source, env.keyId, field));
  const padded = plainBuffer(env.sealed.length - GCM_TAG_LENGTH);
  try {
    // The tag is verified before decrypting: no unauthenticated plaintext is produced.
    if (!cipher.open(env.nonce, fieldAad(ctx, env.keyId), env.sealed, padded)) throw decryptionFailed(field);
    const n = unpaddedLength(padded);
    if (n < 0) throw decryptionFailed(field); // authentic but not ours: treat as any other failure
    try {
      return fromUtf8(padded.subarray(0, n));
    } catch {
      throw decryptionFailed(field);
    }
  } finally {
    wipe(padded);
  }
}
