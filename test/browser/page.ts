// The test page driven by the browser tests (bundled by server.ts). The member keys never
// exist in the page as a string, JSON or hex: the page is given *seeds* and derives each key
// with HKDF-SHA256 straight into an off-heap buffer the keyring then owns — a stand-in for HPKE
// delivery. The tests compute the same keys in Node to search memory for them.
import { allocSecret, fromBase64url, utf8 } from '../../src/internal/bytes.ts';
import { hkdfSha256Into } from '../../src/internal/hkdf.ts';
import { createKeyring, httpKeyProvider, memoryKeyProvider, openSession, TokumeiError, type SealedRecord, type Session, type SessionOptions } from '../../src/index.ts';
import { adoptMemberKey } from '../../src/keys/member-key.ts';
import { memberSchema as schema } from './page-schema.ts';

/** HKDF info for the test keys (test/browser/keys.ts derives the same in Node). */
export const TEST_KEY_INFO = 'tokumei-test/member-key';

function deriveKey(seed: string, keyId: string) {
  const out = allocSecret(32);
  hkdfSha256Into(out, fromBase64url(seed)!, new Uint8Array(0), utf8(TEST_KEY_INFO));
  return adoptMemberKey(out, keyId);
}

export interface SignInOptions {
  /** [seed, keyId] pairs; the first is the member's own key (primary). */
  keys: [string, string][];
  persistence?: 'memory' | 'indexeddb';
  idleTimeoutMs?: number;
  activityEvents?: string[];
  idleWarningMs?: number;
  namespace?: string;
}

/** Options of `tk.signInHttp`. */
export interface HttpSignIn {
  url: string;
  token: string;
  persistence?: 'memory' | 'indexeddb';
  idleTimeoutMs?: number;
  namespace?: string;
  fallback?: 'memory';
  revocationCheckMs?: number;
}

let session: Session | undefined;
const events: string[] = [];
/** `idle-warning` and `active` events: [name, ms after sign-in, idle deadline − sign-in]. */
const idleEvents: [string, number, number][] = [];
let signedInAt = 0;
let restoredFromBfcache = false;
let wipedAt: number | undefined;
addEventListener('pageshow', (e) => {
  if ((e as PageTransitionEvent).persisted) restoredFromBfcache = true;
});

const api = {
  async signIn(o: SignInOptions): Promise<{ resumed: boolean; persistence: string }> {
    const keyProvider = memoryKeyProvider(() => createKeyring(o.keys.map(([seed, id]) => deriveKey(seed, id))));
    const options: SessionOptions = { keyProvider, persistence: o.persistence ?? 'memory' };
    if (o.idleTimeoutMs !== undefined) options.idleTimeoutMs = o.idleTimeoutMs;
    if (o.activityEvents !== undefined) options.activityEvents = o.activityEvents;
    if (o.namespace !== undefined) options.namespace = o.namespace;
    if (o.idleWarningMs !== undefined) options.idleWarningMs = o.idleWarningMs;
    signedInAt = Date.now();
    session = await openSession(options);
    session.on('wiped', ({ reason }) => {
      events.push(reason);
      wipedAt = Date.now();
    });
    for (const name of ['idle-warning', 'active'] as const) {
      session.on(name, ({ idleDeadline }) => idleEvents.push([name, Date.now() - signedInAt, idleDeadline - signedInAt]));
    }
    return { resumed: session.resumed, persistence: session.persistence };
  },
  /** Signs in through the key environment: HPKE delivery over HTTP (`httpKeyProvider`). */
  async signInHttp(o: HttpSignIn): Promise<{ resumed: boolean }> {
    const keyProvider = httpKeyProvider({ url: o.url, getToken: () => `${o.token}~${Math.random()}` });
    const options: SessionOptions = { keyProvider, persistence: o.persistence ?? 'memory' };
    if (o.idleTimeoutMs !== undefined) options.idleTimeoutMs = o.idleTimeoutMs;
    if (o.revocationCheckMs !== undefined) options.revocationCheckMs = o.revocationCheckMs;
    if (o.namespace !== undefined) options.namespace = o.namespace;
    if (o.fallback !== undefined) options.fallback = o.fallback;
    session = await openSession(options);
    session.on('wiped', ({ reason }) => events.push(reason));
    return { resumed: session.resumed };
  },
  /** `signInHttp`, reporting `'ok'` or the error's code instead of throwing. */
  async trySignInHttp(o: HttpSignIn): Promise<string> {
    try {
      await this.signInHttp(o);
      return 'ok';
    } catch (err) {
      return err instanceof TokumeiError ? `${err.code}${err.reason === undefined ? '' : ` ${err.reason}`}` : String(err);
    }
  },
  /** Opens a record sealed elsewhere (by the key environment's side); returns its full name. */
  async open(sealed: SealedRecord, recordId: string): Promise<string> {
    return String((await session!.openRecord(schema, sealed, { recordId })).fullName);
  },
  /** Seals and opens `n` records for each record id (own and dependant); returns how many round-tripped. */
  async work(n: number): Promise<number> {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      const rec = { id: `M${i}`, fullName: `山田 太郎 ${i}`, birthDate: '1980-04-01', address: '東京都千代田区1-1' };
      // With a version: a record seal, so the seal subkey is live too (and scanned for).
      const sealed = await session!.sealRecord(schema, rec, { recordId: rec.id, version: i });
      const back = await session!.openRecord(schema, sealed, { recordId: rec.id });
      if (back.fullName === rec.fullName) ok++;
    }
    return ok;
  },
  async logoff(): Promise<void> {
    await session!.logoff();
  },
  /** What a call on the session does now: `'ok'` or the error code. */
  async probe(): Promise<string> {
    if (session === undefined) return 'no-session';
    try {
      await session.sealRecord(schema, { id: 'x', fullName: 'x', birthDate: 'x', address: 'x' }, { recordId: 'x' });
      return 'ok';
    } catch (err) {
      return err instanceof TokumeiError ? err.code : String(err);
    }
  },
  status(): { state: string | undefined; sessionId: string | undefined; persistence: string | undefined; events: string[]; restoredFromBfcache: boolean } {
    return { state: session?.state, sessionId: session?.sessionId, persistence: session?.persistence, events: [...events], restoredFromBfcache };
  },
  /** The idle events so far, and the session's idle deadline, relative to sign-in. */
  idle(): { events: [string, number, number][]; deadline: number; wipedAfter: number | undefined } {
    return { events: [...idleEvents], deadline: session!.idleDeadline - signedInAt, wipedAfter: wipedAt === undefined ? undefined : wipedAt - signedInAt };
  },
  touch(): void {
    session!.touch();
  },
};

/** What the tests call as `tk.*` inside the page. */
export type PageApi = typeof api;
(globalThis as unknown as { tk: PageApi }).tk = api;
