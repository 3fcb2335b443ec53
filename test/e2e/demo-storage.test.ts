// The demo's databases: the data environment's storage (examples/portal/data-env/storage.ts) on
// both engines it runs on — the embedded PGlite in a directory and a real PostgreSQL 15 server —
// and the rule that the key environment and the data environment never share a database.
// `npm run demo:audit` reads both environments' databases when they are on a server.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditDemo, formatReport } from '../../examples/portal/audit/check.ts';
import type { AttributeRecord, StoredIdentity } from '../../examples/portal/data-env/records.ts';
import { openDataEnvironmentStorage, type DataEnvironmentStorage } from '../../examples/portal/data-env/storage.ts';
import { openKeyEnvironmentStorage } from '../../examples/portal/key-env/storage.ts';
import { generateMember } from '../../examples/portal/seed/generate.ts';
import type { DemoConfig } from '../../examples/portal/seed/config.ts';
import { databaseUrl, sameDatabase, SET_UP_LOCK, type SetUpSeams } from '../../examples/portal/shared/database.ts';
import { openDatabase } from '../../src/server.ts';
import { freshPostgresDatabase } from '../server/database/postgres.ts';

const DEMO = new URL('../../examples/portal/demo.mjs', import.meta.url).pathname;
const VARIABLES = ['KEY_ENV_DATABASE_URL', 'DATA_ENV_DATABASE_URL'] as const;
const saved = Object.fromEntries(VARIABLES.map((v) => [v, process.env[v]]));
const temps: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tokumei-demo-storage-'));
  temps.push(dir);
  return dir;
};

