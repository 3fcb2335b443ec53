// The in-memory session registry: one process. Sessions are indexed by id and by member; they,
// token records, one-time ids and delivery counters are dropped a few at a time as their
// deadlines pass (heaps of deadlines), so no call pauses to sweep the whole registry and memory
// follows what is still live, not the deliveries made.
import { DeadlineHeap } from './deadline-heap.ts';
import { isLive, REVOKED_RETENTION_MS, type SessionCap, type SessionRecord, type SessionRegistry } from './registry.ts';

// Deadlines handled per call: enough to keep up with any delivery rate, small enough never to pause.
const PRUNE_BUDGET = 64;

function copy(s: SessionRecord): SessionRecord {
  return { ...s, ...(s.revoked ? { revoked: { ...s.revoked } } : {}) };
}

/** When the registry may forget a session: at expiry, or a while after its revocation. */
function dropAt(s: SessionRecord): number {
  return s.revoked === undefined ? s.expiresAt : Math.min(s.expiresAt, s.revoked.at + REVOKED_RETENTION_MS);
}

class MemorySessionRegistry implements SessionRegistry {
  #sessions = new Map<string, SessionRecord>();
  #byMember = new Map<string, Set<string>>();
  #deadlines = new DeadlineHeap();
  #counters = new Map<string, { start: number; end: number; count: number }>();
  #counterDeadlines = new DeadlineHeap();
  #tokens = new Map<string, { sessionId: string; expiresAt: number }>();
  #tokenDeadlines = new DeadlineHeap();
  #once = new Map<string, number>();
  #onceDeadlines = new DeadlineHeap();

  #prune(at: number): void {
    let budget = PRUNE_BUDGET;
    while (budget-- > 0 && this.#deadlines.peek() <= at) {
      const id = this.#deadlines.pop()!;
      const s = this.#sessions.get(id);
      if (s === undefined || dropAt(s) > at) continue;
      this.#sessions.delete(id);
      const ids = this.#byMember.get(s.memberId);
      ids?.delete(id);
      if (ids?.size === 0) this.#byMember.delete(s.memberId);
    }
    budget = PRUNE_BUDGET;
    while (budget-- > 0 && this.#counterDeadlines.peek() <= at) {
      const key = this.#counterDeadlines.pop()!;
      const c = this.#counters.get(key);
      if (c !== undefined && c.end <= at) this.#counters.delete(key);
    }
    budget = PRUNE_BUDGET;
    while (budget-- > 0 && this.#tokenDeadlines.peek() <= at) {
      const id = this.#tokenDeadlines.pop()!;
      if ((this.#tokens.get(id)?.expiresAt ?? Infinity) <= at) this.#tokens.delete(id);
    }
    budget = PRUNE_BUDGET;
    while (budget-- > 0 && this.#onceDeadlines.peek() <= at) {
      const id = this.#onceDeadlines.pop()!;
      if ((this.#once.get(id) ?? Infinity) <= at) this.#once.delete(id);
    }
  }

  #revoke(s: SessionRecord, reason: string, at: number): void {
    s.revoked = { at, reason };
    this.#deadlines.push(dropAt(s), s.sessionId);
  }

  #live(memberId: string, at: number): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const id of this.#byMember.get(memberId) ?? []) {
      const s = this.#sessions.get(id)!;
      if (isLive(s, at)) out.push(s);
    }
    return out;
  }

