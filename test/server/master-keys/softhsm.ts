// A real SoftHSM2 for the PKCS#11 tests: a token directory and configuration in a temporary
// folder (SOFTHSM2_CONF, set for this test process before the module is first initialized),
// tokens made with softhsm2-util, and a second PKCS#11 handle in the test's own thread for
// looking at and disturbing the token from outside the master key.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Pkcs11 from 'pkcs11js';

/** Debian's SoftHSM2 module (`apt-get install softhsm2`; .ci/run installs it). */
export const SOFTHSM2_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';
export const SO_PIN = '12345678';
export const USER_PIN = 'user-pin-4711';

const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11;

/** One SoftHSM2 installation in a temporary folder. */
export interface SoftHsm {
  library: string;
  dir: string;
  /** Initializes a new token in the next free slot. */
  initToken(label: string, pin?: string): void;
  /** The token's folder (its files: remove or lock them to make the token go away or hang). */
  tokenDir(label: string): string;
  /** Moves a token's files away (the token is gone) and returns a function that puts them back. */
  removeToken(label: string): () => void;
  /** A PKCS#11 handle on this thread, for the test's own look at the token. */
  handle(): Pkcs11.PKCS11;
  /** A session on a token, logged in as the user. */
  session(label: string, pin?: string): Pkcs11.Handle;
  slot(label: string): Pkcs11.Handle;
  cleanup(): void;
}

export { pkcs11js };

/** Sets up SoftHSM2 in a fresh temporary folder; fails loudly when SoftHSM2 is not installed. */
export function softHsm(): SoftHsm {
  if (!existsSync(SOFTHSM2_LIBRARY)) throw new Error(`SoftHSM2 is not installed (${SOFTHSM2_LIBRARY}): apt-get install -y softhsm2`);
  if (process.env.SOFTHSM2_CONF !== undefined && process.env.TOKUMEI_TEST_SOFTHSM !== undefined) throw new Error('one SoftHSM2 setup per test process');
  const dir = mkdtempSync(join(tmpdir(), 'tokumei-softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = conf;
  process.env.TOKUMEI_TEST_SOFTHSM = dir;
  const labels = new Map<string, string>(); // token label → folder
  let p: Pkcs11.PKCS11 | undefined;
  // The module is one per process: a master key that closes last finalizes it, so this handle
  // initializes it again whenever it is used.
  const handle = (): Pkcs11.PKCS11 => {
    if (p === undefined) {
      p = new pkcs11js.PKCS11();
      p.load(SOFTHSM2_LIBRARY);
    }
    try {
      p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (err) {
      if (!String((err as Error).message).startsWith('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw err;
    }
    return p;
  };
  const slot = (label: string): Pkcs11.Handle => {
    const h = handle();
    const found = h.C_GetSlotList(true).find((s) => {
      try {
        return h.C_GetTokenInfo(s).label.trimEnd() === label;
      } catch {
        return false;
      }
    });
    if (found === undefined) throw new Error(`no token ${label}`);
    return found;
  };
  return {
    library: SOFTHSM2_LIBRARY,
    dir,
    initToken(label, pin = USER_PIN) {
      const before = new Set(readdirSync(tokens));
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', pin], { stdio: 'pipe' });
      const made = readdirSync(tokens).filter((d) => !before.has(d));
      if (made.length !== 1) throw new Error('softhsm2-util made no token folder');
      labels.set(label, join(tokens, made[0]!));
    },
    tokenDir(label) {
      const d = labels.get(label);
      if (d === undefined) throw new Error(`no token ${label}`);
      return d;
    },
    removeToken(label) {
      // The files, not the folder: SoftHSM2 keeps serving a renamed folder from its cache, but
      // notices its object files going (CKR_OBJECT_HANDLE_INVALID) and sees a restored token only
      // after C_Finalize and C_Initialize, as with an HSM that went away and came back.
      const d = this.tokenDir(label);
      const away = join(dir, `away-${label}`); // outside the token folder, which SoftHSM2 scans for tokens
      mkdirSync(away);
      const files = readdirSync(d);
      for (const f of files) renameSync(join(d, f), join(away, f));
      return () => {
        for (const f of files) renameSync(join(away, f), join(d, f));
        rmSync(away, { recursive: true });
      };
    },
    handle,
    slot,
    session(label, pin = USER_PIN) {
      const h = handle();
      const s = h.C_OpenSession(slot(label), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        h.C_Login(s, pkcs11js.CKU_USER, pin);
      } catch (err) {
        if (!String((err as Error).message).startsWith('CKR_USER_ALREADY_LOGGED_IN')) throw err;
      }
      return s;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
