// HPKE base mode (RFC 9180) for key delivery: the KEM's shared-secret derivation, the key
// schedule and single-shot AEAD. The Diffie-Hellman step itself is done by the caller (WebCrypto
// in the browser, node:crypto in the key environment), so this file has no platform dependency.
//
// Every secret intermediate (DH output, shared secret, PRKs, AEAD key, base nonce) lives in an
// off-heap buffer from `allocSecret` and is wiped in `finally`. Labeled HKDF is computed by
// feeding the label parts to HMAC one by one, so no secret is ever concatenated into a fresh
// array. Every output here is at most one SHA-256 block (32 bytes), which is all HPKE needs for
// these suites (Nsecret = 32, Nk ≤ 32, Nn = 12).
import { AesGcmKey } from '../keys/aes-gcm.ts';
import { decryptionFailed } from '../errors.ts';
import { allocSecret, utf8, wipe } from '../internal/bytes.ts';
import { hmacSha256Into } from '../internal/sha256.ts';

/** KEM ids (RFC 9180 §7.1). */
export const KEM_P256 = 0x0010;
export const KEM_X25519 = 0x0020;
/** KDF id of HKDF-SHA256 (RFC 9180 §7.2), the only KDF used. */
export const KDF_HKDF_SHA256 = 0x0001;
/** AEAD ids (RFC 9180 §7.3). AES-128-GCM exists for the RFC's test vectors only. */
export const AEAD_AES128GCM = 0x0001;
export const AEAD_AES256GCM = 0x0002;

export type KemId = typeof KEM_P256 | typeof KEM_X25519;
export type AeadId = typeof AEAD_AES128GCM | typeof AEAD_AES256GCM;

/** An HPKE cipher suite: DHKEM with HKDF-SHA256, HKDF-SHA256, and an AES-GCM AEAD. */
export interface Suite {
  kem: KemId;
  aead: AeadId;
}

/** Length of a serialized public key / `enc` (RFC 9180 §7.1: Npk = Nenc). */
export function publicKeyLength(kem: KemId): number {
  return kem === KEM_P256 ? 65 : 32;
}

const HPKE_V1 = /* @__PURE__ */ utf8('HPKE-v1');
const MODE_BASE = 0x00;
const N_SECRET = 32; // DHKEM(P-256 | X25519, HKDF-SHA256)
const N_NONCE = 12;
const EMPTY = /* @__PURE__ */ new Uint8Array(0);

/** The ASCII name followed by 2-byte big-endian ids: a suite_id (RFC 9180 §4.1, §5.1). */
function suiteId(name: string, ...ids: number[]): Uint8Array {
  return Uint8Array.of(...utf8(name), ...ids.flatMap((id) => [id >> 8, id & 0xff]));
}

/**
 * LabeledExtract(salt, label, ikm) = HKDF-Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm)
 * (RFC 9180 §4), written into `out` (32 bytes). An empty salt is HashLen zeros (RFC 5869 §2.2).
 */
function labeledExtractInto(out: Uint8Array, suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): void {
  // An empty salt is HashLen zeros: HMAC pads an empty key with zeros to the same block.
  hmacSha256Into(out, salt, HPKE_V1, suite, utf8(label), ikm);
}

/**
 * LabeledExpand(prk, label, info, L) = HKDF-Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite_id ‖
 * label ‖ info, L) for L ≤ 32: a single block T(1) = HMAC(prk, labeled_info ‖ 0x01)
 * (RFC 5869 §2.3). `L` is `out.length`.
 */
function labeledExpandInto(out: Uint8Array, prk: Uint8Array, suite: Uint8Array, label: string, info: Uint8Array): void {
  // Internal callers only ask for L ∈ {12, 16, 32}: one block always suffices.
  const block = allocSecret(32);
  try {
    hmacSha256Into(block, prk, Uint8Array.of(0, out.length), HPKE_V1, suite, utf8(label), info, Uint8Array.of(1));
    for (let i = 0; i < out.length; i++) out[i] = block[i]!;
  } finally {
    wipe(block);
  }
}

