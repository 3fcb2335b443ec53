// The data environment's database: the embedded PGlite in data-env/db under the demo's data
// folder, or the PostgreSQL server DATA_ENV_DATABASE_URL names — never the key environment's
// database. Three tables in a schema of their own (schema.ts): sealed identity records by
// record id, attribute records by pseudonym, and the vitals members type in, one row per
// pseudonym and day. Every write is one statement or one transaction and resolves after COMMIT.
//
// The embedded database is PGlite as it ships: a commit survives a killed process, but PGlite
// does not fsync, so a power loss can lose the last commits. A PostgreSQL server is as durable
// as its configuration. (The key environment's database, opened through tokumei, fsyncs.)
import { rmSync } from 'node:fs';
import type { Pool, PoolClient } from 'pg';
import { join } from 'node:path';
import { claimDatabase, copyForReading, databaseUrl, everyRow, lockDirectory, lockHolder, type SetUpSeams, type StoredRow } from '../shared/database.ts';
import type { AttributeRecord, StoredIdentity, VitalsEntry } from './records.ts';
import { DATA_ENV_SCHEMA } from './schema.ts';

/** The data environment's folder under the demo's data folder. */
export const DATA_ENV_DIR = 'data-env';
/** Its embedded database's directory. */
export const DATA_ENV_DB_DIR: string = join(DATA_ENV_DIR, 'db');
const LOCK_FILE = 'data-env.lock';

/** One statement's rows. */
export interface Rows<R> {
  rows: R[];
}

/** Runs one parameterised statement. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Rows<R>>;
}

interface Engine extends Sql {
  engine: 'pglite' | 'postgresql';
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** One member and their dependants, written together by the seeding job. */
export interface SeedBatch {
  identities: StoredIdentity[];
  attributes: AttributeRecord[];
}

/** The data environment's storage, open. */
export interface DataEnvironmentStorage {
  readonly engine: 'pglite' | 'postgresql';
  /** Where it is, for messages: the embedded directory or the variable naming the server. */
  readonly where: string;
  /** The sealed identity record `recordId`, or `undefined`. */
  identity(recordId: string): Promise<StoredIdentity | undefined>;
  /** Replaces the identity record of an existing person; `false` when there is none. */
  replaceIdentity(record: StoredIdentity): Promise<boolean>;
  /** The attribute record filed under `pseudonym`, with its vitals, or `undefined`. */
  attributes(pseudonym: string): Promise<AttributeRecord | undefined>;
  /** Every attribute record (without vitals), for the department ranking. */
  allAttributes(): Promise<AttributeRecord[]>;
  /** Records today's vitals (a second entry the same day replaces the first); `undefined` when there is no such record. */
  putVitals(pseudonym: string, entry: VitalsEntry): Promise<AttributeRecord | undefined>;
  /** Writes people the seeding job made, in one transaction. */
  seed(batch: SeedBatch): Promise<void>;
  /** Every identity record (the audit). */
  identityRecords(): Promise<StoredIdentity[]>;
  /** Every row of every table in the database, whatever schema (the audit). */
  everyRow(): Promise<StoredRow[]>;
  /** Runs a statement directly (tests; the audit's planted violations). */
  readonly sql: Sql;
  close(): Promise<void>;
}

async function openPGlite(dir: string): Promise<Engine> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(dir);
  const wrap = (q: { query: <R>(text: string, params?: unknown[]) => Promise<{ rows: R[] }> }): Sql => ({
    query: async <R,>(text: string, params: readonly unknown[] = []) => ({ rows: (await q.query<R>(text, [...params])).rows }),
  });
  return { engine: 'pglite', ...wrap(db), transaction: (fn) => db.transaction((tx) => fn(wrap(tx))), close: () => db.close() };
}

