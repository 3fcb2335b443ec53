// The session registry contract on PGlite and on a real PostgreSQL server (one database per
// engine, shared by every test: the contract's ids never collide).
import { afterAll, beforeAll } from 'vitest';
import type { SqlDatabase } from '../../../src/server/database/sql.ts';
import { databaseSessionRegistry } from '../../../src/server/sessions/database-registry.ts';
import { ENGINES } from '../database/engines.ts';
import { sessionRegistryContract } from './registry-contract.ts';

for (const [name, open] of ENGINES) {
  let db: SqlDatabase;
  // Opening PGlite runs its initdb (WebAssembly): seconds on a quiet machine, a minute on a busy one.
  beforeAll(async () => {
    db = await open();
  }, 240_000);
  afterAll(() => db?.close());
  sessionRegistryContract(name, () => databaseSessionRegistry(db));
}
