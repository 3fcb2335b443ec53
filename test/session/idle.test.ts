// Idle that matches people (Node, fake timers): default activity events, touch(), the readable
// idle deadline, and the idle-warning / active events before an idle wipe. The real browser's
// input events are in test/browser/session.idle.test.ts.
import { IDBFactory } from 'fake-indexeddb';
import { get, createStore } from 'idb-keyval';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineSchema, generateMemberKey, memoryKeyProvider, openSession, type Session, type SessionOptions } from '../../src/index.ts';

const DEFAULT_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'input', 'wheel', 'scroll', 'touchstart', 'visibilitychange'];
let sessions: Session[] = [];

async function open(options: Partial<SessionOptions> = {}): Promise<Session> {
  const s = await openSession({ keyProvider: memoryKeyProvider([generateMemberKey()]), crossTab: false, ...options });
  sessions.push(s);
  return s;
}

/** Everything a session emits, with the fake clock's time. */
function record(s: Session): string[] {
  const log: string[] = [];
  s.on('idle-warning', ({ idleDeadline }) => log.push(`warning@${Date.now()} deadline=${idleDeadline}`));
  s.on('active', ({ idleDeadline }) => log.push(`active@${Date.now()} deadline=${idleDeadline}`));
  s.on('wiped', ({ reason }) => log.push(`${reason}@${Date.now()}`));
  return log;
}

afterEach(async () => {
  for (const s of sessions) await s.logoff();
  sessions = [];
  vi.useRealTimers();
});

describe('idle warning', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });

  it('fires idle-warning idleWarningMs before the wipe, with the deadline; the wipe follows on time', async () => {
    const s = await open({ idleTimeoutMs: 10_000, idleWarningMs: 3000 });
    const log = record(s);
    expect(s.idleDeadline).toBe(10_000);
    await vi.advanceTimersByTimeAsync(6999);
    expect(log).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(log).toEqual(['warning@7000 deadline=10000']);
    await vi.advanceTimersByTimeAsync(3000);
    expect(log).toEqual(['warning@7000 deadline=10000', 'idle@10000']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('touch() during the warning ends it (active), moves the deadline, and a later quiet spell warns again', async () => {
    const s = await open({ idleTimeoutMs: 10_000, idleWarningMs: 3000 });
    const log = record(s);
    await vi.advanceTimersByTimeAsync(8000);
    s.touch(); // "Still there?" — "Yes"
    expect(s.idleDeadline).toBe(18_000);
    await vi.advanceTimersByTimeAsync(8999);
    expect(s.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(3000);
    expect(log).toEqual(['warning@7000 deadline=10000', 'active@8000 deadline=18000', 'warning@15000 deadline=18000', 'idle@18000']);
  });

  it('activity before the warning is due moves it: no warning while the member is active', async () => {
    const s = await open({ idleTimeoutMs: 10_000, idleWarningMs: 3000 });
    const log = record(s);
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(5000);
      s.touch();
    }
    expect(log).toEqual([]);
    expect(s.idleDeadline).toBe(60_000);
    await vi.advanceTimersByTimeAsync(7000);
    expect(log).toEqual(['warning@57000 deadline=60000']); // positive control
  });

  it('gives no idle warning when the absolute expiry comes first, and none with idleWarningMs: 0', async () => {
    const s = await open({ idleTimeoutMs: 10_000, idleWarningMs: 3000, maxLifetimeMs: 9000 });
    const log = record(s);
    await vi.advanceTimersByTimeAsync(9000);
    expect(log).toEqual(['expired@9000']);

    const quiet = await open({ idleTimeoutMs: 10_000, idleWarningMs: 0 });
    const quietLog = record(quiet);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(quietLog).toEqual(['idle@19000']);
  });

  it('defaults to 60 s before the wipe, or a quarter of a short idle timeout', async () => {
    const long = await open({ idleTimeoutMs: 15 * 60_000 });
    const short = await open({ idleTimeoutMs: 2000 });
    const longLog = record(long);
    const shortLog = record(short);
    await vi.advanceTimersByTimeAsync(2000);
    expect(shortLog).toEqual(['warning@1500 deadline=2000', 'idle@2000']);
    await vi.advanceTimersByTimeAsync(14 * 60_000 - 2000);
    expect(longLog).toEqual(['warning@840000 deadline=900000']);
  });

  it('the session’s own calls count as activity and end a warning too', async () => {
    const s = await open({ idleTimeoutMs: 10_000, idleWarningMs: 3000 });
    const log = record(s);
    await vi.advanceTimersByTimeAsync(7500);
    const schema = defineSchema({ name: 'member', version: 1, fields: { fullName: 'identity' } });
    await s.sealRecord(schema, { fullName: '山田 太郎' }, { recordId: 'a' });
    expect(log).toEqual(['warning@7000 deadline=10000', 'active@7500 deadline=17500']);
  });

  it('touch() after a wipe does nothing, and idle listeners added after it are never called', async () => {
    const s = await open({ idleTimeoutMs: 10_000 });
    await s.logoff();
    const log = record(s);
    s.touch();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(log).toEqual(['logoff@0']);
  });
});

describe('default activity events (a DOM-like global EventTarget)', () => {
  let target: EventTarget;
  let types: string[];
  beforeEach(() => {
    target = new EventTarget();
    types = [];
    const g = globalThis as unknown as Record<string, unknown>;
    g.addEventListener = (type: string, ...rest: [EventListener, AddEventListenerOptions]) => {
      types.push(type);
      target.addEventListener(type, ...rest);
    };
    g.removeEventListener = (type: string, ...rest: [EventListener, EventListenerOptions]) => {
      types.splice(types.indexOf(type), 1);
      target.removeEventListener(type, ...rest);
    };
  });
  afterEach(() => {
    const g = globalThis as unknown as Record<string, unknown>;
    delete g.addEventListener;
    delete g.removeEventListener;
  });

  it('listens for pointer, key, input, wheel, scroll, touch and visibility by default, and removes them at the wipe', async () => {
    const s = await open();
    expect(types.sort()).toEqual([...DEFAULT_EVENTS, 'pagehide'].sort());
    await s.logoff();
    expect(types).toEqual([]);
  });

  it.each(DEFAULT_EVENTS)('%s counts as activity', async (type) => {
    vi.useFakeTimers({ now: 0 });
    const s = await open({ idleTimeoutMs: 1000, idleWarningMs: 0 });
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(800);
      target.dispatchEvent(new Event(type));
    }
    expect(s.state).toBe('open');
    expect(s.idleDeadline).toBe(5000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.wipeReason).toBe('idle'); // positive control: without the events it goes idle
  });

  it('once a warning is shown, moves, wheels, scrolls and visibility changes do not answer it; a click, a tap or a key does', async () => {
    vi.useFakeTimers({ now: 0 });
    const s = await open({ idleTimeoutMs: 10_000, idleWarningMs: 3000 });
    const log = record(s);
    target.dispatchEvent(new Event('pointermove')); // before a warning: activity as always
    expect(s.idleDeadline).toBe(10_000);
    await vi.advanceTimersByTimeAsync(7000);
    expect(log).toEqual(['warning@7000 deadline=10000']);
    for (const type of ['pointermove', 'wheel', 'scroll', 'visibilitychange']) target.dispatchEvent(new Event(type));
    expect(s.idleDeadline).toBe(10_000);
    expect(log).toEqual(['warning@7000 deadline=10000']);
    for (const type of ['pointerdown', 'keydown', 'touchstart', 'input']) {
      expect(log.at(-1)).toMatch(/^warning@/);
      target.dispatchEvent(new Event(type));
      expect(log.at(-1)).toMatch(/^active@/);
      await vi.advanceTimersByTimeAsync(7000); // the next quiet spell's warning
    }
    expect(log).toHaveLength(9);
    expect(s.state).toBe('open');
  });

  it('activityEvents: [] listens for none; touch() still counts', async () => {
    vi.useFakeTimers({ now: 0 });
    const s = await open({ idleTimeoutMs: 1000, idleWarningMs: 0, activityEvents: [] });
    expect(types).toEqual(['pagehide']);
    await vi.advanceTimersByTimeAsync(800);
    target.dispatchEvent(new Event('pointerdown'));
    s.touch();
    await vi.advanceTimersByTimeAsync(800);
    expect(s.state).toBe('open');
    await vi.advanceTimersByTimeAsync(200);
    expect(s.wipeReason).toBe('idle');
  });
});

