// The fake key environment's HTTP side: the key delivery protocol (docs/key-delivery.md) for one
// request, sealed with HPKE like the real one, so `httpKeyProvider` runs its own code path
// against it — through a `fetch` in Node, or a Playwright route in a browser.
import { TokumeiError } from '../errors.ts';
import { fromBase64url, toBase64url, wipe } from '../internal/bytes.ts';
import { deliveryInfo, DELIVERY_PROTOCOL, encodeKeyringPayload, suiteFor } from '../delivery/payload.ts';
import { hang, type FakeCore, type FakeFailure, type FakeRequest, type FakeResponse } from './fake-key-environment.ts';
import { sealBaseWebCrypto } from './hpke-seal.ts';

const TOKEN_PREFIX = 'fake-key-env.';

/** The bearer token of `memberId`. */
export function tokenFor(memberId: string): string {
  return `${TOKEN_PREFIX}${encodeURIComponent(memberId)}`;
}

function memberOf(authorization: string | null): string | undefined {
  // `Bearer <token>`, or `DPoP <token>` (the fake accepts the proof without checking it).
  const m = authorization === null ? null : /^(?:Bearer|DPoP)[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  const token = m?.[1];
  return token?.startsWith(TOKEN_PREFIX) ? decodeURIComponent(token.slice(TOKEN_PREFIX.length)) : undefined;
}

function json(status: number, body: unknown, cors: Record<string, string>): FakeResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...cors },
    body: body === undefined ? '' : JSON.stringify(body),
  };
}

const ERROR_STATUS: Record<string, number> = { ERR_AUTH: 401, ERR_KEY_UNAVAILABLE: 404, ERR_REVOKED: 410, ERR_FORMAT: 400 };

/** What an HTTP failure looks like on the wire. */
function failed(failure: Exclude<FakeFailure, 'network' | 'timeout' | 'csp' | 'cors'>, cors: Record<string, string>): FakeResponse {
  if (failure === 'html') {
    // What a single-page app's server answers for a path it does not know: its index page, 200.
    return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: '<!doctype html><html><head><title>Portal</title></head><body><div id="root"></div></body></html>' };
  }
  if (failure === 'unavailable') {
    // What the key environment answers while its HSM, KMS or store is down.
    const r = json(503, { error: 'unavailable' }, cors);
    r.headers['retry-after'] = '1';
    return r;
  }
  return json(ERROR_STATUS[failure === 'auth' ? 'ERR_AUTH' : 'ERR_KEY_UNAVAILABLE']!, { error: failure === 'auth' ? 'ERR_AUTH' : 'ERR_KEY_UNAVAILABLE' }, cors);
}

/**
 * What a page's `fetch` does when its Content-Security-Policy refuses `url`: the
 * `securitypolicyviolation` event (a task of its own), then the rejection. Nothing outside a page
 * or worker.
 */
function refuseByCsp(url: string): TypeError {
  const g = globalThis as { SecurityPolicyViolationEvent?: typeof SecurityPolicyViolationEvent; location?: Location };
  if (g.SecurityPolicyViolationEvent !== undefined && g.location !== undefined) {
    const init = { blockedURI: new URL(url, g.location.href).href, documentURI: g.location.href, disposition: 'enforce', violatedDirective: 'connect-src', effectiveDirective: 'connect-src', originalPolicy: "connect-src 'self'", statusCode: 200 } as const;
    const Violation = g.SecurityPolicyViolationEvent;
    setTimeout(() => dispatchEvent(new Violation('securitypolicyviolation', init)), 0);
  }
  return new TypeError('Failed to fetch (fake key environment: refused by the page\'s Content-Security-Policy)');
}

/**
 * Answers one request of the key delivery protocol (see `FakeKeyEnvironment.handle`); `asFetch`:
 * for `FakeKeyEnvironment.fetch`, which stands for the page's own `fetch` and so also raises the
 * page's `securitypolicyviolation` event for a CSP refusal, as the browser would.
 */
