import { ainteger, astring, randomBytes, utf8Length } from '../internal/bytes.ts';
import { assertKeySource, keyFor, sealingKey, type KeySource } from '../keys/keyring.ts';
import { searchTags } from '../search/token.ts';
import { MAX_RECORD_ID_BYTES, type FieldContext } from './aad.ts';
import { fieldError } from '../errors.ts';
import { NONCE_LENGTH } from './envelope.ts';
import { openField, sealField } from './field-cipher.ts';
import { parseSeal, recordSeal, recordVersion, SEAL_KEY, VERSION_KEY, verifySeal } from './record-seal.ts';
import { assertSchema, FIELD_NAME_PATTERN, own, type RecordInput, type RecordOf, type Schema } from './schema.ts';

/** A record in the clear, untyped: identity values are strings, attributes anything. */
export type PlainRecord = Record<string, unknown>;

/**
 * A sealed record as it is stored: each identity field holds a `tk1.` envelope string,
 * attribute fields are unchanged. Keys starting with `$` are reserved for tokumei: `$search`
 * (search tags, docs/search.md), `$seal` and `$version` (the record seal, docs/format.md §8).
 */
export type SealedRecord = Record<string, unknown>;

/** What the reserved `$` keys of a sealed record hold. */
export type SealedRecordExtras = {
  /** One `ts1.` equality-search tag per searchable identity field present (docs/search.md). */
  $search?: Record<string, string>;
  /** The record seal, `tr1.…` (docs/format.md §8), when the record was sealed with a version. */
  $seal?: string;
  /** The version the seal covers, as the application gave it to `sealRecord`. */
  $version?: number;
};

/**
 * A sealed record of a schema, as {@link sealRecord} returns it: `tk1.` envelope strings in the
 * identity fields, the attributes as given, and the reserved `$` keys.
 */
export type SealedRecordOf<S> = RecordOf<S> & SealedRecordExtras;

/** Options of {@link sealRecord} and {@link openRecord}: the record id. */
export interface RecordOptions {
  /**
   * The record's id, bound into every sealed value: a value moved to another record fails to
   * open. 1–1024 UTF-8 bytes of well-formed Unicode (docs/format.md §1.2).
   */
  recordId: string;
}

/** Options of {@link sealRecord}. */
export interface SealOptions extends RecordOptions {
  /**
   * Adds a record seal covering this version (an integer from 0 that the application
   * increments on every write; docs/format.md §8). Required when the schema has `recordSeal`.
   */
  version?: number;
}

/** Options of {@link openRecord}. */
export interface OpenOptions extends RecordOptions {
  /**
   * The oldest record version the caller accepts: a record whose seal covers an older version
   * is `ERR_STALE_RECORD`, and a record without a seal is refused (docs/format.md §8.4).
   */
  minVersion?: number;
}

function checkArgs(key: unknown, schema: unknown, record: unknown, options: unknown): asserts record is Record<string, unknown> {
  assertKeySource(key);
  assertSchema(schema);
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new TypeError(`"record" expected object, got ${record === null ? 'null' : Array.isArray(record) ? 'array' : typeof record}`);
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('"options" expected { recordId }');
  const { recordId } = options as RecordOptions;
  astring('recordId', recordId, true);
  const bytes = utf8Length(recordId);
  if (bytes > MAX_RECORD_ID_BYTES) throw new RangeError(`"recordId" expected at most ${MAX_RECORD_ID_BYTES} UTF-8 bytes, got ${bytes} bytes`);
}

