// pkcs11MasterKey when the token misbehaves, made to happen for real on SoftHSM2: its sessions
// closed from a second handle, the token's files taken away and put back, the token hung (its
// files locked by another process), the PIN changed behind its back. Each time: a typed
// ERR_KEY_UNAVAILABLE while the token is gone, working again when it is back, no crash, and the
// event loop keeps turning.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TokumeiError } from '../../../src/errors.ts';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import type { Pkcs11MasterKey, Pkcs11MasterKeyOptions, Pkcs11Status } from '../../../src/server/master-keys/pkcs11/options.ts';
import { pkcs11MasterKey } from '../../../src/server/master-keys/pkcs11/pkcs11-master-key.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';
import { pkcs11js, softHsm, USER_PIN } from './softhsm.ts';
import { codeOf } from '../../code-of.ts';

const hsm = softHsm();
afterAll(() => hsm.cleanup());
const open: Pkcs11MasterKey[] = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});

const ctx = new TextEncoder().encode('context');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let tokens = 0;

/** A fresh token with a master key on it, and the statuses it reports. */
async function setUp(more: Partial<Pkcs11MasterKeyOptions> = {}): Promise<{ label: string; m: Pkcs11MasterKey; statuses: Pkcs11Status[] }> {
  const label = `faults-${++tokens}`;
  hsm.initToken(label);
  const statuses: Pkcs11Status[] = [];
  const m = await pkcs11MasterKey({ library: hsm.library, tokenLabel: label, pin: USER_PIN, keyLabel: 'mk', create: true, sessions: 2, retryIntervalMs: 100, onStatus: (s) => statuses.push(s), ...more });
  open.push(m);
  return { label, m, statuses };
}

/**
 * Holds an exclusive lock on every file of a token (another process), until `release` or, with
 * `holdMs`, until that time has passed (for a test that blocks its own thread meanwhile).
 */
