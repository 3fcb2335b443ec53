// IndexedDB persistence of a session (DESIGN G6): the keyring is stored wrapped, never raw.
//
// - The *device key* is a non-extractable WebCrypto HMAC-SHA256 key made on this device and
//   kept in IndexedDB (store `tokumei`/`session`, key `device-key`). Script can use it but never
//   read its bytes. It is removed, with the entry, at logoff and when an entry goes stale.
// - Each entry has a random salt; its *wrapping key* is HMAC(deviceKey, label ‖ salt), copied
//   into an off-heap buffer. The keyring is sealed with noble AES-256-GCM in JS under that key,
//   so the member key itself never passes through WebCrypto, whose internal buffers may be freed
//   without zeroing (DESIGN §3, §6).
// - The associated data binds the session id, key ids and both expiries (absolute and idle):
//   an entry whose expiry was edited does not open. Expired entries are refused and removed.
import { gcm } from '@noble/ciphers/aes.js';
import { createStore, get, promisifyRequest, type UseStore } from 'idb-keyval';
import { TokumeiError } from '../errors.ts';
import { allocSecret, copySecret, randomBytes, utf8, wipe } from '../internal/bytes.ts';
import { createKeyring, type Keyring } from '../keys/keyring.ts';
import { adoptMemberKey, keyMaterial, MEMBER_KEY_LENGTH, type MemberKey } from '../keys/member-key.ts';

const DEVICE_KEY = 'device-key';
const ENTRY = 'session';
const ENTRY_VERSION = 1;
const WRAP_LABEL = 'tokumei/v1/session-wrap';
const SALT_LENGTH = 32;
const NONCE_LENGTH = 12;
// The sealed keyring is padded to at least this many bytes so that noble's decrypt output is
// larger than 64 bytes, and V8 allocates it off-heap where wipe() reaches it (DESIGN §6).
const MIN_PLAINTEXT = 4 * MEMBER_KEY_LENGTH;

/** The public facts of a stored session (also its authenticated associated data). */
export interface EntryMeta {
  sessionId: string;
  keyIds: string[];
  primary: string;
  /** Absolute expiry, ms since the epoch. */
  expiresAt: number;
  /** Idle expiry, ms since the epoch; moved forward while the member is active. */
  idleExpiresAt: number;
}

/** What is written to IndexedDB: public metadata and the sealed key bytes. */
interface StoredEntry extends EntryMeta {
  v: number;
  salt: Uint8Array;
  nonce: Uint8Array;
  sealed: Uint8Array;
}

const connections = /* @__PURE__ */ new WeakMap<IDBFactory, UseStore>();

function unavailable(cause: unknown): TokumeiError {
  return new TokumeiError('ERR_STORAGE_UNAVAILABLE', 'IndexedDB is unavailable', { cause });
}

function isEntry(value: unknown): value is StoredEntry {
  const e = value as Partial<StoredEntry> | null | undefined;
  // The shape only: every field is authenticated (associated data, or the AEAD) before use.
  return (
    e?.v === ENTRY_VERSION &&
    typeof e.sessionId === 'string' &&
    typeof e.primary === 'string' &&
    Array.isArray(e.keyIds) &&
    Number.isSafeInteger(e.expiresAt) &&
    Number.isSafeInteger(e.idleExpiresAt) &&
    [e.salt, e.nonce, e.sealed].every((b) => b instanceof Uint8Array)
  );
}

function associatedData(meta: EntryMeta): Uint8Array {
  // Key ids match /^[A-Za-z0-9._:-]+$/ and session ids are JSON-escaped: the encoding is unambiguous.
  return utf8(
    JSON.stringify([ENTRY_VERSION, meta.sessionId, meta.keyIds, meta.primary, meta.expiresAt, meta.idleExpiresAt]),
  );
}

function isExpired(meta: EntryMeta, now: number): boolean {
  return now >= meta.expiresAt || now >= meta.idleExpiresAt;
}

/**
 * The session's IndexedDB store. Opened by `openSession` (never at import). Holds the entry's
 * wrapping key in an off-heap buffer while the session is open; {@link DeviceStore.close}
 * wipes it.
 */
