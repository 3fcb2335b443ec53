import { describe, expect, it } from 'vitest';
import * as tokumei from '../src/index.ts';
import { BAD_VALUES } from './bad-inputs.ts';

const { defineSchema, generateMemberKey, importMemberKey, openRecord, sealRecord, createKeyring, TokumeiError } = tokumei;
const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });
const key = generateMemberKey();
const sealed = sealRecord(key, schema, { id: 'a', fullName: 'x' }, { recordId: 'a' });

/** Each public function with a valid call, and a way to replace argument `i` with a bad value. */
const calls: [string, unknown[], (...args: never[]) => unknown, number[]][] = [
  ['defineSchema', [{ name: 'm', version: 1, fields: { a: 'identity' } }], defineSchema as never, [0]],
  ['generateMemberKey', [{ keyId: 'k' }], generateMemberKey as never, []],
  ['importMemberKey', [new Uint8Array(32), 'k'], importMemberKey as never, [0, 1]],
  ['sealRecord', [key, schema, { id: 'a', fullName: 'x' }, { recordId: 'a' }], sealRecord as never, [0, 1, 2, 3]],
  ['openRecord', [key, schema, sealed, { recordId: 'a' }], openRecord as never, [0, 1, 2, 3]],
  ['createKeyring', [[generateMemberKey()]], createKeyring as never, [0]],
];

function rejectsCleanly(fn: () => unknown, label = ''): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error, `bad input was accepted: ${label}`).toBeDefined();
  const ok = error instanceof TypeError || error instanceof RangeError || error instanceof TokumeiError;
  expect(ok, `unexpected ${String(error)} for ${label}`).toBe(true);
}

describe('the shared bad-input corpus against every public function', () => {
  for (const [name, good, fn, positions] of calls) {
    it(`${name}: the valid call works`, () => {
      expect(() => fn(...(good as never[]))).not.toThrow();
    });
    for (const i of positions) {
      it(`${name}: argument ${i} rejects every bad value cleanly`, () => {
        for (const [label, bad] of BAD_VALUES) {
          const args = [...good];
          args[i] = bad;
          rejectsCleanly(() => fn(...(args as never[])), label);
        }
      });
    }
  }

  it('bad values inside a record or an envelope are rejected cleanly', () => {
    for (const [label, bad] of BAD_VALUES) {
      if (bad === undefined) continue; // an absent field: covered by ERR_SCHEMA tests
      // any string is a valid identity value to seal, but none of these is a valid envelope
      if (typeof bad !== 'string') rejectsCleanly(() => sealRecord(key, schema, { id: 'a', fullName: bad } as never, { recordId: 'a' }), label);
      rejectsCleanly(() => openRecord(key, schema, { id: 'a', fullName: bad }, { recordId: 'a' }), label);
      // a record id may be any non-empty string
      if (typeof bad !== 'string' || bad === '') rejectsCleanly(() => sealRecord(key, schema, { id: 'a', fullName: 'x' }, { recordId: bad as string }), label);
    }
  });

  it('generateMemberKey rejects bad key ids', () => {
    for (const [label, bad] of BAD_VALUES) {
      if (bad === undefined) continue; // means "make one"
      rejectsCleanly(() => generateMemberKey({ keyId: bad as string }), label);
    }
  });
});
