// Sessions scoped by namespace and by member (Node: BroadcastChannel is built in; IndexedDB is
// fake-indexeddb): a logoff reaches the member's other tabs and no one else's; two portals
// (namespaces) on one origin keep their own channel and database; `closed` and late listeners.
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateMemberKey, memoryKeyProvider, openSession, type KeyProvider, type MemberKey, type Session, type SessionOptions } from '../../src/index.ts';

const g = globalThis as unknown as { indexedDB: IDBFactory | undefined };
let sessions: Session[] = [];

async function open(options: SessionOptions): Promise<Session> {
  const s = await openSession(options);
  sessions.push(s);
  return s;
}
/** A tab of `key`'s member: its own sign-in (memory mode: its own session id). */
function tab(key: MemberKey, extra: Partial<SessionOptions> = {}): Promise<Session> {
  return open({ keyProvider: memoryKeyProvider([key]), ...extra });
}
/** Resolves once every BroadcastChannel message posted so far has been delivered. */
const settle = () => new Promise((r) => setTimeout(r, 30));

afterEach(async () => {
  for (const s of sessions) await s.logoff();
  sessions = [];
  delete g.indexedDB;
  vi.useRealTimers();
});

describe('cross-tab logoff is scoped', () => {
  it("another member's logoff leaves this session open; the member's own other tab is wiped", async () => {
    const alice = generateMemberKey();
    const bob = generateMemberKey();
    const aliceTab1 = await tab(alice);
    const aliceTab2 = await tab(alice);
    const bobTab = await tab(bob);
    await aliceTab1.logoff();
    expect(await aliceTab2.closed).toBe('remote-logoff'); // positive control: the message arrived
    await settle();
    expect(bobTab.state).toBe('open');
  });

  it('two portals (namespaces) on one origin never wipe each other, even for the same member', async () => {
    const key = generateMemberKey();
    const portalA1 = await tab(key, { namespace: 'portal-a' });
    const portalA2 = await tab(key, { namespace: 'portal-a' });
    const portalB = await tab(key, { namespace: 'portal-b' });
    const unscoped = await tab(key);
    await portalA1.logoff();
    expect(await portalA2.closed).toBe('remote-logoff');
    await settle();
    expect(portalB.state).toBe('open');
    expect(unscoped.state).toBe('open');
    // And the other way round: the unscoped (default) channel reaches only unscoped tabs.
    const unscoped2 = await tab(key);
    await unscoped2.logoff();
    expect(await unscoped.closed).toBe('remote-logoff');
    await settle();
    expect(portalB.state).toBe('open');
  });

  it("a revocation reaches the tabs of that session only, not the member's other sessions", async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const key = generateMemberKey();
    const provider = memoryKeyProvider([key]); // one session id for every fetch: a shared (resumed) session
    const polling = await open({ keyProvider: provider, revocationCheckMs: 1000 });
    const sameSession = await open({ keyProvider: provider });
    expect(sameSession.sessionId).toBe(polling.sessionId);
    const otherSession = await tab(key);
    provider.revoke();
    await vi.advanceTimersByTimeAsync(1000);
    expect(polling.wipeReason).toBe('revoked');
    expect(await sameSession.closed).toBe('revoked');
    await settle();
    expect(otherSession.state).toBe('open');
  });

  it("logoff after an idle wipe still reaches the member's other tabs, and only theirs", async () => {
    const alice = generateMemberKey();
    const bob = generateMemberKey();
    const idle = await tab(alice, { idleTimeoutMs: 20 });
    expect(await idle.closed).toBe('idle');
    const aliceAgain = await tab(alice);
    const bobTab = await tab(bob);
    await idle.logoff(); // the member presses "log off" on the signed-out tab
    expect(await aliceAgain.closed).toBe('remote-logoff');
    await settle();
    expect(bobTab.state).toBe('open');
  });

  it('ignores messages that are not a well-formed logoff (an old format, a stranger on the channel)', async () => {
    const key = generateMemberKey();
    const s = await tab(key);
    const channel = new BroadcastChannel('tokumei/session');
    for (const junk of ['logoff', { reason: 'logoff' }, { reason: 'logoff', sessionId: 'another' }, { reason: 'logoff', sessionId: 'another', keyIds: key.keyId }, { reason: 'wipe-all', sessionId: s.sessionId, keyIds: [key.keyId] }, null]) {
      channel.postMessage(junk);
    }
    await settle();
    expect(s.state).toBe('open');
    // Positive control: the well-formed message on the same channel wipes.
    channel.postMessage({ reason: 'logoff', sessionId: 'another', keyIds: ['k1.other', key.keyId] });
    expect(await s.closed).toBe('remote-logoff');
    channel.close();
  });
});

