// A real PostgreSQL server for the tests, with no system service: the first suite that needs one
// starts a private cluster (initdb + pg_ctl, listening only on a Unix socket in a temporary
// directory; as root it runs as the unprivileged `postgres` user), and every suite gets a fresh
// database in it. If PostgreSQL is not installed the tests fail, loudly: they never skip.
import { execFileSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { inject } from 'vitest';

/** Where Debian puts each PostgreSQL version's programs; 15 first. */
function binDir(): string {
  const override = process.env.TOKUMEI_TEST_PG_BIN;
  if (override !== undefined) return override;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => (a === '15' ? -1 : b === '15' ? 1 : Number(b) - Number(a))) : [];
  const found = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')));
  if (found === undefined) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql, or set TOKUMEI_TEST_PG_BIN');
  return found;
}

function run(program: string, args: string[]): void {
  const asRoot = process.getuid?.() === 0;
  const [cmd, ...rest] = asRoot ? ['runuser', '-u', 'postgres', '--', program, ...args] : [program, ...args];
  execFileSync(cmd!, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Starts the cluster in `dir` (once per test run), or waits for the suite that is starting it. */
async function cluster(dir: string): Promise<string> {
  const ready = join(dir, 'ready');
  const failed = join(dir, 'failed');
  let starter = false;
  try {
    closeSync(openSync(join(dir, 'start.lock'), 'wx'));
    starter = true;
  } catch {
    // another suite is starting it
  }
  if (starter) {
    try {
      const bin = binDir();
      if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
      run(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
      writeFileSync(join(dir, 'bin'), join(bin, 'pg_ctl'));
      run(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-w', '-t', '120', '-l', join(dir, 'log'), '-o', `-c listen_addresses='' -c unix_socket_directories=${dir} -c max_connections=200`, 'start']);
      writeFileSync(ready, '');
    } catch (err) {
      const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : '';
      writeFileSync(failed, `${String((err as Error).message)}\n${String((err as { stderr?: unknown }).stderr ?? '')}\n${log}`);
      throw err;
    }
  }
  for (let waited = 0; !existsSync(ready); waited += 100) {
    if (existsSync(failed)) throw new Error(`the test PostgreSQL cluster did not start:\n${readFileSync(failed, 'utf8')}`);
    if (waited > 180_000) throw new Error('the test PostgreSQL cluster did not start within 180 s');
    await sleep(100);
  }
  return dir;
}

let counter = 0;

/** A fresh, empty database on the test cluster; its connection string. */
export async function freshPostgresDatabase(): Promise<string> {
  const socketDir = await cluster(inject('postgresDir'));
  const name = `t_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const admin = new pg.Client({ host: socketDir, user: 'postgres', database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return `postgresql://postgres@/${name}?host=${encodeURIComponent(socketDir)}`;
}
