// Per-purpose subkeys of a member key (docs/format.md §1): one member key never serves two purposes.
import { allocSecret, utf8 } from '../internal/bytes.ts';
import { hkdfSha256Into } from '../internal/hkdf.ts';

/**
 * The fixed HKDF `info` labels, one per purpose. They are part of wire format v1
 * (docs/format.md §4): changing one makes every sealed value unreadable.
 */
export const SUBKEY_LABELS = {
  /** AES-256-GCM key for identity fields. */
  field: 'tokumei/v1/field-encryption',
  /** HMAC-SHA256 key for randomized equality-search tags. */
  search: 'tokumei/v1/search-tag',
  /** HMAC-SHA256 key for record seals (docs/format.md §8). */
  seal: 'tokumei/v1/record-seal',
} as const;

/** A purpose a member key's subkey serves. */
export type SubkeyPurpose = keyof typeof SUBKEY_LABELS;

const SALT = /* @__PURE__ */ new Uint8Array(0);

/** Derives the subkey for `purpose` into a fresh off-heap buffer the caller must wipe. */
export function deriveSubkey(memberKey: Uint8Array, purpose: SubkeyPurpose): Uint8Array {
  const out = allocSecret(32);
  hkdfSha256Into(out, memberKey, SALT, utf8(SUBKEY_LABELS[purpose]));
  return out;
}
