// Deterministic member keys for tests: the same seed, member and version give the same key and
// key id in every run and on every machine, so fixtures sealed once keep opening.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { allocSecret, astring, ainteger, toBase64url, utf8 } from '../internal/bytes.ts';
import { hkdfSha256Into } from '../internal/hkdf.ts';
import { adoptMemberKey, type MemberKey } from '../keys/member-key.ts';

/** The seed used when none is given. */
export const DEFAULT_TEST_SEED = 'tokumei-testing';

/** The key id of a test key: `k1.` and 16 base64url characters, opaque like a real one. */
export function testKeyId(seed: string, memberId: string, version: number): string {
  const mac = hmac(sha256, utf8(seed), utf8(`tokumei-testing/key-id\0${memberId}\0${version}`));
  return `k1.${toBase64url(mac).slice(0, 16)}`;
}

/** The 32 key bytes of a test key, in a fresh off-heap buffer the caller owns (and wipes). */
export function testKeyBytes(seed: string, memberId: string, version: number): Uint8Array {
  const out = allocSecret(32);
  hkdfSha256Into(out, utf8(seed), new Uint8Array(0), utf8(`tokumei-testing/member-key\0${memberId}\0${version}`));
  return out;
}

/**
 * A deterministic member key **for tests**: derived from `seed`, the member id and the version,
 * so a fixture sealed with it opens in every later run. The same key the fake key environment
 * of `tokumei/testing` delivers for that member. Never use it for real data: anyone with the
 * seed has the key.
 *
 * @param memberId - the member
 * @param options - `version` (default 1), `seed` (default `'tokumei-testing'`)
 * @returns a new key handle the caller owns (`destroy()` it when done)
 * @throws TypeError / RangeError for a malformed member id, version or seed
 * @example
 * ```ts
 * import { defineSchema, sealRecord } from 'tokumei';
 * import { testMemberKey } from 'tokumei/testing';
 * const memberSchema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });
 * const key = testMemberKey('M000001');
 * const sealed = sealRecord(key, memberSchema, { id: 'M000001', fullName: '山田 太郎' }, { recordId: 'M000001' });
 * ```
 */
export function testMemberKey(memberId: string, options: { version?: number; seed?: string } = {}): MemberKey {
  astring('memberId', memberId, true);
  const { version = 1, seed = DEFAULT_TEST_SEED } = options;
  ainteger('version', version, 1, 0xffff);
  astring('seed', seed, true);
  return adoptMemberKey(testKeyBytes(seed, memberId, version), testKeyId(seed, memberId, version));
}
