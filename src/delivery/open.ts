// The recipient side of HPKE base mode in the browser: an ephemeral WebCrypto key pair and
// Decap + Open (RFC 9180 §4.1, §5.2). The ephemeral private key is a non-extractable CryptoKey
// (it cannot be wiped; see docs/key-delivery.md §6); the DH output it produces is copied
// nowhere and wiped in `finally`, and the plaintext never passes through WebCrypto.
import { decryptionFailed } from '../errors.ts';
import { wipe } from '../internal/bytes.ts';
import { isAllZero, kemSharedSecret, KEM_P256, openWithSharedSecret, publicKeyLength, type KemId, type Suite } from './hpke.ts';

/** A recipient key pair: the private half stays inside WebCrypto, non-extractable. */
export interface RecipientKeyPair {
  kem: KemId;
  privateKey: CryptoKey;
  /** SerializePublicKey(pkR): 65 bytes uncompressed (P-256) or 32 bytes (X25519). */
  publicKey: Uint8Array;
}

function algorithm(kem: KemId): EcKeyImportParams | Algorithm {
  return kem === KEM_P256 ? { name: 'ECDH', namedCurve: 'P-256' } : { name: 'X25519' };
}

/** Makes an ephemeral recipient key pair with a non-extractable private key. */
export async function generateRecipientKeyPair(kem: KemId): Promise<RecipientKeyPair> {
  const pair = (await crypto.subtle.generateKey(algorithm(kem), false, ['deriveBits'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { kem, privateKey: pair.privateKey, publicKey };
}

/** Checks a serialized public key's shape before WebCrypto sees it (uncompressed points only). */
export function isWellFormedPublicKey(kem: KemId, bytes: Uint8Array): boolean {
  return bytes.length === publicKeyLength(kem) && (kem !== KEM_P256 || bytes[0] === 0x04);
}

/**
 * DH(skR, pkE) through WebCrypto. Returns the 32-byte DH output in an off-heap buffer the caller
 * wipes. Throws on a malformed or invalid public key and on an all-zero X25519 output.
 */
async function dh(recipient: RecipientKeyPair, enc: Uint8Array): Promise<Uint8Array> {
  if (!isWellFormedPublicKey(recipient.kem, enc)) throw decryptionFailed();
  const alg = algorithm(recipient.kem);
  const peer = await crypto.subtle.importKey('raw', enc as Uint8Array<ArrayBuffer>, alg, false, []);
  // deriveBits returns a fresh ArrayBuffer: off-heap, wiped by the caller through this view.
  const out = new Uint8Array(await crypto.subtle.deriveBits({ name: alg.name, public: peer } as EcdhKeyDeriveParams, recipient.privateKey, 256));
  if (isAllZero(out)) throw decryptionFailed();
  return out;
}

/**
 * Decap then Open (sequence 0); `suite.kem` must be `recipient.kem`. Returns the plaintext (the
 * caller owns and wipes it). Throws on any failure; callers map every failure to one opaque error.
 */
export async function openBase(suite: Suite, recipient: RecipientKeyPair, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  let dhOut: Uint8Array | undefined;
  let shared: Uint8Array | undefined;
  try {
    dhOut = await dh(recipient, enc);
    shared = kemSharedSecret(suite.kem, dhOut, enc, recipient.publicKey);
    return openWithSharedSecret(suite, shared, info, aad, ciphertext);
  } finally {
    wipe(dhOut, shared);
  }
}

