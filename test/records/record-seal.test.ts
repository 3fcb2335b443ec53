// The record seal (docs/format.md §8). Fields are authenticated one by one, so without a seal a
// data-environment operator can roll one field back to an older envelope, drop an optional
// field or change an attribute, and the record still opens: each attack is shown working on an
// unsealed record (the positive control) and failing on a sealed one. What the seal cannot stop
// — serving a whole older sealed record — is shown too, and how minVersion catches it.
import { describe, expect, it } from 'vitest';
import { createKeyring, defineSchema, generateMemberKey, openRecord, sealRecord, TokumeiError, type SealedRecord } from '../../src/index.ts';

const schema = defineSchema({
  name: 'member',
  version: 1,
  fields: {
    id: 'attribute',
    fullName: { kind: 'identity', search: 'exact' },
    phone: { kind: 'identity', optional: true },
    plan: 'attribute',
    checkups: { kind: 'attribute', optional: true },
  },
});
const sealedSchema = defineSchema({ name: 'member', version: 1, recordSeal: true, fields: { id: 'attribute', fullName: 'identity', plan: 'attribute' } });
const R = { recordId: 'M000001' };
const v1 = { id: 'M000001', fullName: '山田 太郎', phone: '03-1111-1111', plan: 'basic', checkups: [{ year: 2024, bmi: 22.5 }] };
const v2 = { ...v1, fullName: '山田 太朗', phone: '03-2222-2222', plan: 'premium' };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokumeiError);
    return (err as TokumeiError).code + ((err as TokumeiError).field ? ` ${(err as TokumeiError).field}` : '');
  }
  return undefined;
}

