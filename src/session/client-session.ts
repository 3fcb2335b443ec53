// The open session: holds the keyring, runs every wipe trigger, and wipes once (#wipe).
import { TokumeiError } from '../errors.ts';
import type { Keyring } from '../keys/keyring.ts';
import { openRecord, sealRecord, type OpenOptions, type SealedRecord, type SealedRecordOf, type SealOptions } from '../records/record.ts';
import type { RecordInput, RecordOf, Schema } from '../records/schema.ts';
import { listenCrossTab, postCrossTab, type CrossTabListener, type CrossTabMessage, type CrossTabReason } from './cross-tab.ts';
import type { DeviceStore } from './device-store.ts';
import { MAX_TIMER_MS, typeName, type CheckedOptions } from './options.ts';
import type { Session, SessionEventMap, SessionPersistence, SessionState, WipeReason } from './types.ts';

// Input that counts as activity, but does not answer an idle warning.
const PASSIVE_INPUT = /move|wheel|scroll|visibility/;

// Rewrite the stored idle expiry at most this often while the member is active.
const MAX_TOUCH_INTERVAL_MS = 60_000;

function closedError(): TokumeiError {
  return new TokumeiError('ERR_SESSION_CLOSED', 'the session has been wiped: sign in again');
}

function unrefTimer(t: ReturnType<typeof setTimeout>): void {
  // Node: an open session must not keep the process alive on its own.
  (t as { unref?: () => void }).unref?.();
}

type Listener = (event: never) => void;

