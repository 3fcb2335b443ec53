// The key environment's storage, all under key-env/ in the demo's data folder: the master key
// (a local key file, or a key in a SoftHSM2 token: master-key.ts), every member key wrapped under it
// (tokumei/server's file store), the pseudonym link key (wrapped the same way), and which
// dependants' keys each member's keyring holds. No identity value, no sealed record, no
// attribute data.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKeyEnvironment, fileKeyStore, type KeyEnvironment, type KeyEnvironmentOptions, type MasterKey } from '../../../src/server.ts';
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
  /** Lets go of the master key (closes the PKCS#11 sessions). */
  close(): Promise<void>;
  env: KeyEnvironment;
  dependants: DependantTable;
  /** Unwraps the link key into a buffer the caller owns and wipes. */
  linkKey(): Promise<Uint8Array>;
  /** Wraps and stores the link key (read, not kept, not wiped). */
  putLinkKey(key: Uint8Array): Promise<void>;
  /** Writes the dependant table. */
  saveDependants(): void;
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/**
 * Opens the key environment's storage in `dataDir` (with `create`, makes the master key
 * first). `options` go to `createKeyEnvironment` (the token check, the session registry, the test key log).
 */
export async function openKeyEnvironmentStorage(
  dataDir: string,
  options: { create?: boolean } & Partial<Omit<KeyEnvironmentOptions, 'masterKey' | 'store'>> = {},
): Promise<KeyEnvironmentStorage> {
  const dir = join(dataDir, KEY_ENV_DIR);
  mkdirSync(dir, { recursive: true });
  const master = await openDemoMasterKey(dir, options.create === true);
  const { masterKey } = master;
  const { create: _create, ...environmentOptions } = options;
  const env = createKeyEnvironment({
    authenticate: () => null,
    ...environmentOptions,
    masterKey,
    store: await fileKeyStore(join(dir, 'member-keys.jsonl')),
  });
  const dependantsPath = join(dir, 'dependants.json');
  const linkPath = join(dir, 'link-key.json');
  const dependants = existsSync(dependantsPath) ? (JSON.parse(readFileSync(dependantsPath, 'utf8')) as DependantTable) : {};
  return {
    dir,
    masterKey,
    masterKeyDescription: master.description,
    close: () => master.close(),
    env,
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
