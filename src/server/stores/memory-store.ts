// The in-memory member-key store (tests, examples): the same contract as the database store —
// unique key ids, one version number per member, compare-and-swap updates.
import { ainteger } from '../../internal/bytes.ts';
import { assertMemberKeyChange, assertNewMemberKey, copy, insertConflict, type MemberKeyChange, type MemberKeyStore, type NewMemberKey, type WrappedMemberKey } from './member-key-store.ts';

/** The in-memory store behind {@link memoryKeyStore}. */
class MemoryKeyStore implements MemberKeyStore {
  readonly #byKeyId = new Map<string, WrappedMemberKey>();
  readonly #byMember = new Map<string, Map<number, string>>();
  #sorted: string[] | undefined;

  versions(memberId: string): Promise<WrappedMemberKey[]> {
    const ids = this.#byMember.get(memberId);
    const out = ids === undefined ? [] : [...ids.values()].map((id) => copy(this.#byKeyId.get(id)!));
    return Promise.resolve(out.sort((a, b) => a.version - b.version));
  }

  get(keyId: string): Promise<WrappedMemberKey | undefined> {
    const e = this.#byKeyId.get(keyId);
    return Promise.resolve(e === undefined ? undefined : copy(e));
  }

  async insert(entry: NewMemberKey): Promise<WrappedMemberKey> {
    assertNewMemberKey(entry);
    if (this.#byKeyId.has(entry.keyId)) throw insertConflict('keyId');
    let versions = this.#byMember.get(entry.memberId);
    if (versions?.has(entry.version)) throw insertConflict('version');
    if (versions === undefined) this.#byMember.set(entry.memberId, (versions = new Map()));
    const stored: WrappedMemberKey = {
      memberId: entry.memberId,
      keyId: entry.keyId,
      version: entry.version,
      createdAt: entry.createdAt,
      state: entry.state,
      masterKeyId: entry.masterKeyId,
      wrapped: entry.wrapped,
      revision: 1,
    };
    this.#byKeyId.set(stored.keyId, stored);
    versions.set(stored.version, stored.keyId);
    this.#sorted = undefined;
    return copy(stored);
  }

  async update(current: WrappedMemberKey, change: MemberKeyChange): Promise<WrappedMemberKey | undefined> {
    assertMemberKeyChange(change);
    const e = this.#byKeyId.get(current.keyId);
    if (e === undefined || e.revision !== current.revision) return undefined;
    e.state = change.state;
    e.masterKeyId = change.masterKeyId;
    e.wrapped = change.wrapped;
    e.revision++;
    return copy(e);
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
}

/**
 * A store that keeps wrapped member keys in memory (tests, examples). Nothing survives the
 * process.
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