export class DeviceStore {
  #store: UseStore;
  #wrapKey: Uint8Array | undefined;
  #salt: Uint8Array | undefined;

  private constructor(store: UseStore) {
    this.#store = store;
  }

  /** Opens the `tokumei`/`session` store. @throws TokumeiError `ERR_STORAGE_UNAVAILABLE` */
  static open(): DeviceStore {
    try {
      if (typeof indexedDB === 'undefined') throw new Error('no indexedDB');
      // One connection per IDBFactory, made on first use (never at import) and reused by later
      // sessions, like idb-keyval's own default store; dropped after a failure so that a lost
      // connection is reopened next time.
      let store = connections.get(indexedDB);
      if (store === undefined) connections.set(indexedDB, (store = createStore('tokumei', 'session')));
      return new DeviceStore(store);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async #run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (typeof indexedDB !== 'undefined' && connections.get(indexedDB) === this.#store) connections.delete(indexedDB);
      throw unavailable(err);
    }
  }

  /**
   * Reads the entry. A stale one (past either expiry, malformed, or of another version) is
   * removed, with the device key, before this returns `undefined`.
   * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE`
   */
  async readLive(now: number): Promise<EntryMeta | undefined> {
    const entry = await this.#run(() => get<unknown>(ENTRY, this.#store));
    if (entry === undefined) return undefined;
    if (!isEntry(entry) || isExpired(entry, now)) {
      await this.removeSession();
      return undefined;
    }
    return entry;
  }

  /**
   * Opens the live entry: unwraps the keyring it holds. Returns `undefined` (and removes the
   * entry) when it is stale or does not authenticate (edited, or the device key is gone).
   * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE`
   */
  async resume(now: number): Promise<{ keyring: Keyring; meta: EntryMeta } | undefined> {
    const meta = await this.readLive(now);
    if (meta === undefined) return undefined;
    const entry = meta as StoredEntry;
    const deviceKey = await this.#run(() => get<unknown>(DEVICE_KEY, this.#store));
    if (!(deviceKey instanceof CryptoKey)) {
      await this.removeSession();
      return undefined;
    }
    const wrapKey = await this.#deriveWrapKey(deviceKey, entry.salt);
    let plain: Uint8Array | undefined;
    try {
      try {
        plain = gcm(wrapKey, entry.nonce, associatedData(entry)).decrypt(entry.sealed);
      } catch {
        plain = undefined;
      }
      if (plain === undefined || plain.length !== Math.max(MIN_PLAINTEXT, entry.keyIds.length * MEMBER_KEY_LENGTH)) {
        wipe(wrapKey);
        await this.removeSession();
        return undefined;
      }
      const keys: MemberKey[] = [];
      for (let i = 0; i < entry.keyIds.length; i++) {
        const at = i * MEMBER_KEY_LENGTH;
        keys.push(adoptMemberKey(copySecret(plain.subarray(at, at + MEMBER_KEY_LENGTH)), entry.keyIds[i]!));
      }
      this.#adoptWrapKey(wrapKey, entry.salt);
      return { keyring: createKeyring(keys, { primary: entry.primary }), meta: entry };
    } finally {
      wipe(plain);
    }
  }