beforeAll(() => {
  for (const v of VARIABLES) delete process.env[v];
});
afterEach(() => {
  for (const v of VARIABLES) delete process.env[v];
});
afterAll(() => {
  for (const v of VARIABLES) if (saved[v] !== undefined) process.env[v] = saved[v];
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

const P1 = 'pseudonym-one-aaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const P2 = 'pseudonym-two-bbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const person = (id: string, extra: Record<string, unknown> = {}): StoredIdentity => ({ id, relation: 'self', fullName: `tk1.sealed-${id}`, ...extra });
const attributes = (pseudonym: string): AttributeRecord => ({ pseudonym, departmentCode: 'D01', nickname: 'walker', checkups: [], steps: [1000, 2000], vitals: [] });

const ENGINES: [string, () => Promise<{ open: () => Promise<DataEnvironmentStorage> }>][] = [
  [
    'PGlite (embedded, on disk)',
    async () => {
      const dir = tempDir();
      return { open: () => openDataEnvironmentStorage(dir) };
    },
  ],
  [
    'PostgreSQL 15 (server)',
    async () => {
      const url = await freshPostgresDatabase();
      return { open: () => openDataEnvironmentStorage(tempDir(), { url }) };
    },
  ],
];

describe.each(ENGINES)('the data environment on %s', { timeout: 120_000 }, (_name, make) => {
  let open: () => Promise<DataEnvironmentStorage>;
  let db: DataEnvironmentStorage;
  beforeAll(async () => {
    ({ open } = await make());
    db = await open();
  }, 120_000);
  afterAll(() => db?.close());

  it('stores what the seed writes, reads it back, and replaces only an existing identity record', async () => {
    await db.seed({ identities: [person('M1', { dependants: ['M1-1'] }), person('M1-1', { relation: 'child', holder: 'M1' })], attributes: [attributes(P1), { ...attributes(P2), vitals: [{ date: '2026-01-05', weightKg: 61.5, systolic: 118, diastolic: 76 }] }] });
    expect(await db.identity('M1')).toEqual(person('M1', { dependants: ['M1-1'] }));
    expect(await db.identity('nobody')).toBeUndefined();
    expect(await db.replaceIdentity(person('M1', { dependants: ['M1-1'], fullName: 'tk1.resealed' }))).toBe(true);
    expect((await db.identity('M1'))?.fullName).toBe('tk1.resealed');
    expect(await db.replaceIdentity(person('M2'))).toBe(false);
    expect(await db.identity('M2')).toBeUndefined();
    expect((await db.identityRecords()).map((r) => r.id)).toEqual(['M1', 'M1-1']);
    expect(await db.attributes(P2)).toEqual({ ...attributes(P2), vitals: [{ date: '2026-01-05', weightKg: 61.5, systolic: 118, diastolic: 76 }] });
    expect((await db.allAttributes()).map((a) => a.pseudonym)).toEqual([P1, P2]);
  });

  it('keeps one vitals entry per day, in date order, and writes nothing for an unknown pseudonym', async () => {
    await db.putVitals(P1, { date: '2026-03-02', weightKg: 70, systolic: 120, diastolic: 80 });
    await db.putVitals(P1, { date: '2026-03-01', weightKg: 71, systolic: 121, diastolic: 81 });
    const after = await db.putVitals(P1, { date: '2026-03-02', weightKg: 69.5, systolic: 119, diastolic: 79 });
    expect(after?.vitals).toEqual([
      { date: '2026-03-01', weightKg: 71, systolic: 121, diastolic: 81 },
      { date: '2026-03-02', weightKg: 69.5, systolic: 119, diastolic: 79 },
    ]);
    expect(await db.attributes(P1)).toEqual(after);
    expect(await db.putVitals('pseudonym-none-cccccccccccccccccccccccc', { date: '2026-03-02', weightKg: 1, systolic: 1, diastolic: 1 })).toBeUndefined();
    expect((await db.sql.query('SELECT count(*)::int AS n FROM data_env.vitals')).rows).toEqual([{ n: 3 }]);
  });

  it('writes a seed batch all or nothing', async () => {
    // M1 exists: the batch fails on it, and M3 (before it in the batch) is not written either.
    await expect(db.seed({ identities: [person('M3'), person('M1')], attributes: [] })).rejects.toThrow();
    expect(await db.identity('M3')).toBeUndefined();
    // The schema refuses an identity record filed under another id.
    await expect(db.sql.query('INSERT INTO data_env.identity_records (record_id, record) VALUES ($1, $2)', ['M4', JSON.stringify(person('M5'))])).rejects.toThrow(/check/i);
  });

  it('lists every row of every table for the audit, a table it does not know included', async () => {
    await db.sql.query('CREATE TABLE public.extra (note text)');
    await db.sql.query("INSERT INTO public.extra VALUES ('hello')");
    const rows = await db.everyRow();
    expect(rows.filter((r) => r.table === 'public.extra')).toEqual([{ table: 'public.extra', key: 'row 1', row: { note: 'hello' } }]);
    expect(rows.filter((r) => r.table === 'data_env.identity_records').map((r) => r.key).sort()).toEqual(['M1', 'M1-1']);
    expect(rows.filter((r) => r.table === 'data_env.vitals')).toHaveLength(3);
  });

  it('keeps every committed write across a close and a reopen', async () => {
    await db.close();
    db = await open();
    expect((await db.identity('M1'))?.fullName).toBe('tk1.resealed');
    expect((await db.attributes(P1))?.vitals).toHaveLength(2);
  });
});

describe('the embedded data environment', { timeout: 120_000 }, () => {
  it('is open in one process at a time; a snapshot (the audit) reads a copy with every committed write', async () => {
    const dir = tempDir();
    const db = await openDataEnvironmentStorage(dir);
    try {
      await db.seed({ identities: [person('M1')], attributes: [attributes(P1)] });
      await db.putVitals(P1, { date: '2026-04-01', weightKg: 60, systolic: 110, diastolic: 70 });
      await expect(openDataEnvironmentStorage(dir)).rejects.toThrow(`is open in another process (pid ${process.pid})`);
      const copy = await openDataEnvironmentStorage(dir, { snapshot: true });
      try {
        expect((await copy.attributes(P1))?.vitals).toEqual([{ date: '2026-04-01', weightKg: 60, systolic: 110, diastolic: 70 }]);
      } finally {
        await copy.close();
      }
    } finally {
      await db.close();
    }
    // Released at close: the positive control.
    const again = await openDataEnvironmentStorage(dir);
    expect(await again.identity('M1')).toEqual(person('M1'));
    await again.close();
  });
});

describe('the key environment and the data environment never share a database', { timeout: 120_000 }, () => {
  it('refuses one connection string for both, however it is written', () => {
    const a = 'postgresql://postgres@/tokumei?host=/tmp/pg';
    expect(sameDatabase(a, a)).toBe(true);
    expect(sameDatabase(a, 'postgresql://someone@/tokumei?host=%2Ftmp%2Fpg&port=5432')).toBe(true);
    expect(sameDatabase('postgresql://u@db.internal/keys', 'postgresql://v@db.internal:5432/keys')).toBe(true);
    expect(sameDatabase(a, 'postgresql://postgres@/portal?host=/tmp/pg')).toBe(false);
    expect(sameDatabase('postgresql://u@db1.internal/x', 'postgresql://u@db2.internal/x')).toBe(false);
    const env = { KEY_ENV_DATABASE_URL: a, DATA_ENV_DATABASE_URL: 'postgresql://someone@/tokumei?host=%2Ftmp%2Fpg' };
    expect(() => databaseUrl('data', env)).toThrow('KEY_ENV_DATABASE_URL and DATA_ENV_DATABASE_URL name the same database');
    expect(() => databaseUrl('key', env)).toThrow('must never share one');
    // The positive controls: two databases, or one variable unset (that environment embedded).
    expect(databaseUrl('key', { ...env, DATA_ENV_DATABASE_URL: 'postgresql://postgres@/portal?host=/tmp/pg' })).toBe(a);
    expect(databaseUrl('data', { KEY_ENV_DATABASE_URL: a })).toBeUndefined();
    expect(databaseUrl('data', { KEY_ENV_DATABASE_URL: a, DATA_ENV_DATABASE_URL: '' })).toBeUndefined();
  });

  it('npm run demo stops before it starts anything when both variables name one database', () => {
    const url = 'postgresql://postgres@/shared?host=/nonexistent';
    const run = spawnSync(process.execPath, [DEMO], { env: { ...process.env, PORT: '0', TOKUMEI_DEMO_DATA: tempDir(), KEY_ENV_DATABASE_URL: url, DATA_ENV_DATABASE_URL: url }, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('name the same database');
    expect(run.stdout).not.toContain('Seeded');
  });

  it('each environment refuses a database that already holds the other\'s tables', async () => {
    // The data environment on the key environment's database (two URLs that reach one database).
    const keys = await freshPostgresDatabase();
    await (await openDatabase({ url: keys })).close();
    await expect(openDataEnvironmentStorage(tempDir(), { url: keys })).rejects.toThrow("holds the key environment's tables (tokumei.member_keys)");
    // The key environment on the data environment's database.
    const data = await freshPostgresDatabase();
    await (await openDataEnvironmentStorage(tempDir(), { url: data })).close();
    process.env.KEY_ENV_DATABASE_URL = data;
    await expect(openKeyEnvironmentStorage(tempDir(), { create: true })).rejects.toThrow("holds the data environment's tables (data_env.identity_records)");
    // The positive control: a database of its own.
    process.env.KEY_ENV_DATABASE_URL = await freshPostgresDatabase();
    const own = await openKeyEnvironmentStorage(tempDir(), { create: true });
    expect(own.db.engine).toBe('postgresql');
    await own.close();
  });
});

/**
 * A fresh database on the test server and a second connection string for it that the string
 * check cannot tell apart: its socket directory reached through a symbolic link (as
 * `/var/run/postgresql` reaches `/run/postgresql`).
 */
async function aliasedDatabase(): Promise<{ url: string; alias: string; tables: () => Promise<{ key: boolean; data: boolean }>; waitingForLock: () => Promise<number> }> {
  const url = await freshPostgresDatabase();
  const socketDir = decodeURIComponent(/[?&]host=([^&]*)/.exec(url)![1]!);
  const link = join(tempDir(), 'socket');
  symlinkSync(socketDir, link);
  const alias = url.replace(`host=${encodeURIComponent(socketDir)}`, `host=${encodeURIComponent(link)}`);
  expect(alias).not.toBe(url);
  expect(sameDatabase(url, alias)).toBe(false);
  const admin = async <R,>(text: string, params: unknown[] = []): Promise<R> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(text, params)).rows[0] as R;
    } finally {
      await client.end();
    }
  };
  return {
    url,
    alias,
    tables: () => admin("SELECT to_regclass('tokumei.member_keys') IS NOT NULL AS key, to_regclass('data_env.identity_records') IS NOT NULL AS data"),
    // Sessions of this database waiting for the set-up lock (a bigint key: objid is its low 32 bits).
    waitingForLock: async () =>
      (
        await admin<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = 0 AND objid = $1::bigint::oid AND objsubid = 1 AND NOT granted",
          [SET_UP_LOCK],
        )
      ).n,
  };
}

