// Opening the key environment's database: PostgreSQL through `pg`, or the embedded PGlite in a
// directory (or in memory). The schema is migrated on open; nothing is loaded into memory.
import { ainteger, astring } from '../../internal/bytes.ts';
import { databaseDeliveryAudit, type DeliveryAuditLog } from '../audit/delivery-audit.ts';
import { databaseSessionRegistry } from '../sessions/database-registry.ts';
import type { SessionRegistry } from '../sessions/registry.ts';
import { countAndVersions, databaseKeyStore } from '../stores/database-store.ts';
import { registerSharedStore } from '../sessions/delivery-commit.ts';
import type { MemberKeyStore } from '../stores/member-key-store.ts';
import { lockDirectory } from './dir-lock.ts';
import { migrate } from './migrations.ts';
import { openPGlite, openPostgres, type SqlDatabase } from './sql.ts';

/**
 * Where the database is: `url` for a PostgreSQL server (`postgresql://user@host/db`, or a Unix
 * socket with `?host=/run/postgresql`), `dir` for the embedded PGlite in a directory, or
 * `inMemory` for an embedded database that lives as long as the process (tests); and, with any
 * of them, `onError`.
 */
export type DatabaseOptions = (
  | {
      /** A PostgreSQL connection string (the `pg` package's syntax). */
      url: string;
      /** Connections in the pool; default 10. */
      maxConnections?: number;
    }
  | {
      /** The embedded database's directory (created when missing; one process at a time). */
      dir: string;
    }
  | {
      /** An embedded database in memory: nothing survives the process. */
      inMemory: true;
    }
) & {
  /**
   * Told about a failure in the background that fails no request, for logging: deleting
   * expired sessions, token records, proof ids or counters, or vacuuming their tables on
   * PGlite, which runs no autovacuum (a `TokumeiError`
   * `ERR_STORAGE_UNAVAILABLE` naming the table, the driver's error as its `cause`; tried again
   * later). Never receives a key or a token.
   */
  onError?: (error: unknown) => void;
};

/** The key environment's database, open: its stores, and `close()`. */
export interface KeyEnvironmentDatabase {
  /** `postgresql` (a server through `pg`) or `pglite` (embedded). */
  readonly engine: 'postgresql' | 'pglite';
  /** The schema version after migration. */
  readonly schemaVersion: number;
  /** Wrapped member keys (pass as `store` to `createKeyEnvironment`). */
  readonly memberKeys: MemberKeyStore;
  /** Sessions, single-use token records and one-time proof ids (pass as `sessions`). */
  readonly sessions: SessionRegistry;
  /** The append-only delivery audit log (pass as `audit`). */
  readonly audit: DeliveryAuditLog;
  /** Closes the connections (or the embedded database, releasing its directory). */
  close(): Promise<void>;
}

/**
 * The stores over one open database (internal): a delivery through these sessions and this audit
 * log commits once, and with these member keys its first read (the token's count and the
 * member's keys) is one round trip (sessions/delivery-commit.ts).
 */
export function databaseParts(db: SqlDatabase, onError?: (error: unknown) => void): Pick<KeyEnvironmentDatabase, 'memberKeys' | 'sessions' | 'audit'> {
  const audit = databaseDeliveryAudit(db);
  const memberKeys = databaseKeyStore(db);
  const sessions = databaseSessionRegistry(db, audit, onError);
  registerSharedStore(sessions, memberKeys, (key, windowMs, at, memberId) => countAndVersions(db, key, at - (at % windowMs), memberId));
  return { memberKeys, sessions, audit };
}

/**
 * Opens the key environment's database and applies the schema migrations it lacks (in one
 * transaction, under a lock, so instances starting together apply each exactly once). Nothing is
 * read into memory: every lookup is a query. `pg` (for `url`) and `@electric-sql/pglite` (for
 * `dir`, `inMemory`) are optional peer dependencies, loaded here.
 *
 * Every write resolves after COMMIT, and on the embedded PGlite only once its WAL is fsynced (as
 * shipped, PGlite runs with fsync off; the library turns it on and makes it reach the disk). One
 * process at a time may open an embedded directory. For several instances, backups and a disk
 * that may fill up, use a PostgreSQL server (docs/integration.md, "Running the key environment").
 *
 * @param options - see {@link DatabaseOptions}
 * @returns the open database
 * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE` when the peer dependency is not installed, the
 *   embedded directory is open in another process, or the database has a newer schema than this
 *   library; the driver's error when the server cannot be reached
 * @example
 * ```ts
 * import { createKeyEnvironment, openDatabase } from 'tokumei/server';
 * const db = await openDatabase(process.env.DATABASE_URL ? { url: process.env.DATABASE_URL } : { dir: './data/key-env/db' });
 * const env = createKeyEnvironment({ masterKey, store: db.memberKeys, sessions: db.sessions, audit: db.audit, authenticate });
 * ```
 */
export async function openDatabase(options: DatabaseOptions): Promise<KeyEnvironmentDatabase> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`"options" expected object, got ${options === null ? 'null' : typeof options}`);
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError(`"onError" expected function, got ${typeof options.onError}`);
  let db: SqlDatabase;
  let release = (): void => undefined;
  if ('url' in options) {
    astring('url', options.url, true);
    const max = options.maxConnections ?? 10;
    ainteger('maxConnections', max, 1, 1000);
    db = await openPostgres(options.url, max);
  } else if ('dir' in options) {
    astring('dir', options.dir, true);
    release = lockDirectory(options.dir);
    try {
      db = await openPGlite(options.dir);
    } catch (err) {
      release();
      throw err;
    }
  } else if ((options as { inMemory?: unknown }).inMemory === true) {
    db = await openPGlite(undefined);
  } else {
    throw new TypeError('"options" expected { url }, { dir } or { inMemory: true }');
  }
  let schemaVersion: number;
  try {
    schemaVersion = await migrate(db);
  } catch (err) {
    await db.close().catch(() => undefined);
    release();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    engine: db.engine,
    schemaVersion,
    ...databaseParts(db, options.onError),
    close() {
      closed ??= db.close().finally(release);
      return closed;
    },
  };
}
