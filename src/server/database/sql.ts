// One small SQL interface over the two engines the key environment runs on: a PostgreSQL server
// through `pg`, and PGlite (PostgreSQL compiled to WebAssembly, in-process, on disk). Both are
// optional peer dependencies, loaded only when a database is opened.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TokumeiError } from '../../errors.ts';
import { durableNodeFs, durableStartParams, fsyncTree, type NodeFsClass } from './durable-fs.ts';
import { nextTurn, statementTurns } from './turns.ts';

/** Rows of one statement. */
export interface SqlResult<R> {
  rows: R[];
  /** Rows inserted, updated or deleted. */
  rowCount: number;
}

/** Runs one parameterised statement. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<R>>;
}

/** An open database (internal). */
export interface SqlDatabase extends Sql {
  readonly engine: 'postgresql' | 'pglite';
  /**
   * Runs `fn` in one transaction: BEGIN, `fn`, COMMIT — resolved only after COMMIT returned;
   * rolled back when `fn` throws.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The refusal when an optional peer dependency is not installed. */
function missing(name: string, version: string, cause: unknown): TokumeiError {
  return new TokumeiError('ERR_STORAGE_UNAVAILABLE', `the key environment's database needs the optional peer dependency "${name}": npm install --save-exact ${name}@${version}`, { cause });
}

const isMissingModule = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
};

/**
 * Loads an optional peer dependency by name. The name goes through a variable so that bundlers
 * leave the import alone: it is resolved at run time, from the application's node_modules.
 */
export async function loadPeer<M>(name: string, version: string): Promise<M> {
  try {
    return (await import(/* @vite-ignore */ name)) as M;
  } catch (err) {
    if (isMissingModule(err)) throw missing(name, version, err);
    throw err;
  }
}

