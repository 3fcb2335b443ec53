// An in-process fake key environment for tests: deterministic keys, sessions a test can revoke,
// expire and fail on demand, served two ways — as a KeyProvider (no network) and as the key
// delivery protocol over a `fetch` (fake-http.ts), for the real httpKeyProvider and for a
// Playwright route. Runs in Node and in a browser page (WebCrypto only).
import { TokumeiError, type KeyUnavailableReason } from '../errors.ts';
import { ainteger, astring, randomBytes, toBase64url, wipe } from '../internal/bytes.ts';
import { createKeyring, type Keyring } from '../keys/keyring.ts';
import { adoptMemberKey, type MemberKey } from '../keys/member-key.ts';
import type { KeyProvider, SessionKeys, SessionStatus } from '../session/key-provider.ts';
import { DEFAULT_TEST_SEED, testKeyBytes, testKeyId } from './test-keys.ts';

/** A member of the fake key environment. */
export interface FakeMember {
  /** Members whose keys this member also receives (whose records they may read). */
  dependants?: readonly string[];
}

/** Options of `fakeKeyEnvironment`. */
export interface FakeKeyEnvironmentOptions {
  /**
   * Members the fake knows, and whose keys each also receives (a dependant's). Default: every
   * member id is known, with no dependants.
   */
  members?: Record<string, FakeMember>;
  /** Seed of the deterministic keys (see `testMemberKey`). Default `'tokumei-testing'`. */
  seed?: string;
  /** Session lifetime in ms. Default 8 hours. */
  lifetimeMs?: number;
  /** The clock, ms since the epoch. Default `Date.now` (so fake timers move it). */
  now?: () => number;
}

/**
 * A failure the fake produces on demand, for the next key deliveries (sign-ins and resumes):
 *
 * | failure | over HTTP (`fetch`, `handle`) | in-process `keyProvider` |
 * | --- | --- | --- |
 * | `'auth'` | 401 `{ error: 'ERR_AUTH' }` | `ERR_AUTH` |
 * | `'no-key'` | 404 `{ error: 'ERR_KEY_UNAVAILABLE' }`: no key for this member | `ERR_KEY_UNAVAILABLE`, reason `no-key` |
 * | `'unavailable'` | 503 `{ error: 'unavailable' }` with `Retry-After` (its HSM, KMS or store is down) | `ERR_KEY_UNAVAILABLE`, reason `outage` |
 * | `'html'` | 200 with an HTML page (what an SPA fallback answers for a wrong URL) | `ERR_KEY_UNAVAILABLE`, reason `not-key-environment` |
 * | `'network'` | the request fails (`fetch` rejects with a `TypeError`), and so does a `GET` of the same URL until the next delivery (as from a host that does not answer, so that `httpKeyProvider` does not take it for a CORS refusal) | `ERR_KEY_UNAVAILABLE`, reason `unreachable` |
 * | `'timeout'` | no answer until the request is aborted | no answer until the signal aborts |
 * | `'csp'` | `fetch`: the request fails, and so does a `GET` of the same URL, with the page's `securitypolicyviolation` event, as when the page's `connect-src` lacks the key environment — in a page or worker, `httpKeyProvider` says reason `csp`, at once. `handle`: the request fails like `'network'` (a browser applies the page's policy before any route: give the page a real `Content-Security-Policy` to see it) | `ERR_KEY_UNAVAILABLE`, reason `csp` |
 * | `'cors'` | the request fails (`fetch` rejects with a `TypeError`; `handle` throws one: abort the route), while a `GET` of the same URL is answered — what a page sees when the key environment does not list its origin: in a page on another origin than the URL's, `httpKeyProvider` retries, then says reason `cors` | `ERR_KEY_UNAVAILABLE`, reason `cors` |
 *
 * Outside a page or worker (Node), `httpKeyProvider` cannot tell a CSP or CORS refusal from a
 * network failure, so over `fetch` both are reason `unreachable` there, as they would be for
 * real; the in-process `keyProvider` gives their own reasons everywhere.
 */
export type FakeFailure = 'auth' | 'no-key' | 'unavailable' | 'html' | 'network' | 'timeout' | 'csp' | 'cors';

/** A session as the fake sees it. */
export interface FakeSession {
  /** The session id. */
  readonly sessionId: string;
  /** Whose session it is. */
  readonly memberId: string;
  /** Absolute expiry, ms since the epoch. */
  readonly expiresAt: number;
  /** `'active'`, or why not: `'revoked'`, `'logged-off'` (the browser said so), `'expired'`. */
  readonly status: 'active' | 'revoked' | 'logged-off' | 'expired';
  /** How many times its keyring was delivered (1 + resumes). */
  readonly deliveries: number;
}

interface SessionState {
  sessionId: string;
  memberId: string;
  expiresAt: number;
  ended: 'revoked' | 'logged-off' | undefined;
  deliveries: number;
}

