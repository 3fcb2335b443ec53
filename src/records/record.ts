import { TokumeiError } from '../errors.ts';
import { astring, randomBytes, utf8 } from '../internal/bytes.ts';
import { assertKeySource, type KeySource } from '../keys/keyring.ts';
import { MAX_RECORD_ID_BYTES, type FieldContext } from './aad.ts';
import { NONCE_LENGTH } from './envelope.ts';
import { openField, sealField } from './field-cipher.ts';
import { assertSchema, type Schema } from './schema.ts';
import { searchTags } from '../search/token.ts';

/** A record in the clear: identity values are strings, attributes anything. */
export type PlainRecord = Record<string, unknown>;

/**
 * A sealed record: each identity field holds a `tk1.` envelope string, attribute fields are
 * unchanged. Keys starting with `$` are reserved for tokumei (search tags live in `$search`).
 */
export type SealedRecord = Record<string, unknown>;

/** Options of {@link sealRecord} and {@link openRecord}. */
export interface RecordOptions {
  /** The record's id, bound into every sealed value: a value moved to another record fails to open. */
  recordId: string;
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
  if (utf8(recordId).length > MAX_RECORD_ID_BYTES) {
    throw new RangeError(`"recordId" expected at most ${MAX_RECORD_ID_BYTES} UTF-8 bytes, got length=${recordId.length}`);
  }
}

/** A record's own value for a field: never one inherited from `Object.prototype` (`constructor`, …). */
function own(record: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

function schemaError(message: string): TokumeiError {
  return new TokumeiError('ERR_SCHEMA', message);
}

/** Rejects unknown and missing fields; names fields, never values. */
function checkShape(schema: Schema, record: Record<string, unknown>, allowReserved: boolean): void {
  for (const name of Object.keys(record)) {
    if (allowReserved && name.startsWith('$')) continue;
    if (schema.field(name) === undefined) throw schemaError(`field "${name}" is not in schema ${schema.name} v${schema.version}`);
  }
  for (const f of schema.fields) {
    if (!f.optional && own(record, f.name) === undefined) throw schemaError(`field "${f.name}" of schema ${schema.name} v${schema.version} is missing`);
  }
}

function context(schema: Schema, fieldName: string, recordId: string): FieldContext {
  return { schemaName: schema.name, schemaVersion: schema.version, fieldName, recordId };
}

/**
 * Seals a record: each identity field becomes a `tk1.` envelope (AES-256-GCM, a fresh random
 * nonce, padded to hide its length, bound to schema, version, field, record id and key id);
 * attribute fields are copied through unchanged.
 *
 * @param key - a {@link MemberKey}, or a {@link Keyring} (its primary key seals)
 * @param schema - from {@link defineSchema}
 * @param record - every required field of the schema, and no other
 * @param options - `recordId`, bound into every sealed value
 * @returns a new sealed record; the input is not modified. When the schema has searchable
 *   fields (`search: 'exact' | 'name-ja'`), the record also carries `$search`: one randomized
 *   equality-search tag per such field (docs/search.md)
 * @throws TokumeiError `ERR_SCHEMA` (a missing or unknown field), `ERR_FORMAT` (an identity value
 *   that is not a string, or longer than 64 KiB), `ERR_DESTROYED`; TypeError / RangeError for
 *   malformed arguments
 * @example
 * ```ts
 * import { defineSchema, generateMemberKey, sealRecord } from 'tokumei';
 * const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });
 * const key = generateMemberKey();
 * const sealed = sealRecord(key, schema, { id: 'M000001', fullName: '山田 太郎' }, { recordId: 'M000001' });
 * sealed.fullName; // "tk1.AQ…"
 * ```
 */
export function sealRecord(key: KeySource, schema: Schema, record: PlainRecord, options: RecordOptions): SealedRecord {
  checkArgs(key, schema, record, options);
  checkShape(schema, record, false);
  for (const f of schema.fields) {
    const v = own(record, f.name);
    if (f.kind === 'identity' && v !== undefined && typeof v !== 'string') {
      throw new TokumeiError('ERR_FORMAT', `identity field "${f.name}" must be a string, got ${v === null ? 'null' : typeof v}`);
    }
  }
  // One CSPRNG call for every value's nonce (NONCE_LENGTH bytes each, never shared).
  const nonces = randomBytes(NONCE_LENGTH * schema.fields.length);
  const out: SealedRecord = {};
  schema.fields.forEach((f, i) => {
    const v = own(record, f.name);
    if (v === undefined) return;
    out[f.name] = f.kind === 'identity'
      ? sealField(key, context(schema, f.name, options.recordId), v as string, nonces.subarray(i * NONCE_LENGTH, (i + 1) * NONCE_LENGTH))
      : v;
  });
  // G8: a randomized equality-search tag per searchable identity field (docs/search.md).
  const tags = searchTags(key, schema, record);
  if (tags !== undefined) out.$search = tags;
  return out;
}

/**
 * Opens a sealed record: decrypts every identity field and returns them with the attributes.
 * All or nothing: if any field fails, nothing decrypted is returned.
 *
 * @param key - a {@link MemberKey} or a {@link Keyring}; each value's key id picks the key
 * @param schema - the schema the record was sealed with (same name and version)
 * @param sealed - a record from {@link sealRecord}
 * @param options - `recordId`: the id it was sealed under
 * @returns the record in the clear (reserved `$` fields such as search tags are left out)
 * @throws TokumeiError `ERR_DECRYPTION_FAILED` (tampered, truncated, moved, other record id,
 *   other schema version, wrong key — one fixed message), `ERR_KEY_UNAVAILABLE` (no key for the
 *   value's key id), `ERR_FORMAT` (a malformed envelope, an unknown version, a non-string
 *   identity value), `ERR_SCHEMA` (a missing or unknown field), `ERR_DESTROYED`
 * @example
 * ```ts
 * import { openRecord } from 'tokumei';
 * const me = openRecord(key, memberSchema, sealed, { recordId: 'M000001' });
 * me.fullName; // "山田 太郎"
 * ```
 */
export function openRecord(key: KeySource, schema: Schema, sealed: SealedRecord, options: RecordOptions): PlainRecord {
  checkArgs(key, schema, sealed, options);
  checkShape(schema, sealed, true);
  const out: PlainRecord = {};
  for (const f of schema.fields) {
    const v = own(sealed, f.name);
    if (v === undefined) continue;
    // Decrypt into a local object and return it only when every field opened (no partial plaintext).
    out[f.name] = f.kind === 'identity' ? openField(key, context(schema, f.name, options.recordId), v) : v;
  }
  return out;
}
