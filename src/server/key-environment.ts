// The key environment's public surface: one documented method per operation, each delegating to
// its concern — member keys (member-keys/), rotation (rotation/), delivery and session requests
// (delivery/), the 401 challenge (auth/) — over the parts composed from the options (compose.ts).
import { astring } from '../internal/bytes.ts';
import type { Keyring } from '../keys/keyring.ts';
import type { SessionStatus } from '../session/key-provider.ts';
import { authChallenge } from './auth/challenge.ts';
import { composeEnvironment, type EnvironmentParts } from './compose.ts';
import { deliver, type DeliveryRequest, type DeliveryResponse } from './delivery/deliver.ts';
import { endRequest, refreshRequest, statusRequest, type RefreshResponse, type SessionStatusResponse } from './delivery/session-requests.ts';
import { listVersions, newVersion, openMemberKeyring } from './member-keys/admin.ts';
import type { KeyVersion } from './member-keys/versions.ts';
import type { KeyEnvironmentOptions } from './options.ts';
import { progressOf, statusOf, type RekeyProgress } from './rotation/rekey.ts';
import { retireVersion } from './rotation/retire.ts';
import { assertMemberId } from './stores/member-key-store.ts';

export type { Authenticate, Authenticated, Credential } from './auth/credential.ts';
export type { DeliveryEvent, DeliveryRequest, DeliveryResponse } from './delivery/deliver.ts';
export type { RefreshResponse, SessionStatusResponse } from './delivery/session-requests.ts';
export type { KeyVersion } from './member-keys/versions.ts';
export type { DeliveryLimits, TokenRate } from './limits/delivery-limits.ts';
export type { RekeyProgress } from './rotation/rekey.ts';
export type { KeyEnvironmentDpopOptions, KeyEnvironmentOptions } from './options.ts';

/**
 * The key environment's toolkit. Create one with {@link createKeyEnvironment}; serve it over
 * HTTP with {@link keyEnvironmentHandler}.
 *
 * @example
 * ```ts
 * import { createKeyEnvironment, masterKeyFromEnv, oidcAuthenticator, openDatabase } from 'tokumei/server';
 * const db = await openDatabase({ url: process.env.DATABASE_URL! });
 * const env = createKeyEnvironment({
 *   masterKey: masterKeyFromEnv('TOKUMEI_MASTER_KEY'),
 *   store: db.memberKeys,
 *   sessions: db.sessions,
 *   audit: db.audit,
 *   authenticate: oidcAuthenticator({ issuer: 'https://sso.example', audience: 'https://keys.example' }),
 * });
 * const { keyId } = await env.createMemberKey('M000001');
 * ```
 */
export class KeyEnvironment {
  readonly #parts: EnvironmentParts;

  /** @internal Use {@link createKeyEnvironment}. */
  constructor(options: KeyEnvironmentOptions) {
    this.#parts = composeEnvironment(options);
  }

