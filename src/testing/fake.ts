// `fakeKeyEnvironment()`: the fake's state (fake-key-environment.ts) served in-process and over
// the delivery protocol (fake-http.ts).
import { FakeCore, fakeKeyProvider, type FakeKeyEnvironment, type FakeKeyEnvironmentOptions } from './fake-key-environment.ts';
import { fakeFetch, handleRequest, tokenFor } from './fake-http.ts';

/**
 * Makes a fake key environment **for tests**, in-process, in Node or in a browser page: no
 * server, no master key, no store. Keys are deterministic (the same as `testMemberKey` with the
 * same seed), so fixtures sealed with `memberKey()` open in every run. Sessions can be revoked,
 * expired and made to fail (`failNext`: an auth refusal, no key for the member, an unavailable
 * or unreachable key environment, an HTML page where JSON was expected, a time-out, a refusal
 * by the page's CSP or by CORS).
 *
 * Two ways in: `keyProvider(memberId)` for `openSession` directly; or the real
 * `httpKeyProvider` with `fetch: env.fetch` (and a bearer token from `token(memberId)`), which
 * speaks the real delivery protocol, HPKE included — in Playwright, route the key environment's
 * URL to `env.handle`. The fake accepts a DPoP proof without checking it, and any origin.
 *
 * @param options - `members`, `seed`, `lifetimeMs`, `now`
 * @returns the fake key environment
 * @throws TypeError / RangeError for malformed options
 * @example
 * ```ts
 * import { defineSchema, openSession, sealRecord } from 'tokumei';
 * import { fakeKeyEnvironment } from 'tokumei/testing';
 * const env = fakeKeyEnvironment({ members: { M000001: { dependants: ['M000002'] } } });
 * const sealed = sealRecord(env.memberKey('M000001'), memberSchema, record, { recordId: 'M000001' });
 * const session = await openSession({ keyProvider: env.keyProvider('M000001'), revocationCheckMs: 1000 });
 * env.revoke(session.sessionId); // the next check wipes it: reason 'revoked'
 * ```
 */
export function fakeKeyEnvironment(options: FakeKeyEnvironmentOptions = {}): FakeKeyEnvironment {
  if (typeof options !== 'object' || options === null) throw new TypeError(`"options" expected object, got ${options === null ? 'null' : typeof options}`);
  const core = new FakeCore(options);
  return {
    keyProvider: (memberId) => fakeKeyProvider(core, memberId),
    token: (memberId) => tokenFor(memberId),
    memberKey: (memberId, version) => core.memberKey(memberId, version),
    get sessions() {
      return core.sessions;
    },
    get deliveries() {
      return core.deliveries;
    },
    revoke: (sessionId) => core.revoke(sessionId),
    expire: (sessionId) => core.expire(sessionId),
    failNext: (failure, times) => core.failNext(failure, times),
    fetch: fakeFetch(core),
    handle: (request) => handleRequest(core, request),
  };
}
