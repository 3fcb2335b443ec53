// A node:http request handler for the key environment's endpoints (docs/key-delivery.md §2):
// delivery, status, logoff (end of session), refresh, and a liveness probe.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokumeiError } from '../../errors.ts';
import { aobject } from '../../internal/bytes.ts';
import { challengeOf, refusalHeaders } from '../auth/challenge.ts';
import type { DeliveryRequest } from '../delivery/deliver.ts';
import { KeyEnvironment } from '../key-environment.ts';
import { KeyEnvironmentOutage } from '../outage.ts';
import { ClientGone, HttpError, isJsonContentType, readJson } from './body.ts';

/** Options of {@link keyEnvironmentHandler}. */
export interface KeyEnvironmentHandlerOptions {
  /** The delivery endpoint's path; the others are `${path}/status`, `/logoff`, `/refresh`. Default `/session`. */
  path?: string;
  /**
   * The delivery endpoint's URL as the browser calls it, e.g. `https://portal.example/key-env/session`
   * behind a gateway that routes `/key-env/*` here: DPoP proofs sign this URL (`htu`), so set it
   * whenever a proxy changes the host, scheme or path. Default: `http(s)://` + the `Host` header
   * + `path`.
   */
  publicUrl?: string;
  /** Origins allowed to call from a browser page on another origin (CORS), e.g. the portal's. None by default. */
  allowOrigins?: readonly string[];
  /** Largest request body accepted, in bytes; past it the answer is 413 and the connection is closed unread. Default 16,384. */
  maxBodyBytes?: number;
  /** The whole body must arrive within this many ms of the request's start, else 408 and the connection is closed. Default 10,000. */
  bodyTimeoutMs?: number;
  /**
   * Path of the liveness probe: `GET` answers 200 `{"status":"live"}` after one turn of the
   * event loop, so a process whose loop is stuck does not answer at all. Default
   * `${path}/live`; `false` for none.
   */
  livenessPath?: string | false;
  /**
   * Told about internal errors (HTTP 500) and outages (HTTP 503: a {@link KeyEnvironmentOutage}
   * of the master key or the store) for logging; the response itself says only `internal` or
   * `unavailable`.
   */
  onError?: (error: unknown) => void;
  /**
   * Told about every refused credential (HTTP 401), for logs and alerts: a `TokumeiError`
   * `ERR_AUTH` whose `cause` says why (never a token) and whose `challenge` says which refusal
   * it is (`challenge.error === 'use_dpop_nonce'`: the routine nonce challenge every browser
   * meets once, not worth an alert). The response says only `ERR_AUTH`.
   */
  onRefused?: (error: TokumeiError) => void;
}

/** A node:http listener; calls `next` (when given) for requests that are not its own, else answers 404. */
export type KeyEnvironmentHandler = (req: IncomingMessage, res: ServerResponse, next?: () => void) => void;

type Route = 'deliver' | 'status' | 'logoff' | 'refresh';

const STATUS_BY_CODE: Partial<Record<string, number>> = { ERR_AUTH: 401, ERR_FORMAT: 400, ERR_KEY_UNAVAILABLE: 404, ERR_REVOKED: 410, ERR_RATE_LIMITED: 429 };
const SUFFIX: Record<Route, string> = { deliver: '', status: '/status', logoff: '/logoff', refresh: '/refresh' };

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    // The response is ciphertext, but still: no cache, proxy or service worker may keep it.
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  // Several DPoP headers are several proofs: refused (a compact JWS never contains ", ").
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Serves a {@link KeyEnvironment} over HTTP with `node:http` (or anything with the same
 * `(req, res)` shape, e.g. Express). Endpoints, all `POST` with `Content-Type: application/json`
 * bodies that carry `protocol: "tokumei-key-delivery/1"` (docs/key-delivery.md §2):
 *
 * - `${path}` — key delivery (`Authorization: DPoP <token>`, `DPoP: <proof>`): 200 with the
 *   sealed delivery; 401 (`ERR_AUTH`, with `WWW-Authenticate`; `error="use_dpop_nonce"` and a
 *   `DPoP-Nonce` header when the proof needs the current nonce), 400, 404 (`ERR_KEY_UNAVAILABLE`: the
 *   member has no key), 410, 413, 415, 429 (`ERR_RATE_LIMITED`), 500, 503 (`unavailable`, with
 *   `Retry-After`: a {@link KeyEnvironmentOutage} of the master key or the store).
 * - `${path}/refresh` — extend the session with a renewed token → `{ protocol, sessionId, expiresAt }`.
 * - `${path}/status` — `{ protocol, sessionId, keyId? }` (`keyId`: the key the browser seals with)
 *   → `{ status: 'active' | 'rekey' | 'revoked' }`.
 * - `${path}/logoff` — `{ protocol, sessionId, endToken?, reason? }` → 204.
 * - `GET ${path}/live` — the liveness probe.
 *
 * Every response has `Cache-Control: no-store` and the current `DPoP-Nonce`; error bodies are
 * `{ error: <code> }` and never carry detail. `OPTIONS` preflights are answered for
 * `allowOrigins`. Past `maxBodyBytes` or `bodyTimeoutMs` the connection is closed without
 * reading the rest; a client that disconnects mid-body is neither answered nor reported to
 * `onError`. Server-level limits (header timeout, connection cap) belong to the `http.Server`:
 * see {@link createKeyEnvironmentServer}.
 *
 * @param env - from {@link createKeyEnvironment}
 * @param options - see {@link KeyEnvironmentHandlerOptions}
 * @returns the request listener
 * @throws TypeError / RangeError for malformed options
 * @example
 * ```ts
 * import { createKeyEnvironmentServer, keyEnvironmentHandler } from 'tokumei/server';
 * const handler = keyEnvironmentHandler(env, { path: '/session', publicUrl: 'https://keys.example/session' });
 * createKeyEnvironmentServer(handler).listen(8443);
 * ```
 */
