// IndexedDB persistence of a session (G6, docs/threat-model.md §4) — and why it holds no key at all.
//
// Measured in Chromium (docs/sessions.md §5): IndexedDB lives in LevelDB, which keeps deleted
// records in its log and table files long after `delete()`, and a non-extractable CryptoKey
// stored in IndexedDB is written to those files with its raw bytes. So anything a page stores
// there — a keyring wrapped under a "device key" kept beside it included — can be recovered
// from the profile after logoff. The entry therefore holds only public facts: the session id,
// its expiries and the latest expiry a refresh may reach. A reload or a second tab *resumes* by asking the key environment to
// deliver the same session's keyring again (HPKE, to a fresh ephemeral key), which it refuses
// once the session was logged off, revoked or expired.
//
// The entry is authenticated with HMAC-SHA256 under a non-extractable *device key* (a
// WebCrypto CryptoKey kept in the same store), so its expiries cannot be moved by editing the
// database through another path than this code. The device key protects integrity only, no
// secret: its bytes reaching the disk exposes nothing.
import { createStore, get, promisifyRequest, type UseStore } from 'idb-keyval';
import { TokumeiError } from '../errors.ts';
import { utf8 } from '../internal/bytes.ts';

const DEVICE_KEY = 'device-key';
const ENTRY = 'session';
const ENTRY_VERSION = 3;
const ENTRY_LABEL = 'tokumei/v1/session-entry';

/** What is stored of a session: public facts only. */
export interface EntryMeta {
  /** The key environment's session id. */
  sessionId: string;
  /** Absolute expiry, ms since the epoch. */
  expiresAt: number;
  /** Idle expiry, ms since the epoch; moved forward while the member is active. */
  idleExpiresAt: number;
  /** The latest `expiresAt` a token refresh may reach: sign-in plus `maxLifetimeMs`. */
  maxExpiresAt: number;
}

interface StoredEntry extends EntryMeta {
  v: number;
  /** HMAC-SHA256(device key, the fields above). */
  mac: Uint8Array;
}

// One connection per IndexedDB factory and database name.
const connections = /* @__PURE__ */ new WeakMap<IDBFactory, Map<string, UseStore>>();

function unavailable(cause: unknown): TokumeiError {
  return new TokumeiError('ERR_STORAGE_UNAVAILABLE', 'IndexedDB is unavailable', { cause });
}

function isEntry(value: unknown): value is StoredEntry {
  const e = value as Partial<StoredEntry> | null | undefined;
  return (
    e?.v === ENTRY_VERSION &&
    typeof e.sessionId === 'string' &&
    Number.isSafeInteger(e.expiresAt) &&
    Number.isSafeInteger(e.idleExpiresAt) &&
    Number.isSafeInteger(e.maxExpiresAt) &&
    e.mac instanceof Uint8Array
  );
}

function macInput(meta: EntryMeta): Uint8Array<ArrayBuffer> {
  return utf8(JSON.stringify([ENTRY_LABEL, ENTRY_VERSION, meta.sessionId, meta.expiresAt, meta.idleExpiresAt, meta.maxExpiresAt]));
}

/**
 * The session's IndexedDB store. Opened by `openSession` (never at import).
 */
export class DeviceStore {
  #store: UseStore;
  #name: string;
  #deviceKey: CryptoKey | undefined;

  private constructor(store: UseStore, name: string) {
    this.#store = store;
    this.#name = name;
  }

