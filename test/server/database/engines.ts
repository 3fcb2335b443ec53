// The two database engines every database suite runs against: the embedded PGlite (in memory
// here; on disk in database.test.ts) and a real PostgreSQL 15 server.
import { afterAll, beforeAll } from 'vitest';
import { migrate } from '../../../src/server/database/migrations.ts';
import { openPGlite, openPostgres, type SqlDatabase } from '../../../src/server/database/sql.ts';
import { freshPostgresDatabase } from './postgres.ts';

/** [name, open a migrated database] for each engine. */
export const ENGINES: [string, () => Promise<SqlDatabase>][] = [
  [
    'PGlite',
    async () => {
      const db = await openPGlite(undefined);
      await migrate(db);
      return db;
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const db = await openPostgres(await freshPostgresDatabase(), 10);
      await migrate(db);
      return db;
    },
  ],
];

/**
 * Registers `suite` once per engine, with a migrated database of that engine opened before the
 * file's tests and closed after them; `db()` is that database while the tests run.
 */
export function forEachEngine(suite: (name: string, db: () => SqlDatabase) => void): void {
  for (const [name, open] of ENGINES) {
    let db: SqlDatabase | undefined;
    // Opening PGlite runs its initdb (WebAssembly): seconds on a quiet machine, a minute on a busy one.
    beforeAll(async () => {
      db = await open();
    }, 240_000);
    afterAll(() => db?.close());
    suite(name, () => {
      if (db === undefined) throw new Error(`the ${name} database is not open`);
      return db;
    });
  }
}
