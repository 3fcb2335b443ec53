// One process at a time in an embedded database directory. PGlite takes no lock of its own
// (measured: a second process opens a directory another process has open, and both write to
// it), so the opener holds a lock file with its process id in the directory.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TokumeiError } from '../../errors.ts';

const LOCK_FILE = 'tokumei.lock';

/** Whether a process with this id is running (on this machine, in this pid namespace). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the directory's lock, or refuses while a live process holds it. A lock left by a process
 * that died (SIGKILL, power loss) names a process that no longer runs and is taken over.
 * @returns a function that releases the lock
 * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE` when another live process (or this one) has the
 *   directory open
 */
export function lockDirectory(dir: string): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (attempt === 2) throw new TokumeiError('ERR_STORAGE_UNAVAILABLE', `the lock of the embedded database in ${dir} keeps changing hands`, { cause: err });
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
    } catch {
      // removed meanwhile: try again
    }
    if (Number.isSafeInteger(holder) && holder > 0 && alive(holder)) {
      throw new TokumeiError('ERR_STORAGE_UNAVAILABLE', `the embedded database in ${dir} is open in another process (pid ${holder}); one process at a time may open it`);
    }
    try {
      unlinkSync(path); // a stale lock: its process is gone
    } catch {
      // removed meanwhile
    }
  }
}
