// A framework-neutral store around one session: `subscribe` / `getSnapshot` (the shape React's
// useSyncExternalStore, Vue's shallowRef + watch and Svelte's readable all take), plus `open`,
// `logoff` and `touch`. It opens at most one session at a time, whatever calls `open` (a
// component mounted twice, a re-render with new callbacks), and never logs off by itself.
import { TokumeiError } from '../errors.ts';
import type { SessionOptions } from './options.ts';
import { openSession } from './session.ts';
import type { IdleEvent, Session, WipeReason } from './types.ts';

/**
 * Where a {@link SessionStore} stands: `'signed-out'` before the first `open()`; `'opening'`
 * while the keys are being fetched; `'open'`; `'closed'` after a wipe (`wipeReason` says why);
 * `'failed'` when the last `open()` failed (`error` says why).
 */
export type SessionStoreStatus = 'signed-out' | 'opening' | 'open' | 'closed' | 'failed';

/** What {@link SessionStore.getSnapshot} returns: immutable, a new object on every change. */
export interface SessionSnapshot {
  /** See {@link SessionStoreStatus}. */
  readonly status: SessionStoreStatus;
  /** The session while it is open; `undefined` otherwise. */
  readonly session: Session | undefined;
  /** Why the last session was wiped, once it has been (`status === 'closed'`). */
  readonly wipeReason: WipeReason | undefined;
  /** Why the last `open()` failed (`status === 'failed'`): usually a `TokumeiError`. */
  readonly error: unknown;
  /** While an idle warning stands (after `idle-warning`, until activity or the wipe): when the idle wipe is due. */
  readonly idleWarning: IdleEvent | undefined;
}

/** One session for an app (or one provider), observable by any framework. Make one with {@link createSessionStore}. */
export interface SessionStore {
  /**
   * Calls `listener` after every change of the snapshot.
   * @returns a function that removes the listener
   */
  subscribe(listener: () => void): () => void;
  /** The current snapshot: the same object until something changes. */
  getSnapshot(): SessionSnapshot;
  /**
   * Opens the session — or returns the one already open, or the opening already under way, so
   * that however many callers ask, one sign-in delivers one keyring. After a wipe or a failure
   * it opens a new session.
   * @returns the open session
   * @throws whatever {@link openSession} throws (also recorded in the snapshot, `status: 'failed'`);
   *   TokumeiError `ERR_SESSION_CLOSED` when `logoff()` was called before the opening finished
   */
  open(): Promise<Session>;
  /**
   * Logs the session off (see `Session.logoff`): also an opening under way (as soon as it
   * finishes), and a session already wiped (so other tabs and the key environment are told).
   * Does nothing before the first `open()`.
   */
  logoff(): Promise<void>;
  /** `Session.touch()` on the open session: counts as activity. Does nothing without one. */
  touch(): void;
}

const INITIAL: SessionSnapshot = /* @__PURE__ */ Object.freeze({ status: 'signed-out', session: undefined, wipeReason: undefined, error: undefined, idleWarning: undefined });

/**
 * Creates a store that opens and follows one session. Nothing happens until `open()` is called:
 * no timer, no listener, no key fetch. `options` may be a function, called at each `open()`, so
 * a component can pass callbacks made at render time (an inline `getToken`) without causing a
 * new sign-in: the store reads them when it opens, and not otherwise.
 *
 * The store never logs off by itself (not when a component unmounts): the session ends at
 * `logoff()` or at one of its own wipe triggers (idle, pagehide, expiry, another tab's logoff,
 * revocation). Decrypted records are not kept here: hold them in component state and drop them
 * when `status` leaves `'open'`.
 *
 * @param options - the options of {@link openSession}, or a function returning them
 * @returns the store
 * @throws TypeError when `options` is neither an object nor a function
 * @example
 * ```ts
 * import { createSessionStore, httpKeyProvider } from 'tokumei';
 * const store = createSessionStore(() => ({
 *   keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: () => sso.accessToken() }),
 *   persistence: 'indexeddb',
 * }));
 * store.subscribe(() => render(store.getSnapshot()));
 * await store.open();
 * ```
 */
export function createSessionStore(options: SessionOptions | (() => SessionOptions | Promise<SessionOptions>)): SessionStore {
  if (typeof options !== 'function' && (typeof options !== 'object' || options === null)) {
    throw new TypeError(`"options" expected SessionOptions or a function returning them, got ${options === null ? 'null' : typeof options}`);
  }
  const listeners = new Set<() => void>();
  let snapshot = INITIAL;
  /** The opening under way, and the generation it belongs to. */
  let opening: { gen: number; promise: Promise<Session> } | undefined;
  /** The session of the last successful open (kept after its wipe, for a late `logoff()`). */
  let current: Session | undefined;
  /** Bumped by `logoff()`: an opening that started before it must not end up open. */
  let generation = 0;

  function set(next: Partial<SessionSnapshot>): void {
    snapshot = Object.freeze({ ...snapshot, ...next });
    for (const l of [...listeners]) l();
  }

  function follow(session: Session): void {
    const mine = () => current === session;
    session.on('idle-warning', (e) => mine() && set({ idleWarning: e }));
    session.on('active', () => mine() && set({ idleWarning: undefined }));
    // Told at once if the session was wiped before this line (a late listener).
    session.on('wiped', ({ reason }) => mine() && set({ status: 'closed', session: undefined, wipeReason: reason, idleWarning: undefined }));
  }

  async function start(gen: number): Promise<Session> {
    let session: Session | undefined;
    let error: unknown;
    try {
      session = await openSession(typeof options === 'function' ? await options() : options);
    } catch (err) {
      error = err;
    }
    // Still the latest opening? (Not when logoff() came, and then another open(), meanwhile.)
    const latest = opening?.gen === gen;
    if (latest) opening = undefined;
    if (session === undefined) {
      if (gen === generation) set({ status: 'failed', error });
      else if (latest) set({ status: 'signed-out' });
      throw error;
    }
    if (gen !== generation) {
      // logoff() was called while this was opening: end it at once, and say so.
      await session.logoff();
      if (opening === undefined && snapshot.session === undefined) set({ status: 'closed', wipeReason: 'logoff' });
      throw new TokumeiError('ERR_SESSION_CLOSED', 'logged off while the session was opening');
    }
    current = session;
    set({ status: 'open', session, wipeReason: undefined, error: undefined, idleWarning: undefined });
    follow(session);
    return session;
  }

  return {
    subscribe(listener) {
      if (typeof listener !== 'function') throw new TypeError(`"listener" expected function, got ${typeof listener}`);
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    getSnapshot: () => snapshot,
    open() {
      if (snapshot.session !== undefined) return Promise.resolve(snapshot.session);
      if (opening?.gen !== generation) {
        // Nothing under way, or only an opening that a logoff() has doomed: start afresh.
        set({ status: 'opening', error: undefined });
        opening = { gen: generation, promise: start(generation) };
      }
      return opening.promise;
    },
    async logoff() {
      generation++;
      // An opening under way logs its session off once it arrives (start()); wait for that.
      await opening?.promise.catch(() => undefined);
      await current?.logoff(); // also after a wipe: tells other tabs and the key environment
    },
    touch() {
      snapshot.session?.touch();
    },
  };
}
