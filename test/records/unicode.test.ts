// Strict Unicode (docs/format.md §1.3): a string that is not well-formed UTF-16 — a lone
// surrogate — is refused with a typed error wherever tokumei encodes a string, never turned
// into U+FFFD. Before, "patient-\uD800" and "patient-\uDFFF" bound the same associated data,
// and pseudonym("S\uD800") === pseudonym("S\uDBFF").
import { describe, expect, it } from 'vitest';
import { defineSchema, generateMemberKey, importMemberKey, openRecord, searchToken, sealRecord, TokumeiError } from '../../src/index.ts';
import { createKeyEnvironment, generateLinkKey, localMasterKey, memoryKeyStore, pseudonym } from '../../src/server.ts';

const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: { kind: 'identity', search: 'exact' } } });
const LONE = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF', 'a\uD800', '\uDC00\uD800', '\uD800a\uDC00', 'x'.repeat(100) + '\uDFFF'];
const WELL_FORMED = ['', 'a', '山田', '👩‍👩‍👧', '\uD83D\uDE00', 'x\uDBFF\uDFFFy'];

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('lone surrogates are refused with a typed error, everywhere', () => {
  const key = generateMemberKey();

  it('in a record id (sealRecord and openRecord): RangeError naming recordId', () => {
    const sealed = sealRecord(key, schema, { id: 'x', fullName: 'y' }, { recordId: 'patient-1' });
    for (const s of LONE) {
      const recordId = `patient-${s}`;
      for (const err of [thrown(() => sealRecord(key, schema, { id: 'x', fullName: 'y' }, { recordId })), thrown(() => openRecord(key, schema, sealed, { recordId }))]) {
        expect(err).toBeInstanceOf(RangeError);
        expect((err as Error).message).toMatch(/^"recordId" expected well-formed Unicode, got a lone surrogate at index \d+$/);
      }
    }
  });

  it('"patient-\\uD800" and "patient-\\uDFFF" no longer bind the same associated data: both are refused', () => {
    expect(thrown(() => sealRecord(key, schema, { id: 'x', fullName: 'y' }, { recordId: 'patient-\uD800' }))).toBeInstanceOf(RangeError);
    expect(thrown(() => sealRecord(key, schema, { id: 'x', fullName: 'y' }, { recordId: 'patient-\uDFFF' }))).toBeInstanceOf(RangeError);
  });

  it('in an identity value: ERR_FORMAT naming the field, not showing the value', () => {
    for (const s of LONE) {
      const err = thrown(() => sealRecord(key, schema, { id: 'x', fullName: `山田${s}` }, { recordId: 'r' })) as TokumeiError;
      expect(err).toBeInstanceOf(TokumeiError);
      expect(err.code).toBe('ERR_FORMAT');
      expect(err.field).toBe('fullName');
      expect(err.message).toBe('identity value is not well-formed Unicode (a lone surrogate) (field "fullName")');
    }
  });

  it('in a key id: RangeError', () => {
    for (const s of LONE) {
      expect(thrown(() => generateMemberKey({ keyId: `k${s}` }))).toBeInstanceOf(RangeError);
      expect(thrown(() => importMemberKey(new Uint8Array(32), `k${s}`))).toBeInstanceOf(RangeError);
    }
  });

  it('in a search value: RangeError naming value', () => {
    for (const s of LONE) {
      const err = thrown(() => searchToken(key, schema, 'fullName', `S${s}`));
      expect(err).toBeInstanceOf(RangeError);
      expect((err as Error).message).toMatch(/^"value" expected well-formed Unicode/);
    }
  });

  it('in a pseudonym subject: RangeError — pseudonym("S\\uD800") no longer equals pseudonym("S\\uDBFF")', () => {
    const linkKey = generateLinkKey();
    for (const s of LONE) expect(thrown(() => pseudonym(linkKey, `S${s}`, { purpose: 'portal' }))).toBeInstanceOf(RangeError);
    expect(pseudonym(linkKey, 'S\uD83D\uDE00', { purpose: 'portal' })).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('in a member id (key environment): RangeError, and nothing is stored', async () => {
    const env = createKeyEnvironment({ masterKey: localMasterKey(new Uint8Array(32).fill(1)), store: memoryKeyStore(), authenticate: () => null });
    for (const s of LONE) await expect(env.createMemberKey(`M${s}`)).rejects.toBeInstanceOf(RangeError);
    await expect(env.createMemberKey('M\uD83D\uDE00')).resolves.toMatchObject({ keyId: expect.any(String) });
  });

  it('well-formed strings, surrogate pairs included, are accepted everywhere', () => {
    const linkKey = generateLinkKey();
    for (const s of WELL_FORMED) {
      const recordId = `r${s}`;
      const sealed = sealRecord(key, schema, { id: 'x', fullName: s }, { recordId });
      expect(openRecord(key, schema, sealed, { recordId }).fullName).toBe(s);
      expect(searchToken(key, schema, 'fullName', s || 'x')).toMatch(/^tq1\./);
      expect(pseudonym(linkKey, `S${s}`, { purpose: 'portal' })).toHaveLength(43);
    }
  });
});
