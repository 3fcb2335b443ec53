// What a key delivery writes, and when: the token's delivery count as soon as the credential is
// verified; then, with the sealed response ready, the proof's one-time id, the token record, the
// session (under the member's cap) and the audit row, and a resumed session checked once more.
// A registry that can (the database one) makes those writes in one transaction with one commit;
// any other gets them one call at a time.
import type { AuditEvent } from '../audit/delivery-audit.ts';
import type { CheckedProof } from '../auth/dpop.ts';
import { proofReplayed } from '../auth/dpop.ts';
import { tokenRefused } from '../auth/refusal.ts';
import { admitToken, rateLimited, tokenRateKey } from '../limits/delivery-limits.ts';
import { deliveryCommitterOf, type DeliveryCommitter } from '../sessions/delivery-commit.ts';
import { isLive, type SessionRecord } from '../sessions/registry.ts';
import type { WrappedMemberKey } from '../stores/member-key-store.ts';
import type { DeliveryContext } from './deliver.ts';

/** One delivery, ready to be committed (internal). */
export interface DeliveryCommit {
  at: number;
  token: string;
  tokenId: string;
  tokenRecordUntil: number;
  proof: CheckedProof | undefined;
  /** A new session, or the live one resumed. */
  session: { added: SessionRecord } | { resumed: SessionRecord };
  event: AuditEvent;
}

/** The registry's one-transaction delivery, when it also writes to the audit log in use. */
function committerOf(ctx: DeliveryContext): DeliveryCommitter | undefined {
  const c = deliveryCommitterOf(ctx.sessions);
  return c !== undefined && (ctx.audit === undefined || ctx.audit === c.audit) ? c : undefined;
}

/**
 * Admits an authenticated token under its delivery rate (counted once the credential is
 * verified, so refused tokens cost nothing to remember). With a one-transaction registry the
 * count is made by {@link commitDelivery}; a token already over its rate is refused here, before
 * any key is unwrapped. Where that registry shares its database with the store in use, the same
 * round trip reads the member's key versions too.
 * @returns the member's key versions (as `store.versions`) when they were read, else `undefined`
 * @throws TokumeiError `ERR_RATE_LIMITED`
 */
export async function admitDelivery(ctx: DeliveryContext, token: string, at: number, memberId: string): Promise<WrappedMemberKey[] | undefined> {
  const c = committerOf(ctx);
  if (c === undefined) {
    await admitToken(ctx.sessions, ctx.limits, token, at);
    return undefined;
  }
  const { windowMs, max } = ctx.limits.tokenRate;
  const read = c.store === ctx.store && c.countAndVersions !== undefined ? await c.countAndVersions(tokenRateKey(token), windowMs, at, memberId) : { count: await c.count(tokenRateKey(token), windowMs, at), versions: undefined };
  if (read.count >= max) throw rateLimited();
  return read.versions;
}

/**
 * Uses up the credential and records the delivery: the proof's jti, then the token — which opens
 * at most one session and afterwards resumes only that one (bound before the session is added, so
 * a refused duplicate never counts against the member's cap) —, the session, and the audit row:
 * a delivery the log does not hold is never answered. Resolves once all of it is durable.
 *
 * A resume is checked again here, with the clock read again: the session was read before the
 * member keys were unwrapped, and may have been revoked, logged off or have expired meanwhile.
 * In one transaction the check locks the session's row until the commit (a revocation either
 * came first and is seen, or waits); one call at a time, it is the last read before answering
 * (the audit row, already written, then records a resume that was refused).
 * @returns `false` when the resumed session is no longer live (nothing is answered), else `true`
 * @throws TokumeiError `ERR_AUTH` (a replayed proof, a token already used), `ERR_RATE_LIMITED`
 */
export async function commitDelivery(ctx: DeliveryContext, d: DeliveryCommit): Promise<boolean> {
  const c = committerOf(ctx);
  // A proof's id goes into the transaction only where the checker records it: in this registry.
  const inTransaction = c !== undefined && ctx.dpop.replay === ctx.sessions;
  if (d.proof !== undefined && !inTransaction) await ctx.dpop.consume(d.proof);
  const at = 'resumed' in d.session ? ctx.now() : d.at;
  const event = { ...d.event, at };
  if (c === undefined) {
    if ((await ctx.sessions.bindToken(d.tokenId, d.event.sessionId, d.tokenRecordUntil, d.at)) !== d.event.sessionId) throw tokenRefused('the token has already opened another session');
    if ('added' in d.session && !(await ctx.sessions.add(d.session.added, ctx.limits.cap))) throw rateLimited();
    await ctx.audit?.append(event);
    if (!('resumed' in d.session)) return true;
    const s = await ctx.sessions.get(d.session.resumed.sessionId);
    return s !== undefined && isLive(s, ctx.now());
  }
  const outcome = await c.commit({
    at,
    // The database's counter is a 32-bit integer: a larger maximum (e.g. MAX_SAFE_INTEGER to mean
    // "no limit") is the same as its largest value.
    rate: { key: tokenRateKey(d.token), windowMs: ctx.limits.tokenRate.windowMs, max: Math.min(ctx.limits.tokenRate.max, 2 ** 31 - 1) },
    ...(d.proof !== undefined && inTransaction ? { once: { id: d.proof.replayId, until: d.proof.replayUntil } } : {}),
    token: { id: d.tokenId, until: d.tokenRecordUntil },
    session: 'added' in d.session ? { added: d.session.added, cap: ctx.limits.cap } : d.session,
    ...(ctx.audit === undefined ? {} : { audit: event }),
  });
  if (outcome === 'rate-limited' || outcome === 'capped') throw rateLimited();
  if (outcome === 'replayed') throw proofReplayed();
  if (outcome === 'token-used') throw tokenRefused('the token has already opened another session');
  return outcome !== 'ended';
}
