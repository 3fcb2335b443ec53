// pkcs11MasterKey on a real SoftHSM2 token: the key it creates never leaves the token; it is
// found by label afterwards; its wrapped values are exactly the local master key's format; keys
// and tokens that are not as required are refused at open with a clear ERR_KEY_UNAVAILABLE; the
// PIN never appears in an error; close() is clean; and tokumei/server works without pkcs11js
// installed, saying clearly what is missing when a PKCS#11 master key is asked for.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { TokumeiError } from '../../../src/errors.ts';
import { toBase64url } from '../../../src/internal/bytes.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import type { Pkcs11MasterKeyOptions } from '../../../src/server/master-keys/pkcs11/options.ts';
import { pkcs11MasterKey } from '../../../src/server/master-keys/pkcs11/pkcs11-master-key.ts';
import { pkcs11js, softHsm, USER_PIN } from './softhsm.ts';

const hsm = softHsm();
hsm.initToken('keys');
afterAll(() => hsm.cleanup());

const root = new URL('../../../', import.meta.url).pathname;
const ctx = new TextEncoder().encode('tokumei/v1/member-key-wrap\0test');
const base = (keyLabel: string, more: Partial<Pkcs11MasterKeyOptions> = {}): Pkcs11MasterKeyOptions => ({ library: hsm.library, tokenLabel: 'keys', pin: USER_PIN, keyLabel, sessions: 1, ...more });

async function openError(options: Pkcs11MasterKeyOptions): Promise<TokumeiError> {
  try {
    const m = await pkcs11MasterKey(options);
    await m.close();
  } catch (err) {
    if (err instanceof TokumeiError) return err;
    throw err;
  }
  throw new Error('opened');
}

/** The token's own view of the objects labelled `label` (through the test's second handle). */
function objects(label: string): Buffer[] {
  const p = hsm.handle();
  const s = hsm.session('keys');
  p.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_LABEL, value: label }]);
  const found = p.C_FindObjects(s, 10);
  p.C_FindObjectsFinal(s);
  return found;
}
function attribute(handle: Buffer, type: number): Buffer {
  return hsm.handle().C_GetAttributeValue(hsm.session('keys'), handle, [{ type }])[0]!.value as Buffer;
}

/** Puts an AES key with the given attributes into the token, as an HSM administrator would. */
function importKey(label: string, value: Uint8Array, attrs: { type: number; value: boolean | number | Buffer }[] = []): void {
  const overrides = new Map(attrs.map((a) => [a.type, a.value]));
  const template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(label) },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_VALUE, value: Buffer.from(value) },
  ].map((a) => (overrides.has(a.type) ? { type: a.type, value: overrides.get(a.type)! } : a));
  for (const [type, value] of overrides) if (!template.some((a) => a.type === type)) template.push({ type, value });
  hsm.handle().C_CreateObject(hsm.session('keys'), template.filter((a) => a.value !== undefined));
}

