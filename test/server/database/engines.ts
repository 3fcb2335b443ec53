// The two database engines every database suite runs against: the embedded PGlite (in memory
// here; on disk in database.test.ts) and a real PostgreSQL 15 server.
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
