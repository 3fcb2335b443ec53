// IndexedDB persistence (G6) in Node on fake-indexeddb: resume, nothing raw at rest,
// authenticated expiry, stale entries removed first, logoff removes, unavailable storage.
import { IDBFactory, IDBObjectStore } from 'fake-indexeddb';
import { createStore, entries, get, set } from 'idb-keyval';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createKeyring, defineSchema, importMemberKey, memoryKeyProvider, openSession, sealRecord, TokumeiError, type KeyProvider, type Session } from '../../src/index.ts';

const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });
const g = globalThis as unknown as { indexedDB: IDBFactory | undefined };
let keyBytes: Uint8Array;
let sessions: Session[] = [];

function provider(options: { lifetimeMs?: number } = {}) {
  return memoryKeyProvider(() => createKeyring([importMemberKey(keyBytes, 'M000001.v1')]), options);
}
function rawStore() {
  return createStore('tokumei', 'session');
}
async function open(options: Parameters<typeof openSession>[0]): Promise<Session> {
  const s = await openSession(options);
  sessions.push(s);
  return s;
}
function hasBytes(hay: unknown, needle: Uint8Array): boolean {
  if (hay instanceof Uint8Array) return Buffer.from(hay).includes(Buffer.from(needle));
  if (typeof hay === 'object' && hay !== null) return Object.values(hay).some((v) => hasBytes(v, needle));
  return false;
}
function isCode(code: string) {
  return (e: unknown) => e instanceof TokumeiError && e.code === code;
}

beforeEach(() => {
  g.indexedDB = new IDBFactory(); // a fresh, empty origin for each test
  keyBytes = crypto.getRandomValues(new Uint8Array(32));
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const s of sessions) await s.logoff();
  sessions = [];
  g.indexedDB = undefined;
});

