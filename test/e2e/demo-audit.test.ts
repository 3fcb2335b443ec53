// The demo's separation audit (npm run demo:audit) passes on a fresh seed and catches each kind
// of misplaced data: a plaintext identity value or a key in the data environment (in any row of
// any table of its database, or in its files), identity ciphertext or attribute data in the key
// environment.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDemo, formatReport, type AuditReport } from '../../examples/portal/audit/check.ts';
import { openDataEnvironmentStorage, type DataEnvironmentStorage } from '../../examples/portal/data-env/storage.ts';
import { openKeyEnvironmentStorage, type KeyEnvironmentStorage } from '../../examples/portal/key-env/storage.ts';
import { copyForReading } from '../../examples/portal/shared/database.ts';
import type { DemoConfig } from '../../examples/portal/seed/config.ts';
import { generateMember } from '../../examples/portal/seed/generate.ts';
import { keyMaterial } from '../../src/keys/member-key.ts';
import { envelopeShapeProblem } from '../../examples/portal/data-env/envelope-shape.ts';

const DEMO = new URL('../../examples/portal/demo.mjs', import.meta.url).pathname;
let dataDir: string;
let config: DemoConfig;
// The two environments' storage, opened once for every audit in this file: opening an embedded
// database costs seconds of CPU, so each audit reads these instead of opening its own.
let keyEnvironment: KeyEnvironmentStorage;
let dataEnvironment: DataEnvironmentStorage;
const audit = (): Promise<AuditReport> => auditDemo(dataDir, { keyEnvironment, dataEnvironment });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tokumei-demo-audit-'));
  const seeded = spawnSync(process.execPath, [DEMO, 'seed'], { env: { ...process.env, TOKUMEI_DEMO_DATA: dataDir, DEMO_MEMBERS: '40' }, encoding: 'utf8' });
  expect(seeded.status, seeded.stderr).toBe(0);
  config = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoConfig;
  [keyEnvironment, dataEnvironment] = await Promise.all([openKeyEnvironmentStorage(dataDir), openDataEnvironmentStorage(dataDir)]);
}, 300_000); // the seed creates both embedded databases (PGlite's initdb), and they are opened again here
afterAll(async () => {
  await Promise.all([keyEnvironment?.close(), dataEnvironment?.close()]);
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * Audits a copy of the seeded data folder whose data environment `plant` changed. A database
 * keeps what was written to it in its files (old row versions, the write-ahead log) after the
 * row is put back, so every planting gets a copy of its own.
 */
async function auditPlanted(plant: (data: DataEnvironmentStorage) => Promise<void>): Promise<AuditReport> {
  const dir = mkdtempSync(join(tmpdir(), 'tokumei-demo-audit-planted-'));
  try {
    cpSync(join(dataDir, 'demo.json'), join(dir, 'demo.json'));
    symlinkSync(join(dataDir, 'key-env'), join(dir, 'key-env'), 'dir');
    mkdirSync(join(dir, 'data-env'));
    renameSync(copyForReading(join(dataDir, 'data-env/db'), 'data-env.lock'), join(dir, 'data-env/db'));
    const data = await openDataEnvironmentStorage(dir);
    try {
      await plant(data);
      return await auditDemo(dir, { keyEnvironment, dataEnvironment: data });
    } finally {
      await data.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const identity = async (id: string): Promise<Record<string, string>> => (await dataEnvironment.identity(id)) as unknown as Record<string, string>;
const replace = (id: string, record: Record<string, unknown>) => (data: DataEnvironmentStorage): Promise<void> => data.replaceIdentity({ ...record, id } as never).then(() => undefined);

function failed(report: AuditReport): string[] {
  return report.checks.filter((c) => c.violations.length > 0).map((c) => `${c.environment}: ${c.name}`);
}

/** Writes `text` to `path` for one audit, then puts the old content back (or removes the file). */
async function auditWith(path: string, text: string | Buffer): Promise<AuditReport> {
  let old: Buffer | undefined;
  try {
    old = readFileSync(path);
  } catch {
    old = undefined;
  }
  writeFileSync(path, text);
  try {
    return await audit();
  } finally {
    if (old === undefined) unlinkSync(path);
    else writeFileSync(path, old);
  }
}

/**
 * A forgery a careless or dishonest writer could store: the header of a real envelope (version,
 * key id) and a nonce, then the plaintext padded to its bucket as the "ciphertext", and 16 bytes
 * as the "tag" — base64url like any sealed value.
 */
function disguise(real: string, plaintext: string): string {
  const body = Buffer.from(real.slice(4), 'base64url');
  const header = body.subarray(0, 2 + body[1]! + 12);
  const padded = Buffer.alloc(64);
  padded.write(plaintext);
  padded[Buffer.byteLength(plaintext)] = 0x80;
  return `tk1.${Buffer.concat([header, padded, Buffer.alloc(16, 7)]).toString('base64url')}`;
}

// Each audit reads every row and every file of both environments (each embedded database is tens
// of MB): seconds on a quiet machine, more on a busy one.
describe('npm run demo:audit', { timeout: 300_000 }, () => {
  it('passes on a fresh seed and says what it checked', async () => {
    const report = await audit();
    expect(failed(report)).toEqual([]);
    expect(report.ok).toBe(true);
    const text = formatReport(report);
    expect(text).toContain('no plaintext identity value');
    let people = 0;
    for (let n = 1; n <= config.members; n++) people += 1 + generateMember(config.seed, n, config.seedYear).dependants.length;
    expect(text).toContain(`PASS  no key — checked ${people} member keys, the link key and the master key`);
    expect(text).toContain(`PASS  every envelope opens — checked ${people * 6} of ${people * 6} envelopes opened`);
    expect(text).toContain('Audit passed');
  });

  it('runs as a command and exits 0, reading a copy of the embedded database another process holds open', () => {
    const run = spawnSync(process.execPath, [DEMO, 'audit'], { env: { ...process.env, TOKUMEI_DEMO_DATA: dataDir }, encoding: 'utf8' });
    expect(run.stdout).toContain('Audit passed');
    expect(run.status).toBe(0);
  }, 180_000); // a process of its own: it builds the demo and opens a copy of the database

  it('fails on a plaintext name in the data environment', async () => {
    const m = generateMember(config.seed, 7, config.seedYear);
    const report = await auditPlanted(replace(m.memberId, { ...(await identity(m.memberId)), fullName: m.identity.fullName }));
    expect(failed(report)).toEqual(['data: no plaintext identity value', 'data: every identity field sealed']);
    const text = formatReport(report);
    expect(text).toContain(`database data_env.identity_records ${m.memberId}: 1 plaintext identity value(s)`);
    expect(text).not.toContain(m.identity.fullName); // the report names rows and files, not values
  });

  it('fails on a birth date hidden inside something that looks sealed', async () => {
    const m = generateMember(config.seed, 8, config.seedYear);
    const report = await auditPlanted(replace(m.memberId, { ...(await identity(m.memberId)), birthDate: `tk1.${m.identity.birthDate}` }));
    expect(failed(report)).toEqual(['data: no plaintext identity value', 'data: every envelope opens']);
  });

  it('fails on plaintext disguised as a well-formed envelope (base64url, right key id, bucket length)', async () => {
    const m = generateMember(config.seed, 11, config.seedYear);
    const record = await identity(m.memberId);
    const disguised = disguise(record.fullName!, m.identity.fullName);
    // It has every property a sealed value shows without its key: the shape check of the data
    // environment accepts it, and no plaintext search can see the name inside the base64url.
    expect(envelopeShapeProblem(disguised)).toBeUndefined();
    expect(disguised).not.toContain(m.identity.fullName);
    const report = await auditPlanted(replace(m.memberId, { ...record, fullName: disguised }));
    expect(failed(report)).toEqual(['data: every envelope opens']);
    const text = formatReport(report);
    expect(text).toContain(`FAIL  every envelope opens`);
    expect(text).toContain(`database data_env.identity_records ${m.memberId}: field "fullName" does not open under the record's own key (ERR_DECRYPTION_FAILED)`);
    expect(text).not.toContain(disguised);
  });

  it('fails on a sealed value moved to another record, or kept outside any identity record, in any table', async () => {
    const from = await identity('M000012');
    // Moved: a real envelope, but sealed for M000012 under M000012's key.
    const moved = await auditPlanted(replace('M000013', { ...(await identity('M000013')), phone: from.phone }));
    expect(failed(moved)).toEqual(['data: every envelope opens']);
    // Kept elsewhere, in a table of its own: nothing says where it belongs, so nothing can authenticate it.
    const stray = await auditPlanted(async (data) => {
      await data.sql.query('CREATE TABLE public.notes (note text)');
      await data.sql.query('INSERT INTO public.notes VALUES ($1)', [from.phone]);
    });
    expect(failed(stray)).toEqual(['data: every envelope opens']);
    expect(formatReport(stray)).toContain('database public.notes row 1: 1 envelope(s) outside any identity field');
  });

  it('fails on a member key in the data environment, in any encoding, in a row or a file — and after the row is deleted', async () => {
    const ring = await keyEnvironment.env.openKeyring('M000009');
    const key = Buffer.from(keyMaterial(ring.primary, 'raw'));
    ring.destroy();
    // One row per encoding: each row is named.
    const encoded = await auditPlanted(async (data) => {
      await data.sql.query('CREATE TABLE public.notes (note text)');
      for (const text of [key.toString('hex'), key.toString('base64'), key.toString('base64url')]) await data.sql.query('INSERT INTO public.notes VALUES ($1)', [text]);
    });
    expect(failed(encoded)).toEqual(['data: no key']);
    for (const row of [1, 2, 3]) expect(formatReport(encoded)).toContain(`database public.notes row ${row}: member key`);
    // A row deleted again: the database's files still hold it, and the audit reads them too.
    const deleted = await auditPlanted(async (data) => {
      await data.sql.query('CREATE TABLE public.notes (note bytea)');
      await data.sql.query('INSERT INTO public.notes VALUES ($1)', [key]);
      await data.sql.query('DELETE FROM public.notes');
    });
    expect(failed(deleted)).toEqual(['data: no key']);
    expect(formatReport(deleted)).toMatch(/data-env\/db\/\S+: member key/);
    expect(formatReport(deleted)).not.toContain('database public.notes');
    // A file next to the database.
    const path = join(dataDir, 'data-env', 'planted.bin');
    writeFileSync(path, Buffer.concat([Buffer.from('x'), key]));
    try {
      const raw = await audit();
      expect(failed(raw)).toEqual(['data: no key']);
      expect(formatReport(raw)).toContain('data-env/planted.bin: member key');
    } finally {
      unlinkSync(path);
    }
  });

  it('fails on identity ciphertext or attribute data in the key environment', async () => {
    const sealed = await identity('M000010');
    const ciphertext = await auditWith(join(dataDir, 'key-env', 'planted.json'), JSON.stringify({ cached: sealed.fullName }));
    expect(failed(ciphertext)).toEqual(['key: no identity ciphertext']);

    const { pseudonym } = (await dataEnvironment.allAttributes())[0]!;
    const attribute = await auditWith(join(dataDir, 'key-env', 'planted.json'), JSON.stringify({ [pseudonym]: { steps: [8000] } }));
    expect(failed(attribute)).toEqual(['key: no attribute data, no plaintext identity value']);
  });
});

describe('the synthetic population', () => {
  it('is deterministic from the seed, and different for another seed', () => {
    expect(generateMember(42, 17, 2026)).toEqual(generateMember(42, 17, 2026));
    expect(generateMember(43, 17, 2026).identity).not.toEqual(generateMember(42, 17, 2026).identity);
    // Identity values do not depend on the seed year (the audit regenerates them).
    expect(generateMember(42, 17, 2030).identity).toEqual(generateMember(42, 17, 2026).identity);
  });

  it('has Japanese names with katakana readings, valid dates, cards and five years of checkups', () => {
    let dependants = 0;
    for (let n = 1; n <= 300; n++) {
      const m = generateMember(7, n, 2026);
      expect(m.memberId).toBe(`M${String(n).padStart(6, '0')}`);
      for (const p of [m.identity, ...m.dependants.map((d) => d.identity)]) {
        expect(p.fullName).toMatch(/^\S+ \S+$/);
        expect(p.fullNameKana).toMatch(/^[\u30a0-\u30ff]+ [\u30a0-\u30ff]+$/);
        expect(Number.isNaN(Date.parse(p.birthDate))).toBe(false);
        expect(p.address).toMatch(/^〒\d{3}-\d{4} /);
      }
      expect(m.identity.insuredNumber).toMatch(/^\d{4}-\d{5}-00$/);
      m.dependants.forEach((d, i) => expect(d.identity.insuredNumber).toBe(m.identity.insuredNumber.replace(/-00$/, `-${String(i + 1).padStart(2, '0')}`)));
      expect(m.checkups.map((c) => c.date.slice(0, 4))).toEqual(['2021', '2022', '2023', '2024', '2025']);
      expect(m.steps.length).toBe(365);
      dependants += m.dependants.length;
    }
    expect(dependants).toBeGreaterThan(50);
  });
});