/**
 * DHKEM's ExtractAndExpand (RFC 9180 §4.1): shared_secret from the DH output and
 * kem_context = enc ‖ pkRm. Returns a fresh off-heap buffer the caller wipes.
 */
export function kemSharedSecret(kem: KemId, dh: Uint8Array, enc: Uint8Array, pkRm: Uint8Array): Uint8Array {
  const kemSuite = suiteId('KEM', kem);
  const prk = allocSecret(32);
  const shared = allocSecret(N_SECRET);
  const kemContext = new Uint8Array(enc.length + pkRm.length); // public values only
  kemContext.set(enc);
  kemContext.set(pkRm, enc.length);
  try {
    labeledExtractInto(prk, kemSuite, EMPTY, 'eae_prk', dh);
    labeledExpandInto(shared, prk, kemSuite, 'shared_secret', kemContext);
    return shared;
  } catch (err) {
    wipe(shared);
    throw err;
  } finally {
    wipe(prk);
  }
}

/** The AEAD key and base nonce of a base-mode context. Both buffers are the caller's to wipe. */
interface ContextKeys {
  key: Uint8Array;
  baseNonce: Uint8Array;
}

/** KeySchedule for mode_base with empty psk and psk_id (RFC 9180 §5.1). */
function keySchedule(suite: Suite, sharedSecret: Uint8Array, info: Uint8Array): ContextKeys {
  const hpkeSuite = suiteId('HPKE', suite.kem, KDF_HKDF_SHA256, suite.aead);
  const pskIdHash = new Uint8Array(32); // public: hashes of public inputs
  const infoHash = new Uint8Array(32);
  labeledExtractInto(pskIdHash, hpkeSuite, EMPTY, 'psk_id_hash', EMPTY);
  labeledExtractInto(infoHash, hpkeSuite, EMPTY, 'info_hash', info);
  const context = new Uint8Array(1 + 32 + 32);
  context[0] = MODE_BASE;
  context.set(pskIdHash, 1);
  context.set(infoHash, 33);
  const secret = allocSecret(32);
  const key = allocSecret(suite.aead === AEAD_AES128GCM ? 16 : 32);
  const baseNonce = allocSecret(N_NONCE);
  try {
    labeledExtractInto(secret, hpkeSuite, sharedSecret, 'secret', EMPTY); // psk = ""
    labeledExpandInto(key, secret, hpkeSuite, 'key', context);
    labeledExpandInto(baseNonce, secret, hpkeSuite, 'base_nonce', context);
    return { key, baseNonce };
  } catch (err) {
    wipe(key, baseNonce);
    throw err;
  } finally {
    wipe(secret);
  }
}

/**
 * Seal with sequence number 0 (the nonce is base_nonce itself, RFC 9180 §5.2): one message per
 * context, which is all key delivery sends. Returns ciphertext ‖ tag.
 */
export function sealWithSharedSecret(suite: Suite, sharedSecret: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const { key, baseNonce } = keySchedule(suite, sharedSecret, info);
  const aead = new AesGcmKey(key);
  try {
    return aead.seal(baseNonce, aad, plaintext);
  } finally {
    aead.destroy();
    wipe(key, baseNonce);
  }
}

/**
 * Open with sequence number 0. Throws `ERR_DECRYPTION_FAILED` when the tag does not verify; no
 * plaintext is produced in that case. The returned plaintext is a fresh off-heap buffer the caller owns and wipes.
 */
export function openWithSharedSecret(suite: Suite, sharedSecret: Uint8Array, info: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const { key, baseNonce } = keySchedule(suite, sharedSecret, info);
  const aead = new AesGcmKey(key);
  const out = allocSecret(Math.max(0, ciphertext.length - 16)); // shorter than a tag: open refuses it
  try {
    if (!aead.open(baseNonce, aad, ciphertext, out)) throw decryptionFailed();
    return out;
  } finally {
    aead.destroy();
    wipe(key, baseNonce);
  }
}

/** X25519 outputs must not be all zero (RFC 9180 §7.1.4); P-256 ECDH cannot produce that. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}
