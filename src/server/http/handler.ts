// A node:http request handler for the key environment's three endpoints (docs/key-delivery.md §2).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokumeiError } from '../../errors.ts';
import type { KeyEnvironment } from '../key-environment.ts';

/** Options of {@link keyEnvironmentHandler}. */
export interface KeyEnvironmentHandlerOptions {
  /** The delivery endpoint's path; status and logoff are `${path}/status` and `${path}/logoff`. Default `/session`. */
  path?: string;
  /** Origins allowed to call from a browser page on another origin (CORS), e.g. the portal's. None by default. */
  allowOrigins?: readonly string[];
  /** Largest request body accepted, in bytes. Default 16,384. */
  maxBodyBytes?: number;
  /** Told about internal errors (HTTP 500) for logging; the response itself says only `internal`. */
  onError?: (error: unknown) => void;
}

/** A node:http listener; calls `next` (when given) for requests that are not its own, else answers 404. */
export type KeyEnvironmentHandler = (req: IncomingMessage, res: ServerResponse, next?: () => void) => void;

const STATUS_BY_CODE: Partial<Record<string, number>> = { ERR_AUTH: 401, ERR_FORMAT: 400, ERR_KEY_UNAVAILABLE: 404, ERR_REVOKED: 410, ERR_RATE_LIMITED: 429 };

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string) {
    super(code);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    // The response is ciphertext, but still: no cache, proxy or service worker may keep it.
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...(status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}),
  });
  res.end(text);
}

function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) reject(new HttpError(413, 'ERR_FORMAT')); // the rest is read and dropped
      else chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > limit) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'ERR_FORMAT'));
      }
    });
  });
}

function bearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(header);
  return m?.[1];
}

/**
 * Serves a {@link KeyEnvironment} over HTTP with `node:http` (or anything with the same
 * `(req, res)` shape, e.g. Express). Endpoints, all `POST` with JSON bodies:
 *
 * - `${path}` — key delivery: `Authorization: Bearer <token>`, body `{ protocol, kem, publicKey }`
 *   (and `sessionId` to resume a session) → 200 with the sealed delivery; 401 (`ERR_AUTH`), 400
 *   (`ERR_FORMAT`), 404 (`ERR_KEY_UNAVAILABLE`), 410 (`ERR_REVOKED`: the session to resume has
 *   ended), 413, 429 (`ERR_RATE_LIMITED`), 500.
 * - `${path}/status` — body `{ protocol, sessionId, keyId? }` (`keyId`: the key the browser
 *   seals with) → `{ status: 'active' | 'rekey' | 'revoked' }`.
 * - `${path}/logoff` — body `{ protocol, sessionId }` → 204.
 *
 * Every response has `Cache-Control: no-store`; error bodies are `{ error: <code> }` and never
 * carry detail. `OPTIONS` preflights are answered for `allowOrigins`.
 *
 * @param env - from {@link createKeyEnvironment}
 * @param options - see {@link KeyEnvironmentHandlerOptions}
 * @returns the request listener
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { keyEnvironmentHandler } from 'tokumei/server';
 * createServer(keyEnvironmentHandler(env, { path: '/key-env/session', allowOrigins: ['https://portal.example'] })).listen(8443);
 * ```
 */
export function keyEnvironmentHandler(env: KeyEnvironment, options: KeyEnvironmentHandlerOptions = {}): KeyEnvironmentHandler {
  const path = options.path ?? '/session';
  if (typeof path !== 'string' || !path.startsWith('/')) throw new TypeError(`"path" expected string starting with "/", got ${typeof path}`);
  const origins = new Set(options.allowOrigins ?? []);
  const limit = options.maxBodyBytes ?? 16_384;
  const routes = new Map<string, 'deliver' | 'status' | 'logoff'>([
    [path, 'deliver'],
    [`${path}/status`, 'status'],
    [`${path}/logoff`, 'logoff'],
  ]);

  return (req, res, next) => {
    const route = routes.get((req.url ?? '').split('?')[0]!);
    if (route === undefined) {
      if (next !== undefined) next();
      else send(res, 404, { error: 'not-found' });
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
      res.setHeader('Access-Control-Max-Age', '600');
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      send(res, 405, { error: 'method-not-allowed' });
      return;
    }
    void (async () => {
      try {
        const body = await readJson(req, limit);
        if (route === 'deliver') {
          send(res, 200, await env.deliverKeys({ token: bearer(req.headers.authorization), body }));
          return;
        }
        const sessionId = (body as { sessionId?: unknown } | null)?.sessionId;
        if (typeof sessionId !== 'string') throw new HttpError(400, 'ERR_FORMAT');
        if (route === 'status') {
          const keyId = (body as { keyId?: unknown }).keyId;
          send(res, 200, { status: await env.sessionStatus(sessionId, typeof keyId === 'string' ? { keyId } : {}) });
        }
        else {
          await env.logoff(sessionId);
          send(res, 204, undefined);
        }
      } catch (err) {
        if (err instanceof HttpError) send(res, err.status, { error: err.code });
        else if (err instanceof TokumeiError && STATUS_BY_CODE[err.code] !== undefined) send(res, STATUS_BY_CODE[err.code]!, { error: err.code });
        else {
          options.onError?.(err);
          send(res, 500, { error: 'internal' });
        }
      }
    })();
  };
}
