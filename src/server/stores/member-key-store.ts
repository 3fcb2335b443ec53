// Storage of wrapped member keys: the interface, its boundary check and the in-memory store.
import { TokumeiError } from '../../errors.ts';
import { astring, ainteger } from '../../internal/bytes.ts';

/**
 * One version of one member's key, wrapped under a master key. Everything here is public except
 * that `wrapped` is the key, encrypted.
 */
export interface WrappedMemberKey {
  /** The member (the key environment's id for them, e.g. the SSO subject). */
  memberId: string;
  /** The key id written into every value sealed with this key; unique across the store. */
  keyId: string;
  /** 1, 2, 3, … per member; the highest active version seals new values. */
  version: number;
  /** ms since the epoch. */
  createdAt: number;
  /** `retired` versions are no longer delivered (after every record moved off them). */
  state: 'active' | 'retired';
  /** {@link MasterKey.id} of the master key that wrapped it. */
  masterKeyId: string;
  /** base64url of the master key's wrapped value. */
  wrapped: string;
}

/**
 * Where wrapped member keys live. Implement it over your database; {@link memoryKeyStore} and
 * {@link fileKeyStore} serve tests and the demo. `put` of one entry must be atomic (an entry is
 * either the old or the new one, never a mix): `rewrapAll` relies on it.
 */
export interface MemberKeyStore {
  /** Every version of a member's key, in ascending version order (empty if none). */
  versions(memberId: string): Promise<WrappedMemberKey[]>;
  /** Inserts an entry, or replaces the entry with the same `keyId`. */
  put(entry: WrappedMemberKey): Promise<void>;
  /** Up to `limit` entries in ascending `keyId` order, starting after `after` (exclusive). */
  list(options: { after?: string; limit: number }): Promise<WrappedMemberKey[]>;
  /** How many entries the store holds. */
  count(): Promise<number>;
  /** Drops superseded data (e.g. old wrapped values in an append-only log). Optional. */
  compact?(): Promise<void>;
}

/** Boundary check of an entry; names fields, never values. */
export function assertWrappedMemberKey(entry: unknown): asserts entry is WrappedMemberKey {
  if (typeof entry !== 'object' || entry === null) throw new TypeError(`"entry" expected object, got ${entry === null ? 'null' : typeof entry}`);
  const e = entry as WrappedMemberKey;
  astring('memberId', e.memberId, true);
  astring('keyId', e.keyId, true);
  ainteger('version', e.version, 1, 2 ** 31);
  ainteger('createdAt', e.createdAt, 0, Number.MAX_SAFE_INTEGER);
  if (e.state !== 'active' && e.state !== 'retired') throw new TypeError(`"state" expected 'active' or 'retired', got ${typeof e.state}`);
  astring('masterKeyId', e.masterKeyId, true);
  astring('wrapped', e.wrapped, true);
}

/** A shallow copy, so that a caller never holds the store's own object. */
export const copy = (e: WrappedMemberKey): WrappedMemberKey => ({ ...e });

/** The in-memory store; also the index behind `fileKeyStore` (file-store.ts). */
export class MemoryKeyStore implements MemberKeyStore {
  #byKeyId = new Map<string, WrappedMemberKey>();
  #byMember = new Map<string, Set<string>>();
  #sorted: string[] | undefined;

  /** Applies an entry without persisting it (used when loading a file). */
  apply(entry: WrappedMemberKey): void {
    const old = this.#byKeyId.get(entry.keyId);
    if (old !== undefined && old.memberId !== entry.memberId) {
      throw new TokumeiError('ERR_FORMAT', `key id "${entry.keyId}" already belongs to another member`);
    }
    if (old === undefined) this.#sorted = undefined;
    this.#byKeyId.set(entry.keyId, copy(entry));
    let ids = this.#byMember.get(entry.memberId);
    if (ids === undefined) this.#byMember.set(entry.memberId, (ids = new Set()));
    ids.add(entry.keyId);
  }

  versions(memberId: string): Promise<WrappedMemberKey[]> {
    const ids = this.#byMember.get(memberId);
    const out = ids === undefined ? [] : [...ids].map((id) => copy(this.#byKeyId.get(id)!));
    return Promise.resolve(out.sort((a, b) => a.version - b.version));
  }

  async put(entry: WrappedMemberKey): Promise<void> {
    assertWrappedMemberKey(entry);
    this.apply(entry);
  }

  list(options: { after?: string; limit: number }): Promise<WrappedMemberKey[]> {
    ainteger('limit', options.limit, 1, 1_000_000);
    this.#sorted ??= [...this.#byKeyId.keys()].sort();
    const sorted = this.#sorted;
    let lo = 0;
    if (options.after !== undefined) {
      // First index whose key id is > after (binary search).
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid]! <= options.after) lo = mid + 1;
        else hi = mid;
      }
    }
    return Promise.resolve(sorted.slice(lo, lo + options.limit).map((id) => copy(this.#byKeyId.get(id)!)));
  }

  count(): Promise<number> {
    return Promise.resolve(this.#byKeyId.size);
  }

  /** Every entry, in key id order (for compaction). */
  all(): WrappedMemberKey[] {
    return [...this.#byKeyId.keys()].sort().map((id) => copy(this.#byKeyId.get(id)!));
  }
}

/**
 * A store that keeps wrapped member keys in memory (tests, examples).
 *
 * @returns an empty store
 * @example
 * ```ts
 * import { createKeyEnvironment, localMasterKey, memoryKeyStore } from 'tokumei/server';
 * const env = createKeyEnvironment({ masterKey, store: memoryKeyStore(), authenticate });
 * ```
 */
export function memoryKeyStore(): MemberKeyStore {
  return new MemoryKeyStore();
}
