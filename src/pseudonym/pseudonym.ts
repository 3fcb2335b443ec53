// Keyed pseudonyms for the attribute domain (docs/threat-model.md §1): attribute records (checkups, vitals,
// steps) are filed under a pseudonym that only a holder of the link key can connect to a member.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { abytes, allocSecret, astring, fillRandom, toBase64url, utf8, wipe } from '../internal/bytes.ts';
import { hkdfSha256Into } from '../internal/hkdf.ts';

/** Length of a link key in bytes. */
export const LINK_KEY_LENGTH = 32;

/** What a purpose may look like: 1–64 characters of `A–Z a–z 0–9 . _ : -`. */
export const PURPOSE_PATTERN: RegExp = /^[A-Za-z0-9._:-]{1,64}$/;

/** HKDF `info` prefix of a purpose key; the purpose follows it. Part of the pseudonym format. */
const PURPOSE_LABEL = 'tokumei/v1/pseudonym:';
const EMPTY = /* @__PURE__ */ new Uint8Array(0);

/** Options of {@link pseudonym}. */
export interface PseudonymOptions {
  /**
   * What the pseudonym is for, e.g. `'portal'` or `'analytics-2026'`: pseudonyms of one subject
   * under two purposes are unlinkable without the link key. 1–64 characters of
   * `A–Z a–z 0–9 . _ : -`.
   */
  purpose: string;
}

/**
 * Generates a new random link key: 32 bytes from the platform CSPRNG, in a buffer that is
 * yours. Keep it in the key environment (wrapped under the master key, like member keys); the
 * data environment must never see it. Wipe it with `fill(0)` when you are done.
 *
 * @returns 32 fresh random bytes
 * @example
 * ```ts
 * import { generateLinkKey } from 'tokumei/server';
 * const linkKey = generateLinkKey(); // store wrapped, next to the member keys
 * ```
 */
export function generateLinkKey(): Uint8Array {
  return fillRandom(allocSecret(LINK_KEY_LENGTH));
}

/**
 * The pseudonym of a subject for one purpose: base64url of
 * HMAC-SHA256(purposeKey, utf8(subjectId)), where purposeKey = HKDF-SHA256(linkKey, salt = "",
 * info = "tokumei/v1/pseudonym:" ‖ purpose) — 43 characters. The same subject and purpose always
 * give the same pseudonym; two purposes give unrelated ones; without the link key nobody can
 * compute one or tell whose it is (docs/search.md §6).
 *
 * Runs in the key environment, which holds the link key; the data environment stores only the
 * pseudonyms it is given.
 *
 * @param linkKey - the key environment's 32-byte link key; read, never kept, never wiped
 * @param subjectId - who the pseudonym stands for, e.g. a member number (non-empty)
 * @param options - `purpose`: what the pseudonym is for
 * @returns the pseudonym, 43 base64url characters
 * @throws TypeError / RangeError when `linkKey` is not 32 bytes, `subjectId` is not a non-empty
 *   string, or `purpose` is malformed
 * @example
 * ```ts
 * import { pseudonym } from 'tokumei/server';
 * const filedUnder = pseudonym(linkKey, 'M000001', { purpose: 'portal' });
 * const exportedAs = pseudonym(linkKey, 'M000001', { purpose: 'analytics-2026' }); // unlinkable to filedUnder
 * ```
 */
export function pseudonym(linkKey: Uint8Array, subjectId: string, options: PseudonymOptions): string {
  abytes('linkKey', linkKey, LINK_KEY_LENGTH);
  astring('subjectId', subjectId, true);
  if (typeof options !== 'object' || options === null) throw new TypeError('"options" expected { purpose }');
  const { purpose } = options;
  astring('purpose', purpose);
  if (!PURPOSE_PATTERN.test(purpose)) {
    throw new RangeError(`"purpose" expected 1-64 characters of [A-Za-z0-9._:-], got length=${purpose.length}`);
  }
  const purposeKey = allocSecret(32);
  const out = new Uint8Array(32); // the pseudonym itself: public
  try {
    // One key per purpose (docs/format.md §1): a pseudonym under one purpose says nothing about another.
    hkdfSha256Into(purposeKey, linkKey, EMPTY, utf8(PURPOSE_LABEL + purpose));
    hmac.create(sha256, purposeKey).update(utf8(subjectId)).digestInto(out);
    return toBase64url(out);
  } finally {
    wipe(purposeKey);
  }
}
