// Re-wrapping every member key under a new master key (G9: no data is touched).
import { TokumeiError } from '../../errors.ts';
import { ainteger, aobject, equalBytes, wipe } from '../../internal/bytes.ts';
import type { MemberKeyChange, MemberKeyStore, WrappedMemberKey } from '../stores/member-key-store.ts';
import type { MasterKey } from '../master-keys/master-key.ts';
import { unwrapEntry, wrapFor } from '../master-keys/wrap.ts';
import { pacer, type Pace } from './pace.ts';

/** Options of {@link rewrapAll}. */
export interface RewrapOptions {
  /** The master key(s) the entries are wrapped under now. */
  from: MasterKey | readonly MasterKey[];
  /** The new master key. */
  to: MasterKey;
  /** Entries read per `list` call; default 500. */
  batchSize?: number;
  /**
   * Entries written per transaction, when the store can (`updateMany`); default 50. Each
   * commit waits for a disk flush, so one commit per entry would make the flushes the pass's
   * whole cost; on the embedded database a write also holds the event loop while it runs, so
   * it stays small.
   */
  commitSize?: number;
  /**
   * Entries re-wrapped (and verified) at the same time; default 1. A master key in an HSM
   * answers each call after a round trip: set this to its pool of sessions (`sessions` of
   * `pkcs11MasterKey`, 4 by default) so the round trips overlap.
   */
  concurrency?: number;
  /** Stops the pass between two entries (what was written is durable; run again to resume). */
  signal?: AbortSignal;
  /** Called after each batch with the last key id done and the running counts. */
  onProgress?: (progress: { lastKeyId: string; examined: number; rewrapped: number }) => void;
}

/** What {@link rewrapAll} did and verified. */
export interface RewrapResult {
  /** Entries in the store at the end. */
  total: number;
  /** Entries this call re-wrapped. */
  rewrapped: number;
  /** Entries already under the new master key (an earlier, interrupted call did them). */
  alreadyCurrent: number;
  /** Entries that unwrapped under the new master key in the verification pass; equals `total`. */
  verified: number;
}

/**
 * Re-wraps every member key in `store` under a new master key. Data in the data environment is
 * not touched: member keys, key ids and every sealed value stay as they are (G9).
 *
 * Each entry is re-wrapped, checked (the new wrapped value unwraps to the same key) and written
 * by compare-and-swap on its revision, so the store is consistent after every write and a
 * concurrent change of state (a retire) is never undone: only the wrapping changes. A store with
 * `updateMany` (the database store) takes `commitSize` entries per transaction; an entry that
 * changed since it was read is read again and decided again. The pass can stop at any point
 * (`signal`, a crash): run it again and it skips what is done. At the end a
 * verification pass unwraps every entry under the new master key and counts them; the call fails
 * unless that count equals the number of entries. The pass yields the event loop about every
 * 10 ms, so deliveries served by the same process go on beside it (a memory store and a local
 * master key would otherwise hold the loop for the whole pass).
 *
 * @param store - the member-key store
 * @param options - see {@link RewrapOptions}
 * @returns the counts, verified
 * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when an entry is under none of the given master
 *   keys or the verified count does not match; `ERR_DECRYPTION_FAILED` when an entry does not
 *   unwrap; `ERR_CONFLICT` when an entry kept changing under it; the signal's reason when aborted
 * @example
 * ```ts
 * import { masterKeyFromFile, rewrapAll } from 'tokumei/server';
 * const result = await rewrapAll(store, { from: masterKeyFromFile('old.key'), to: masterKeyFromFile('new.key') });
 * console.log(`${result.verified}/${result.total} member keys under the new master key`);
 * ```
 */
export function rewrapAll(store: MemberKeyStore, options: RewrapOptions): Promise<RewrapResult> {
  return rewrapPaced(store, options, pacer());
}

