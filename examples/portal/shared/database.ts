// Where each environment's database is, one process at a time in an embedded one, and how the
// audit reads an embedded one that the running demo holds open.
//
// The key environment and the data environment each have a database of their own: by default
// an embedded PGlite in their own folder under the demo's data folder, or the PostgreSQL server
// that KEY_ENV_DATABASE_URL or DATA_ENV_DATABASE_URL names. The two never share a database: the
// separation of keys from data is the point of the model, so a configuration that points both
// at one database is refused before anything opens it. Two connection strings can differ and
// still reach one database (`localhost` and `127.0.0.1`, `/var/run/postgresql` and
// `/run/postgresql`), so each environment also looks for the other's tables before it creates
// its own — under one advisory lock both take, held until its own tables are committed, so that
// of two environments starting at once on one database the second sees the first's tables.
//
// PGlite lets one process at a time open a directory (and takes no lock itself), so the audit
// copies a busy directory the way a base backup does — pg_control first, the data files next,
// the write-ahead log last — and opens the copy, which replays the log as after a crash.
import { closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The variables that move an environment's database to a PostgreSQL server. */
export const DATABASE_URL_VARIABLES = { key: 'KEY_ENV_DATABASE_URL', data: 'DATA_ENV_DATABASE_URL' } as const;

/** Host, port and database a connection string names (`pg`'s syntax), or `undefined` when it does not parse. */
function databaseIdentity(url: string): string | undefined {
  // `postgresql://user@/db?host=/run/postgresql` has no host in its authority, which WHATWG URL
  // refuses: give it a placeholder that stands for the default (PGHOST or the local socket).
  const DEFAULT = 'default-host.invalid';
  let u: URL;
  try {
    u = new URL(url.replace(/^(postgres(?:ql)?:\/\/(?:[^@/?#]*@)?)(?=[/?#]|$)/, `$1${DEFAULT}`));
  } catch {
    return undefined;
  }
  const param = (name: string): string | undefined => u.searchParams.get(name) || undefined;
  const user = decodeURIComponent(u.username) || param('user') || '';
  const host = param('host') ?? (u.hostname === DEFAULT ? '' : decodeURIComponent(u.hostname));
  const port = param('port') ?? (u.port || '5432');
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || param('database') || user;
  return `${host}:${port}/${database}`;
}

/** Whether two connection strings name the same database (same host, port and database name). */
export function sameDatabase(a: string, b: string): boolean {
  if (a === b) return true;
  const ia = databaseIdentity(a);
  return ia !== undefined && ia === databaseIdentity(b);
}

/**
 * The PostgreSQL server an environment's variable names, or `undefined` for its embedded
 * database. Throws when both variables name one database.
 */
export function databaseUrl(environment: 'key' | 'data', env: NodeJS.ProcessEnv = process.env): string | undefined {
  const urls = { key: env[DATABASE_URL_VARIABLES.key] || undefined, data: env[DATABASE_URL_VARIABLES.data] || undefined };
  if (urls.key !== undefined && urls.data !== undefined && sameDatabase(urls.key, urls.data)) {
    throw new Error(
      `${DATABASE_URL_VARIABLES.key} and ${DATABASE_URL_VARIABLES.data} name the same database. The key environment and the data environment must never share one — keeping member keys apart from the data they open is the point of the model. Give each its own database (or unset one to use its embedded database).`,
    );
  }
  return urls[environment];
}

/** What a database of the other environment holds, to recognise it by: a table only that environment has. */
export const ENVIRONMENT_TABLES = { key: 'tokumei.member_keys', data: 'data_env.identity_records' } as const;

/** Runs one parameterised statement. */
export type Query = (sql: string, params: unknown[]) => Promise<{ rows: unknown[] }>;

/**
 * Refuses a database that already holds the other environment's tables (two connection strings
 * that differ but reach one database, e.g. `localhost` and `127.0.0.1`).
 */
export async function refuseOtherEnvironment(query: Query, other: 'key' | 'data'): Promise<void> {
  const { rows } = await query('SELECT to_regclass($1) IS NOT NULL AS present', [ENVIRONMENT_TABLES[other]]);
  if ((rows[0] as { present: boolean }).present) {
    const mine = other === 'key' ? 'data' : 'key';
    throw new Error(`${DATABASE_URL_VARIABLES[mine]} names a database that holds the ${other} environment's tables (${ENVIRONMENT_TABLES[other]}). The two environments must never share a database: give each its own.`);
  }
}

/**
 * The advisory lock both environments hold from their check for the other's tables until their
 * own tables are committed: one fixed key ("tkdm" in ASCII), the same in both.
 */
export const SET_UP_LOCK = 0x746b646d;

/** Where a test holds an environment's set-up, and the weakened variant its positive control races. */
export interface SetUpSeams {
  /** Awaited after the check passed, before the environment's tables are created. */
  afterCheck?: () => Promise<void>;
  /** `false` leaves the lock out — the deliberately weakened variant; never in the demo. */
  lock?: boolean;
}

/**
 * Claims a database for environment `mine`, inside a transaction the caller opened on `query`
 * and keeps open until the environment's tables are committed: takes {@link SET_UP_LOCK} (held
 * until that transaction ends), then refuses a database that holds the other environment's
 * tables. Whichever environment comes second waits for the lock, then sees the first's tables.
 */
export async function claimDatabase(query: Query, mine: 'key' | 'data', seams: SetUpSeams = {}): Promise<void> {
  // Each statement sees what is committed when it starts — not a snapshot from before the lock
  // was granted, whatever the database's default isolation.
  await query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED', []);
  if (seams.lock !== false) await query('SELECT pg_advisory_xact_lock($1)', [SET_UP_LOCK]);
  await refuseOtherEnvironment(query, mine === 'key' ? 'data' : 'key');
  await seams.afterCheck?.();
}

/** A row of any table, for the audit: the table, a label naming the row, the row as JSON. */
export interface StoredRow {
  table: string;
  key: string;
  row: Record<string, unknown>;
}

/** Every row of every table in a database, whatever its schema (system catalogs aside). */
export async function everyRow(query: (sql: string) => Promise<{ rows: unknown[] }>): Promise<StoredRow[]> {
  const { rows: tables } = (await query(
    `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables
     WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
  )) as { rows: { name: string }[] };
  const out: StoredRow[] = [];
  for (const { name } of tables) {
    const { rows } = (await query(`SELECT to_jsonb(t) AS row FROM ${name} t`)) as { rows: { row: Record<string, unknown> }[] };
    rows.forEach(({ row }, i) => {
      const key = typeof row.record_id === 'string' ? row.record_id : typeof row.pseudonym === 'string' ? `${row.pseudonym}${typeof row.day === 'string' ? ` ${row.day}` : ''}` : `row ${i + 1}`;
      out.push({ table: name, key, row });
    });
  }
  return out;
}

/** Every row of the database a PostgreSQL server holds at `url`, through a connection of its own. */
export async function everyRowAt(url: string): Promise<StoredRow[]> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await everyRow((text) => client.query(text));
  } finally {
    await client.end();
  }
}

/**
 * Sets environment `mine` up on the PostgreSQL server at `url` with the database claimed
 * ({@link claimDatabase}) through a connection of its own: `setUp` creates the environment's
 * tables (through connections of its own, committing them) and the lock is let go only after it
 * resolved. Resolves with what `setUp` resolved with.
 */
export async function setUpClaimedAt<T>(url: string, mine: 'key' | 'data', setUp: () => Promise<T>, seams: SetUpSeams = {}): Promise<T> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await claimDatabase((text, params) => client.query(text, params), mine, seams);
    return await setUp();
  } finally {
    // The transaction wrote nothing: ending the connection ends it, and the lock with it.
    await client.end();
  }
}

/** Whether a process with this id runs on this machine. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `dir/<lockName>` for this process, or throws while another live process holds it (a lock
 * left by a process that died is taken over). Returns the release function.
 */
export function lockDirectory(dir: string, lockName: string): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, lockName);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = lockHolder(dir, lockName);
    if (holder !== undefined) throw new Error(`the embedded database in ${dir} is open in another process (pid ${holder})`);
    rmSync(path, { force: true }); // stale: its process is gone
  }
  throw new Error(`the lock of the embedded database in ${dir} keeps changing hands`);
}

/** The live process holding `dir/<lockName>`, if any. */
export function lockHolder(dir: string, lockName: string): number | undefined {
  let pid = Number.NaN;
  try {
    pid = Number.parseInt(readFileSync(join(dir, lockName), 'utf8'), 10);
  } catch {
    return undefined;
  }
  return Number.isSafeInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** Copies an embedded database directory another process has open, in base-backup order; the copy's path. */
export function copyForReading(dir: string, lockName: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'tokumei-audit-db-'));
  cpSync(join(dir, 'global'), join(copy, 'global'), { recursive: true });
  for (const name of readdirSync(dir)) {
    if (name !== 'global' && name !== 'pg_wal' && name !== lockName) cpSync(join(dir, name), join(copy, name), { recursive: true });
  }
  cpSync(join(dir, 'pg_wal'), join(copy, 'pg_wal'), { recursive: true });
  return copy;
}
