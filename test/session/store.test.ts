// The framework-neutral session store (Node): one opening however many callers ask, options
// read at open time only, snapshots that change only on change, wipes and idle warnings
// followed, logoff racing an opening, and never a logoff of its own.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createKeyring,
  createSessionStore,
  generateMemberKey,
  memoryKeyProvider,
  TokumeiError,
  type Keyring,
  type KeyProvider,
  type SessionOptions,
  type SessionSnapshot,
  type SessionStore,
} from '../../src/index.ts';

const stores: SessionStore[] = [];
function store(options: Parameters<typeof createSessionStore>[0]): SessionStore {
  const s = createSessionStore(options);
  stores.push(s);
  return s;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.logoff();
  vi.useRealTimers();
});

/** Every snapshot a store goes through, by status. */
function statuses(s: SessionStore): string[] {
  const seen: string[] = [];
  s.subscribe(() => seen.push(s.getSnapshot().status));
  return seen;
}

/** A provider whose deliveries wait until the test releases them. */
function gatedProvider() {
  const inner = memoryKeyProvider([generateMemberKey()]);
  const gates: (() => void)[] = [];
  const rings: Keyring[] = [];
  const provider: KeyProvider & { fetches: number } = {
    fetches: 0,
    async fetchKeys(o) {
      provider.fetches++;
      await new Promise<void>((r) => gates.push(r));
      const keys = await inner.fetchKeys(o);
      rings.push(keys.keyring);
      return keys;
    },
    notifyLogoff: (id) => inner.notifyLogoff!(id),
  };
  return { provider, release: () => gates.shift()?.(), rings, logoffs: inner.logoffs };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('createSessionStore', () => {
  it('does nothing until open(); concurrent open() calls share one delivery', async () => {
    const provider = memoryKeyProvider([generateMemberKey()]);
    const options = vi.fn((): SessionOptions => ({ keyProvider: provider, crossTab: false }));
    const s = store(options);
    await tick();
    expect(options).not.toHaveBeenCalled();
    expect(provider.fetches).toBe(0);
    expect(s.getSnapshot()).toEqual({ status: 'signed-out', session: undefined, wipeReason: undefined, error: undefined, idleWarning: undefined });
    const seen = statuses(s);
    const [a, b, c] = await Promise.all([s.open(), s.open(), s.open()]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(await s.open()).toBe(a); // already open
    expect(provider.fetches).toBe(1);
    expect(options).toHaveBeenCalledTimes(1);
    expect(seen).toEqual(['opening', 'open']);
    expect(s.getSnapshot()).toMatchObject({ status: 'open', session: a });
  });

  it('returns the same snapshot object until something changes, and a frozen one', async () => {
    const s = store({ keyProvider: memoryKeyProvider([generateMemberKey()]), crossTab: false });
    const first = s.getSnapshot();
    expect(s.getSnapshot()).toBe(first);
    await s.open();
    const open = s.getSnapshot();
    expect(open).not.toBe(first);
    expect(s.getSnapshot()).toBe(open);
    expect(Object.isFrozen(open)).toBe(true);
  });

  it('follows the wipe: closed with the reason, the session dropped; open() then signs in anew', async () => {
    vi.useFakeTimers();
    const provider = memoryKeyProvider(() => createKeyring([generateMemberKey()]));
    const s = store({ keyProvider: provider, idleTimeoutMs: 1000, crossTab: false, activityEvents: [] });
    const first = await s.open();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.getSnapshot()).toMatchObject({ status: 'closed', session: undefined, wipeReason: 'idle' });
    expect(first.state).toBe('closed');
    const second = await s.open();
    expect(second).not.toBe(first);
    expect(provider.fetches).toBe(2);
    expect(s.getSnapshot()).toMatchObject({ status: 'open', session: second, wipeReason: undefined });
  });

  it('shows an idle warning while it stands; touch() ends it', async () => {
    vi.useFakeTimers({ now: 0 });
    const s = store({ keyProvider: memoryKeyProvider([generateMemberKey()]), idleTimeoutMs: 10_000, idleWarningMs: 3000, crossTab: false, activityEvents: [] });
    await s.open();
    await vi.advanceTimersByTimeAsync(7000);
    expect(s.getSnapshot().idleWarning).toEqual({ idleDeadline: 10_000 });
    s.touch();
    expect(s.getSnapshot()).toMatchObject({ status: 'open', idleWarning: undefined });
    await vi.advanceTimersByTimeAsync(7000);
    expect(s.getSnapshot().idleWarning).toEqual({ idleDeadline: 17_000 });
    await vi.advanceTimersByTimeAsync(3000);
    expect(s.getSnapshot()).toMatchObject({ status: 'closed', wipeReason: 'idle', idleWarning: undefined });
  });

  it('records a failed open; the next open() tries again', async () => {
    let fail = true;
    const inner = memoryKeyProvider([generateMemberKey()]);
    const provider: KeyProvider = {
      fetchKeys: async (o) => {
        if (fail) throw new TokumeiError('ERR_AUTH', 'bearer token refused');
        return inner.fetchKeys(o);
      },
    };
    const s = store({ keyProvider: provider, crossTab: false });
    await expect(s.open()).rejects.toSatisfy((e: unknown) => e instanceof TokumeiError && e.code === 'ERR_AUTH');
    const failed: SessionSnapshot = s.getSnapshot();
    expect(failed.status).toBe('failed');
    expect((failed.error as TokumeiError).code).toBe('ERR_AUTH');
    fail = false;
    await s.open();
    expect(s.getSnapshot()).toMatchObject({ status: 'open', error: undefined });
  });

  it('reads the options (a function) at each open, so the latest callbacks are used', async () => {
    const tokens: string[] = [];
    let current = 'token-1';
    const s = store(() => {
      const token = current; // what a render captured
      return {
        keyProvider: {
          fetchKeys: async (o) => {
            tokens.push(token);
            return memoryKeyProvider([generateMemberKey()]).fetchKeys(o);
          },
        },
        crossTab: false,
      };
    });
    await s.open();
    current = 'token-2';
    await s.open(); // open: nothing read
    await s.logoff();
    await s.open();
    expect(tokens).toEqual(['token-1', 'token-2']);
  });

  it('logoff() during an opening: the session is logged off as soon as it arrives, open() rejects', async () => {
    const { provider, release, rings, logoffs } = gatedProvider();
    const s = store({ keyProvider: provider, crossTab: false });
    const opening = s.open();
    const loggingOff = s.logoff();
    release();
    await expect(opening).rejects.toSatisfy((e: unknown) => e instanceof TokumeiError && e.code === 'ERR_SESSION_CLOSED');
    await loggingOff;
    expect(rings[0]!.destroyed).toBe(true);
    expect(logoffs).toHaveLength(1);
    expect(s.getSnapshot()).toMatchObject({ status: 'closed', wipeReason: 'logoff', session: undefined });
  });

  it('open() after a logoff that doomed an opening starts a new one, which stays open', async () => {
    const { provider, release, rings } = gatedProvider();
    const s = store({ keyProvider: provider, crossTab: false });
    const doomed = s.open();
    const loggingOff = s.logoff();
    const fresh = s.open();
    expect(provider.fetches).toBe(2);
    release(); // the doomed one arrives first
    await expect(doomed).rejects.toThrow(TokumeiError);
    await loggingOff;
    expect(s.getSnapshot().status).toBe('opening'); // the fresh opening is still under way
    release();
    const session = await fresh;
    expect(session.state).toBe('open');
    expect(rings[0]!.destroyed).toBe(true);
    expect(rings[1]!.destroyed).toBe(false);
    expect(s.getSnapshot()).toMatchObject({ status: 'open', session });
  });

  it('logoff() after a wipe still tells the key environment (and other tabs); before open() it does nothing', async () => {
    vi.useFakeTimers();
    const provider = memoryKeyProvider([generateMemberKey()]);
    const s = store({ keyProvider: provider, idleTimeoutMs: 1000, crossTab: false, activityEvents: [] });
    await s.logoff();
    expect(provider.logoffs).toEqual([]);
    const session = await s.open();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.getSnapshot().wipeReason).toBe('idle');
    expect(provider.logoffs).toEqual([session.sessionId]); // the idle wipe itself ended it
    await s.logoff();
    await vi.advanceTimersByTimeAsync(0);
    expect(provider.logoffs).toEqual([session.sessionId, session.sessionId]); // and logoff() says so again
  });

  it('an unsubscribed listener is not called; bad arguments are TypeErrors', async () => {
    const s = store({ keyProvider: memoryKeyProvider([generateMemberKey()]), crossTab: false });
    const calls: string[] = [];
    const off = s.subscribe(() => calls.push('x'));
    off();
    await s.open();
    expect(calls).toEqual([]);
    expect(() => createSessionStore(null as never)).toThrow(TypeError);
    expect(() => createSessionStore('options' as never)).toThrow('"options" expected SessionOptions or a function returning them, got string');
    expect(() => s.subscribe(undefined as never)).toThrow(TypeError);
  });
});
