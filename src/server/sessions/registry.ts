// The key environment's registry of delivered sessions: revocation and status checks.

/** A session the key environment delivered keys to. */
export interface SessionRecord {
  /** The id delivered to the browser. */
  sessionId: string;
  /** The member signed in. */
  memberId: string;
  /** ms since the epoch. */
  createdAt: number;
  /** Absolute expiry, ms since the epoch (also bound into the delivery). */
  expiresAt: number;
  /** Set when the session was revoked or logged off. */
  revoked?: {
    /** When, ms since the epoch. */
    at: number;
    /** Why: `logoff`, or what the caller of `revokeSession` gave. */
    reason: string;
  };
}

/**
 * Where the key environment keeps its sessions. Implement it over a shared store (Redis, a
 * database) when the key environment runs as several processes; {@link memorySessionRegistry}
 * serves one process.
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
}

const PRUNE_EVERY = 1024;

/**
 * An in-memory {@link SessionRegistry}. Expired sessions are dropped lazily as new ones arrive.
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
  let adds = 0;
  return {
    add(record) {
      if (++adds % PRUNE_EVERY === 0) {
        for (const [id, s] of sessions) if (s.expiresAt < record.createdAt) sessions.delete(id);
      }
      sessions.set(record.sessionId, { ...record });
      return Promise.resolve();
    },
    get(sessionId) {
      const s = sessions.get(sessionId);
      return Promise.resolve(s === undefined ? undefined : { ...s, ...(s.revoked ? { revoked: { ...s.revoked } } : {}) });
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
        if (s.memberId === memberId && s.revoked === undefined && s.expiresAt > at) {
          s.revoked = { at, reason };
          n++;
        }
      }
      return Promise.resolve(n);
    },
  };
}
