import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createKeyring, defineSchema, generateMemberKey, importMemberKey, openRecord, searchToken, sealRecord, TokumeiError, type SchemaSpec, type SealedRecord } from '../../src/index.ts';
import { matchesSearch } from '../../src/server.ts';

const schema = defineSchema({
  name: 'member',
  version: 1,
  fields: {
    id: 'attribute',
    fullName: { kind: 'identity', search: 'name-ja' },
    insuredNumber: { kind: 'identity', search: 'exact' },
    email: { kind: 'identity', search: 'exact', optional: true },
    birthDate: 'identity',
  },
});

let n = 0;
function seal(key: Parameters<typeof sealRecord>[0], fields: { fullName: string; insuredNumber?: string; email?: string }): SealedRecord {
  const recordId = `M${String(++n).padStart(6, '0')}`;
  return sealRecord(key, schema, { id: recordId, insuredNumber: '12345678', birthDate: '1980-04-01', ...fields }, { recordId });
}

function expectCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TokumeiError);
  expect((caught as TokumeiError).code).toBe(code);
}

describe('sealRecord search tags', () => {
  it('stores one ts1. tag per searchable identity field present, and none for others', () => {
    const key = generateMemberKey();
    const sealed = seal(key, { fullName: '山田 太郎' });
    const tags = sealed.$search as Record<string, string>;
    expect(Object.keys(tags).sort()).toEqual(['fullName', 'insuredNumber']);
    for (const tag of Object.values(tags)) expect(tag).toMatch(/^ts1\.[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(sealed)).not.toContain('山田');
  });

  it('never repeats a tag across seals of the same value', () => {
    const key = generateMemberKey();
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const tags = seal(key, { fullName: 'やまだたろう' }).$search as Record<string, string>;
      seen.add(tags.fullName!);
      seen.add(tags.insuredNumber!);
    }
    expect(seen.size).toBe(400);
  });

  it('openRecord leaves the tags out and opens the record as before', () => {
    const key = generateMemberKey();
    const sealed = seal(key, { fullName: '山田 太郎', email: 'taro@example.jp' });
    const opened = openRecord(key, schema, sealed, { recordId: sealed.id as string });
    expect(opened).toEqual({ id: sealed.id, fullName: '山田 太郎', insuredNumber: '12345678', email: 'taro@example.jp', birthDate: '1980-04-01' });
  });

  it('writes no $search object when the schema has no searchable field', () => {
    const plain = defineSchema({ name: 'plain', version: 1, fields: { fullName: 'identity' } });
    const sealed = sealRecord(generateMemberKey(), plain, { fullName: 'x' }, { recordId: 'r' });
    expect('$search' in sealed).toBe(false);
  });
});

