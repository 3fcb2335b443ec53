// SIGKILL at random moments while the key environment creates keys, rotates, retires older
// versions, re-wraps under a new master key and revokes sessions — all at once, so each kill
// lands in the middle of each kind of operation. After every kill it starts again on the same
// embedded database (PGlite on disk), and what it holds is checked against every acknowledged
// operation: 0 lost, 0 duplicated, 0 torn, 0 changed; every acknowledged retire retired, and no
// version retired that no retire was begun for (a retire cut short is either done or not, never
// half). At least 20 kills land in each kind of operation. The positive control: the last run
// also acknowledges a key and a retire it never wrote, and the same check must see exactly those.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, removeBundle } from '../instances/processes.ts';
import { CLEAN, Ledger, type Report } from './ledger.ts';
import { spawnLines, type LineChild } from './lines.ts';

const KILLS = 24;
const KINDS = ['create', 'rotate', 'retire', 'rewrap', 'revoke'] as const;
const dir = mkdtempSync(join(tmpdir(), 'tokumei-faults-'));
let main: string;
beforeAll(async () => {
  main = await bundle(new URL('fault-main.ts', import.meta.url).pathname);
}, 120_000);
afterAll(async () => {
  await removeBundle(main);
  rmSync(dir, { recursive: true, force: true });
});

describe('SIGKILL during creation, rotation, retire, rewrap and revocation (embedded PGlite on disk)', () => {
  it(`${KILLS} kills, each at a random moment: it always starts again, and nothing acknowledged is lost, duplicated, torn or half-retired`, async () => {
    const masters = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')].join(',');
    const database = `dir:${join(dir, 'db')}`;
    const revokedFile = join(dir, 'revoked.txt');
    const ledger = new Ledger();
    const restart = async (cycle: number, mode: Record<string, string> = {}): Promise<{ child: LineChild; report: Report }> => {
      writeFileSync(revokedFile, ledger.revoked.join('\n'));
      const child = spawnLines(main, { TOKUMEI_DATABASE: database, TOKUMEI_FAULT_MASTERS: masters, TOKUMEI_FAULT_CYCLE: String(cycle), TOKUMEI_FAULT_REVOKED: revokedFile, ...mode });
      const state = await child.waitFor((l) => l.startsWith('state '));
      return { child, report: JSON.parse(state.slice(6)) as Report };
    };
    const landed: Record<(typeof KINDS)[number], number> = { create: 0, rotate: 0, retire: 0, rewrap: 0, revoke: 0 };
    // Retires a kill cut short, and what the next restart found: done, or not done.
    const cutShort = { retired: 0, active: 0 };
    let inFlightRetires: string[] = [];
    // Where the time goes, in ms: start-up with its check (of which opening the database, and
    // reading and checking what it holds), set-up, running until the kill.
    const spent = { restart: 0, open: 0, check: 0, setup: 0, running: 0 };
    const opens: number[] = [];
    for (let cycle = 0; cycle < KILLS; cycle++) {
      let t = performance.now();
      // The last run before the last kill is the positive control (see below).
      const { child, report } = await restart(cycle, cycle === KILLS - 1 ? { TOKUMEI_FAULT_CONTROL: '1' } : {});
      spent.restart += performance.now() - t;
      spent.open += report.ms?.open ?? 0;
      opens.push(report.ms?.open ?? -1);
      spent.check += report.ms?.check ?? 0;
      expect(ledger.verify(report), `after kill ${cycle}`).toEqual(CLEAN);
      for (const keyId of inFlightRetires) cutShort[report.entries.find((e) => e.keyId === keyId)?.state ?? 'active']++;
      t = performance.now();
      await child.waitFor((l) => l === 'ready');
      spent.setup += performance.now() - t;
      t = performance.now();
      await sleep(300 + Math.floor(Math.random() * 2200));
      spent.running += performance.now() - t;
      expect(await child.kill(), `kill ${cycle + 1} landed on a running key environment; stderr: ${child.stderr()}`).toBe(true);
      // Which operations were in flight when the kill landed (begun, not acknowledged).
      const open = new Map<string, number>();
      const retiring = new Set<string>();
      for (const line of child.lines) {
        ledger.record(line);
        const [tag, kind, keyId] = line.split(' ');
        if (tag === 'fail') throw new Error(`the key environment failed: ${line}\n${child.stderr()}`);
        const k = kind === 'revoke-member' ? 'revoke' : kind!;
        if (tag === 'begin') open.set(k, (open.get(k) ?? 0) + 1);
        if (tag === 'ack') open.set(k, (open.get(k) ?? 0) - 1);
        if (tag === 'begin' && kind === 'retire') retiring.add(keyId!);
        if (tag === 'ack' && kind === 'retire') retiring.delete(keyId!);
      }
      for (const k of KINDS) if ((open.get(k) ?? 0) > 0) landed[k]++;
      inFlightRetires = [...retiring];
    }

    // After the last kill: everything acknowledged is there, except what the control acknowledged
    // without doing it — one key never created, one retire never done — which the check must see.
    const { child: last, report } = await restart(KILLS, { TOKUMEI_FAULT_VERIFY_ONLY: '1' });
    expect(await last.exited).toBe(0);
    expect(ledger.verify(report), `after kill ${KILLS}, with the control's two false acknowledgements`).toEqual({ ...CLEAN, lost: 1, unretired: 1 });
    for (const keyId of inFlightRetires) cutShort[report.entries.find((e) => e.keyId === keyId)?.state ?? 'active']++;
    expect(report.count).toBeGreaterThanOrEqual(ledger.keys.size - 1);

    console.log(`faults: ${KILLS} SIGKILLs; landed in ${JSON.stringify(landed)}; acknowledged ${ledger.keys.size} keys, ${ledger.retired.size} retires, ${ledger.revoked.length} revocations; retires cut short by a kill, found after the restart ${JSON.stringify(cutShort)}; every restart: ${JSON.stringify(CLEAN)}; ms spent ${JSON.stringify(spent, (_, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}, opening the database at each restart ${opens.join(' ')}`);
    for (const k of KINDS) expect(landed[k], k).toBeGreaterThanOrEqual(20);
    expect(ledger.keys.size).toBeGreaterThan(KILLS);
    expect(ledger.retired.size).toBeGreaterThan(KILLS);
    expect(ledger.revoked.length).toBeGreaterThan(KILLS);
  }, 3_600_000);
});
