// The sender side of HPKE base mode in the key environment: Encap with node:crypto (fast and
// synchronous) and a single-shot Seal (RFC 9180 §4.1, §5.2). Node only.
import { createECDH, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { wipe } from '../../internal/bytes.ts';
import { isAllZero, kemSharedSecret, KEM_P256, publicKeyLength, sealWithSharedSecret, type KemId, type Suite } from '../../delivery/hpke.ts';

// DER prefix of an X25519 PrivateKeyInfo (RFC 8410 §7), for the RFC's fixed test keys only.
const X25519_PKCS8 = /* @__PURE__ */ Buffer.from('302e020100300506032b656e04220420', 'hex');

/** An ephemeral sender key: its public half (`enc`) and a DH with a recipient's public key. */
interface Ephemeral {
  enc: Uint8Array;
  /** DH(skE, pkR); the caller wipes the result. Throws on an invalid public key. */
  dh(pkR: Uint8Array): Uint8Array;
}

function p256Ephemeral(fixed?: Uint8Array): Ephemeral {
  const ecdh = createECDH('prime256v1');
  if (fixed === undefined) ecdh.generateKeys();
  else ecdh.setPrivateKey(fixed);
  return {
    enc: new Uint8Array(ecdh.getPublicKey(undefined, 'uncompressed')),
    dh: (pkR) => ecdh.computeSecret(pkR), // validates the point; returns the 32-byte x-coordinate
  };
}

function x25519Ephemeral(fixed?: Uint8Array): Ephemeral {
  // JWK import and export: several times faster in Node 20 than DER for raw X25519 keys.
  const privateKey: KeyObject =
    fixed === undefined ? generateKeyPairSync('x25519').privateKey : createPrivateKey({ key: Buffer.concat([X25519_PKCS8, fixed]), format: 'der', type: 'pkcs8' });
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x!;
  return {
    enc: new Uint8Array(Buffer.from(x, 'base64url')),
    dh: (pkR) => {
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(pkR).toString('base64url') }, format: 'jwk' });
      const out = diffieHellman({ privateKey, publicKey });
      if (isAllZero(out)) throw new RangeError('"publicKey" expected a valid X25519 public key, got a low-order point');
      return out;
    },
  };
}

/**
 * SetupBaseS + Seal (sequence 0): seals `plaintext` to the recipient public key `pkR`.
 * `fixedEphemeral` (the ephemeral private key) exists for the RFC's known-answer tests only.
 * @throws RangeError when `pkR` is not a valid public key of the suite's KEM
 */
export function sealBase(suite: Suite, pkR: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, fixedEphemeral?: Uint8Array): { enc: Uint8Array; ciphertext: Uint8Array } {
  if (!isWellFormed(suite.kem, pkR)) throw new RangeError(`"publicKey" expected a serialized ${suite.kem === KEM_P256 ? 'P-256 (uncompressed, 65 bytes)' : 'X25519 (32 bytes)'} public key, got length=${pkR.length}`);
  const eph = suite.kem === KEM_P256 ? p256Ephemeral(fixedEphemeral) : x25519Ephemeral(fixedEphemeral);
  let dh: Uint8Array | undefined;
  let shared: Uint8Array | undefined;
  try {
    try {
      dh = eph.dh(pkR);
    } catch (cause) {
      throw new RangeError('"publicKey" expected a valid public key, got an invalid point', { cause });
    }
    shared = kemSharedSecret(suite.kem, dh, eph.enc, pkR);
    return { enc: eph.enc, ciphertext: sealWithSharedSecret(suite, shared, info, aad, plaintext) };
  } finally {
    wipe(dh, shared);
  }
}

function isWellFormed(kem: KemId, pk: Uint8Array): boolean {
  return pk.length === publicKeyLength(kem) && (kem !== KEM_P256 || pk[0] === 0x04);
}
