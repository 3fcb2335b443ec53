// The key environment's registry of delivered sessions and of the credentials that opened them:
// revocation and status checks, the DPoP key each session is bound to, single-use token records
// (which session each token opened), session extension on token refresh, and one-time proof ids.

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
  /** Set when the session was revoked or logged off. */
  revoked?: {
    /** When, ms since the epoch. */
    at: number;
    /** Why: `logoff` (or the wipe reason the browser gave), or what the caller of `revokeSession` gave. */
    reason: string;
  };
}

/**
 * Where the key environment keeps its sessions and what it must remember about credentials.
 * Implement it over a shared store (a database) when the key environment runs as several
 * processes: every method must be atomic with respect to the others, because two instances may
 * be asked at the same moment to open a session with the same token, or to accept the same DPoP
 * proof. {@link memorySessionRegistry} serves one process.
 */
export interface SessionRegistry {
  /** Registers a newly delivered session. */
  add(record: SessionRecord): Promise<void>;
  /** The session, or `undefined` when unknown (or dropped after expiry). */
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
}

/** How many entries each lazy prune looks at, at most (a prune never pauses a request for long). */
const PRUNE_BATCH = 256;

/**
 * Drops expired entries from the front of a Map in insertion order (entries are added roughly
 * in expiry order), looking at no more than {@link PRUNE_BATCH} of them.
 */
function pruneFront<V>(map: Map<string, V>, expiry: (v: V) => number, now: number): void {
  let seen = 0;
  for (const [k, v] of map) {
    if (++seen > PRUNE_BATCH) return;
    if (expiry(v) <= now) map.delete(k);
  }
}

function copy(s: SessionRecord): SessionRecord {
  return { ...s, ...(s.revoked ? { revoked: { ...s.revoked } } : {}) };
}

/**
 * An in-memory {@link SessionRegistry} for one process. Expired sessions, token records and
 * proof ids are dropped lazily, a few at a time, as new ones arrive.
 *
 * @returns an empty registry
 * @example
 * ```ts
 * import { createKeyEnvironment, memorySessionRegistry } from 'tokumei/server';
 * const env = createKeyEnvironment({ masterKey, store, authenticate, sessions: memorySessionRegistry() });
 * ```
 */
export function memorySessionRegistry(): SessionRegistry {
  const sessions = new Map<string, SessionRecord>();
  const tokens = new Map<string, { sessionId: string; expiresAt: number }>();
  const once = new Map<string, number>();
  const live = (s: SessionRecord | undefined, at: number): s is SessionRecord => s !== undefined && s.revoked === undefined && s.expiresAt > at;
  return {
    add(record) {
      pruneFront(sessions, (s) => s.expiresAt, record.createdAt);
      sessions.set(record.sessionId, copy(record));
      return Promise.resolve();
    },
    get(sessionId) {
      const s = sessions.get(sessionId);
      return Promise.resolve(s === undefined ? undefined : copy(s));
    },
    revoke(sessionId, reason, at) {
      const s = sessions.get(sessionId);
      if (s === undefined) return Promise.resolve(false);
      s.revoked ??= { at, reason };
      return Promise.resolve(true);
    },
    revokeMember(memberId, reason, at) {
      let n = 0;
      for (const s of sessions.values()) {
        if (s.memberId === memberId && live(s, at)) {
          s.revoked = { at, reason };
          n++;
        }
      }
      return Promise.resolve(n);
    },
    extend(sessionId, expiresAt, at) {
      const s = sessions.get(sessionId);
      if (!live(s, at)) return Promise.resolve(undefined);
      s.expiresAt = Math.max(s.expiresAt, expiresAt);
      return Promise.resolve(s.expiresAt);
    },
    bindToken(tokenId, sessionId, expiresAt, at) {
      pruneFront(tokens, (t) => t.expiresAt, at);
      const t = tokens.get(tokenId);
      if (t !== undefined && t.expiresAt > at) {
        t.expiresAt = Math.max(t.expiresAt, expiresAt);
        return Promise.resolve(t.sessionId);
      }
      tokens.delete(tokenId); // re-inserted at the end: insertion order stays close to expiry order
      tokens.set(tokenId, { sessionId, expiresAt });
      return Promise.resolve(sessionId);
    },
    useOnce(id, expiresAt, at) {
      pruneFront(once, (e) => e, at);
      const e = once.get(id);
      if (e !== undefined && e > at) return Promise.resolve(false);
      once.delete(id);
      once.set(id, expiresAt);
      return Promise.resolve(true);
    },
  };
}