  /**
   * Writes the keyring, wrapped, with its expiries. Creates the device key on first use, in the
   * same transaction as the entry, so a failure leaves nothing half-written.
   * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE`
   */
  async save(keyring: Keyring, meta: EntryMeta): Promise<void> {
    let deviceKey = await this.#run(() => get<unknown>(DEVICE_KEY, this.#store));
    const fresh = !(deviceKey instanceof CryptoKey);
    if (fresh) {
      deviceKey = await this.#run(() =>
        crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign']),
      );
    }
    const salt = randomBytes(SALT_LENGTH);
    const wrapKey = await this.#deriveWrapKey(deviceKey as CryptoKey, salt);
    const entry = this.#seal(wrapKey, salt, keyring, meta);
    try {
      await this.#run(() =>
        this.#store('readwrite', (store) => {
          // One transaction; a put that throws (DataCloneError) aborts it, so nothing is half-written.
          try {
            if (fresh) store.put(deviceKey, DEVICE_KEY);
            store.put(entry, ENTRY);
          } catch (err) {
            store.transaction.abort();
            throw err;
          }
          return promisifyRequest(store.transaction);
        }),
      );
    } catch (err) {
      wipe(wrapKey);
      throw err;
    }
    this.#adoptWrapKey(wrapKey, salt);
  }

  /**
   * Rewrites the entry with a later idle expiry (the member is active). Best effort: a failure
   * only means the stored entry expires sooner. Read and write are one transaction, so a
   * logoff in another tab (which deletes the entry) is never undone by a late write.
   */
  async touch(keyring: Keyring, meta: EntryMeta): Promise<void> {
    if (this.#wrapKey === undefined || this.#salt === undefined) return;
    const next = this.#seal(this.#wrapKey, this.#salt, keyring, meta);
    try {
      await this.#store('readwrite', (store) => {
        const read = store.get(ENTRY);
        read.onsuccess = () => {
          const current: unknown = read.result;
          // Gone (logged off), another session (a new sign-in), or already later: leave it be.
          if (!isEntry(current) || current.sessionId !== meta.sessionId || current.idleExpiresAt >= meta.idleExpiresAt) return;
          store.put(next, ENTRY);
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
   * time. Best effort: an entry that could not be removed is stale at the next start-up.
   */
  async removeSession(sessionId?: string, idleBefore?: number): Promise<void> {
    try {
      await this.#store('readwrite', (store) => {
        const read = store.get(ENTRY);
        read.onsuccess = () => {
          const current: unknown = read.result;
          if (isEntry(current)) {
            if (sessionId !== undefined && current.sessionId !== sessionId) return; // a newer sign-in: not ours
            if (idleBefore !== undefined && current.idleExpiresAt > idleBefore) return; // another tab is active
          }
          store.delete(ENTRY);
          store.delete(DEVICE_KEY);
        };
        return promisifyRequest(store.transaction);
      });
    } catch {
      // ignored: a stale entry is removed at the next start-up
    }
  }

  /** The stored idle expiry of `sessionId`'s entry (moved by any tab), or `undefined`. Never throws. */
  async idleExpiry(sessionId: string): Promise<number | undefined> {
    try {
      const current = await get<unknown>(ENTRY, this.#store);
      return isEntry(current) && current.sessionId === sessionId ? current.idleExpiresAt : undefined;
    } catch {
      return undefined;
    }
  }

  /** Wipes the wrapping key held for this session. Idempotent. */
  close(): void {
    wipe(this.#wrapKey);
    this.#wrapKey = undefined;
    this.#salt = undefined;
  }

  #adoptWrapKey(wrapKey: Uint8Array, salt: Uint8Array): void {
    wipe(this.#wrapKey);
    this.#wrapKey = wrapKey;
    this.#salt = salt;
  }

  /** wrapKey = HMAC-SHA256(deviceKey, label ‖ salt), copied off-heap; WebCrypto's copy is zeroed. */
  async #deriveWrapKey(deviceKey: CryptoKey, salt: Uint8Array): Promise<Uint8Array> {
    const label = utf8(WRAP_LABEL);
    const input = new Uint8Array(label.length + salt.length);
    input.set(label);
    input.set(salt, label.length);
    const mac = new Uint8Array(await this.#run(() => crypto.subtle.sign('HMAC', deviceKey, input)));
    try {
      return copySecret(mac);
    } finally {
      wipe(mac);
    }
  }

  #seal(wrapKey: Uint8Array, salt: Uint8Array, keyring: Keyring, meta: EntryMeta): StoredEntry {
    const plain = allocSecret(Math.max(MIN_PLAINTEXT, meta.keyIds.length * MEMBER_KEY_LENGTH));
    try {
      meta.keyIds.forEach((id, i) => plain.set(keyMaterial(keyring.get(id), 'raw'), i * MEMBER_KEY_LENGTH));
      const nonce = randomBytes(NONCE_LENGTH);
      const sealed = gcm(wrapKey, nonce, associatedData(meta)).encrypt(plain);
      return { v: ENTRY_VERSION, ...meta, salt, nonce, sealed };
    } finally {
      wipe(plain);
    }
  }
}