describe('searchToken / matchesSearch', () => {
  const key = generateMemberKey();

  it('finds exactly the records that hold the value, every record sealed with a fresh salt', () => {
    const records = [
      seal(key, { fullName: 'やまだたろう' }),
      seal(key, { fullName: 'さとうはなこ' }),
      seal(key, { fullName: 'ヤマダ　タロウ' }),
      seal(key, { fullName: 'やまだじろう' }),
      seal(key, { fullName: 'ﾔﾏﾀﾞ ﾀﾛｳ' }),
    ];
    const token = searchToken(key, schema, 'fullName', 'やまだ たろう');
    expect(records.map((r) => matchesSearch(token, r))).toEqual([true, false, true, false, true]);
  });

  // Every normalization case of the issue, each way round: a value sealed in one form is found
  // by a token made from any other form.
  const nameForms = ['ﾔﾏﾀﾞ ﾀﾛｳ', 'ヤマダ　タロウ', 'やまだたろう', ' ヤマダ タロウ ', 'やまだ　たろう', 'ﾔﾏﾀﾞﾀﾛｳ', 'ヤマタ゛タロウ'];
  for (const sealedForm of nameForms) {
    it(`name-ja: "${sealedForm}" is found by every form of the same name`, () => {
      const record = seal(key, { fullName: sealedForm });
      for (const queryForm of nameForms) expect(matchesSearch(searchToken(key, schema, 'fullName', queryForm), record)).toBe(true);
      expect(matchesSearch(searchToken(key, schema, 'fullName', 'やまだじろう'), record)).toBe(false);
      expect(matchesSearch(searchToken(key, schema, 'fullName', '山田太郎'), record)).toBe(false); // kanji are not read
    });
  }

  it('name-ja: full-width Latin letters and digits match their ASCII forms', () => {
    const record = seal(key, { fullName: 'ＹＡＭＡＤＡ　Ｔａｒｏ２' });
    expect(matchesSearch(searchToken(key, schema, 'fullName', 'YAMADA Taro2'), record)).toBe(true);
    expect(matchesSearch(searchToken(key, schema, 'fullName', 'yamada taro2'), record)).toBe(false); // no case folding
  });

  it('exact: NFKC and trimmed, but inner spaces and kana kept', () => {
    const record = seal(key, { fullName: 'x', insuredNumber: '１２３４ ５６７８', email: ' Taro@example.jp\u3000' });
    const token = (field: string, value: string) => searchToken(key, schema, field, value);
    expect(matchesSearch(token('insuredNumber', '1234 5678'), record)).toBe(true);
    expect(matchesSearch(token('insuredNumber', '  1234 5678\t'), record)).toBe(true);
    expect(matchesSearch(token('insuredNumber', '12345678'), record)).toBe(false);
    expect(matchesSearch(token('email', 'Taro@example.jp'), record)).toBe(true);
    expect(matchesSearch(token('email', 'taro@example.jp'), record)).toBe(false);
    const kana = seal(key, { fullName: 'x', insuredNumber: 'ヤマダ' });
    expect(matchesSearch(token('insuredNumber', 'ﾔﾏﾀﾞ'), kana)).toBe(true); // NFKC
    expect(matchesSearch(token('insuredNumber', 'やまだ'), kana)).toBe(false); // no kana folding in exact
  });

  it('gives the same token for the same value: tokens are deterministic, tags are not', () => {
    expect(searchToken(key, schema, 'fullName', 'ﾔﾏﾀﾞ ﾀﾛｳ')).toBe(searchToken(key, schema, 'fullName', 'やまだたろう'));
    expect(searchToken(key, schema, 'fullName', 'やまだたろう')).toMatch(/^tq1\.[A-Za-z0-9_-]+$/);
  });

  it('a token made with another key never matches', () => {
    const record = seal(key, { fullName: 'やまだたろう' });
    for (let i = 0; i < 20; i++) {
      expect(matchesSearch(searchToken(generateMemberKey(), schema, 'fullName', 'やまだたろう'), record)).toBe(false);
    }
    // Same key id, different bytes: still no match.
    const sameId = importMemberKey(new Uint8Array(32).fill(7), key.keyId);
    expect(matchesSearch(searchToken(sameId, schema, 'fullName', 'やまだたろう'), record)).toBe(false);
  });

  it('is bound to the field, the schema name and the schema version', () => {
    const k = generateMemberKey();
    const record = seal(k, { fullName: '12345678', insuredNumber: '12345678' });
    // The same normalized value in another field of the same record: the field's own tag is used.
    expect(matchesSearch(searchToken(k, schema, 'insuredNumber', '12345678'), record)).toBe(true);
    const moved = { ...record, $search: { insuredNumber: (record.$search as Record<string, string>).fullName } };
    expect(matchesSearch(searchToken(k, schema, 'insuredNumber', '12345678'), moved)).toBe(false);
    const v2 = defineSchema({ name: 'member', version: 2, fields: { fullName: { kind: 'identity', search: 'name-ja' } } });
    const other = defineSchema({ name: 'dependant', version: 1, fields: { fullName: { kind: 'identity', search: 'name-ja' } } });
    expect(matchesSearch(searchToken(k, v2, 'fullName', '12345678'), record)).toBe(false);
    expect(matchesSearch(searchToken(k, other, 'fullName', '12345678'), record)).toBe(false);
    expect(matchesSearch(searchToken(k, schema, 'fullName', '12345678'), record)).toBe(true);
  });

  it('a keyring seals and searches with its primary key', () => {
    const own = generateMemberKey({ keyId: 'M1.v2' });
    const ring = createKeyring([own, generateMemberKey({ keyId: 'M1.v1' })]);
    const record = seal(ring, { fullName: 'すずき' });
    expect(matchesSearch(searchToken(own, schema, 'fullName', 'スズキ'), record)).toBe(true);
    expect(matchesSearch(searchToken(ring, schema, 'fullName', 'スズキ'), record)).toBe(true);
  });

  it('is false for a record without a tag for the field (optional field left out, older record)', () => {
    const record = seal(key, { fullName: 'x' });
    expect(matchesSearch(searchToken(key, schema, 'email', 'x'), record)).toBe(false);
    const { $search: _dropped, ...untagged } = record;
    expect(matchesSearch(searchToken(key, schema, 'fullName', 'x'), untagged)).toBe(false);
  });

  it('survives a JSON round trip of the sealed record', () => {
    const record = JSON.parse(JSON.stringify(seal(key, { fullName: 'たなか' }))) as SealedRecord;
    expect(matchesSearch(searchToken(key, schema, 'fullName', 'タナカ'), record)).toBe(true);
  });

  it('a flipped character in a tag stops the match', () => {
    const record = seal(key, { fullName: 'いとう' });
    const token = searchToken(key, schema, 'fullName', 'いとう');
    const tag = (record.$search as Record<string, string>).fullName!;
    for (const at of [4, 20, 30, 45]) {
      const c = tag[at] === 'A' ? 'B' : 'A';
      const flipped = { ...record, $search: { fullName: tag.slice(0, at) + c + tag.slice(at + 1) } };
      expect(matchesSearch(token, flipped)).toBe(false);
    }
    expect(matchesSearch(token, record)).toBe(true);
  });
});

