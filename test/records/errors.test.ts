// G1 and G7: every way a sealed record can fail to open, each with its code, one opaque
// message for decryption failures, no plaintext or key in any message, nothing partial.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineSchema, generateMemberKey, importMemberKey, openRecord, sealRecord, TokumeiError, createKeyring } from '../../src/index.ts';

const v1 = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity', address: 'identity' } });
const v2 = defineSchema({ name: 'member', version: 2, fields: { id: 'attribute', fullName: 'identity', address: 'identity' } });
const other = defineSchema({ name: 'dependant', version: 1, fields: { id: 'attribute', fullName: 'identity', address: 'identity' } });

const NAME = '秘密 花子';
const ADDRESS = '東京都港区秘密町1-2-3';
const KEY_BYTES = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);

function setup() {
  const key = importMemberKey(KEY_BYTES, 'M000001.v1');
  const sealed = sealRecord(key, v1, { id: 'M000001', fullName: NAME, address: ADDRESS }, { recordId: 'M000001' });
  return { key, sealed };
}

function failure(fn: () => unknown): TokumeiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokumeiError);
    const e = err as TokumeiError;
    // No message or stack ever carries a plaintext value or key bytes.
    for (const text of [e.message, e.stack ?? '']) {
      expect(text).not.toContain(NAME);
      expect(text).not.toContain(ADDRESS);
      expect(text).not.toContain(Buffer.from(KEY_BYTES).toString('hex'));
      expect(text).not.toContain(Buffer.from(KEY_BYTES).toString('base64'));
    }
    return e;
  }
  throw new Error('expected a TokumeiError, nothing was thrown');
}

const flipChar = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'Q' ? 'R' : 'Q') + s.slice(i + 1);

describe('tampering: ERR_DECRYPTION_FAILED with one fixed message', () => {
  const cases: [string, (s: ReturnType<typeof setup>) => unknown][] = [
    ['a changed character', ({ key, sealed }) => openRecord(key, v1, { ...sealed, fullName: flipChar(sealed.fullName as string, 40) }, { recordId: 'M000001' })],
    ['a truncation', ({ key, sealed }) => openRecord(key, v1, { ...sealed, fullName: (sealed.fullName as string).slice(0, -4) }, { recordId: 'M000001' })],
    ['a value moved to another field', ({ key, sealed }) => openRecord(key, v1, { ...sealed, fullName: sealed.address, address: sealed.fullName }, { recordId: 'M000001' })],
    ['a value moved to another record', ({ key }) => {
      const a = sealRecord(key, v1, { id: 'A', fullName: NAME, address: ADDRESS }, { recordId: 'A' });
      const b = sealRecord(key, v1, { id: 'B', fullName: 'x', address: 'y' }, { recordId: 'B' });
      return openRecord(key, v1, { ...b, fullName: a.fullName }, { recordId: 'B' });
    }],
    ['another record id', ({ key, sealed }) => openRecord(key, v1, sealed, { recordId: 'M000002' })],
    ['another schema version', ({ key, sealed }) => openRecord(key, v2, sealed, { recordId: 'M000001' })],
    ['another schema', ({ key, sealed }) => openRecord(key, other, sealed, { recordId: 'M000001' })],
    ['a wrong key with the same key id', ({ sealed }) => openRecord(importMemberKey(new Uint8Array(32).fill(7), 'M000001.v1'), v1, sealed, { recordId: 'M000001' })],
  ];
  const messages = new Set<string>();
  for (const [label, run] of cases) {
    it(label, () => {
      const e = failure(() => run(setup()));
      expect(e.code).toBe('ERR_DECRYPTION_FAILED');
      expect(e.cause).toBeUndefined();
      messages.add(e.message);
      expect(messages.size).toBe(1);
    });
  }

  it('changing any character of an envelope body never opens', () => {
    const { key, sealed } = setup();
    const env = sealed.fullName as string;
    for (let i = 4; i < env.length; i++) {
      const e = failure(() => openRecord(key, v1, { ...sealed, fullName: flipChar(env, i) }, { recordId: 'M000001' }));
      // The key id is readable before decryption: rewriting it to an id not held is reported as such.
      expect(['ERR_DECRYPTION_FAILED', 'ERR_KEY_UNAVAILABLE', 'ERR_FORMAT']).toContain(e.code);
      if (i >= 4 + 20) expect(e.code).toBe('ERR_DECRYPTION_FAILED'); // past the version and key id
    }
  });

  it('every truncation never opens', () => {
    const { key, sealed } = setup();
    const env = sealed.fullName as string;
    for (let n = 4; n < env.length; n++) {
      const e = failure(() => openRecord(key, v1, { ...sealed, fullName: env.slice(0, n) }, { recordId: 'M000001' }));
      expect(['ERR_DECRYPTION_FAILED', 'ERR_FORMAT']).toContain(e.code);
    }
  });

  it('returns no partial plaintext when one field of several fails', () => {
    const { key, sealed } = setup();
    let result: unknown = 'untouched';
    const e = failure(() => {
      result = openRecord(key, v1, { ...sealed, address: flipChar(sealed.address as string, 50) }, { recordId: 'M000001' });
    });
    expect(e.code).toBe('ERR_DECRYPTION_FAILED');
    expect(result).toBe('untouched');
  });
});

