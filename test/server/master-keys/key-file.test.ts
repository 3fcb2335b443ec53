// The local master key's file and environment variable: only the documented file format is
// accepted, a bare key from tokumei 0.1 gets an error that says how to convert it (and the
// conversion keeps the key), errors never echo a key, and every buffer the reading code
// allocates is zero once it returns (instrumentation, as in test/records/wipe.test.ts).
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';

const seen = vi.hoisted(() => ({ allocated: [] as Uint8Array[] }));
vi.mock('../../../src/internal/secret.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/internal/secret.ts')>();
  return {
    ...real,
    allocSecret: (n: number) => {
      const b = real.allocSecret(n);
      seen.allocated.push(b);
      return b;
    },
  };
});

const { TokumeiError } = await import('../../../src/errors.ts');
const { createMasterKeyFile, masterKeyFromFile, upgradeMasterKeyFile } = await import('../../../src/server/master-keys/key-file.ts');
const { localMasterKey, masterKeyFromEnv } = await import('../../../src/server/master-keys/local.ts');

const dir = mkdtempSync(join(tmpdir(), 'tokumei-key-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  seen.allocated.length = 0;
});

let n = 0;
const fresh = (): string => join(dir, `k${++n}.key`);
const ctx = new TextEncoder().encode('context');
const hexOf = (path: string): string => /^key: ([0-9a-f]{64})$/m.exec(readFileSync(path, 'latin1'))![1]!;

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { code: err instanceof TokumeiError ? err.code : (err as Error).name, message: String((err as Error).message) };
  }
  return { code: 'returned', message: '' };
}

describe('createMasterKeyFile and masterKeyFromFile', () => {
  it('writes the documented three lines (mode 0600), returns the id, and reads back the same key', async () => {
    const path = fresh();
    const id = createMasterKeyFile(path);
    const text = readFileSync(path, 'latin1');
    expect(text).toMatch(/^tokumei-master-key v1\nkey: [0-9a-f]{64}\nfingerprint: mk1\.[A-Za-z0-9_-]{16}\n$/);
    expect(text.length).toBe(126);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(text).toContain(`fingerprint: ${id}\n`);
    const master = masterKeyFromFile(path);
    expect(master.id).toBe(id);
    // The same key as the hex digits in the file.
    const same = localMasterKey(new Uint8Array(Buffer.from(hexOf(path), 'hex')));
    expect(same.id).toBe(id);
    const wrapped = await master.wrap(new Uint8Array(32).fill(7), ctx);
    expect(Buffer.from(await same.unwrap(wrapped, ctx))).toEqual(Buffer.alloc(32, 7));
    expect(masterKeyFromFile(path, { id: 'custom' }).id).toBe('custom');
    expect(errorOf(() => createMasterKeyFile(path)).message).toMatch(/EEXIST/);
    expect(readFileSync(path, 'latin1')).toBe(text); // not overwritten
  });

  it('every buffer it allocates is zero once it returns (the KeyObject holds the only copy)', () => {
    const path = fresh();
    createMasterKeyFile(path);
    expect(seen.allocated.length).toBeGreaterThanOrEqual(2);
    expect(seen.allocated.every((b) => b.every((x) => x === 0))).toBe(true);
    seen.allocated.length = 0;
    masterKeyFromFile(path);
    expect(seen.allocated.length).toBeGreaterThanOrEqual(2);
    expect(seen.allocated.every((b) => b.every((x) => x === 0))).toBe(true);
    // Positive control: the file itself holds the key, so an allocation that kept it would show.
    expect(hexOf(path)).not.toBe('0'.repeat(64));
  });

  it('the key never passes through a string: no string made while reading or writing holds its hex digits', () => {
    const made: string[] = [];
    const fromCharCode = String.fromCharCode;
    String.fromCharCode = (...codes: number[]) => {
      const s = fromCharCode(...codes);
      made.push(s);
      return s;
    };
    // Buffer#toString and TextDecoder#decode are the other ways bytes become a string.
    const toString = Buffer.prototype.toString;
    const decode = TextDecoder.prototype.decode;
    Buffer.prototype.toString = function (this: Buffer, ...args: Parameters<Buffer['toString']>) {
      const s = toString.apply(this, args);
      made.push(s);
      return s;
    } as Buffer['toString'];
    TextDecoder.prototype.decode = function (this: TextDecoder, ...args: Parameters<TextDecoder['decode']>) {
      const s = decode.apply(this, args);
      made.push(s);
      return s;
    };
    const path = fresh();
    try {
      createMasterKeyFile(path);
      masterKeyFromFile(path);
      const legacy = fresh();
      writeFileSync(legacy, `${'5c'.repeat(32)}\n`, { mode: 0o600 });
      upgradeMasterKeyFile(legacy);
    } finally {
      String.fromCharCode = fromCharCode;
      Buffer.prototype.toString = toString;
      TextDecoder.prototype.decode = decode;
    }
    const hex = hexOf(path);
    expect(made.length).toBeGreaterThan(0); // the instrumentation saw the fingerprint line at least
    expect(made.filter((s) => s.includes(hex.slice(0, 16)) || s.includes(hex.slice(48)))).toEqual([]);
    expect(made.filter((s) => s.includes('5c5c5c5c'))).toEqual([]);
    // Positive control: reading the file as text the usual way would have been seen.
    made.length = 0;
    Buffer.prototype.toString = function (this: Buffer, ...args: Parameters<Buffer['toString']>) {
      const s = toString.apply(this, args);
      made.push(s);
      return s;
    } as Buffer['toString'];
    try {
      readFileSync(path).toString('latin1');
    } finally {
      Buffer.prototype.toString = toString;
    }
    expect(made.some((s) => s.includes(hex))).toBe(true);
  });

  it('refuses anything but its own format, with ERR_FORMAT and without echoing the key', () => {
    const good = fresh();
    createMasterKeyFile(good);
    const text = readFileSync(good, 'latin1');
    const hex = hexOf(good);
    const cases: [string, string | Buffer, RegExp][] = [
      ['garbage', 'hello world\n', /not a tokumei master key file/],
      ['empty', '', /not a tokumei master key file/],
      ['another version', text.replace('v1', 'v2'), /unsupported version/],
      ['a changed key digit', text.replace(`key: ${hex[0]}`, `key: ${hex[0] === 'a' ? 'b' : 'a'}`), /does not match its fingerprint/],
      ['a changed fingerprint', text.replace(/fingerprint: mk1\.(.)/, (_, c: string) => `fingerprint: mk1.${c === 'A' ? 'B' : 'A'}`), /does not match its fingerprint/],
      ['a non-hex key digit', text.replace(`key: ${hex[0]}`, 'key: g'), /not 64 hex digits/],
      ['CRLF line ends', text.replaceAll('\n', '\r\n'), /damaged/],
      ['no final newline', text.slice(0, -1), /damaged/],
      ['a trailing extra line', `${text}\n`, /damaged/],
      ['upper-case label', text.replace('key: ', 'KEY: '), /damaged/],
      ['too large', Buffer.alloc(5000, 0x61), /not a tokumei master key file/],
    ];
    for (const [name, content, message] of cases) {
      const path = fresh();
      writeFileSync(path, content);
      const err = errorOf(() => masterKeyFromFile(path));
      expect({ name, code: err.code }).toEqual({ name, code: 'ERR_FORMAT' });
      expect(err.message, name).toMatch(message);
      expect(err.message, name).not.toContain(hex.slice(0, 8));
    }
    expect(errorOf(() => masterKeyFromFile(join(dir, 'missing.key'))).message).toMatch(/ENOENT/);
  });
});