/** Rejects unknown and missing fields; names fields, never values. */
function checkShape(schema: Schema, record: Record<string, unknown>, allowReserved: boolean): void {
  for (const name of Object.keys(record)) {
    if (allowReserved && name.startsWith('$')) continue;
    if (schema.field(name) === undefined) {
      // Only a name shaped like a field name is repeated: never echo arbitrary input.
      throw fieldError('ERR_SCHEMA', `a field not in schema ${schema.name} v${schema.version}`, FIELD_NAME_PATTERN.test(name) ? name : undefined);
    }
  }
  for (const f of schema.fields) {
    if (f.optional) continue;
    const v = own(record, f.name);
    // A required identity field holding null is a value of the wrong type (ERR_FORMAT, below).
    if (v === undefined) throw fieldError('ERR_SCHEMA', `missing from a record of schema ${schema.name} v${schema.version}`, f.name);
  }
}

/** A field's value is present unless absent, or `null` in an optional field. */
function present(optional: boolean, v: unknown): boolean {
  return v !== undefined && !(optional && v === null);
}

/** The type an identity value or a typed attribute must have (ERR_FORMAT naming the field). */
function checkTypes(schema: Schema, record: Record<string, unknown>): void {
  for (const f of schema.fields) {
    const want = f.kind === 'identity' ? 'string' : f.type;
    const v = own(record, f.name);
    if (want !== undefined && present(f.optional, v) && typeof v !== want) {
      throw fieldError('ERR_FORMAT', `value must be a ${want}, got ${v === null ? 'null' : typeof v}`, f.name);
    }
  }
}

function context(schema: Schema, fieldName: string, recordId: string): FieldContext {
  return { schemaName: schema.name, schemaVersion: schema.version, fieldName, recordId };
}

/**
 * Seals a record: each identity field becomes a `tk1.` envelope (AES-256-GCM, a fresh random
 * nonce, padded to hide its length, bound to schema, version, field, record id and key id);
 * attribute fields are copied through unchanged. An optional field that is absent or `null`
 * is left out. Given a `version`, the record also gets a record seal (`$seal`, `$version`).
 *
 * @param key - a {@link MemberKey}, or a {@link Keyring} (its primary key seals)
 * @param schema - from {@link defineSchema}; its fields type `record`
 * @param record - every required field of the schema, and no other
 * @param options - `recordId`, bound into every sealed value; `version`, to add a record seal
 * @returns a new sealed record; the input is not modified. When the schema has searchable
 *   fields (`search: 'exact' | 'name-ja'`), the record also carries `$search`: one randomized
 *   equality-search tag per such field (docs/search.md)
 * @throws TokumeiError `ERR_SCHEMA` (a missing or unknown field), `ERR_FORMAT` (an identity value
 *   that is not a string, not well-formed Unicode, or longer than 64 KiB; with a seal, an
 *   attribute with no JSON form), `ERR_DESTROYED` — each naming the field in `field`;
 *   TypeError / RangeError for malformed arguments
 * @example
 * ```ts
 * import { defineSchema, generateMemberKey, sealRecord } from 'tokumei';
 * const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });
 * const key = generateMemberKey();
 * const sealed = sealRecord(key, schema, { id: 'M000001', fullName: '山田 太郎' }, { recordId: 'M000001' });
 * sealed.fullName; // "tk1.AQ…"
 * ```
 */
export function sealRecord<S extends Schema>(key: KeySource, schema: S, record: RecordInput<S>, options: SealOptions): SealedRecordOf<S> {
  checkArgs(key, schema, record, options);
  checkShape(schema, record, false);
  const { version } = options;
  if (version !== undefined) ainteger('version', version, 0, Number.MAX_SAFE_INTEGER);
  else if (schema.recordSeal) throw new TypeError(`"version" expected integer: schema ${schema.name} v${schema.version} seals every record`);
  checkTypes(schema, record);
  // One CSPRNG call for every value's nonce (NONCE_LENGTH bytes each, never shared).
  const nonces = randomBytes(NONCE_LENGTH * schema.fields.length);
  const out: Record<string, unknown> = {};
  schema.fields.forEach((f, i) => {
    const v = own(record, f.name);
    if (!present(f.optional, v)) return;
    if (f.kind === 'attribute') out[f.name] = v;
    else {
      out[f.name] = sealField(key, context(schema, f.name, options.recordId), v as string, nonces.subarray(i * NONCE_LENGTH, (i + 1) * NONCE_LENGTH));
    }
  });
  // G8: a randomized equality-search tag per searchable identity field (docs/search.md).
  const tags = searchTags(key, schema, record);
  if (tags !== undefined) out.$search = tags;
  if (version !== undefined) {
    out[VERSION_KEY] = version;
    out[SEAL_KEY] = recordSeal(sealingKey(key), schema, out, options.recordId, version);
  }
  return out as SealedRecordOf<S>;
}

