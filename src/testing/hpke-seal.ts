// The sender side of HPKE base mode with WebCrypto, so the fake key environment runs in a
// browser page as well as in Node (the real key environment uses node:crypto). Encap + a
// single-shot Seal (RFC 9180 §4.1, §5.2); tests only.
import { isAllZero, kemSharedSecret, KEM_P256, sealWithSharedSecret, type Suite } from '../delivery/hpke.ts';
import { isWellFormedPublicKey } from '../delivery/open.ts';
import { wipe } from '../internal/bytes.ts';

/**
 * SetupBaseS + Seal (sequence 0) to the recipient public key `pkR`.
 * @throws RangeError when `pkR` is not a public key of the suite's KEM
 */
export async function sealBaseWebCrypto(suite: Suite, pkR: Uint8Array, info: Uint8Array, plaintext: Uint8Array): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  if (!isWellFormedPublicKey(suite.kem, pkR)) throw new RangeError(`"publicKey" expected a serialized public key of the KEM, got length=${pkR.length}`);
  const alg = suite.kem === KEM_P256 ? { name: 'ECDH', namedCurve: 'P-256' } : { name: 'X25519' };
  const subtle = globalThis.crypto.subtle;
  let recipient: CryptoKey;
  try {
    recipient = await subtle.importKey('raw', pkR as Uint8Array<ArrayBuffer>, alg, false, []);
  } catch (cause) {
    throw new RangeError('"publicKey" expected a valid public key, got an invalid point', { cause });
  }
  const ephemeral = (await subtle.generateKey(alg, false, ['deriveBits'])) as CryptoKeyPair;
  const enc = new Uint8Array(await subtle.exportKey('raw', ephemeral.publicKey));
  let dh: Uint8Array | undefined;
  let shared: Uint8Array | undefined;
  try {
    dh = new Uint8Array(await subtle.deriveBits({ name: alg.name, public: recipient } as EcdhKeyDeriveParams, ephemeral.privateKey, 256));
    if (isAllZero(dh)) throw new RangeError('"publicKey" expected a valid public key, got a low-order point');
    shared = kemSharedSecret(suite.kem, dh, enc, pkR);
    return { enc, ciphertext: sealWithSharedSecret(suite, shared, info, new Uint8Array(0), plaintext) };
  } finally {
    wipe(dh, shared);
  }
}
