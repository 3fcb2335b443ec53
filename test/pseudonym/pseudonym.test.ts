import { createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateLinkKey, pseudonym } from '../../src/server.ts';

describe('pseudonym', () => {
  const linkKey = generateLinkKey();

  it('is stable for one subject and purpose, 43 base64url characters', () => {
    const a = pseudonym(linkKey, 'M000001', { purpose: 'portal' });
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pseudonym(linkKey, 'M000001', { purpose: 'portal' })).toBe(a);
  });

  it('differs across purposes, subjects and link keys', () => {
    const seen = new Set([
      pseudonym(linkKey, 'M000001', { purpose: 'portal' }),
      pseudonym(linkKey, 'M000001', { purpose: 'analytics-2026' }),
      pseudonym(linkKey, 'M000002', { purpose: 'portal' }),
      pseudonym(generateLinkKey(), 'M000001', { purpose: 'portal' }),
    ]);
    expect(seen.size).toBe(4);
  });

  it('is HMAC-SHA256(HKDF-SHA256(linkKey, "", "tokumei/v1/pseudonym:" ‖ purpose), subjectId) as docs/search.md says', () => {
    const key = new Uint8Array(32).map((_, i) => i);
    const purposeKey = Buffer.from(hkdfSync('sha256', key, new Uint8Array(0), 'tokumei/v1/pseudonym:portal', 32));
    const expected = createHmac('sha256', purposeKey).update('M000001', 'utf8').digest('base64url');
    expect(pseudonym(key, 'M000001', { purpose: 'portal' })).toBe(expected);
  });

  it('never wipes or changes the caller\'s link key', () => {
    const key = generateLinkKey();
    const before = Buffer.from(key).toString('hex');
    pseudonym(key, 'M000001', { purpose: 'portal' });
    expect(Buffer.from(key).toString('hex')).toBe(before);
    expect(before).not.toBe('0'.repeat(64));
  });

  it('generateLinkKey gives 32 fresh off-heap bytes each time', () => {
    const a = generateLinkKey();
    const b = generateLinkKey();
    expect(a.length).toBe(32);
    expect(a.buffer.byteLength).toBe(32);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('rejects malformed arguments with TypeError / RangeError', () => {
    expect(() => pseudonym(new Uint8Array(16), 'M1', { purpose: 'portal' })).toThrow(RangeError);
    expect(() => pseudonym('k' as unknown as Uint8Array, 'M1', { purpose: 'portal' })).toThrow(TypeError);
    expect(() => pseudonym(linkKey, '', { purpose: 'portal' })).toThrow(RangeError);
    expect(() => pseudonym(linkKey, 1 as unknown as string, { purpose: 'portal' })).toThrow(TypeError);
    expect(() => pseudonym(linkKey, 'M1', { purpose: '' })).toThrow(RangeError);
    expect(() => pseudonym(linkKey, 'M1', { purpose: 'a/b' })).toThrow(RangeError);
    expect(() => pseudonym(linkKey, 'M1', undefined as never)).toThrow(TypeError);
  });
});
