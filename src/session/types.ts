// The public types of a client session: its state, wipe reasons, events and interface.
import type { OpenOptions, SealedRecord, SealedRecordOf, SealOptions } from '../records/record.ts';
import type { RecordInput, RecordOf, Schema } from '../records/schema.ts';

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

/** The payload of the `idle-warning` and `active` events. */
export interface IdleEvent {
  /** When the session will be wiped for inactivity, in ms since the epoch (unless there is activity before). */
  idleDeadline: number;
}

/** Events a session emits. */
export interface SessionEventMap {
  /** The keyring was wiped; fired once. */
  wiped: WipedEvent;
  /**
   * `idleWarningMs` before an idle wipe: time to ask "still there?" (and call `touch()`), or to
   * save form input. Fired once per quiet spell, and only when the idle deadline comes before
   * the absolute expiry.
   */
  'idle-warning': IdleEvent;
  /** Activity after an `idle-warning`: the warning is over, the deadline has moved. */
  active: IdleEvent;
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
  /** Absolute expiry, ms since the epoch; moved later by {@link Session.refresh}. */
  readonly expiresAt: number;
  /** Where the keyring is kept: `'memory'` also when `'indexeddb'` fell back. */
  readonly persistence: SessionPersistence;
  /** Whether this session resumed a session stored in IndexedDB (same session id) rather than starting a new one. */
  readonly resumed: boolean;
  /** Resolves with the reason once the session has been wiped (already resolved after a wipe); never rejects. */
  readonly closed: Promise<WipeReason>;
  /**
   * When the session will be wiped for inactivity (ms since the epoch), as this tab knows it; in
   * IndexedDB mode another tab's activity can move it later. `expiresAt` may come first.
   */
  readonly idleDeadline: number;
  /** Counts as activity now: moves the idle deadline (never `expiresAt`). Does nothing after a wipe. */
  touch(): void;
  /**
   * Opens a sealed record with the session's keyring (each value's key id picks the key).
   * Counts as activity.
   * @throws TokumeiError `ERR_SESSION_CLOSED`, and everything `openRecord` throws
   */
  openRecord<S extends Schema>(schema: S, sealed: SealedRecord, options: OpenOptions): Promise<RecordOf<S>>;
  /**
   * Seals a record (a member's own edit) with the keyring's primary key. Counts as activity.
   * @throws TokumeiError `ERR_SESSION_CLOSED`, and everything `sealRecord` throws
   */
  sealRecord<S extends Schema>(schema: S, record: RecordInput<S>, options: SealOptions): Promise<SealedRecordOf<S>>;
  /**
   * Wipes the keyring, removes the stored entry, tells the other tabs and (best effort, not
   * awaited) the key environment. Also does the storage and cross-tab part when the session
   * was already wiped (a member pressing "log off" after an idle wipe), and then resolves.
   */
  logoff(): Promise<void>;
  /**
   * Extends the session with the app's renewed access token — call it whenever your OIDC client
   * has renewed the token (the key provider's `getToken` returns the new one). No new key
   * delivery, no sign-out: the key environment binds the new token to this session and moves
   * its expiry to the token's, never past `maxLifetimeMs` from sign-in (nor the key
   * environment's own session lifetime). With a key provider that cannot refresh, nothing
   * changes.
   * @returns the session's absolute expiry afterwards
   * @throws TokumeiError `ERR_SESSION_CLOSED`; `ERR_AUTH`, `ERR_KEY_UNAVAILABLE`, `ERR_TIMEOUT`
   *   from the key provider (the session stays open); `ERR_REVOKED` when the key environment has
   *   ended the session (the session is wiped with reason `revoked`)
   */
  refresh(): Promise<number>;
  /**
   * Listens for `wiped` (fired once), `idle-warning` or `active`. A `wiped` listener added after
   * the wipe is called on the next microtask, with the same reason, unless removed first.
   * @returns a function that removes the listener
   */
  on<E extends keyof SessionEventMap>(event: E, listener: (event: SessionEventMap[E]) => void): () => void;
}
