// The key environment's storage: the master key (a local key file here; an HSM or a KMS in
// production), every member key wrapped under it, the pseudonym link key (wrapped too), and
// which keys each member's keyring holds. No identity value, no sealed record, no attribute.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMasterKeyFile, masterKeyFromFile, type MasterKey } from '../../../src/server/master-key.ts';
import { utf8 } from '../../../src/internal/bytes.ts';

/** The key environment's folder under the demo's data folder. */
export const KEY_ENV_DIR = 'key-env';

/** Which key ids a member's keyring holds at sign-in: their own, then their dependants'. */
export type AccessTable = Record<string, string[]>;

interface WrappedFile {
  masterKeyId: string;
  /** keyId → base64url(wrapped key). */
  keys: Record<string, string>;
  /** base64url(wrapped link key). */
  linkKey: string;
}

const LINK_KEY_CONTEXT = 'demo/link-key';

/** Opens (or, with `create`, initializes) the key environment's storage in `dataDir`. */
export function openVault(dataDir: string, options: { create?: boolean } = {}): Vault {
  const dir = join(dataDir, KEY_ENV_DIR);
  mkdirSync(dir, { recursive: true });
  const masterPath = join(dir, 'master.key');
  if (options.create === true && !existsSync(masterPath)) createMasterKeyFile(masterPath);
  return new Vault(dir, masterKeyFromFile(masterPath));
}

/** Wrapped member keys and the link key, in one JSON file (written atomically). */
export class Vault {
  readonly dir: string;
  readonly master: MasterKey;
  #wrapped: WrappedFile;
  #access: AccessTable;

  constructor(dir: string, master: MasterKey) {
    this.dir = dir;
    this.master = master;
    const wrappedPath = join(dir, 'wrapped-keys.json');
    this.#wrapped = existsSync(wrappedPath) ? (JSON.parse(readFileSync(wrappedPath, 'utf8')) as WrappedFile) : { masterKeyId: master.id, keys: {}, linkKey: '' };
    const accessPath = join(dir, 'access.json');
    this.#access = existsSync(accessPath) ? (JSON.parse(readFileSync(accessPath, 'utf8')) as AccessTable) : {};
  }

  /** Wraps and stores a member key's 32 bytes (read, not kept, not wiped). */
  async putMemberKey(keyId: string, key: Uint8Array): Promise<void> {
    this.#wrapped.keys[keyId] = Buffer.from(await this.master.wrap(key, utf8(keyId))).toString('base64url');
  }

  /** Unwraps a member key into a buffer the caller owns and wipes. */
  async memberKey(keyId: string): Promise<Uint8Array> {
    const w = this.#wrapped.keys[keyId];
    if (w === undefined) throw new Error('no such key');
    return this.master.unwrap(new Uint8Array(Buffer.from(w, 'base64url')), utf8(keyId));
  }

  /** Every stored key id. */
  keyIds(): string[] {
    return Object.keys(this.#wrapped.keys);
  }

  async putLinkKey(key: Uint8Array): Promise<void> {
    this.#wrapped.linkKey = Buffer.from(await this.master.wrap(key, utf8(LINK_KEY_CONTEXT))).toString('base64url');
  }

  /** Unwraps the link key into a buffer the caller owns and wipes. */
  linkKey(): Promise<Uint8Array> {
    return this.master.unwrap(new Uint8Array(Buffer.from(this.#wrapped.linkKey, 'base64url')), utf8(LINK_KEY_CONTEXT));
  }

  setAccess(memberId: string, keyIds: string[]): void {
    this.#access[memberId] = keyIds;
  }

  /** The key ids a member's keyring holds (own first), or `undefined` for an unknown member. */
  access(memberId: string): string[] | undefined {
    return Object.hasOwn(this.#access, memberId) ? this.#access[memberId] : undefined;
  }

  /** Writes everything (atomically, file by file). */
  save(): void {
    for (const [name, value] of [
      ['wrapped-keys.json', this.#wrapped],
      ['access.json', this.#access],
    ] as const) {
      const path = join(this.dir, name);
      writeFileSync(`${path}.tmp`, JSON.stringify(value), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    }
  }
}
