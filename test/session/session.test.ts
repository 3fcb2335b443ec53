// Session lifecycle in Node (memory persistence): every wipe trigger, the wipe itself, events,
// timers and listeners. IndexedDB persistence is in session/device-store.test.ts; the real browser in
// test/browser/.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createKeyring,
  defineSchema,
  generateMemberKey,
  importMemberKey,
  memoryKeyProvider,
  openRecord,
  openSession,
  sealRecord,
  TokumeiError,
  type Keyring,
  type KeyProvider,
  type MemberKey,
  type Session,
} from '../../src/index.ts';

const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });

async function expectClosed(p: Promise<unknown>): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => e instanceof TokumeiError && e.code === 'ERR_SESSION_CLOSED');
}

/** A provider whose keyrings the test can inspect after the session destroyed them. */
function trackingProvider(keys: MemberKey[], options: { primary?: string } = {}) {
  const handed: Keyring[] = [];
  const provider = memoryKeyProvider(() => {
    const ring = createKeyring(
      keys.map((k) => importMemberKey(copyOf(k), k.keyId)),
      options,
    );
    handed.push(ring);
    return ring;
  });
  return { provider, handed };
}

// The test holds raw bytes for a few keys so it can re-import them; stored beside each key.
const raw = new WeakMap<MemberKey, Uint8Array>();
function newKey(keyId: string): MemberKey {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const key = importMemberKey(bytes, keyId);
  raw.set(key, bytes);
  return key;
}
function copyOf(key: MemberKey): Uint8Array {
  return raw.get(key)!;
}

let sessions: Session[] = [];
async function open(options: Parameters<typeof openSession>[0]): Promise<Session> {
  const s = await openSession(options);
  sessions.push(s);
  return s;
}

afterEach(async () => {
  for (const s of sessions) await s.logoff();
  sessions = [];
  vi.useRealTimers();
});

