import { ainteger, astring } from '../internal/bytes.ts';

/** How an identity field can be searched (see docs/search.md). */
export type SearchMode = 'exact' | 'name-ja';

/** One field of a schema, in long form. */
export interface FieldSpec {
  /** `identity`: encrypted field by field; `attribute`: passed through as it is. */
  kind: 'identity' | 'attribute';
  /** A record may leave this field out (default `false`). */
  optional?: boolean;
  /** Identity fields only: store a randomized equality-search tag (docs/search.md). */
  search?: SearchMode;
}

/** What {@link defineSchema} takes. */
export interface SchemaSpec {
  /** Schema name, bound into every sealed value: 1–64 characters of `A–Z a–z 0–9 . _ -`. */
  name: string;
  /** Schema version, a positive integer bound into every sealed value. */
  version: number;
  /** Field name → `'identity'`, `'attribute'` or a {@link FieldSpec}. */
  fields: Record<string, 'identity' | 'attribute' | FieldSpec>;
}

/** A field of a defined schema (normalized, frozen). */
export interface SchemaField {
  /** The field name, bound into the associated data of its sealed values. */
  readonly name: string;
  /** `identity`: sealed as a `tk1.` envelope; `attribute`: passed through. */
  readonly kind: 'identity' | 'attribute';
  /** Whether a record may leave the field out. */
  readonly optional: boolean;
  /** The search mode of a searchable identity field, else `undefined`. */
  readonly search: SearchMode | undefined;
}

/** A validated, frozen schema. Make one with {@link defineSchema}. */
export interface Schema {
  /** The schema name, bound into every sealed value. */
  readonly name: string;
  /** The schema version, bound into every sealed value. */
  readonly version: number;
  /** Fields in declaration order. */
  readonly fields: readonly SchemaField[];
  /** Field lookup by name. */
  readonly field: (name: string) => SchemaField | undefined;
}

/** Field names: an identifier of at most 64 characters (not `__proto__`); `$`-names are reserved for tokumei. */
export const FIELD_NAME_PATTERN: RegExp = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Schema names (docs/format.md §5). */
export const SCHEMA_NAME_PATTERN: RegExp = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Defines a record schema: which fields hold identity values (encrypted, one envelope per
 * field) and which hold attributes (passed through unchanged). The schema name and version
 * are bound into every sealed value, so a value sealed under `member` v1 does not open as
 * `member` v2 or as another schema.
 *
 * @param spec - name, version and fields
 * @returns a frozen {@link Schema}
 * @throws TypeError / RangeError for a malformed spec (a bad name, version or field)
 * @example
 * ```ts
 * import { defineSchema } from 'tokumei';
 * export const memberSchema = defineSchema({
 *   name: 'member',
 *   version: 1,
 *   fields: {
 *     id: 'attribute',
 *     fullName: { kind: 'identity', search: 'name-ja' },
 *     birthDate: 'identity',
 *     phone: { kind: 'identity', optional: true },
 *     department: 'attribute',
 *   },
 * });
 * ```
 */
export function defineSchema(spec: SchemaSpec): Schema {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('"spec" expected object, got ' + (spec === null ? 'null' : typeof spec));
  astring('spec.name', spec.name);
  if (!SCHEMA_NAME_PATTERN.test(spec.name)) {
    throw new RangeError(`"spec.name" expected 1-64 characters of [A-Za-z0-9._-], got length=${spec.name.length}`);
  }
  ainteger('spec.version', spec.version, 1, 0xffffffff);
  if (typeof spec.fields !== 'object' || spec.fields === null) throw new TypeError('"spec.fields" expected object');
  const fields: SchemaField[] = [];
  for (const [name, raw] of Object.entries(spec.fields)) {
    // `__proto__` would set an object's prototype instead of a field when records are built.
    if (!FIELD_NAME_PATTERN.test(name) || name === '__proto__') {
      throw new RangeError(`"spec.fields" expected field names matching ${FIELD_NAME_PATTERN}, got "${name}"`);
    }
    const f: FieldSpec = typeof raw === 'string' ? { kind: raw } : raw;
    if (typeof f !== 'object' || f === null || (f.kind !== 'identity' && f.kind !== 'attribute')) {
      throw new TypeError(`"spec.fields.${name}" expected 'identity', 'attribute' or { kind }`);
    }
    if (f.search !== undefined) {
      if (f.kind !== 'identity') throw new RangeError(`"spec.fields.${name}.search" applies to identity fields only`);
      if (f.search !== 'exact' && f.search !== 'name-ja') {
        throw new RangeError(`"spec.fields.${name}.search" expected 'exact' or 'name-ja'`);
      }
    }
    fields.push(Object.freeze({ name, kind: f.kind, optional: f.optional === true, search: f.search }));
  }
  if (fields.length === 0) throw new RangeError('"spec.fields" expected at least one field, got 0');
  const byName = new Map(fields.map((f) => [f.name, f]));
  const schema: Schema = Object.freeze({
    name: spec.name,
    version: spec.version,
    fields: Object.freeze(fields),
    field: (name: string) => byName.get(name),
  });
  defined.add(schema);
  return schema;
}

const defined = /* @__PURE__ */ new WeakSet<Schema>();

/** Boundary check that a value is a schema made by {@link defineSchema} (internal). */
export function assertSchema(schema: unknown): asserts schema is Schema {
  if (typeof schema === 'object' && schema !== null && defined.has(schema as Schema)) return;
  throw new TypeError('"schema" expected a Schema from defineSchema()');
}
