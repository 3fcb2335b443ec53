// `httpKeyProvider`: the browser side of key delivery over HTTP (docs/key-delivery.md).
import { TokumeiError, decryptionFailed, type KeyUnavailableReason } from '../errors.ts';
import { ainteger, astring, fromBase64url, toBase64url, wipe } from '../internal/bytes.ts';
import type { KeyProvider, SessionKeys, SessionStatus } from '../session/key-provider.ts';
import { typeName } from '../session/options.ts';
import { checkDpopKey, dpopProof } from './dpop.ts';
import { whyNoAnswer } from './no-answer.ts';
import { generateRecipientKeyPair, openBase, type RecipientKeyPair } from './open.ts';
import { decodeKeyringPayload, deliveryInfo, DELIVERY_PROTOCOL, suiteFor, type KemName } from './payload.ts';

/** Options of {@link httpKeyProvider}. */
export interface HttpKeyProviderOptions {
  /** The key environment's delivery endpoint (absolute, or relative to the page). */
  url: string;
  /** Returns the member's current access token for the key environment; called for each delivery and refresh. */
  getToken: () => string | Promise<string>;
  /**
   * The DPoP key pair (RFC 9449) the app's OIDC client binds its access tokens to: ECDSA P-256,
   * private key non-extractable. Every request carries a fresh proof signed with it, and the
   * token is sent as `Authorization: DPoP`. Without it the token is sent as a plain bearer token,
   * which a key environment that requires DPoP (the default) refuses.
   */
  dpopKey?: CryptoKeyPair;
  /**
   * The member the app signed in (make the provider once the app knows who): a delivery of
   * anyone else's keys is refused (`ERR_AUTH`) before anything is opened, and that session is
   * ended.
   */
  memberId?: string;
  /**
   * Deadline in ms for one whole operation — for `fetchKeys` every attempt and back-off
   * together; for the other requests the one request. When it passes the operation fails with
   * `ERR_TIMEOUT`. Default 10,000.
   */
  timeoutMs?: number;
  /** How many times a network error, HTTP 408/429 or 5xx is retried (with exponential back-off) before `ERR_KEY_UNAVAILABLE`. Default 2. */
  retries?: number;
  /** The DHKEM of the ephemeral key pair: `'P-256'` (default) or `'X25519'`. */
  kem?: 'P-256' | 'X25519';
  /** Session status endpoint. Default `${url}/status`. */
  checkUrl?: string;
  /** End-of-session endpoint. Default `${url}/logoff`. */
  logoffUrl?: string;
  /** Session refresh endpoint. Default `${url}/refresh`. */
  refreshUrl?: string;
  /** The `fetch` to use (tests, instrumented clients). Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
}

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2_000;
const MAX_ID_CHARS = 256;
const EMPTY_AAD = /* @__PURE__ */ new Uint8Array(0);

/** `ERR_KEY_UNAVAILABLE` with its `reason` (docs/integration.md's troubleshooting table says what to do). */
const unavailable = (detail: string, reason: KeyUnavailableReason = 'not-key-environment', cause?: unknown): TokumeiError =>
  Object.assign(new TokumeiError('ERR_KEY_UNAVAILABLE', `key environment: ${reason} (${detail})`, { cause }), { reason });

function authError(cause?: unknown): TokumeiError {
  return new TokumeiError('ERR_AUTH', 'credential refused', cause === undefined ? undefined : { cause });
}

/** Runs `task` under a deadline and the caller's signal; maps the deadline to `ERR_TIMEOUT`. */
async function withDeadline<T>(timeoutMs: number, callerSignal: AbortSignal | undefined, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
  callerSignal?.throwIfAborted();
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    return await task(callerSignal === undefined ? deadline : AbortSignal.any([callerSignal, deadline]));
  } catch (err) {
    if (callerSignal?.aborted) throw callerSignal.reason; // the caller's own cancellation, as fetch reports it
    if (deadline.aborted) throw new TokumeiError('ERR_TIMEOUT', `no answer within ${timeoutMs} ms`);
    throw err;
  }
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    setTimeout(resolve, ms);
    signal.addEventListener('abort', () => reject(signal.reason));
  });

/** A non-empty id of at most 256 characters (so its UTF-8 length fits `info`'s len16). */
const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_CHARS;