export async function handleRequest(core: FakeCore, request: FakeRequest, asFetch = false): Promise<FakeResponse> {
  const headers = new Headers(request.headers);
  const origin = headers.get('origin');
  // A test double: any origin may call it (the real key environment lists its portals).
  const cors: Record<string, string> = origin === null ? {} : { 'access-control-allow-origin': origin, vary: 'Origin' };
  const method = (request.method ?? 'POST').toUpperCase();
  if (method === 'OPTIONS') {
    return { status: 204, headers: { ...cors, 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'Authorization, Content-Type, DPoP', 'access-control-max-age': '600' }, body: '' };
  }
  // Unreachable answers nothing: not the delivery, nor the `no-cors` GET that httpKeyProvider
  // sends next to tell a network failure from a CORS refusal (an answer would mean CORS).
  if (method === 'GET' && core.blocked === 'csp' && asFetch) throw refuseByCsp(request.url);
  if (method === 'GET' && core.blocked !== undefined) throw new TypeError('Failed to fetch (fake key environment: network failure)');
  if (method !== 'POST') return json(405, { error: 'method-not-allowed' }, cors);
  const path = new URL(request.url, 'http://fake.invalid').pathname;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(request.body ?? '') as Record<string, unknown>;
    if (typeof body !== 'object' || body === null || body.protocol !== DELIVERY_PROTOCOL) throw new Error('protocol');
  } catch {
    return json(400, { error: 'ERR_FORMAT' }, cors);
  }
  if (path.endsWith('/status')) return json(200, { status: core.sessionStatus(String(body.sessionId)) }, cors);
  if (path.endsWith('/logoff')) {
    core.logoff(String(body.sessionId));
    return json(204, undefined, cors);
  }

  const failure = core.takeFailure();
  core.blocked = failure === 'network' || failure === 'csp' ? failure : undefined;
  if (failure === 'csp' && asFetch) throw refuseByCsp(request.url);
  if (failure === 'network' || failure === 'csp') throw new TypeError('Failed to fetch (fake key environment: network failure)');
  // The request fails while a no-cors GET of the URL is answered: what a page sees of a CORS
  // refusal (a route's own answer would reach the page: Playwright's fulfill skips CORS).
  if (failure === 'cors') throw new TypeError('Failed to fetch (fake key environment: no CORS headers for this page)');
  if (failure === 'timeout') return hang(request.signal);
  if (failure !== undefined) return failed(failure, cors);

  const memberId = memberOf(headers.get('authorization'));
  if (memberId === undefined) return json(401, { error: 'ERR_AUTH' }, cors);
  const suite = suiteFor(body.kem);
  const publicKey = typeof body.publicKey === 'string' ? fromBase64url(body.publicKey) : undefined;
  const resume = body.sessionId;
  if (suite === undefined || publicKey === undefined || (resume !== undefined && typeof resume !== 'string')) return json(400, { error: 'ERR_FORMAT' }, cors);
  let payload: Uint8Array | undefined;
  let keys: { key: Uint8Array }[] = [];
  try {
    const d = core.deliver(memberId, resume);
    keys = d.keys;
    payload = encodeKeyringPayload(d.keys, 0);
    const sealed = await sealBaseWebCrypto(suite, publicKey, deliveryInfo(memberId, d.sessionId, d.expiresAt), payload);
    return json(200, { protocol: DELIVERY_PROTOCOL, kem: body.kem, sessionId: d.sessionId, memberId, expiresAt: d.expiresAt, enc: toBase64url(sealed.enc), ciphertext: toBase64url(sealed.ciphertext) }, cors);
  } catch (err) {
    if (err instanceof TokumeiError && ERROR_STATUS[err.code] !== undefined) return json(ERROR_STATUS[err.code]!, { error: err.code }, cors);
    if (err instanceof RangeError) return json(400, { error: 'ERR_FORMAT' }, cors);
    throw err;
  } finally {
    wipe(payload, ...keys.map((k) => k.key));
  }
}

/** The protocol as a `fetch` (see `FakeKeyEnvironment.fetch`). */
export function fakeFetch(core: FakeCore): typeof globalThis.fetch {
  return async (input, init = {}) => {
    const url = input instanceof Request ? input.url : String(input);
    const signal = init.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
    signal?.throwIfAborted();
    const body = typeof init.body === 'string' ? init.body : input instanceof Request ? await input.text() : null;
    const res = await handleRequest(core, { url, method: init.method ?? (input instanceof Request ? input.method : 'GET'), headers: init.headers ?? (input instanceof Request ? input.headers : undefined), body, signal }, true);
    return new Response(res.status === 204 ? null : res.body, { status: res.status, headers: res.headers });
  };
}
