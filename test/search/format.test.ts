// docs/search.md §3 is a spec: a token and a tag computed with node:crypto from its text alone
// must equal what the library makes and accept.
import { createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defineSchema, importMemberKey, searchToken, sealRecord } from '../../src/index.ts';
import { matchesSearch } from '../../src/server.ts';

const keyBytes = new Uint8Array(32).map((_, i) => 0xa0 + i);
const schema = defineSchema({ name: 'member', version: 7, fields: { fullName: { kind: 'identity', search: 'name-ja' }, insuredNumber: { kind: 'identity', search: 'exact' } } });

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** §3.1 and §3.2, from the text. */
function specT(fieldName: string, mode: number, normalized: string): Buffer {
  const sk = Buffer.from(hkdfSync('sha256', keyBytes, new Uint8Array(0), 'tokumei/v1/search-tag', 32));
  const msg = Buffer.concat([
    Buffer.from('tokumei.search'),
    Buffer.from([0x01, mode, 'member'.length]),
    Buffer.from('member'),
    u32be(7),
    Buffer.from([fieldName.length]),
    Buffer.from(fieldName),
    Buffer.from(normalized, 'utf8'),
  ]);
  return createHmac('sha256', sk).update(msg).digest();
}

/** §3.4. */
function specToken(fieldName: string, t: Buffer): string {
  const body = Buffer.concat([Buffer.from([0x01, 'member'.length]), Buffer.from('member'), u32be(7), Buffer.from([fieldName.length]), Buffer.from(fieldName), t]);
  return 'tq1.' + body.toString('base64url');
}

describe('search format v1 (docs/search.md §3)', () => {
  const key = importMemberKey(keyBytes, 'spec.v1');

  it('searchToken equals the token built from the spec, for both modes', () => {
    expect(searchToken(key, schema, 'fullName', 'ﾔﾏﾀﾞ ﾀﾛｳ')).toBe(specToken('fullName', specT('fullName', 0x02, 'やまだたろう')));
    expect(searchToken(key, schema, 'insuredNumber', ' １２３４ ')).toBe(specToken('insuredNumber', specT('insuredNumber', 0x01, '1234')));
  });

  it('a tag made by sealRecord is salt ‖ HMAC(T, salt)[0..16], and a spec-built tag matches', () => {
    const sealed = sealRecord(key, schema, { fullName: 'やまだ たろう', insuredNumber: '1234' }, { recordId: 'r1' });
    const tag = (sealed.$search as Record<string, string>).fullName!;
    expect(tag).toMatch(/^ts1\.[A-Za-z0-9_-]{43}$/);
    const raw = Buffer.from(tag.slice(4), 'base64url');
    expect(raw.length).toBe(32);
    const t = specT('fullName', 0x02, 'やまだたろう');
    expect(createHmac('sha256', t).update(raw.subarray(0, 16)).digest().subarray(0, 16).equals(raw.subarray(16))).toBe(true);

    const salt = Buffer.alloc(16, 0x5a);
    const specTag = 'ts1.' + Buffer.concat([salt, createHmac('sha256', t).update(salt).digest().subarray(0, 16)]).toString('base64url');
    const token = searchToken(key, schema, 'fullName', 'ヤマダタロウ');
    expect(matchesSearch(token, { $search: { fullName: specTag } })).toBe(true);
  });
});
