// Reading an embedded database that the running demo holds open (the audit): PGlite lets one
// process at a time open a directory, so the audit copies it the way a base backup does —
// pg_control first, the data files next, the write-ahead log last — and opens the copy, which
// replays the log as after a crash.
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, TokumeiError, type KeyEnvironmentDatabase } from '../../../src/server.ts';

/** Opens the embedded database in `dir`, or a snapshot of it when another process has it open. */
export async function openSnapshotWhenBusy(dir: string): Promise<KeyEnvironmentDatabase> {
  try {
    return await openDatabase({ dir });
  } catch (err) {
    if (!(err instanceof TokumeiError && err.code === 'ERR_STORAGE_UNAVAILABLE' && existsSync(join(dir, 'tokumei.lock')))) throw err;
  }
  const copy = mkdtempSync(join(tmpdir(), 'tokumei-audit-db-'));
  cpSync(join(dir, 'global'), join(copy, 'global'), { recursive: true });
  for (const name of readdirSync(dir)) {
    if (name !== 'global' && name !== 'pg_wal' && name !== 'tokumei.lock') cpSync(join(dir, name), join(copy, name), { recursive: true });
  }
  cpSync(join(dir, 'pg_wal'), join(copy, 'pg_wal'), { recursive: true });
  const db = await openDatabase({ dir: copy });
  return { ...db, memberKeys: db.memberKeys, sessions: db.sessions, audit: db.audit, close: () => db.close().finally(() => rmSync(copy, { recursive: true, force: true })) };
}