/** Parses, checks and opens a delivery response; every problem is the one opaque error. */
async function openDelivery(body: Record<string, unknown>, recipient: RecipientKeyPair, kem: KemName): Promise<SessionKeys> {
  let payload: Uint8Array | undefined;
  try {
    const { protocol, kem: kemName, memberId, sessionId, expiresAt, enc, ciphertext } = body;
    try {
      const encBytes = typeof enc === 'string' ? fromBase64url(enc) : undefined;
      const ct = typeof ciphertext === 'string' ? fromBase64url(ciphertext) : undefined;
      if (protocol !== DELIVERY_PROTOCOL || kemName !== kem || !isId(sessionId) || !isId(memberId) || encBytes === undefined || ct === undefined) throw decryptionFailed();
      if (!Number.isSafeInteger(expiresAt) || (expiresAt as number) < 0) throw decryptionFailed();
      payload = await openBase(suiteFor(kem)!, recipient, encBytes, deliveryInfo(memberId, sessionId, expiresAt as number), EMPTY_AAD, ct);
    } catch {
      throw decryptionFailed(); // a missing or malformed field, or it did not open
    }
    return { keyring: decodeKeyringPayload(payload), sessionId: sessionId as string, expiresAt: expiresAt as number };
  } finally {
    wipe(payload);
  }
}

/**
 * A {@link KeyProvider} that fetches the member's keyring from the key environment over HTTP,
 * sealed with HPKE (RFC 9180, base mode, DHKEM(P-256 or X25519, HKDF-SHA256), HKDF-SHA256,
 * AES-256-GCM) to an ephemeral key pair made for this one delivery. With `dpopKey`, every
 * request — delivery, resume, status, refresh — carries a fresh DPoP proof (RFC 9449) signed
 * with the app's key pair, and a `DPoP-Nonce` challenge from the key environment is answered
 * once. The keys are opened straight into library-owned off-heap buffers; the ephemeral private
 * key is a non-extractable `CryptoKey` that is dropped when `fetchKeys` returns
 * (docs/key-delivery.md §6 says what is left of it and of the DPoP key).
 *
 * Errors of `fetchKeys`: HTTP 401/403 or a failing `getToken` → `ERR_AUTH` (never retried); a
 * delivery for another member than `memberId` → `ERR_AUTH`; network errors, 408, 429 and 5xx →
 * retried `retries` times with exponential back-off, then `ERR_KEY_UNAVAILABLE` with `reason`
 * `unreachable` or `outage`; a request the page's Content-Security-Policy (`connect-src`)
 * refused — told apart from a network failure by one `no-cors` request to the same URL — →
 * reason `csp`, at once (a retry cannot pass it), the message saying what to fix; a URL that
 * answers that request but not this page's (its CORS refuses the page, or a gateway's error page
 * during an outage lacks CORS headers: a page cannot tell the two apart) → retried like a
 * network error, then reason `cors`, the message naming both causes; the key environment's 404 `ERR_KEY_UNAVAILABLE` → reason `no-key`;
 * any other 4xx, or a 2xx that is not a JSON object (an SPA fallback's HTML page) → reason
 * `not-key-environment`, at once; HTTP 410 when resuming a session the key environment has ended
 * → `ERR_REVOKED`; a malformed, tampered or mis-bound delivery → `ERR_DECRYPTION_FAILED`; the
 * `timeoutMs` deadline → `ERR_TIMEOUT`; an abort of the caller's `signal` → the signal's reason.
 *
 * `checkSession` sends the key id the session seals with and resolves `'active'`, `'rekey'` or
 * `'revoked'`; `refreshSession` extends the session with
 * the current token (from `getToken`) and resolves its new expiry; `notifyLogoff` ends the
 * session with its end-of-session token in a `keepalive` request started synchronously (so it
 * works from `pagehide`) and never rejects.
 *
 * @param options - see {@link HttpKeyProviderOptions}
 * @returns the provider, for `openSession({ keyProvider })`
 * @throws TypeError / RangeError when an option is malformed (a `dpopKey` that is not a
 *   non-extractable ECDSA P-256 key pair)
 * @example
 * ```ts
 * import { httpKeyProvider, openSession } from 'tokumei';
 * // The same key pair the app's OIDC client binds its tokens to (DPoP).
 * const dpopKey = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
 * const session = await openSession({
 *   keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: () => sso.accessToken(), dpopKey, memberId: sso.memberId }),
 * });
 * ```
 */
