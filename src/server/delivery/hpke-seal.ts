// The sender side of HPKE base mode in the key environment: Encap with node:crypto (fast and
// synchronous) and a single-shot Seal (RFC 9180 §4.1, §5.2). Node only.
import { createECDH, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { allocSecret, wipe } from '../../internal/bytes.ts';
import { isAllZero, kemSharedSecret, KEM_P256, publicKeyLength, sealWithSharedSecret, type KemId, type Suite } from '../../delivery/hpke.ts';

// DER prefix of an X25519 PrivateKeyInfo (RFC 8410 §7), for the RFC's fixed test keys only.
const X25519_PKCS8 = /* @__PURE__ */ Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_PKCS8_LENGTH = 48;

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

/**
 * The X25519 ephemeral key pair, with its public key as a JWK. The public key is encoded by the
 * key-generation call itself, and the private key is afterwards used only for the DH, which takes
 * no lock on it.
 *
 * Never `generateKeyPairSync('x25519')` followed by an export of that key (e.g.
 * `createPublicKey(privateKey).export({ format: 'jwk' })`): on Node 20 the export holds the key's
 * lock while it allocates, an allocation may run a garbage collection, and the collection may run
 * the finished key-generation job's destructor, which waits on that same lock — the main thread
 * then waits on itself for good (0 % CPU, every request times out). Measured on Node 20.20
 * (docs/threat-model.md §7): that pattern froze within ~10,000 keys in a tight loop under
 * `--max-semi-space-size=1`; this one never did. Building the private key from 32 random bytes
 * with `createPrivateKey` (PKCS#8 DER) is safe too, but ~8x slower (OpenSSL 3's DER decoder),
 * so only the RFC's fixed test keys take that path.
 */
// @types/node has no overload for a JWK public key beside a KeyObject private key; Node has.
const generateX25519 = generateKeyPairSync as unknown as (type: 'x25519', options: { publicKeyEncoding: { format: 'jwk' } }) => { publicKey: JsonWebKey; privateKey: KeyObject };

function x25519KeyPair(fixed?: Uint8Array): { privateKey: KeyObject; x: string } {
  if (fixed === undefined) {
    const { privateKey, publicKey } = generateX25519('x25519', { publicKeyEncoding: { format: 'jwk' } });
    return { privateKey, x: publicKey.x! };
  }
  const der = allocSecret(X25519_PKCS8_LENGTH);
  try {
    der.set(X25519_PKCS8);
    der.set(fixed, X25519_PKCS8.length);
    // A key that no generation job made: exporting it holds no lock a collection could wait on.
    const privateKey = createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.length), format: 'der', type: 'pkcs8' });
    return { privateKey, x: createPublicKey(privateKey).export({ format: 'jwk' }).x! };
  } finally {
    wipe(der);
  }
}

function x25519Ephemeral(fixed?: Uint8Array): Ephemeral {
  const { privateKey, x } = x25519KeyPair(fixed);
  return {
    enc: new Uint8Array(Buffer.from(x, 'base64url')),
    dh: (pkR) => {
      // JWK import: several times faster in Node 20 than DER for raw X25519 keys.
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(pkR).toString('base64url') }, format: 'jwk' });
      const out = diffieHellman({ privateKey, publicKey });
      if (isAllZero(out)) throw new RangeError('"publicKey" expected a valid X25519 public key, got a low-order point');
      return out;
    },
  };
}

/**
 * Encap of SetupBaseS (RFC 9180 §4.1, §5.1.1): the ephemeral key's `enc` and the KEM shared
 * secret for the recipient public key `pkR`, which the caller wipes. Done before anything else of
 * a delivery, so a request with an invalid key is refused before any member key is unwrapped.
 * `fixedEphemeral` (the ephemeral private key) exists for the RFC's known-answer tests only.
 * @throws RangeError when `pkR` is not a valid public key of the suite's KEM
 */
export function encapsulate(suite: Suite, pkR: Uint8Array, fixedEphemeral?: Uint8Array): { enc: Uint8Array; shared: Uint8Array } {
  if (!isWellFormed(suite.kem, pkR)) throw new RangeError(`"publicKey" expected a serialized ${suite.kem === KEM_P256 ? 'P-256 (uncompressed, 65 bytes)' : 'X25519 (32 bytes)'} public key, got length=${pkR.length}`);
  const eph = suite.kem === KEM_P256 ? p256Ephemeral(fixedEphemeral) : x25519Ephemeral(fixedEphemeral);
  let dh: Uint8Array | undefined;
  try {
    try {
      dh = eph.dh(pkR);
    } catch (cause) {
      throw new RangeError('"publicKey" expected a valid public key, got an invalid point', { cause });
    }
    return { enc: eph.enc, shared: kemSharedSecret(suite.kem, dh, eph.enc, pkR) };
  } finally {
    wipe(dh);
  }
}

/**
 * SetupBaseS + Seal (sequence 0): seals `plaintext` to the recipient public key `pkR`.
 * `fixedEphemeral` (the ephemeral private key) exists for the RFC's known-answer tests only.
 * @throws RangeError when `pkR` is not a valid public key of the suite's KEM
 */
export function sealBase(suite: Suite, pkR: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, fixedEphemeral?: Uint8Array): { enc: Uint8Array; ciphertext: Uint8Array } {
  const { enc, shared } = encapsulate(suite, pkR, fixedEphemeral);
  try {
    return { enc, ciphertext: sealWithSharedSecret(suite, shared, info, aad, plaintext) };
  } finally {
    wipe(shared);
  }
}

function isWellFormed(kem: KemId, pk: Uint8Array): boolean {
  return pk.length === publicKeyLength(kem) && (kem !== KEM_P256 || pk[0] === 0x04);
}
