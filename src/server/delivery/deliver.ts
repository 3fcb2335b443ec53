// Sealed key delivery (docs/key-delivery.md): verify the credential (DPoP proof and access
// token), open or resume a session — one fresh session per token — and seal the member's keyring
// to the browser's ephemeral public key with HPKE.
import { TokumeiError } from '../../errors.ts';
import { fromBase64url, randomBytes, toBase64url, wipe } from '../../internal/bytes.ts';
import { deliveryInfo, DELIVERY_PROTOCOL, encodeKeyringPayload, suiteFor } from '../../delivery/payload.ts';
import type { CheckedLimits } from '../limits/delivery-limits.ts';
import { keyringEntries, withUnwrappedKeys } from '../member-keys/versions.ts';
import { verifyCredential, type CredentialContext } from '../auth/credential.ts';
import type { EndTokens } from '../auth/end-token.ts';
import { tokenRefused } from '../auth/refusal.ts';
import type { DeliveryAuditLog } from '../audit/delivery-audit.ts';
import type { SessionRecord, SessionRegistry } from '../sessions/registry.ts';
import { assertMemberId, type MemberKeyStore, type WrappedMemberKey } from '../stores/member-key-store.ts';
import type { SessionStatus } from '../../session/key-provider.ts';
import { admitDelivery, commitDelivery } from './commit.ts';
import { encapsulate } from './hpke-seal.ts';
import { sealWithSharedSecret } from '../../delivery/hpke.ts';

/**
 * A request to the key environment, as its HTTP handler saw it: the credential headers, the
 * method and public URL (which a DPoP proof signs), and the parsed JSON body.
 */
export interface DeliveryRequest {
  /** The `Authorization` header: `DPoP <token>` (or `Bearer <token>` where DPoP is not required). */
  authorization?: string | undefined;
  /** The `DPoP` header: one proof JWT (RFC 9449). */
  dpop?: string | undefined;
  /** The HTTP method, `POST`. */
  method: string;
  /** The endpoint's URL as the browser called it (the proof's `htu`; query and fragment ignored). */
  url: string;
  /** The parsed JSON body (docs/key-delivery.md §2). */
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
  /** The session's end-of-session token: ends this session (and nothing else) without a DPoP proof, for `pagehide`. */
  endToken: string;
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
export interface DeliveryContext extends CredentialContext {
  store: MemberKeyStore;
  sessions: SessionRegistry;
  limits: CheckedLimits;
  unwrap: (entry: WrappedMemberKey) => Promise<Uint8Array>;
  onDeliver: ((event: DeliveryEvent) => void) | undefined;
  audit: DeliveryAuditLog | undefined;
  keyLog: ((line: string) => void) | undefined;
  endTokens: EndTokens;
  /** A session's status, recording the key id its browser reports sealing with (rotation). */
  status: (sessionId: string, keyId: string | undefined) => Promise<SessionStatus>;
}

/** `ERR_FORMAT` with a fixed message (HTTP 400). */
export function formatError(message: string): TokumeiError {
  return new TokumeiError('ERR_FORMAT', message);
}

/** The session cannot be resumed, refreshed or used (HTTP 410). */
export function sessionEnded(): TokumeiError {
  return new TokumeiError('ERR_REVOKED', 'the session has ended');
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0');
  return s;
}

/** `KeyEnvironment.deliverKeys` (its TSDoc is the contract). */
export async function deliver(ctx: DeliveryContext, request: DeliveryRequest): Promise<DeliveryResponse> {
  const { who, proof, token, tokenId, tokenRecordUntil } = await verifyCredential(ctx, request);
  assertMemberId(who.memberId); // a broken `authenticate` is an internal error (HTTP 500), not a refusal
  const ownVersions = await admitDelivery(ctx, token, ctx.now(), who.memberId);
  const { body } = request;
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
  let resumed: SessionRecord | undefined;
  if (resume === undefined) {
    expiresAt = Math.min(now + ctx.lifetimeMs, who.expiresAt ?? Number.MAX_SAFE_INTEGER);
    if (expiresAt <= now) throw tokenRefused('the token has expired');
    sessionId = `s1.${toBase64url(randomBytes(16))}`;
  } else {
    // Resume (a reload or a second tab in IndexedDB mode): the same session's keyring again,
    // to this request's fresh ephemeral key — only while the session lives, only for the member
    // it belongs to, and only with a proof of the key it is bound to.
    const s = await ctx.sessions.get(resume);
    if (s === undefined || s.revoked !== undefined || s.expiresAt <= now || s.memberId !== memberId || (s.keyThumbprint !== undefined && s.keyThumbprint !== proof?.thumbprint)) {
      throw sessionEnded();
    }
    ({ sessionId, expiresAt } = s);
    resumed = s;
  }
  const { entries, primary } = await keyringEntries(ctx.store, memberId, who.dependants ?? [], ownVersions);
  const info = deliveryInfo(memberId, sessionId, expiresAt);

  // The KEM first: a public key that is not a valid point is refused before any member key is
  // unwrapped (each unwrap may be a call to an HSM or KMS), since a request refused here never
  // reaches the commit that counts it against the token's rate.
  let encap: { enc: Uint8Array; shared: Uint8Array };
  try {
    encap = encapsulate(suite, pkR);
  } catch (err) {
    if (err instanceof RangeError) throw formatError('publicKey is not a valid public key of the KEM');
    throw err;
  }
  let sealed: { enc: Uint8Array; ciphertext: Uint8Array };
  try {
    sealed = await withUnwrappedKeys(entries, ctx.unwrap, (keys) => {
      const payload = encodeKeyringPayload(keys, primary);
      try {
        const out = { enc: encap.enc, ciphertext: sealWithSharedSecret(suite, encap.shared, info, new Uint8Array(0), payload) };
        if (ctx.keyLog !== undefined) for (const k of keys) ctx.keyLog(`MEMBER_KEY ${k.keyId} ${hex(k.key)}`);
        return out;
      } finally {
        wipe(payload);
      }
    });
  } finally {
    wipe(encap.shared);
  }
  const keyIds = entries.map((e) => e.keyId);
  // Only now, with the response ready, is the credential used up and the delivery recorded.
  // A resume does not change the key the session is recorded as sealing with: its other tabs
  // may still hold the older one. The browser reports its own at its next status check. A
  // resumed session that ended while its keys were unwrapped is refused at the commit.
  const answered = await commitDelivery(ctx, {
    at: now,
    token,
    tokenId,
    tokenRecordUntil,
    proof,
    session:
      resumed === undefined
        ? { added: { sessionId, memberId, createdAt: now, expiresAt, primaryKeyId: entries[primary]!.keyId, ...(proof === undefined ? {} : { keyThumbprint: proof.thumbprint }) } }
        : { resumed },
    event: { at: now, kind: resumed === undefined ? 'delivered' : 'resumed', memberId, sessionId, keyIds, expiresAt },
  });
  if (!answered) throw sessionEnded();
  ctx.onDeliver?.({ sessionId, memberId, keyIds, expiresAt });
  return {
    protocol: DELIVERY_PROTOCOL,
    kem: kem as 'P-256' | 'X25519',
    sessionId,
    memberId,
    expiresAt,
    enc: toBase64url(sealed.enc),
    ciphertext: toBase64url(sealed.ciphertext),
    endToken: ctx.endTokens.issue(sessionId),
  };
}