describe('errors', () => {
  const key = generateMemberKey();

  it('searchToken on a field without search, an attribute or an unknown field is ERR_SCHEMA', () => {
    expectCode(() => searchToken(key, schema, 'birthDate', '1980-04-01'), 'ERR_SCHEMA');
    expectCode(() => searchToken(key, schema, 'id', 'M000001'), 'ERR_SCHEMA');
    expectCode(() => searchToken(key, schema, 'nickname', 'x'), 'ERR_SCHEMA');
  });

  it('an ERR_SCHEMA message never echoes a value passed as the field', () => {
    try {
      searchToken(key, schema, '山田太郎', 'x');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('山田');
    }
  });

  it('searchToken with a destroyed key is ERR_DESTROYED; bad arguments are TypeErrors', () => {
    const k = generateMemberKey();
    k.destroy();
    expectCode(() => searchToken(k, schema, 'fullName', 'x'), 'ERR_DESTROYED');
    expect(() => searchToken(key, schema, 'fullName', 42 as unknown as string)).toThrow(TypeError);
    expect(() => searchToken({} as never, schema, 'fullName', 'x')).toThrow(TypeError);
    expect(() => searchToken(key, {} as never, 'fullName', 'x')).toThrow(TypeError);
  });

  it('malformed tokens are ERR_FORMAT, a non-string token a TypeError', () => {
    const record = seal(key, { fullName: 'x' });
    const good = searchToken(key, schema, 'fullName', 'x');
    for (const bad of ['', 'tq1.', 'tq1.!!!!', 'tk1.' + good.slice(4), good.slice(0, -2), good + 'AA', 'tq2.' + good.slice(4)]) {
      expectCode(() => matchesSearch(bad, record), 'ERR_FORMAT');
    }
    expect(() => matchesSearch(42 as unknown as string, record)).toThrow(TypeError);
    expect(() => matchesSearch(good, null as unknown as SealedRecord)).toThrow(TypeError);
  });

  it('a malformed $search object or tag is ERR_FORMAT', () => {
    const record = seal(key, { fullName: 'x' });
    const token = searchToken(key, schema, 'fullName', 'x');
    const tag = (record.$search as Record<string, string>).fullName!;
    const badTags: unknown[] = [42, null, '', tag.slice(0, -1), tag + 'A', 'ts2.' + tag.slice(4), 'xx1.' + tag.slice(4), tag.slice(0, -1) + '!', tag.slice(0, -1) + 'B'];
    for (const bad of badTags) expectCode(() => matchesSearch(token, { ...record, $search: { fullName: bad } }), 'ERR_FORMAT');
    for (const bad of [42, 'x', ['a']]) expectCode(() => matchesSearch(token, { ...record, $search: bad }), 'ERR_FORMAT');
  });

  it('ignores inherited properties: a field name like "constructor" is looked up as an own key only', () => {
    const fields: SchemaSpec['fields'] = { other: 'identity' };
    fields['constructor'] = { kind: 'identity', search: 'exact' };
    const s = defineSchema({ name: 'odd', version: 1, fields });
    const k = generateMemberKey();
    const token = searchToken(k, s, 'constructor', 'v');
    expect(matchesSearch(token, sealRecord(k, s, { constructor: 'v', other: 'o' }, { recordId: 'r' }))).toBe(true);
    expect(matchesSearch(token, { $search: {} })).toBe(false);
  });
});

describe('entry points', () => {
  it('the browser entry does not export matchesSearch, and its source imports no node: module', async () => {
    const browser = await import('../../src/index.ts');
    expect('matchesSearch' in browser).toBe(false);
    for (const file of ['format.ts', 'match.ts', 'normalize.ts', 'token.ts', 'hmac-midstate.ts']) {
      expect(readFileSync(new URL(`../../src/search/${file}`, import.meta.url), 'utf8')).not.toMatch(/from 'node:/);
    }
  });
});