describe('the record seal', () => {
  const key = generateMemberKey();
  const old = { plain: sealRecord(key, schema, v1, R), sealed: sealRecord(key, schema, v1, { ...R, version: 1 }) };
  const cur = { plain: sealRecord(key, schema, v2, R), sealed: sealRecord(key, schema, v2, { ...R, version: 2 }) };

  it('is added when sealRecord is given a version, and checked by openRecord', () => {
    expect(cur.sealed.$version).toBe(2);
    expect(cur.sealed.$seal).toMatch(/^tr1\.[A-Za-z0-9_-]+$/);
    expect(cur.plain.$seal).toBeUndefined();
    expect(openRecord(key, schema, cur.sealed, R)).toEqual(v2);
  });

  const attacks: [string, (r: SealedRecord, older: SealedRecord) => SealedRecord][] = [
    ['one field rolled back to an older envelope', (r, older) => ({ ...r, fullName: older.fullName })],
    ['an optional identity field dropped', (r) => ({ ...r, phone: undefined })],
    ['an optional identity field set to null', (r) => ({ ...r, phone: null })],
    ['an attribute changed', (r) => ({ ...r, plan: 'basic' })],
    ['an optional attribute dropped', (r) => ({ ...r, checkups: undefined })],
    ['a nested attribute value changed', (r) => ({ ...r, checkups: [{ year: 2024, bmi: 30 }] })],
    ['search tags taken from the older record', (r, older) => ({ ...r, $search: older.$search })],
  ];
  for (const [label, attack] of attacks) {
    it(`${label}: unnoticed without a seal, ERR_DECRYPTION_FAILED with one`, () => {
      expect(code(() => openRecord(key, schema, attack(cur.plain, old.plain), R))).toBeUndefined(); // the attack works
      expect(code(() => openRecord(key, schema, attack(cur.sealed, old.sealed), R))).toBe('ERR_DECRYPTION_FAILED $seal');
    });
  }

  it('a changed version, or a seal moved to another record, does not verify', () => {
    expect(code(() => openRecord(key, schema, { ...cur.sealed, $version: 3 }, R))).toBe('ERR_DECRYPTION_FAILED $seal');
    expect(code(() => openRecord(key, schema, { ...cur.sealed, $seal: old.sealed.$seal }, R))).toBe('ERR_DECRYPTION_FAILED $seal');
    const other = sealRecord(key, schema, { ...v2, id: 'M2' }, { recordId: 'M2', version: 2 });
    expect(code(() => openRecord(key, schema, { ...cur.sealed, $seal: other.$seal }, R))).toBe('ERR_DECRYPTION_FAILED $seal');
  });

  it('survives JSON storage: key order, absent versus null, numbers as JSON writes them', () => {
    const stored = JSON.parse(JSON.stringify({ ...cur.sealed, checkups: [{ bmi: 22.5, year: 2024 }] })) as SealedRecord;
    const withNull = { ...JSON.parse(JSON.stringify(sealRecord(key, schema, { ...v2, phone: undefined, checkups: undefined }, { ...R, version: 5 }))), phone: null, checkups: null };
    expect(openRecord(key, schema, stored, R).plan).toBe('premium');
    expect(openRecord(key, schema, withNull, R)).toEqual({ id: 'M000001', fullName: '山田 太朗', plan: 'premium' });
  });

  it('what it cannot stop: a whole older sealed record opens — unless the caller asks for a minimum version', () => {
    expect(openRecord(key, schema, old.sealed, R).plan).toBe('basic'); // the rollback works
    expect(code(() => openRecord(key, schema, old.sealed, { ...R, minVersion: 2 }))).toBe('ERR_STALE_RECORD $version');
    expect(openRecord(key, schema, cur.sealed, { ...R, minVersion: 2 }).plan).toBe('premium');
  });

  it('a stripped seal passes unless the schema requires seals or the caller asks for a minimum version', () => {
    const { $seal: _seal, $version: _version, ...stripped } = cur.sealed;
    expect(openRecord(key, schema, stripped, R).plan).toBe('premium'); // documented: a seal is optional here
    expect(code(() => openRecord(key, schema, stripped, { ...R, minVersion: 0 }))).toBe('ERR_DECRYPTION_FAILED $seal');
    const required = sealRecord(key, sealedSchema, { id: 'x', fullName: 'x', plan: 'p' }, { ...R, version: 0 });
    const { $seal: _s, ...unsealed } = required;
    expect(code(() => openRecord(key, sealedSchema, unsealed, R))).toBe('ERR_DECRYPTION_FAILED $seal');
    expect(openRecord(key, sealedSchema, required, R).plan).toBe('p');
  });

  it('a schema with recordSeal requires a version when sealing', () => {
    expect(() => sealRecord(key, sealedSchema, { id: 'x', fullName: 'x', plan: 'p' }, R)).toThrow(TypeError);
    expect(() => sealRecord(key, sealedSchema, { id: 'x', fullName: 'x', plan: 'p' }, { ...R, version: -1 })).toThrow(RangeError);
    expect(() => sealRecord(key, sealedSchema, { id: 'x', fullName: 'x', plan: 'p' }, { ...R, version: 1.5 })).toThrow(RangeError);
  });

  it('an attribute with no JSON form cannot be sealed: ERR_FORMAT naming it', () => {
    expect(code(() => sealRecord(key, schema, { ...v2, checkups: 10n }, { ...R, version: 1 }))).toBe('ERR_FORMAT checkups');
    expect(code(() => sealRecord(key, schema, { ...v2, plan: 'a\uD800' }, { ...R, version: 1 }))).toBe('ERR_FORMAT plan');
    expect(code(() => sealRecord(key, schema, { ...v2, checkups: 10n }, R))).toBeUndefined(); // without a seal, attributes pass through
  });

  it('the seal names its key: a keyring finds it after a rotation; a malformed seal is ERR_FORMAT', () => {
    const next = generateMemberKey();
    const ring = createKeyring([next, key], { primary: next.keyId });
    expect(openRecord(ring, schema, cur.sealed, R).plan).toBe('premium');
    expect(code(() => openRecord(next, schema, cur.sealed, R))).toBe('ERR_KEY_UNAVAILABLE $seal');
    for (const bad of ['tr1.', 'tr1.AA', 'x', 42, 'tr2.AQ']) expect(code(() => openRecord(key, schema, { ...cur.sealed, $seal: bad }, R))).toBe('ERR_FORMAT $seal');
    expect(code(() => openRecord(key, schema, { ...cur.sealed, $version: -1 }, R))).toBe('ERR_FORMAT $version');
  });
});
