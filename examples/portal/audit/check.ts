// The separation audit: reads each environment's storage — the files under its folder (an
// embedded database's files included) and every row of its database — and checks that the data environment
// holds no plaintext identity value and no key, and that every value that looks sealed opens
// with the member key it names (so a plaintext dressed up as an envelope cannot pass), and that
// the key environment holds no identity ciphertext and no attribute data (docs/threat-model.md
// §1). The plaintexts are regenerated from the seed, the keys unwrapped from the key
// environment — the audit is the one program allowed both.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
// The audit needs the raw key bytes to search for them: it uses tokumei's internal accessor,
// which no public entry point exports (a portal never needs it).
import { keyMaterial } from '../../../src/keys/member-key.ts';
import { DATA_ENV_DIR, openDataEnvironmentStorage, type DataEnvironmentStorage } from '../data-env/storage.ts';
import { KEY_ENV_DIR, openKeyEnvironmentStorage, type KeyEnvironmentStorage } from '../key-env/storage.ts';
import { databaseUrl, everyRowAt, type StoredRow } from '../shared/database.ts';
import { DEMO_CONFIG_FILE, type DemoConfig } from '../seed/config.ts';
import { generateMember, identityValuesOf } from '../seed/generate.ts';
import { IDENTITY_FIELDS } from '../shared/schemas.ts';
import { ENVELOPE_SHAPE as ENVELOPE, openEveryEnvelope, type FoundEnvelope } from './envelopes.ts';

/** One check: what was looked at, and what was found that should not be there. */
export interface AuditCheck {
  environment: 'data' | 'key';
  name: string;
  checked: string;
  /** Where each violation is (file and kind), never the secret itself. */
  violations: string[];
}

/** The audit's result. */
export interface AuditReport {
  dataDir: string;
  checks: AuditCheck[];
  ok: boolean;
}

/** A file, or a database row (as JSON), and where it is, for the report. */
interface StoredFile {
  where: string;
  bytes: Buffer;
}

function readTree(dataDir: string, folder: string): StoredFile[] {
  const out: StoredFile[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push({ where: relative(dataDir, p), bytes: readFileSync(p) });
    }
  };
  walk(join(dataDir, folder));
  return out;
}

/** Where a row is, as the report names it. */
const rowWhere = (table: string, key: string): string => `database ${table} ${key}`;

function rowsAsFiles(rows: readonly StoredRow[]): StoredFile[] {
  return rows.map((r) => ({ where: rowWhere(r.table, r.key), bytes: Buffer.from(JSON.stringify(r.row)) }));
}

/** Every string in a JSON document (keys and values); `undefined` if it is not JSON. */
function jsonStrings(text: string): string[] | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        out.push(k);
        walk(x);
      }
    }
  };
  walk(doc);
  return out;
}

/** The strings of a file: JSON strings, the lines of JSON Lines, or the whole text. */
function stringsOf(f: StoredFile): string[] {
  const text = f.bytes.toString('utf8');
  const whole = jsonStrings(text);
  if (whole !== undefined) return whole;
  const lines = text.split('\n').filter((l) => l !== '').map(jsonStrings);
  if (lines.every((l) => l !== undefined)) return lines.flat() as string[];
  return [text];
}

const NUMERIC = /[0-9-]{8,}/g;

/**
 * Finds which needles occur in a haystack in one pass: a bitmap of the needles' 3-byte
 * prefixes screens every position, and only a screened hit is compared in full. Build once,
 * search many files.
 */