  /**
   * Opens the `session` store of database `tokumei`, or `tokumei/<namespace>`.
   * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE`
   */
  static open(namespace?: string): DeviceStore {
    try {
      if (typeof indexedDB === 'undefined') throw new Error('no indexedDB');
      const name = namespace === undefined ? 'tokumei' : `tokumei/${namespace}`;
      // One connection per database, made on first use (never at import) and reused by later
      // sessions, like idb-keyval's own default store; dropped after a failure so that a lost
      // connection is reopened next time.
      let byName = connections.get(indexedDB);
      if (byName === undefined) connections.set(indexedDB, (byName = new Map()));
      let store = byName.get(name);
      if (store === undefined) byName.set(name, (store = createStore(name, 'session')));
      return new DeviceStore(store, name);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async #run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      const byName = typeof indexedDB === 'undefined' ? undefined : connections.get(indexedDB);
      if (byName?.get(this.#name) === this.#store) byName.delete(this.#name);
      throw unavailable(err);
    }
  }

  async #mac(meta: EntryMeta): Promise<Uint8Array> {
    return new Uint8Array(await this.#run(() => crypto.subtle.sign('HMAC', this.#deviceKey!, macInput(meta))));
  }

  /**
   * Reads the entry. A stale one (past either expiry, malformed, of another version, or not
   * authenticated by the device key) is removed, with the device key, before this returns
   * `undefined`.
   * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE`
   */
  async readLive(now: number): Promise<EntryMeta | undefined> {
    const [entry, deviceKey] = await this.#run(() => Promise.all([get<unknown>(ENTRY, this.#store), get<unknown>(DEVICE_KEY, this.#store)]));
    if (entry === undefined) return undefined;
    const ok =
      isEntry(entry) && deviceKey instanceof CryptoKey && now < entry.expiresAt && now < entry.idleExpiresAt &&
      (await this.#run(() => crypto.subtle.verify('HMAC', deviceKey, entry.mac as Uint8Array<ArrayBuffer>, macInput(entry))));
    if (!ok) {
      await this.removeSession();
      return undefined;
    }
    this.#deviceKey = deviceKey as CryptoKey;
    return entry as StoredEntry; // public facts: the MAC is no secret
  }

  /**
   * Writes the session's entry. Creates the device key on first use, in the same transaction
   * as the entry, so a failure leaves nothing half-written.
   * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE`
   */
  async save(meta: EntryMeta): Promise<void> {
    const existing = this.#deviceKey ?? (await this.#run(() => get<unknown>(DEVICE_KEY, this.#store)));
    const fresh = !(existing instanceof CryptoKey);
    this.#deviceKey = fresh
      ? await this.#run(() => crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign', 'verify']))
      : (existing as CryptoKey);
    const entry: StoredEntry = { v: ENTRY_VERSION, ...meta, mac: await this.#mac(meta) };
    await this.#run(() =>
      this.#store('readwrite', (store) => {
        // One transaction; a put that throws (DataCloneError) aborts it, so nothing is half-written.
        try {
          if (fresh) store.put(this.#deviceKey, DEVICE_KEY);
          store.put(entry, ENTRY);
        } catch (err) {
          store.transaction.abort();
          throw err;
        }
        return promisifyRequest(store.transaction);
      }),
    );
  }

  /**
   * Rewrites the entry with a later idle expiry (the member is active) or a later absolute
   * expiry (a refresh). Best effort: a failure only means the stored entry expires sooner. Read
   * and write are one transaction, so a logoff in another tab (which deletes the entry) is
   * never undone by a late write.
   */
  async touch(meta: EntryMeta): Promise<void> {
    if (this.#deviceKey === undefined) return;
    try {
      const next: StoredEntry = { v: ENTRY_VERSION, ...meta, mac: await this.#mac(meta) };
      await this.#store('readwrite', (store) => {
        const read = store.get(ENTRY);
        read.onsuccess = () => {
          const current: unknown = read.result;
          // Gone (logged off), another session (a new sign-in), or it would move an expiry back: leave it be.
          if (isEntry(current) && current.sessionId === meta.sessionId && current.idleExpiresAt <= meta.idleExpiresAt && current.expiresAt <= meta.expiresAt) store.put(next, ENTRY);
        };
        return promisifyRequest(store.transaction);
      });
    } catch {
      // ignored: see above
    }
  }

  /**
   * Removes the entry and the device key — when `sessionId` is given, only if the entry still
   * belongs to it, and when `idleBefore` is given, only if no tab has kept it active past that
   * time. Best effort: an entry that could not be removed is stale at the next start-up, and
   * the key environment refuses to resume a session that was logged off.
   * @returns whether the entry is gone (removed here, or not there); `false` when it belongs to
   *   another session or another tab kept it active
   */
  async removeSession(sessionId?: string, idleBefore?: number): Promise<boolean> {
    let kept = false;
    try {
      await this.#store('readwrite', (store) => {
        const read = store.get(ENTRY);
        read.onsuccess = () => {
          const current: unknown = read.result;
          if (isEntry(current)) {
            // A newer sign-in (not ours), or another tab kept it active.
            kept = (sessionId !== undefined && current.sessionId !== sessionId) || (idleBefore !== undefined && current.idleExpiresAt > idleBefore);
            if (kept) return;
          }
          store.delete(ENTRY);
          store.delete(DEVICE_KEY);
        };
        return promisifyRequest(store.transaction);
      });
    } catch {
      // ignored: a stale entry is removed at the next start-up
    }
    return !kept;
  }

  /**
   * The stored idle expiry of `sessionId`'s entry (moved by any tab), or `undefined`. Never
   * throws. Read without checking the MAC: it can only keep a session open until its absolute
   * expiry, and only same-origin script (which could use the keys directly) can write it.
   */
  async idleExpiry(sessionId: string): Promise<number | undefined> {
    try {
      const current = await get<unknown>(ENTRY, this.#store);
      return isEntry(current) && current.sessionId === sessionId ? current.idleExpiresAt : undefined;
    } catch {
      return undefined;
    }
  }
}
