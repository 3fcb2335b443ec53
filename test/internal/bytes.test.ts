import { describe, expect, it } from 'vitest';
import { abytes, fromBase64url, toBase64url } from '../../src/internal/bytes.ts';
import { bucketLength, isBucketLength, unpaddedLength } from '../../src/records/padding.ts';

/** ISO/IEC 7816-4 padding to the bucket length, as docs/format.md §2 describes it. */
function pad(v: Uint8Array): Uint8Array {
  const out = new Uint8Array(bucketLength(v.length));
  out.set(v);
  out[v.length] = 0x80;
  return out;
}

describe('base64url (RFC 4648 §5, no padding, strict)', () => {
  it('matches node:buffer for every length up to 300 bytes, and round-trips', () => {
    for (let n = 0; n <= 300; n++) {
      const b = crypto.getRandomValues(new Uint8Array(n));
      const text = toBase64url(b);
      expect(text).toBe(Buffer.from(b).toString('base64url'));
      expect(fromBase64url(text)).toEqual(b);
    }
  });

  it('rejects characters outside the alphabet, impossible lengths and non-canonical trailing bits', () => {
    expect(fromBase64url('AA==')).toBeUndefined();
    expect(fromBase64url('AA+/')).toBeUndefined();
    expect(fromBase64url('AAAAA')).toBeUndefined(); // 4n+1
    expect(fromBase64url('AB')).toBeUndefined(); // 'B' sets bits that one byte cannot hold
    expect(fromBase64url('AA')).toEqual(new Uint8Array([0]));
  });
});

describe('padding (docs/format.md §2)', () => {
  it('gives every value of up to 63 bytes the same length, and buckets grow by at most 25 %', () => {
    for (let n = 0; n <= 63; n++) expect(bucketLength(n)).toBe(64);
    expect([64, 65, 79, 80, 127, 128, 200].map(bucketLength)).toEqual([80, 80, 80, 96, 128, 160, 224]);
    for (let n = 64; n < 70000; n += 7) {
      const b = bucketLength(n);
      expect(b).toBeGreaterThan(n);
      expect(b).toBeLessThanOrEqual(Math.max(64, Math.ceil((n + 1) * 1.25)));
      expect(isBucketLength(b)).toBe(true);
    }
    expect(isBucketLength(65)).toBe(false);
  });

  it('unpads exactly, and reports malformed padding', () => {
    for (const n of [0, 1, 63, 64, 200]) {
      const v = crypto.getRandomValues(new Uint8Array(n));
      const p = pad(v);
      expect(unpaddedLength(p)).toBe(n);
      expect(p.subarray(0, n)).toEqual(v);
    }
    expect(unpaddedLength(new Uint8Array(64))).toBe(-1);
    expect(unpaddedLength(Uint8Array.of(1, 2, 0))).toBe(-1);
  });
});

describe('boundary checks: one message shape', () => {
  it('names the parameter, the expectation and what was given, never the contents', () => {
    expect(() => abytes('key', new Uint8Array(16), 32)).toThrow('"key" expected Uint8Array of length 32, got length=16');
    expect(() => abytes('key', 'secret-value', 32)).toThrow('"key" expected Uint8Array of length 32, got string');
    expect(() => abytes('key', [1, 2], 32)).toThrow('"key" expected Uint8Array of length 32, got Array');
  });
});
