// Storage of wrapped member keys: the interface, an in-memory store and a file store.
import { appendFile, open, readFile, rename, truncate } from 'node:fs/promises';
import { TokumeiError } from '../errors.ts';
import { astring, ainteger } from '../internal/bytes.ts';

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

const copy = (e: WrappedMemberKey): WrappedMemberKey => ({ ...e });

/** The in-memory store; also the index behind {@link fileKeyStore}. */
class MemoryKeyStore implements MemberKeyStore {
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

/**
 * A store backed by one append-only file of JSON lines (one {@link WrappedMemberKey} per line,
 * the last line for a key id wins), loaded into memory when opened. A line cut short by a crash
 * is ignored; `compact()` rewrites the file with only the current entries (write to a temporary
 * file, fsync, rename). For the demo and small deployments; use a database in production.
 *
 * @param path - the file; created on the first `put` when missing
 * @returns the opened store
 * @throws TokumeiError `ERR_FORMAT` when a line other than the last is not a valid entry
 * @example
 * ```ts
 * import { fileKeyStore } from 'tokumei/server';
 * const store = await fileKeyStore('./data/key-env/member-keys.jsonl');
 * ```
 */
export async function fileKeyStore(path: string): Promise<MemberKeyStore> {
  astring('path', path, true);
  const index = new MemoryKeyStore();
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = text.split('\n');
  const last = lines.length - 1;
  lines.forEach((line, i) => {
    if (line.length === 0) return;
    try {
      const entry = JSON.parse(line) as unknown;
      assertWrappedMemberKey(entry);
      index.apply(entry);
    } catch (cause) {
      if (i === last) return; // an append cut short by a crash: that put never completed
      if (cause instanceof TokumeiError) throw cause;
      throw new TokumeiError('ERR_FORMAT', `line ${i + 1} of the member key store is not a valid entry`, { cause });
    }
  });
  if (text.length > 0 && !text.endsWith('\n')) {
    // Drop a line cut short by a crash, so the next append starts on a line of its own.
    await truncate(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1), 'utf8'));
  }
  let writes: Promise<void> = Promise.resolve();
  const serial = (task: () => Promise<void>): Promise<void> => (writes = writes.then(task, task));

  return {
    versions: (memberId) => index.versions(memberId),
    list: (options) => index.list(options),
    count: () => index.count(),
    async put(entry: WrappedMemberKey): Promise<void> {
      assertWrappedMemberKey(entry);
      const line = `${JSON.stringify(copy(entry))}\n`;
      return serial(async () => {
        await appendFile(path, line, { mode: 0o600 });
        index.apply(entry); // visible only once durable in the log
      });
    },
    compact(): Promise<void> {
      return serial(async () => {
        const tmp = `${path}.compact-${process.pid}`;
        const file = await open(tmp, 'w', 0o600);
        try {
          await file.writeFile(index.all().map((e) => `${JSON.stringify(e)}\n`).join(''));
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(tmp, path);
      });
    },
  };
}
