/**
 * The stable error codes of tokumei. Code that reacts to a failure should switch on
 * {@link TokumeiError.code}, never on a message.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_DECRYPTION_FAILED` | a sealed value (or a sealed key delivery) did not authenticate: tampered, truncated, moved to another field or record, or opened with the wrong key. One opaque error for every case. |
 * | `ERR_SESSION_CLOSED` | the session was wiped (logoff, idle, expiry, pagehide, remote logoff, revocation); sign in again. |
 * | `ERR_KEY_UNAVAILABLE` | no key for the key id a value names, or the key environment could not give the member's keys: its `reason` says why ({@link KeyUnavailableReason}). |
 * | `ERR_AUTH` | the key environment refused the bearer token (HTTP 401/403). |
 * | `ERR_STORAGE_UNAVAILABLE` | IndexedDB cannot be used (private mode, quota, a lost connection). |
 * | `ERR_FORMAT` | malformed input: an envelope that does not parse, an unknown format version, a non-string identity value. |
 * | `ERR_SCHEMA` | a record does not match its schema (a missing or unknown field), or a schema operation does not apply to a field. |
 * | `ERR_DESTROYED` | a key handle or keyring was used after `destroy()`. |
 * | `ERR_TIMEOUT` | an operation against the key environment did not finish in time. |
 * | `ERR_REVOKED` | the key environment has revoked the session. |
 * | `ERR_STALE_RECORD` | a record's seal is valid but its version is older than the one the caller asked for (`openRecord`'s `minVersion`): the data environment served an older copy of the record. |
 * | `ERR_CONFLICT` | a write to the key environment's store was refused because what it would change is taken or changed meanwhile (a key id that exists, a key version another writer added first, an entry updated concurrently); nothing was written. |
 * | `ERR_RATE_LIMITED` | the key environment refused a delivery over a ceiling (deliveries per token, sessions per member; HTTP 429). |
 * | `ERR_KEY_IN_USE` | a key version cannot be retired yet: a live session still seals with it. |
 */
export type TokumeiErrorCode =
  | 'ERR_DECRYPTION_FAILED'
  | 'ERR_SESSION_CLOSED'
  | 'ERR_KEY_UNAVAILABLE'
  | 'ERR_AUTH'
  | 'ERR_STORAGE_UNAVAILABLE'
  | 'ERR_FORMAT'
  | 'ERR_SCHEMA'
  | 'ERR_DESTROYED'
  | 'ERR_TIMEOUT'
  | 'ERR_REVOKED'
  | 'ERR_CONFLICT'
  | 'ERR_RATE_LIMITED'
  | 'ERR_KEY_IN_USE'
  | 'ERR_STALE_RECORD';

/**
 * Why `httpKeyProvider` could not get the member's keys, on its `ERR_KEY_UNAVAILABLE` errors
 * ({@link TokumeiError.reason}); the troubleshooting table of docs/integration.md says what to do:
 *
 * | reason | what happened | retried |
 * | --- | --- | --- |
 * | `'no-key'` | the key environment has no key for this member (its HTTP 404 `ERR_KEY_UNAVAILABLE`) | no |
 * | `'outage'` | the key environment cannot deliver now: its HSM, KMS or store is down (503), an internal error, an overloaded gateway (5xx, 408, 429) | yes, then this |
 * | `'unreachable'` | no answer: offline, DNS, TLS, connection refused, the key environment not running | yes, then this |
 * | `'csp'` | the page's Content-Security-Policy refused the request: its `connect-src` lacks the key environment's origin (nothing was sent) | no |
 * | `'cors'` | the key environment is on another origin and its CORS answer does not allow this page: `Access-Control-Allow-Origin` lacks the page's origin (`keyEnvironmentHandler`'s `allowOrigins`), or `Access-Control-Allow-Headers` lacks `DPoP` (a gateway's own CORS); or a gateway in front of it answers an outage with an error page that has no CORS headers, which looks the same to a page | yes, then this |
 * | `'not-key-environment'` | the URL answered, but not as the key environment: an HTML page (a single-page app's fallback), not JSON, another server's 404, a refusal of the request's shape (400, 413, 415: another tokumei version) | no |
 *
 * A script sees a CSP or CORS refusal only as a network error; `httpKeyProvider` tells them
 * apart from a network failure with one `no-cors` request to the same URL (which CORS lets
 * through and CSP refuses with a `securitypolicyviolation` event), so `'csp'` and `'cors'` are
 * reported in a page or worker only — in Node every request without an answer is `'unreachable'`.
 */