/** Checks the record seal when there is one, or when the schema or the caller requires it. */
function checkSeal(key: KeySource, schema: Schema, sealed: Record<string, unknown>, options: OpenOptions): void {
  const { minVersion } = options;
  if (minVersion !== undefined) ainteger('minVersion', minVersion, 0, Number.MAX_SAFE_INTEGER);
  const raw = own(sealed, SEAL_KEY);
  if (raw === undefined || raw === null) {
    // A data environment that drops the seal must not get the record through as unsealed.
    if (schema.recordSeal || minVersion !== undefined) throw fieldError('ERR_DECRYPTION_FAILED', 'decryption failed: the record seal is missing', SEAL_KEY);
    return;
  }
  const seal = parseSeal(raw);
  const version = recordVersion(sealed);
  verifySeal(keyFor(key, seal.keyId, SEAL_KEY), seal, schema, sealed, options.recordId, version);
  if (minVersion !== undefined && version < minVersion) throw fieldError('ERR_STALE_RECORD', `record version ${version} is older than ${minVersion}`, VERSION_KEY);
}

/**
 * Opens a sealed record: decrypts every identity field and returns them with the attributes.
 * All or nothing: if any field fails, nothing decrypted is returned. An optional identity field
 * that is absent or `null` is left out. When the record carries a record seal it is checked
 * first (docs/format.md §8).
 *
 * @param key - a {@link MemberKey} or a {@link Keyring}; each value's key id picks the key
 * @param schema - the schema the record was sealed with (same name and version); its fields
 *   type the result
 * @param sealed - a record from {@link sealRecord}, as stored
 * @param options - `recordId`: the id it was sealed under; `minVersion`: refuse older versions
 * @returns the record in the clear (reserved `$` fields are left out)
 * @throws TokumeiError `ERR_DECRYPTION_FAILED` (tampered, truncated, moved, other record id,
 *   other schema version, wrong key, a seal that does not verify or is missing — one message
 *   per field, which it names), `ERR_KEY_UNAVAILABLE` (no key for a value's key id),
 *   `ERR_FORMAT` (a malformed envelope or seal, an unknown version, a non-string identity
 *   value), `ERR_SCHEMA` (a missing or unknown field), `ERR_STALE_RECORD` (below
 *   `minVersion`), `ERR_DESTROYED`; the failing field is in the error's `field`
 * @example
 * ```ts
 * import { openRecord } from 'tokumei';
 * const me = openRecord(key, memberSchema, sealed, { recordId: 'M000001' });
 * me.fullName; // "山田 太郎" (typed string)
 * ```
 */
export function openRecord<S extends Schema>(key: KeySource, schema: S, sealed: SealedRecord, options: OpenOptions): RecordOf<S> {
  checkArgs(key, schema, sealed, options);
  checkShape(schema, sealed, true);
  checkTypes(schema, sealed);
  checkSeal(key, schema, sealed, options);
  const out: Record<string, unknown> = {};
  for (const f of schema.fields) {
    const v = own(sealed, f.name);
    if (!present(f.optional, v)) continue;
    if (f.kind === 'attribute') out[f.name] = v;
    else {
      // Decrypt into a local object and return it only when every field opened (no partial plaintext).
      out[f.name] = openField(key, context(schema, f.name, options.recordId), v);
    }
  }
  return out as RecordOf<S>;
}
