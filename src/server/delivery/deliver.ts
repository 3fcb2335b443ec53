// Sealed key delivery (docs/key-delivery.md): authenticate the bearer token, register or resume
// a session, and seal the member's keyring to the browser's ephemeral public key with HPKE.
import { TokumeiError } from '../../errors.ts';
import { fromBase64url, randomBytes, toBase64url, wipe } from '../../internal/bytes.ts';
import { deliveryInfo, DELIVERY_PROTOCOL, encodeKeyringPayload, suiteFor } from '../../delivery/payload.ts';
import { admitToken, rateLimited, type CheckedLimits } from '../limits/delivery-limits.ts';
import { keyringEntries, withUnwrappedKeys } from '../member-keys/versions.ts';
import type { SessionRegistry } from '../sessions/registry.ts';
import { assertMemberId, type MemberKeyStore, type WrappedMemberKey } from '../stores/member-key-store.ts';
import { sealBase } from './hpke-seal.ts';

/** Who a bearer token belongs to, as the caller's `authenticate` function decides. */
export interface Authenticated {
  /** The member signing in. */
  memberId: string;
  /** Members whose records this member may read (e.g. dependants): their keys are delivered too. */
  dependants?: readonly string[];
  /** The token's own expiry (ms since the epoch); the session never outlives it. */
  expiresAt?: number;
}

/** What the browser POSTs, and the token from its `Authorization: Bearer` header. */
export interface DeliveryRequest {
  /** The bearer token (without the `Bearer ` prefix); `undefined` when none was sent. */
  token: string | undefined;
  /** The parsed JSON body: `{ protocol, kem, publicKey }` (docs/key-delivery.md §2). */
  body: unknown;
}

/** The JSON the key environment answers (docs/key-delivery.md §2). */
export interface DeliveryResponse {
  /** `"tokumei-key-delivery/1"`. */
  protocol: typeof DELIVERY_PROTOCOL;
  /** The KEM the browser asked for. */
  kem: 'P-256' | 'X25519';
  /** The new session's id (`s1.` and 22 base64url characters). */
  sessionId: string;
  /** The member whose keyring this is. */
  memberId: string;
  /** The session's absolute expiry, ms since the epoch. */
  expiresAt: number;
  /** base64url of the HPKE `enc` (the ephemeral public key). */
  enc: string;
  /** base64url of the sealed keyring payload (ciphertext ‖ tag). */
  ciphertext: string;
}

/** What {@link KeyEnvironmentOptions.onDeliver} is told: public facts only, never a key. */
export interface DeliveryEvent {
  /** The new session. */
  sessionId: string;
  /** The member who signed in. */
  memberId: string;
  /** The key ids delivered (own versions first, then dependants'). */
  keyIds: string[];
  /** The session's absolute expiry, ms since the epoch. */
  expiresAt: number;
}

/** What a delivery needs from the key environment (internal). */
export interface DeliveryContext {
  store: MemberKeyStore;
  sessions: SessionRegistry;
  authenticate: (token: string) => Authenticated | null | Promise<Authenticated | null>;
  lifetimeMs: number;
  limits: CheckedLimits;
  now: () => number;
  unwrap: (entry: WrappedMemberKey) => Promise<Uint8Array>;
  onDeliver: ((event: DeliveryEvent) => void) | undefined;
  keyLog: ((line: string) => void) | undefined;
}

/** The refusal of a credential: one message, whatever the reason. */
export function authError(cause?: unknown): TokumeiError {
  return new TokumeiError('ERR_AUTH', 'the bearer token was refused', cause === undefined ? undefined : { cause });
}

function formatError(message: string): TokumeiError {
  return new TokumeiError('ERR_FORMAT', message);
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0');
  return s;
}

/** `KeyEnvironment.deliverKeys` (its TSDoc is the contract). */
export async function deliver(ctx: DeliveryContext, request: DeliveryRequest): Promise<DeliveryResponse> {
  const { token, body } = request;
  if (typeof token !== 'string' || token.length === 0) throw authError();
  const who = await ctx.authenticate(token); // its own ERR_AUTH, or an internal error, propagates
  if (who === null || typeof who !== 'object') throw authError();
  assertMemberId(who.memberId); // a broken `authenticate` is an internal error (HTTP 500), not a refusal
  await admitToken(ctx.sessions, ctx.limits, token, ctx.now());
  if (typeof body !== 'object' || body === null) throw formatError('the delivery request must be a JSON object');
  const { protocol, kem, publicKey, sessionId: resume } = body as Record<string, unknown>;
  if (protocol !== DELIVERY_PROTOCOL) throw formatError('unsupported key delivery protocol');
  const suite = suiteFor(kem);
  if (suite === undefined) throw formatError('unsupported KEM');
  const pkR = typeof publicKey === 'string' ? fromBase64url(publicKey) : undefined;
  if (pkR === undefined) throw formatError('publicKey must be base64url');

  if (resume !== undefined && typeof resume !== 'string') throw formatError('sessionId must be a string');

  const { memberId } = who;
  const now = ctx.now();
  let sessionId: string;
  let expiresAt: number;
  if (resume === undefined) {
    expiresAt = Math.min(now + ctx.lifetimeMs, who.expiresAt ?? Number.MAX_SAFE_INTEGER);
    if (expiresAt <= now) throw authError();
    sessionId = `s1.${toBase64url(randomBytes(16))}`;
  } else {
    // Resume (a reload or a second tab in IndexedDB mode): the same session's keyring again,
    // to this request's fresh ephemeral key — only while the session lives, and only for the
    // member it belongs to. A logged-off, revoked, expired or unknown session is refused.
    const s = await ctx.sessions.get(resume);
    if (s === undefined || s.revoked !== undefined || s.expiresAt <= now || s.memberId !== memberId) {
      throw new TokumeiError('ERR_REVOKED', 'the session cannot be resumed');
    }
    ({ sessionId, expiresAt } = s);
  }
  const { entries, primary } = await keyringEntries(ctx.store, memberId, who.dependants ?? []);
  const info = deliveryInfo(memberId, sessionId, expiresAt);

  const sealed = await withUnwrappedKeys(entries, ctx.unwrap, (keys) => {
    const payload = encodeKeyringPayload(keys, primary);
    try {
      const out = sealBase(suite, pkR, info, new Uint8Array(0), payload);
      if (ctx.keyLog !== undefined) for (const k of keys) ctx.keyLog(`MEMBER_KEY ${k.keyId} ${hex(k.key)}`);
      return out;
    } catch (err) {
      if (err instanceof RangeError) throw formatError('publicKey is not a valid public key of the KEM');
      throw err;
    } finally {
      wipe(payload);
    }
  });
  // A resume does not change the key the session is recorded as sealing with: its other tabs
  // may still hold the older one. The browser reports its own at its next status check.
  if (resume === undefined && !(await ctx.sessions.add({ sessionId, memberId, createdAt: now, expiresAt, primaryKeyId: entries[primary]!.keyId }, ctx.limits.cap))) {
    throw rateLimited();
  }
  ctx.onDeliver?.({ sessionId, memberId, keyIds: entries.map((e) => e.keyId), expiresAt });
  return {
    protocol: DELIVERY_PROTOCOL,
    kem: kem as 'P-256' | 'X25519',
    sessionId,
    memberId,
    expiresAt,
    enc: toBase64url(sealed.enc),
    ciphertext: toBase64url(sealed.ciphertext),
  };
}
