// Runs once per `vitest run`: a private directory for the throwaway PostgreSQL cluster that the
// database tests start on first use (test/server/database/postgres.ts), and its teardown. Suites
// that never touch PostgreSQL cost nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'tokumei-pg-'));
  project.provide('postgresDir', dir);
  return () => {
    // The suite that started the cluster wrote where pg_ctl is; stop the server before removing it.
    if (existsSync(join(dir, 'bin')) && existsSync(join(dir, 'data', 'postmaster.pid'))) {
      const stop = [readFileSync(join(dir, 'bin'), 'utf8'), '-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop'];
      const [cmd, ...args] = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...stop] : stop;
      try {
        execFileSync(cmd!, args, { stdio: 'ignore' });
      } catch {
        // already stopped
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
