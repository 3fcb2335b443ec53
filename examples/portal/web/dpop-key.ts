// The portal's DPoP key pair (RFC 9449): ECDSA P-256, private key non-extractable. Every access
// token is bound to it, and the key environment binds the session to it.
//
// In memory mode each page makes its own and loses it with the page. In IndexedDB mode the
// session outlives the page (a reload, a second tab resume it), and the key environment accepts
// a resume only from the key the session was opened with — so the pair is kept in IndexedDB,
// shared by the member's tabs, and deleted at logoff. Chromium writes a stored CryptoKey's raw
// bytes to the profile's LevelDB files and a deleted record stays there until compaction, but
// deleting a whole Storage Bucket removes them: where the browser has Storage Buckets the pair
// lives in a bucket of its own, deleted at logoff. Either way the key alone unlocks nothing —
// every token it could prove is single-use, revoked or expired after logoff.

const BUCKET = 'tokumei-demo-dpop';
const DB = 'tokumei-demo-dpop';
const STORE = 'keys';

interface StorageBucketManager {
  open(name: string, options?: { persisted?: boolean; durability?: 'strict' | 'relaxed' }): Promise<{ indexedDB: IDBFactory }>;
  delete(name: string): Promise<void>;
}

const buckets = (): StorageBucketManager | undefined => (navigator as Navigator & { storageBuckets?: StorageBucketManager }).storageBuckets;

function generate(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function database(): Promise<IDBDatabase> {
  const factory = (await buckets()?.open(BUCKET, { persisted: false }))?.indexedDB ?? indexedDB;
  const open = factory.open(DB, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open);
}

/**
 * The page's DPoP key pair: a fresh one in memory mode; in IndexedDB mode the member's stored
 * one, or a new one stored atomically (two tabs starting at once end up with the same pair).
 */
export async function dpopKeyPair(persistence: 'memory' | 'indexeddb'): Promise<CryptoKeyPair> {
  const fresh = await generate();
  if (persistence === 'memory') return fresh;
  const db = await database();
  try {
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const stored = (await request(store.get('pair'))) as CryptoKeyPair | undefined;
    if (stored === undefined) store.put(fresh, 'pair');
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
    return stored ?? fresh;
  } finally {
    db.close();
  }
}

/** Deletes the stored pair (IndexedDB mode, at logoff): the whole bucket where there is one. */
export async function forgetDpopKeyPair(): Promise<void> {
  const manager = buckets();
  if (manager !== undefined) return manager.delete(BUCKET);
  await request(indexedDB.deleteDatabase(DB));
}