export function keyEnvironmentHandler(env: KeyEnvironment, options: KeyEnvironmentHandlerOptions = {}): KeyEnvironmentHandler {
  if (!(env instanceof KeyEnvironment)) throw new TypeError('"env" expected KeyEnvironment from createKeyEnvironment()');
  aobject('options', options);
  const path = options.path ?? '/session';
  if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError(`"path" expected string starting with "/", got ${typeof path}`);
  const { publicUrl } = options;
  if (publicUrl !== undefined && !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(publicUrl)) throw new TypeError('"publicUrl" expected an absolute http(s) URL without query or fragment');
  const origins = new Set(options.allowOrigins ?? []);
  const limit = options.maxBodyBytes ?? 16_384;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
  const livenessPath = options.livenessPath ?? `${path}/live`;
  const routes = new Map<string, Route>((Object.keys(SUFFIX) as Route[]).map((r) => [`${path}${SUFFIX[r]}`, r]));

  const urlOf = (req: IncomingMessage, route: Route): string => {
    if (publicUrl !== undefined) return `${publicUrl.replace(/\/$/, '')}${SUFFIX[route]}`;
    const proto = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
    return `${proto}://${req.headers.host ?? 'localhost'}${path}${SUFFIX[route]}`;
  };

  const answerError = (res: ServerResponse, err: unknown, nonce: Record<string, string>): void => {
    if (err instanceof ClientGone) return; // nobody left to answer, and nothing went wrong here
    if (err instanceof HttpError) {
      send(res, err.status, { error: err.code }, { ...nonce, ...(err.close ? { Connection: 'close' } : {}) });
    } else if (err instanceof TokumeiError && err.code === 'ERR_AUTH') {
      options.onRefused?.(err);
      const challenge = challengeOf(err)!;
      send(res, 401, { error: 'ERR_AUTH' }, { ...nonce, ...refusalHeaders(env.authChallenge(challenge.error), challenge) });
    } else if (err instanceof KeyEnvironmentOutage) {
      // Not "no key" (404, final): the HSM, KMS or store is down for now, so the browser retries.
      options.onError?.(err);
      send(res, 503, { error: 'unavailable' }, { ...nonce, 'Retry-After': String(Math.ceil(err.retryAfterMs / 1000)) });
    } else if (err instanceof TokumeiError && STATUS_BY_CODE[err.code] !== undefined) {
      send(res, STATUS_BY_CODE[err.code]!, { error: err.code }, nonce);
    } else {
      options.onError?.(err);
      send(res, 500, { error: 'internal' }, nonce);
    }
  };

  return (req, res, next) => {
    const pathname = (req.url ?? '').split('?')[0]!;
    if (livenessPath !== false && pathname === livenessPath) {
      if (req.method !== 'GET' && req.method !== 'HEAD') send(res, 405, { error: 'method-not-allowed' }, { Allow: 'GET, HEAD' });
      // Answered from the next turn of the event loop: a stuck loop never answers.
      else setImmediate(() => send(res, 200, { status: 'live' }));
      return;
    }
    const route = routes.get(pathname);
    if (route === undefined) {
      if (next !== undefined) next();
      else send(res, 404, { error: 'not-found' });
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', 'DPoP-Nonce, WWW-Authenticate');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, DPoP');
      res.setHeader('Access-Control-Max-Age', '600');
      res.writeHead(204).end();
      return;
    }
    const n = env.dpopNonce();
    const nonce: Record<string, string> = n === undefined ? {} : { 'DPoP-Nonce': n };
    if (req.method !== 'POST') {
      send(res, 405, { error: 'method-not-allowed' }, { Allow: 'POST', Connection: 'close' });
      return;
    }
    // JSON only: no CORS-simple request (text/plain, a form) reaches an endpoint without a preflight.
    if (!isJsonContentType(req.headers['content-type'])) {
      send(res, 415, { error: 'ERR_FORMAT' }, { ...nonce, Connection: 'close' });
      return;
    }
    void (async () => {
      try {
        const body = await readJson(req, limit, bodyTimeoutMs);
        const request: DeliveryRequest = { authorization: header(req, 'authorization'), dpop: header(req, 'dpop'), method: 'POST', url: urlOf(req, route), body };
        if (route === 'deliver') send(res, 200, await env.deliverKeys(request), nonce);
        else if (route === 'refresh') send(res, 200, await env.refreshSession(request), nonce);
        else if (route === 'status') send(res, 200, await env.checkSession(request), nonce);
        else {
          await env.endSession(request);
          send(res, 204, undefined, nonce);
        }
      } catch (err) {
        answerError(res, err, nonce);
      }
    })();
  };
}
