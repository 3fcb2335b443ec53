// `diagnoseKeyEnvironment`: why a page cannot reach its key environment, on demand (a health
// page, an error report). A script sees a CSP refusal, a CORS refusal and a network failure as
// one and the same "Failed to fetch"; `httpKeyProvider` tells them apart itself when a request
// fails (reasons `csp`, `cors`, `unreachable`), with the same check (./no-answer.ts).
import { aobject, astring } from '../internal/bytes.ts';
import { whyNoAnswer } from './no-answer.ts';
import { DELIVERY_PROTOCOL } from './payload.ts';

/**
 * What {@link diagnoseKeyEnvironment} found:
 *
 * | value | meaning | fix |
 * | --- | --- | --- |
 * | `'answers'` | the URL answers this page's requests (whatever it answers: `httpKeyProvider`'s reason then says more) | — |
 * | `'csp'` | the page's Content-Security-Policy refuses the URL | add its origin to `connect-src` |
 * | `'cors'` | the URL is on another origin, answers, but does not allow this page's origin | add the page's origin to `keyEnvironmentHandler`'s `allowOrigins` |
 * | `'network'` | no answer at all: offline, DNS, TLS, connection refused, not running | check the network and that the key environment runs |
 */
export type KeyEnvironmentDiagnosis = 'answers' | 'csp' | 'cors' | 'network';

/**
 * Finds out whether the key environment at `url` can be reached from this page, and if not
 * why — on demand, in development, on a health page or in an error report, without signing in.
 * It sends one request as `httpKeyProvider` does (a JSON POST without a token, which the key
 * environment refuses with 401) and, when that fails, one `no-cors` request, which CORS lets
 * through and CSP does not (it raises a `securitypolicyviolation` event instead) — the same
 * check `httpKeyProvider` makes when a request gets no answer (its reasons `csp`, `cors`,
 * `unreachable`). The request carries no `DPoP` header, so a CORS answer that lacks only that
 * header is `'answers'` here and `cors` for a DPoP sign-in. Outside a page or worker (Node) only
 * `'answers'` or `'network'`.
 *
 * @param url - the key environment's delivery endpoint, as given to `httpKeyProvider`
 * @param options - `fetch`: the `fetch` to use (default `globalThis.fetch`)
 * @returns the diagnosis, see {@link KeyEnvironmentDiagnosis}
 * @throws TypeError / RangeError when `url` is not a non-empty string
 * @example
 * ```ts
 * import { diagnoseKeyEnvironment, httpKeyProvider, openSession, TokumeiError } from 'tokumei';
 * const keyEnvironmentUrl = '/key-env/session';
 * try {
 *   await openSession({ keyProvider: httpKeyProvider({ url: keyEnvironmentUrl, getToken: () => sso.accessToken() }) });
 * } catch (err) {
 *   if (err instanceof TokumeiError && err.code === 'ERR_KEY_UNAVAILABLE') console.warn('key environment:', await diagnoseKeyEnvironment(keyEnvironmentUrl));
 * }
 * ```
 */
export async function diagnoseKeyEnvironment(url: string, options: { fetch?: typeof globalThis.fetch } = {}): Promise<KeyEnvironmentDiagnosis> {
  astring('url', url, true);
  aobject('options', options);
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw new TypeError(`"fetch" expected function, got ${typeof options.fetch}`);
  const doFetch = options.fetch ?? globalThis.fetch;
  try {
    // The request httpKeyProvider makes (a JSON POST: CORS preflights it), without a token.
    const res = await doFetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ protocol: DELIVERY_PROTOCOL }), cache: 'no-store', credentials: 'omit' });
    void res.body?.cancel().catch(() => undefined);
    return 'answers';
  } catch {
    return whyNoAnswer(doFetch, url);
  }
}