describe('openSession (memory)', () => {
  it('opens records under every key of the keyring and seals with the primary', async () => {
    const own = newKey('M000001.v2');
    const old = newKey('M000001.v1');
    const child = newKey('M000002.v1');
    const { provider } = trackingProvider([own, old, child]);
    const s = await open({ keyProvider: provider });
    expect(s.state).toBe('open');
    expect(s.persistence).toBe('memory');
    expect(s.resumed).toBe(false);
    for (const [key, id, name] of [[own, 'M000001', '山田 太郎'], [old, 'M000001', '山田 太郎'], [child, 'M000002', '山田 花子']] as const) {
      const sealed = sealRecord(key, schema, { id, fullName: name }, { recordId: id });
      expect(await s.openRecord(schema, sealed, { recordId: id })).toEqual({ id, fullName: name });
    }
    const mine = await s.sealRecord(schema, { id: 'M000001', fullName: '新しい 住所' }, { recordId: 'M000001' });
    expect(openRecord(own, schema, mine, { recordId: 'M000001' }).fullName).toBe('新しい 住所');
    expect(() => openRecord(old, schema, mine, { recordId: 'M000001' })).toThrow(TokumeiError);
  });

  it('logoff wipes every key once, fires wiped once, and every later call rejects', async () => {
    const { provider, handed } = trackingProvider([newKey('M1.v1'), newKey('M2.v1')]);
    const s = await open({ keyProvider: provider });
    const reasons: string[] = [];
    s.on('wiped', ({ reason }) => reasons.push(reason));
    const keysBefore = handed[0]!.keyIds.map((id) => handed[0]!.get(id));
    await s.logoff();
    await s.logoff();
    expect(reasons).toEqual(['logoff']);
    expect(s.state).toBe('closed');
    expect(s.wipeReason).toBe('logoff');
    expect(handed[0]!.destroyed).toBe(true);
    expect(keysBefore.every((k) => k.destroyed)).toBe(true);
    await expectClosed(s.openRecord(schema, {}, { recordId: 'x' }));
    await expectClosed(s.sealRecord(schema, { id: 'x', fullName: 'y' }, { recordId: 'x' }));
    await Promise.resolve();
    expect(provider.logoffs).toEqual([s.sessionId, s.sessionId]);
  });

  it('does not wait for notifyLogoff, and survives it failing', async () => {
    let release!: () => void;
    const ring = () => createKeyring([generateMemberKey()]);
    const provider: KeyProvider = {
      fetchKeys: async () => ({ keyring: ring(), sessionId: 's', expiresAt: Date.now() + 60_000 }),
      notifyLogoff: () => new Promise<void>((_, reject) => (release = () => reject(new Error('offline')))),
    };
    const s = await openSession({ keyProvider: provider });
    await s.logoff(); // resolves although notifyLogoff has not settled
    expect(s.state).toBe('closed');
    await Promise.resolve();
    release();
  });

  it('an unsubscribed listener is not called; a throwing listener does not stop the wipe', async () => {
    const s = await open({ keyProvider: memoryKeyProvider([generateMemberKey()]) });
    const calls: string[] = [];
    const off = s.on('wiped', () => calls.push('removed'));
    s.on('wiped', () => {
      throw new Error('listener bug');
    });
    s.on('wiped', () => calls.push('kept'));
    off();
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      await s.logoff();
      await new Promise((r) => setTimeout(r, 0));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(calls).toEqual(['kept']);
    expect(s.state).toBe('closed');
  });

  it('wipes after the idle timeout; use of the session is activity', async () => {
    vi.useFakeTimers();
    const s = await open({ keyProvider: memoryKeyProvider([generateMemberKey({ keyId: 'K.v1' })]), idleTimeoutMs: 1000 });
    const reasons: string[] = [];
    s.on('wiped', ({ reason }) => reasons.push(reason));
    const sealed = await s.sealRecord(schema, { id: 'a', fullName: 'x' }, { recordId: 'a' });
    await vi.advanceTimersByTimeAsync(900);
    await s.openRecord(schema, sealed, { recordId: 'a' }); // activity: idle deadline moves
    await vi.advanceTimersByTimeAsync(900);
    expect(s.state).toBe('open');
    await vi.advanceTimersByTimeAsync(200);
    expect(reasons).toEqual(['idle']);
    await expectClosed(s.openRecord(schema, sealed, { recordId: 'a' }));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses use after a deadline even when its timer has not run (a throttled background tab)', async () => {
    const s = await open({ keyProvider: memoryKeyProvider([generateMemberKey()]), idleTimeoutMs: 1000 });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 5000);
    await expectClosed(s.openRecord(schema, {}, { recordId: 'a' }));
    expect(s.wipeReason).toBe('idle');
  });

  it('wipes at the absolute lifetime despite activity, and honours a shorter expiry from the provider', async () => {
    vi.useFakeTimers();
    const s = await open({ keyProvider: memoryKeyProvider([generateMemberKey()]), maxLifetimeMs: 3000, idleTimeoutMs: 1000 });
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(500);
      await s.sealRecord(schema, { id: 'a', fullName: 'x' }, { recordId: 'a' });
    }
    await vi.advanceTimersByTimeAsync(600);
    expect(s.wipeReason).toBe('expired');

    const short = await open({ keyProvider: memoryKeyProvider([generateMemberKey()], { lifetimeMs: 2000 }), maxLifetimeMs: 10_000 });
    expect(short.expiresAt - Date.now()).toBe(2000);
    await vi.advanceTimersByTimeAsync(2000);
    expect(short.wipeReason).toBe('expired');
  });

  it('rejects a session the provider delivered already expired, and destroys its keyring', async () => {
    const ring = createKeyring([generateMemberKey()]);
    const provider: KeyProvider = { fetchKeys: async () => ({ keyring: ring, sessionId: 's', expiresAt: Date.now() - 1 }) };
    await expect(openSession({ keyProvider: provider })).rejects.toSatisfy((e: unknown) => e instanceof TokumeiError && e.code === 'ERR_KEY_UNAVAILABLE');
    expect(ring.destroyed).toBe(true);
  });

  it('wipes with revoked when the key provider reports revocation', async () => {
    vi.useFakeTimers();
    const provider = memoryKeyProvider([generateMemberKey()]);
    const s = await open({ keyProvider: provider, revocationCheckMs: 1000 });
    await vi.advanceTimersByTimeAsync(3000);
    expect(s.state).toBe('open');
    provider.revoke();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.wipeReason).toBe('revoked');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps the session when a revocation check fails (network), and wipes at the next revoked', async () => {
    vi.useFakeTimers();
    let answer: 'fail' | 'revoked' = 'fail';
    const inner = memoryKeyProvider([generateMemberKey()]);
    const provider: KeyProvider = {
      fetchKeys: (o) => inner.fetchKeys(o),
      checkSession: async () => {
        if (answer === 'fail') throw new TokumeiError('ERR_TIMEOUT', 'timed out');
        return 'revoked';
      },
    };
    const s = await open({ keyProvider: provider, revocationCheckMs: 100 });
    await vi.advanceTimersByTimeAsync(300);
    expect(s.state).toBe('open');
    answer = 'revoked';
    await vi.advanceTimersByTimeAsync(100);
    expect(s.wipeReason).toBe('revoked');
  });

  it("the member's logoff in another tab wipes this one (BroadcastChannel), unless crossTab is off", async () => {
    const key = generateMemberKey();
    // Two tabs of one member: two sessions (memory mode), the same member key.
    const a = await open({ keyProvider: memoryKeyProvider([key]) });
    const b = await open({ keyProvider: memoryKeyProvider([key]) });
    expect(a.sessionId).not.toBe(b.sessionId);
    const solo = await open({ keyProvider: memoryKeyProvider([key]), crossTab: false });
    const wiped = new Promise((resolve) => b.on('wiped', resolve));
    await a.logoff();
    expect(await wiped).toEqual({ reason: 'remote-logoff' });
    await new Promise((r) => setTimeout(r, 20));
    expect(solo.state).toBe('open');
  });
});