async function openPostgres(url: string): Promise<Engine> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined); // an idle connection the server dropped: the next query reconnects
  const wrap = (q: Pool | PoolClient): Sql => ({
    query: async <R,>(text: string, params: readonly unknown[] = []) => ({ rows: (await q.query(text, [...params])).rows as R[] }),
  });
  return {
    engine: 'postgresql',
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        try {
          const out = await fn(wrap(client));
          await client.query('COMMIT');
          return out;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/**
 * Opens the data environment's storage in `dataDir`: the PostgreSQL server named by
 * `DATA_ENV_DATABASE_URL` (`url` overrides it), else the embedded database in `data-env/db`.
 * With `snapshot` (the audit), an embedded database another process holds open is read from a
 * copy. Creates the schema when missing; refuses a database that holds the key environment's
 * tables (checked and created under the lock both environments take), and one URL for both
 * environments. `setUp` is for tests only.
 */
export async function openDataEnvironmentStorage(dataDir: string, options: { snapshot?: boolean; url?: string; setUp?: SetUpSeams } = {}): Promise<DataEnvironmentStorage> {
  const url = options.url ?? databaseUrl('data');
  let engine: Engine;
  let where: string;
  let release = (): void => undefined;
  if (url !== undefined) {
    engine = await openPostgres(url);
    where = 'DATA_ENV_DATABASE_URL';
  } else {
    let dir = join(dataDir, DATA_ENV_DB_DIR);
    where = dir;
    if (options.snapshot === true && lockHolder(dir, LOCK_FILE) !== undefined) {
      dir = copyForReading(dir, LOCK_FILE);
      const copy = dir;
      release = () => rmSync(copy, { recursive: true, force: true });
    } else {
      release = lockDirectory(dir, LOCK_FILE);
    }
    try {
      engine = await openPGlite(dir);
    } catch (err) {
      release();
      throw err;
    }
  }
  try {
    // The check and the schema in one transaction, under the lock the key environment's set-up
    // takes too: of two environments starting at once on one database, the second refuses.
    await engine.transaction(async (tx) => {
      await claimDatabase((text, params) => tx.query(text, params), 'data', options.setUp);
      for (const statement of DATA_ENV_SCHEMA) await tx.query(statement);
    });
  } catch (err) {
    await engine.close().catch(() => undefined);
    release();
    throw err;
  }
  return storageOver(engine, where, release);
}

const VITALS_OF = `COALESCE((SELECT jsonb_agg(jsonb_build_object('date', to_char(v.day, 'YYYY-MM-DD'), 'weightKg', v.weight_kg, 'systolic', v.systolic, 'diastolic', v.diastolic) ORDER BY v.day)
  FROM data_env.vitals v WHERE v.pseudonym = a.pseudonym), '[]'::jsonb)`;

function storageOver(db: Engine, where: string, release: () => void): DataEnvironmentStorage {
  let closed: Promise<void> | undefined;
  const attributes = async (q: Sql, pseudonym: string): Promise<AttributeRecord | undefined> => {
    const { rows } = await q.query<{ record: AttributeRecord; vitals: VitalsEntry[] }>(`SELECT a.record, ${VITALS_OF} AS vitals FROM data_env.attribute_records a WHERE a.pseudonym = $1`, [pseudonym]);
    const row = rows[0];
    return row === undefined ? undefined : { ...row.record, pseudonym, vitals: row.vitals };
  };
  return {
    engine: db.engine,
    where,
    sql: db,
    async identity(recordId) {
      const { rows } = await db.query<{ record: StoredIdentity }>('SELECT record FROM data_env.identity_records WHERE record_id = $1', [recordId]);
      return rows[0]?.record;
    },
    async replaceIdentity(record) {
      const { rows } = await db.query('UPDATE data_env.identity_records SET record = $2 WHERE record_id = $1 RETURNING record_id', [record.id, JSON.stringify(record)]);
      return rows.length === 1;
    },
    attributes: (pseudonym) => attributes(db, pseudonym),
    async allAttributes() {
      const { rows } = await db.query<{ pseudonym: string; record: AttributeRecord }>('SELECT pseudonym, record FROM data_env.attribute_records ORDER BY pseudonym');
      return rows.map((r) => ({ ...r.record, pseudonym: r.pseudonym, vitals: [] }));
    },
    putVitals(pseudonym, entry) {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query(
          `INSERT INTO data_env.vitals (pseudonym, day, weight_kg, systolic, diastolic)
           SELECT pseudonym, $2::date, $3, $4, $5 FROM data_env.attribute_records WHERE pseudonym = $1
           ON CONFLICT (pseudonym, day) DO UPDATE SET weight_kg = EXCLUDED.weight_kg, systolic = EXCLUDED.systolic, diastolic = EXCLUDED.diastolic
           RETURNING pseudonym`,
          [pseudonym, entry.date, entry.weightKg, entry.systolic, entry.diastolic],
        );
        return rows.length === 0 ? undefined : attributes(tx, pseudonym);
      });
    },
    seed({ identities, attributes: records }) {
      return db.transaction(async (tx) => {
        for (const r of identities) await tx.query('INSERT INTO data_env.identity_records (record_id, record) VALUES ($1, $2)', [r.id, JSON.stringify(r)]);
        for (const { pseudonym, vitals, ...record } of records) {
          await tx.query('INSERT INTO data_env.attribute_records (pseudonym, record) VALUES ($1, $2)', [pseudonym, JSON.stringify(record)]);
          for (const v of vitals) await tx.query('INSERT INTO data_env.vitals (pseudonym, day, weight_kg, systolic, diastolic) VALUES ($1, $2::date, $3, $4, $5)', [pseudonym, v.date, v.weightKg, v.systolic, v.diastolic]);
        }
      });
    },
    async identityRecords() {
      const { rows } = await db.query<{ record: StoredIdentity }>('SELECT record FROM data_env.identity_records ORDER BY record_id');
      return rows.map((r) => r.record);
    },
    everyRow: () => everyRow((text) => db.query(text)),
    close() {
      closed ??= db.close().finally(release);
      return closed;
    },
  };
}
