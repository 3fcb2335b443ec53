// The embedded database's writes under observation, as its own process (bundled by
// durability.test.ts). Every host write and fsync of the process is recorded (the real calls,
// made as they were: node:fs is wrapped before PGlite loads). It inserts member-key entries one
// at a time and, at each acknowledgement, notes which WAL files hold bytes written since their
// last fsync. TOKUMEI_PGLITE=durable opens PGlite as the library does; `shipped` opens it as
// @electric-sql/pglite ships (the positive control). Then, with TOKUMEI_LAST=committed, one more
// insert is acknowledged and the process waits to be killed; with `uncommitted` the last insert
// is acknowledged inside an open transaction (the positive control of the kill test).
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const dir = process.env.TOKUMEI_DIR ?? '';
const dirty = new Map<string, number>(); // file under `dir` → bytes written since its last fsync
let walWrites = 0;
let fsyncs = 0;
const pathOf = (fd: number): string => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return '';
  }
};
const { writeSync, fsyncSync, fdatasyncSync } = fs;
fs.writeSync = ((fd: number, ...rest: unknown[]) => {
  const n = (writeSync as (...a: unknown[]) => number)(fd, ...rest);
  const path = pathOf(fd);
  if (path.startsWith(dir)) {
    dirty.set(path, (dirty.get(path) ?? 0) + n);
    if (path.includes('/pg_wal/')) walWrites++;
  }
  return n;
}) as typeof fs.writeSync;
const flushed = (fd: number): void => {
  fsyncs++;
  dirty.delete(pathOf(fd));
};
fs.fsyncSync = (fd) => {
  fsyncSync(fd);
  flushed(fd);
};
fs.fdatasyncSync = (fd) => {
  fdatasyncSync(fd);
  flushed(fd);
};
syncBuiltinESMExports();

const { migrate } = await import('../../../src/server/database/migrations.ts');
const { openPGlite } = await import('../../../src/server/database/sql.ts');
const { databaseKeyStore } = await import('../../../src/server/stores/database-store.ts');
type SqlDatabase = Awaited<ReturnType<typeof openPGlite>>;

async function shipped(): Promise<SqlDatabase> {
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = new PGlite(dir);
  await pg.waitReady;
  type Q = Pick<typeof pg, 'query'>;
  const wrap = (q: Q) => ({
    async query<R>(text: string, params: readonly unknown[] = []) {
      const r = await q.query<R>(text, [...params]);
      return { rows: r.rows, rowCount: r.affectedRows ?? 0 };
    },
  });
  return { engine: 'pglite', ...wrap(pg), transaction: (fn) => pg.transaction((tx) => fn(wrap(tx as Q))), close: () => pg.close() };
}

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const db = process.env.TOKUMEI_PGLITE === 'shipped' ? await shipped() : await openPGlite(dir);
await migrate(db);
const store = databaseKeyStore(db);
const entry = (keyId: string) => ({ memberId: keyId, keyId, version: 1, createdAt: 1_700_000_000_000, state: 'active' as const, masterKeyId: 'mk1.test', wrapped: 'AAAA' });

const acks: { walWrites: number; unsyncedWal: string[] }[] = [];
for (let i = 0; i < 20; i++) {
  const before = walWrites;
  await store.insert(entry(`k${i}`));
  acks.push({ walWrites: walWrites - before, unsyncedWal: [...dirty.keys()].filter((p) => p.includes('/pg_wal/')) });
}
out(`report ${JSON.stringify({ acks, fsyncs })}`);
if (process.env.TOKUMEI_LAST === 'uncommitted') await db.query('BEGIN');
await store.insert(entry('k-last'));
out('ack k-last');
await new Promise(() => undefined); // killed here