/** A seam that holds a set-up after its check until `release()`; `reached` resolves when it is held. */
function holdAfterCheck(lock = true): { seams: SetUpSeams; reached: Promise<void>; release: () => void } {
  let reachedIt!: () => void;
  let releaseIt!: () => void;
  const reached = new Promise<void>((resolve) => (reachedIt = resolve));
  const released = new Promise<void>((resolve) => (releaseIt = resolve));
  return { seams: { lock, afterCheck: () => (reachedIt(), released) }, reached, release: () => releaseIt() };
}

/** A promise's outcome without an unhandled rejection in between. */
const settle = <T,>(p: Promise<T>): Promise<{ ok: T } | { error: Error }> => p.then((ok) => ({ ok }), (error: Error) => ({ error }));

describe('two environments starting at once on one database through two connection strings', { timeout: 120_000 }, () => {
  const openKey = (seams?: SetUpSeams) => openKeyEnvironmentStorage(tempDir(), { create: true, setUp: seams });

  it('the data environment first: the key environment waits for its tables, then refuses', async () => {
    const db = await aliasedDatabase();
    process.env.KEY_ENV_DATABASE_URL = db.alias;
    const held = holdAfterCheck();
    const data = settle(openDataEnvironmentStorage(tempDir(), { url: db.url, setUp: held.seams }));
    await held.reached; // checked: no key tables
    const key = settle(openKey());
    await expect.poll(db.waitingForLock, { timeout: 30_000 }).toBe(1); // the key environment waits for the lock
    held.release();
    const [d, k] = await Promise.all([data, key]);
    expect('error' in k && k.error.message).toBe("KEY_ENV_DATABASE_URL names a database that holds the data environment's tables (data_env.identity_records). The two environments must never share a database: give each its own.");
    expect('ok' in d).toBe(true);
    if ('ok' in d) await d.ok.close();
    expect(await db.tables()).toEqual({ key: false, data: true });
  });

  it('the key environment first: the data environment waits for its migrations, then refuses', async () => {
    const db = await aliasedDatabase();
    process.env.KEY_ENV_DATABASE_URL = db.url;
    const held = holdAfterCheck();
    const key = settle(openKey(held.seams));
    await held.reached;
    const data = settle(openDataEnvironmentStorage(tempDir(), { url: db.alias }));
    await expect.poll(db.waitingForLock, { timeout: 30_000 }).toBe(1);
    held.release();
    const [k, d] = await Promise.all([key, data]);
    expect('error' in d && d.error.message).toBe("DATA_ENV_DATABASE_URL names a database that holds the key environment's tables (tokumei.member_keys). The two environments must never share a database: give each its own.");
    expect('ok' in k).toBe(true);
    if ('ok' in k) await k.ok.close();
    expect(await db.tables()).toEqual({ key: true, data: false });
  });

  it('positive control: without the lock (the weakened variant), one held between its check and its tables lets the other in, and both share the database', async () => {
    const db = await aliasedDatabase();
    process.env.KEY_ENV_DATABASE_URL = db.alias;
    const held = holdAfterCheck(false);
    const data = settle(openDataEnvironmentStorage(tempDir(), { url: db.url, setUp: held.seams }));
    await held.reached;
    // Nothing waits: the key environment checks (no data tables yet) and creates its own.
    const key = await openKey({ lock: false });
    expect(await db.tables()).toEqual({ key: true, data: false });
    held.release();
    const d = await data;
    expect('ok' in d).toBe(true);
    if ('ok' in d) await d.ok.close();
    await key.close();
    expect(await db.tables()).toEqual({ key: true, data: true });
  });

  it('started at the same moment, unheld, again and again: each time exactly one starts and the other refuses', async () => {
    for (let round = 0; round < 6; round++) {
      const db = await aliasedDatabase();
      const [keyUrl, dataUrl] = round % 2 === 0 ? [db.url, db.alias] : [db.alias, db.url];
      process.env.KEY_ENV_DATABASE_URL = keyUrl;
      const [k, d] = await Promise.all([settle(openKey()), settle(openDataEnvironmentStorage(tempDir(), { url: dataUrl }))]);
      const started = [k, d].filter((o) => 'ok' in o);
      expect(started).toHaveLength(1);
      const refused = [k, d].find((o) => 'error' in o) as { error: Error };
      expect(refused.error.message).toMatch(/names a database that holds the (key|data) environment's tables .* must never share a database/);
      if ('ok' in k) await k.ok.close();
      if ('ok' in d) await d.ok.close();
      expect(await db.tables()).toEqual({ key: 'ok' in k, data: 'ok' in d });
    }
  });

  it('npm run demo seed on a fresh start with two connection strings for one database fails, and one environment\'s tables are all the database holds', async () => {
    const db = await aliasedDatabase();
    const run = spawnSync(process.execPath, [DEMO, 'seed'], { env: { ...process.env, TOKUMEI_DEMO_DATA: tempDir(), DEMO_MEMBERS: '2', KEY_ENV_DATABASE_URL: db.url, DATA_ENV_DATABASE_URL: db.alias }, encoding: 'utf8', timeout: 120_000 });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/names a database that holds the (key|data) environment's tables/);
    const tables = await db.tables();
    expect(tables.key !== tables.data).toBe(true);
  });
});

describe('npm run demo:audit with both environments on PostgreSQL servers', { timeout: 300_000 }, () => {
  it('seeds both databases, passes, and finds what is planted in a row of either', async () => {
    const dir = tempDir();
    const urls = { KEY_ENV_DATABASE_URL: await freshPostgresDatabase(), DATA_ENV_DATABASE_URL: await freshPostgresDatabase() };
    const seeded = spawnSync(process.execPath, [DEMO, 'seed'], { env: { ...process.env, TOKUMEI_DEMO_DATA: dir, DEMO_MEMBERS: '12', ...urls }, encoding: 'utf8' });
    expect(seeded.status, seeded.stderr).toBe(0);
    Object.assign(process.env, urls);
    const passed = await auditDemo(dir);
    expect(formatReport(passed)).toContain('Audit passed');
    expect(formatReport(passed)).toMatch(/no plaintext identity value — checked \d+ identity values of \d+ people \(seed \d+\) in [1-9]\d* database rows/);

    const { readFileSync } = await import('node:fs');
    const config = JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8')) as DemoConfig;
    const m = generateMember(config.seed, 3, config.seedYear);
    const data = await openDataEnvironmentStorage(dir);
    let pseudonym: string;
    try {
      pseudonym = (await data.allAttributes())[0]!.pseudonym;
      const record = (await data.identity(m.memberId))!;
      await data.replaceIdentity({ ...record, address: m.identity.address });
      const report = await auditDemo(dir);
      expect(report.checks.filter((c) => c.violations.length > 0).map((c) => `${c.environment}: ${c.name}`)).toEqual(['data: no plaintext identity value', 'data: every identity field sealed']);
      expect(formatReport(report)).toContain(`database data_env.identity_records ${m.memberId}: 1 plaintext identity value(s)`);
      await data.replaceIdentity(record);
    } finally {
      await data.close();
    }

    const keys = new pg.Client({ connectionString: urls.KEY_ENV_DATABASE_URL });
    await keys.connect();
    try {
      await keys.query('CREATE TABLE public.cache (note text)');
      await keys.query('INSERT INTO public.cache VALUES ($1)', [pseudonym]);
      const report = await auditDemo(dir);
      expect(report.checks.filter((c) => c.violations.length > 0).map((c) => `${c.environment}: ${c.name}`)).toEqual(['key: no attribute data, no plaintext identity value']);
      expect(formatReport(report)).toContain('database public.cache row 1: a pseudonym');
    } finally {
      await keys.end();
    }
  });
});
