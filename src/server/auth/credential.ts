// What a key-environment request must prove, and the one check every endpoint that takes an
// access token runs: the `Authorization` header, the DPoP proof (with `ath`), the caller's
// `authenticate`, and the binding between the token (`cnf.jkt`) and the proof's key.
import { createHash } from 'node:crypto';
import { astring } from '../../internal/bytes.ts';
import type { DpopChecker, CheckedProof } from './dpop.ts';
import { tokenRefused } from './refusal.ts';

/** What `authenticate` is asked to verify. */
export interface Credential {
  /** The access token from `Authorization: DPoP <token>` (or `Bearer <token>`). */
  token: string;
  /** The scheme that carried it. */
  scheme: 'DPoP' | 'Bearer';
  /** The request's HTTP method. */
  method: string;
  /** The endpoint's URL as the browser called it. */
  url: string;
}

/** Who a token belongs to, as `authenticate` decides. */
export interface Authenticated {
  /** The member signing in. */
  memberId: string;
  /** Members whose records this member may read (e.g. dependants): their keys are delivered too. */
  dependants?: readonly string[];
  /**
   * The token's own expiry (ms since the epoch): a session never outlives the token it was
   * opened or last refreshed with, and the token's single-use record is kept until then. Without
   * it the record is kept for the session lifetime.
   */
  expiresAt?: number;
  /** What identifies the token for single use: its `jti`. Default: the SHA-256 of the whole token. */
  tokenId?: string;
  /**
   * The RFC 7638 thumbprint the token is bound to (its `cnf.jkt`, RFC 9449 §6). When set, the
   * request must carry a DPoP proof signed with that key; when the key environment requires
   * DPoP, a token without it is refused.
   */
  keyThumbprint?: string;
}

/**
 * Verifies an access token and says whose keys it unlocks: return `null` (or throw
 * `TokumeiError` `ERR_AUTH`) to refuse — the browser gets HTTP 401; any other exception is an
 * internal error (HTTP 500). `oidcAuthenticator` is one.
 */
export type Authenticate = (credential: Credential) => Authenticated | null | Promise<Authenticated | null>;

/** What the credential check needs (internal). */
export interface CredentialContext {
  authenticate: Authenticate;
  dpop: DpopChecker;
  dpopRequired: boolean;
  /** When a token without an expiry stops counting for single use. */
  lifetimeMs: number;
  now: () => number;
}

/** A request's verified credential (internal). */
export interface VerifiedCredential {
  who: Authenticated;
  /** The proof, checked but its jti not yet used up: the caller consumes it once authorized. */
  proof: CheckedProof | undefined;
  /** The access token itself (for counting deliveries per token; never stored as is). */
  token: string;
  tokenId: string;
  /** Until when the token's single-use record is kept. */
  tokenRecordUntil: number;
}

/** The request facts the check reads (internal). */
export interface CredentialRequest {
  authorization?: string | undefined;
  dpop?: string | undefined;
  method: string;
  url: string;
}

// RFC 6750 §2.1 b64token; the same syntax for the DPoP scheme (RFC 9449 §7.1).
const AUTHORIZATION = /^(DPoP|Bearer)[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i;
const MAX_TOKEN_CHARS = 16_384;
// A token accepted up to its `exp` plus the authenticator's clock tolerance must still find its
// single-use record: keep records this much longer than the token's expiry.
export const TOKEN_RECORD_MARGIN_MS: number = 5 * 60_000;

/** Parses `Authorization: DPoP <token>` or `Bearer <token>` (scheme case-insensitive). */
export function parseAuthorization(header: string | undefined): { scheme: 'DPoP' | 'Bearer'; token: string } | undefined {
  if (typeof header !== 'string' || header.length > MAX_TOKEN_CHARS) return undefined;
  const m = AUTHORIZATION.exec(header);
  if (m === null) return undefined;
  return { scheme: m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: m[2]! };
}

/**
 * Checks a request that carries an access token: the proof first (so a nonce challenge comes
 * before any token work), then the token, then that the token is bound to the proof's key.
 * @throws TokumeiError `ERR_AUTH` (a refusal); anything `authenticate` throws besides
 */
export async function verifyCredential(ctx: CredentialContext, req: CredentialRequest): Promise<VerifiedCredential> {
  const auth = parseAuthorization(req.authorization);
  if (auth === undefined) throw tokenRefused('no access token (Authorization: DPoP or Bearer)');
  let proof: CheckedProof | undefined;
  if (ctx.dpopRequired || auth.scheme === 'DPoP' || req.dpop !== undefined) {
    // RFC 9449 §7.1: a DPoP-bound token travels under the DPoP scheme, with a proof.
    if (auth.scheme !== 'DPoP') throw tokenRefused('DPoP is required: the Authorization scheme must be DPoP');
    proof = await ctx.dpop.check({ proof: req.dpop, method: req.method, url: req.url, accessToken: auth.token });
  }
  const who = await ctx.authenticate({ token: auth.token, scheme: auth.scheme, method: req.method, url: req.url });
  if (who === null || typeof who !== 'object') throw tokenRefused('authenticate refused the token');
  // A broken `authenticate` (no member id) is an internal error (HTTP 500), not a refusal.
  astring('memberId', who.memberId, true);
  const bound = who.keyThumbprint;
  if (bound !== undefined && typeof bound !== 'string') throw new TypeError(`"keyThumbprint" expected string, got ${typeof bound}`);
  if (proof === undefined && bound !== undefined) throw tokenRefused('the token is DPoP-bound but came without a proof');
  if (proof !== undefined && (ctx.dpopRequired || bound !== undefined) && bound !== proof.thumbprint) {
    throw tokenRefused('the token is not bound to the key that signed the proof (cnf.jkt)');
  }
  const now = ctx.now();
  const id = typeof who.tokenId === 'string' && who.tokenId.length > 0 && who.tokenId.length <= 128 ? who.tokenId : undefined;
  const tokenId = id !== undefined ? `jti:${id}` : `sha256:${createHash('sha256').update(who.tokenId ?? auth.token).digest('base64url')}`;
  const expiry = typeof who.expiresAt === 'number' && Number.isSafeInteger(who.expiresAt) ? who.expiresAt : now + ctx.lifetimeMs;
  return { who, proof, token: auth.token, tokenId, tokenRecordUntil: expiry + TOKEN_RECORD_MARGIN_MS };
}