  add(record: SessionRecord, cap?: SessionCap): Promise<boolean> {
    const at = record.createdAt;
    this.#prune(at);
    if (this.#sessions.has(record.sessionId)) return Promise.reject(new RangeError(`"sessionId" expected a new session id, got one already registered`));
    if (cap !== undefined) {
      const live = this.#live(record.memberId, at);
      if (live.length >= cap.maxLive) {
        if (cap.whenFull === 'refuse') return Promise.resolve(false);
        live.sort((a, b) => a.createdAt - b.createdAt);
        for (const s of live.slice(0, live.length - cap.maxLive + 1)) this.#revoke(s, 'session-limit', at);
      }
    }
    const s = copy(record);
    this.#sessions.set(s.sessionId, s);
    let ids = this.#byMember.get(s.memberId);
    if (ids === undefined) this.#byMember.set(s.memberId, (ids = new Set()));
    ids.add(s.sessionId);
    this.#deadlines.push(dropAt(s), s.sessionId);
    return Promise.resolve(true);
  }

  get(sessionId: string): Promise<SessionRecord | undefined> {
    const s = this.#sessions.get(sessionId);
    return Promise.resolve(s === undefined ? undefined : copy(s));
  }

  revoke(sessionId: string, reason: string, at: number): Promise<boolean> {
    this.#prune(at);
    const s = this.#sessions.get(sessionId);
    if (s === undefined) return Promise.resolve(false);
    if (s.revoked === undefined) this.#revoke(s, reason, at);
    return Promise.resolve(true);
  }

  revokeMember(memberId: string, reason: string, at: number): Promise<number> {
    this.#prune(at);
    const live = this.#live(memberId, at);
    for (const s of live) this.#revoke(s, reason, at);
    return Promise.resolve(live.length);
  }

  extend(sessionId: string, expiresAt: number, at: number): Promise<number | undefined> {
    const s = this.#sessions.get(sessionId);
    if (s === undefined || !isLive(s, at)) return Promise.resolve(undefined);
    if (expiresAt > s.expiresAt) {
      s.expiresAt = expiresAt;
      this.#deadlines.push(dropAt(s), sessionId); // the earlier deadline finds it not yet due
    }
    return Promise.resolve(s.expiresAt);
  }

  bindToken(tokenId: string, sessionId: string, expiresAt: number, at: number): Promise<string> {
    this.#prune(at);
    const t = this.#tokens.get(tokenId);
    if (t !== undefined && t.expiresAt > at) {
      if (expiresAt > t.expiresAt) {
        t.expiresAt = expiresAt;
        this.#tokenDeadlines.push(expiresAt, tokenId);
      }
      return Promise.resolve(t.sessionId);
    }
    this.#tokens.set(tokenId, { sessionId, expiresAt });
    this.#tokenDeadlines.push(expiresAt, tokenId);
    return Promise.resolve(sessionId);
  }

  useOnce(id: string, expiresAt: number, at: number): Promise<boolean> {
    this.#prune(at);
    const e = this.#once.get(id);
    if (e !== undefined && e > at) return Promise.resolve(false);
    this.#once.set(id, expiresAt);
    this.#onceDeadlines.push(expiresAt, id);
    return Promise.resolve(true);
  }

  setPrimaryKey(sessionId: string, primaryKeyId: string, at: number): Promise<boolean> {
    const s = this.#sessions.get(sessionId);
    if (s === undefined || !isLive(s, at)) return Promise.resolve(false);
    if (s.primaryKeyId !== primaryKeyId) {
      s.primaryKeyId = primaryKeyId;
      s.rekeyedAt = at;
    }
    return Promise.resolve(true);
  }

  memberSessions(memberId: string, at: number): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for (const id of this.#byMember.get(memberId) ?? []) {
      const s = this.#sessions.get(id)!;
      if (s.expiresAt > at) out.push(copy(s));
    }
    return Promise.resolve(out);
  }

  countDelivery(key: string, windowMs: number, at: number): Promise<number> {
    this.#prune(at);
    const start = at - (at % windowMs);
    let c = this.#counters.get(key);
    if (c === undefined || c.start !== start) {
      c = { start, end: start + windowMs, count: 0 };
      this.#counters.set(key, c);
      this.#counterDeadlines.push(c.end, key);
    }
    return Promise.resolve(++c.count);
  }
}

/**
 * An in-memory {@link SessionRegistry} for one key-environment process. Expired sessions (and
 * revoked ones ten minutes after their revocation), token records, proof ids and delivery
 * counters are dropped a few at a time on later calls: no call sweeps the whole registry, and
 * memory follows what is still live.
 *
 * @returns an empty registry
 * @example
 * ```ts
 * import { createKeyEnvironment, memorySessionRegistry } from 'tokumei/server';
 * const env = createKeyEnvironment({ masterKey, store, authenticate, sessions: memorySessionRegistry() });
 * ```
 */
export function memorySessionRegistry(): SessionRegistry {
  return new MemorySessionRegistry();
}