function needleIndex(needles: readonly { bytes: Uint8Array; label: string }[]): (hay: Uint8Array) => Set<string> {
  const prefix = (b: Uint8Array, i: number): number => (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
  const screen = new Uint8Array(1 << 24);
  const byPrefix = new Map<number, { bytes: Uint8Array; label: string }[]>();
  for (const n of needles) {
    if (n.bytes.length < 3) throw new RangeError('"needles" expected at least 3 bytes each');
    const p = prefix(n.bytes, 0);
    screen[p] = 1;
    byPrefix.set(p, [...(byPrefix.get(p) ?? []), n]);
  }
  return (hay) => {
    const found = new Set<string>();
    const buf = Buffer.from(hay.buffer, hay.byteOffset, hay.length);
    for (let i = 0; i + 3 <= hay.length; i++) {
      const p = prefix(hay, i);
      if (screen[p] === 0) continue;
      for (const n of byPrefix.get(p)!) if (buf.subarray(i, i + n.bytes.length).equals(n.bytes)) found.add(n.label);
    }
    return found;
  };
}

/** Text needles as their UTF-8 bytes. */
function textNeedles(entries: Iterable<[string, string]>): { bytes: Uint8Array; label: string }[] {
  return [...entries].map(([text, label]) => ({ bytes: Buffer.from(text, 'utf8'), label }));
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Storage the caller already has open, for the audit to read instead of opening its own. */
export interface OpenStorage {
  keyEnvironment?: KeyEnvironmentStorage;
  dataEnvironment?: DataEnvironmentStorage;
}

/**
 * Runs every check on the demo's data folder and the two environments' databases. Storage given
 * in `open` is read as it is and left open; the rest is opened side by side (an embedded
 * database the running demo holds is read from a copy) and closed again.
 */
export async function auditDemo(dataDir: string, open: OpenStorage = {}): Promise<AuditReport> {
  const opened = await Promise.allSettled([
    open.keyEnvironment ?? openKeyEnvironmentStorage(dataDir, { snapshot: true }),
    open.dataEnvironment ?? openDataEnvironmentStorage(dataDir, { snapshot: true }),
  ] as const);
  const [key, data] = opened;
  try {
    if (key.status === 'rejected') throw key.reason;
    if (data.status === 'rejected') throw data.reason;
    return await audit(dataDir, key.value, data.value);
  } finally {
    if (open.keyEnvironment === undefined && key.status === 'fulfilled') await key.value.close();
    if (open.dataEnvironment === undefined && data.status === 'fulfilled') await data.value.close();
  }
}

async function audit(dataDir: string, storage: KeyEnvironmentStorage, data: DataEnvironmentStorage): Promise<AuditReport> {
  const config = JSON.parse(readFileSync(join(dataDir, DEMO_CONFIG_FILE), 'utf8')) as DemoConfig;
  const checks: AuditCheck[] = [];
  // The data environment: every row of its database, and every file in its folder (the embedded
  // database's files too: what a row no longer shows may still be in them).
  const dataRows = await data.everyRow();
  const dataFiles = [...rowsAsFiles(dataRows), ...readTree(dataDir, DATA_ENV_DIR)];
  // The key environment: every file in its folder (the embedded database's included), and every
  // row of its database when that is on a PostgreSQL server.
  const keyUrl = databaseUrl('key');
  const keyFiles = [...(keyUrl === undefined ? [] : rowsAsFiles(await everyRowAt(keyUrl))), ...readTree(dataDir, KEY_ENV_DIR)];
  const rel = (f: StoredFile): string => f.where;
  const size = (fs: StoredFile[]): string => {
    const rows = fs.filter((f) => f.where.startsWith('database ')).length;
    return `${rows === 0 ? '' : `${count(rows)} database rows and `}${count(fs.length - rows)} files, ${(fs.reduce((a, f) => a + f.bytes.length, 0) / 1e6).toFixed(1)} MB`;
  };

  // The seed's plaintexts, regenerated; and what the data environment holds in the clear.
  const identityValues = new Set<string>();
  const recordIds: string[] = [];
  const nicknames = new Set<string>();
  for (let n = 1; n <= config.members; n++) {
    const m = generateMember(config.seed, n, config.seedYear);
    identityValuesOf(m).forEach((v) => identityValues.add(v));
    recordIds.push(m.memberId, ...m.dependants.map((d) => d.recordId));
    nicknames.add(m.nickname);
  }
  const sealedValues: string[] = [];
  const foundEnvelopes: FoundEnvelope[] = [];
  const pseudonyms: string[] = [];
  const plainByFile: { file: StoredFile; plain: string }[] = [];
  for (const f of dataFiles) {
    const strings = stringsOf(f);
    for (const s of strings) {
      if (!ENVELOPE.test(s)) continue;
      sealedValues.push(s);
      foundEnvelopes.push({ value: s, where: rel(f) });
    }
    plainByFile.push({ file: f, plain: strings.filter((s) => !ENVELOPE.test(s)).join('\u0000') });
  }
  for (const r of dataRows) if (r.table === 'data_env.attribute_records') pseudonyms.push(r.key);
  const identityRecords = await data.identityRecords();
  const identityWhere = (id: string): string => rowWhere('data_env.identity_records', id);

  // Data environment, check 1: no plaintext identity value, anywhere in any file. Non-envelope
  // strings are searched for every value; numeric values (dates, phone and insured numbers)
  // are also searched in the raw text of every file, envelopes included.
  {
    const violations: string[] = [];
    const numeric = [...identityValues].filter((v) => /^[0-9-]+$/.test(v));
    const numericSet = new Set(numeric);
    for (const v of identityValues) if (!numericSet.has(v) && !/[^\x00-\x7f]/.test(v)) throw new Error('the audit expects every identity value to be numeric or to contain non-ASCII characters');
    const lengths = [...new Set(numeric.map((v) => v.length))];
    // Every seeded value is either numeric (searched below in the raw text) or contains
    // non-ASCII characters (names, readings, addresses), so it can only hide in a string that
    // does too. One pass over those strings of all files; files are told apart only on a hit.
    const nonAscii = /[^\x00-\x7f]/;
    const all = plainByFile.flatMap((p) => p.plain.split('\u0000').filter((x) => nonAscii.test(x))).join('\u0001');
    const present = [...identityValues].filter((v) => !numericSet.has(v) && all.includes(v));
    for (const { file, plain } of plainByFile) {
      let hits = present.filter((v) => plain.includes(v)).length;
      for (const run of file.bytes.toString('latin1').match(NUMERIC) ?? []) {
        for (const L of lengths) for (let i = 0; i + L <= run.length; i++) if (numericSet.has(run.slice(i, i + L))) hits++;
      }
      if (hits > 0) violations.push(`${rel(file)}: ${hits} plaintext identity value(s)`);
    }
    checks.push({ environment: 'data', name: 'no plaintext identity value', checked: `${count(identityValues.size)} identity values of ${count(recordIds.length)} people (seed ${config.seed}) in ${size(dataFiles)}`, violations });
  }

  // Data environment, check 2: every identity field of every identity record is an envelope.
  {
    const violations: string[] = [];
    let fields = 0;
    for (const rec of identityRecords) {
      for (const name of IDENTITY_FIELDS) {
        fields++;
        const v = rec[name];
        if (typeof v !== 'string' || !ENVELOPE.test(v)) violations.push(`${identityWhere(rec.id)}: field "${name}" is not a tk1 envelope`);
      }
    }
    checks.push({ environment: 'data', name: 'every identity field sealed', checked: `${count(fields)} identity fields in ${count(identityRecords.length)} identity records`, violations });
  }

  // Data environment, check 3: no key — member keys, the link key, the master key — as raw
  // bytes, hex, base64 or base64url.
  const secrets: { label: string; bytes: Uint8Array }[] = [];
  try {
    for (const id of recordIds) {
      const ring = await storage.env.openKeyring(id);
      try {
        for (const keyId of ring.keyIds) secrets.push({ label: `member key ${keyId}`, bytes: Uint8Array.from(keyMaterial(ring.get(keyId), 'raw')) });
      } finally {
        ring.destroy();
      }
    }
    secrets.push({ label: 'link key', bytes: await storage.linkKey() });
    // The local master key file's "key: <64 hex digits>" line (createMasterKeyFile); the audit
    // is a test tool, so it may read the key as text. A master key in SoftHSM2 cannot be read
    // out of the token: it cannot have been copied anywhere either.
    const masterFile = join(dataDir, KEY_ENV_DIR, 'master.key');
    const inFile = existsSync(masterFile);
    if (inFile) {
      const masterHex = /^key: ([0-9a-f]{64})$/m.exec(readFileSync(masterFile, 'latin1'))?.[1] ?? '';
      secrets.push({ label: 'master key', bytes: new Uint8Array(Buffer.from(masterHex, 'hex')) });
    }
    const needles: { bytes: Uint8Array; label: string }[] = [];
    for (const s of secrets) {
      const b = Buffer.from(s.bytes);
      needles.push({ bytes: b, label: s.label });
      for (const enc of [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url')]) needles.push({ bytes: Buffer.from(enc), label: s.label });
    }
    const violations: string[] = [];
    const findKeys = needleIndex(needles);
    for (const f of dataFiles) {
      const found = findKeys(f.bytes);
      if (found.size > 0) violations.push(`${rel(f)}: ${[...found].join(', ')}`);
    }
    const what = inFile ? `${count(secrets.length - 2)} member keys, the link key and the master key` : `${count(secrets.length - 1)} member keys and the link key (the master key is in SoftHSM2 and cannot be read out of it)`;
    checks.push({ environment: 'data', name: 'no key', checked: `${what}, each as raw bytes, hex, base64 and base64url`, violations });
  } finally {
    for (const s of secrets) s.bytes.fill(0);
  }

  // Data environment, check 4: every envelope authenticates. Each is opened with the key it
  // names, as the field and record it is stored in: a plaintext dressed up as `tk1.` and
  // base64url, or a sealed value moved elsewhere, fails here even though it looks sealed.
  {
    const records = identityRecords.map((record) => ({ recordId: record.id, record, where: identityWhere(record.id) }));
    const { opened, violations } = await openEveryEnvelope(records, foundEnvelopes, (id) => storage.env.openKeyring(id));
    checks.push({ environment: 'data', name: 'every envelope opens', checked: `${count(opened)} of ${count(foundEnvelopes.length)} envelopes opened with the member key each names, as the field and record it is stored in`, violations });
  }

  // Key environment, check 1: no identity ciphertext ("tk1." or the tail of any sealed value).
  const keyText = keyFiles.map((f) => ({ f, text: f.bytes.toString('latin1') }));
  {
    const findTails = needleIndex(textNeedles(sealedValues.map((v) => [v.slice(-24), 'a sealed identity value'])));
    const violations: string[] = [];
    for (const { f, text } of keyText) {
      if (text.includes('tk1.')) violations.push(`${rel(f)}: "tk1." envelope marker`);
      if (findTails(f.bytes).size > 0) violations.push(`${rel(f)}: part of a sealed identity value`);
    }
    checks.push({ environment: 'key', name: 'no identity ciphertext', checked: `"tk1." and the last 24 characters of ${count(sealedValues.length)} sealed values in ${size(keyFiles)}`, violations });
  }

  // Key environment, check 2: no attribute data (pseudonyms, nicknames, attribute field names)
  // and no plaintext identity value either.
  {
    const FIELD_NAMES = ['checkups', 'steps', 'vitals', 'nickname', 'departmentCode', 'hba1c', 'systolic', 'weightKg'];
    // One pass over each file for all of them (the embedded database is tens of MB of files).
    const labelled = [
      ...pseudonyms.map((p): [string, string] => [p, `p:${p}`]),
      ...[...nicknames].map((n): [string, string] => [n, `n:${n}`]),
      ...[...identityValues].map((v): [string, string] => [v, `v:${v}`]),
    ];
    const short = labelled.filter(([text]) => Buffer.byteLength(text) < 3);
    const find = needleIndex(textNeedles(labelled.filter(([text]) => Buffer.byteLength(text) >= 3)));
    const violations: string[] = [];
    for (const { f } of keyText) {
      const utf = f.bytes.toString('utf8');
      const found = [...find(f.bytes), ...short.filter(([text]) => utf.includes(text)).map(([, label]) => label)];
      const kinds = (prefix: string): number => new Set(found.filter((l) => l.startsWith(prefix))).size;
      if (kinds('p:') > 0) violations.push(`${rel(f)}: a pseudonym`);
      for (const name of FIELD_NAMES) if (utf.includes(`"${name}"`)) violations.push(`${rel(f)}: attribute field "${name}"`);
      if (kinds('n:') > 0) violations.push(`${rel(f)}: ${kinds('n:')} nickname(s)`);
      if (kinds('v:') > 0) violations.push(`${rel(f)}: ${kinds('v:')} plaintext identity value(s)`);
    }
    checks.push({
      environment: 'key',
      name: 'no attribute data, no plaintext identity value',
      checked: `${count(pseudonyms.length)} pseudonyms, ${count(nicknames.size)} nicknames, ${FIELD_NAMES.length} attribute field names and ${count(identityValues.size)} identity values`,
      violations,
    });
  }

  return { dataDir, checks, ok: checks.every((c) => c.violations.length === 0) };
}

/** Formats a report for the terminal. */
export function formatReport(report: AuditReport): string {
  const lines = [`tokumei demo audit: ${report.dataDir}`];
  for (const env of ['data', 'key'] as const) {
    lines.push(env === 'data' ? `Data environment (${DATA_ENV_DIR}/ and its database):` : `Key environment (${KEY_ENV_DIR}/ and its database):`);
    for (const c of report.checks.filter((x) => x.environment === env)) {
      lines.push(`  ${c.violations.length === 0 ? 'PASS' : 'FAIL'}  ${c.name} — checked ${c.checked}`);
      for (const v of c.violations.slice(0, 20)) lines.push(`        ${v}`);
      if (c.violations.length > 20) lines.push(`        … and ${c.violations.length - 20} more`);
    }
  }
  lines.push(report.ok ? 'Audit passed: neither environment holds what belongs to the other.' : 'Audit FAILED.');
  return lines.join('\n');
}
