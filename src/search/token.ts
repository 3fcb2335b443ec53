// The key holder's side of equality search (G8): search tags written by sealRecord, and the
// tokens that find them. T = HMAC-SHA256(search subkey, field context ‖ normalized value).
import { TokumeiError } from '../errors.ts';
import { allocSecret, astring, concat, randomBytes, toBase64url, wipe } from '../internal/bytes.ts';
import { hmacSha256Into } from '../internal/sha256.ts';
import { assertKeySource, sealingKey, type KeySource } from '../keys/keyring.ts';
import { keyMaterial, type MemberKey } from '../keys/member-key.ts';
import { assertSchema, FIELD_NAME_PATTERN, type Schema, type SearchMode } from '../records/schema.ts';
import { encodeToken, SALT_LENGTH, TAG_MAC_LENGTH, TAG_PREFIX, TOKEN_SECRET_LENGTH, tokenMessage, type SearchContext } from './format.ts';
import { normalizeSearchValue } from './normalize.ts';

/** Writes T for one value into `out` (32 bytes, off-heap, the caller's to wipe). */
function tokenSecretInto(out: Uint8Array, key: MemberKey, ctx: SearchContext, mode: SearchMode, value: string): void {
  const searchKey = keyMaterial(key, 'search');
  const message = tokenMessage(ctx, mode, normalizeSearchValue(mode, value));
  try {
    hmacSha256Into(out, searchKey, message);
  } finally {
    wipe(message); // holds the normalized value
  }
}

/**
 * The `$search` object of a record being sealed: one `ts1.` tag per searchable identity field
 * present, each with a fresh random salt. `undefined` when the schema has no searchable field
 * or the record leaves them all out. Called by `sealRecord` after it has checked the record.
 */
export function searchTags(source: KeySource, schema: Schema, record: Record<string, unknown>): Record<string, string> | undefined {
  let tags: Record<string, string> | undefined;
  const key = sealingKey(source);
  const secret = allocSecret(TOKEN_SECRET_LENGTH);
  const mac = allocSecret(32);
  try {
    for (const f of schema.fields) {
      const value = record[f.name];
      if (f.search === undefined || typeof value !== 'string') continue;
      tokenSecretInto(secret, key, { schemaName: schema.name, schemaVersion: schema.version, fieldName: f.name }, f.search, value);
      // A fresh salt per tag: the same value sealed twice gives unrelated tags (G8).
      const salt = randomBytes(SALT_LENGTH);
      hmacSha256Into(mac, secret, salt);
      tags ??= {};
      tags[f.name] = TAG_PREFIX + toBase64url(concat(salt, mac.subarray(0, TAG_MAC_LENGTH)));
    }
    return tags;
  } finally {
    wipe(secret, mac);
  }
}

/**
 * Makes a search token: what a key holder hands to the data environment to find the records
 * whose field holds `value` (compared after normalization, docs/search.md §2). The server tests
 * it against each record with `matchesSearch` from `tokumei/server`, without any key.
 *
 * The token lets whoever holds it test any record sealed under this key for this one value, for
 * as long as the key lives: treat it as a secret, send it over TLS only, and do not log or
 * cache it (docs/search.md §4).
 *
 * @param key - a {@link MemberKey}, or a {@link Keyring} (its primary key); a token finds only
 *   records sealed under that key
 * @param schema - the schema the records were sealed with (the token is bound to its name and
 *   version)
 * @param field - an identity field declared with `search: 'exact'` or `search: 'name-ja'`
 * @param value - the value to look for, in any form normalization folds together
 * @returns a `tq1.` token string
 * @throws TokumeiError `ERR_SCHEMA` when `field` is not in the schema or was not declared with
 *   `search`; `ERR_DESTROYED` when the key was destroyed; TypeError for malformed arguments
 * @example
 * ```ts
 * import { searchToken } from 'tokumei';
 * const token = searchToken(key, memberSchema, 'fullName', 'ﾔﾏﾀﾞ ﾀﾛｳ'); // same token as 'やまだ たろう'
 * const hits = await fetch('/api/members/search', { method: 'POST', body: JSON.stringify({ token }) });
 * ```
 */
export function searchToken(key: KeySource, schema: Schema, field: string, value: string): string {
  assertKeySource(key);
  assertSchema(schema);
  astring('field', field);
  astring('value', value);
  const f = schema.field(field);
  // Only a name that is a valid field name goes into a message: never echo arbitrary input.
  if (f === undefined) {
    const name = FIELD_NAME_PATTERN.test(field) ? `"${field}"` : `of length ${field.length}`;
    throw new TokumeiError('ERR_SCHEMA', `field ${name} is not in schema ${schema.name} v${schema.version}`);
  }
  if (f.search === undefined) {
    throw new TokumeiError('ERR_SCHEMA', `field "${f.name}" of schema ${schema.name} v${schema.version} is not searchable (declare it with search)`);
  }
  const ctx: SearchContext = { schemaName: schema.name, schemaVersion: schema.version, fieldName: f.name };
  const secret = allocSecret(TOKEN_SECRET_LENGTH);
  try {
    tokenSecretInto(secret, sealingKey(key), ctx, f.search, value);
    return encodeToken(ctx, secret);
  } finally {
    wipe(secret);
  }
}