  /**
   * Makes sure a member has a key: returns their current key version, creating version 1 (a
   * fresh random key, wrapped under the master key) when they have none. Safe to call again.
   *
   * @param memberId - the member
   * @param options - `keyId` for a new key (a random `k1.…` id by default; key ids appear in
   *   every sealed value, so do not put a member id in them)
   * @returns the current key version
   * @throws RangeError for a malformed member id or key id; TokumeiError `ERR_CONFLICT` when
   *   `keyId` already exists in the store (nothing is written)
   * @example
   * ```ts
   * const { keyId } = await env.createMemberKey('M000001');
   * ```
   */
  async createMemberKey(memberId: string, options: { keyId?: string } = {}): Promise<KeyVersion> {
    return newVersion(this.#parts.keys, memberId, options, true);
  }

  /**
   * Rotates a member's key: adds a new version that seals from now on. Older versions stay
   * active (delivered, so records sealed under them keep opening) until
   * {@link KeyEnvironment.retireKeyVersion}. Live sessions learn of the new version at their
   * next status check (`rekey`: the browser fetches the keyring again and seals with the new
   * key); then move records with `reencryptRecords`, then retire the old version. The steps
   * are in docs/key-delivery.md §7.4.
   *
   * @param memberId - the member
   * @param options - `keyId` for the new version (random by default)
   * @returns the new key version
   * @throws RangeError for a malformed member id or key id; TokumeiError `ERR_CONFLICT` when
   *   `keyId` already exists in the store (nothing is written)
   * @example
   * ```ts
   * const v2 = await env.rotateMemberKey('M000001');
   * ```
   */
  async rotateMemberKey(memberId: string, options: { keyId?: string } = {}): Promise<KeyVersion> {
    return newVersion(this.#parts.keys, memberId, options, false);
  }

  /**
   * How far a member's live sessions have followed a rotation: retire the old version once
   * `behind` and `settling` are both 0 and the records were moved (`reencryptRecords`).
   *
   * @param memberId - the member
   * @returns the member's primary key id and the counts of live, behind and settling sessions
   * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when the member has no key
   * @example
   * ```ts
   * const { behind, settling } = await env.rekeyProgress('M000001');
   * ```
   */
  async rekeyProgress(memberId: string): Promise<RekeyProgress> {
    assertMemberId(memberId);
    return progressOf(this.#parts.rekey, memberId);
  }

  /**
   * Retires an older key version: it is no longer delivered. Do this only after every record
   * moved to a newer version (`reencryptRecords` reports it) and every session follows the
   * newer version: a version that a live session still seals with — or may, within
   * `rekeyGraceMs` of a session switching keys or being revoked — is refused, so that no edit
   * made in a browser during the rotation is sealed under a key that is no longer delivered.
   *
   * @param memberId - the member
   * @param keyId - an active version other than the newest
   * @throws RangeError when `keyId` is not an older active version of this member;
   *   TokumeiError `ERR_KEY_IN_USE` while a session may still seal with it (see
   *   {@link KeyEnvironment.rekeyProgress}); `ERR_CONFLICT` when the entry kept changing meanwhile
   * @example
   * ```ts
   * await env.retireKeyVersion('M000001', v1.keyId);
   * ```
   */
  async retireKeyVersion(memberId: string, keyId: string): Promise<void> {
    return retireVersion(this.#parts.keys, this.#parts.rekey, memberId, keyId);
  }

  /**
   * The key versions of a member, oldest first (public facts, no key material).
   * @param memberId - the member
   * @returns the versions (empty when the member has no key)
   * @example
   * ```ts
   * const versions = await env.keyVersions('M000001');
   * ```
   */
  async keyVersions(memberId: string): Promise<KeyVersion[]> {
    return listVersions(this.#parts.keys, memberId);
  }

  /**
   * A keyring with a member's active keys (their newest version is the primary) and, when
   * given, dependants' keys — for producers that seal records in a trusted back office, and for
   * `reencryptRecords`. The caller owns the keyring and must `destroy()` it.
   *
   * @param memberId - the member
   * @param options - `dependants`: other members whose keys to include
   * @returns the keyring
   * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when the member has no key;
   *   `ERR_DECRYPTION_FAILED` when a wrapped key does not unwrap
   * @example
   * ```ts
   * const ring = await env.openKeyring('M000001');
   * try { sealed = sealRecord(ring, memberSchema, record, { recordId: 'M000001' }); } finally { ring.destroy(); }
   * ```
   */
  async openKeyring(memberId: string, options: { dependants?: readonly string[] } = {}): Promise<Keyring> {
    return openMemberKeyring(this.#parts.keys, memberId, options);
  }

  /**
   * Sealed key delivery (docs/key-delivery.md §2.1): verifies the credential — the DPoP proof
   * (signature, `htm`, `htu`, `iat`, `ath`, nonce, unused `jti`), the access token through
   * `authenticate`, and that the token is bound to the proof's key — then opens a session bound
   * to that key and seals the member's keyring (own active versions, newest as primary, plus the
   * dependants' keys `authenticate` allows) to the browser's ephemeral public key with HPKE base
   * mode — DHKEM(P-256 or X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM — with `info` binding
   * protocol, member, session id and expiry. Every unwrapped key is wiped before this returns.
   *
   * One fresh session per token: a token that already opened (or refreshed, or resumed) a
   * session is refused here; it can only resume that session, while it is live. With
   * `sessionId` in the body, resumes that session (a reload or a second tab of a portal in
   * IndexedDB mode): the same session id and expiry, sealed to the new public key.
   *
   * @param request - the credential headers, method, public URL and parsed JSON body
   * @returns the JSON response for the browser
   * @throws TokumeiError `ERR_AUTH` (no or refused credential, a replayed proof, a token already
   *   used; for a missing or stale nonce too — its `challenge` says which, and `authRefusal`
   *   gives the 401's headers),
   *   `ERR_FORMAT` (malformed body or public key), `ERR_KEY_UNAVAILABLE` (the member has no key),
   *   `ERR_REVOKED` (a session to resume that was logged off, revoked, has expired, is unknown,
   *   is another member's or is bound to another key), `ERR_RATE_LIMITED` (over the token's
   *   delivery rate, or the member's session cap with `whenSessionLimit: 'refuse'`; see
   *   {@link KeyEnvironmentOptions.limits})
   * @example
   * ```ts
   * const response = await env.deliverKeys({
   *   authorization: req.headers.authorization, dpop: req.headers.dpop,
   *   method: 'POST', url: 'https://keys.example/session', body: JSON.parse(requestBody),
   * });
   * ```
   */
  deliverKeys(request: DeliveryRequest): Promise<DeliveryResponse> {
    if (typeof request !== 'object' || request === null) return Promise.reject(new TypeError(`"request" expected object, got ${request === null ? 'null' : typeof request}`));
    return deliver(this.#parts.delivery, request);
  }

  /**
   * Extends a live session with a renewed access token (docs/key-delivery.md §2.4), without a
   * new key delivery: the same credential checks as {@link KeyEnvironment.deliverKeys}, the same
   * member, a proof of the session's key; the token is bound to this session; the session's
   * expiry moves to the token's expiry, never past the session lifetime from its start.
   * @param request - as for `deliverKeys`, body `{ protocol, sessionId }`
   * @returns `{ protocol, sessionId, expiresAt }`
   * @throws TokumeiError `ERR_AUTH`, `ERR_FORMAT`, `ERR_REVOKED` (the session has ended, or is
   *   another member's or key's)
   * @example
   * ```ts
   * const { expiresAt } = await env.refreshSession({ authorization, dpop, method: 'POST', url, body });
   * ```
   */
  refreshSession(request: DeliveryRequest): Promise<RefreshResponse> {
    return refreshRequest(this.#parts.delivery, request);
  }

  /**
   * The browser's status request (docs/key-delivery.md §2.2): a session bound to a DPoP key
   * answers only to a proof of that key; an unknown session is `revoked`.
   * @param request - body `{ protocol, sessionId }`, the `DPoP` header, method and URL
   * @returns `{ status: 'active' | 'revoked' }`
   * @throws TokumeiError `ERR_AUTH` (no proof of the session's key), `ERR_FORMAT`
   * @example
   * ```ts
   * const { status } = await env.checkSession({ dpop, method: 'POST', url, body });
   * ```
   */
  checkSession(request: DeliveryRequest): Promise<SessionStatusResponse> {
    return statusRequest(this.#parts.delivery, request);
  }

  /**
   * The browser's end-of-session request (docs/key-delivery.md §2.3), sent at every wipe: the
   * session is revoked with the wipe reason the body names (`logoff` by default). A bound
   * session is ended only with its end-of-session token or a proof of its key; an unknown one is
   * ignored.
   * @param request - body `{ protocol, sessionId, endToken?, reason? }`, the `DPoP` header, method and URL
   * @throws TokumeiError `ERR_AUTH` (neither the session's end token nor a proof of its key), `ERR_FORMAT`
   * @example
   * ```ts
   * await env.endSession({ dpop, method: 'POST', url, body });
   * ```
   */
  endSession(request: DeliveryRequest): Promise<void> {
    return endRequest(this.#parts.delivery, request);
  }

  /**
   * The current DPoP nonce (RFC 9449 §8) for the `DPoP-Nonce` response header, or `undefined`
   * when nonces are off. A refusal for a missing or stale nonce is answered with HTTP 401,
   * `WWW-Authenticate: DPoP error="use_dpop_nonce"` and this value.
   * @returns the nonce
   * @example
   * ```ts
   * const nonce = env.dpopNonce();
   * if (nonce !== undefined) res.setHeader('DPoP-Nonce', nonce);
   * ```
   */
  dpopNonce(): string | undefined {
    return this.#parts.delivery.dpop.nonce();
  }

  /**
   * The `WWW-Authenticate` challenge of a 401 from this key environment (RFC 6750 §3, RFC 9449
   * §7.1): `DPoP algs="ES256"` (with `error="…"` when given) where DPoP is required, else also
   * `Bearer`.
   * @param error - the challenge's `error`, e.g. `use_dpop_nonce`
   * @returns the header value
   * @example
   * ```ts
   * res.setHeader('WWW-Authenticate', env.authChallenge('invalid_token'));
   * ```
   */
  authChallenge(error?: string): string {
    const { dpop, dpopRequired } = this.#parts.delivery;
    return authChallenge(dpop.algorithms, dpopRequired, error);
  }

  /**
   * Whether a session may go on: `'revoked'` when it was revoked, logged off, has expired, or
   * is unknown; `'rekey'` when it seals with an older key version than the member's newest
   * (after a rotation): the browser then fetches the keyring again (a resume) and seals with
   * the new key. The key id the browser reports (`keyId`, its keyring's primary) is recorded
   * for the session, so that rotation knows when no session seals with an old version.
   * @param sessionId - from the delivery
   * @param options - `keyId`: the key id the browser seals with (ignored unless it is one of the
   *   member's)
   * @returns `'active'`, `'rekey'` or `'revoked'`
   * @example
   * ```ts
   * if ((await env.sessionStatus(id, { keyId })) === 'revoked') console.log(`session ${id} has ended`);
   * ```
   */
  async sessionStatus(sessionId: string, options: { keyId?: string } = {}): Promise<SessionStatus> {
    if (typeof sessionId !== 'string') return 'revoked';
    return statusOf(this.#parts.rekey, sessionId, typeof options?.keyId === 'string' ? options.keyId : undefined);
  }

  /**
   * Revokes one session (an administrator acted, the member logged off elsewhere). The browser
   * learns it at its next status check and wipes with reason `revoked`.
   * @param sessionId - the session
   * @param reason - recorded with the revocation; default `'revoked'`
   * @returns `false` when the session is unknown
   * @example
   * ```ts
   * await env.revokeSession(sessionId, 'admin');
   * ```
   */
  async revokeSession(sessionId: string, reason = 'revoked'): Promise<boolean> {
    astring('sessionId', sessionId, true);
    return this.#parts.sessions.revoke(sessionId, reason, this.#parts.now());
  }

  /**
   * Revokes every live session of a member (e.g. after a password reset).
   * @param memberId - the member
   * @param reason - recorded with the revocation; default `'revoked'`
   * @returns how many sessions were revoked
   * @example
   * ```ts
   * await env.revokeMemberSessions('M000001');
   * ```
   */
  async revokeMemberSessions(memberId: string, reason = 'revoked'): Promise<number> {
    assertMemberId(memberId);
    return this.#parts.sessions.revokeMember(memberId, reason, this.#parts.now());
  }

  /**
   * Records a logoff notification from the browser (the session is revoked with reason
   * `logoff`). Unknown sessions are ignored.
   * @param sessionId - the session
   * @example
   * ```ts
   * await env.logoff(sessionId);
   * ```
   */
  async logoff(sessionId: string): Promise<void> {
    if (typeof sessionId !== 'string' || sessionId.length === 0) return;
    await this.#parts.sessions.revoke(sessionId, 'logoff', this.#parts.now());
  }
}

/**
 * Creates the key environment's toolkit over a master key, a member-key store and the
 * verification of access tokens. DPoP is required by default (`dpop: { required: false }`
 * accepts plain bearer tokens, for development and tests).
 *
 * @param options - see {@link KeyEnvironmentOptions}
 * @returns the key environment
 * @throws TypeError / RangeError when an option is missing or malformed
 * @example
 * ```ts
 * import { createKeyEnvironment, masterKeyFromFile, oidcAuthenticator, openDatabase } from 'tokumei/server';
 * const db = await openDatabase({ dir: './data/key-env-db' }); // embedded; { url } for a server
 * const env = createKeyEnvironment({
 *   masterKey: masterKeyFromFile('./data/master.key'),
 *   store: db.memberKeys,
 *   sessions: db.sessions,
 *   audit: db.audit,
 *   authenticate: oidcAuthenticator({
 *     issuer: 'https://sso.example',
 *     audience: 'https://keys.example',                     // the key environment's resource indicator
 *     dependants: (claims) => (claims.dependants as string[] | undefined) ?? [],
 *   }),
 *   sharedSecret: secretFromYourVault,                      // the same on every instance
 * });
 * ```
 */
export function createKeyEnvironment(options: KeyEnvironmentOptions): KeyEnvironment {
  return new KeyEnvironment(options);
}