export type KeyUnavailableReason = 'no-key' | 'outage' | 'unreachable' | 'csp' | 'cors' | 'not-key-environment';

/**
 * What the HTTP 401 answering a refused credential says (RFC 6750 §3.1, RFC 9449 §7.1, §8, §9),
 * on the `ERR_AUTH` errors of `tokumei/server` ({@link TokumeiError.challenge}); `authRefusal`
 * (from `tokumei/server`) turns it into the status and headers:
 *
 * | `error` | when | the answer |
 * | --- | --- | --- |
 * | `'use_dpop_nonce'` | the DPoP proof passed every check but lacks the server's current nonce | 401, `WWW-Authenticate: DPoP error="use_dpop_nonce"` and `DPoP-Nonce: <nonce>`; the client signs a new proof with that nonce and retries once |
 * | `'invalid_dpop_proof'` | the proof is missing, malformed, for another method, URL or token, too old, or replayed | 401, `WWW-Authenticate: DPoP error="invalid_dpop_proof"`; not worth retrying |
 * | `'invalid_token'` | no access token, or one refused: expired, another audience, bound to another key than the proof's (RFC 9449 §7.1), already used | 401, `WWW-Authenticate: DPoP error="invalid_token"` (or on the `Bearer` challenge); not worth retrying |
 *
 * The nonce is public (it is sent in a header to anyone who asks); nothing else of the request
 * is in it.
 */
export type AuthChallenge =
  | {
      /** The proof lacks the server's current nonce: the client retries with `nonce`. */
      readonly error: 'use_dpop_nonce';
      /** The server's current nonce, for the `DPoP-Nonce` header. */
      readonly nonce: string;
    }
  | {
      /** The DPoP proof is refused. */
      readonly error: 'invalid_dpop_proof';
    }
  | {
      /** The access token is refused (or missing). */
      readonly error: 'invalid_token';
    };

/**
 * The one error family for runtime and domain failures. A caller's programming mistake (a key
 * that is not a `Uint8Array`, a key of the wrong length) is a built-in `TypeError` or
 * `RangeError` instead.
 *
 * Messages never contain a key, a plaintext value or anything derived from one; they are fixed
 * per situation. `cause` carries the underlying error where one exists (never for
 * `ERR_DECRYPTION_FAILED`, whose cause could be an oracle). An error about one field of a
 * record names it in `field` (and in the message), never its value.
 *
 * @example
 * ```ts
 * import { openRecord, TokumeiError } from 'tokumei';
 * try {
 *   openRecord(key, memberSchema, sealed, { recordId: 'M000001' });
 * } catch (err) {
 *   if (err instanceof TokumeiError && err.code === 'ERR_DECRYPTION_FAILED') showTampered();
 *   else throw err;
 * }
 * ```
 */
export class TokumeiError extends Error {
  /** The stable, machine-readable code. */
  readonly code: TokumeiErrorCode;
  /** The record field the failure is about (`'fullName'`, `'$seal'`), when it is about one. */
  readonly field?: string;
  /** On `ERR_KEY_UNAVAILABLE` from `httpKeyProvider`: why, see {@link KeyUnavailableReason}. */
  declare readonly reason?: KeyUnavailableReason;
  /**
   * On `ERR_AUTH` from `tokumei/server` (`dpopVerifier`, `oidcAuthenticator`, a key
   * environment): which refusal this is, so a resource server answers it as RFC 9449 asks —
   * see {@link AuthChallenge}.
   */
  declare readonly challenge?: AuthChallenge;

  /**
   * @param code - the stable error code
   * @param message - a fixed, secret-free description
   * @param options - `cause`, passed through to `Error`; `field`, the record field concerned
   */
  constructor(code: TokumeiErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options);
    this.name = 'TokumeiError';
    this.code = code;
    if (options?.field !== undefined) this.field = options.field;
  }
}

/** The single message of every decryption failure: no detail about which check failed. */
export const DECRYPTION_FAILED_MESSAGE = 'decryption failed';

/**
 * Creates the one opaque decryption error (internal). About a record field, the message names
 * the field — `decryption failed (field "fullName")` — and still says nothing of which check failed.
 */
export function decryptionFailed(field?: string): TokumeiError {
  return fieldError('ERR_DECRYPTION_FAILED', DECRYPTION_FAILED_MESSAGE, field);
}

/** An error about one record field (named, when known), never showing its value (internal). */
export function fieldError(code: TokumeiErrorCode, message: string, field: string | undefined): TokumeiError {
  return field === undefined ? new TokumeiError(code, message) : new TokumeiError(code, `${message} (field "${field}")`, { field });
}
