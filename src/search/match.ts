// The data environment's side of equality search (G8): test a stored tag against a token.
// No key is needed; T, the per-value secret inside the token, is all it takes.
import { TokumeiError } from '../errors.ts';
import type { SealedRecord } from '../records/record.ts';
import { decodeToken, TAG_CHARS, TAG_PREFIX, type SearchContext } from './format.ts';
import { HmacMidstate } from './hmac-midstate.ts';

interface PreparedToken extends SearchContext {
  token: string;
  hmac: HmacMidstate;
}

// A scan calls matchesSearch with the same token once per record: the parsed token and its
// hashed key blocks are kept for the last token seen, so a scan parses it once. Created on
// first use, never at import.
let last: PreparedToken | undefined;
let scratch: Uint8Array | undefined;
let index: Int16Array | undefined;

function prepare(token: string): PreparedToken {
  if (last !== undefined && last.token === token) return last;
  const { schemaName, schemaVersion, fieldName, secret } = decodeToken(token);
  let hmac: HmacMidstate;
  try {
    hmac = new HmacMidstate(secret);
  } finally {
    secret.fill(0);
  }
  last?.hmac.destroy();
  last = { token, schemaName, schemaVersion, fieldName, hmac };
  return last;
}

function base64urlIndex(): Int16Array {
  if (index !== undefined) return index;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  index = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) index[alphabet.charCodeAt(i)] = i;
  return index;
}

function malformedTag(): TokumeiError {
  return new TokumeiError('ERR_FORMAT', 'malformed search tag');
}

/**
 * Decodes the 43 base64url characters after the prefix into 32 bytes, strictly (RFC 4648 §5,
 * zero trailing bits). Returns false for anything else.
 */
function decodeTagInto(tag: string, out: Uint8Array, idx: Int16Array): boolean {
  let bad = 0;
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = TAG_PREFIX.length; i < TAG_CHARS; i++) {
    const c = tag.charCodeAt(i);
    const v = c < 128 ? idx[c]! : -1;
    bad |= v; // a -1 sets the sign bit
    acc = ((acc << 6) | (v & 63)) & 0xfff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = acc >>> bits;
    }
  }
  return bad >= 0 && (acc & ((1 << bits) - 1)) === 0;
}

/**
 * Tells whether a sealed record holds the value a search token was made for. Runs in the data
 * environment and needs no key: the token carries the field's name and a per-value secret, and
 * the record's tag for that field (in its `$search` object) is tested against it with
 * HMAC-SHA256 in constant time. A token made with another member key, for another value, field,
 * schema or schema version never matches (but for a 2^-128 chance).
 *
 * A server scans by calling it once per record with the same token; the parsed token is kept
 * for the last token seen, so a scan parses it only once (about a million records per second on
 * one core, docs/search.md §5).
 *
 * @param token - a `tq1.` token from {@link searchToken}
 * @param sealed - a record from `sealRecord`
 * @returns `true` when the record's tag for the token's field matches; `false` when it does not,
 *   or when the record has no tag for that field (an optional field left out, a record sealed
 *   before the field was made searchable, `$search` absent or `null`)
 * @throws TokumeiError `ERR_FORMAT` when the token, the record's `$search` object or its tag is
 *   malformed or of an unknown version; TypeError when `token` is not a string or `sealed` not
 *   an object
 * @example
 * ```ts
 * import { matchesSearch } from 'tokumei/server';
 * // `token` came from a signed-in key holder: searchToken(key, memberSchema, 'fullName', 'ﾔﾏﾀﾞ ﾀﾛｳ')
 * const hits = allSealedMembers.filter((record) => matchesSearch(token, record));
 * ```
 */
export function matchesSearch(token: string, sealed: SealedRecord): boolean {
  if (typeof sealed !== 'object' || sealed === null) {
    throw new TypeError(`"sealed" expected object, got ${sealed === null ? 'null' : typeof sealed}`);
  }
  const prepared = prepare(token);
  const tags = Object.hasOwn(sealed, '$search') ? sealed.$search : undefined;
  // `$search: null` is a record without tags, as JSON and SQL stores write an absent value.
  if (tags === undefined || tags === null) return false;
  if (typeof tags !== 'object' || Array.isArray(tags)) throw new TokumeiError('ERR_FORMAT', 'malformed $search object');
  if (!Object.hasOwn(tags, prepared.fieldName)) return false;
  const tag: unknown = (tags as Record<string, unknown>)[prepared.fieldName];
  if (typeof tag !== 'string') throw malformedTag();
  if (tag.length !== TAG_CHARS || !tag.startsWith(TAG_PREFIX)) {
    if (/^ts[0-9]+\./.test(tag) && !tag.startsWith(TAG_PREFIX)) throw new TokumeiError('ERR_FORMAT', 'unsupported search tag version');
    throw malformedTag();
  }
  scratch ??= new Uint8Array(new ArrayBuffer(32));
  if (!decodeTagInto(tag, scratch, base64urlIndex())) throw malformedTag();
  return prepared.hmac.verify16(scratch);
}
