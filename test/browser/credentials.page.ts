// The page of test/browser/credentials.test.ts: an app with its own non-extractable DPoP key
// pair (kept in IndexedDB for reloads, as an app in IndexedDB mode must), tokens handed in by
// the test (standing in for the app's OIDC client), and a session through httpKeyProvider.
// Every request the provider makes is recorded (path and status) so the test sees the nonce
// challenge and its answer.
import { httpKeyProvider, openSession, TokumeiError, type Session } from '../../src/index.ts';

let session: Session | undefined;
let token = '';
const events: string[] = [];
const wire: { path: string; status: number }[] = [];

function keyStore(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('test-app-dpop', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('keys');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

/** The app's DPoP key pair: made once (non-extractable) and kept in IndexedDB across reloads. */
async function dpopKey(): Promise<CryptoKeyPair> {
  const db = await keyStore();
  const stored = await new Promise<CryptoKeyPair | undefined>((resolve) => {
    const r = db.transaction('keys').objectStore('keys').get('dpop');
    r.onsuccess = () => resolve(r.result as CryptoKeyPair | undefined);
  });
  if (stored !== undefined) return stored;
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  await new Promise<void>((resolve) => {
    const tx = db.transaction('keys', 'readwrite');
    tx.objectStore('keys').put(pair, 'dpop');
    tx.oncomplete = () => resolve();
  });
  return pair;
}

const recordingFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  wire.push({ path: new URL(String(input), location.href).pathname, status: res.status });
  return res;
};

const api = {
  /** The public JWK of the app's DPoP key (the test's issuer binds tokens to its thumbprint). */
  async publicJwk(): Promise<JsonWebKey> {
    return crypto.subtle.exportKey('jwk', (await dpopKey()).publicKey);
  },
  /** Whether the private key can be exported (it must not). */
  async privateKeyExportable(): Promise<boolean> {
    return crypto.subtle.exportKey('jwk', (await dpopKey()).privateKey).then(
      () => true,
      () => false,
    );
  },
  setToken(t: string): void {
    token = t;
  },
  /**
   * A DPoP proof signed with the page's key, for what the test names (an attacker who can use
   * the device key, or a proof made for another request).
   */
  async proof(c: { htu: string; htm?: string; nonce?: string; token?: string }): Promise<string> {
    const pair = await dpopKey();
    const b64 = (b: ArrayBuffer | Uint8Array): string => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const json = (v: object): string => b64(new TextEncoder().encode(JSON.stringify(v)));
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const ath = c.token === undefined ? undefined : b64(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(c.token)));
    const claims = { jti: crypto.randomUUID(), htm: c.htm ?? 'POST', htu: c.htu, iat: Math.floor(Date.now() / 1000), nonce: c.nonce, ath };
    const input = `${json({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${json(claims)}`;
    return `${input}.${b64(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(input)))}`;
  },
  async signIn(o: {
    url: string;
    persistence: 'memory' | 'indexeddb';
    memberId?: string;
    idleTimeoutMs?: number;
    maxLifetimeMs?: number;
    revocationCheckMs?: number;
    crossTab?: boolean;
  }): Promise<{ sessionId: string; expiresAt: number; resumed: boolean } | string> {
    const keyProvider = httpKeyProvider({ url: o.url, getToken: () => token, dpopKey: await dpopKey(), fetch: recordingFetch, ...(o.memberId ? { memberId: o.memberId } : {}) });
    const { idleTimeoutMs, maxLifetimeMs, revocationCheckMs, crossTab = false } = o;
    try {
      session = await openSession({ keyProvider, persistence: o.persistence, crossTab, activityEvents: [], ...(idleTimeoutMs ? { idleTimeoutMs } : {}), ...(maxLifetimeMs ? { maxLifetimeMs } : {}), ...(revocationCheckMs ? { revocationCheckMs } : {}) });
    } catch (err) {
      return err instanceof TokumeiError ? err.code : String(err);
    }
    session.on('wiped', ({ reason }) => events.push(reason));
    return { sessionId: session.sessionId, expiresAt: session.expiresAt, resumed: session.resumed };
  },
  async refresh(): Promise<number | string> {
    try {
      return await session!.refresh();
    } catch (err) {
      return err instanceof TokumeiError ? err.code : String(err);
    }
  },
  async logoff(): Promise<void> {
    await session!.logoff();
  },
  status(): { state: string | undefined; events: string[]; wire: { path: string; status: number }[] } {
    return { state: session?.state, events: [...events], wire: [...wire] };
  },
};

export type CredentialsPageApi = typeof api;
(globalThis as unknown as { tkc: CredentialsPageApi }).tkc = api;