/** The {@link Session} `openSession` returns (internal). */
export class ClientSession implements Session {
  readonly sessionId: string;
  readonly persistence: SessionPersistence;
  readonly resumed: boolean;
  readonly closed: Promise<WipeReason>;
  #closed!: (reason: WipeReason) => void;
  /**
   * The ids of every primary key this session has sealed with (public; more than one after a
   * rotation): a logoff names them, so the member's other tabs wipe too, rotated or not.
   */
  #primaries: Set<string>;
  #opts: CheckedOptions;
  #keyring: Keyring;
  #expiresAt: number;
  /** The latest expiry a refresh may reach: sign-in plus `maxLifetimeMs`. */
  #maxExpiresAt: number;
  #store: DeviceStore | undefined;
  #state: SessionState = 'open';
  #reason: WipeReason | undefined;
  #listeners: Record<string, Set<Listener>> = { wiped: new Set(), 'idle-warning': new Set(), active: new Set() };
  #lastActivity: number;
  /** An `idle-warning` was fired and no activity has come since. */
  #warned = false;
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
    maxExpiresAt: number,
    store: DeviceStore | undefined,
    persistence: SessionPersistence,
    resumed: boolean,
  ) {
    this.#opts = opts;
    this.#keyring = keyring;
    this.sessionId = sessionId;
    this.#expiresAt = expiresAt;
    this.#maxExpiresAt = maxExpiresAt;
    this.#store = store;
    this.persistence = persistence;
    this.resumed = resumed;
    this.closed = new Promise((resolve) => (this.#closed = resolve));
    this.#primaries = new Set([keyring.primary.keyId]);
    this.#lastActivity = Date.now();
    this.#start();
  }

  get state(): SessionState {
    return this.#state;
  }

  get wipeReason(): WipeReason | undefined {
    return this.#reason;
  }

  get expiresAt(): number {
    return this.#expiresAt;
  }

  get idleDeadline(): number {
    return this.#lastActivity + this.#opts.idleTimeoutMs;
  }

  touch(): void {
    this.#activity();
  }

  async refresh(): Promise<number> {
    await this.#live();
    try {
      // A wipe meanwhile aborts the request with ERR_SESSION_CLOSED (#wipe), or #live says so.
      const renewed = await this.#opts.keyProvider.refreshSession?.(this.sessionId, { signal: this.#abort.signal });
      await this.#live();
      const next = Math.min(renewed?.expiresAt ?? 0, this.#maxExpiresAt);
      // A renewed token is not the member's activity: the idle deadline stays where it is.
      if (next > this.#expiresAt) {
        this.#expiresAt = next;
        this.#schedule();
        this.#save();
      }
    } catch (err) {
      // The key environment has ended the session: wipe, as a status check would.
      if ((err as TokumeiError).code === 'ERR_REVOKED') await this.#wipe('revoked');
      throw err;
    }
    return this.#expiresAt;
  }

  // The keyring is read after the await: a rekey may have replaced it meanwhile.
  async openRecord<S extends Schema>(schema: S, sealed: SealedRecord, options: OpenOptions): Promise<RecordOf<S>> {
    await this.#live();
    this.#activity();
    return openRecord(this.#keyring, schema, sealed, options);
  }

  async sealRecord<S extends Schema>(schema: S, record: RecordInput<S>, options: SealOptions): Promise<SealedRecordOf<S>> {
    await this.#live();
    this.#activity();
    return sealRecord(this.#keyring, schema, record, options);
  }

  async logoff(): Promise<void> {
    if (this.#state === 'open') return this.#wipe('logoff');
    // Already wiped (idle, pagehide, …): still end the session everywhere else.
    await this.#store?.removeSession(this.sessionId);
    this.#post('logoff');
    this.#endAtKeyEnvironment('logoff');
  }

  on<E extends keyof SessionEventMap>(event: E, listener: (event: SessionEventMap[E]) => void): () => void {
    const set = Object.hasOwn(this.#listeners, event) ? this.#listeners[event]! : undefined;
    if (set === undefined) throw new RangeError(`"event" expected 'wiped', 'idle-warning' or 'active', got '${String(event)}'`);
    if (typeof listener !== 'function') throw new TypeError(`"listener" expected function, got ${typeName(listener)}`);
    let l: Listener | undefined = listener as Listener;
    if (this.#state === 'open') set.add(l);
    else if (event === 'wiped') {
      // `wiped` has fired already: tell this late listener too, once.
      const reason = this.#reason!;
      queueMicrotask(() => l?.({ reason } as never));
    }
    return () => {
      if (l !== undefined) set.delete(l);
      l = undefined;
    };
  }

  /** Starts every timer and listener of the session; #wipe removes them all. */
  #start(): void {
    this.#schedule();
    const o = this.#opts;
    if (o.crossTab) {
      this.#crossTab = listenCrossTab(o.namespace, (m) => this.#onCrossTab(m));
    }
    if (typeof addEventListener === 'function') {
      if (o.wipeOnPagehide) this.#listen('pagehide', () => void this.#wipe('pagehide'));
      for (const type of o.activityEvents) {
        // Once an idle warning is shown, a mouse passing by (on its way to "stay signed in"), a
        // wheel or a scroll does not answer it: a click, a tap or a key does.
        this.#listen(type, () => (this.#warned && PASSIVE_INPUT.test(type) ? undefined : this.#activity()));
      }
    }
    const { checkSession } = o.keyProvider;
    if (o.revocationCheckMs !== undefined && typeof checkSession === 'function') {
      this.#revocationTimer = setInterval(() => void this.#checkRevoked(), o.revocationCheckMs);
      unrefTimer(this.#revocationTimer);
    }
  }

  /**
   * A message from another tab: a logoff of this session or of this member (a primary key id in
   * common: the member's other tabs, whatever their session), or a revocation of this session.
   */
  #onCrossTab(m: CrossTabMessage): void {
    if (m.sessionId === this.sessionId || (m.reason === 'logoff' && Array.isArray(m.keyIds) && m.keyIds.some((id) => this.#primaries.has(id)))) {
      void this.#wipe(m.reason === 'logoff' ? 'remote-logoff' : 'revoked');
    }
  }

  #post(reason: CrossTabReason): void {
    postCrossTab(this.#opts.namespace, { reason, sessionId: this.sessionId, keyIds: [...this.#primaries] });
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
      const provider = this.#opts.keyProvider;
      const signal = this.#abort.signal;
      // Reports the key this tab seals with; after a rotation the answer is `rekey`: fetch the
      // keyring again (same session) and seal with the new primary key from now on.
      const status = await provider.checkSession!(this.sessionId, { signal, keyId: this.#keyring.primary.keyId });
      if (status === 'revoked') await this.#wipe('revoked');
      if (status === 'rekey') {
        const keys = await provider.fetchKeys({ signal, resume: this.sessionId });
        // Only this session's keyring, and only while open; the other one is destroyed.
        const keep = this.#state === 'open' && keys.sessionId === this.sessionId;
        (keep ? this.#keyring : keys.keyring).destroy();
        if (keep) {
          this.#keyring = keys.keyring;
          this.#primaries.add(keys.keyring.primary.keyId);
        }
      }
    } catch {
      // The key environment could not be reached: try again at the next check. Idle and
      // absolute expiry still bound the session.
    } finally {
      this.#checking = false;
    }
  }

  /** When the idle warning is due: never when given already, off, or the absolute expiry comes first. */
  #warnAt(): number {
    const { idleWarningMs } = this.#opts;
    const deadline = this.idleDeadline;
    return this.#warned || idleWarningMs === 0 || deadline >= this.#expiresAt ? Infinity : deadline - idleWarningMs;
  }

  /** Arms one timer for the nearest of the idle warning, the idle and the absolute deadlines. */
  #schedule(): void {
    clearTimeout(this.#deadlineTimer);
    const next = Math.min(this.#expiresAt, this.idleDeadline, this.#warnAt());
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now()));
    this.#deadlineTimer = setTimeout(() => void this.#onDeadline(), delay);
    unrefTimer(this.#deadlineTimer);
  }

  async #onDeadline(): Promise<void> {
    if (this.#state === 'closed') return;
    const reason = await this.#expiry();
    if (reason !== undefined) return this.#wipe(reason);
    if (this.state === 'closed') return; // wiped during the await
    if (Date.now() >= this.#warnAt()) {
      this.#warned = true;
      this.#emit('idle-warning', { idleDeadline: this.idleDeadline });
    }
    this.#schedule();
  }

  /**
   * Whether a deadline has passed. In IndexedDB mode another tab may have kept the session
   * active: its stored idle expiry counts too. (That field is read without authentication;
   * only same-origin script can write it, and such script could use the keys directly.)
   */
  async #expiry(): Promise<WipeReason | undefined> {
    const now = Date.now();
    if (now >= this.#expiresAt) return 'expired';
    if (now < Math.min(this.idleDeadline, this.#warnAt())) return undefined;
    const shared = await this.#store?.idleExpiry(this.sessionId);
    if (shared !== undefined && shared > this.idleDeadline) this.#activity(shared - this.#opts.idleTimeoutMs);
    return Date.now() < this.idleDeadline ? undefined : 'idle';
  }

  /** Checks the deadlines (timers may run late in background tabs); throws once wiped. */
  async #live(): Promise<void> {
    if (this.#state === 'closed') throw closedError();
    const reason = await this.#expiry();
    if (reason !== undefined) await this.#wipe(reason);
    // `state`, not `#state`: a wipe may have happened during the await above.
    if (this.state === 'closed') throw closedError();
  }

  /** Activity now, or (`at`) another tab's activity then, read from the stored entry. */
  #activity(at?: number): void {
    if (this.#state === 'closed') return;
    const now = Date.now();
    this.#lastActivity = at ?? now;
    if (this.#warned) {
      this.#warned = false;
      this.#emit('active', { idleDeadline: this.idleDeadline });
    }
    if (at === undefined && now - this.#lastTouch >= Math.min(MAX_TOUCH_INTERVAL_MS, this.#opts.idleTimeoutMs / 4)) this.#save();
  }

  /** Writes the expiries through to the stored entry (IndexedDB mode), so other tabs and a reload see them. */
  #save(): void {
    this.#lastTouch = Date.now();
    void this.#store?.touch({ sessionId: this.sessionId, expiresAt: this.#expiresAt, idleExpiresAt: Math.min(this.#expiresAt, this.idleDeadline), maxExpiresAt: this.#maxExpiresAt });
  }

  /**
   * Ends the session at the key environment. Called synchronously — from `pagehide` the page
   * may be gone after this task — and never awaited: the wipe does not wait for the network.
   */
  #endAtKeyEnvironment(reason: WipeReason): void {
    try {
      void this.#opts.keyProvider.notifyLogoff?.(this.sessionId, { reason })?.catch(() => undefined);
    } catch {
      // best effort
    }
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
    this.#abort.abort(closedError()); // requests in flight (a refresh) reject with it
    this.#crossTab?.close();
    this.#crossTab = undefined;
    for (const remove of this.#domListeners) remove();
    this.#domListeners = [];

    // Every wipe ends the key-environment session, so nothing left on the device can resume it —
    // except pagehide in IndexedDB mode, whose point is that a reload resumes. An idle tab in
    // IndexedDB mode ends it only if no other tab kept it active (#afterWipe).
    if (this.#store === undefined || (reason !== 'pagehide' && reason !== 'idle')) this.#endAtKeyEnvironment(reason);
    this.#storageDone = this.#afterWipe(reason);
    this.#closed(reason);

    this.#emit('wiped', { reason });
    for (const set of Object.values(this.#listeners)) set.clear();
    return this.#storageDone;
  }

  #emit<E extends keyof SessionEventMap>(event: E, payload: SessionEventMap[E]): void {
    for (const l of [...this.#listeners[event]!]) {
      try {
        l(payload as never);
      } catch (err) {
        // Like EventTarget: one listener's error neither stops the others nor the wipe.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  async #afterWipe(reason: WipeReason): Promise<void> {
    const store = this.#store;
    // pagehide keeps the entry: a reload (or a page restored from the back/forward cache) resumes
    // from it. An idle tab removes it only if no other tab kept the session active.
    if (store !== undefined && reason !== 'pagehide') {
      const removed = await store.removeSession(this.sessionId, reason === 'idle' ? Date.now() : undefined);
      if (reason === 'idle' && removed) this.#endAtKeyEnvironment(reason);
    }
    if (reason === 'logoff' || reason === 'revoked') this.#post(reason);
  }
}