interface PgQuery {
  /** A named statement is parsed and planned once per connection, then only bound and run. */
  name?: string;
  text: string;
  values: unknown[];
}
interface PgClient {
  query(query: PgQuery | string): Promise<{ rows: unknown[]; rowCount: number | null }>;
  release(destroy?: boolean): void;
}
interface PgPool {
  connect(): Promise<PgClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
type PgModule = { default: { Pool: new (config: Record<string, unknown>) => PgPool } };

// The per-member session cap and the token records rely on READ COMMITTED: each statement of a
// delivery's transaction sees every session committed before it took the member's lock. A
// database or role whose default is REPEATABLE READ would let two sign-ins both pass the cap, so
// every connection sets it for itself before its first statement.
const SESSION_SETUP = 'SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED';

/**
 * Whether a connection is still usable after `err`: after a PostgreSQL error (it has a SQLSTATE)
 * it is, except after 0A000 — a table's columns changed under a prepared statement (another
 * instance migrated the schema), which only a new connection prepares afresh. Anything else (a
 * protocol or socket failure) drops the connection.
 */
const keepsConnection = (err: unknown): boolean => {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code !== '0A000';
};

/** The most distinct statements one pool names (prepares); the library has a few dozen. */
const MAX_NAMED = 256;

/**
 * Opens a pool of connections to a PostgreSQL server. Every statement with parameters is a named
 * (prepared) statement, parsed and planned once per connection: a delivery's statements then cost
 * the server only their execution. A connection pooler in front must keep a client's connection
 * for its session (PgBouncer: session pooling, or transaction pooling with prepared statements
 * enabled, 1.21 and later).
 */
export async function openPostgres(url: string, maxConnections: number): Promise<SqlDatabase> {
  const pg = await loadPeer<PgModule>('pg', '8.23.1');
  const pool = new pg.default.Pool({ connectionString: url, max: maxConnections });
  // An idle connection the server drops must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const ready = new WeakSet<PgClient>();
  const names = new Map<string, string>();
  const statement = (text: string, params: readonly unknown[]): PgQuery => {
    let name = names.get(text);
    if (name === undefined && params.length > 0 && names.size < MAX_NAMED) names.set(text, (name = `tokumei_${names.size}`));
    return name === undefined ? { text, values: [...params] } : { name, text, values: [...params] };
  };
  /** A connection of the pool, set up before its first use; `release(broken)` gives it back. */
  const connect = async (): Promise<PgClient> => {
    const client = await pool.connect();
    if (!ready.has(client)) {
      try {
        await client.query(SESSION_SETUP);
      } catch (err) {
        client.release(true);
        throw err;
      }
      ready.add(client);
    }
    return client;
  };
  const run = async <R>(client: PgClient, text: string, params: readonly unknown[]): Promise<SqlResult<R>> => {
    const r = await client.query(statement(text, params));
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  };
  return {
    engine: 'postgresql',
    async query<R>(text: string, params: readonly unknown[] = []) {
      const client = await connect();
      let broken = false;
      try {
        return await run<R>(client, text, params);
      } catch (err) {
        broken = !keepsConnection(err);
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      const client = await connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        try {
          const out = await fn({ query: (text, params = []) => run(client, text, params) });
          await client.query('COMMIT');
          return out;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => (broken = true));
          throw err;
        }
      } catch (err) {
        broken ||= !keepsConnection(err);
        throw err;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

interface PGliteTx {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
}
interface PGliteDb extends PGliteTx {
  waitReady: Promise<void>;
  transaction<T>(fn: (tx: PGliteTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
type PGliteModule = { PGlite: (new (options?: Record<string, unknown>) => PGliteDb) & { defaultStartParams?: readonly string[] } };

/**
 * Opens PGlite in `dir` (created when missing), or in memory when `dir` is undefined. On disk,
 * every commit is fsynced before it returns (durable-fs.ts); a database PGlite has just created
 * (its initdb runs with fsync off) is flushed as a whole before it is used. Statements take turns
 * of the event loop (turns.ts); `turns: false` runs them as PGlite does (tests' control only).
 */
export async function openPGlite(dir: string | undefined, { turns = true }: { turns?: boolean } = {}): Promise<SqlDatabase> {
  const { PGlite } = await loadPeer<PGliteModule>('@electric-sql/pglite', '0.5.17');
  let db: PGliteDb;
  if (dir === undefined) {
    db = new PGlite();
  } else {
    const { NodeFS } = await loadPeer<{ NodeFS: NodeFsClass }>('@electric-sql/pglite/nodefs', '0.5.17');
    if (!Array.isArray(PGlite.defaultStartParams)) throw new TokumeiError('ERR_STORAGE_UNAVAILABLE', 'this @electric-sql/pglite has no defaultStartParams: install @electric-sql/pglite@0.5.17');
    const fresh = !existsSync(join(dir, 'PG_VERSION'));
    const DurableNodeFS = durableNodeFs(NodeFS);
    db = new PGlite({ fs: new DurableNodeFS(dir), startParams: durableStartParams(PGlite.defaultStartParams) });
    await db.waitReady;
    if (fresh) fsyncTree(dir);
  }
  await db.waitReady;
  // A whole transaction is one turn-taker: its statements each wait for a turn, others wait for it.
  const exclusive = turns ? statementTurns() : <T>(fn: () => Promise<T>): Promise<T> => fn();
  const wrap = (q: PGliteTx, inTransaction: boolean): Sql => ({
    async query<R>(text: string, params: readonly unknown[] = []) {
      const run = async () => {
        const r = await q.query<R>(text, [...params]);
        return { rows: r.rows, rowCount: r.affectedRows ?? 0 };
      };
      if (!inTransaction) return exclusive(run);
      if (turns) await nextTurn();
      return run();
    },
  });
  return {
    engine: 'pglite',
    ...wrap(db, false),
    // PGlite runs one statement at a time; a transaction holds it exclusively until COMMIT.
    transaction: (fn) => exclusive(() => db.transaction((tx) => fn(wrap(tx, true)))),
    // After the statements already queued, as PGlite's own close waits for those it holds.
    close: () => exclusive(() => db.close()),
  };
}
