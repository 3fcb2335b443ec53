// Sealing and opening one identity value: AES-256-GCM under the member key's field subkey,
// a fresh random 96-bit nonce per value, associated data from aad.ts (G1, G3).
import { TokumeiError, decryptionFailed } from '../errors.ts';
import { allocSecret, fromUtf8, utf8, wipe } from '../internal/bytes.ts';
import { GCM_TAG_LENGTH } from '../keys/aes-gcm.ts';
import { keyFor, sealingKey, type KeySource } from '../keys/keyring.ts';
import { fieldCipher, type MemberKey } from '../keys/member-key.ts';
import { fieldAad, type FieldContext } from './aad.ts';
import { decodeEnvelope, encodeEnvelope } from './envelope.ts';
import { MAX_VALUE_BYTES, pad, unpaddedLength } from './padding.ts';

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
  const encoded = utf8(value);
  let padded: Uint8Array | undefined;
  try {
    if (encoded.length > MAX_VALUE_BYTES) {
      throw new TokumeiError('ERR_FORMAT', `identity value "${ctx.fieldName}" exceeds ${MAX_VALUE_BYTES} UTF-8 bytes`);
    }
    padded = pad(encoded);
    const sealed = cipher.seal(nonce, fieldAad(ctx, key.keyId), padded);
    return encodeEnvelope(key.keyId, nonce, sealed);
  } finally {
    wipe(encoded, padded);
  }
}

/** Opens one identity value; every authentication failure is the one opaque error. */
export function openField(source: KeySource, ctx: FieldContext, value: unknown): string {
  const env = decodeEnvelope(value);
  const key = keyFor(source, env.keyId);
  const cipher = fieldCipher(key);
  const padded = allocSecret(env.sealed.length - GCM_TAG_LENGTH);
  try {
    // The tag is verified before decrypting: no unauthenticated plaintext is produced.
    if (!cipher.open(env.nonce, fieldAad(ctx, env.keyId), env.sealed, padded)) throw decryptionFailed();
    const n = unpaddedLength(padded);
    if (n < 0) throw decryptionFailed(); // authentic but not ours: treat as any other failure
    try {
      return fromUtf8(padded.subarray(0, n));
    } catch {
      throw decryptionFailed();
    }
  } finally {
    wipe(padded);
  }
}