describe('pkcs11MasterKey: the key in the token', () => {
  it('creates an AES-256 key inside the token that never leaves it, and finds it by label afterwards', async () => {
    const first = await pkcs11MasterKey(base('made', { create: true }));
    const wrapped = await first.wrap(new Uint8Array(32).fill(9), ctx);
    await first.close();

    const [key, ...more] = objects('made');
    expect(more).toEqual([]);
    const flag = (type: number) => attribute(key!, type)[0];
    expect({
      sensitive: flag(pkcs11js.CKA_SENSITIVE),
      alwaysSensitive: flag(pkcs11js.CKA_ALWAYS_SENSITIVE),
      extractable: flag(pkcs11js.CKA_EXTRACTABLE),
      neverExtractable: flag(pkcs11js.CKA_NEVER_EXTRACTABLE),
      token: flag(pkcs11js.CKA_TOKEN),
      private: flag(pkcs11js.CKA_PRIVATE),
      encrypt: flag(pkcs11js.CKA_ENCRYPT),
      decrypt: flag(pkcs11js.CKA_DECRYPT),
      wrap: flag(pkcs11js.CKA_WRAP),
      unwrap: flag(pkcs11js.CKA_UNWRAP),
      sign: flag(pkcs11js.CKA_SIGN),
      derive: flag(pkcs11js.CKA_DERIVE),
    }).toEqual({ sensitive: 1, alwaysSensitive: 1, extractable: 0, neverExtractable: 1, token: 1, private: 1, encrypt: 1, decrypt: 1, wrap: 0, unwrap: 0, sign: 0, derive: 0 });
    expect(attribute(key!, pkcs11js.CKA_VALUE_LEN).readUInt32LE(0)).toBe(32);
    // Its value cannot be read out of the token, by anyone logged in.
    expect(() => attribute(key!, pkcs11js.CKA_VALUE)).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    const ckaId = attribute(key!, pkcs11js.CKA_ID);
    expect(ckaId.length).toBe(16);

    const again = await pkcs11MasterKey(base('made')); // no `create`: found by label
    try {
      expect(again.id).toBe(`p11.${toBase64url(ckaId)}`);
      expect(again.id).toBe(first.id);
      expect(Buffer.from(await again.unwrap(wrapped, ctx))).toEqual(Buffer.alloc(32, 9));
    } finally {
      await again.close();
    }
    // `create` on a label that exists opens that key; it makes no second one.
    const third = await pkcs11MasterKey(base('made', { create: true }));
    await third.close();
    expect(third.id).toBe(first.id);
    expect(objects('made')).toHaveLength(1);
  });

  it('wraps exactly as the local master key does: AES-256-GCM, the context as AAD (checked with a known key imported into the token)', async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    importKey('known', bytes);
    const inToken = await pkcs11MasterKey(base('known'));
    const local = localMasterKey(bytes);
    try {
      const member = crypto.getRandomValues(new Uint8Array(32));
      expect(Buffer.from(await local.unwrap(await inToken.wrap(member, ctx), ctx))).toEqual(Buffer.from(member));
      expect(Buffer.from(await inToken.unwrap(await local.wrap(member, ctx), ctx))).toEqual(Buffer.from(member));
      expect(inToken.id).toBe(`p11.${toBase64url(new TextEncoder().encode('known'))}`);
    } finally {
      await inToken.close();
    }
  });

  it('refuses, at open, a key or token that is not as required — each with its own clear ERR_KEY_UNAVAILABLE', async () => {
    const key = () => crypto.getRandomValues(new Uint8Array(32));
    importKey('extractable', key(), [{ type: pkcs11js.CKA_EXTRACTABLE, value: true }]);
    importKey('not-sensitive', key(), [{ type: pkcs11js.CKA_SENSITIVE, value: false }]);
    importKey('aes-128', crypto.getRandomValues(new Uint8Array(16)));
    importKey('encrypt-only', key(), [{ type: pkcs11js.CKA_DECRYPT, value: false }]);
    importKey('twice', key());
    importKey('twice', key());
    importKey('no-id', key(), [{ type: pkcs11js.CKA_ID, value: Buffer.alloc(0) }]);
    importKey('trusted-only', key(), [
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true },
    ]);
    const cases: [string, Pkcs11MasterKeyOptions, RegExp][] = [
      ['no such key', base('nothing-here'), /no key labelled "nothing-here" in token "keys"/],
      ['no such token', base('made', { tokenLabel: 'no-such-token' }), /no token labelled "no-such-token" is present/],
      ['no such module', base('made', { library: '/nonexistent/libpkcs11.so' }), /loading the PKCS#11 module "\/nonexistent\/libpkcs11.so" failed/],
      ['extractable', base('extractable'), /is extractable \(CKA_EXTRACTABLE\) without CKA_WRAP_WITH_TRUSTED/],
      ['not sensitive', base('not-sensitive'), /is not sensitive/],
      ['AES-128', base('aes-128'), /is not 256 bits long/],
      ['may not decrypt', base('encrypt-only'), /may not encrypt and decrypt/],
      ['two keys, one label', base('twice'), /several keys are labelled "twice"/],
      ['no CKA_ID', base('no-id'), /has no CKA_ID: give it one, or pass "id"/],
    ];
    for (const [name, options, message] of cases) {
      const err = await openError(options);
      expect({ name, code: err.code }).toEqual({ name, code: 'ERR_KEY_UNAVAILABLE' });
      expect(err.message, name).toMatch(message);
    }
    // Positive controls: the same keys open once what was wrong is allowed or given.
    const named = await pkcs11MasterKey(base('no-id', { id: 'p11.operator-named' }));
    expect(named.id).toBe('p11.operator-named');
    await named.close();
    const trusted = await pkcs11MasterKey(base('trusted-only'));
    await trusted.close();
  });

  it('rejects malformed options with TypeError / RangeError, never echoing the PIN', async () => {
    await expect(pkcs11MasterKey(null as never)).rejects.toThrow(TypeError);
    await expect(pkcs11MasterKey({ ...base('made'), library: '' })).rejects.toThrow(RangeError);
    await expect(pkcs11MasterKey({ ...base('made'), pin: 42 as never })).rejects.toThrow(TypeError);
    await expect(pkcs11MasterKey({ ...base('made'), sessions: 0 })).rejects.toThrow(RangeError);
    await expect(pkcs11MasterKey({ ...base('made'), tokenLabel: 'x'.repeat(33) })).rejects.toThrow(RangeError);
  });
});

