// Wire format v1 of search tokens and search tags (docs/search.md §3). Internal.
//   token = "tq1." ‖ base64url( 0x01 ‖ len8(schemaName) ‖ schemaName ‖ u32be(schemaVersion)
//                               ‖ len8(fieldName) ‖ fieldName ‖ T(32) )
//   tag   = "ts1." ‖ base64url( salt(16) ‖ HMAC-SHA256(T, salt)[0..16] )
//   T     = HMAC-SHA256(searchKey, "tokumei.search" ‖ 0x01 ‖ mode ‖ len8(schemaName) ‖ schemaName
//                                  ‖ u32be(schemaVersion) ‖ len8(fieldName) ‖ fieldName ‖ value)
import { TokumeiError } from '../errors.ts';
import { concat, fromBase64url, toBase64url, utf8 } from '../internal/bytes.ts';
import { FIELD_NAME_PATTERN, SCHEMA_NAME_PATTERN, type SearchMode } from '../records/schema.ts';

/** The format version byte, and the digit in the `tq1.` / `ts1.` prefixes. */
export const SEARCH_FORMAT_VERSION = 1;
export const TOKEN_PREFIX = 'tq1.';
export const TAG_PREFIX = 'ts1.';
/** Length of T, the per-value secret a token carries. */
export const TOKEN_SECRET_LENGTH = 32;
export const SALT_LENGTH = 16;
/** The tag keeps the first 16 bytes of HMAC-SHA256(T, salt) (NIST SP 800-107 §5.3.3). */
export const TAG_MAC_LENGTH = 16;
/** A tag is always this many characters: 4 + ⌈32 · 4 / 3⌉. */
export const TAG_CHARS: number = TAG_PREFIX.length + 43;

/** Where a token applies: the public part of a token. */
export interface SearchContext {
  schemaName: string;
  schemaVersion: number;
  fieldName: string;
}

function u32be(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/**
 * The message T is the HMAC of (the key is the member key's search subkey). It holds the
 * normalized value: the caller wipes it after use.
 */
export function tokenMessage(ctx: SearchContext, mode: SearchMode, normalized: string): Uint8Array {
  const schema = utf8(ctx.schemaName);
  const field = utf8(ctx.fieldName);
  const value = utf8(normalized);
  try {
    // Mode byte: 0x01 'exact', 0x02 'name-ja'. The value is last, so it needs no length prefix:
    // everything before it is fixed or length-prefixed.
    const head = Uint8Array.of(SEARCH_FORMAT_VERSION, mode === 'exact' ? 1 : 2, schema.length);
    return concat(utf8('tokumei.search'), head, schema, u32be(ctx.schemaVersion), Uint8Array.of(field.length), field, value);
  } finally {
    value.fill(0);
  }
}

/** Serializes a token. `secret` is T. */
export function encodeToken(ctx: SearchContext, secret: Uint8Array): string {
  const schema = utf8(ctx.schemaName);
  const field = utf8(ctx.fieldName);
  const body = concat(Uint8Array.of(SEARCH_FORMAT_VERSION, schema.length), schema, u32be(ctx.schemaVersion), Uint8Array.of(field.length), field, secret);
  try {
    return TOKEN_PREFIX + toBase64url(body);
  } finally {
    body.fill(0); // held T; the string it became is the token itself
  }
}

/** A parsed token. `secret` is a view of T in a buffer the caller wipes when done. */
export interface DecodedToken extends SearchContext {
  secret: Uint8Array;
}

function tokenError(message: string): TokumeiError {
  return new TokumeiError('ERR_FORMAT', message);
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/**
 * Parses a token; every malformation is `ERR_FORMAT` (a token is not authenticated: a token
 * that parses but was altered simply matches nothing).
 */
export function decodeToken(token: unknown): DecodedToken {
  if (typeof token !== 'string') throw new TypeError(`"token" expected string, got ${token === null ? 'null' : typeof token}`);
  if (!token.startsWith(TOKEN_PREFIX)) {
    throw tokenError(/^tq[0-9]+\./.test(token) ? 'unsupported search token version' : 'not a tokumei search token');
  }
  const body = token.slice(TOKEN_PREFIX.length);
  // Longest token: 1 + 1 + 64 + 4 + 1 + 64 + 32 = 167 bytes = 223 characters.
  if (body.length > 223 || !/^[A-Za-z0-9_-]*$/.test(body)) throw tokenError('malformed search token');
  const bytes = fromBase64url(body);
  if (bytes === undefined) throw tokenError('malformed search token');
  try {
    if (bytes.length < 2) throw tokenError('malformed search token');
    if (bytes[0] !== SEARCH_FORMAT_VERSION) throw tokenError('unsupported search token version');
    let o = 1;
    const schemaEnd = o + 1 + bytes[o]!;
    const schemaName = ascii(bytes, o + 1, Math.min(schemaEnd, bytes.length));
    o = schemaEnd;
    if (o + 5 > bytes.length) throw tokenError('malformed search token');
    const schemaVersion = new DataView(bytes.buffer, bytes.byteOffset).getUint32(o);
    o += 4;
    const fieldEnd = o + 1 + bytes[o]!;
    const fieldName = ascii(bytes, o + 1, Math.min(fieldEnd, bytes.length));
    o = fieldEnd;
    if (
      bytes.length !== o + TOKEN_SECRET_LENGTH ||
      !SCHEMA_NAME_PATTERN.test(schemaName) ||
      schemaVersion === 0 ||
      !FIELD_NAME_PATTERN.test(fieldName)
    ) {
      throw tokenError('malformed search token');
    }
    return { schemaName, schemaVersion, fieldName, secret: bytes.subarray(o) };
  } catch (err) {
    bytes.fill(0);
    throw err;
  }
}
