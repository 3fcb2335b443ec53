// The member-key store contract on PGlite and on a real PostgreSQL server.
import { databaseKeyStore } from '../../../src/server/stores/database-store.ts';
import { forEachEngine } from '../database/engines.ts';
import { memberKeyStoreContract } from './member-key-store.contract.ts';

forEachEngine((name, db) =>
  memberKeyStoreContract(name, async () => {
    await db().query('TRUNCATE tokumei.member_keys');
    return databaseKeyStore(db());
  }),
);
