// The keys a test page derives from its seeds, computed in Node: the needles of residue scans.
import { hkdfSync, randomBytes } from 'node:crypto';
import { SUBKEY_LABELS } from '../../src/keys/subkeys.ts';
import { hashSubkey, keySchedule, tableEntry } from '../keys/gcm-reference.ts';

const TEST_KEY_INFO = 'tokumei-test/member-key'; // same as page.ts

function hkdf(ikm: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), info, 32));
}

/**
 * What a member key leaves in memory while it is used, by name: the key, its three subkeys, and
 * the field cipher's state — the AES key schedule past the first two round keys (those are the
 * field key itself), the GHASH key H and 64 bytes of GHASH's table (four entries, as they sit
 * in memory).
 */
export const KEY_PARTS = ['memberKey', 'fieldKey', 'searchKey', 'sealKey', 'fieldKeySchedule', 'ghashKey', 'ghashTable'] as const;
export type KeyParts = Record<(typeof KEY_PARTS)[number], Uint8Array>;

/** Every part of `memberKey` a residue scan looks for, computed independently in Node. */
export function keyParts(memberKey: Uint8Array): KeyParts {
  const fieldKey = hkdf(memberKey, SUBKEY_LABELS.field);
  const h = hashSubkey(fieldKey);
  return {
    memberKey,
    fieldKey,
    searchKey: hkdf(memberKey, SUBKEY_LABELS.search),
    sealKey: hkdf(memberKey, SUBKEY_LABELS.seal),
    fieldKeySchedule: keySchedule(fieldKey).subarray(32),
    ghashKey: h,
    ghashTable: Buffer.concat([1, 2, 3, 4].map((v) => tableEntry(h, 1, v))), // window 3 (byte 1's low nibble), values 1–4
  };
}

/** A test member key: its seed (what the page is given) and the bytes to search for. */
export interface TestKey extends KeyParts {
  seed: string;
  keyId: string;
}

/** A fresh random test key. */
export function testKey(keyId: string): TestKey {
  const seed = randomBytes(32);
  const memberKey = hkdf(seed, TEST_KEY_INFO);
  return { seed: seed.toString('base64url'), keyId, ...keyParts(memberKey) };
}
