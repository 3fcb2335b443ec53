// A client-held key session (DESIGN §1, G4–G6, §4): the member's keyring lives in this tab only
// while they are signed in, and every wipe trigger ends in the same wipe (#wipe).
import { TokumeiError } from '../errors.ts';
import { ainteger, astring } from '../internal/bytes.ts';
import { Keyring } from '../keys/keyring.ts';
import { openRecord, sealRecord, type PlainRecord, type RecordOptions, type SealedRecord } from '../records/record.ts';
import type { Schema } from '../records/schema.ts';
import { listenCrossTab, postCrossTab, type CrossTabListener } from './cross-tab.ts';
import { DeviceStore, type EntryMeta } from './device-store.ts';
import type { KeyProvider, SessionKeys } from './key-provider.ts';

/** Why a session was wiped. */
export type WipeReason = 'logoff' | 'idle' | 'expired' | 'pagehide' | 'remote-logoff' | 'revoked';

/** `open` while the keyring is held; `closed` once it has been wiped (for good). */
export type SessionState = 'open' | 'closed';

/** Where a session keeps its keyring between page loads. */
export type SessionPersistence = 'memory' | 'indexeddb';

/** The payload of the `wiped` event. */
export interface WipedEvent {
  /** Which trigger wiped the session. */
  reason: WipeReason;
}

/** Events a session emits. */
export interface SessionEventMap {
  /** The keyring was wiped; fired once. */
  wiped: WipedEvent;
}

/** Options of {@link openSession}. */
export interface SessionOptions {
  /** Where the keyring comes from at sign-in (`httpKeyProvider`, or `memoryKeyProvider` in tests). */
  keyProvider: KeyProvider;
  /**
   * `'memory'` (default): the keyring lives in this tab only; a reload signs in again.
   * `'indexeddb'`: the session (its id and expiries — never a key) is stored, so a reload or a
   * second tab resumes it without a new sign-in: the key provider re-delivers that session's
   * keyring, which the key environment refuses once the session ended (docs/sessions.md).
   */
  persistence?: SessionPersistence;
  /** With `'indexeddb'`: use `'memory'` instead when IndexedDB fails, rather than rejecting. */
  fallback?: 'memory';
  /** Wipe after this long without activity (default 15 minutes). */
  idleTimeoutMs?: number;
  /** Wipe this long after sign-in at the latest (default 8 hours; the key environment may set less). */
  maxLifetimeMs?: number;
  /** Wipe when another tab of the origin logs off (default `true`). */
  crossTab?: boolean;
  /** Wipe on `pagehide`: tab close, navigation, entering the back/forward cache (default `true`). */
  wipeOnPagehide?: boolean;
  /** User-input events (on `window`) that count as activity, e.g. `['pointerdown', 'keydown']`. Default none. */
  activityEvents?: readonly string[];
  /** Ask the key provider every this many ms whether the session was revoked. Default: never. */
  revocationCheckMs?: number;
  /** Aborts the key fetch at sign-in. */
  signal?: AbortSignal;
}

/**
 * A signed-in member's session. Holds their keyring (own key, dependants' keys, older versions)
 * until a wipe: `logoff()`, `pagehide`, idle timeout, absolute lifetime, logoff in another tab,
 * or revocation. After a wipe every call rejects with `TokumeiError` `ERR_SESSION_CLOSED`.
 * Open one with {@link openSession}; see docs/sessions.md.
 *
 * @example
 * ```ts
 * import { openSession, type Session } from 'tokumei';
 * const session: Session = await openSession({ keyProvider });
 * const off = session.on('wiped', ({ reason }) => showSignedOut(reason));
 * const me = await session.openRecord(memberSchema, sealed, { recordId: 'M000001' });
 * if (session.state === 'open') await session.logoff();
 * off();
 * ```
 */
