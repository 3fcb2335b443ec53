// The 500,000-member data set of the scale benchmark (scale.mjs), built once and cached under
// .bench-data/ (git-ignored): the bench master keys, the wrapped member keys as JSON lines, and
// for each database store a ready database (a PGlite directory, a PostgreSQL cluster) that every
// run copies to a temporary directory first, so no run sees another's changes.
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const DATA_DIR = fileURLToPath(new URL('../../.bench-data/', import.meta.url));
/** The `tokumei/server` build under test: this checkout's dist/, or `TOKUMEI_BENCH_DIST` (a path). */
export const DIST = process.env.TOKUMEI_BENCH_DIST ? new URL(`file://${process.env.TOKUMEI_BENCH_DIST}`).href : new URL('../../dist/server.js', import.meta.url).href;

/** The member id of member number `i`. */
export const memberId = (i) => `M${String(i).padStart(7, '0')}`;

/** The bench's two master keys (the current one and a rewrap target): test values, not secrets. */
export function masterKeyBytes() {
  mkdirSync(DATA_DIR, { recursive: true });
  const file = join(DATA_DIR, 'master-keys.hex');
  if (!existsSync(file)) {
    const hex = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');
    writeFileSync(file, `${hex()}\n${hex()}\n`, { mode: 0o600 });
  }
  const [current, next] = readFileSync(file, 'utf8').trim().split('\n').map((h) => new Uint8Array(Buffer.from(h, 'hex')));
  return { current, next };
}

/** Every entry of a seed file, one at a time (without the store's revision). */
export async function* seedEntries(path) {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length === 0) continue;
    const { revision: _, ...entry } = JSON.parse(line);
    yield entry;
  }
}

/**
 * The seed file of `n` members (one key each, wrapped under the current bench master key),
 * made through the public API on a memory store the first time. Returns its path and, when it
 * was made now, how long that took.
 */
export async function seedFile(n) {
  const path = join(DATA_DIR, `members-${n}.jsonl`);
  if (existsSync(path)) return { path };
  const { createKeyEnvironment, localMasterKey, memoryKeyStore } = await import(DIST);
  const store = memoryKeyStore();
  const env = createKeyEnvironment({ masterKey: localMasterKey(masterKeyBytes().current), store, authenticate: () => null });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await env.createMemberKey(memberId(i));
  const seconds = (performance.now() - t0) / 1000;
  const tmp = `${path}.tmp`;
  const out = createWriteStream(tmp, { mode: 0o600 });
  let after;
  for (;;) {
    const batch = await store.list(after === undefined ? { limit: 10_000 } : { after, limit: 10_000 });
    if (batch.length === 0) break;
    for (const e of batch) if (!out.write(`${JSON.stringify(e)}\n`)) await new Promise((r) => out.once('drain', r));
    after = batch[batch.length - 1].keyId;
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  renameSync(tmp, path);
  return { path, seconds, rate: n / seconds };
}

/** Inserts every seed entry into a store, `concurrency` at a time. */
export async function insertAll(store, path, concurrency = 1) {
  const pending = new Set();
  for await (const entry of seedEntries(path)) {
    const p = store.insert(entry).then(() => pending.delete(p));
    pending.add(p);
    if (pending.size >= concurrency) await Promise.race(pending);
  }
  await Promise.all(pending);
}

/**
 * Bulk-loads every seed entry into a database whose schema `openDatabase` has made: multi-row
 * INSERTs of 5,000 in one transaction each, through `query(sql, params)` (PGlite's or pg's).
 * Only for building the data set: one createMemberKey at a time is what the benchmark measures.
 */
export async function bulkInsert(query, path) {
  const columns = ['key_id', 'member_id', 'version', 'created_at', 'state', 'master_key_id', 'wrapped'];
  const types = ['text', 'text', 'int', 'bigint', 'text', 'text', 'text'];
  const sql = `INSERT INTO tokumei.member_keys (${columns.join(', ')}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;
  let rows = columns.map(() => []);
  const flush = async () => {
    if (rows[0].length > 0) await query(sql, rows);
    rows = columns.map(() => []);
  };
  for await (const e of seedEntries(path)) {
    [e.keyId, e.memberId, e.version, e.createdAt, e.state, e.masterKeyId, e.wrapped].forEach((v, i) => rows[i].push(v));
    if (rows[0].length === 5_000) await flush();
  }
  await flush();
}

// --- PostgreSQL: a private cluster on a Unix socket (as root, run as the `postgres` user) ---

function pgBin() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')));
  if (found === undefined) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)');
  return found;
}

const asRoot = process.getuid?.() === 0;

function runPg(program, args, cpu) {
  const asUser = asRoot ? ['runuser', '-u', 'postgres', '--', program, ...args] : [program, ...args];
  const [cmd, ...rest] = cpu === undefined ? asUser : ['taskset', '-c', String(cpu), ...asUser];
  execFileSync(cmd, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function ownByPostgres(dir) {
  if (!asRoot) return;
  execFileSync('chown', ['-R', 'postgres:postgres', dir]);
}

/**
 * Starts a cluster whose data directory is `dir/data` (its processes pinned to `cpu` when given);
 * returns its connection URL, a stop function and the CPU time its processes have used so far.
 */
export function startPostgres(dir, { cpu } = {}) {
  const bin = pgBin();
  ownByPostgres(dir);
  runPg(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-w', '-t', '120', '-l', join(dir, 'log'), '-o', `-c listen_addresses='' -c unix_socket_directories=${dir} -c max_connections=200 -c fsync=on`, 'start'], cpu);
  const postmaster = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url: `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`,
    stop: () => runPg(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-w', '-m', 'fast', 'stop']),
    cpuMicros: () => treeCpuMicros(postmaster),
  };
}

let ticksPerSecond;
/**
 * CPU time (user + system, µs) used so far by process `root` and every process below it, those
 * already exited and reaped included (Linux /proc; PostgreSQL's backends are the postmaster's
 * children).
 */
export function treeCpuMicros(root) {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const procs = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // After "pid (comm) ": state, ppid, …; utime, stime, cutime, cstime are fields 14-17.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    procs.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
  }
  let ticks = 0;
  const inTree = (pid) => {
    for (let p = pid; p > 1; p = procs.get(p)?.ppid ?? 0) if (p === root) return true;
    return false;
  };
  for (const [pid, p] of procs) if (inTree(pid)) ticks += p.ticks;
  return (ticks / ticksPerSecond) * 1e6;
}

/** A new, empty cluster in `dir`. */
export function initPostgres(dir) {
  mkdirSync(dir, { recursive: true });
  ownByPostgres(dir);
  runPg(join(pgBin(), 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8']);
}

/** Copies a cached directory to a fresh temporary one (`cp -a`: keeps owners and modes). */
export function copyToTemp(dir, prefix) {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  if (asRoot) chownSync(tmp, 0, 0);
  const r = spawnSync('cp', ['-a', `${dir}/.`, tmp]);
  if (r.status !== 0) throw new Error(`copying ${dir} failed: ${r.stderr}`);
  return tmp;
}

/** Removes a directory made by copyToTemp. */
export const removeDir = (dir) => rmSync(dir, { recursive: true, force: true });
