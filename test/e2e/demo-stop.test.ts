// Every way of stopping `npm run demo` stops every process it started: SIGINT or SIGTERM to npm
// alone (a process manager, a script, a CI job, none of which has a terminal to signal the whole
// group), and SIGINT to the whole process group (Ctrl-C in a terminal). The demo runs in a process
// group of its own, so "nothing is left" is checked on that group.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'tokumei-demo-stop-'));
  const seeded = spawnSync(process.execPath, [join(ROOT, 'examples/portal/demo.mjs'), 'seed'], { env: { ...process.env, TOKUMEI_DEMO_DATA: dataDir, DEMO_MEMBERS: '3' }, encoding: 'utf8' });
  expect(seeded.status, seeded.stderr).toBe(0);
}, 300_000); // two embedded databases are created (PGlite's initdb)
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The processes of a process group, as `ps` lists them. */
function groupMembers(pgid: number): string[] {
  const ps = spawnSync('ps', ['-o', 'pid=,args=', '-g', String(pgid)], { encoding: 'utf8' });
  return ps.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** Starts `npm run demo` as the leader of a new process group; resolves once it serves the portal. */
async function startNpmDemo(): Promise<{ npm: ChildProcess; pgid: number }> {
  const npm = spawn('npm', ['run', 'demo'], { cwd: ROOT, detached: true, env: { ...process.env, PORT: '0', TOKUMEI_DEMO_DATA: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  npm.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  npm.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (/Portal: http/.test(output)) {
        clearInterval(timer);
        resolve();
      }
    }, 50);
    npm.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`npm run demo exited (${code}) before it served the portal:\n${output}`));
    });
  });
  return { npm, pgid: npm.pid! };
}

/** Waits until the group is empty (or `ms` passed); what is left. */
async function leftAfter(pgid: number, ms: number): Promise<string[]> {
  for (const until = Date.now() + ms; Date.now() < until; await sleep(200)) if (groupMembers(pgid).length === 0) return [];
  return groupMembers(pgid);
}

const CASES: [string, (pgid: number) => void][] = [
  ['SIGINT to npm alone', (pgid) => process.kill(pgid, 'SIGINT')],
  ['SIGTERM to npm alone', (pgid) => process.kill(pgid, 'SIGTERM')],
  ['SIGINT to the whole process group (Ctrl-C in a terminal)', (pgid) => process.kill(-pgid, 'SIGINT')],
];

describe('stopping npm run demo', { timeout: 240_000 }, () => {
  it.each(CASES)('%s stops every process it started', async (_name, signal) => {
    const { pgid } = await startNpmDemo();
    try {
      // The positive control: npm, the demo and its three services are there to be seen.
      const running = groupMembers(pgid);
      for (const name of ['npm run demo', 'examples/portal/demo.mjs', 'sso.mjs', 'key-env.mjs', 'data-env.mjs']) expect(running.some((p) => p.includes(name)), `${name} in ${running.join('\n')}`).toBe(true);
      signal(pgid);
      expect(await leftAfter(pgid, 30_000)).toEqual([]);
    } finally {
      try {
        process.kill(-pgid, 'SIGKILL'); // whatever a failure left behind
      } catch {
        // nothing left: the expected case
      }
    }
  });
});