/** What a delivery hands over (internal): the keyring's parts as bytes, for either path. */
export interface FakeDelivery {
  memberId: string;
  sessionId: string;
  expiresAt: number;
  /** Key ids and 32-byte keys (off-heap buffers the caller wipes); the first is the primary. */
  keys: { keyId: string; key: Uint8Array }[];
}

/**
 * A fake key environment for tests. Keys are deterministic (`testMemberKey`); sessions can be
 * revoked, expired and made to fail. Use `keyProvider(memberId)` with `openSession` in unit
 * tests, or `fetch` / `handle` to speak the real delivery protocol to `httpKeyProvider` (the
 * page's own code path) — in Node, or in a browser through a Playwright route.
 */
export interface FakeKeyEnvironment {
  /** A key provider signed in as `memberId`, in-process (no network, no HPKE). */
  keyProvider(memberId: string): KeyProvider;
  /** The bearer token the HTTP side accepts for `memberId`. */
  token(memberId: string): string;
  /** The member's key of `version` (default 1), as the fake delivers it: to seal fixtures with. */
  memberKey(memberId: string, version?: number): MemberKey;
  /** Every session so far, oldest first. */
  readonly sessions: readonly FakeSession[];
  /** Key deliveries so far (sign-ins and resumes). */
  readonly deliveries: number;
  /** Revokes one session, or every active one: resumes are refused, `checkSession` says `'revoked'`. */
  revoke(sessionId?: string): void;
  /** Expires one session, or every active one, now. */
  expire(sessionId?: string): void;
  /** Makes the next `times` (default 1) key deliveries fail with `failure`. */
  failNext(failure: FakeFailure, times?: number): void;
  /** The key delivery protocol over HTTP, as a `fetch` (see fake-http.ts). */
  readonly fetch: typeof globalThis.fetch;
  /**
   * The key delivery protocol for one request, framework-free: what a Playwright route needs.
   * @throws TypeError for the `'network'`, `'csp'` and `'cors'` failures (abort the route)
   */
  handle(request: FakeRequest): Promise<FakeResponse>;
}

/** A request as {@link FakeKeyEnvironment.handle} takes it. */
export interface FakeRequest {
  /** The request URL: `…/status` and `…/logoff` are those endpoints, anything else is delivery. */
  url: string;
  /** Default `'POST'`. */
  method?: string;
  /** Request headers (any case). */
  headers?: HeadersInit;
  /** The JSON body. */
  body?: string | null;
  /** Aborts a request the `'timeout'` failure holds. */
  signal?: AbortSignal;
}

/** What {@link FakeKeyEnvironment.handle} answers: what Playwright's `route.fulfill` takes. */
export interface FakeResponse {
  /** The HTTP status. */
  status: number;
  /** Response headers, lower-case names. */
  headers: Record<string, string>;
  /** The body: JSON, or an HTML page for the `'html'` failure. */
  body: string;
}

/** The state and rules shared by both paths (internal). */
export class FakeCore {
  readonly #members: Record<string, FakeMember> | undefined;
  readonly #seed: string;
  readonly #lifetimeMs: number;
  readonly now: () => number;
  readonly #sessions: SessionState[] = [];
  #failures: FakeFailure[] = [];
  deliveries = 0;
  /** Since the last delivery failed with `'network'` or `'csp'`: a GET fails too (see `handleRequest`). */
  blocked: 'network' | 'csp' | undefined;

  constructor(options: FakeKeyEnvironmentOptions) {
    const { members, seed = DEFAULT_TEST_SEED, lifetimeMs = 8 * 60 * 60_000, now = () => Date.now() } = options;
    if (members !== undefined && (typeof members !== 'object' || members === null)) throw new TypeError('"members" expected an object of member ids');
    astring('seed', seed, true);
    ainteger('lifetimeMs', lifetimeMs, 1, Number.MAX_SAFE_INTEGER);
    if (typeof now !== 'function') throw new TypeError(`"now" expected function, got ${typeof now}`);
    this.#members = members;
    this.#seed = seed;
    this.#lifetimeMs = lifetimeMs;
    this.now = now;
  }

  knows(memberId: string): boolean {
    return this.#members === undefined || Object.hasOwn(this.#members, memberId);
  }

