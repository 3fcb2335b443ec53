// The key environment's storage, all under key-env/ in the demo's data folder: the master key
// (a local key file, or a key in a SoftHSM2 token: master-key.ts), its database (the embedded
// PGlite in key-env/db, or the PostgreSQL server KEY_ENV_DATABASE_URL names, never the data
// environment's: every member key wrapped under the master key, sessions, token records, the
// delivery audit log), the pseudonym link key (wrapped the same way), and which dependants' keys
// each member's keyring holds. No identity value, no sealed record, no attribute data.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKeyEnvironment, openDatabase, TokumeiError, type KeyEnvironment, type KeyEnvironmentDatabase, type KeyEnvironmentOptions, type MasterKey } from '../../../src/server.ts';
import { copyForReading, databaseUrl, setUpClaimedAt, type SetUpSeams } from '../shared/database.ts';
import { openDemoMasterKey } from './master-key.ts';

/** The key environment's folder under the demo's data folder. */
export const KEY_ENV_DIR = 'key-env';

/** Member id → record ids of the dependants whose keys their keyring also holds. */
export type DependantTable = Record<string, string[]>;

const LINK_KEY_CONTEXT = new TextEncoder().encode('tokumei-demo/link-key');

/** The opened storage. */
export interface KeyEnvironmentStorage {
  dir: string;
  masterKey: MasterKey;
  /** Where the master key lives (no secret). */
  masterKeyDescription: string;
  /** Closes the database and lets go of the master key (closes the PKCS#11 sessions). */
  close(): Promise<void>;
  env: KeyEnvironment;
  db: KeyEnvironmentDatabase;
  dependants: DependantTable;
  /** Unwraps the link key into a buffer the caller owns and wipes. */
  linkKey(): Promise<Uint8Array>;
  /** Wraps and stores the link key (read, not kept, not wiped). */
  putLinkKey(key: Uint8Array): Promise<void>;
  /** Writes the dependant table. */
  saveDependants(): void;
}

/** Opens the key environment's embedded database in `dir`, or a copy of it when another process has it open. */
async function openSnapshotWhenBusy(dir: string): Promise<KeyEnvironmentDatabase> {
  try {
    return await openDatabase({ dir });
  } catch (err) {
    if (!(err instanceof TokumeiError && err.code === 'ERR_STORAGE_UNAVAILABLE' && existsSync(join(dir, 'tokumei.lock')))) throw err;
  }
  const copy = copyForReading(dir, 'tokumei.lock');
  const db = await openDatabase({ dir: copy });
  return { ...db, memberKeys: db.memberKeys, sessions: db.sessions, audit: db.audit, close: () => db.close().finally(() => rmSync(copy, { recursive: true, force: true })) };
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/**
 * Opens the key environment's storage in `dataDir` (with `create`, makes the master key
 * first). `options` go to `createKeyEnvironment` (the token check, the session registry, the
 * test key log; sessions and the audit log are the database's unless given). With `snapshot`
 * (the audit), an embedded database that the running demo holds open is read from a copy.
 * `setUp` is for tests only (where to hold the set-up on a server).
 */
export async function openKeyEnvironmentStorage(
  dataDir: string,
  options: { create?: boolean; snapshot?: boolean; setUp?: SetUpSeams } & Partial<Omit<KeyEnvironmentOptions, 'masterKey' | 'store'>> = {},
): Promise<KeyEnvironmentStorage> {
  const dir = join(dataDir, KEY_ENV_DIR);
  mkdirSync(dir, { recursive: true });
  const master = await openDemoMasterKey(dir, options.create === true);
  const { masterKey } = master;
  const { create: _create, snapshot, setUp, ...environmentOptions } = options;
  const url = databaseUrl('key'); // refuses the data environment's URL
  // On a server: refuses one that holds the data environment's tables, and holds the lock the
  // data environment's set-up takes until the migrations have committed the key tables.
  let db: KeyEnvironmentDatabase;
  try {
    db =
      url !== undefined
        ? await setUpClaimedAt(url, 'key', () => openDatabase({ url }), setUp)
        : snapshot === true
          ? await openSnapshotWhenBusy(join(dir, 'db'))
          : await openDatabase({ dir: join(dir, 'db') });
  } catch (err) {
    await master.close(); // a refused database lets go of the master key too
    throw err;
  }
  const env = createKeyEnvironment({
    authenticate: () => null,
    sessions: db.sessions,
    audit: db.audit,
    ...environmentOptions,
    masterKey,
    store: db.memberKeys,
  });
  const dependantsPath = join(dir, 'dependants.json');
  const linkPath = join(dir, 'link-key.json');
  const dependants = existsSync(dependantsPath) ? (JSON.parse(readFileSync(dependantsPath, 'utf8')) as DependantTable) : {};
  return {
    dir,
    masterKey,
    masterKeyDescription: master.description,
    close: async () => {
      await db.close();
      await master.close();
    },
    env,
    db,
    dependants,
    async linkKey() {
      const { wrapped } = JSON.parse(readFileSync(linkPath, 'utf8')) as { wrapped: string };
      return masterKey.unwrap(new Uint8Array(Buffer.from(wrapped, 'base64url')), LINK_KEY_CONTEXT);
    },
    async putLinkKey(key) {
      const wrapped = Buffer.from(await masterKey.wrap(key, LINK_KEY_CONTEXT)).toString('base64url');
      writeAtomic(linkPath, JSON.stringify({ masterKeyId: masterKey.id, wrapped }));
    },
    saveDependants() {
      writeAtomic(dependantsPath, JSON.stringify(dependants));
    },
  };
}
