// The key environment's registry of delivered sessions and of the credentials that opened them:
// revocation and status checks, the DPoP key each session is bound to, single-use token records
// (which session each token opened), session extension on token refresh, one-time proof ids,
// which member key each session seals with (rotation), the per-member session cap and the
// delivery counters of the per-token rate limit. The memory implementation is memory-registry.ts.

/** A session the key environment delivered keys to. */
export interface SessionRecord {
  /** The id delivered to the browser. */
  sessionId: string;
  /** The member signed in. */
  memberId: string;
  /** ms since the epoch. */
  createdAt: number;
  /** Absolute expiry, ms since the epoch (also bound into the delivery). Moved later by {@link SessionRegistry.extend}. */
  expiresAt: number;
  /**
   * The RFC 7638 SHA-256 thumbprint (base64url) of the DPoP public key the session is bound to:
   * status, logoff, resume and refresh must carry a proof signed with that key. Absent for a
   * session opened with a plain bearer token (a key environment that does not require DPoP).
   */
  keyThumbprint?: string;
  /**
   * The key id of the member key the session seals new values with: the primary of its
   * delivery, then the key id its browser reports in a status check (it changes when the
   * session follows a `rekey` after a rotation). Rotation refuses to retire a version a live
   * session still seals with.
   */
  primaryKeyId: string;
  /** When {@link SessionRecord.primaryKeyId} last changed after the delivery (ms since the epoch); absent until it does. */
  rekeyedAt?: number;
  /** Set when the session was revoked or logged off. */
  revoked?: {
    /** When, ms since the epoch. */
    at: number;
    /** Why: `logoff` (or the wipe reason the browser gave), `session-limit`, or what the caller of `revokeSession` gave. */
    reason: string;
  };
}

/** The per-member ceiling {@link SessionRegistry.add} enforces. */
export interface SessionCap {
  /** The most live (unrevoked, unexpired) sessions one member may have. */
  maxLive: number;
  /**
   * When the member already has `maxLive` live sessions: `'revoke-oldest'` revokes the oldest
   * (reason `session-limit`) to make room; `'refuse'` adds nothing.
   */
  whenFull: 'revoke-oldest' | 'refuse';
}

/**
 * Where the key environment keeps its sessions and what it must remember about credentials.
 * Implement it over a shared store (a database) when the key environment runs as several
 * processes: every method must be atomic with respect to the others, because two instances may
 * be asked at the same moment to open a session with the same token, or to accept the same DPoP
 * proof. {@link memorySessionRegistry} serves one process.
 */
export interface SessionRegistry {
  /**
   * Registers a newly delivered session. With `cap`, atomically with the insert (also across
   * processes): when the member already has `cap.maxLive` live sessions at `record.createdAt`,
   * either the oldest are revoked (reason `session-limit`) to make room, or nothing is added.
   * @returns `false` when the cap refused the session, else `true`
   */
  add(record: SessionRecord, cap?: SessionCap): Promise<boolean>;
  /** The session, or `undefined` when unknown (or dropped after expiry or revocation). */
  get(sessionId: string): Promise<SessionRecord | undefined>;
  /** Marks a session revoked; `false` when it is unknown. Revoking twice keeps the first reason. */
  revoke(sessionId: string, reason: string, at: number): Promise<boolean>;
  /** Revokes every live session of a member; returns how many. */
  revokeMember(memberId: string, reason: string, at: number): Promise<number>;
  /**
   * Moves a live session's expiry later (the browser presented a renewed access token). Never
   * moves it earlier: the later of the stored and the given value is kept.
   * @returns the session's expiry after the call, or `undefined` when the session is unknown,
   *   revoked, or expired at `at`
   */
  extend(sessionId: string, expiresAt: number, at: number): Promise<number | undefined>;
  /**
   * Binds a token to a session, atomically: the first binding of a token wins. The record is
   * kept until `expiresAt` (past the token's own expiry), even after the session ended or was
   * dropped, so the token can never open another session. A record whose `expiresAt` is not
   * after `at` counts as absent.
   * @param tokenId - what stands for the token: its `jti`, or a hash of the whole token
   * @returns the session the token is bound to: `sessionId` when this call bound it (or it was
   *   bound to that session already), another session's id when it was bound before
   */
  bindToken(tokenId: string, sessionId: string, expiresAt: number, at: number): Promise<string>;
  /**
   * Remembers a one-time id (a hash of a DPoP proof's key and `jti`) until `expiresAt`,
   * atomically.
   * @returns `true` the first time; `false` while the id is remembered (its `expiresAt` is
   *   after `at`)
   */
  useOnce(id: string, expiresAt: number, at: number): Promise<boolean>;
  /**
   * Records that a live session seals with `primaryKeyId` from `at` on; sets `rekeyedAt` to
   * `at` when that is a change.
   * @returns `false` when the session is unknown, revoked or expired at `at`
   */
  setPrimaryKey(sessionId: string, primaryKeyId: string, at: number): Promise<boolean>;
  /**
   * The member's sessions that have not expired at `at`, revoked ones included while the
   * registry keeps them: a revoked session must be kept at least ten minutes
   * after its revocation (or until it expires, whichever is sooner), so that rotation sees it.
   */
  memberSessions(memberId: string, at: number): Promise<SessionRecord[]>;
  /**
   * Counts one delivery under `key` in the fixed window of `windowMs` that holds `at`
   * (windows start at multiples of `windowMs`), atomically. Counters of past windows may be
   * dropped.
   * @returns the window's count, this delivery included
   */
  countDelivery(key: string, windowMs: number, at: number): Promise<number>;
}

/** How long a revoked session is kept at least (its status stays `revoked` with its reason, and rotation sees it). */
export const REVOKED_RETENTION_MS: number = 10 * 60_000;

/** Whether a session may still be used at `at`. */
export function isLive(s: SessionRecord, at: number): boolean {
  return s.revoked === undefined && s.expiresAt > at;
}