describe("persistence: 'indexeddb'", () => {
  it('a second page load resumes the same session: the key provider re-delivers it', async () => {
    const p = provider();
    const fetched: unknown[] = [];
    const watching: KeyProvider = { ...p, fetchKeys: (o) => (fetched.push(o.resume), p.fetchKeys(o)) };
    const first = await open({ keyProvider: watching, persistence: 'indexeddb' });
    expect(first.persistence).toBe('indexeddb');
    expect(first.resumed).toBe(false);
    const sealed = await first.sealRecord(schema, { id: 'M000001', fullName: '山田 太郎' }, { recordId: 'M000001' });
    first.on('wiped', () => undefined);
    const second = await open({ keyProvider: watching, persistence: 'indexeddb' });
    expect(second.resumed).toBe(true);
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.expiresAt).toBe(first.expiresAt);
    expect(fetched).toEqual([undefined, first.sessionId]);
    expect((await second.openRecord(schema, sealed, { recordId: 'M000001' })).fullName).toBe('山田 太郎');
  });

  it('stores no key at all: public facts under a MAC, and a non-extractable device key', async () => {
    const s = await open({ keyProvider: provider(), persistence: 'indexeddb' });
    const stored = await entries(rawStore());
    expect(stored.map(([k]) => k).sort()).toEqual(['device-key', 'session']);
    const deviceKey = stored.find(([k]) => k === 'device-key')![1] as CryptoKey;
    expect(deviceKey).toBeInstanceOf(CryptoKey);
    expect(deviceKey.extractable).toBe(false);
    const entry = stored.find(([k]) => k === 'session')![1] as Record<string, unknown>;
    expect(hasBytes(entry, keyBytes)).toBe(false);
    expect(Object.keys(entry).sort()).toEqual(['expiresAt', 'idleExpiresAt', 'mac', 'maxExpiresAt', 'sessionId', 'v']);
    expect(entry).toMatchObject({ sessionId: s.sessionId, expiresAt: s.expiresAt });
    // positive control for hasBytes: the needle is found where it is
    expect(hasBytes({ a: { b: Uint8Array.of(9, ...keyBytes, 9) } }, keyBytes)).toBe(true);
  });

  it('an entry recovered from the disk after logoff resumes nothing: the key environment refuses', async () => {
    // LevelDB keeps deleted records on disk (docs/sessions.md §5): model a forensic copy.
    const p = provider();
    const s = await open({ keyProvider: p, persistence: 'indexeddb' });
    const copy = await entries(rawStore());
    await s.logoff();
    for (const [k, v] of copy) await set(k, v, rawStore());
    const next = await open({ keyProvider: p, persistence: 'indexeddb' });
    expect(next.resumed).toBe(false);
    expect(next.sessionId).toBe(s.sessionId); // memoryKeyProvider has one id; the point is `resumed`
    expect(p.fetches).toBe(3); // the first sign-in, the refused resume, a new sign-in
  });

  it('a resume refused by the key environment (ERR_REVOKED) starts a new session', async () => {
    const p = provider();
    await open({ keyProvider: p, persistence: 'indexeddb' });
    p.revoke();
    await expect(open({ keyProvider: p, persistence: 'indexeddb' })).rejects.toSatisfy(isCode('ERR_REVOKED'));
    expect(await get('session', rawStore())).toBeUndefined(); // the refused entry was removed
  });

  it('logoff removes the entry and the device key', async () => {
    const p = provider();
    const s = await open({ keyProvider: p, persistence: 'indexeddb' });
    await s.logoff();
    expect(await entries(rawStore())).toEqual([]);
    await open({ keyProvider: p, persistence: 'indexeddb' });
    expect(p.fetches).toBe(2);
  });

  it('logoff in one tab wipes the other and leaves nothing to resume', async () => {
    const p = provider();
    const a = await open({ keyProvider: p, persistence: 'indexeddb' });
    const b = await open({ keyProvider: p, persistence: 'indexeddb' });
    expect(b.resumed).toBe(true);
    const wiped = new Promise((r) => b.on('wiped', r));
    await a.logoff();
    expect(await wiped).toEqual({ reason: 'remote-logoff' });
    expect(await entries(rawStore())).toEqual([]);
  });

  it('pagehide keeps the entry (a reload resumes); the page itself holds no keys', async () => {
    const p = provider();
    const s = await open({ keyProvider: p, persistence: 'indexeddb' });
    // Node has no window: wipe through the same path a pagehide takes, via the test hook below.
    const target = new EventTarget();
    const gg = globalThis as unknown as Record<string, unknown>;
    gg.addEventListener = target.addEventListener.bind(target);
    gg.removeEventListener = target.removeEventListener.bind(target);
    try {
      const t = await open({ keyProvider: p, persistence: 'indexeddb' });
      target.dispatchEvent(new Event('pagehide'));
      expect(t.wipeReason).toBe('pagehide');
      await Promise.resolve();
      expect((await entries(rawStore())).length).toBe(2);
      const again = await open({ keyProvider: p, persistence: 'indexeddb' });
      expect(again.resumed).toBe(true);
      expect(p.fetches).toBe(3); // a sign-in and two resumes
    } finally {
      delete gg.addEventListener;
      delete gg.removeEventListener;
    }
    expect(s.state).toBe('open');
  });

  it('a stale entry (past its idle expiry) is removed before the key provider is asked', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = await open({ keyProvider: provider(), persistence: 'indexeddb', idleTimeoutMs: 60_000, crossTab: false });
    const staleId = first.sessionId;
    vi.setSystemTime(Date.now() + 61_000); // the browser was closed; nobody wiped
    let storeAtFetch: unknown[] | undefined;
    const inner = provider();
    const watching: KeyProvider = {
      fetchKeys: async (o) => {
        storeAtFetch = await entries(rawStore());
        return inner.fetchKeys(o);
      },
    };
    const next = await open({ keyProvider: watching, persistence: 'indexeddb' });
    expect(storeAtFetch).toEqual([]);
    expect(next.resumed).toBe(false);
    expect(next.sessionId).not.toBe(staleId);
  });

  it('an entry past its absolute expiry is refused even while tabs keep it active', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const p = provider({ lifetimeMs: 10_000 });
    await open({ keyProvider: p, persistence: 'indexeddb', idleTimeoutMs: 60_000 });
    vi.setSystemTime(Date.now() + 10_000);
    const next = await open({ keyProvider: p, persistence: 'indexeddb' });
    expect(next.resumed).toBe(false);
    expect(p.fetches).toBe(2);
  });

  it('an entry whose expiry was edited does not authenticate, and is removed', async () => {
    const p = provider();
    await open({ keyProvider: p, persistence: 'indexeddb', idleTimeoutMs: 60_000 });
    const entry = (await get('session', rawStore())) as { idleExpiresAt: number };
    await set('session', { ...entry, idleExpiresAt: entry.idleExpiresAt + 3_600_000 }, rawStore());
    const next = await open({ keyProvider: p, persistence: 'indexeddb' });
    expect(next.resumed).toBe(false);
    expect(p.fetches).toBe(2);
  });

  it('an idle tab keeps its keys while another tab keeps the shared session active', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const p = provider();
    const idle = await open({ keyProvider: p, persistence: 'indexeddb', idleTimeoutMs: 4000, crossTab: false });
    const busy = await open({ keyProvider: p, persistence: 'indexeddb', idleTimeoutMs: 4000, crossTab: false });
    const sealed = await busy.sealRecord(schema, { id: 'a', fullName: 'x' }, { recordId: 'a' });
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(1500);
      await busy.openRecord(schema, sealed, { recordId: 'a' });
      // Let the busy tab's write (an HMAC, then an IndexedDB transaction) land before the idle
      // tab's deadline is looked at: wait for the stored idle expiry to move, not for a tick.
      const want = Date.now() + 4000;
      for (let n = 0; n < 1000; n++) {
        const entry = (await get('session', rawStore())) as { idleExpiresAt: number } | undefined;
        if (entry !== undefined && entry.idleExpiresAt >= want) break;
        await new Promise((r) => setImmediate(r));
      }
    }
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(idle.state).toBe('open');
  });
});

