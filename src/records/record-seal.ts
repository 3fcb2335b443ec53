// The optional record seal (docs/format.md §8): one HMAC-SHA256, under the member key's seal
// subkey, over every envelope, every attribute value, the search tags and a version the
// application increments. Fields are authenticated one by one; the seal also catches a field
// rolled back to an older envelope, an optional field dropped, an attribute changed.
import { decryptionFailed, type TokumeiError } from '../errors.ts';
import { allocSecret, concat, equalBytes, fromBase64url, loneSurrogateAt, toBase64url, utf8, wipe } from '../internal/bytes.ts';
import { hmacSha256Into } from '../internal/sha256.ts';
import { KEY_ID_PATTERN, keyMaterial, type MemberKey } from '../keys/member-key.ts';
import { fieldFormatError, FORMAT_VERSION } from './envelope.ts';
import { own, type Schema } from './schema.ts';

/** The sealed record's keys that hold the seal and the version it covers. */
export const SEAL_KEY = '$seal';
export const VERSION_KEY = '$version';


/**
 * An attribute value (or the `$search` object) as the seal covers it: the JSON text it will be
 * stored as, in RFC 8785 canonical form (keys sorted by UTF-16 code units, ECMAScript number
 * form). So a record that went through JSON storage and back verifies like the original.
 */
function canonicalJson(value: unknown, field: string): string {
  const bad = (why: string): TokumeiError => fieldFormatError(`attribute value ${why}`, field);
  let parsed: unknown;
  try {
    parsed = JSON.parse(JSON.stringify(value));
  } catch {
    throw bad('has no JSON form, so it cannot be sealed');
  }
  const out = (v: unknown): string =>
    v === null || typeof v !== 'object'
      ? typeof v === 'string' && loneSurrogateAt(v) >= 0
        ? (() => { throw bad('is not well-formed Unicode'); })()
        : JSON.stringify(v)
      : Array.isArray(v)
        ? `[${v.map(out)}]`
        : `{${Object.keys(v).sort().map((k) => `${out(k)}:${out((v as Record<string, unknown>)[k])}`)}}`;
  return out(parsed);
}

/** The message the MAC covers (docs/format.md §8.2); absent and `null` are the same to it. */
function message(schema: Schema, record: Record<string, unknown>, recordId: string, keyId: string, version: number): Uint8Array {
  const lp8 = (s: string): Uint8Array => concat(Uint8Array.of(s.length), utf8(s)); // ASCII: names, key ids
  const u32 = (n: number): Uint8Array => Uint8Array.of(n >>> 24, n >>> 16, n >>> 8, n);
  const id = utf8(recordId);
  const parts = [utf8('tokumei.record'), Uint8Array.of(FORMAT_VERSION), lp8(schema.name), u32(schema.version), Uint8Array.of(id.length >> 8, id.length), id, lp8(keyId), u32(Math.floor(version / 2 ** 32)), u32(version)];
  // Fields by name (ASCII: byte and code-unit order agree), then the search tags.
  const names = schema.fields.map((f) => f.name).sort();
  for (const name of [...names, '$search']) {
    const f = schema.field(name);
    const v = own(record, name);
    parts.push(lp8(name));
    if (v === undefined || v === null) parts.push(Uint8Array.of(0));
    else {
      // Identity values are strings here: sealRecord and openRecord check types first.
      const text = utf8(f?.kind === 'identity' ? (v as string) : canonicalJson(v, name));
      parts.push(Uint8Array.of(f?.kind === 'identity' ? 1 : 2), u32(text.length), text);
    }
  }
  return concat(...parts);
}

function macInto(out: Uint8Array, key: MemberKey, schema: Schema, record: Record<string, unknown>, recordId: string, keyId: string, version: number): Uint8Array {
  hmacSha256Into(out, keyMaterial(key, 'seal'), message(schema, record, recordId, keyId, version));
  return out;
}

/** The `$seal` value of a record sealed with `key`: "tr1." ‖ base64url(0x01 ‖ len8 ‖ keyId ‖ mac). */
export function recordSeal(key: MemberKey, schema: Schema, sealed: Record<string, unknown>, recordId: string, version: number): string {
  const mac = allocSecret(32);
  try {
    return 'tr1.' + toBase64url(concat(Uint8Array.of(FORMAT_VERSION, key.keyId.length), utf8(key.keyId), macInto(mac, key, schema, sealed, recordId, key.keyId, version)));
  } finally {
    wipe(mac);
  }
}

/** Parses `$seal` into the key id that made it and its MAC (docs/format.md §8.3); `ERR_FORMAT` when malformed. */
export function parseSeal(value: unknown): { keyId: string; mac: Uint8Array } {
  const bytes = typeof value === 'string' && value.startsWith('tr1.') ? fromBase64url(value, 4) : undefined;
  const n = bytes?.[1] ?? 0;
  const keyId = bytes === undefined ? '' : String.fromCharCode(...bytes.subarray(2, 2 + n));
  if (bytes?.[0] !== FORMAT_VERSION || bytes.length !== 2 + n + 32 || !KEY_ID_PATTERN.test(keyId)) {
    throw fieldFormatError(typeof value === 'string' && /^tr[0-9]+\./.test(value) && !value.startsWith('tr1.') ? 'unsupported record seal version' : 'malformed record seal', SEAL_KEY);
  }
  return { keyId, mac: bytes.subarray(2 + n) };
}

/** The record's version, a safe integer from 0 (`ERR_FORMAT` otherwise). */
export function recordVersion(record: Record<string, unknown>): number {
  const v = own(record, VERSION_KEY);
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw fieldFormatError('a sealed record needs a version, an integer from 0', VERSION_KEY);
  return v as number;
}

/** Checks a record's seal with `key` (the key its id names): the opaque error if it does not verify. */
export function verifySeal(key: MemberKey, seal: { keyId: string; mac: Uint8Array }, schema: Schema, sealed: Record<string, unknown>, recordId: string, version: number): void {
  const mac = allocSecret(32);
  try {
    if (!equalBytes(macInto(mac, key, schema, sealed, recordId, seal.keyId, version), seal.mac)) throw decryptionFailed(SEAL_KEY);
  } finally {
    wipe(mac);
  }
}
