// Optional fields and null (what JSON and SQL storage give back for "absent"), and errors that
// name the field they are about — never its value.
import { describe, expect, it } from 'vitest';
import { createKeyring, defineSchema, generateMemberKey, openRecord, sealRecord, TokumeiError } from '../../src/index.ts';

const schema = defineSchema({
  name: 'member',
  version: 1,
  fields: { id: 'attribute', fullName: 'identity', phone: { kind: 'identity', optional: true }, memo: { kind: 'attribute', optional: true } },
});
const NAME = '秘密 花子';

function failure(fn: () => unknown): TokumeiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokumeiError);
    const e = err as TokumeiError;
    expect(e.message).not.toContain(NAME);
    return e;
  }
  throw new Error('expected a TokumeiError');
}

describe('optional fields accept null, as absent', () => {
  it('sealRecord leaves out an optional identity field that is null, like one that is absent', () => {
    const key = generateMemberKey();
    const sealed = sealRecord(key, schema, { id: 'a', fullName: NAME, phone: null }, { recordId: 'a' });
    expect(Object.hasOwn(sealed, 'phone')).toBe(false);
    expect(openRecord(key, schema, sealed, { recordId: 'a' })).toEqual({ id: 'a', fullName: NAME });
  });

  it('openRecord reads null in an optional identity field as absent (a database column left empty)', () => {
    const key = generateMemberKey();
    const sealed = sealRecord(key, schema, { id: 'a', fullName: NAME }, { recordId: 'a' });
    expect(openRecord(key, schema, { ...sealed, phone: null, memo: null }, { recordId: 'a' })).toEqual({ id: 'a', fullName: NAME });
  });

  it('a required identity field holding null is ERR_FORMAT naming it, when sealing and when opening', () => {
    const key = generateMemberKey();
    const seal = failure(() => sealRecord(key, schema, { id: 'a', fullName: null } as never, { recordId: 'a' }));
    expect([seal.code, seal.field]).toEqual(['ERR_FORMAT', 'fullName']);
    const sealed = sealRecord(key, schema, { id: 'a', fullName: NAME }, { recordId: 'a' });
    const open = failure(() => openRecord(key, schema, { ...sealed, fullName: null }, { recordId: 'a' }));
    expect([open.code, open.field]).toEqual(['ERR_FORMAT', 'fullName']);
  });
});

describe('open errors name the field, never its value', () => {
  const key = generateMemberKey({ keyId: 'k1' });
  const sealed = sealRecord(key, schema, { id: 'a', fullName: NAME, phone: '03-1234-5678' }, { recordId: 'a' });

  it('ERR_DECRYPTION_FAILED: `decryption failed (field "phone")`, the same for every check that fails', () => {
    const flipped = (s: string) => s.slice(0, 40) + (s[40] === 'A' ? 'B' : 'A') + s.slice(41);
    const cases = [
      { ...sealed, phone: flipped(sealed.phone!) },
      { ...sealed, phone: sealed.fullName },
      { ...sealed, phone: sealed.phone!.slice(0, -4) },
    ];
    for (const c of cases) {
      const e = failure(() => openRecord(key, schema, c, { recordId: 'a' }));
      expect([e.code, e.field, e.message]).toEqual(['ERR_DECRYPTION_FAILED', 'phone', 'decryption failed (field "phone")']);
      expect(e.cause).toBeUndefined();
    }
  });

  it('ERR_FORMAT and ERR_KEY_UNAVAILABLE name the field too', () => {
    const format = failure(() => openRecord(key, schema, { ...sealed, fullName: 'not an envelope' }, { recordId: 'a' }));
    expect([format.code, format.field, format.message]).toEqual(['ERR_FORMAT', 'fullName', 'not a tokumei envelope (field "fullName")']);
    const other = generateMemberKey({ keyId: 'k2' });
    const foreign = sealRecord(other, schema, { id: 'a', fullName: 'x' }, { recordId: 'a' });
    const missingKey = failure(() => openRecord(createKeyring([key]), schema, { ...sealed, fullName: foreign.fullName }, { recordId: 'a' }));
    expect([missingKey.code, missingKey.field]).toEqual(['ERR_KEY_UNAVAILABLE', 'fullName']);
  });

  it('ERR_SCHEMA names the missing or unknown field', () => {
    const missing = failure(() => openRecord(key, schema, { id: 'a' }, { recordId: 'a' }));
    expect([missing.code, missing.field]).toEqual(['ERR_SCHEMA', 'fullName']);
    const unknown = failure(() => openRecord(key, schema, { ...sealed, fax: 'x' }, { recordId: 'a' }));
    expect([unknown.code, unknown.field]).toEqual(['ERR_SCHEMA', 'fax']);
  });

  it('a value too long to seal: ERR_FORMAT naming the field', () => {
    const e = failure(() => sealRecord(key, schema, { id: 'a', fullName: 'x'.repeat(65537) }, { recordId: 'a' }));
    expect([e.code, e.field]).toEqual(['ERR_FORMAT', 'fullName']);
  });
});