export interface Session {
  /** `'open'` or `'closed'`. */
  readonly state: SessionState;
  /** Why the session was wiped, once it has been. */
  readonly wipeReason: WipeReason | undefined;
  /** The key environment's id of this session (public). */
  readonly sessionId: string;
  /** Absolute expiry, ms since the epoch. */
  readonly expiresAt: number;
  /** Where the keyring is kept: `'memory'` also when `'indexeddb'` fell back. */
  readonly persistence: SessionPersistence;
  /** Whether this session resumed a session stored in IndexedDB (same session id) rather than starting a new one. */
  readonly resumed: boolean;
  /**
   * Opens a sealed record with the session's keyring (each value's key id picks the key).
   * Counts as activity.
   * @throws TokumeiError `ERR_SESSION_CLOSED`, and everything `openRecord` throws
   */
  openRecord(schema: Schema, sealed: SealedRecord, options: RecordOptions): Promise<PlainRecord>;
  /**
   * Seals a record (a member's own edit) with the keyring's primary key. Counts as activity.
   * @throws TokumeiError `ERR_SESSION_CLOSED`, and everything `sealRecord` throws
   */
  sealRecord(schema: Schema, record: PlainRecord, options: RecordOptions): Promise<SealedRecord>;
  /**
   * Wipes the keyring, removes the stored entry, tells the other tabs and (best effort, not
   * awaited) the key environment. Also does the storage and cross-tab part when the session
   * was already wiped (a member pressing "log off" after an idle wipe), and then resolves.
   */
  logoff(): Promise<void>;
  /** Listens for `wiped` (fired once). @returns a function that removes the listener */
  on<E extends keyof SessionEventMap>(event: E, listener: (event: SessionEventMap[E]) => void): () => void;
}

const DEFAULT_IDLE_MS = 15 * 60_000;
const DEFAULT_LIFETIME_MS = 8 * 60 * 60_000;
const MAX_MS = Number.MAX_SAFE_INTEGER;
const MAX_TIMER_MS = 0x7fffffff; // setTimeout's limit; longer waits are re-armed
// Rewrite the stored idle expiry at most this often while the member is active.
const MAX_TOUCH_INTERVAL_MS = 60_000;

function closedError(): TokumeiError {
  return new TokumeiError('ERR_SESSION_CLOSED', 'the session has been wiped: sign in again');
}

interface CheckedOptions {
  keyProvider: KeyProvider;
  persistence: SessionPersistence;
  fallback: boolean;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  crossTab: boolean;
  wipeOnPagehide: boolean;
  activityEvents: readonly string[];
  revocationCheckMs: number | undefined;
  signal: AbortSignal | undefined;
}

function typeName(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

function checkOptions(o: SessionOptions): CheckedOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError(`"options" expected object, got ${typeName(o)}`);
  const { keyProvider, persistence = 'memory', fallback, idleTimeoutMs = DEFAULT_IDLE_MS, maxLifetimeMs = DEFAULT_LIFETIME_MS } = o;
  const { revocationCheckMs, activityEvents = [], crossTab = true, wipeOnPagehide = true } = o;
  if (typeof keyProvider?.fetchKeys !== 'function') throw new TypeError(`"keyProvider" expected KeyProvider, got ${typeName(keyProvider)}`);
  if (persistence !== 'memory' && persistence !== 'indexeddb') throw new RangeError(`"persistence" expected 'memory' or 'indexeddb', got '${String(persistence)}'`);
  if (fallback !== undefined && fallback !== 'memory') throw new RangeError(`"fallback" expected 'memory', got '${String(fallback)}'`);
  ainteger('idleTimeoutMs', idleTimeoutMs, 1, MAX_MS);
  ainteger('maxLifetimeMs', maxLifetimeMs, 1, MAX_MS);
  if (revocationCheckMs !== undefined) ainteger('revocationCheckMs', revocationCheckMs, 1, MAX_TIMER_MS);
  if (!Array.isArray(activityEvents)) throw new TypeError(`"activityEvents" expected string[], got ${typeName(activityEvents)}`);
  for (const e of activityEvents) astring('activityEvents[]', e, true);
  for (const [name, v] of [['crossTab', crossTab], ['wipeOnPagehide', wipeOnPagehide]] as const) {
    if (typeof v !== 'boolean') throw new TypeError(`"${name}" expected boolean, got ${typeName(v)}`);
  }
  return {
    keyProvider,
    persistence,
    fallback: fallback === 'memory',
    idleTimeoutMs,
    maxLifetimeMs,
    crossTab,
    wipeOnPagehide,
    activityEvents: [...activityEvents],
    revocationCheckMs,
    signal: o.signal,
  };
}

function isStorageError(err: unknown): boolean {
  return err instanceof TokumeiError && err.code === 'ERR_STORAGE_UNAVAILABLE';
}

