// Ceilings on key delivery: how many live sessions one member may hold, and how often one
// bearer token may be turned into a delivery. Both are counted in the session registry, so
// several key-environment instances sharing one registry share the counts.
import { createHash } from 'node:crypto';
import { TokumeiError } from '../../errors.ts';
import { ainteger } from '../../internal/bytes.ts';
import type { SessionCap, SessionRegistry } from '../sessions/registry.ts';

/** Ceilings on key delivery (option `limits` of `createKeyEnvironment`). */
export interface DeliveryLimits {
  /** The most live sessions one member may have at once. Default 16. */
  maxSessionsPerMember?: number;
  /**
   * What a delivery that would exceed `maxSessionsPerMember` does: `'revoke-oldest'` (default)
   * revokes the member's oldest live session (reason `session-limit`; its tab wipes at its next
   * status check); `'refuse'` refuses the new one (`ERR_RATE_LIMITED`, HTTP 429).
   */
  whenSessionLimit?: 'revoke-oldest' | 'refuse';
  /**
   * The most deliveries (new sessions and resumes) one bearer token may get per window; more
   * are refused with `ERR_RATE_LIMITED` (HTTP 429). Default `{ max: 60, windowMs: 60_000 }`.
   * Counted after the token is authenticated, so refused tokens cost nothing to remember.
   */
  tokenRate?: TokenRate;
}

/** A rate: at most `max` deliveries per fixed window of `windowMs`. */
export interface TokenRate {
  /** Deliveries allowed per window. */
  max: number;
  /** The window's length in ms (windows start at multiples of it). */
  windowMs: number;
}

/** The validated limits (internal). */
export interface CheckedLimits {
  cap: SessionCap;
  tokenRate: TokenRate;
}

const DEFAULT_MAX_SESSIONS = 16;
const DEFAULT_TOKEN_RATE = { max: 60, windowMs: 60_000 };

/** Checks the `limits` option and fills in the defaults. @throws TypeError / RangeError */
export function checkLimits(limits: DeliveryLimits | undefined): CheckedLimits {
  const l = limits ?? {};
  if (typeof l !== 'object' || l === null) throw new TypeError(`"limits" expected object, got ${l === null ? 'null' : typeof l}`);
  const maxLive = l.maxSessionsPerMember === undefined ? DEFAULT_MAX_SESSIONS : l.maxSessionsPerMember;
  ainteger('maxSessionsPerMember', maxLive, 1, 1_000_000);
  const whenFull = l.whenSessionLimit === undefined ? 'revoke-oldest' : l.whenSessionLimit;
  if (whenFull !== 'revoke-oldest' && whenFull !== 'refuse') throw new RangeError(`"whenSessionLimit" expected 'revoke-oldest' or 'refuse', got ${String(whenFull)}`);
  const rate = l.tokenRate === undefined ? DEFAULT_TOKEN_RATE : l.tokenRate;
  if (typeof rate !== 'object' || rate === null) throw new TypeError(`"tokenRate" expected object, got ${rate === null ? 'null' : typeof rate}`);
  ainteger('tokenRate.max', rate.max, 1, Number.MAX_SAFE_INTEGER);
  ainteger('tokenRate.windowMs', rate.windowMs, 1, 24 * 60 * 60_000);
  return { cap: { maxLive, whenFull }, tokenRate: { max: rate.max, windowMs: rate.windowMs } };
}

/** The refusal of a delivery over a ceiling: one message, whichever ceiling. */
export function rateLimited(): TokumeiError {
  return new TokumeiError('ERR_RATE_LIMITED', 'too many key deliveries: try again later');
}

/** The registry key a token's deliveries are counted under: a hash of the token, never the token itself. */
export function tokenRateKey(token: string): string {
  return `tok1.${createHash('sha256').update(token).digest('base64url')}`;
}

/**
 * Counts one delivery for an authenticated bearer token and refuses it past the token's rate.
 * The registry is keyed by a hash of the token, never the token itself.
 * @throws TokumeiError `ERR_RATE_LIMITED`
 */
export async function admitToken(sessions: SessionRegistry, limits: CheckedLimits, token: string, at: number): Promise<void> {
  const n = await sessions.countDelivery(tokenRateKey(token), limits.tokenRate.windowMs, at);
  if (n > limits.tokenRate.max) throw rateLimited();
}