describe('cross-tab logoff across a key rotation', () => {
  /** A provider whose member key rotates when the test says so; status answers `rekey` to a tab on an older key. */
  function rotatingProvider() {
    const versions = [generateMemberKey(), generateMemberKey()];
    let current = 0;
    let fetches = 0;
    const inner = (v: number) => memoryKeyProvider(versions.slice(0, v + 1).reverse()); // newest first: the primary
    const provider: KeyProvider = {
      fetchKeys: async (o) => {
        fetches++;
        return { ...(await inner(current).fetchKeys({})), ...(o.resume === undefined ? {} : { sessionId: o.resume }) };
      },
      checkSession: async (_id, o) => (o.keyId === versions[current]!.keyId ? 'active' : 'rekey'),
    };
    return { provider, rotate: () => (current = 1), fetches: () => fetches };
  }

  it('a tab that followed a rotation is reached by the logoff of a tab signed in after it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { provider, rotate, fetches } = rotatingProvider();
    const rekeyed = await open({ keyProvider: provider, revocationCheckMs: 1000 });
    rotate();
    await vi.advanceTimersByTimeAsync(1000); // `rekeyed` follows: it now seals with the new key
    expect(fetches()).toBe(2); // positive control: the rotation was followed (a re-delivery)
    const fresh = await open({ keyProvider: provider }); // the new key only
    await fresh.logoff();
    expect(await rekeyed.closed).toBe('remote-logoff');
  });

  it("a tab still on the old key is reached by the logoff of a tab that rotated", async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { provider, rotate, fetches } = rotatingProvider();
    const rotating = await open({ keyProvider: provider, revocationCheckMs: 1000 });
    const behind = await open({ keyProvider: provider }); // never checks: stays on the old key
    rotate();
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetches()).toBe(3);
    await rotating.logoff(); // names both its keys: the old one reaches `behind`
    expect(await behind.closed).toBe('remote-logoff');
  });
});

describe('IndexedDB is scoped by namespace', () => {
  it('each namespace has its own database: a logoff in one leaves the other resumable', async () => {
    g.indexedDB = new IDBFactory();
    const key = generateMemberKey();
    const providerA = memoryKeyProvider([key]);
    const providerB = memoryKeyProvider([key]);
    const a = await open({ keyProvider: providerA, persistence: 'indexeddb', namespace: 'portal-a' });
    const b = await open({ keyProvider: providerB, persistence: 'indexeddb', namespace: 'portal-b' });
    const names = (await g.indexedDB.databases()).map((d) => d.name).sort();
    expect(names).toEqual(['tokumei/portal-a', 'tokumei/portal-b']);
    await a.logoff();
    // A reload of portal B resumes its own session; portal A starts afresh.
    const b2 = await open({ keyProvider: providerB, persistence: 'indexeddb', namespace: 'portal-b' });
    expect(b2.resumed).toBe(true);
    expect(b2.sessionId).toBe(b.sessionId);
    const a2 = await open({ keyProvider: memoryKeyProvider([key]), persistence: 'indexeddb', namespace: 'portal-a' });
    expect(a2.resumed).toBe(false);
  });
});

describe('closed and late listeners', () => {
  it('closed resolves with the reason; a listener added after the wipe is told once, on the next microtask', async () => {
    const s = await tab(generateMemberKey());
    let settled = false;
    void s.closed.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await s.logoff();
    expect(await s.closed).toBe('logoff');

    const late: string[] = [];
    s.on('wiped', ({ reason }) => late.push(reason));
    expect(late).toEqual([]); // not re-entrant: never called inside on()
    await Promise.resolve();
    expect(late).toEqual(['logoff']);
    await s.logoff();
    await Promise.resolve();
    expect(late).toEqual(['logoff']); // once

    const removed: string[] = [];
    const off = s.on('wiped', ({ reason }) => removed.push(reason));
    off();
    await Promise.resolve();
    expect(removed).toEqual([]);
  });
});

describe('namespace option', () => {
  const keyProvider = memoryKeyProvider([generateMemberKey()]);
  it.each([
    [{ keyProvider, namespace: '' }, RangeError, '"namespace" expected 1-64 characters of [A-Za-z0-9._-], got length=0'],
    [{ keyProvider, namespace: 'a/b' }, RangeError, '"namespace" expected 1-64 characters of [A-Za-z0-9._-], got length=3'],
    [{ keyProvider, namespace: 'x'.repeat(65) }, RangeError, '"namespace" expected 1-64 characters'],
    [{ keyProvider, namespace: 7 }, TypeError, '"namespace" expected string, got number'],
  ])('rejects a bad namespace (%#)', async (options, type, message) => {
    const p = openSession(options as never);
    await expect(p).rejects.toThrow(type);
    await expect(p).rejects.toThrow(message);
  });
});
