// The optional record seal (docs/format.md §8): one HMAC-SHA256, under the member key's seal
// subkey, over every envelope, every attribute value, the search tags and a version the
// application increments. Fields are authenticated one by one; the seal also catches a field
// rolled back to an older envelope, an optional field dropped, an attribute changed.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { decryptionFailed, TokumeiError } from '../errors.ts';
import { allocSecret, equalBytes, fromBase64url, loneSurrogateAt, toBase64url, utf8, wipe } from '../internal/bytes.ts';
import { KEY_ID_PATTERN, keyMaterial, type MemberKey } from '../keys/member-key.ts';
import { FORMAT_VERSION } from './envelope.ts';
import type { Schema } from './schema.ts';

/** Every record seal starts with this. */
export const SEAL_PREFIX = 'tr1.';
/** The sealed record's keys that hold the seal and the version it covers. */
export const SEAL_KEY = '$seal';
export const VERSION_KEY = '$version';
const MAC_LENGTH = 32;

/**
 * An attribute value (or the `$search` object) as the seal covers it: the JSON text it will be
 * stored as, canonicalized by RFC 8785 (keys sorted by UTF-16 code units, ECMAScript number
 * form). So a record that went through JSON storage and back verifies like the original.
 */
function canonicalJson(value: unknown, field: string): string {
  let parsed: unknown;
  try {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('no JSON form');
    parsed = JSON.parse(json);
  } catch {
    throw new TokumeiError('ERR_FORMAT', `attribute value has no JSON form, so it cannot be sealed (field "${field}")`, { field });
  }
  const out = (v: unknown): string => {
    if (typeof v === 'string') {
      if (loneSurrogateAt(v) >= 0) throw new TokumeiError('ERR_FORMAT', `attribute value is not well-formed Unicode (field "${field}")`, { field });
      return JSON.stringify(v);
    }
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map(out).join(',')}]`;
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${out(k)}:${out(o[k])}`).join(',')}}`;
  };
  return out(parsed);
}

const u32 = (n: number): Uint8Array => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);

/**
 * HMAC-SHA256(sealKey, msg) of docs/format.md §8.2 into `out` (32 bytes). Absent and `null`
 * fields are the same to the seal; every other value is length-prefixed.
 */
function macInto(out: Uint8Array, sealKey: Uint8Array, schema: Schema, record: Record<string, unknown>, recordId: string, keyId: string, version: number): void {
  const schemaName = utf8(schema.name);
  const id = utf8(recordId);
  const head = new Uint8Array(14 + 1 + 1 + schemaName.length + 4 + 2 + id.length + 1 + keyId.length + 8);
  const view = new DataView(head.buffer);
  let o = 0;
  head.set(utf8('tokumei.record'), o); o += 14;
  head[o++] = FORMAT_VERSION;
  head[o++] = schemaName.length; head.set(schemaName, o); o += schemaName.length;
  view.setUint32(o, schema.version); o += 4;
  view.setUint16(o, id.length); o += 2;
  head.set(id, o); o += id.length;
  head[o++] = keyId.length;
  for (let i = 0; i < keyId.length; i++) head[o++] = keyId.charCodeAt(i);
  view.setUint32(o, Math.floor(version / 2 ** 32)); view.setUint32(o + 4, version >>> 0);
  const mac = hmac.create(sha256, sealKey).update(head);
  // Fields by name (ASCII, so byte and code-unit order agree), then the search tags.
  const entries: [string, 0 | 1 | 2, string][] = [...schema.fields]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((f) => {
      const v = Object.hasOwn(record, f.name) ? record[f.name] : undefined;
      if (v === undefined || v === null) return [f.name, 0, ''];
      if (f.kind === 'identity') {
        if (typeof v !== 'string') throw new TokumeiError('ERR_FORMAT', `a sealed identity value must be a string (field "${f.name}")`, { field: f.name });
        return [f.name, 1, v];
      }
      return [f.name, 2, canonicalJson(v, f.name)];
    });
  const tags = Object.hasOwn(record, '$search') ? record.$search : undefined;
  entries.push(['$search', tags === undefined || tags === null ? 0 : 2, tags === undefined || tags === null ? '' : canonicalJson(tags, '$search')]);
  for (const [name, kind, text] of entries) {
    const value = utf8(text);
    mac.update(Uint8Array.of(name.length)).update(utf8(name)).update(Uint8Array.of(kind));
    if (kind !== 0) mac.update(u32(value.length)).update(value);
  }
  mac.digestInto(out);
}

/** The `$seal` string of a record sealed (or being sealed) with `key`. */
export function recordSeal(key: MemberKey, schema: Schema, sealed: Record<string, unknown>, recordId: string, version: number): string {
  const mac = allocSecret(MAC_LENGTH);
  try {
    macInto(mac, keyMaterial(key, 'seal'), schema, sealed, recordId, key.keyId, version);
    const body = new Uint8Array(2 + key.keyId.length + MAC_LENGTH);
    body[0] = FORMAT_VERSION;
    body[1] = key.keyId.length;
    for (let i = 0; i < key.keyId.length; i++) body[2 + i] = key.keyId.charCodeAt(i);
    body.set(mac, 2 + key.keyId.length);
    return SEAL_PREFIX + toBase64url(body);
  } finally {
    wipe(mac);
  }
}

/** A parsed `$seal`: which key made it, and its MAC. */
export interface ParsedSeal {
  keyId: string;
  mac: Uint8Array;
}

/** Parses a `$seal` value (docs/format.md §8.3); a malformed one is `ERR_FORMAT`. */
export function parseSeal(value: unknown): ParsedSeal {
  const bad = (): TokumeiError => new TokumeiError('ERR_FORMAT', 'malformed record seal (field "$seal")', { field: SEAL_KEY });
  if (typeof value !== 'string' || !value.startsWith(SEAL_PREFIX) || value.length > 200) {
    if (typeof value === 'string' && /^tr[0-9]+\./.test(value)) throw new TokumeiError('ERR_FORMAT', 'unsupported record seal version (field "$seal")', { field: SEAL_KEY });
    throw bad();
  }
  const bytes = fromBase64url(value, SEAL_PREFIX.length);
  if (bytes === undefined || bytes.length < 2 || bytes[0] !== FORMAT_VERSION || bytes.length !== 2 + bytes[1]! + MAC_LENGTH) throw bad();
  let keyId = '';
  for (let i = 2; i < 2 + bytes[1]!; i++) keyId += String.fromCharCode(bytes[i]!);
  if (!KEY_ID_PATTERN.test(keyId)) throw bad();
  return { keyId, mac: bytes.subarray(2 + bytes[1]!) };
}

/** The record's version, a safe integer ≥ 0 (`ERR_FORMAT` otherwise). */
export function recordVersion(record: Record<string, unknown>): number {
  const v = Object.hasOwn(record, VERSION_KEY) ? record[VERSION_KEY] : undefined;
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new TokumeiError('ERR_FORMAT', 'a sealed record needs a version, an integer from 0 (field "$version")', { field: VERSION_KEY });
  return v as number;
}

/** Checks a sealed record's seal with `key` (the key its id names); the opaque error if it does not verify. */
export function verifySeal(key: MemberKey, seal: ParsedSeal, schema: Schema, sealed: Record<string, unknown>, recordId: string, version: number): void {
  const mac = allocSecret(MAC_LENGTH);
  try {
    macInto(mac, keyMaterial(key, 'seal'), schema, sealed, recordId, seal.keyId, version);
    if (!equalBytes(mac, seal.mac)) throw decryptionFailed(SEAL_KEY);
  } finally {
    wipe(mac);
  }
}