describe('shared idle deadline (IndexedDB mode)', () => {
  const g = globalThis as unknown as { indexedDB: IDBFactory | undefined };
  afterEach(() => {
    delete g.indexedDB;
  });

  it("another tab's activity keeps a quiet tab from warning; once it stops, the quiet tab warns", async () => {
    g.indexedDB = new IDBFactory();
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'], now: 0 });
    const p = memoryKeyProvider([generateMemberKey()]);
    const quiet = await open({ keyProvider: p, persistence: 'indexeddb', idleTimeoutMs: 4000, idleWarningMs: 1000, activityEvents: [] });
    const busy = await open({ keyProvider: p, persistence: 'indexeddb', idleTimeoutMs: 4000, idleWarningMs: 1000, activityEvents: [] });
    const log = record(quiet);
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(1500);
      busy.touch();
      // Let the busy tab's write land (an HMAC, then a transaction) before the quiet tab looks.
      const want = Date.now() + 4000;
      for (let n = 0; n < 1000; n++) {
        const entry = (await get('session', createStore('tokumei', 'session'))) as { idleExpiresAt: number } | undefined;
        if (entry !== undefined && entry.idleExpiresAt >= want) break;
        await new Promise((r) => setImmediate(r));
      }
    }
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(log).toEqual([]);
    expect(quiet.idleDeadline).toBeGreaterThan(6000); // moved by the other tab
    // Positive control: with no more activity anywhere, the quiet tab warns before its wipe.
    for (let i = 0; i < 40 && !log.some((l) => l.startsWith('warning')); i++) {
      await vi.advanceTimersByTimeAsync(250);
      for (let n = 0; n < 5; n++) await new Promise((r) => setImmediate(r));
    }
    expect(log[0]).toMatch(/^warning@/);
  });
});

describe('idle options', () => {
  const keyProvider = memoryKeyProvider([generateMemberKey()]);
  it.each([
    [{ keyProvider, idleTimeoutMs: 1000, idleWarningMs: 1000 }, RangeError, '"idleWarningMs" expected integer in [0, 999], got 1000'],
    [{ keyProvider, idleWarningMs: -1 }, RangeError, '"idleWarningMs" expected integer in [0,'],
    [{ keyProvider, idleWarningMs: '1m' }, TypeError, '"idleWarningMs" expected integer, got string'],
  ])('rejects a bad idleWarningMs (%#)', async (options, type, message) => {
    const p = openSession(options as never);
    await expect(p).rejects.toThrow(type);
    await expect(p).rejects.toThrow(message);
  });
});
