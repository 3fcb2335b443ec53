// The shared bad-input corpus (test/bad-inputs.ts) against every public function of `tokumei`
// and `tokumei/server`, each argument in turn, and against what records, envelopes, seals and
// tokens can hold. A bad input must be refused with a TokumeiError or a TypeError/RangeError in
// the library's message shape, synchronously or as a rejection — never accepted, never another
// error — and must change nothing (the key environment's store is counted before and after).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tokumei from '../src/index.ts';
import * as server from '../src/server.ts';
import { BAD_ENVELOPES, BAD_FIELD_NAMES, BAD_IDENTITY_VALUES, BAD_KEY_IDS, BAD_RECORD_IDS, BAD_SEALS, BAD_TOKENS, BAD_VALUES, BAD_VERSIONS } from './bad-inputs.ts';

const { defineSchema, generateMemberKey, importMemberKey, openRecord, sealRecord, createKeyring, searchToken, TokumeiError } = tokumei;
const schema = defineSchema({
  name: 'member',
  version: 1,
  fields: { id: { kind: 'attribute', type: 'string' }, fullName: { kind: 'identity', search: 'name-ja' }, phone: { kind: 'identity', optional: true } },
});
const key = generateMemberKey({ keyId: 'k1' });
const sealed = sealRecord(key, schema, { id: 'a', fullName: 'x' }, { recordId: 'a', version: 1 });
const token = searchToken(key, schema, 'fullName', 'x');
const linkKey = server.generateLinkKey();
const dir = mkdtempSync(join(tmpdir(), 'tokumei-bad-inputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const store = server.memoryKeyStore();
const env = server.createKeyEnvironment({ masterKey: server.localMasterKey(new Uint8Array(32).fill(5)), store, authenticate: ({ token }) => (token === 't' ? { memberId: 'M1' } : null), dpop: { required: false } });
// A delivery request with a real P-256 public key (what a browser sends).
const { publicKey } = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
const deliveryBody = { protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey: Buffer.from(await crypto.subtle.exportKey('raw', publicKey)).toString('base64url') };
await env.createMemberKey('M1');
await env.createMemberKey('M2');
await env.rotateMemberKey('M2');
const [olderM2] = await env.keyVersions('M2');

/** What a refusal must look like. */
function isClean(err: unknown): boolean {
  if (err instanceof TokumeiError) return true;
  return (err instanceof TypeError || err instanceof RangeError) && /^"[^"]*" expected/.test(err.message);
}

async function outcome(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

async function expectRefused(fn: () => unknown, label: string): Promise<void> {
  const err = await outcome(fn);
  expect(err, `accepted: ${label}`).toBeDefined();
  expect(isClean(err), `${label}: ${String(err)}`).toBe(true);
}

/** A public function, a call that works, and which arguments the corpus replaces. */
interface Call {
  name: string;
  call: (...args: unknown[]) => unknown;
  args: unknown[];
  positions: number[];
  /** Corpus values that are valid in a position (by label), so not expected to be refused. */
  accepts?: (position: number, label: string) => boolean;
  /** Undo what the valid call did (a session to end, …). */
  after?: (result: unknown) => unknown;
  /** The valid call's time limit when it needs more than the default. */
  timeoutMs?: number;
}

const anyString = (label: string) => label === 'string' || label === 'long string';
/** A file path: any non-empty string names one (the corpus does not write files in odd places). */
const anyPath = (label: string) => label !== 'empty string' && (anyString(label) || label.startsWith('lone'));
/** A member id: any well-formed string of 1–256 characters (docs/format.md §1.2). */
const memberId = (label: string) => label === 'string';
const calls: Call[] = [
  // tokumei
  { name: 'defineSchema', call: defineSchema as never, args: [{ name: 'm', version: 1, fields: { a: 'identity' } }], positions: [0] },
  { name: 'generateMemberKey', call: generateMemberKey as never, args: [{ keyId: 'k' }], positions: [0], accepts: (_, l) => l === 'undefined' || l === 'empty object' || l === 'object with __proto__' },
  { name: 'importMemberKey', call: importMemberKey as never, args: [new Uint8Array(32), 'k'], positions: [0, 1] },
  { name: 'createKeyring', call: createKeyring as never, args: [[generateMemberKey()]], positions: [0] },
  { name: 'sealRecord', call: sealRecord as never, args: [key, schema, { id: 'a', fullName: 'x' }, { recordId: 'a' }], positions: [0, 1, 2, 3] },
  { name: 'openRecord', call: openRecord as never, args: [key, schema, sealed, { recordId: 'a' }], positions: [0, 1, 2, 3] },
  { name: 'searchToken', call: searchToken as never, args: [key, schema, 'fullName', 'x'], positions: [0, 1, 2, 3], accepts: (p, l) => p === 3 && (anyString(l) || l === 'empty string') },
  { name: 'httpKeyProvider', call: tokumei.httpKeyProvider as never, args: [{ url: '/key-env/session', getToken: () => 't' }], positions: [0] },
  // Any non-empty string is a URL to try (one that does not parse or answer is 'network').
  { name: 'diagnoseKeyEnvironment', call: tokumei.diagnoseKeyEnvironment as never, args: ['http://127.0.0.1:9/key-env/session', {}], positions: [0, 1], accepts: (i, l) => (i === 0 ? anyPath(l) : l === 'undefined' || l === 'empty object' || l === 'object with __proto__') },
  { name: 'memoryKeyProvider', call: tokumei.memoryKeyProvider as never, args: [[generateMemberKey()]], positions: [0], accepts: (_, l) => l === 'function' /* a keyring factory, called at sign-in */ },
  {
    name: 'createSessionStore',
    // Options are read when the store opens a session: a bad one is refused by open().
    call: async (o) => {
      const store = tokumei.createSessionStore(o as never);
      await store.open();
      await store.logoff();
    },
    args: [{ keyProvider: tokumei.memoryKeyProvider(() => createKeyring([generateMemberKey()])), crossTab: false }],
    positions: [0],
      },
  {
    name: 'openSession',
    call: tokumei.openSession as never,
    args: [{ keyProvider: tokumei.memoryKeyProvider(() => createKeyring([generateMemberKey()])), crossTab: false }],
    positions: [0],
    after: (s) => (s as tokumei.Session).logoff(),
  },
  // tokumei/server
  { name: 'matchesSearch', call: server.matchesSearch as never, args: [token, sealed], positions: [0, 1], accepts: (p, l) => p === 1 && (l === 'empty object' || l === 'array' || l === 'object with __proto__' || l === 'Date' || l === 'function' || l === 'ArrayBuffer' || l.includes('bytes') || l === 'Uint16Array') },
  { name: 'pseudonym', call: server.pseudonym as never, args: [linkKey, 'M1', { purpose: 'portal' }], positions: [0, 1, 2], accepts: (p, l) => p === 1 && anyString(l) },
  { name: 'localMasterKey', call: server.localMasterKey as never, args: [new Uint8Array(32)], positions: [0] },
  { name: 'createKeyEnvironment', call: server.createKeyEnvironment as never, args: [{ masterKey: server.localMasterKey(new Uint8Array(32)), store: server.memoryKeyStore(), authenticate: () => null }], positions: [0] },
  { name: 'keyEnvironmentHandler', call: server.keyEnvironmentHandler as never, args: [env, { path: '/session' }], positions: [0, 1], accepts: (p, l) => p === 1 && (l === 'undefined' || l === 'empty object' || l === 'object with __proto__') },
  // The valid call starts an embedded PostgreSQL (PGlite): seconds of CPU, more on a busy machine.
  { name: 'openDatabase', call: server.openDatabase as never, args: [{ inMemory: true }], positions: [0], after: (db) => (db as server.KeyEnvironmentDatabase).close(), timeoutMs: 180_000 },
  { name: 'memoryDeliveryAudit', call: server.memoryDeliveryAudit as never, args: [], positions: [] },
  { name: 'createMasterKeyFile', call: server.createMasterKeyFile as never, args: [join(dir, 'master.key')], positions: [0], accepts: (_, l) => anyPath(l) },
  { name: 'masterKeyFromFile', call: server.masterKeyFromFile as never, args: [join(dir, 'master.key')], positions: [0], accepts: (_, l) => anyPath(l) },
  { name: 'reencryptRecords', call: server.reencryptRecords as never, args: [{ records: { list: async () => [], replace: async () => true }, schema, keys: createKeyring([generateMemberKey()]) }], positions: [0] },
  { name: 'oidcAuthenticator', call: server.oidcAuthenticator as never, args: [{ issuer: 'https://sso.example', audience: 'https://keys.example' }], positions: [0] },
  // Any value may be passed as the error (anything but a refused credential gives undefined).
  { name: 'authRefusal', call: server.authRefusal as never, args: [new TokumeiError('ERR_AUTH', 'refused'), {}], positions: [1], accepts: (_, l) => l === 'undefined' || l === 'empty object' || l === 'object with __proto__' },
  { name: 'dpopVerifier', call: server.dpopVerifier as never, args: [{}], positions: [0], accepts: (_, l) => l === 'undefined' || l === 'empty object' || l === 'object with __proto__' },
  { name: 'createKeyEnvironmentServer', call: server.createKeyEnvironmentServer as never, args: [server.keyEnvironmentHandler(env), {}], positions: [0, 1], accepts: (p, l) => (p === 0 && l === 'function') || (p === 1 && (l === 'undefined' || l === 'empty object' || l === 'object with __proto__')) },
  { name: 'rewrapAll', call: server.rewrapAll as never, args: [server.memoryKeyStore(), { from: server.localMasterKey(new Uint8Array(32)), to: server.localMasterKey(new Uint8Array(32).fill(1)) }], positions: [0, 1] },
  // the key environment's methods
  { name: 'env.createMemberKey', call: (m, o) => env.createMemberKey(m as string, o as never), args: ['M9', { keyId: 'k9' }], positions: [0, 1], accepts: (p, l) => (p === 0 && memberId(l)) || (p === 1 && (l === 'undefined' || l === 'empty object' || l === 'object with __proto__')) },
  { name: 'env.rotateMemberKey', call: (m) => env.rotateMemberKey(m as string), args: ['M1'], positions: [0], accepts: (_, l) => memberId(l) },
  { name: 'env.retireKeyVersion', call: (m, k) => env.retireKeyVersion(m as string, k as string), args: ['M2', olderM2!.keyId], positions: [0, 1] },
  { name: 'env.keyVersions', call: (m) => env.keyVersions(m as string), args: ['M1'], positions: [0], accepts: (_, l) => anyString(l) },
  { name: 'env.openKeyring', call: (m, o) => env.openKeyring(m as string, o as never), args: ['M1', { dependants: ['M2'] }], positions: [0, 1], accepts: (p, l) => p === 1 && (l === 'undefined' || l === 'empty object' || l === 'object with __proto__'), after: (r) => (r as tokumei.Keyring).destroy() },
  { name: 'env.deliverKeys', call: (r) => env.deliverKeys(r as never), args: [{ authorization: 'Bearer t', method: 'POST', url: 'https://keys.example/session', body: deliveryBody }], positions: [0] },
  { name: 'env.revokeMemberSessions', call: (m) => env.revokeMemberSessions(m as string), args: ['M1'], positions: [0], accepts: (_, l) => anyString(l) },
];

describe('the bad-input corpus against every public function, each argument in turn', () => {
  it('covers every function the two entry points export', () => {
    const named = new Set(calls.map((c) => c.name));
    const exported = [...Object.entries(tokumei), ...Object.entries(server)]
      .filter(([name, v]) => typeof v === 'function' && !/^[A-Z]/.test(name)) // classes are covered through their factories
      .map(([name]) => name);
    // Functions whose every argument is optional configuration, or that take none.
    const noArguments = new Set(['generateLinkKey', 'memoryKeyStore', 'memorySessionRegistry', 'masterKeyFromEnv', 'upgradeMasterKeyFile', 'pkcs11MasterKey']);
    expect(exported.filter((n) => !named.has(n) && !noArguments.has(n))).toEqual([]);
  });

  for (const c of calls) {
    it(`${c.name}: the valid call works`, async () => {
      const result = await c.call(...c.args);
      await c.after?.(result);
    }, c.timeoutMs);
    for (const i of c.positions) {
      it(`${c.name}: argument ${i} refuses every bad value cleanly`, async () => {
        const before = await store.count();
        for (const [label, bad] of BAD_VALUES) {
          if (c.accepts?.(i, label)) continue;
          const args = [...c.args];
          args[i] = bad;
          await expectRefused(() => c.call(...args), `${c.name} argument ${i} = ${label}`);
        }
        expect(await store.count()).toBe(before); // a refused call changed nothing
      });
    }
  }

  it('masterKeyFromEnv, upgradeMasterKeyFile and pkcs11MasterKey refuse the corpus too', async () => {
    for (const [label, bad] of BAD_VALUES) {
      if (label !== 'undefined') await expectRefused(() => server.masterKeyFromEnv(bad as string), `masterKeyFromEnv(${label})`);
      if (!anyPath(label)) await expectRefused(() => server.upgradeMasterKeyFile(bad as string), `upgradeMasterKeyFile(${label})`);
      await expectRefused(() => server.pkcs11MasterKey(bad as never), `pkcs11MasterKey(${label})`);
    }
  });
});

describe('the corpus inside records, envelopes, seals, tokens and names', () => {
  it('record ids: refused by sealRecord and openRecord (lone surrogates, over 1,024 UTF-8 bytes, empty)', async () => {
    for (const recordId of BAD_RECORD_IDS) {
      await expectRefused(() => sealRecord(key, schema, { id: 'a', fullName: 'x' }, { recordId }), `sealRecord recordId ${JSON.stringify(recordId.slice(0, 12))}`);
      await expectRefused(() => openRecord(key, schema, sealed, { recordId }), `openRecord recordId ${JSON.stringify(recordId.slice(0, 12))}`);
    }
  });

  it('key ids: refused by generateMemberKey, importMemberKey and the key environment', async () => {
    for (const keyId of BAD_KEY_IDS) {
      await expectRefused(() => generateMemberKey({ keyId }), `generateMemberKey ${JSON.stringify(keyId)}`);
      await expectRefused(() => importMemberKey(new Uint8Array(32), keyId), `importMemberKey ${JSON.stringify(keyId)}`);
      await expectRefused(() => env.createMemberKey('M8', { keyId }), `createMemberKey ${JSON.stringify(keyId)}`);
    }
  });

  it('field names: refused by defineSchema; member ids with lone surrogates by the key environment', async () => {
    for (const name of BAD_FIELD_NAMES) await expectRefused(() => defineSchema({ name: 'm', version: 1, fields: { [name]: 'identity' } }), `field name ${JSON.stringify(name)}`);
    for (const memberId of ['', 'M\uD800', '\uDC00M', 'x'.repeat(257)]) await expectRefused(() => env.createMemberKey(memberId), `memberId ${JSON.stringify(memberId.slice(0, 8))}`);
  });

  it('identity values: refused by sealRecord (not strings, lone surrogates, over 65,536 UTF-8 bytes)', async () => {
    for (const v of BAD_IDENTITY_VALUES) await expectRefused(() => sealRecord(key, schema, { id: 'a', fullName: v } as never, { recordId: 'a' }), `fullName ${typeof v}`);
    for (const v of BAD_VALUES) if (typeof v[1] !== 'string' && v[1] !== undefined) await expectRefused(() => sealRecord(key, schema, { id: 'a', fullName: v[1] } as never, { recordId: 'a' }), `fullName = ${v[0]}`);
  });

  it('envelopes: refused by openRecord in a required and in an optional field', async () => {
    const { $seal: _s, $version: _v, ...unsealed } = sealed;
    for (const v of [...BAD_ENVELOPES, ...BAD_VALUES.map(([, x]) => x)]) {
      if (v === undefined) continue;
      await expectRefused(() => openRecord(key, schema, { ...unsealed, fullName: v }, { recordId: 'a' }), `fullName envelope ${String(v).slice(0, 16)}`);
      if (v !== null) await expectRefused(() => openRecord(key, schema, { ...unsealed, phone: v }, { recordId: 'a' }), `phone envelope ${String(v).slice(0, 16)}`);
    }
  });

  it('record seals and versions: refused by openRecord', async () => {
    for (const s of BAD_SEALS) await expectRefused(() => openRecord(key, schema, { ...sealed, $seal: s }, { recordId: 'a' }), `$seal ${JSON.stringify(s)}`);
    for (const v of BAD_VERSIONS) await expectRefused(() => openRecord(key, schema, { ...sealed, $version: v }, { recordId: 'a' }), `$version ${String(v)}`);
    for (const [label, v] of BAD_VALUES) {
      if (label === 'undefined') continue;
      if (label === 'zero') continue; // version 0 is a version
      await expectRefused(() => sealRecord(key, schema, { id: 'a', fullName: 'x' }, { recordId: 'a', version: v as number }), `sealRecord version ${label}`);
      await expectRefused(() => openRecord(key, schema, sealed, { recordId: 'a', minVersion: v as number }), `openRecord minVersion ${label}`);
    }
  });

  it('search tokens and $search: refused by matchesSearch; $search null is no tags', async () => {
    for (const t of BAD_TOKENS) await expectRefused(() => server.matchesSearch(t as string, sealed), `token ${String(t).slice(0, 12)}`);
    for (const s of [42, 'x', ['a'], { fullName: 42 }, { fullName: null }, { fullName: 'ts1.AAAA' }]) await expectRefused(() => server.matchesSearch(token, { ...sealed, $search: s }), `$search ${JSON.stringify(s)}`);
    expect(server.matchesSearch(token, { ...sealed, $search: null })).toBe(false);
  });
});
