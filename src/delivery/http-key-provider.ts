// `httpKeyProvider`: the browser side of key delivery over HTTP (docs/key-delivery.md).
import { TokumeiError, decryptionFailed } from '../errors.ts';
import { ainteger, astring, fromBase64url, toBase64url, wipe } from '../internal/bytes.ts';
import type { KeyProvider, SessionKeys, SessionStatus } from '../session/key-provider.ts';
import { generateRecipientKeyPair, openBase, type RecipientKeyPair } from './open.ts';
import { decodeKeyringPayload, deliveryInfo, DELIVERY_PROTOCOL, suiteFor, type KemName } from './payload.ts';

/** Options of {@link httpKeyProvider}. */
export interface HttpKeyProviderOptions {
  /** The key environment's delivery endpoint (absolute, or relative to the page). */
  url: string;
  /** Returns the member's SSO bearer token; called once per sign-in. */
  getToken: () => string | Promise<string>;
  /**
   * Deadline in ms for one whole operation — for `fetchKeys` every attempt and back-off
   * together; for `checkSession` and `notifyLogoff` the one request. When it passes the
   * operation fails with `ERR_TIMEOUT`. Default 10,000.
   */
  timeoutMs?: number;
  /** How many times a network error, HTTP 408/429 or 5xx is retried (with exponential back-off) before `ERR_KEY_UNAVAILABLE`. Default 2. */
  retries?: number;
  /** The DHKEM of the ephemeral key pair: `'P-256'` (default) or `'X25519'`. */
  kem?: 'P-256' | 'X25519';
  /** Session status endpoint. Default `${url}/status`. */
  checkUrl?: string;
  /** Logoff notification endpoint. Default `${url}/logoff`. */
  logoffUrl?: string;
  /** The `fetch` to use (tests, instrumented clients). Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETRIES = 2;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2_000;
const MAX_ID_CHARS = 256;
const EMPTY_AAD = /* @__PURE__ */ new Uint8Array(0);
const UNREACHABLE = 'key environment unreachable';
const JSON_TYPE = { 'Content-Type': 'application/json' };

function unavailable(message: string, cause?: unknown): TokumeiError {
  return new TokumeiError('ERR_KEY_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
}

function authError(cause?: unknown): TokumeiError {
  return new TokumeiError('ERR_AUTH', 'bearer token refused', cause === undefined ? undefined : { cause });
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

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function isRetryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * POSTs `{ protocol, ...fields }` as JSON and returns the response text. Network errors, 408, 429
 * and 5xx are retried `retries` times with back-off, then `ERR_KEY_UNAVAILABLE`; 401/403 are
 * `ERR_AUTH` at once; other statuses `ERR_KEY_UNAVAILABLE` at once.
 */
async function post(doFetch: typeof globalThis.fetch, url: string, fields: object, signal: AbortSignal, retries: number, token?: string, keepalive = false): Promise<string> {
  const init: RequestInit = {
    method: 'POST',
    headers: token === undefined ? JSON_TYPE : { ...JSON_TYPE, Authorization: `Bearer ${token}` },
    body: JSON.stringify({ protocol: DELIVERY_PROTOCOL, ...fields }),
    cache: 'no-store',
    credentials: 'omit', // the bearer token is the only credential
    keepalive,
    signal,
  };
  for (let attempt = 0; ; attempt++) {
    let res: Response | undefined;
    let cause: unknown;
    try {
      res = await doFetch(url, init);
      if (res.ok) return await res.text();
    } catch (err) {
      if (signal.aborted) throw err;
      cause = err;
    }
    void res?.body?.cancel().catch(() => undefined);
    if (res?.status === 401 || res?.status === 403) throw authError();
    if (res?.status === 410) throw new TokumeiError('ERR_REVOKED', 'the key environment has ended this session');
    const failure = unavailable(res === undefined || res.ok ? UNREACHABLE : `key environment: HTTP ${res.status}`, cause);
    if ((res !== undefined && !res.ok && !isRetryable(res.status)) || attempt >= retries) throw failure;
    // Exponential back-off with jitter in [d/2, d], so many tabs do not retry in step.
    const d = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
    await sleep(d / 2 + Math.random() * (d / 2), signal);
  }
}

/** A non-empty id of at most 256 characters (so its UTF-8 length fits `info`'s len16). */
const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_CHARS;

/** Parses, checks and opens a delivery response; every problem is the one opaque error. */
async function openDelivery(text: string, recipient: RecipientKeyPair, kem: KemName): Promise<SessionKeys> {
  let payload: Uint8Array | undefined;
  try {
    let sessionId: unknown;
    let expiresAt: unknown;
    try {
      // A body that is not JSON, or JSON `null`, throws here too: all of it is the one error.
      const body = JSON.parse(text) as Record<string, unknown>;
      ({ sessionId, expiresAt } = body);
      const { protocol, kem: kemName, memberId, enc, ciphertext } = body;
      const encBytes = typeof enc === 'string' ? fromBase64url(enc) : undefined;
      const ct = typeof ciphertext === 'string' ? fromBase64url(ciphertext) : undefined;
      if (protocol !== DELIVERY_PROTOCOL || kemName !== kem || !isId(sessionId) || !isId(memberId) || encBytes === undefined || ct === undefined) throw decryptionFailed();
      if (!Number.isSafeInteger(expiresAt) || (expiresAt as number) < 0) throw decryptionFailed();
      payload = await openBase(suiteFor(kem)!, recipient, encBytes, deliveryInfo(memberId, sessionId, expiresAt as number), EMPTY_AAD, ct);
    } catch {
      throw decryptionFailed(); // not JSON, a missing or malformed field, or it did not open
    }
    return { keyring: decodeKeyringPayload(payload), sessionId: sessionId as string, expiresAt: expiresAt as number };
  } finally {
    wipe(payload);
  }
}

/**
 * A {@link KeyProvider} that fetches the member's keyring from the key environment over HTTP,
 * sealed with HPKE (RFC 9180, base mode, DHKEM(P-256 or X25519, HKDF-SHA256), HKDF-SHA256,
 * AES-256-GCM) to an ephemeral key pair made for this one sign-in. The request carries only the
 * public key and the bearer token; the response only ciphertext. The keys are opened straight
 * into library-owned off-heap buffers; the ephemeral private key is a non-extractable
 * `CryptoKey` that is dropped when `fetchKeys` returns (docs/key-delivery.md §6 says what is
 * left of it). The wire format is in docs/key-delivery.md.
 *
 * Errors of `fetchKeys`: HTTP 401/403 or a failing `getToken` → `ERR_AUTH` (never retried);
 * network errors, 408, 429 and 5xx → retried `retries` times with exponential back-off, then
 * `ERR_KEY_UNAVAILABLE` (other 4xx: `ERR_KEY_UNAVAILABLE` at once); HTTP 410 when resuming a
 * session the key environment has ended → `ERR_REVOKED`; a malformed, tampered or
 * mis-bound response → `ERR_DECRYPTION_FAILED`; the `timeoutMs` deadline → `ERR_TIMEOUT`; an
 * abort of the caller's `signal` → the signal's reason, as `fetch` does.
 *
 * `checkSession` POSTs `{ protocol, sessionId, keyId }` (`keyId`: the key the session seals
 * with) to `checkUrl` and resolves `'active'`, `'rekey'` or `'revoked'`; `notifyLogoff` POSTs the same to `logoffUrl` with `keepalive` and never rejects.
 *
 * @param options - see {@link HttpKeyProviderOptions}
 * @returns the provider, for `openSession({ keyProvider })`
 * @throws TypeError / RangeError when an option is malformed
 * @example
 * ```ts
 * import { httpKeyProvider, openSession } from 'tokumei';
 * const session = await openSession({
 *   keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: () => sso.accessToken(), timeoutMs: 8000 }),
 * });
 * ```
 */
export function httpKeyProvider(options: HttpKeyProviderOptions): KeyProvider {
  if (typeof options !== 'object' || options === null) throw new TypeError(`"options" expected object, got ${options === null ? 'null' : typeof options}`);
  const { url, getToken } = options;
  astring('url', url, true);
  if (typeof getToken !== 'function') throw new TypeError(`"getToken" expected function, got ${typeof getToken}`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  ainteger('timeoutMs', timeoutMs, 1, 2 ** 31 - 1);
  const retries = options.retries ?? DEFAULT_RETRIES;
  ainteger('retries', retries, 0, 10);
  const kem = options.kem ?? 'P-256';
  if (suiteFor(kem) === undefined) throw new RangeError(`"kem" expected 'P-256' or 'X25519', got ${String(kem)}`);
  const checkUrl = options.checkUrl ?? `${url}/status`;
  const logoffUrl = options.logoffUrl ?? `${url}/logoff`;
  // Resolved lazily: nothing is read from the global scope until the first request.
  const doFetch: typeof globalThis.fetch = (input, init) => (options.fetch ?? globalThis.fetch)(input, init);

  return {
    fetchKeys({ signal, resume } = {}): Promise<SessionKeys> {
      return withDeadline(timeoutMs, signal, async (s) => {
        let token: string;
        try {
          token = await getToken();
          astring('token', token, true);
        } catch (cause) {
          throw authError(cause);
        }
        s.throwIfAborted();
        let recipient: RecipientKeyPair | undefined = await generateRecipientKeyPair(suiteFor(kem)!.kem);
        try {
          const fields = { kem, publicKey: toBase64url(recipient.publicKey), ...(resume === undefined ? {} : { sessionId: resume }) };
          const keys = await openDelivery(await post(doFetch, url, fields, s, retries, token), recipient, kem);
          if (resume !== undefined && keys.sessionId !== resume) {
            keys.keyring.destroy();
            throw unavailable('the key environment answered for another session');
          }
          return keys;
        } finally {
          recipient = undefined; // the only reference to the private CryptoKey: let GC have it
        }
      });
    },

    checkSession(sessionId: string, { signal, keyId } = {}): Promise<SessionStatus> {
      astring('sessionId', sessionId, true);
      return withDeadline(timeoutMs, signal, async (s) => {
        const text = await post(doFetch, checkUrl, { sessionId, keyId }, s, 0);
        let status: unknown;
        try {
          status = (JSON.parse(text) as { status?: unknown } | null)?.status;
        } catch {
          // reported below
        }
        if (status === 'active' || status === 'revoked' || status === 'rekey') return status;
        throw unavailable('malformed session status');
      });
    },

    async notifyLogoff(sessionId: string): Promise<void> {
      try {
        await withDeadline(timeoutMs, undefined, (s) => post(doFetch, logoffUrl, { sessionId }, s, 0, undefined, true));
      } catch {
        // Best effort by contract: the local wipe has already happened or is happening.
      }
    },
  };
}
