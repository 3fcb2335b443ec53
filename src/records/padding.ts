// Length hiding (G2, docs/format.md §2). A value of n UTF-8 bytes is followed by one 0x80 byte
// and zeros up to its bucket (ISO/IEC 7816-4 padding): unambiguous to remove, and the padded
// length reveals only the bucket.

/** Smallest padded length: every value of up to 63 UTF-8 bytes pads to this. */
export const MIN_BUCKET = 64;
/** Largest identity value, in UTF-8 bytes. */
export const MAX_VALUE_BYTES = 65536;

/**
 * The padded length for a value of `n` bytes. With m = n + 1: 64 when m ≤ 64; otherwise m is
 * rounded up to a multiple of 2^(e−3), where 2^(e−1) < m ≤ 2^e — four buckets per doubling,
 * so padding never adds more than 25 % and the length leaks about two bits beyond its order of
 * magnitude: 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, …
 */
export function bucketLength(n: number): number {
  const m = n + 1;
  if (m <= MIN_BUCKET) return MIN_BUCKET;
  const e = 32 - Math.clz32(m - 1); // 2^(e-1) < m <= 2^e
  const step = 2 ** (e - 3);
  return Math.ceil(m / step) * step;
}

/** Whether `len` is a padded length that {@link bucketLength} can produce. */
export function isBucketLength(len: number): boolean {
  return len >= MIN_BUCKET && bucketLength(len - 1) === len;
}

/** The unpadded length of a padded buffer, or -1 when the padding is malformed. */
export function unpaddedLength(padded: Uint8Array): number {
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0) i--;
  return i >= 0 && padded[i] === 0x80 ? i : -1;
}
