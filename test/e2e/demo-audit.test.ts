// The demo's separation audit (npm run demo:audit) passes on a fresh seed and catches each kind
// of misplaced data: a plaintext identity value or a key in the data environment, identity
// ciphertext or attribute data in the key environment.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDemo, formatReport, type AuditReport } from '../../examples/portal/audit/check.ts';
import { openKeyEnvironmentStorage, type KeyEnvironmentStorage } from '../../examples/portal/key-env/storage.ts';
import type { DemoConfig } from '../../examples/portal/seed/config.ts';
import { generateMember } from '../../examples/portal/seed/generate.ts';
import { keyMaterial } from '../../src/keys/member-key.ts';
import { envelopeShapeProblem } from '../../examples/portal/data-env/envelope-shape.ts';

const DEMO = new URL('../../examples/portal/demo.mjs', import.meta.url).pathname;
let dataDir: string;
let config: DemoConfig;
// The key environment's storage, opened once for every audit in this file: opening its embedded
// database costs seconds of CPU, so each audit reads this one instead of opening its own.
let keyEnvironment: KeyEnvironmentStorage;
const audit = (): Promise<AuditReport> => auditDemo(dataDir, { keyEnvironment });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tokumei-demo-audit-'));
  const seeded = spawnSync(process.execPath, [DEMO, 'seed'], { env: { ...process.env, TOKUMEI_DEMO_DATA: dataDir, DEMO_MEMBERS: '40' }, encoding: 'utf8' });
  expect(seeded.status, seeded.stderr).toBe(0);
  config = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoConfig;
  keyEnvironment = await openKeyEnvironmentStorage(dataDir);
}, 300_000); // the seed creates the key environment's embedded database (PGlite's initdb), and it is opened again here
afterAll(async () => {
  await keyEnvironment?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

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

const identityFile = (id: string): string => join(dataDir, 'data-env/identities', `${id}.json`);

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

// Each audit reads every file of both environments (the key environment's embedded database is
// tens of MB): seconds on a quiet machine, more on a busy one.
describe('npm run demo:audit', { timeout: 180_000 }, () => {
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
    const record = JSON.parse(readFileSync(identityFile(m.memberId), 'utf8')) as Record<string, unknown>;
    const report = await auditWith(identityFile(m.memberId), JSON.stringify({ ...record, fullName: m.identity.fullName }));
    expect(failed(report)).toEqual(['data: no plaintext identity value', 'data: every identity field sealed']);
    expect(formatReport(report)).not.toContain(m.identity.fullName); // the report names files, not values
  });

  it('fails on a birth date hidden inside something that looks sealed', async () => {
    const m = generateMember(config.seed, 8, config.seedYear);
    const record = JSON.parse(readFileSync(identityFile(m.memberId), 'utf8')) as Record<string, unknown>;
    const report = await auditWith(identityFile(m.memberId), JSON.stringify({ ...record, birthDate: `tk1.${m.identity.birthDate}` }));
    expect(failed(report)).toEqual(['data: no plaintext identity value', 'data: every envelope opens']);
  });

  it('fails on plaintext disguised as a well-formed envelope (base64url, right key id, bucket length)', async () => {
    const m = generateMember(config.seed, 11, config.seedYear);
    const record = JSON.parse(readFileSync(identityFile(m.memberId), 'utf8')) as Record<string, string>;
    const disguised = disguise(record.fullName!, m.identity.fullName);
    // It has every property a sealed value shows without its key: the shape check of the data
    // environment accepts it, and no plaintext search can see the name inside the base64url.
    expect(envelopeShapeProblem(disguised)).toBeUndefined();
    expect(disguised).not.toContain(m.identity.fullName);
    const report = await auditWith(identityFile(m.memberId), JSON.stringify({ ...record, fullName: disguised }));
    expect(failed(report)).toEqual(['data: every envelope opens']);
    const text = formatReport(report);
    expect(text).toContain(`FAIL  every envelope opens`);
    expect(text).toContain(`data-env/identities/${m.memberId}.json: field "fullName" does not open under the record's own key (ERR_DECRYPTION_FAILED)`);
    expect(text).not.toContain(disguised);
  });

  it('fails on a sealed value moved to another record, or kept outside any identity record', async () => {
    const from = JSON.parse(readFileSync(identityFile('M000012'), 'utf8')) as Record<string, string>;
    const to = JSON.parse(readFileSync(identityFile('M000013'), 'utf8')) as Record<string, string>;
    // Moved: a real envelope, but sealed for M000012 under M000012's key.
    const moved = await auditWith(identityFile('M000013'), JSON.stringify({ ...to, phone: from.phone }));
    expect(failed(moved)).toEqual(['data: every envelope opens']);
    // Kept elsewhere: nothing says where it belongs, so nothing can authenticate it.
    const stray = await auditWith(join(dataDir, 'data-env/attributes', 'planted.json'), JSON.stringify({ note: from.phone }));
    expect(failed(stray)).toEqual(['data: every envelope opens']);
    expect(formatReport(stray)).toContain('data-env/attributes/planted.json: 1 envelope(s) outside any identity field');
  });

  it('fails on a member key in the data environment, in any encoding', async () => {
    const ring = await keyEnvironment.env.openKeyring('M000009');
    const key = Buffer.from(keyMaterial(ring.primary, 'raw'));
    ring.destroy();
    for (const encoded of [key.toString('hex'), key.toString('base64'), key.toString('base64url')]) {
      const report = await auditWith(join(dataDir, 'data-env/attributes', 'planted.json'), JSON.stringify({ note: encoded }));
      expect(failed(report)).toEqual(['data: no key']);
    }
    const raw = await auditWith(join(dataDir, 'data-env', 'planted.bin'), Buffer.concat([Buffer.from('x'), key]));
    expect(failed(raw)).toEqual(['data: no key']);
  });

  it('fails on identity ciphertext or attribute data in the key environment', async () => {
    const sealed = JSON.parse(readFileSync(identityFile('M000010'), 'utf8')) as { fullName: string };
    const ciphertext = await auditWith(join(dataDir, 'key-env', 'planted.json'), JSON.stringify({ cached: sealed.fullName }));
    expect(failed(ciphertext)).toEqual(['key: no identity ciphertext']);

    const { readdirSync } = await import('node:fs');
    const pseudonym = readdirSync(join(dataDir, 'data-env/attributes'))[0]!.slice(0, -5);
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
