// The demo's master key: a local key file by default (key-env/master.key), or — with
// TOKUMEI_DEMO_MASTER_KEY=softhsm2 — an AES-256 key generated inside a SoftHSM2 token kept in
// key-env/softhsm2/, through tokumei's PKCS#11 master key, as a production key environment would
// use an HSM. A data folder stays with the master key it was seeded with.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// In a key environment of your own this is `from 'tokumei/server'`.
import { createMasterKeyFile, masterKeyFromFile, pkcs11MasterKey, type MasterKey } from '../../../src/server.ts';

/** Where Debian and Ubuntu install SoftHSM2's PKCS#11 module (`apt-get install softhsm2`). */
const SOFTHSM2_LIBRARY = process.env.TOKUMEI_DEMO_SOFTHSM2_LIBRARY ?? '/usr/lib/softhsm/libsofthsm2.so';
const TOKEN_LABEL = 'tokumei-demo';
const KEY_LABEL = 'tokumei-demo-master';

/** The demo's master key, and how to let go of it at exit. */
export interface DemoMasterKey {
  masterKey: MasterKey;
  /** Where it lives, for the start-up banner (no secret). */
  description: string;
  close(): Promise<void>;
}

/** `file` (default) or `softhsm2`, from TOKUMEI_DEMO_MASTER_KEY. */
export function demoMasterKeyKind(): 'file' | 'softhsm2' {
  const kind = process.env.TOKUMEI_DEMO_MASTER_KEY ?? 'file';
  if (kind !== 'file' && kind !== 'softhsm2') throw new Error(`TOKUMEI_DEMO_MASTER_KEY expected "file" or "softhsm2", got "${kind}"`);
  return kind;
}

/** Opens (with `create`, first makes) the master key of the key environment folder `dir`. */
export async function openDemoMasterKey(dir: string, create: boolean): Promise<DemoMasterKey> {
  const kind = demoMasterKeyKind();
  const keyFile = join(dir, 'master.key');
  const hsmDir = join(dir, 'softhsm2');
  if (kind === 'file') {
    if (existsSync(hsmDir)) throw new Error(`this data folder's master key is in SoftHSM2 (${hsmDir}): set TOKUMEI_DEMO_MASTER_KEY=softhsm2, or delete the folder to seed a new one`);
    if (create && !existsSync(keyFile)) createMasterKeyFile(keyFile);
    const masterKey = masterKeyFromFile(keyFile);
    return { masterKey, description: `key file ${keyFile}`, close: async () => undefined };
  }
  if (existsSync(keyFile)) throw new Error(`this data folder's master key is the key file ${keyFile}: unset TOKUMEI_DEMO_MASTER_KEY, or delete the folder to seed a new one on SoftHSM2`);
  if (!existsSync(SOFTHSM2_LIBRARY)) throw new Error(`TOKUMEI_DEMO_MASTER_KEY=softhsm2 needs SoftHSM2 (${SOFTHSM2_LIBRARY}): apt-get install softhsm2`);
  // SoftHSM2 finds its token folder through SOFTHSM2_CONF, read when the module initializes.
  const conf = join(hsmDir, 'softhsm2.conf');
  const pinFile = join(hsmDir, 'user-pin');
  process.env.SOFTHSM2_CONF = conf;
  if (!existsSync(conf)) {
    if (!create) throw new Error(`no SoftHSM2 token in ${hsmDir}: seed the demo first`);
    mkdirSync(join(hsmDir, 'tokens'), { recursive: true, mode: 0o700 });
    writeFileSync(conf, `directories.tokendir = ${join(hsmDir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    // Demo only: the user PIN in a file next to the token. In production it comes from a secret
    // store, through the `pin` function, and never sits beside the token.
    writeFileSync(pinFile, randomBytes(12).toString('base64url'), { mode: 0o600 });
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN_LABEL, '--so-pin', randomBytes(12).toString('base64url'), '--pin', readFileSync(pinFile, 'utf8')], { stdio: 'pipe' });
  }
  const masterKey = await pkcs11MasterKey({
    library: SOFTHSM2_LIBRARY,
    tokenLabel: TOKEN_LABEL,
    pin: () => readFileSync(pinFile, 'utf8'),
    keyLabel: KEY_LABEL,
    create,
    sessions: 2,
  });
  return { masterKey, description: `SoftHSM2 token "${TOKEN_LABEL}", key "${KEY_LABEL}" (${masterKey.id})`, close: () => masterKey.close() };
}
