import { fieldError, TokumeiError } from '../errors.ts';
import { aobject, astring } from '../internal/bytes.ts';
import { MemberKey } from './member-key.ts';

/**
 * A set of member keys looked up by key id: a member's own key (the *primary*, used to seal),
 * keys of records they may read (a dependant's), and older versions kept after a rotation.
 * Each sealed value names its key id, so the right key is found without trial decryption.
 *
 * The keyring owns its keys: {@link Keyring.destroy} destroys every one of them.
 *
 * @example
 * ```ts
 * import { createKeyring, generateMemberKey, openRecord } from 'tokumei';
 * const own = generateMemberKey({ keyId: 'M000001.v2' });
 * const old = generateMemberKey({ keyId: 'M000001.v1' });
 * const ring = createKeyring([own, old], { primary: own.keyId });
 * const me = openRecord(ring, memberSchema, sealed, { recordId: 'M000001' });
 * ```
 */
export class Keyring {
  #keys = new Map<string, MemberKey>();
  #primary: string;
  #destroyed = false;

  /**
   * @param keys - the keys (key ids must be distinct)
   * @param primary - key id of the key used for sealing; the first key by default
   * @throws RangeError when `keys` is empty, ids repeat, or `primary` is not among them
   */
  constructor(keys: readonly MemberKey[], primary?: string) {
    if (!Array.isArray(keys)) throw new TypeError(`"keys" expected MemberKey[], got ${keys === null ? 'null' : typeof keys}`);
    if (primary !== undefined) astring('primary', primary);
    if (keys.length === 0) throw new RangeError('"keys" expected at least one MemberKey, got length=0');
    for (const k of keys) {
      if (!(k instanceof MemberKey)) throw new TypeError('"keys" expected MemberKey[]');
      if (this.#keys.has(k.keyId)) throw new RangeError(`"keys" expected distinct key ids, got "${k.keyId}" twice`);
      this.#keys.set(k.keyId, k);
    }
    this.#primary = primary ?? keys[0]!.keyId;
    if (!this.#keys.has(this.#primary)) throw new RangeError(`"primary" expected one of the keyring's key ids, got "${this.#primary}"`);
  }

  #check(): void {
    if (this.#destroyed) throw new TokumeiError('ERR_DESTROYED', 'the keyring has been destroyed');
  }

  /** The key used to seal new values. @throws TokumeiError `ERR_DESTROYED` */
  get primary(): MemberKey {
    this.#check();
    return this.#keys.get(this.#primary)!;
  }

  /** The key ids held (public values). @throws TokumeiError `ERR_DESTROYED` */
  get keyIds(): string[] {
    this.#check();
    return [...this.#keys.keys()];
  }

  /** Whether {@link Keyring.destroy} has been called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * The key with this id.
   * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when the keyring holds no such key; `ERR_DESTROYED`
   */
  get(keyId: string): MemberKey {
    this.#check();
    const key = this.#keys.get(keyId);
    if (key === undefined) throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'no key for the key id this value names');
    return key;
  }

  /** Whether the keyring holds a key with this id. @throws TokumeiError `ERR_DESTROYED` */
  has(keyId: string): boolean {
    this.#check();
    return this.#keys.has(keyId);
  }

  /** Destroys every key in the keyring. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const k of this.#keys.values()) k.destroy();
    this.#keys.clear();
  }
}

/**
 * Builds a {@link Keyring} that takes ownership of `keys`.
 *
 * @param keys - member keys with distinct key ids
 * @param options - `primary`: the key id used for sealing (the first key by default)
 * @returns the keyring
 * @throws RangeError when `keys` is empty, ids repeat, or `primary` is unknown
 * @example
 * ```ts
 * import { createKeyring, generateMemberKey } from 'tokumei';
 * const ring = createKeyring([generateMemberKey()]);
 * ```
 */
export function createKeyring(keys: readonly MemberKey[], options: { primary?: string } = {}): Keyring {
  aobject('options', options);
  return new Keyring(keys, options.primary);
}

/** Either one key or a keyring: what the record functions accept. */
export type KeySource = MemberKey | Keyring;

/**
 * Resolves the key a value names (internal): `ERR_KEY_UNAVAILABLE`, naming the record `field`
 * when given, if the source has none (a destroyed keyring is `ERR_DESTROYED`, as in `get`).
 */
export function keyFor(source: KeySource, keyId: string, field?: string): MemberKey {
  if (source instanceof Keyring ? source.has(keyId) : source.keyId === keyId) return source instanceof Keyring ? source.get(keyId) : source;
  throw fieldError('ERR_KEY_UNAVAILABLE', 'no key for the key id this value names', field);
}

/** The key used to seal (internal). */
export function sealingKey(source: KeySource): MemberKey {
  return source instanceof Keyring ? source.primary : source;
}

/** Boundary check for a key source (internal). */
export function assertKeySource(source: unknown): asserts source is KeySource {
  if (source instanceof MemberKey || source instanceof Keyring) return;
  throw new TypeError(`"key" expected MemberKey or Keyring, got ${source === null ? 'null' : typeof source}`);
}