function checkDelivered(keys: SessionKeys): void {
  if (typeof keys !== 'object' || keys === null || !(keys.keyring instanceof Keyring)) {
    throw new TypeError('"fetchKeys()" expected { keyring, sessionId, expiresAt }');
  }
  try {
    astring('sessionId', keys.sessionId, true);
    ainteger('expiresAt', keys.expiresAt, 0, MAX_MS);
  } catch (err) {
    keys.keyring.destroy(); // ours now: never leave a delivered key behind
    throw err;
  }
}

function unrefTimer(t: ReturnType<typeof setTimeout>): void {
  // Node: an open session must not keep the process alive on its own.
  (t as { unref?: () => void }).unref?.();
}

/**
 * Opens a session: fetches the member's keyring from the key provider — with
 * `persistence: 'indexeddb'` and a live stored session, by asking it to re-deliver that
 * session's keyring (`fetchKeys({ resume })`); when the key environment refuses (`ERR_REVOKED`:
 * logged off, revoked or expired there) a new session is started instead. In IndexedDB mode a
 * stale entry (past its idle or absolute expiry, or not authenticating) is removed before
 * anything else happens.
 *
 * The session's timers and listeners are created here and removed at its wipe; nothing runs at
 * import.
 *
 * @param options - see {@link SessionOptions}
 * @returns the open session
 * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE` (IndexedDB failed and no `fallback: 'memory'`;
 *   nothing is left half-written), `ERR_KEY_UNAVAILABLE` (the key provider delivered a session
 *   that has already expired), and whatever the key provider throws (`ERR_AUTH`, `ERR_TIMEOUT`,
 *   `ERR_REVOKED`, …); TypeError / RangeError for malformed options
 * @example
 * ```ts
 * import { httpKeyProvider, openSession } from 'tokumei';
 * const session = await openSession({
 *   keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: () => sso.accessToken() }),
 *   persistence: 'indexeddb',
 *   fallback: 'memory',
 *   idleTimeoutMs: 15 * 60_000,
 *   activityEvents: ['pointerdown', 'keydown'],
 * });
 * session.on('wiped', ({ reason }) => showSignedOut(reason));
 * const me = await session.openRecord(memberSchema, sealed, { recordId: sealed.id });
 * await session.logoff();
 * ```
 */
export async function openSession(options: SessionOptions): Promise<Session> {
  const opts = checkOptions(options);
  const signal = opts.signal === undefined ? {} : { signal: opts.signal };
  let store: DeviceStore | undefined;
  let persistence = opts.persistence;
  let stored: EntryMeta | undefined;
  if (persistence === 'indexeddb') {
    try {
      store = DeviceStore.open();
      // A stale entry is removed here, before the key provider is asked anything.
      stored = await store.readLive(Date.now());
    } catch (err) {
      store = undefined;
      if (!isStorageError(err) || !opts.fallback) throw err;
      persistence = 'memory';
    }
  }

  let delivered: SessionKeys | undefined;
  let resumed = false;
  if (stored !== undefined) {
    // Resume: the key environment delivers the same session's keyring again, to a fresh
    // ephemeral key. Nothing on the device can unlock it by itself (device-store.ts).
    try {
      delivered = await opts.keyProvider.fetchKeys({ ...signal, resume: stored.sessionId });
      // A provider that cannot resume may have started a new session instead.
      resumed = delivered?.sessionId === stored.sessionId;
    } catch (err) {
      if (!(err instanceof TokumeiError && err.code === 'ERR_REVOKED')) throw err;
      // Logged off elsewhere, revoked or expired at the key environment: sign in afresh.
      await store?.removeSession(stored.sessionId);
    }
  }
  delivered ??= await opts.keyProvider.fetchKeys(signal);
  checkDelivered(delivered);
  const { keyring, sessionId } = delivered;
  const now = Date.now();
  const expiresAt = Math.min(delivered.expiresAt, resumed ? stored!.expiresAt : now + opts.maxLifetimeMs);
  if (expiresAt <= now) {
    keyring.destroy();
    throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'the delivered session has expired');
  }
  if (store !== undefined) {
    const meta: EntryMeta = { sessionId, expiresAt, idleExpiresAt: Math.min(expiresAt, now + opts.idleTimeoutMs) };
    try {
      await store.save(meta);
    } catch (err) {
      store = undefined;
      if (!opts.fallback) {
        keyring.destroy();
        throw err;
      }
      persistence = 'memory';
    }
  }
  return new ClientSession(opts, keyring, sessionId, expiresAt, store, persistence, resumed);
}