describe('pkcs11MasterKey: the PIN', () => {
  // A token of its own: the login is shared by every session of the process on a token, so no
  // other master key may be logged in to it here.
  hsm.initToken('pin', 'the-right-pin-0042');
  const options = (pin: Pkcs11MasterKeyOptions['pin']): Pkcs11MasterKeyOptions => ({ library: hsm.library, tokenLabel: 'pin', pin, keyLabel: 'pin-key', create: true, sessions: 1 });

  it('a wrong PIN is ERR_KEY_UNAVAILABLE naming the token\'s answer, and the PIN is in no message, cause or inspection', async () => {
    const wrong = 'Wrong-Pin-Secret-7731';
    const err = await openError(options(wrong));
    expect(err.code).toBe('ERR_KEY_UNAVAILABLE');
    expect(err.message).toMatch(/token "pin" refused the PIN \(CKR_PIN_INCORRECT\)/);
    const everything = `${err.message} ${err.stack} ${inspect(err, { depth: 10, showHidden: true })} ${JSON.stringify(err)}`;
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain('the-right-pin-0042');
    // Positive control: the right PIN opens it, and a PIN function is called once per login.
    let calls = 0;
    const m = await pkcs11MasterKey(options(() => (calls++, 'the-right-pin-0042')));
    expect(calls).toBe(1);
    expect(`${inspect(m, { showHidden: true })} ${JSON.stringify(m)}`).not.toContain('the-right-pin-0042');
    await m.close();
  });
});

describe('pkcs11MasterKey: close', () => {
  it('lets running operations finish, then refuses with ERR_DESTROYED; closing twice is fine; the token opens again afterwards', async () => {
    const m = await pkcs11MasterKey(base('closing', { create: true, sessions: 2 }));
    const wrapped = await m.wrap(new Uint8Array(32).fill(1), ctx);
    const running = Array.from({ length: 20 }, () => m.unwrap(wrapped, ctx));
    const closed = m.close();
    expect((await Promise.allSettled(running)).map((r) => r.status)).toEqual(Array(20).fill('fulfilled'));
    await closed;
    await m.close();
    expect(m.status).toBe('closed');
    await expect(m.unwrap(wrapped, ctx)).rejects.toMatchObject({ code: 'ERR_DESTROYED' });
    await expect(m.wrap(new Uint8Array(32), ctx)).rejects.toMatchObject({ code: 'ERR_DESTROYED' });
    const again = await pkcs11MasterKey(base('closing'));
    expect(Buffer.from(await again.unwrap(wrapped, ctx))).toEqual(Buffer.alloc(32, 1));
    await again.close();
  });
});

describe('without pkcs11js installed', () => {
  it('tokumei/server imports and works; pkcs11MasterKey says what to install (ERR_KEY_UNAVAILABLE)', { timeout: 60_000 }, async () => {
    // A copy of the built package whose node_modules has its dependencies but not pkcs11js.
    const dir = mkdtempSync(join(tmpdir(), 'tokumei-no-pkcs11js-'));
    try {
      const pkg = join(dir, 'node_modules', 'tokumei');
      mkdirSync(join(pkg, 'node_modules', '@noble'), { recursive: true });
      cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
      for (const dep of ['@noble/ciphers', '@noble/hashes', 'idb-keyval', 'jose']) symlinkSync(join(root, 'node_modules', dep), join(pkg, 'node_modules', dep));
      const script = join(dir, 'check.mjs');
      writeFileSync(
        script,
        `import { localMasterKey, pkcs11MasterKey } from 'tokumei/server';
const m = localMasterKey(new Uint8Array(32).fill(1));
const ok = (await m.unwrap(await m.wrap(new Uint8Array(32).fill(2), new Uint8Array(1)), new Uint8Array(1)))[0] === 2;
try {
  await pkcs11MasterKey({ library: ${JSON.stringify(hsm.library)}, tokenLabel: 'keys', pin: 'x', keyLabel: 'k' });
  console.log(JSON.stringify({ ok, opened: true }));
} catch (err) {
  console.log(JSON.stringify({ ok, name: err.name, code: err.code, message: err.message }));
}
`,
      );
      const { stdout } = await promisify(execFile)(process.execPath, [script], { cwd: dir });
      expect(JSON.parse(stdout)).toEqual({
        ok: true,
        name: 'TokumeiError',
        code: 'ERR_KEY_UNAVAILABLE',
        message: 'pkcs11MasterKey needs the optional peer dependency pkcs11js: npm install --save-exact pkcs11js@2.1.7',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
