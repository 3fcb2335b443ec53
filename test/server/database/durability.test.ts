// The embedded database resolves a write only once it is durable. PGlite as shipped runs
// PostgreSQL with fsync off and has no fsync in its Node file system layer; the library's PGlite
// runs with fsync on and makes that fsync reach the host file. Shown on the real calls of a
// separate process: at every acknowledged insert, no WAL file holds bytes written since its last
// fsync (positive control: PGlite as shipped, where every acknowledgement leaves WAL bytes only
// in the operating system's cache). And a SIGKILL right after an acknowledgement loses nothing
// (positive control: an acknowledgement given before COMMIT is lost, so the check would see a
// lost write). A SIGKILL cannot tell a flushed write from a cached one — the cache outlives the
// process, not a power loss — which is why durability is shown by the fsyncs themselves.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/server/database/open.ts';
import { spawnLines, type LineChild } from '../faults/lines.ts';
import { bundle, removeBundle } from '../instances/processes.ts';

interface Report {
  acks: { walWrites: number; unsyncedWal: string[] }[];
  fsyncs: number;
}

const root = mkdtempSync(join(tmpdir(), 'tokumei-durable-'));
let main: string;
const children: LineChild[] = [];
beforeAll(async () => {
  main = await bundle(new URL('durability-main.ts', import.meta.url).pathname);
}, 120_000);
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  await removeBundle(main);
  rmSync(root, { recursive: true, force: true });
});

/** Runs the child on a fresh directory until its last acknowledgement, then SIGKILLs it. */
async function run(pglite: 'durable' | 'shipped', last: 'committed' | 'uncommitted'): Promise<{ dir: string; report: Report }> {
  const dir = join(root, `${pglite}-${last}`);
  const child = spawnLines(main, { TOKUMEI_DIR: dir, TOKUMEI_PGLITE: pglite, TOKUMEI_LAST: last });
  children.push(child);
  const report = JSON.parse((await child.waitFor((l) => l.startsWith('report '), 240_000)).slice(7)) as Report;
  await child.waitFor((l) => l === 'ack k-last', 60_000);
  await child.kill();
  return { dir, report };
}

/** The key ids the directory holds, opened again. */
async function keyIds(dir: string): Promise<string[]> {
  const db = await openDatabase({ dir });
  try {
    return (await db.memberKeys.list({ limit: 100 })).map((e) => e.keyId);
  } finally {
    await db.close();
  }
}

const expected = [...Array.from({ length: 20 }, (_, i) => `k${i}`), 'k-last'].sort();

describe('the embedded database: a write resolves only once it is durable', () => {
  it('every acknowledged insert has its WAL fsynced; SIGKILL right after an acknowledgement loses nothing (positive controls: PGlite as shipped; an acknowledgement before COMMIT)', async () => {
    const [durable, control] = await Promise.all([run('durable', 'committed'), run('shipped', 'uncommitted')]);
    // Each insert wrote WAL, and at its acknowledgement none of it was still only in the cache.
    expect(durable.report.acks.every((a) => a.walWrites > 0)).toBe(true);
    expect(durable.report.acks.map((a) => a.unsyncedWal)).toEqual(Array(20).fill([]));
    // As shipped: the same inserts, no fsync at all, WAL bytes unflushed at every acknowledgement.
    expect(control.report.fsyncs).toBe(0);
    expect(control.report.acks.every((a) => a.walWrites > 0 && a.unsyncedWal.length > 0)).toBe(true);
    // Killed right after the acknowledgement: everything acknowledged is there after a restart.
    expect((await keyIds(durable.dir)).sort()).toEqual(expected);
    // The check sees a lost write: the acknowledgement given inside an open transaction is gone.
    expect((await keyIds(control.dir)).sort()).toEqual(expected.filter((k) => k !== 'k-last'));
  }, 600_000);
});