type Listener = (event: WipedEvent) => void;

class ClientSession implements Session {
  readonly sessionId: string;
  readonly expiresAt: number;
  readonly persistence: SessionPersistence;
  readonly resumed: boolean;
  #opts: CheckedOptions;
  #keyring: Keyring;
  #store: DeviceStore | undefined;
  #state: SessionState = 'open';
  #reason: WipeReason | undefined;
  #listeners = new Set<Listener>();
  #lastActivity: number;
  #lastTouch = 0;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #revocationTimer: ReturnType<typeof setInterval> | undefined;
  #checking = false;
  #abort = new AbortController();
  #crossTab: CrossTabListener | undefined;
  #domListeners: (() => void)[] = [];
  #storageDone: Promise<void> = Promise.resolve();

  constructor(
    opts: CheckedOptions,
    keyring: Keyring,
    sessionId: string,
    expiresAt: number,
    store: DeviceStore | undefined,
    persistence: SessionPersistence,
    resumed: boolean,
  ) {
    this.#opts = opts;
    this.#keyring = keyring;
    this.sessionId = sessionId;
    this.expiresAt = expiresAt;
    this.#store = store;
    this.persistence = persistence;
    this.resumed = resumed;
    this.#lastActivity = Date.now();
    this.#start();
  }

  get state(): SessionState {
    return this.#state;
  }

  get wipeReason(): WipeReason | undefined {
    return this.#reason;
  }

  async openRecord(schema: Schema, sealed: SealedRecord, options: RecordOptions): Promise<PlainRecord> {
    const ring = await this.#live();
    this.#activity();
    return openRecord(ring, schema, sealed, options);
  }

  async sealRecord(schema: Schema, record: PlainRecord, options: RecordOptions): Promise<SealedRecord> {
    const ring = await this.#live();
    this.#activity();
    return sealRecord(ring, schema, record, options);
  }

  async logoff(): Promise<void> {
    if (this.#state === 'open') return this.#wipe('logoff');
    // Already wiped (idle, pagehide, …): still end the session everywhere else.
    await this.#store?.removeSession(this.sessionId);
    postCrossTab('logoff');
    this.#notifyLogoff();
  }

  on<E extends keyof SessionEventMap>(event: E, listener: (event: SessionEventMap[E]) => void): () => void {
    if (event !== 'wiped') throw new RangeError(`"event" expected 'wiped', got '${String(event)}'`);
    if (typeof listener !== 'function') throw new TypeError(`"listener" expected function, got ${typeName(listener)}`);
    if (this.#state === 'closed') return () => undefined; // `wiped` has fired already; see `state`
    const l = listener as Listener;
    this.#listeners.add(l);
    return () => {
      this.#listeners.delete(l);
    };
  }

  /** Starts every timer and listener of the session; #wipe removes them all. */
  #start(): void {
    this.#schedule();
    const o = this.#opts;
    if (o.crossTab) {
      this.#crossTab = listenCrossTab((reason) => void this.#wipe(reason === 'logoff' ? 'remote-logoff' : 'revoked'));
    }
    if (typeof addEventListener === 'function') {
      if (o.wipeOnPagehide) this.#listen('pagehide', () => void this.#wipe('pagehide'));
      for (const type of o.activityEvents) this.#listen(type, () => this.#activity());
    }
    const { checkSession } = o.keyProvider;
    if (o.revocationCheckMs !== undefined && typeof checkSession === 'function') {
      this.#revocationTimer = setInterval(() => void this.#checkRevoked(), o.revocationCheckMs);
      unrefTimer(this.#revocationTimer);
    }
  }

  #listen(type: string, handler: () => void): void {
    const listener: EventListener = () => handler();
    // Keep the remover found now: #wipe must undo exactly what was done here.
    const remove = globalThis.removeEventListener;
    addEventListener(type, listener, { capture: true, passive: true });
    this.#domListeners.push(() => remove.call(globalThis, type, listener, { capture: true }));
  }

  async #checkRevoked(): Promise<void> {
    if (this.#checking || this.#state === 'closed') return;
    this.#checking = true;
    try {
      const status = await this.#opts.keyProvider.checkSession!(this.sessionId, { signal: this.#abort.signal });
      if (status === 'revoked') await this.#wipe('revoked');
    } catch {
      // The key environment could not be reached: try again at the next check. Idle and
      // absolute expiry still bound the session.
    } finally {
      this.#checking = false;
    }
  }

  #idleDeadline(): number {
    return this.#lastActivity + this.#opts.idleTimeoutMs;
  }