async function lockToken(dir: string, holdMs?: number): Promise<{ release: () => Promise<void> }> {
  const wait = holdMs === undefined ? 'sys.stdin.read()' : `time.sleep(${holdMs / 1000})`;
  const child: ChildProcess = spawn(
    'python3',
    ['-c', `import fcntl, glob, sys, time\nfs = [open(f, 'r+b') for f in glob.glob(${JSON.stringify(`${dir}/*`)})]\nfor f in fs: fcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\n${wait}\n`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  return {
    release: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

describe('pkcs11MasterKey when the token misbehaves', () => {
  it('its sessions closed from a second handle: the next unwrap reconnects, logs in again and succeeds', async () => {
    const { label, m, statuses } = await setUp();
    const wrapped = await m.wrap(new Uint8Array(32).fill(4), ctx);
    const p = hsm.handle();
    const mine = hsm.session(label);
    p.C_CloseAllSessions(hsm.slot(label));
    // Positive control: every session of the process on that token is gone, the test's own too.
    expect(() => p.C_GetSessionInfo(mine)).toThrow(/CKR_SESSION_HANDLE_INVALID/);
    expect(Buffer.from(await m.unwrap(wrapped, ctx))).toEqual(Buffer.alloc(32, 4));
    expect(statuses).toEqual(['down', 'up']);
    expect(m.status).toBe('up');
    // All sessions work again (the pool's other session too).
    const all = await Promise.all(Array.from({ length: 10 }, () => m.unwrap(wrapped, ctx)));
    expect(all.every((k) => k[0] === 4)).toBe(true);
  });

  it('a status listener that throws does not disturb the recovery', async () => {
    let told = 0;
    const { label, m } = await setUp({
      onStatus: () => {
        told++;
        throw new Error('a broken alerting hook');
      },
    });
    const wrapped = await m.wrap(new Uint8Array(32).fill(3), ctx);
    hsm.handle().C_CloseAllSessions(hsm.slot(label));
    expect(Buffer.from(await m.unwrap(wrapped, ctx))).toEqual(Buffer.alloc(32, 3));
    expect(told).toBe(2); // down, up
    expect(m.status).toBe('up');
  });

  it('the token taken away: deliveries fail with ERR_KEY_UNAVAILABLE while it is gone and work again when it is back', async () => {
    const { label, m, statuses } = await setUp();
    const env = createKeyEnvironment({ masterKey: m, store: memoryKeyStore(), authenticate: () => ({ memberId: 'M000001' }) });
    const { keyId } = await env.createMemberKey('M000001');
    const id = m.id;
    const putBack = hsm.removeToken(label);
    const during: string[] = [];
    for (let i = 0; i < 5; i++) {
      during.push(await codeOf(env.openKeyring('M000001')));
      await sleep(120); // past the retry interval: each try reconnects, and fails
    }
    expect(during).toEqual(Array(5).fill('ERR_KEY_UNAVAILABLE'));
    expect(m.status).toBe('down');
    expect(await codeOf(env.createMemberKey('M000002'))).toBe('ERR_KEY_UNAVAILABLE'); // no key is written unwrapped
    putBack();
    await sleep(120);
    const ring = await env.openKeyring('M000001');
    expect(ring.keyIds).toEqual([keyId]);
    ring.destroy();
    expect(m.status).toBe('up');
    expect(m.id).toBe(id);
    expect(statuses[0]).toBe('down');
    expect(statuses.at(-1)).toBe('up');
    await env.createMemberKey('M000002');
  });

  it('the token hung (its files locked by another process): ERR_KEY_UNAVAILABLE within timeoutMs, the event loop keeps turning, and it works once the token answers', async () => {
    const { label, m } = await setUp({ timeoutMs: 400 });
    const wrapped = await m.wrap(new Uint8Array(32).fill(6), ctx);
    const m2 = await pkcs11MasterKey({ library: hsm.library, tokenLabel: label, pin: USER_PIN, keyLabel: 'mk', sessions: 1, timeoutMs: 400 });
    open.push(m2);
    const wrapped2 = await m2.wrap(new Uint8Array(32).fill(7), ctx);
    const lock = await lockToken(hsm.tokenDir(label));
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 20);
    try {
      const started = Date.now();
      expect(await codeOf(m.unwrap(wrapped, ctx))).toBe('ERR_KEY_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(5000);
      expect(m.status).toBe('down');
      expect(await codeOf(m.unwrap(wrapped, ctx))).toBe('ERR_KEY_UNAVAILABLE'); // fails fast while down
      await sleep(300);
      expect(ticks).toBeGreaterThan(5); // the event loop turned while the token hung
    } finally {
      clearInterval(ticker);
      await lock.release();
    }
    // Another master key with a call stuck in the hung token still closes at once.
    const stuck = await lockToken(hsm.tokenDir(label));
    try {
      const pending = m2.unwrap(wrapped2, ctx).catch((err: unknown) => err);
      await sleep(100);
      const closing = Date.now();
      await m2.close();
      expect(Date.now() - closing).toBeLessThan(3000);
      expect(m2.status).toBe('closed');
      expect(await pending).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE' });
    } finally {
      await stuck.release();
    }
    // Positive control: the same call on this (the main) thread would have frozen the loop.
    const p = hsm.handle();
    const slot = hsm.slot(label);
    const again = await lockToken(hsm.tokenDir(label), 800);
    let s: Buffer | undefined;
    let frozenFor = 0;
    const t0 = Date.now();
    try {
      s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      p.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_LABEL, value: 'mk' }]);
    } catch {
      // the token may refuse instead of waiting; the time spent is what counts
    }
    frozenFor = Date.now() - t0;
    await again.release();
    if (s !== undefined) p.C_CloseSession(s);
    expect(frozenFor).toBeGreaterThanOrEqual(300); // blocked until the lock went (the timer could not even fire)
    await sleep(150);
    expect(Buffer.from(await m.unwrap(wrapped, ctx))).toEqual(Buffer.alloc(32, 6));
    expect(m.status).toBe('up');
  });

  it('the PIN changed behind its back: the login is refused once, then never retried (a retry could lock the token)', async () => {
    let pinCalls = 0;
    const { label, m, statuses } = await setUp({ pin: () => (pinCalls++, USER_PIN) });
    const wrapped = await m.wrap(new Uint8Array(32).fill(8), ctx);
    expect(pinCalls).toBe(1);
    const p = hsm.handle();
    const s = hsm.session(label);
    p.C_SetPIN(s, USER_PIN, 'a-new-pin-9000');
    p.C_CloseAllSessions(hsm.slot(label)); // the login goes with the last session
    const first = await m.unwrap(wrapped, ctx).catch((err: unknown) => err);
    expect(first).toBeInstanceOf(TokumeiError);
    expect((first as TokumeiError).code).toBe('ERR_KEY_UNAVAILABLE');
    expect((first as TokumeiError).message).toMatch(/refused the PIN \(CKR_PIN_INCORRECT\)/);
    expect(m.status).toBe('refused');
    expect(statuses).toEqual(['down', 'refused']);
    expect(pinCalls).toBe(2);
    for (let i = 0; i < 3; i++) {
      await sleep(120);
      expect(await codeOf(m.unwrap(wrapped, ctx))).toBe('ERR_KEY_UNAVAILABLE');
    }
    expect(pinCalls).toBe(2); // never asked again, never tried again
    // Positive control: with the new PIN a new master key opens the same key.
    const fresh = await pkcs11MasterKey({ library: hsm.library, tokenLabel: label, pin: 'a-new-pin-9000', keyLabel: 'mk', sessions: 1 });
    open.push(fresh);
    expect(Buffer.from(await fresh.unwrap(wrapped, ctx))).toEqual(Buffer.alloc(32, 8));
  });
});
