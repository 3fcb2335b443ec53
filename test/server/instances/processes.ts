// Key-environment instances as child processes: bundled once with esbuild (the database drivers
// stay external and are found through a link to the repository's node_modules), started, stopped,
// killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('../../..', import.meta.url).pathname;

/** Bundles a TypeScript entry for node; returns the path of the bundle. */
export async function bundle(entry: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tokumei-instance-'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const out = join(dir, 'main.mjs');
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