  /** Arms one timer for the nearer of the idle and absolute deadlines. */
  #schedule(): void {
    clearTimeout(this.#deadlineTimer);
    const next = Math.min(this.expiresAt, this.#idleDeadline());
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now()));
    this.#deadlineTimer = setTimeout(() => void this.#onDeadline(), delay);
    unrefTimer(this.#deadlineTimer);
  }

  async #onDeadline(): Promise<void> {
    if (this.#state === 'closed') return;
    const reason = await this.#expiry();
    if (reason !== undefined) await this.#wipe(reason);
    else if (this.state === 'open') this.#schedule(); // not wiped during the await
  }

  /**
   * Whether a deadline has passed. In IndexedDB mode another tab may have kept the session
   * active: its stored idle expiry counts too. (That field is read without authentication;
   * only same-origin script can write it, and such script could use the keys directly.)
   */
  async #expiry(): Promise<WipeReason | undefined> {
    const now = Date.now();
    if (now >= this.expiresAt) return 'expired';
    if (now < this.#idleDeadline()) return undefined;
    const shared = await this.#store?.idleExpiry(this.sessionId);
    if (shared !== undefined && shared > Date.now()) {
      this.#lastActivity = Math.max(this.#lastActivity, shared - this.#opts.idleTimeoutMs);
      return undefined;
    }
    return 'idle';
  }

  /** The keyring, after checking the deadlines (timers may run late in background tabs). */
  async #live(): Promise<Keyring> {
    if (this.#state === 'closed') throw closedError();
    const reason = await this.#expiry();
    if (reason !== undefined) await this.#wipe(reason);
    // `state`, not `#state`: a wipe may have happened during the await above.
    if (this.state === 'closed') throw closedError();
    return this.#keyring;
  }

  #activity(): void {
    if (this.#state === 'closed') return;
    const now = Date.now();
    this.#lastActivity = now;
    const store = this.#store;
    if (store === undefined || now - this.#lastTouch < Math.min(MAX_TOUCH_INTERVAL_MS, this.#opts.idleTimeoutMs / 4)) return;
    this.#lastTouch = now;
    void store.touch({ sessionId: this.sessionId, expiresAt: this.expiresAt, idleExpiresAt: Math.min(this.expiresAt, now + this.#opts.idleTimeoutMs) });
  }

  #notifyLogoff(): void {
    const notify = this.#opts.keyProvider.notifyLogoff;
    if (typeof notify !== 'function') return;
    // Best effort and never awaited: the wipe does not wait for the network.
    Promise.resolve()
      .then(() => notify.call(this.#opts.keyProvider, this.sessionId))
      .catch(() => undefined);
  }

  /**
   * The one wipe every trigger ends in: destroy the keyring (zeroing every key and subkey),
   * wipe the IndexedDB wrapping key, remove every timer and listener, fire `wiped` once; then
   * remove or keep the stored entry according to the reason, and tell other tabs.
   */
  #wipe(reason: WipeReason): Promise<void> {
    if (this.#state === 'closed') return this.#storageDone;
    this.#state = 'closed';
    this.#reason = reason;
    this.#keyring.destroy();
    clearTimeout(this.#deadlineTimer);
    clearInterval(this.#revocationTimer);
    this.#abort.abort();
    this.#crossTab?.close();
    this.#crossTab = undefined;
    for (const remove of this.#domListeners) remove();
    this.#domListeners = [];

    this.#storageDone = this.#afterWipe(reason);
    if (reason === 'logoff') this.#notifyLogoff();

    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const l of listeners) {
      try {
        l({ reason });
      } catch (err) {
        // Like EventTarget: one listener's error neither stops the others nor the wipe.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    return this.#storageDone;
  }

  async #afterWipe(reason: WipeReason): Promise<void> {
    const store = this.#store;
    // pagehide keeps the entry: a reload (or a page restored from the back/forward cache) resumes
    // from it. An idle tab removes it only if no other tab kept the session active.
    if (store !== undefined && reason !== 'pagehide') {
      await store.removeSession(this.sessionId, reason === 'idle' ? Date.now() : undefined);
    }
    if (reason === 'logoff' || reason === 'revoked') postCrossTab(reason);
  }
}
