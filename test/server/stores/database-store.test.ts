// The member-key store contract on PGlite and on a real PostgreSQL server.
import { afterAll, beforeAll } from 'vitest';
import type { SqlDatabase } from '../../../src/server/database/sql.ts';
import { databaseKeyStore } from '../../../src/server/stores/database-store.ts';
import { ENGINES } from '../database/engines.ts';
import { memberKeyStoreContract } from './member-key-store.contract.ts';

for (const [name, open] of ENGINES) {
  let db: SqlDatabase;
  // Opening PGlite runs its initdb (WebAssembly): seconds on a quiet machine, a minute on a busy one.
  beforeAll(async () => {
    db = await open();
  }, 240_000);
  afterAll(() => db?.close());
  memberKeyStoreContract(name, async () => {
    await db.query('TRUNCATE tokumei.member_keys');
    return databaseKeyStore(db);
  });
}
