// The requests about a delivered session (docs/key-delivery.md §2.2–§2.4): its status, its end,
// and its extension with a renewed access token. A session bound to a DPoP key answers only to
// proofs signed with that key (or, to end it, its end-of-session token).
import { DELIVERY_PROTOCOL } from '../../delivery/payload.ts';
import { verifyCredential } from '../auth/credential.ts';
import { tokenRefused } from '../auth/refusal.ts';
import type { SessionStatus } from '../../session/key-provider.ts';
import type { SessionRecord } from '../sessions/registry.ts';
import { formatError, sessionEnded, type DeliveryContext, type DeliveryRequest } from './deliver.ts';

/** What the status endpoint answers. */
export interface SessionStatusResponse {
  /**
   * `active` while the session may go on; `rekey` when it seals with an older key version than
   * the member's newest (the browser fetches the keyring again); `revoked` once it was logged
   * off, revoked, expired, or is unknown.
   */
  status: SessionStatus;
}

/** What the refresh endpoint answers. */
export interface RefreshResponse {
  /** `"tokumei-key-delivery/1"`. */
  protocol: typeof DELIVERY_PROTOCOL;
  /** The session refreshed. */
  sessionId: string;
  /** Its absolute expiry now, ms since the epoch. */
  expiresAt: number;
}

// The wipe reasons a browser may name when it ends its session; recorded as the revocation reason.
const END_REASONS: ReadonlySet<unknown> = new Set(['logoff', 'idle', 'expired', 'pagehide', 'remote-logoff', 'revoked']);
const MAX_ID_CHARS = 256;

/** The body `{ protocol, sessionId, … }` of a session request; ERR_FORMAT otherwise. */
function sessionBody(body: unknown): Record<string, unknown> & { sessionId: string } {
  if (typeof body !== 'object' || body === null) throw formatError('the request must be a JSON object');
  const b = body as Record<string, unknown>;
  if (b.protocol !== DELIVERY_PROTOCOL) throw formatError('unsupported key delivery protocol');
  if (typeof b.sessionId !== 'string' || b.sessionId.length === 0 || b.sessionId.length > MAX_ID_CHARS) throw formatError('sessionId must be a string of 1 to 256 characters');
  return b as Record<string, unknown> & { sessionId: string };
}

const live = (s: SessionRecord | undefined, now: number): s is SessionRecord => s !== undefined && s.revoked === undefined && s.expiresAt > now;

/** Proves possession of the session's DPoP key (when it is bound to one) and uses up the proof. */
async function proveSessionKey(ctx: DeliveryContext, request: DeliveryRequest, s: SessionRecord): Promise<void> {
  if (s.keyThumbprint === undefined) return; // opened with a plain bearer token: the id is the handle
  const proof = await ctx.dpop.check({ proof: request.dpop, method: request.method, url: request.url, thumbprint: s.keyThumbprint });
  await ctx.dpop.consume(proof);
}

/** `KeyEnvironment.checkSession` (its TSDoc is the contract). */
export async function statusRequest(ctx: DeliveryContext, request: DeliveryRequest): Promise<SessionStatusResponse> {
  const { sessionId, keyId } = sessionBody(request.body);
  const s = await ctx.sessions.get(sessionId);
  if (s === undefined) return { status: 'revoked' };
  await proveSessionKey(ctx, request, s);
  // `keyId`: the key the browser seals with, recorded for rotation (docs/key-delivery.md §7.4).
  return { status: await ctx.status(sessionId, typeof keyId === 'string' ? keyId : undefined) };
}

/** `KeyEnvironment.endSession` (its TSDoc is the contract). */
export async function endRequest(ctx: DeliveryContext, request: DeliveryRequest): Promise<void> {
  const { sessionId, endToken, reason } = sessionBody(request.body);
  const s = await ctx.sessions.get(sessionId);
  if (s === undefined) return; // unknown (or long gone): nothing to end
  // Ending a session is harmless to allow, but only to its holder: the end-of-session token
  // (sent synchronously from pagehide) or a proof of the session's key.
  if (endToken === undefined || !ctx.endTokens.valid(sessionId, endToken)) await proveSessionKey(ctx, request, s);
  await ctx.sessions.revoke(sessionId, END_REASONS.has(reason) ? (reason as string) : 'logoff', ctx.now());
}

/** `KeyEnvironment.refreshSession` (its TSDoc is the contract). */
export async function refreshRequest(ctx: DeliveryContext, request: DeliveryRequest): Promise<RefreshResponse> {
  const { who, proof, tokenId, tokenRecordUntil } = await verifyCredential(ctx, request);
  const { sessionId } = sessionBody(request.body);
  const now = ctx.now();
  const s = await ctx.sessions.get(sessionId);
  if (!live(s, now) || s.memberId !== who.memberId || (s.keyThumbprint !== undefined && s.keyThumbprint !== proof?.thumbprint)) throw sessionEnded();
  if (proof !== undefined) await ctx.dpop.consume(proof);
  // The renewed token now belongs to this session: it can resume it, and never open another.
  if ((await ctx.sessions.bindToken(tokenId, sessionId, tokenRecordUntil, now)) !== sessionId) throw tokenRefused('the token has already opened another session');
  // Never past the session's absolute lifetime, never past the token it was refreshed with.
  const target = Math.min(s.createdAt + ctx.lifetimeMs, who.expiresAt ?? Number.MAX_SAFE_INTEGER);
  const expiresAt = await ctx.sessions.extend(sessionId, target, now);
  if (expiresAt === undefined) throw sessionEnded();
  return { protocol: DELIVERY_PROTOCOL, sessionId, expiresAt };
}