describe('page events (a DOM-like global EventTarget)', () => {
  let target: EventTarget;
  let added: number;
  beforeEach(() => {
    target = new EventTarget();
    added = 0;
    const g = globalThis as unknown as Record<string, unknown>;
    g.addEventListener = (...args: Parameters<EventTarget['addEventListener']>) => {
      added++;
      target.addEventListener(...args);
    };
    g.removeEventListener = (...args: Parameters<EventTarget['removeEventListener']>) => {
      added--;
      target.removeEventListener(...args);
    };
  });
  afterEach(() => {
    const g = globalThis as unknown as Record<string, unknown>;
    delete g.addEventListener;
    delete g.removeEventListener;
  });

  it('wipes on pagehide and removes every listener it added', async () => {
    const s = await open({ keyProvider: memoryKeyProvider([generateMemberKey()]), activityEvents: ['pointerdown', 'keydown'] });
    expect(added).toBe(3);
    target.dispatchEvent(new Event('pagehide'));
    expect(s.wipeReason).toBe('pagehide');
    expect(added).toBe(0);
  });

  it('counts opted-in user input as activity, and nothing else', async () => {
    vi.useFakeTimers();
    const s = await open({ keyProvider: memoryKeyProvider([generateMemberKey()]), idleTimeoutMs: 1000, activityEvents: ['keydown'] });
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(800);
      target.dispatchEvent(new Event('keydown'));
    }
    expect(s.state).toBe('open');
    target.dispatchEvent(new Event('mousemove'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.wipeReason).toBe('idle');
  });

  it('adds no pagehide listener when wipeOnPagehide is false', async () => {
    const s = await open({ keyProvider: memoryKeyProvider([generateMemberKey()]), wipeOnPagehide: false, activityEvents: [] });
    expect(added).toBe(0);
    target.dispatchEvent(new Event('pagehide'));
    expect(s.state).toBe('open');
  });
});

