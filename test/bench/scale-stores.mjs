// The stores the scale benchmark runs against: `memory` (memoryKeyStore and the memory session
// registry), and — once `tokumei/server` has `openDatabase` — `pglite` (the embedded database in
// a directory) and `postgres` (a PostgreSQL server). `prepare` runs in the benchmark's process
// (builds the cached database once, copies it for this run); `open` runs in the key
// environment's process (what its start-up costs).
import { existsSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bulkInsert, copyToTemp, DATA_DIR, DIST, initPostgres, insertAll, removeDir, seedFile, startPostgres } from './scale-data.mjs';

export const KINDS = ['memory', 'pglite', 'postgres'];

/** Why a store cannot be benchmarked here, or undefined when it can. */
export async function unavailable(kind) {
  if (kind === 'memory') return undefined;
  const dist = await import(DIST);
  if (typeof dist.openDatabase !== 'function') return 'tokumei/server has no openDatabase yet';
  if (kind === 'postgres' && !existsSync('/usr/lib/postgresql')) return 'PostgreSQL is not installed';
  return undefined;
}

/**
 * Makes the cached data set for `n` members (timed when made now) and a private copy for one
 * run; `pgCpu` pins a PostgreSQL server's processes to that core.
 * @returns { spec, cleanup, made, databaseCpuMicros? } — `spec` is what `open` needs in the
 *   server process; `databaseCpuMicros()` the CPU time a PostgreSQL server has used so far
 */
export async function prepare(kind, n, { pgCpu } = {}) {
  const seed = await seedFile(n);
  const made = seed.seconds === undefined ? [] : [`seed file of ${n} keys made through createMemberKey: ${seed.seconds.toFixed(1)} s (${Math.round(seed.rate)} keys/s)`];
  if (kind === 'memory') return { spec: { kind, seed: seed.path, members: n }, cleanup: () => undefined, made };
  const { openDatabase } = await import(DIST);
  const cache = join(DATA_DIR, `${kind}-${n}`);
  if (!existsSync(cache)) {
    const build = mkdtempSync(join(DATA_DIR, `${kind}-${n}.building-`));
    const t0 = performance.now();
    // The schema from openDatabase (its migrations), then the keys in bulk (scale-data.mjs).
    if (kind === 'pglite') {
      const dir = join(build, 'db');
      await (await openDatabase({ dir })).close();
      const { PGlite } = await import('@electric-sql/pglite');
      const pg = new PGlite(dir);
      try {
        await bulkInsert((sql, params) => pg.query(sql, params), seed.path);
      } finally {
        await pg.close();
      }
    } else {
      initPostgres(build);
      const server = startPostgres(build);
      try {
        await (await openDatabase({ url: server.url })).close();
        const { default: pg } = await import('pg');
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        try {
          await bulkInsert((sql, params) => client.query(sql, params), seed.path);
        } finally {
          await client.end();
        }
      } finally {
        server.stop();
      }
    }
    made.push(`${kind} database of ${n} keys (schema by openDatabase, keys by bulk INSERT): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    renameSync(build, cache);
  }
  const copy = copyToTemp(cache, `tokumei-bench-${kind}-`);
  if (kind === 'pglite') return { spec: { kind, dir: join(copy, 'db'), members: n }, cleanup: () => removeDir(copy), made };
  const server = startPostgres(copy, { cpu: pgCpu });
  return {
    spec: { kind, url: server.url, members: n },
    databaseCpuMicros: server.cpuMicros,
    cleanup: () => {
      server.stop();
      removeDir(copy);
    },
    made,
  };
}

/** Opens the store and session registry of a spec (in the key environment's process). */
export async function open(spec) {
  const dist = await import(DIST);
  if (spec.kind === 'memory') {
    const store = dist.memoryKeyStore();
    if (spec.seed !== undefined) await insertAll(store, spec.seed, 1);
    return { store, sessions: dist.memorySessionRegistry(), close: async () => undefined };
  }
  const db = await dist.openDatabase(spec.kind === 'pglite' ? { dir: spec.dir } : { url: spec.url, maxConnections: 20 });
  return { store: db.memberKeys, sessions: db.sessions, audit: db.audit, close: () => db.close() };
}

/** A scratch directory for one run. */
export const scratch = (prefix) => mkdtempSync(join(tmpdir(), prefix));
