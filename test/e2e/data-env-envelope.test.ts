// The data environment's shape check of sealed values (written from docs/format.md, without
// the library) accepts exactly what the library's own envelope parser accepts, and refuses
// plaintext, base64url-dressed plaintext and every malformed variant.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeShapeProblem } from '../../examples/portal/data-env/envelope-shape.ts';
import { defineSchema, generateMemberKey, sealRecord } from '../../src/index.ts';
import { decodeEnvelope } from '../../src/records/envelope.ts';

const schema = defineSchema({ name: 'shape', version: 1, fields: { v: 'identity' } });
const key = generateMemberKey();
const seal = (v: string): string => sealRecord(key, schema, { v }, { recordId: 'r' }).v as string;

/** Whether the library's parser takes it as a well-formed envelope (before any key is needed). */
function libraryAccepts(value: string): boolean {
  try {
    decodeEnvelope(value);
    return true;
  } catch {
    return false;
  }
}

describe('the data environment: envelope shape', () => {
  it('accepts sealed values of every bucket', () => {
    for (const n of [0, 1, 63, 64, 79, 80, 200, 1000, 5000]) expect(envelopeShapeProblem(seal('あ'.repeat(Math.floor(n / 3)) + 'x'.repeat(n % 3)))).toBeUndefined();
  });

  it('refuses plaintext, plaintext dressed as base64url, and malformed envelopes, saying which rule failed', () => {
    const name = '山田 太郎';
    const real = seal(name);
    const body = Buffer.from(real.slice(4), 'base64url');
    const withBody = (b: Buffer): string => `tk1.${b.toString('base64url')}`;
    expect(envelopeShapeProblem(name)).toBe('not a tk1 envelope');
    expect(envelopeShapeProblem(42)).toBe('not a tk1 envelope');
    expect(envelopeShapeProblem(`tk2.${real.slice(4)}`)).toBe('not a tk1 envelope');
    expect(envelopeShapeProblem(`tk1.${Buffer.from(name).toString('base64url')}`)).toBe('envelope version byte is not 1');
    expect(envelopeShapeProblem(`tk1.${Buffer.from(name).toString('base64')}`)).toBe('envelope body is not canonical base64url');
    expect(envelopeShapeProblem(`${real}=`)).toBe('envelope body is not canonical base64url');
    expect(envelopeShapeProblem(real.slice(0, -1))).not.toBeUndefined();
    expect(envelopeShapeProblem(withBody(body.subarray(0, body.length - 1)))).toBe('envelope ciphertext is not a bucket length');
    expect(envelopeShapeProblem(withBody(Buffer.concat([body, Buffer.alloc(1)])))).toBe('envelope ciphertext is not a bucket length');
    const badId = Buffer.from(body);
    badId[2] = 0x20; // a space in the key id
    expect(envelopeShapeProblem(withBody(badId))).toBe('envelope key id is malformed');
    expect(envelopeShapeProblem(`tk1.${'A'.repeat(200_000)}`)).toBe('envelope too long');
  });

  it('agrees with the library parser on random changes to sealed values', () => {
    const samples = ['', '山田 太郎', '〒100-0001 東京都千代田区千代田1-1', 'x'.repeat(100)].map(seal);
    fc.assert(
      fc.property(fc.constantFrom(...samples), fc.nat(), fc.nat(), fc.constantFrom('flip', 'drop', 'insert', 'truncate'), fc.string({ minLength: 1, maxLength: 3 }), (real, a, b, op, s) => {
        const i = 4 + (a % (real.length - 4));
        const changed =
          op === 'flip' ? real.slice(0, i) + s + real.slice(i + 1)
          : op === 'drop' ? real.slice(0, i) + real.slice(i + 1)
          : op === 'insert' ? real.slice(0, i) + s + real.slice(i)
          : real.slice(0, 4 + (b % (real.length - 4)));
        expect(envelopeShapeProblem(changed) === undefined).toBe(libraryAccepts(changed));
      }),
      { numRuns: 2000 },
    );
  });
});