  memberKey(memberId: string, version = 1): MemberKey {
    astring('memberId', memberId, true);
    ainteger('version', version, 1, 0xffff);
    return adoptMemberKey(testKeyBytes(this.#seed, memberId, version), testKeyId(this.#seed, memberId, version));
  }

  /** The next planned failure, if any (consumed). */
  takeFailure(): FakeFailure | undefined {
    return this.#failures.shift();
  }

  failNext(failure: FakeFailure, times = 1): void {
    if (!['auth', 'no-key', 'unavailable', 'html', 'network', 'timeout', 'csp', 'cors'].includes(failure)) {
      throw new RangeError(`"failure" expected 'auth', 'no-key', 'unavailable', 'html', 'network', 'timeout', 'csp' or 'cors', got '${String(failure)}'`);
    }
    ainteger('times', times, 1, 1000);
    for (let i = 0; i < times; i++) this.#failures.push(failure);
  }

  #status(s: SessionState): FakeSession['status'] {
    return s.ended ?? (s.expiresAt <= this.now() ? 'expired' : 'active');
  }

  get sessions(): FakeSession[] {
    return this.#sessions.map((s) => Object.freeze({ sessionId: s.sessionId, memberId: s.memberId, expiresAt: s.expiresAt, status: this.#status(s), deliveries: s.deliveries }));
  }

  sessionStatus(sessionId: string): SessionStatus {
    const s = this.#sessions.find((x) => x.sessionId === sessionId);
    return s !== undefined && this.#status(s) === 'active' ? 'active' : 'revoked';
  }

  #select(sessionId: string | undefined): SessionState[] {
    if (sessionId === undefined) return this.#sessions.filter((s) => this.#status(s) === 'active');
    astring('sessionId', sessionId, true);
    const s = this.#sessions.find((x) => x.sessionId === sessionId);
    if (s === undefined) throw new RangeError(`"sessionId" expected a session of this fake key environment`);
    return [s];
  }

  revoke(sessionId?: string): void {
    for (const s of this.#select(sessionId)) s.ended ??= 'revoked';
  }

  expire(sessionId?: string): void {
    const now = this.now();
    for (const s of this.#select(sessionId)) s.expiresAt = Math.min(s.expiresAt, now);
  }

  logoff(sessionId: string): void {
    const s = this.#sessions.find((x) => x.sessionId === sessionId);
    if (s !== undefined) s.ended ??= 'logged-off';
  }

  /**
   * A delivery for `memberId`: a new session, or (`resume`) the same one again while it lives.
   * @throws TokumeiError `ERR_REVOKED` for a session that cannot be resumed, `ERR_KEY_UNAVAILABLE` for an unknown member
   */
  deliver(memberId: string, resume: string | undefined): FakeDelivery {
    if (!this.knows(memberId)) throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'no key for this member');
    const now = this.now();
    let s: SessionState | undefined;
    if (resume === undefined) {
      s = { sessionId: `s1.${toBase64url(randomBytes(16))}`, memberId, expiresAt: now + this.#lifetimeMs, ended: undefined, deliveries: 0 };
      this.#sessions.push(s);
    } else {
      s = this.#sessions.find((x) => x.sessionId === resume);
      if (s === undefined || s.memberId !== memberId || this.#status(s) !== 'active') {
        throw new TokumeiError('ERR_REVOKED', 'the session cannot be resumed');
      }
    }
    s.deliveries++;
    this.deliveries++;
    const ids = [memberId, ...(this.#members?.[memberId]?.dependants ?? [])];
    const keys = ids.map((id) => ({ keyId: testKeyId(this.#seed, id, 1), key: testKeyBytes(this.#seed, id, 1) }));
    return { memberId, sessionId: s.sessionId, expiresAt: s.expiresAt, keys };
  }
}

/** Waits until `signal` aborts, then rejects with its reason (never, without a signal). */
export function hang(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (signal === undefined) return;
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

const FAILURE_REASONS: Record<Exclude<FakeFailure, 'auth' | 'timeout'>, KeyUnavailableReason> = {
  'no-key': 'no-key',
  unavailable: 'outage',
  html: 'not-key-environment',
  network: 'unreachable',
  csp: 'csp',
  cors: 'cors',
};

/** The in-process key provider of `memberId` (internal; see {@link FakeKeyEnvironment.keyProvider}). */
export function fakeKeyProvider(core: FakeCore, memberId: string): KeyProvider {
  astring('memberId', memberId, true);
  return {
    async fetchKeys({ signal, resume } = {}): Promise<SessionKeys> {
      signal?.throwIfAborted();
      const failure = core.takeFailure();
      if (failure === 'timeout') return hang(signal);
      if (failure === 'auth') throw new TokumeiError('ERR_AUTH', 'the bearer token was refused');
      if (failure !== undefined) {
        // The reason httpKeyProvider gives for the same failure over HTTP.
        const reason = FAILURE_REASONS[failure];
        throw Object.assign(new TokumeiError('ERR_KEY_UNAVAILABLE', `key environment: ${reason} (fake: ${failure})`), { reason });
      }
      const d = core.deliver(memberId, resume);
      const made: MemberKey[] = [];
      try {
        for (const k of d.keys) made.push(adoptMemberKey(k.key, k.keyId)); // adopted: the handles own the buffers
        const keyring: Keyring = createKeyring(made, { primary: made[0]!.keyId });
        return { keyring, sessionId: d.sessionId, expiresAt: d.expiresAt };
      } catch (err) {
        for (const k of made) k.destroy();
        for (const k of d.keys.slice(made.length)) wipe(k.key);
        throw err;
      }
    },
    async checkSession(sessionId: string): Promise<SessionStatus> {
      return core.sessionStatus(sessionId);
    },
    async notifyLogoff(sessionId: string): Promise<void> {
      core.logoff(sessionId);
    },
  };
}
