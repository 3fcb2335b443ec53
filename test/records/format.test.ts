// G10: the format is a spec. The pinned vectors keep opening, the library reproduces them byte
// for byte, and an independent decoder written from docs/format.md agrees in both directions.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defineSchema, importMemberKey, openRecord, sealRecord, TokumeiError, type MemberKey } from '../../src/index.ts';
import { keyMaterial } from '../../src/keys/member-key.ts';
import { encryptField, openField } from '../../src/records/field-cipher.ts';
import { bucketLength } from '../../src/records/padding.ts';
// @ts-expect-error -- plain JavaScript reference implementation, no types
import * as reference from './format-reference.mjs';

interface Ctx { schemaName: string; schemaVersion: number; fieldName: string; recordId: string }
interface Vectors {
  memberKey: string; fieldKey: string; wrongMemberKey: string; keyId: string;
  valid: { name: string; keyId?: string; context: Ctx; plaintext: string; nonce: string; envelope: string }[];
  tampered: { name: string; context: Ctx; envelope: string; error: string; memberKey?: string }[];
  recordSeals: {
    schema: { schemaName: string; schemaVersion: number; fields: Record<string, 'identity' | 'attribute'> };
    recordId: string;
    valid: { name: string; record: Record<string, unknown>; minVersion?: number; opened: Record<string, unknown> }[];
    tampered: { name: string; record: Record<string, unknown>; minVersion?: number; error: string }[];
  };
}
const vectors = JSON.parse(readFileSync(new URL('../vectors/format-v1.json', import.meta.url), 'utf8')) as Vectors;
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const key = (): MemberKey => importMemberKey(hex(vectors.memberKey), vectors.keyId);

describe('wire format v1 vectors', () => {
  it('derives the documented field key', () => {
    expect(Buffer.from(keyMaterial(key(), 'field')).toString('hex')).toBe(vectors.fieldKey);
  });

  for (const v of vectors.valid) {
    it(`reproduces and opens "${v.name}"`, () => {
      const k = importMemberKey(hex(vectors.memberKey), v.keyId ?? vectors.keyId);
      expect(encryptField(k, v.context, v.plaintext, hex(v.nonce))).toBe(v.envelope);
      expect(openField(k, v.context, v.envelope)).toBe(v.plaintext);
    });
  }

  for (const t of vectors.tampered) {
    it(`rejects "${t.name}" with ${t.error}`, () => {
      const k = importMemberKey(hex(t.memberKey ?? vectors.memberKey), vectors.keyId);
      let caught: unknown;
      try {
        openField(k, t.context, t.envelope);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TokumeiError);
      expect((caught as TokumeiError).code).toBe(t.error);
    });
  }
});

describe('independent decoder (docs/format.md, node:crypto only)', () => {
  const schema = defineSchema({ name: 'member', version: 3, fields: { id: 'attribute', fullName: 'identity', address: 'identity' } });
  const samples = ['', 'a', '山田 花子', 'x'.repeat(63), 'x'.repeat(64), '🏥'.repeat(300), 'あ'.repeat(2000)];

  it('opens what the library seals', () => {
    const bytes = hex(vectors.memberKey);
    const k = importMemberKey(bytes, 'kid-1');
    for (const value of samples) {
      const sealed = sealRecord(k, schema, { id: 'r', fullName: value, address: 'A' }, { recordId: 'R-1' });
      const ctx = { schemaName: 'member', schemaVersion: 3, fieldName: 'fullName', recordId: 'R-1' };
      expect(reference.open(new Map([['kid-1', Buffer.from(bytes)]]), ctx, sealed.fullName)).toEqual({ value });
      expect((sealed.fullName as string).length).toBe(reference.seal(Buffer.from(bytes), 'kid-1', ctx, value, Buffer.alloc(12)).length);
    }
  });

  it('is opened by the library', () => {
    const bytes = hex(vectors.wrongMemberKey);
    for (const value of samples) {
      const nonce = globalThis.crypto.getRandomValues(new Uint8Array(12));
      const ctx = (fieldName: string) => ({ schemaName: 'member', schemaVersion: 3, fieldName, recordId: 'R-9' });
      const sealed = {
        id: 'r',
        fullName: reference.seal(Buffer.from(bytes), 'kid-2', ctx('fullName'), value, nonce),
        address: reference.seal(Buffer.from(bytes), 'kid-2', ctx('address'), '大阪府', nonce.map((b) => b ^ 1)),
      };
      expect(openRecord(importMemberKey(bytes, 'kid-2'), schema, sealed, { recordId: 'R-9' })).toEqual({ id: 'r', fullName: value, address: '大阪府' });
    }
  });

  it('agrees with the reference on every bucket length up to 5,000 bytes', () => {
    for (let n = 0; n <= 5000; n++) expect(bucketLength(n)).toBe(reference.bucket(n));
  });
});

describe('record seal vectors (docs/format.md §8)', () => {
  const { schema: spec, recordId, valid, tampered } = vectors.recordSeals;
  const schema = defineSchema({
    name: spec.schemaName,
    version: spec.schemaVersion,
    fields: Object.fromEntries(Object.entries(spec.fields).map(([name, kind]) => [name, { kind, optional: name === 'phone' }])),
  });

  for (const v of valid) {
    it(`opens "${v.name}"`, () => {
      expect(openRecord(key(), schema, v.record, { recordId, ...(v.minVersion === undefined ? {} : { minVersion: v.minVersion }) })).toEqual(v.opened);
    });
  }

  for (const t of tampered) {
    it(`rejects "${t.name}" with ${t.error}`, () => {
      let caught: unknown;
      try {
        openRecord(key(), schema, t.record, { recordId, ...(t.minVersion === undefined ? {} : { minVersion: t.minVersion }) });
      } catch (err) {
        caught = err;
      }
      expect((caught as TokumeiError).code).toBe(t.error);
    });
  }

  it('the reference checks seals the library makes, and makes the seals the library checks', () => {
    const bytes = hex(vectors.memberKey);
    const record = { id: recordId, fullName: '佐藤 花子', plan: 'basic', checkups: [{ b: 1, a: [2, 'x'] }] };
    const sealed = sealRecord(key(), schema, record, { recordId, version: 41 });
    expect(reference.checkSeal(new Map([[vectors.keyId, Buffer.from(bytes)]]), spec, JSON.parse(JSON.stringify(sealed)), recordId, 41)).toEqual({ ok: true });
    const again = { ...sealed, $version: 42 };
    again.$seal = reference.recordSeal(Buffer.from(bytes), vectors.keyId, spec, again, recordId, 42);
    expect(openRecord(key(), schema, again, { recordId, minVersion: 42 }).plan).toBe('basic');
  });
});