describe('a bare key from tokumei 0.1', () => {
  for (const [form, write] of [
    ['64 hex digits and a newline', (p: string, key: Buffer) => writeFileSync(p, `${key.toString('hex')}\n`)],
    ['32 raw bytes', (p: string, key: Buffer) => writeFileSync(p, key)],
  ] as const) {
    it(`${form}: refused with what to do; upgradeMasterKeyFile converts it in place, keeping the key and id`, async () => {
      const key = Buffer.alloc(32, 0xa7);
      const path = fresh();
      write(path, key);
      chmodSync(path, 0o600);
      const old = localMasterKey(new Uint8Array(key));
      const wrappedBefore = await old.wrap(new Uint8Array(32).fill(3), ctx);
      const err = errorOf(() => masterKeyFromFile(path));
      expect(err.code).toBe('ERR_FORMAT');
      expect(err.message).toMatch(/bare key from tokumei 0\.1.*upgradeMasterKeyFile/);
      expect(err.message).not.toMatch(/a7a7/);
      expect(upgradeMasterKeyFile(path)).toBe(old.id);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const upgraded = masterKeyFromFile(path);
      expect(upgraded.id).toBe(old.id);
      const unwrapped = await upgraded.unwrap(wrappedBefore, ctx);
      expect(Buffer.from(unwrapped)).toEqual(Buffer.alloc(32, 3));
      unwrapped.fill(0); // the caller's to wipe
      const after = readFileSync(path, 'latin1');
      expect(upgradeMasterKeyFile(path)).toBe(old.id); // already v1: left as it is
      expect(readFileSync(path, 'latin1')).toBe(after);
      expect(seen.allocated.every((b) => b.every((x) => x === 0))).toBe(true);
    });
  }

  it('upgradeMasterKeyFile refuses a file that is neither, and leaves it unchanged', () => {
    const path = fresh();
    writeFileSync(path, 'not a key\n');
    expect(errorOf(() => upgradeMasterKeyFile(path)).code).toBe('ERR_FORMAT');
    expect(readFileSync(path, 'latin1')).toBe('not a key\n');
  });
});

describe('masterKeyFromEnv', () => {
  it('reads 64 hex digits (either case, surrounding whitespace); errors never echo the value', () => {
    const key = localMasterKey(new Uint8Array(32).fill(0xab));
    process.env.TOKUMEI_TEST_MK = ` ${'AB'.repeat(16)}${'ab'.repeat(16)}\n`;
    try {
      expect(masterKeyFromEnv('TOKUMEI_TEST_MK').id).toBe(key.id);
      expect(seen.allocated.every((b) => b.every((x) => x === 0))).toBe(true);
      for (const bad of ['secretsecret', `${'ab'.repeat(31)}zz`, 'ab'.repeat(33)]) {
        process.env.TOKUMEI_TEST_MK = bad;
        const err = errorOf(() => masterKeyFromEnv('TOKUMEI_TEST_MK'));
        expect(err.code).toBe('RangeError');
        expect(err.message).not.toContain(bad.slice(0, 8));
      }
    } finally {
      delete process.env.TOKUMEI_TEST_MK;
    }
    expect(errorOf(() => masterKeyFromEnv('TOKUMEI_TEST_MK')).code).toBe('TypeError');
  });
});