describe('openSession option checks', () => {
  const keyProvider = memoryKeyProvider([generateMemberKey()]);
  it.each([
    [{}, TypeError, '"keyProvider" expected KeyProvider, got undefined'],
    [{ keyProvider, persistence: 'local' }, RangeError, `"persistence" expected 'memory' or 'indexeddb', got 'local'`],
    [{ keyProvider, idleTimeoutMs: 0 }, RangeError, '"idleTimeoutMs" expected integer in [1,'],
    [{ keyProvider, maxLifetimeMs: '1h' }, TypeError, '"maxLifetimeMs" expected integer, got string'],
    [{ keyProvider, activityEvents: 'keydown' }, TypeError, '"activityEvents" expected string[]'],
    [{ keyProvider, crossTab: 'yes' }, TypeError, '"crossTab" expected boolean'],
  ])('rejects bad options (%#)', async (options, type, message) => {
    const p = openSession(options as never);
    await expect(p).rejects.toThrow(type);
    await expect(p).rejects.toThrow(message);
  });

  it('rejects an unknown event name', async () => {
    const s = await open({ keyProvider });
    expect(() => s.on('closed' as never, () => undefined)).toThrow(`"event" expected 'wiped', 'idle-warning' or 'active', got 'closed'`);
  });

  it('memoryKeyProvider hands out copies: the caller keeps its keys after a logoff', async () => {
    const mine = generateMemberKey();
    const s = await openSession({ keyProvider: memoryKeyProvider([mine]) });
    await s.logoff();
    expect(mine.destroyed).toBe(false);
    expect(sealRecord(mine, schema, { id: 'a', fullName: 'x' }, { recordId: 'a' }).id).toBe('a');
  });
});

describe('Node processes', () => {
  it('an open session (timers, cross-tab channel) does not keep the process alive', async () => {
    const { spawnSync } = await import('node:child_process');
    // Runs the built package (npm test builds first), as a Node user of tokumei would.
    const dist = new URL('../../dist/index.js', import.meta.url).href;
    const script = `const t = await import(${JSON.stringify(dist)});
      const s = await t.openSession({ keyProvider: t.memoryKeyProvider([t.generateMemberKey()]), revocationCheckMs: 1000 });
      console.log(s.state);`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
    expect(run.stdout.trim()).toBe('open');
    expect(run.status).toBe(0); // null (killed at the timeout) if something kept it alive
  });
});

describe('the wipe zeroes what the session owned', () => {
  it('every key and derived subkey buffer is zero after logoff, and on every other trigger', async () => {
    const { keyMaterial } = await import('../../src/keys/member-key.ts');
    for (const trigger of ['logoff', 'revoked', 'remote-logoff'] as const) {
      const keys = [newKey('M1.v1'), newKey('M2.v1')];
      const { provider, handed } = trackingProvider(keys);
      const s = await open({ keyProvider: provider, revocationCheckMs: 10, crossTab: trigger === 'remote-logoff' });
      await s.sealRecord(schema, { id: 'a', fullName: 'x' }, { recordId: 'a' }); // derives the field subkey
      const ring = handed[0]!;
      const buffers = ring.keyIds.flatMap((id) => [keyMaterial(ring.get(id), 'raw')]);
      buffers.push(keyMaterial(ring.primary, 'field'), keyMaterial(ring.primary, 'search'));
      expect(buffers.every((b) => b.some((x) => x !== 0))).toBe(true);
      const wiped = new Promise((r) => s.on('wiped', r));
      if (trigger === 'logoff') await s.logoff();
      else if (trigger === 'revoked') provider.revoke();
      else await (await openSession({ keyProvider: memoryKeyProvider([keys[0]!]) })).logoff();
      expect(await wiped).toEqual({ reason: trigger });
      expect(buffers.every((b) => b.every((x) => x === 0))).toBe(true);
    }
  });
});
