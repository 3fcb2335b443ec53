// The length limits of docs/format.md §2–§3 at their edges: every value the library agrees to
// seal (0 … 65,536 UTF-8 bytes) opens again under every key id length (1 … 64), and the
// envelope length limit applies to the base64url body, after the `tk1.` prefix.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineSchema, generateMemberKey, openRecord, sealRecord, TokumeiError } from '../../src/index.ts';
import { MAX_BODY_CHARS } from '../../src/records/envelope.ts';
import { bucketLength, MAX_VALUE_BYTES } from '../../src/records/padding.ts';

const schema = defineSchema({ name: 'member', version: 1, fields: { note: 'identity' } });
const keyIdOf = (n: number) => `k${'x'.repeat(n - 1)}`;
/** Value lengths where the bucket changes: the last length of each bucket and the first of the next. */
const EDGES: number[] = (() => {
  const out = new Set([0, 1, MAX_VALUE_BYTES - 1, MAX_VALUE_BYTES]);
  for (let n = 0; n <= MAX_VALUE_BYTES; n = bucketLength(n)) {
    out.add(bucketLength(n) - 1);
    if (bucketLength(n) <= MAX_VALUE_BYTES) out.add(bucketLength(n));
  }
  return [...out].filter((n) => n <= MAX_VALUE_BYTES).sort((a, b) => a - b);
})();

function roundTrips(valueBytes: number, keyIdLength: number): void {
  const key = generateMemberKey({ keyId: keyIdOf(keyIdLength) });
  const note = 'a'.repeat(valueBytes);
  const sealed = sealRecord(key, schema, { note }, { recordId: 'r' });
  expect((sealed.note as string).length - 'tk1.'.length).toBeLessThanOrEqual(MAX_BODY_CHARS);
  expect(openRecord(key, schema, sealed, { recordId: 'r' }).note).toBe(note);
  key.destroy();
}

describe('length limits (docs/format.md §2, §3, §6)', () => {
  it('the longest value under the longest key ids opens (the limit is on the body, not the whole string)', () => {
    for (let idLength = 60; idLength <= 64; idLength++) roundTrips(MAX_VALUE_BYTES, idLength);
  });

  it('every key id length 1 … 64 with the shortest and the longest value', () => {
    for (let idLength = 1; idLength <= 64; idLength++) {
      roundTrips(0, idLength);
      roundTrips(MAX_VALUE_BYTES, idLength);
    }
  });

  it('property: any bucket edge 0 … 65,536 bytes × any key id length 1 … 64 round-trips', () => {
    expect(EDGES.length).toBeGreaterThan(50);
    fc.assert(fc.property(fc.constantFrom(...EDGES), fc.integer({ min: 1, max: 64 }), (n, id) => roundTrips(n, id)), { numRuns: 300 });
  });

  it('one byte more is refused when sealing, with ERR_FORMAT', () => {
    const key = generateMemberKey();
    expect(() => sealRecord(key, schema, { note: 'a'.repeat(MAX_VALUE_BYTES + 1) }, { recordId: 'r' })).toThrow(
      expect.objectContaining({ code: 'ERR_FORMAT' }) as TokumeiError,
    );
  });

  it('an envelope whose body is one character over the limit is ERR_FORMAT before any decoding', () => {
    const key = generateMemberKey();
    const sealed = { note: `tk1.${'A'.repeat(MAX_BODY_CHARS + 1)}` };
    expect(() => openRecord(key, schema, sealed, { recordId: 'r' })).toThrow(expect.objectContaining({ code: 'ERR_FORMAT', message: 'envelope too long (field "note")', field: 'note' }) as TokumeiError);
  });
});
