// A key delivery's writes in one transaction, where the session registry can make them so (the
// database registry): the token's delivery count, the DPoP proof's one-time id, the token record,
// the new session under the member's cap, and the audit row — one call, one commit, instead of a
// commit each. A registry without it (the memory one, or one of the caller's own) gets the same
// writes one method at a time, in the same order.
import type { AuditEvent, DeliveryAuditLog } from '../audit/delivery-audit.ts';
import type { MemberKeyStore, WrappedMemberKey } from '../stores/member-key-store.ts';
import type { SessionCap, SessionRecord, SessionRegistry } from './registry.ts';

/** What one delivery writes (internal). */
export interface DeliveryWrites {
  /** ms since the epoch: a new session's `createdAt`; for a resume, the instant its session must still be live at. */
  at: number;
  /** The token's delivery counter: its key, its window, the most deliveries the window allows. */
  rate: { key: string; windowMs: number; max: number };
  /** The DPoP proof's one-time id, used up in the same transaction (absent without a proof). */
  once?: { id: string; until: number };
  /** The token record: the token opens (or resumes) `sessionId`, and no other session. */
  token: { id: string; until: number };
  /** The session: a new one, added under the member's cap, or the one resumed (refused unless still live, and locked until the commit). */
  session: { added: SessionRecord; cap: SessionCap } | { resumed: SessionRecord };
  /** Written in the same transaction (only to {@link DeliveryCommitter.audit}). */
  audit?: AuditEvent;
}

/**
 * How it ended: `committed`, or the first refusal — over the token's rate, the proof already used,
 * the token already bound to another session, the member's cap full with `whenFull: 'refuse'`,
 * the resumed session no longer live at `at` (revoked, logged off, expired or dropped since it
 * was read). What was written before a refusal stays written, as with separate calls.
 */
export type DeliveryOutcome = 'committed' | 'rate-limited' | 'replayed' | 'token-used' | 'capped' | 'ended';

/** A registry's one-transaction delivery (internal). */
export interface DeliveryCommitter {
  /** The audit log `commit` writes its audit row to. */
  readonly audit: DeliveryAuditLog;
  /** The token's count in the window that holds `at`, without counting (an early refusal). */
  count(key: string, windowMs: number, at: number): Promise<number>;
  /** The member-key store in the same database, which {@link countAndVersions} reads. */
  readonly store?: MemberKeyStore;
  /**
   * {@link count} and `store.versions(memberId)` in one round trip (present with `store`): a
   * delivery's first read.
   */
  countAndVersions?(key: string, windowMs: number, at: number, memberId: string): Promise<{ count: number; versions: WrappedMemberKey[] }>;
  /** Makes every write of `w` in one transaction; resolves after its commit. */
  commit(w: DeliveryWrites): Promise<DeliveryOutcome>;
}

const committers = new WeakMap<SessionRegistry, DeliveryCommitter>();

/** Declares that `registry` can commit a delivery in one transaction (its implementation calls this). */
export function registerDeliveryCommitter(registry: SessionRegistry, committer: DeliveryCommitter): void {
  committers.set(registry, committer);
}

/**
 * Declares that `registry`'s one-transaction delivery shares its database with `store`, so a
 * delivery's first read (the token's count and the member's keys) is `read`, one round trip.
 */
export function registerSharedStore(registry: SessionRegistry, store: MemberKeyStore, read: NonNullable<DeliveryCommitter['countAndVersions']>): void {
  const c = committers.get(registry);
  if (c !== undefined) committers.set(registry, { ...c, store, countAndVersions: read });
}

/** The registry's one-transaction delivery, when it has one. */
export function deliveryCommitterOf(registry: SessionRegistry): DeliveryCommitter | undefined {
  return committers.get(registry);
}
