// The keys a test page derives from its seeds, computed in Node: the needles of residue scans.
import { hkdfSync, randomBytes } from 'node:crypto';
import { SUBKEY_LABELS } from '../../src/keys/subkeys.ts';

const TEST_KEY_INFO = 'tokumei-test/member-key'; // same as page.ts

function hkdf(ikm: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), info, 32));
}

/** A test member key: its seed (what the page is given) and the bytes to search for. */
export interface TestKey {
  seed: string;
  keyId: string;
  memberKey: Uint8Array;
  fieldKey: Uint8Array;
  searchKey: Uint8Array;
}

/** A fresh random test key. */
export function testKey(keyId: string): TestKey {
  const seed = randomBytes(32);
  const memberKey = hkdf(seed, TEST_KEY_INFO);
  return {
    seed: seed.toString('base64url'),
    keyId,
    memberKey,
    fieldKey: hkdf(memberKey, SUBKEY_LABELS.field),
    searchKey: hkdf(memberKey, SUBKEY_LABELS.search),
  };
}