/** {@link rewrapAll} with the pacing given (internal: a test's control passes none). */
export async function rewrapPaced(store: MemberKeyStore, options: RewrapOptions, pace: Pace): Promise<RewrapResult> {
  if (typeof (store as Partial<MemberKeyStore> | null)?.list !== 'function') throw new TypeError('"store" expected MemberKeyStore');
  aobject('options', options);
  for (const [name, k] of [['options.to', options.to], ...(Array.isArray(options.from) ? options.from : [options.from]).map((f) => ['options.from', f])] as [string, unknown][]) {
    if (typeof (k as Partial<MasterKey> | null)?.wrap !== 'function') throw new TypeError(`"${name}" expected MasterKey`);
  }
  const from = Array.isArray(options.from) ? (options.from as readonly MasterKey[]) : [options.from as MasterKey];
  const { to, signal } = options;
  const batchSize = options.batchSize ?? 500;
  const concurrency = options.concurrency ?? 1;
  ainteger('batchSize', batchSize, 1, 100_000);
  ainteger('concurrency', concurrency, 1, 256);
  const byId = new Map(from.map((m) => [m.id, m]));
  if (byId.has(to.id)) throw new RangeError(`"to" expected a master key other than "from", got id "${to.id}"`);

  const commitSize = options.commitSize ?? 50;
  ainteger('commitSize', commitSize, 1, 10_000);
  const batched = typeof store.updateMany === 'function';

  let rewrapped = 0;
  let alreadyCurrent = 0;
  let examined = 0;
  // Deliveries go on beside the pass: it never holds the event loop for more than a slice.
  for await (const batch of batches(store, batchSize)) {
    for (let i = 0; i < batch.length; i += commitSize) {
      const pending: { current: WrappedMemberKey; change: MemberKeyChange }[] = [];
      await inParallel(batch.slice(i, i + commitSize), concurrency, async (entry) => {
        await pace();
        signal?.throwIfAborted();
        examined++;
        if (entry.masterKeyId === to.id) {
          alreadyCurrent++;
          return;
        }
        const old = byId.get(entry.masterKeyId);
        if (old === undefined) throw unknownMaster(entry);
        if (batched) pending.push({ current: entry, change: await rewrappedChange(entry, old, to) });
        else if (await rewrapOne(store, entry, to, byId, false)) rewrapped++;
        else alreadyCurrent++;
      });
      if (pending.length === 0) continue;
      await pace();
      const written = await store.updateMany!(pending);
      for (const [j, { current }] of pending.entries()) {
        // An entry that changed since it was listed (a retire, another instance) is decided again.
        if (written[j] !== undefined || (await rewrapOne(store, current, to, byId, true))) rewrapped++;
        else alreadyCurrent++;
      }
    }
    options.onProgress?.({ lastKeyId: batch[batch.length - 1]!.keyId, examined, rewrapped });
  }

  let verified = 0;
  let total = 0;
  for await (const batch of batches(store, batchSize)) {
    total += batch.length;
    await inParallel(batch, concurrency, async (entry) => {
      await pace();
      if (entry.masterKeyId !== to.id) return;
      wipe(await unwrapEntry(to, entry));
      verified++;
    });
  }
  if (verified !== total) throw new TokumeiError('ERR_KEY_UNAVAILABLE', `only ${verified} of ${total} member keys are under the new master key`);
  return { total, rewrapped, alreadyCurrent, verified };
}

const MAX_ATTEMPTS = 8;

const unknownMaster = (entry: WrappedMemberKey): TokumeiError =>
  new TokumeiError('ERR_KEY_UNAVAILABLE', `member key "${entry.keyId}" is wrapped under unknown master key "${entry.masterKeyId}"`);

/**
 * The entry's key wrapped under `to` with the same state as read, checked: the new wrapped value
 * unwraps to the same key. The key is wiped before this returns.
 */
async function rewrappedChange(entry: WrappedMemberKey, from: MasterKey, to: MasterKey): Promise<MemberKeyChange> {
  let key: Uint8Array | undefined;
  let check: Uint8Array | undefined;
  try {
    key = await unwrapEntry(from, entry);
    const next = await wrapFor(to, entry, key);
    check = await unwrapEntry(to, { ...entry, ...next });
    if (!equalBytes(key, check)) throw new TokumeiError('ERR_KEY_UNAVAILABLE', `re-wrapped member key "${entry.keyId}" does not unwrap to the same key`);
    return next;
  } finally {
    wipe(key, check);
  }
}

/**
 * Re-wraps one entry by compare-and-swap: only the wrapping changes, never the state. When the
 * entry changed meanwhile (a retire, a re-wrap by another instance), it is read again and the
 * pass decides again, so a concurrent state change is never undone.
 * @param stale - `first` is known to have changed (a batched write refused it): read it first
 * @returns `true` when this call re-wrapped it, `false` when it was already under `to`
 */
async function rewrapOne(store: MemberKeyStore, first: WrappedMemberKey, to: MasterKey, byId: ReadonlyMap<string, MasterKey>, stale: boolean): Promise<boolean> {
  let entry: WrappedMemberKey | undefined = first;
  for (let attempt = 1; ; attempt++) {
    if (stale) {
      entry = await store.get(first.keyId);
      if (entry === undefined) throw new TokumeiError('ERR_KEY_UNAVAILABLE', `member key "${first.keyId}" disappeared from the store`);
      if (entry.masterKeyId === to.id) return false;
    }
    const from = byId.get(entry.masterKeyId);
    if (from === undefined) throw unknownMaster(entry);
    if ((await store.update(entry, await rewrappedChange(entry, from, to))) !== undefined) return true;
    if (attempt === MAX_ATTEMPTS) throw new TokumeiError('ERR_CONFLICT', `member key "${first.keyId}" kept changing while it was re-wrapped`);
    stale = true;
  }
}

/** The store's entries in key id order, one `list` batch at a time. */
async function* batches(store: MemberKeyStore, batchSize: number): AsyncGenerator<WrappedMemberKey[]> {
  let after: string | undefined;
  for (;;) {
    const batch = await store.list(after === undefined ? { limit: batchSize } : { after, limit: batchSize });
    if (batch.length === 0) return;
    yield batch;
    after = batch[batch.length - 1]!.keyId;
  }
}

/**
 * Runs `task` for every entry with at most `limit` running at a time, and resolves when all are
 * done. The first failure starts nothing new, waits for the running ones (each ends with its
 * entry consistent) and is thrown.
 */
async function inParallel(entries: readonly WrappedMemberKey[], limit: number, task: (entry: WrappedMemberKey) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < entries.length) {
      const entry = entries[next++]!;
      try {
        await task(entry);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, entries.length) }, worker));
  if (failed !== undefined) throw failed.error;
}
