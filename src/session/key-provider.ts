import type { Keyring } from '../keys/keyring.ts';
import type { WipeReason } from './types.ts';

/**
 * What a key provider hands a new session at sign-in. Ownership of `keyring` passes to the
 * session, which destroys it on every wipe.
 */
export interface SessionKeys {
  /** The member's keys: their own (primary), dependants' and older versions. */
  keyring: Keyring;
  /** The key environment's id for this session (public; used for revocation and logoff). */
  sessionId: string;
  /** Absolute expiry set by the key environment, in ms since the epoch. */
  expiresAt: number;
}

/**
 * What {@link KeyProvider.checkSession} reports: `'rekey'` when the member's key was rotated and
 * the session should fetch its keyring again (a resume) to seal with the new key.
 */
export type SessionStatus = 'active' | 'revoked' | 'rekey';

/**
 * Where a session's keys come from. `httpKeyProvider` (HPKE key delivery from the key
 * environment) is the production implementation; `memoryKeyProvider` serves tests and examples.
 * Implement this interface to plug in another transport.
 */
export interface KeyProvider {
  /**
   * Fetches the member's keyring at sign-in. With `resume` (a session id from an earlier
   * delivery, kept in IndexedDB), asks for that same session's keyring again — same session id
   * and expiry — for a reload or a second tab; a provider that cannot resume may start a new
   * session instead (the session notices the different id).
   * @throws TokumeiError `ERR_AUTH`, `ERR_KEY_UNAVAILABLE`, `ERR_TIMEOUT`, `ERR_DECRYPTION_FAILED`;
   *   `ERR_REVOKED` when the session to resume was logged off, revoked or has expired
   */
  fetchKeys(options: { signal?: AbortSignal; resume?: string }): Promise<SessionKeys>;
  /**
   * Asks the key environment whether the session is still valid (polled by the session when
   * `revocationCheckMs` is set), telling it `keyId`, the key the session seals with. `'rekey'`
   * (after a rotation) makes the session fetch its keyring again with `resume` and seal with
   * the new primary key. Optional.
   */
  checkSession?(sessionId: string, options: { signal?: AbortSignal; keyId?: string }): Promise<SessionStatus>;
  /**
   * Extends the session with the app's renewed access token, without a new key delivery
   * (called by `session.refresh()`). Optional.
   * @returns the session's new absolute expiry
   * @throws TokumeiError `ERR_AUTH`, `ERR_KEY_UNAVAILABLE`, `ERR_TIMEOUT`; `ERR_REVOKED` when
   *   the session has ended at the key environment
   */
  refreshSession?(
    sessionId: string,
    options: { signal?: AbortSignal },
  ): Promise<{
    /** The session's new absolute expiry, ms since the epoch. */
    expiresAt: number;
  }>;
  /**
   * Tells the key environment the session ended: called at every wipe except `pagehide` in
   * IndexedDB mode (and except an idle wipe while another tab keeps the session active), with
   * the wipe reason. It is called from `pagehide`, so it must start its request synchronously
   * (before its first `await`) — with `keepalive` — and never reject. Best effort; never blocks
   * a wipe. Optional.
   */
  notifyLogoff?(sessionId: string, options?: { reason?: WipeReason }): Promise<void>;
}