describe('IndexedDB connection', () => {
  it('is opened once and reused by later sessions, and reopened after a failure', async () => {
    const opens = vi.spyOn(IDBFactory.prototype, 'open');
    const p = provider();
    for (let i = 0; i < 3; i++) await (await openSession({ keyProvider: p, persistence: 'indexeddb' })).logoff();
    expect(opens).toHaveBeenCalledTimes(1);
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('lost', 'InvalidStateError');
    });
    await expect(openSession({ keyProvider: p, persistence: 'indexeddb' })).rejects.toSatisfy(isCode('ERR_STORAGE_UNAVAILABLE'));
    put.mockRestore();
    await (await openSession({ keyProvider: p, persistence: 'indexeddb' })).logoff();
    expect(opens).toHaveBeenCalledTimes(2);
  });
});

describe('IndexedDB unavailable', () => {
  it("rejects with ERR_STORAGE_UNAVAILABLE, or falls back to memory with fallback: 'memory'", async () => {
    g.indexedDB = undefined;
    const p = provider();
    await expect(openSession({ keyProvider: p, persistence: 'indexeddb' })).rejects.toSatisfy(isCode('ERR_STORAGE_UNAVAILABLE'));
    expect(p.fetches).toBe(0);
    const s = await open({ keyProvider: p, persistence: 'indexeddb', fallback: 'memory' });
    expect(s.persistence).toBe('memory');
  });

  it('an open() that fails (private mode) is ERR_STORAGE_UNAVAILABLE', async () => {
    vi.spyOn(IDBFactory.prototype, 'open').mockImplementation(() => {
      throw new DOMException('The user denied permission to access the database.', 'InvalidStateError');
    });
    await expect(openSession({ keyProvider: provider(), persistence: 'indexeddb' })).rejects.toSatisfy(isCode('ERR_STORAGE_UNAVAILABLE'));
  });

  it('a write that fails (DataCloneError, quota) leaves nothing half-written and destroys the keyring', async () => {
    const rings: { destroyed: boolean }[] = [];
    const p = memoryKeyProvider(() => {
      const r = createKeyring([importMemberKey(keyBytes, 'M000001.v1')]);
      rings.push(r);
      return r;
    });
    const original = IDBObjectStore.prototype.put;
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      if (key === 'session') throw new DOMException('could not be cloned', 'DataCloneError');
      return original.call(this, value, key);
    });
    await expect(openSession({ keyProvider: p, persistence: 'indexeddb' })).rejects.toSatisfy(isCode('ERR_STORAGE_UNAVAILABLE'));
    put.mockRestore();
    expect(rings[0]!.destroyed).toBe(true);
    expect(await entries(rawStore())).toEqual([]);
    const s = await open({ keyProvider: p, persistence: 'indexeddb', fallback: 'memory' });
    expect(s.persistence).toBe('indexeddb');
  });
});
