import { describe, expect, it } from 'vitest';
import { defineSchema, generateMemberKey, openRecord, sealRecord } from '../../src/index.ts';

const schema = defineSchema({
  name: 'member',
  version: 1,
  fields: { id: 'attribute', fullName: 'identity', note: { kind: 'identity', optional: true }, steps: 'attribute' },
});

describe('sealRecord / openRecord round trips', () => {
  const values: [string, string][] = [
    ['ASCII', 'Taro Yamada'],
    ['Japanese', '山田 太郎'],
    ['emoji', '👩‍👩‍👧‍👦 家族 🏥'],
    ['empty string', ''],
    ['4 KB', 'あ'.repeat(1365) + 'x'],
  ];
  for (const [label, value] of values) {
    it(`round-trips ${label}`, () => {
      const key = generateMemberKey();
      const sealed = sealRecord(key, schema, { id: 'M000001', fullName: value, steps: 8123 }, { recordId: 'M000001' });
      expect(sealed.fullName).toMatch(/^tk1\.[A-Za-z0-9_-]+$/);
      expect(sealed.fullName).not.toContain(value === '' ? '\u0000' : value);
      expect(sealed.id).toBe('M000001');
      expect(sealed.steps).toBe(8123);
      expect(openRecord(key, schema, sealed, { recordId: 'M000001' })).toEqual({ id: 'M000001', fullName: value, steps: 8123 });
    });
  }

  it('seals the same value to a different string every time', () => {
    const key = generateMemberKey();
    const seen = new Set<unknown>();
    for (let i = 0; i < 50; i++) seen.add(sealRecord(key, schema, { id: 'a', fullName: '佐藤', steps: 1 }, { recordId: 'r' }).fullName);
    expect(seen.size).toBe(50);
  });

  it('keeps an optional identity field optional', () => {
    const key = generateMemberKey();
    const withNote = sealRecord(key, schema, { id: 'a', fullName: 'x', note: '要再検査', steps: 0 }, { recordId: 'r' });
    expect(openRecord(key, schema, withNote, { recordId: 'r' }).note).toBe('要再検査');
    const without = sealRecord(key, schema, { id: 'a', fullName: 'x', steps: 0 }, { recordId: 'r' });
    expect('note' in without).toBe(false);
  });
});
