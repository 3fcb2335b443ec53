// The X25519 ephemeral key of sealed delivery never freezes the key environment. On Node 20 an
// X25519 key made by generateKeyPairSync, whose public key is then exported as a JWK, can
// deadlock the main thread for good (a garbage collection runs the key-generation job's
// destructor, which waits on a lock the export holds): 0 % CPU, every request times out. A
// child process seals in tight synchronous batches under --max-semi-space-size=1 (many
// scavenges); a watchdog tells a frozen child (no heartbeat, no CPU) from a slow one.
// The positive control is the same loop whose main thread blocks on a lock after 2,000 seals:
// the watchdog must call it frozen and name the lock. (The old construction itself is no
// dependable control: it froze this loop after 5,000 to 46,000 keys on one machine with Node
// 20.20, yet ran 400,000 keys in 10 minutes on CI's without freezing. `npm run soak -- --control`
// runs it.)
// The long soak (≥ 1,000,000 deliveries of each KEM) is `npm run soak`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchChild } from '../../bench/watchdog.mjs';

const dir = mkdtempSync(join(tmpdir(), 'tokumei-freeze-'));
const probe = join(dir, 'freeze-probe.mjs');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await build({ entryPoints: [new URL('./freeze-probe.ts', import.meta.url).pathname], bundle: true, platform: 'node', format: 'esm', outfile: probe, logLevel: 'error' });
});

const flags = ['--max-semi-space-size=1'];

describe.skipIf(process.platform !== 'linux')('X25519 sealing under garbage-collection pressure', () => {
  it('seals 50,000 times without freezing; a main thread blocked on a lock in the same loop is seen frozen', async () => {
    const watch = { flags, stallMs: 8000, busyStallMs: 300_000, maxMs: 300_000 };
    const [control, fixed] = await Promise.all([watchChild(probe, ['50000', 'stall'], watch), watchChild(probe, ['50000', 'fixed'], watch)]);
    expect(control.outcome, control.detail).toBe('frozen');
    expect(control.detail).toMatch(/futex|lock/i);
    expect(fixed.outcome, fixed.detail).toBe('done');
    expect(fixed.count).toBe(50_000);
  }, 330_000);
});