export function httpKeyProvider(options: HttpKeyProviderOptions): KeyProvider {
  if (typeof options !== 'object' || options === null) throw new TypeError(`"options" expected object, got ${typeName(options)}`);
  const { url, getToken, dpopKey, memberId } = options;
  if (memberId !== undefined) astring('memberId', memberId, true);
  astring('url', url, true);
  if (typeof getToken !== 'function') throw new TypeError(`"getToken" expected function, got ${typeof getToken}`);
  if (dpopKey !== undefined) checkDpopKey(dpopKey);
  const timeoutMs = options.timeoutMs ?? 10_000;
  ainteger('timeoutMs', timeoutMs, 1, 2 ** 31 - 1);
  const retries = options.retries ?? 2;
  ainteger('retries', retries, 0, 10);
  const kem = options.kem ?? 'P-256';
  if (suiteFor(kem) === undefined) throw new RangeError(`"kem" expected 'P-256' or 'X25519', got ${String(kem)}`);
  const checkUrl = options.checkUrl ?? `${url}/status`;
  const logoffUrl = options.logoffUrl ?? `${url}/logoff`;
  const refreshUrl = options.refreshUrl ?? `${url}/refresh`;
  // Resolved lazily: nothing is read from the global scope until the first request.
  const doFetch: typeof globalThis.fetch = (input, init) => (options.fetch ?? globalThis.fetch)(input, init);
  // The latest DPoP-Nonce the key environment sent (RFC 9449 §8), and each session's
  // end-of-session token (it only ends that session).
  let nonce: string | undefined;
  const endTokens = new Map<string, string>();

  const token = async (): Promise<string> => {
    try {
      const t = await getToken();
      astring('token', t, true);
      return t;
    } catch (cause) {
      throw authError(cause);
    }
  };

  /**
   * POSTs `{ protocol, ...fields }` as JSON (with a fresh DPoP proof per attempt) and returns the
   * parsed answer. A `use_dpop_nonce` challenge is answered once; network errors, 408, 429 and
   * 5xx are retried `tries - 1` times with back-off, then `ERR_KEY_UNAVAILABLE`; 401/403 are
   * `ERR_AUTH`, 410 `ERR_REVOKED`, other statuses `ERR_KEY_UNAVAILABLE`, at once.
   */
  async function post(target: string, fields: object, signal: AbortSignal, tries: number, accessToken?: string, keepalive = false): Promise<Record<string, unknown> | undefined> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (accessToken !== undefined) headers.Authorization = `${dpopKey ? 'DPoP' : 'Bearer'} ${accessToken}`;
    for (let attempt = 1, challenged = false; ; attempt++) {
      // No proof for a keepalive request: it must leave synchronously (pagehide), and it
      // carries the end-of-session token instead. htu is the URL without query or fragment.
      if (dpopKey && !keepalive) headers.DPoP = await dpopProof(dpopKey, new URL(target, globalThis.location?.href).href.replace(/[?#].*$/, ''), nonce, accessToken);
      let res: Response | undefined;
      let body: Record<string, unknown> | undefined;
      let cause: unknown;
      try {
        res = await doFetch(target, { method: 'POST', headers, body: JSON.stringify({ protocol: DELIVERY_PROTOCOL, ...fields }), cache: 'no-store', credentials: 'omit', keepalive, signal });
        nonce = res.headers.get('DPoP-Nonce') ?? nonce;
        // Not JSON (an SPA fallback's HTML page, a proxy's error page): `undefined`, said below.
        body = await res.json().catch(() => undefined);
      } catch (err) {
        if (signal.aborted) throw err;
        cause = err;
      }
      const status = res?.status ?? 0;
      // A 2xx answer is a JSON object (or 204 No Content): an HTML page is not the key environment.
      if (res?.ok && (status === 204 || body)) return body;
      if (status === 401 && !challenged && dpopKey && res!.headers.get('WWW-Authenticate')?.includes('use_dpop_nonce')) {
        challenged = true; // sign again with the nonce just received; does not count as a try
        attempt--;
        continue;
      }
      if (status === 401 || status === 403) throw authError();
      if (status === 410) throw new TokumeiError('ERR_REVOKED', 'session ended');
      // No answer: the page's CSP refused the request — which a retry cannot pass, so it is said
      // at once with what to fix — or the URL answers, but not to this page: its CORS refuses the
      // page, or a gateway in front of it answers an outage with an error page that has no CORS
      // headers (the two look the same to a page), so that one is retried and then said; or else
      // `unreachable`.
      const why = !status && !keepalive && (await whyNoAnswer(doFetch, target, signal));
      if (why === 'csp') throw unavailable(`${target} not in the page's connect-src`, why, cause);
      const retry = !status || status > 499 || status === 408 || status === 429;
      // Only the key environment's own 404 says ERR_KEY_UNAVAILABLE (its outages are 503).
      const reason = why === 'cors' ? why : !status ? 'unreachable' : retry ? 'outage' : body?.error === 'ERR_KEY_UNAVAILABLE' ? 'no-key' : undefined;
      const failure = unavailable(
        why === 'cors' ? `${target} answers, but not to ${location.origin}: its CORS lacks this origin or the DPoP header, or a gateway's error page lacks CORS headers` : status ? `HTTP ${status}` : 'no answer',
        reason,
        cause,
      );
      if (!retry || attempt >= tries) throw failure;
      // Exponential back-off with jitter in [d/2, d], so many tabs do not retry in step.
      const d = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
      await sleep(d / 2 + Math.random() * (d / 2), signal);
    }
  }

  /**
   * Ends a session (docs/key-delivery.md §2.3): the request starts synchronously — `post` does
   * not await before `fetch` when `keepalive` — and this never rejects.
   */
  function end(sessionId: string, reason?: string): Promise<void> {
    const endToken = endTokens.get(sessionId);
    const ignore = (): void => undefined; // best effort by contract
    return post(logoffUrl, { sessionId, endToken, reason }, AbortSignal.timeout(timeoutMs), 1, undefined, true).then(ignore, ignore);
  }

  return {
    fetchKeys({ signal, resume } = {}): Promise<SessionKeys> {
      return withDeadline(timeoutMs, signal, async (s) => {
        const accessToken = await token();
        s.throwIfAborted();
        let recipient: RecipientKeyPair | undefined = await generateRecipientKeyPair(suiteFor(kem)!.kem);
        try {
          const fields = { kem, publicKey: toBase64url(recipient.publicKey), sessionId: resume };
          const body = (await post(url, fields, s, retries + 1, accessToken)) ?? {};
          const sessionId = body.sessionId as string;
          endTokens.set(sessionId, body.endToken as string);
          // Another member's keys are never opened; the session delivered by mistake is ended.
          // (`memberId` is bound into the HPKE info, so a field changed in transit does not open.)
          if (memberId !== undefined && body.memberId !== memberId) {
            void end(sessionId, 'revoked');
            throw authError();
          }
          // A resume answered with another session is that new session (openSession and a rekey
          // compare the session id).
          return await openDelivery(body, recipient, kem);
        } finally {
          recipient = undefined; // the only reference to the private CryptoKey: let GC have it
        }
      });
    },

    checkSession(sessionId: string, { signal, keyId } = {}): Promise<SessionStatus> {
      return withDeadline(timeoutMs, signal, async (s) => {
        const status = (await post(checkUrl, { sessionId, keyId }, s, 1))?.status;
        if (status === 'active' || status === 'revoked' || status === 'rekey') return status;
        throw unavailable('malformed answer');
      });
    },

    refreshSession(sessionId: string, { signal } = {}): Promise<{ expiresAt: number }> {
      return withDeadline(timeoutMs, signal, async (s) => {
        const body = await post(refreshUrl, { sessionId }, s, retries + 1, await token());
        const expiresAt = body?.expiresAt;
        if (!Number.isSafeInteger(expiresAt)) throw unavailable('malformed answer');
        return { expiresAt: expiresAt as number };
      });
    },

    notifyLogoff(sessionId: string, { reason } = {}): Promise<void> {
      return end(sessionId, reason);
    },
  };
}
