import { TokumeiError } from '../errors.ts';
import { abytes, allocSecret, aobject, astring, copySecret, fillRandom, randomBytes, toBase64url, wipe } from '../internal/bytes.ts';
import { AesGcmKey } from './aes-gcm.ts';
import { deriveSubkey, type SubkeyPurpose } from './subkeys.ts';

/** Length of a member key in bytes (AES-256). */
export const MEMBER_KEY_LENGTH = 32;

/** What a key id may look like: 1–64 characters of `A–Z a–z 0–9 . _ : -` (docs/format.md §3). */
export const KEY_ID_PATTERN: RegExp = /^[A-Za-z0-9._:-]{1,64}$/;

/** Checks a key id; a malformed one is a caller's mistake. */
export function assertKeyId(keyId: unknown): asserts keyId is string {
  astring('keyId', keyId);
  if (!KEY_ID_PATTERN.test(keyId)) {
    throw new RangeError(`"keyId" expected 1-64 characters of [A-Za-z0-9._:-], got length=${keyId.length}`);
  }
}

const CONSTRUCT = Symbol('MemberKey.construct');
let material: (key: MemberKey, purpose: SubkeyPurpose | 'raw') => Uint8Array;
let cipher: (key: MemberKey) => AesGcmKey;

/**
 * An opaque handle on one member key. The 32 key bytes live in an off-heap buffer owned by the
 * handle; they are never exposed, turned into a string or copied into a small heap array.
 * Subkeys (one per purpose, by HKDF-SHA256) are derived on first use into off-heap buffers of
 * their own, and the field subkey's AES-GCM state (key schedule, hash subkey, GHASH tables) is
 * computed once into another. {@link MemberKey.destroy} zeroes all of them; every later use
 * throws `ERR_DESTROYED` rather than working with a zeroed key.
 *
 * Create one with {@link generateMemberKey} or {@link importMemberKey}.
 *
 * @example
 * ```ts
 * import { generateMemberKey } from 'tokumei';
 * const key = generateMemberKey();
 * console.log(key.keyId); // e.g. "k1.Qm9vT2x2Zk1wN0M"
 * key.destroy();
 * ```
 */
export class MemberKey {
  /** The key id written into every value sealed with this key (public, not secret). */
  readonly keyId: string;
  #bytes: Uint8Array;
  #subkeys = new Map<SubkeyPurpose, Uint8Array>();
  #cipher: AesGcmKey | undefined;
  #destroyed = false;

  /** @internal Use {@link generateMemberKey} or {@link importMemberKey}. */
  constructor(token: symbol, bytes: Uint8Array, keyId: string) {
    if (token !== CONSTRUCT) throw new TypeError('MemberKey cannot be constructed directly: use generateMemberKey() or importMemberKey()');
    this.#bytes = bytes;
    this.keyId = keyId;
  }

  static {
    material = (key, purpose) => {
      if (key.#destroyed) throw new TokumeiError('ERR_DESTROYED', 'the member key has been destroyed');
      if (purpose === 'raw') return key.#bytes;
      let sub = key.#subkeys.get(purpose);
      if (sub === undefined) {
        sub = deriveSubkey(key.#bytes, purpose);
        key.#subkeys.set(purpose, sub);
      }
      return sub;
    };
    cipher = (key) => (key.#cipher ??= new AesGcmKey(material(key, 'field')));
  }

  /** Whether {@link MemberKey.destroy} has been called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Zeroes the key and every subkey derived from it. Idempotent. After this every operation
   * that uses the handle throws `TokumeiError` `ERR_DESTROYED`.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    wipe(this.#bytes, ...this.#subkeys.values());
    this.#subkeys.clear();
    this.#cipher?.destroy();
    this.#cipher = undefined;
  }

  /**
   * What `JSON.stringify` shows of a key: its id only, never key material.
   * @returns `{ keyId }`
   */
  toJSON(): Pick<MemberKey, 'keyId'> {
    return { keyId: this.keyId };
  }
}

/**
 * The bytes behind a handle: the raw key, or a purpose's subkey (derived and cached on first
 * use). Internal: the returned buffer belongs to the handle and must not be kept or wiped.
 * @throws TokumeiError `ERR_DESTROYED` after `destroy()`
 */
export function keyMaterial(key: MemberKey, purpose: SubkeyPurpose | 'raw'): Uint8Array {
  return material(key, purpose);
}

/**
 * The AES-256-GCM state of the key's field subkey, made on first use and kept until destroy().
 * Internal, like {@link keyMaterial}.
 * @throws TokumeiError `ERR_DESTROYED` after `destroy()`
 */
export function fieldCipher(key: MemberKey): AesGcmKey {
  return cipher(key);
}

/** Wraps an off-heap buffer the library already owns (no copy). Internal. */
export function adoptMemberKey(bytes: Uint8Array, keyId: string): MemberKey {
  abytes('key', bytes, MEMBER_KEY_LENGTH);
  assertKeyId(keyId);
  return new MemberKey(CONSTRUCT, bytes, keyId);
}

/** A fresh random key id: `k1.` and 16 base64url characters (96 random bits). */
export function randomKeyId(): string {
  return `k1.${toBase64url(randomBytes(12))}`;
}

/**
 * Generates a new random member key (32 bytes from the platform CSPRNG).
 *
 * @param options - `keyId`: the id to give the key; a random `k1.…` id by default
 * @returns a new {@link MemberKey} handle
 * @throws RangeError when `keyId` is malformed
 * @example
 * ```ts
 * import { generateMemberKey } from 'tokumei';
 * const key = generateMemberKey({ keyId: 'M000001.v1' });
 * ```
 */
export function generateMemberKey(options: { keyId?: string } = {}): MemberKey {
  aobject('options', options);
  const keyId = options.keyId === undefined ? randomKeyId() : options.keyId;
  assertKeyId(keyId);
  return new MemberKey(CONSTRUCT, fillRandom(allocSecret(MEMBER_KEY_LENGTH)), keyId);
}

/**
 * Imports a member key from raw bytes. The bytes are **copied** into a buffer the handle owns;
 * the caller's buffer is never read again and never wiped — wipe it yourself when you are done.
 *
 * @param bytes - 32 key bytes
 * @param keyId - the key's id (1–64 characters of `A–Z a–z 0–9 . _ : -`)
 * @returns a new {@link MemberKey} handle
 * @throws TypeError when `bytes` is not a `Uint8Array`; RangeError when it is not 32 bytes long
 *   or `keyId` is malformed
 * @example
 * ```ts
 * import { importMemberKey } from 'tokumei';
 * const key = importMemberKey(bytesFromKeyEnvironment, 'M000001.v1');
 * bytesFromKeyEnvironment.fill(0); // yours to wipe
 * ```
 */
export function importMemberKey(bytes: Uint8Array, keyId: string): MemberKey {
  abytes('key', bytes, MEMBER_KEY_LENGTH);
  assertKeyId(keyId);
  return new MemberKey(CONSTRUCT, copySecret(bytes), keyId);
}