describe('property: random mutations of any envelope never open', () => {
  it('holds for random values, positions and replacement characters', () => {
    const key = generateMemberKey();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 80 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 63 }), fc.constantFrom('replace', 'delete', 'insert')), { minLength: 1, maxLength: 4 }),
        (value, edits) => {
          const sealed = sealRecord(key, v1, { id: 'r', fullName: value, address: '' }, { recordId: 'r' });
          let env = sealed.fullName as string;
          const original = env;
          for (const [pos, c, op] of edits) {
            const i = 4 + (pos % (env.length - 4));
            const ch = alphabet[c]!;
            env = op === 'replace' ? env.slice(0, i) + ch + env.slice(i + 1) : op === 'delete' ? env.slice(0, i) + env.slice(i + 1) : env.slice(0, i) + ch + env.slice(i);
          }
          fc.pre(env !== original);
          try {
            openRecord(key, v1, { ...sealed, fullName: env }, { recordId: 'r' });
          } catch (err) {
            return err instanceof TokumeiError && ['ERR_DECRYPTION_FAILED', 'ERR_FORMAT', 'ERR_KEY_UNAVAILABLE'].includes(err.code);
          }
          return false; // a mutated envelope opened
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('other error codes', () => {
  it('ERR_KEY_UNAVAILABLE: a key id that is not the handle\'s, or not in the keyring', () => {
    const { sealed } = setup();
    expect(failure(() => openRecord(generateMemberKey({ keyId: 'M000002.v1' }), v1, sealed, { recordId: 'M000001' })).code).toBe('ERR_KEY_UNAVAILABLE');
    const ring = createKeyring([generateMemberKey({ keyId: 'a' }), generateMemberKey({ keyId: 'b' })]);
    expect(failure(() => openRecord(ring, v1, sealed, { recordId: 'M000001' })).code).toBe('ERR_KEY_UNAVAILABLE');
  });

  it('a keyring picks the key the envelope names', () => {
    const { sealed } = setup();
    const ring = createKeyring([generateMemberKey({ keyId: 'M000001.v2' }), importMemberKey(KEY_BYTES, 'M000001.v1')]);
    expect(openRecord(ring, v1, sealed, { recordId: 'M000001' }).fullName).toBe(NAME);
    const resealed = sealRecord(ring, v1, { id: 'M000001', fullName: NAME, address: ADDRESS }, { recordId: 'M000001' });
    expect(openRecord(ring.get('M000001.v2'), v1, resealed, { recordId: 'M000001' }).address).toBe(ADDRESS);
  });

  it('ERR_FORMAT: malformed envelopes, unknown versions, non-string identity values', () => {
    const { key, sealed } = setup();
    const open = (fullName: unknown) => failure(() => openRecord(key, v1, { ...sealed, fullName }, { recordId: 'M000001' }));
    expect(open('tk2.AAAA').code).toBe('ERR_FORMAT');
    expect(open('hello').code).toBe('ERR_FORMAT');
    expect(open('tk1.!!!').code).toBe('ERR_FORMAT');
    expect(open(42).code).toBe('ERR_FORMAT');
    expect(open(null).code).toBe('ERR_FORMAT');
    expect(open({ toString: () => sealed.fullName }).code).toBe('ERR_FORMAT');
    expect(open('tk1.' + Buffer.from([2, 1, 65]).toString('base64url')).code).toBe('ERR_FORMAT'); // version byte 2
    expect(failure(() => sealRecord(key, v1, { id: 'r', fullName: 12345, address: 'x' } as never, { recordId: 'r' })).code).toBe('ERR_FORMAT');
    expect(failure(() => sealRecord(key, v1, { id: 'r', fullName: 'x'.repeat(65537), address: 'x' }, { recordId: 'r' })).code).toBe('ERR_FORMAT');
  });

  it('ERR_SCHEMA: a missing declared field or an unknown field, naming the field and never a value', () => {
    const { key, sealed } = setup();
    const missing = failure(() => sealRecord(key, v1, { id: 'r', fullName: NAME } as never, { recordId: 'r' }));
    expect(missing.code).toBe('ERR_SCHEMA');
    expect(missing.message).toContain('address');
    const unknown = failure(() => sealRecord(key, v1, { id: 'r', fullName: NAME, address: ADDRESS, phone: '03-0000-0000' } as never, { recordId: 'r' }));
    expect(unknown.code).toBe('ERR_SCHEMA');
    expect(unknown.message).not.toContain('03-0000-0000');
    const { address: _dropped, ...withoutAddress } = sealed;
    expect(failure(() => openRecord(key, v1, withoutAddress, { recordId: 'M000001' })).code).toBe('ERR_SCHEMA');
    expect(failure(() => openRecord(key, v1, { ...sealed, extra: 1 }, { recordId: 'M000001' })).code).toBe('ERR_SCHEMA');
  });

  it('ERR_DESTROYED: every use after destroy() throws, for keys and keyrings', () => {
    const { key, sealed } = setup();
    key.destroy();
    expect(key.destroyed).toBe(true);
    expect(failure(() => openRecord(key, v1, sealed, { recordId: 'M000001' })).code).toBe('ERR_DESTROYED');
    expect(failure(() => sealRecord(key, v1, { id: 'r', fullName: 'x', address: 'y' }, { recordId: 'r' })).code).toBe('ERR_DESTROYED');
    key.destroy(); // idempotent
    const ring = createKeyring([generateMemberKey()]);
    const inner = ring.primary;
    ring.destroy();
    expect(inner.destroyed).toBe(true);
    expect(failure(() => ring.primary).code).toBe('ERR_DESTROYED');
    expect(failure(() => sealRecord(ring, v1, { id: 'r', fullName: 'x', address: 'y' }, { recordId: 'r' })).code).toBe('ERR_DESTROYED');
  });

  it('never prints key material: JSON and inspection show the key id only', () => {
    const key = importMemberKey(KEY_BYTES, 'M000001.v1');
    expect(JSON.stringify(key)).toBe('{"keyId":"M000001.v1"}');
    expect(String(Object.keys(key))).toBe('keyId');
  });
});

describe('caller mistakes: TypeError / RangeError with one message shape', () => {
  it('importMemberKey checks its arguments', () => {
    expect(() => importMemberKey('00'.repeat(32) as unknown as Uint8Array, 'k')).toThrow(new TypeError('"key" expected Uint8Array of length 32, got string'));
    expect(() => importMemberKey(new Uint8Array(31), 'k')).toThrow(new RangeError('"key" expected Uint8Array of length 32, got length=31'));
    expect(() => importMemberKey(new Uint8Array(32), '')).toThrow(RangeError);
    expect(() => importMemberKey(new Uint8Array(32), 'has space')).toThrow(RangeError);
    expect(() => importMemberKey(new Uint8Array(32), 7 as unknown as string)).toThrow(TypeError);
  });

  it('sealRecord and openRecord check theirs', () => {
    const key = generateMemberKey();
    const rec = { id: 'r', fullName: 'x', address: 'y' };
    expect(() => sealRecord(new Uint8Array(32) as never, v1, rec, { recordId: 'r' })).toThrow(TypeError);
    expect(() => sealRecord(key, { name: 'member', version: 1, fields: [] } as never, rec as never, { recordId: 'r' })).toThrow(TypeError);
    expect(() => sealRecord(key, v1, rec, { recordId: '' })).toThrow(RangeError);
    expect(() => sealRecord(key, v1, rec, {} as never)).toThrow(TypeError);
    expect(() => sealRecord(key, v1, rec, { recordId: 'x'.repeat(1025) })).toThrow(RangeError);
    expect(() => openRecord(key, v1, null as never, { recordId: 'r' })).toThrow(TypeError);
    expect(() => openRecord(key, v1, [] as never, { recordId: 'r' })).toThrow(TypeError);
  });

  it('defineSchema checks its spec', () => {
    expect(() => defineSchema({ name: 'bad name', version: 1, fields: { a: 'identity' } })).toThrow(RangeError);
    expect(() => defineSchema({ name: 'm', version: 0, fields: { a: 'identity' } })).toThrow(RangeError);
    expect(() => defineSchema({ name: 'm', version: 1.5, fields: { a: 'identity' } })).toThrow(RangeError);
    expect(() => defineSchema({ name: 'm', version: 1, fields: {} })).toThrow(RangeError);
    expect(() => defineSchema({ name: 'm', version: 1, fields: { $search: 'identity' } })).toThrow(RangeError);
    expect(() => defineSchema({ name: 'm', version: 1, fields: JSON.parse('{"__proto__": "identity"}') })).toThrow(RangeError);
    expect(() => defineSchema({ name: 'm', version: 1, fields: { a: 'secret' as never } })).toThrow(TypeError);
    expect(() => defineSchema({ name: 'm', version: 1, fields: { a: { kind: 'attribute', search: 'exact' } } })).toThrow(RangeError);
  });
});
