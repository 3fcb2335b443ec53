// Key-environment instances as child processes: bundled once with esbuild (the database drivers
// stay external and are found through a link to the repository's node_modules), started, stopped,
// killed; the bundle's temporary directory removed once nothing runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';

const root = new URL('../../..', import.meta.url).pathname;
/** The bundles this module made and has not removed. */
const bundles = new Set<string>();

/** Bundles a TypeScript entry for node; returns the path of the bundle. Remove it with {@link removeBundle}. */
export async function bundle(entry: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tokumei-instance-'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const out = join(dir, 'main.mjs');
  bundles.add(out);
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['@electric-sql/pglite', 'pg'],
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return out;
}

/** The ids of this process's children that run `main` and have not exited (from /proc). */
function childrenRunning(main: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || state === 'Z') continue; // Z: exited, not yet reaped
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(main)) pids.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/**
 * Removes a bundle's temporary directory (the link to node_modules is removed, never followed)
 * once nothing runs it: a child of this process still running it — an instance of `start`, or
 * one a test spawned itself and left behind — is killed (SIGKILL) and waited for first. A path
 * `bundle` did not return is left alone.
 */
export async function removeBundle(main: string | undefined): Promise<void> {
  if (main === undefined || !bundles.has(main)) return;
  for (const pid of childrenRunning(main)) process.kill(pid, 'SIGKILL');
  for (let waited = 0; childrenRunning(main).length > 0; waited += 20) {
    if (waited > 10_000) throw new Error(`processes running ${main} did not exit within 10 s of SIGKILL`);
    await sleep(20);
  }
  bundles.delete(main);
  rmSync(dirname(main), { recursive: true, force: true });
}

/** A running instance. */
export interface Instance {
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything it wrote to stderr. */
  stderr(): string;
  /** SIGTERM, then waits for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/** Starts `main` with `env`; resolves when it announces its port (one JSON line on stdout). */
export function start(main: string, env: Record<string, string>, timeoutMs = 240_000): Promise<Instance> {
  const child = spawn(process.execPath, [main], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance did not start in ${timeoutMs} ms: ${err}`)), timeoutMs);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      const { port } = JSON.parse(out.slice(0, nl)) as { port: number };
      resolve({
        child,
        port,
        url: `http://127.0.0.1:${port}`,
        stderr: () => err,
        stop: () => (child.exitCode !== null ? Promise.resolve(child.exitCode) : (child.kill('SIGTERM'), exited)),
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited (${code}) before it started: ${err}`));
    });
  });
}
