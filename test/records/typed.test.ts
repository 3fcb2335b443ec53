// Typed schemas: defineSchema infers field names and kinds, so openRecord and sealRecord take
// and return the schema's own record shape. Checked by the compiler (npm test runs tsc over
// test/): every `@ts-expect-error` below must be an error, or tsc fails — the typo cases are
// the test. The runtime assertions check that the values match their types.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { defineSchema, generateMemberKey, openRecord, sealRecord, TokumeiError, type RecordInput, type RecordOf, type Schema, type SealedRecordOf } from '../../src/index.ts';
import type { Session } from '../../src/index.ts';

const memberSchema = defineSchema({
  name: 'member',
  version: 1,
  fields: {
    id: 'attribute',
    fullName: { kind: 'identity', search: 'name-ja' },
    birthDate: 'identity',
    phone: { kind: 'identity', optional: true },
    department: 'attribute',
    note: { kind: 'attribute', optional: true },
  },
});
type Member = { id: unknown; fullName: string; birthDate: string; department: unknown; phone?: string; note?: unknown };

describe('typed records', () => {
  it('openRecord returns the schema\'s record type; sealRecord returns envelopes under the same names', () => {
    const key = generateMemberKey();
    const sealed = sealRecord(key, memberSchema, { id: 'M1', fullName: '山田 太郎', birthDate: '1980-04-01', department: 'B2' }, { recordId: 'M1' });
    expectTypeOf(sealed.fullName).toEqualTypeOf<string>();
    expectTypeOf(sealed.$search).toEqualTypeOf<Record<string, string> | undefined>();
    const me = openRecord(key, memberSchema, sealed, { recordId: 'M1' });
    expectTypeOf(me).toEqualTypeOf<Member>();
    expectTypeOf<RecordOf<typeof memberSchema>>().toEqualTypeOf<Member>();
    expectTypeOf<SealedRecordOf<typeof memberSchema>['birthDate']>().toEqualTypeOf<string>();
    expect(me).toEqual({ id: 'M1', fullName: '山田 太郎', birthDate: '1980-04-01', department: 'B2' });
    const birthYear: string = me.birthDate.slice(0, 4); // a string, no cast
    expect(birthYear).toBe('1980');
    // @ts-expect-error: a typo in a field name does not compile
    expect(me.fulName).toBeUndefined();
    // @ts-expect-error: phone is optional: it may be undefined
    const phone: string = me.phone;
    expect(phone).toBeUndefined();
  });

  it('sealRecord takes exactly the declared fields; optional fields may be left out or null', () => {
    const key = generateMemberKey();
    const ok: RecordInput<typeof memberSchema> = { id: 'M1', fullName: 'x', birthDate: 'y', department: 1, phone: null, note: null };
    expect(() => sealRecord(key, memberSchema, ok, { recordId: 'M1' })).not.toThrow();
    // @ts-expect-error: a typo in a field name does not compile
    expect(() => sealRecord(key, memberSchema, { id: 'M1', fulName: 'x', birthDate: 'y', department: 1 }, { recordId: 'M1' })).toThrow();
    // @ts-expect-error: a required field left out does not compile
    expect(() => sealRecord(key, memberSchema, { id: 'M1', birthDate: 'y', department: 1 }, { recordId: 'M1' })).toThrow();
    // @ts-expect-error: an identity value must be a string
    expect(() => sealRecord(key, memberSchema, { id: 'M1', fullName: 42, birthDate: 'y', department: 1 }, { recordId: 'M1' })).toThrow();
    // @ts-expect-error: a required field cannot be null
    expect(() => sealRecord(key, memberSchema, { id: 'M1', fullName: null, birthDate: 'y', department: 1 }, { recordId: 'M1' })).toThrow();
  });

  it('an attribute with a declared type is typed, and checked when sealing and opening', () => {
    const s = defineSchema({
      name: 'steps',
      version: 1,
      fields: { id: { kind: 'attribute', type: 'string' }, steps: { kind: 'attribute', type: 'number', optional: true }, synced: { kind: 'attribute', type: 'boolean' }, nickname: 'identity' },
    });
    const key = generateMemberKey();
    const sealed = sealRecord(key, s, { id: 'M1', synced: true, nickname: 'たろう' }, { recordId: 'M1' });
    const me = openRecord(key, s, sealed, { recordId: sealed.id }); // sealed.id is a string: no cast
    expectTypeOf(me).toEqualTypeOf<{ id: string; synced: boolean; nickname: string; steps?: number }>();
    expect(me).toEqual({ id: 'M1', synced: true, nickname: 'たろう' });
    const failure = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return [(err as TokumeiError).code, (err as TokumeiError).field];
      }
      return undefined;
    };
    // @ts-expect-error: steps is a number
    expect(failure(() => sealRecord(key, s, { id: 'M1', synced: true, nickname: 'x', steps: '8000' }, { recordId: 'M1' }))).toEqual(['ERR_FORMAT', 'steps']);
    expect(failure(() => openRecord(key, s, { ...sealed, synced: 'yes' }, { recordId: 'M1' }))).toEqual(['ERR_FORMAT', 'synced']);
    expect(openRecord(key, s, { ...sealed, steps: null }, { recordId: 'M1' })).toEqual(me); // optional: null is absent
    expect(() => defineSchema({ name: 'x', version: 1, fields: { a: { kind: 'identity', type: 'string' } } })).toThrow(RangeError);
  });

  it('a schema built from an untyped spec falls back to Record<string, unknown>', () => {
    const fields: Record<string, 'identity' | 'attribute'> = { a: 'identity' };
    const loose = defineSchema({ name: 'loose', version: 1, fields });
    expectTypeOf(loose).toEqualTypeOf<Schema<Record<string, 'identity' | 'attribute'>>>();
    const key = generateMemberKey();
    const opened = openRecord(key, loose, sealRecord(key, loose, { a: 'x' }, { recordId: 'r' }), { recordId: 'r' });
    expectTypeOf(opened).toEqualTypeOf<{ [x: string]: unknown }>();
    expect(opened.a).toBe('x');
  });

  it('a session\'s openRecord and sealRecord are typed the same way', () => {
    type Opened = Awaited<ReturnType<Session['openRecord']>>;
    expectTypeOf<Opened>().not.toBeAny();
    const check = async (session: Session, sealed: SealedRecordOf<typeof memberSchema>) => {
      const me = await session.openRecord(memberSchema, sealed, { recordId: 'M1' });
      expectTypeOf(me).toEqualTypeOf<Member>();
      // @ts-expect-error: a typo does not compile through a session either
      void me.fulName;
      // @ts-expect-error: nor in a record a session seals
      await session.sealRecord(memberSchema, { id: 'M1', fulName: 'x', birthDate: 'y', department: 1 }, { recordId: 'M1' });
    };
    expect(typeof check).toBe('function');
  });
});
