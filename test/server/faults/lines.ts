// A child process whose stdout is read line by line (the fault tests' key environment).
import { spawn, type ChildProcess } from 'node:child_process';

/** A running child: every stdout line so far, a wait for a line, SIGKILL. */
export interface LineChild {
  child: ChildProcess;
  lines: string[];
  stderr(): string;
  /** Resolves with the first line (from the start) that `match` accepts. */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** SIGKILL; resolves once it has exited: `true` when it was still running and the kill ended it. */
  kill(): Promise<boolean>;
  exited: Promise<number | null>;
}

/** Starts `node main` with `env`. */
export function spawnLines(main: string, env: Record<string, string>): LineChild {
  const child = spawn(process.execPath, [main], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  let partial = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  // 'close', not 'exit': stdout may still hold the last lines when the process has exited.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    stderr: () => err,
    waitFor(match, timeoutMs = 300_000) {
      const found = lines.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching line in ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`exited (${code}) before a matching line; stderr: ${err}`));
        });
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    async kill() {
      const running = child.exitCode === null && child.signalCode === null;
      if (running) child.kill('SIGKILL');
      await exited;
      return running && child.signalCode === 'SIGKILL';
    },
  };
}
