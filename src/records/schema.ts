import { ainteger, astring } from '../internal/bytes.ts';

/** How an identity field can be searched (see docs/search.md). */
export type SearchMode = 'exact' | 'name-ja';

/** `identity`: encrypted field by field; `attribute`: passed through as it is. */
export type FieldKind = 'identity' | 'attribute';

/** One field of a schema, in long form. */
export interface FieldSpec {
  /** `identity`: encrypted field by field; `attribute`: passed through as it is. */
  kind: FieldKind;
  /** A record may leave this field out, or hold `null` in it (default `false`). */
  optional?: boolean;
  /** Identity fields only: store a randomized equality-search tag (docs/search.md). */
  search?: SearchMode;
  /**
   * Attribute fields only: the JavaScript type of the value (`typeof`), checked when sealing and
   * opening, and the field's TypeScript type. Without it an attribute is `unknown`.
   */
  type?: AttributeType;
}

/** What an attribute's {@link FieldSpec.type} may be. */
export type AttributeType = 'string' | 'number' | 'boolean';

/** A field as {@link defineSchema} takes it: a kind, or a {@link FieldSpec}. */
export type FieldDeclaration = FieldKind | FieldSpec;

/** Field name → declaration: what {@link SchemaSpec.fields} holds. */
export type FieldDeclarations = { [name: string]: FieldDeclaration };

/** What {@link defineSchema} takes. */
export interface SchemaSpec<F extends FieldDeclarations = FieldDeclarations> {
  /** Schema name, bound into every sealed value: 1–64 characters of `A–Z a–z 0–9 . _ -` (docs/format.md §1.2). */
  name: string;
  /** Schema version, a positive integer bound into every sealed value. */
  version: number;
  /** Field name → `'identity'`, `'attribute'` or a {@link FieldSpec}. Names: docs/format.md §1.2. */
  fields: F;
  /**
   * Every record of this schema carries a record seal: `sealRecord` requires `{ version }` and
   * `openRecord` refuses a record without a valid seal (docs/format.md §8). Without this, a seal
   * is added when `sealRecord` is given a version, and checked whenever one is present.
   */
  recordSeal?: boolean;
}

type KindOf<D> = D extends FieldKind ? D : D extends { kind: infer K } ? K : never;
type IsOptional<D> = D extends { optional: true } ? true : false;
type ValueOf<D> = [KindOf<D>] extends ['identity']
  ? string
  : D extends { type: 'string' } ? string : D extends { type: 'number' } ? number : D extends { type: 'boolean' } ? boolean : unknown;
type RequiredNames<F> = { [K in keyof F]: IsOptional<F[K]> extends true ? never : K }[keyof F];
type OptionalNames<F> = { [K in keyof F]: IsOptional<F[K]> extends true ? K : never }[keyof F];
type Flat<T> = { [K in keyof T]: T[K] } & {};

/**
 * A record of a schema's fields in the clear, as `openRecord` returns it: identity fields
 * are strings, attributes `unknown`, optional fields optional. Inferred from the schema:
 * `RecordOf<typeof memberSchema>`'s keys are exactly the declared field names.
 */
export type RecordOf<S> = S extends Schema<infer F> ? Flat<{ [K in RequiredNames<F>]: ValueOf<F[K]> } & { [K in OptionalNames<F>]?: ValueOf<F[K]> }> : never;

/** What `sealRecord` takes: like {@link RecordOf}, and an optional field may also be `null` (absent). */
export type RecordInput<S> = S extends Schema<infer F> ? Flat<{ [K in RequiredNames<F>]: ValueOf<F[K]> } & { [K in OptionalNames<F>]?: ValueOf<F[K]> | null }> : never;

/** A field of a defined schema (normalized, frozen). */
export interface SchemaField {
  /** The field name, bound into the associated data of its sealed values. */
  readonly name: string;
  /** `identity`: sealed as a `tk1.` envelope; `attribute`: passed through. */
  readonly kind: FieldKind;
  /** Whether a record may leave the field out (or hold `null` in it). */
  readonly optional: boolean;
  /** The search mode of a searchable identity field, else `undefined`. */
  readonly search: SearchMode | undefined;
  /** The declared type of an attribute, else `undefined`. */
  readonly type: AttributeType | undefined;
}

/**
 * A validated, frozen schema. Make one with {@link defineSchema}; its type parameter carries the
 * declared fields, so `openRecord` and `sealRecord` know each record's shape.
 */
export interface Schema<F extends FieldDeclarations = FieldDeclarations> {
  /** The schema name, bound into every sealed value. */
  readonly name: string;
  /** The schema version, bound into every sealed value. */
  readonly version: number;
  /** Fields in declaration order. */
  readonly fields: readonly SchemaField[];
  /** Field lookup by name. */
  readonly field: (name: string) => SchemaField | undefined;
  /** Whether every record must carry a record seal (docs/format.md §8). */
  readonly recordSeal: boolean;
  /** Type-level only (never set): the declared fields. */
  readonly declared?: F;
}

/**
 * Field names, one rule for every format (docs/format.md §1.2): an ASCII identifier of 1–64
 * characters, not `__proto__`; names starting with `$` are reserved for tokumei.
 */
export const FIELD_NAME_PATTERN: RegExp = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Schema names (docs/format.md §1.2). */
export const SCHEMA_NAME_PATTERN: RegExp = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Defines a record schema: which fields hold identity values (encrypted, one envelope per
 * field) and which hold attributes (passed through unchanged). The schema name and version
 * are bound into every sealed value, so a value sealed under `member` v1 does not open as
 * `member` v2 or as another schema. The field names and kinds are inferred: records opened
 * with the schema are typed `{ fullName: string; phone?: string; department: unknown; … }`.
 *
 * @param spec - name, version, fields and (optionally) `recordSeal`
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
export function defineSchema<const F extends FieldDeclarations>(spec: SchemaSpec<F>): Schema<F> {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('"spec" expected object, got ' + (spec === null ? 'null' : typeof spec));
  astring('spec.name', spec.name);
  if (!SCHEMA_NAME_PATTERN.test(spec.name)) {
    throw new RangeError(`"spec.name" expected 1-64 characters of [A-Za-z0-9._-], got length=${spec.name.length}`);
  }
  ainteger('spec.version', spec.version, 1, 0xffffffff);
  if (typeof spec.fields !== 'object' || spec.fields === null) throw new TypeError('"spec.fields" expected object');
  if (spec.recordSeal !== undefined && typeof spec.recordSeal !== 'boolean') throw new TypeError('"spec.recordSeal" expected boolean');
  const fields: SchemaField[] = [];
  for (const [name, raw] of Object.entries(spec.fields as FieldDeclarations)) {
    // `__proto__` would set an object's prototype instead of a field when records are built.
    if (!FIELD_NAME_PATTERN.test(name) || name === '__proto__') {
      const shown = /^[\x20-\x7e]{1,80}$/.test(name) ? `"${name}"` : `a name of length ${name.length}`;
      throw new RangeError(`"spec.fields" expected field names matching ${FIELD_NAME_PATTERN}, got ${shown}`);
    }
    const f: FieldSpec = typeof raw === 'string' ? { kind: raw } : raw;
    if (typeof f !== 'object' || f === null || (f.kind !== 'identity' && f.kind !== 'attribute')) {
      throw new TypeError(`"spec.fields.${name}" expected 'identity', 'attribute' or { kind }`);
    }
    if (f.optional !== undefined && typeof f.optional !== 'boolean') throw new TypeError(`"spec.fields.${name}.optional" expected boolean`);
    if (f.search !== undefined) {
      if (f.kind !== 'identity') throw new RangeError(`"spec.fields.${name}.search" applies to identity fields only`);
      if (f.search !== 'exact' && f.search !== 'name-ja') {
        throw new RangeError(`"spec.fields.${name}.search" expected 'exact' or 'name-ja'`);
      }
    }
    if (f.type !== undefined && (f.kind !== 'attribute' || !['string', 'number', 'boolean'].includes(f.type))) {
      throw new RangeError(`"spec.fields.${name}.type" expected 'string', 'number' or 'boolean' on an attribute field`);
    }
    fields.push(Object.freeze({ name, kind: f.kind, optional: f.optional === true, search: f.search, type: f.type }));
  }
  if (fields.length === 0) throw new RangeError('"spec.fields" expected at least one field, got 0');
  const byName = new Map(fields.map((f) => [f.name, f]));
  const schema: Schema<F> = Object.freeze({
    name: spec.name,
    version: spec.version,
    fields: Object.freeze(fields),
    field: (name: string) => byName.get(name),
    recordSeal: spec.recordSeal === true,
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

/** A record's own value for a field: never one inherited from `Object.prototype` (`constructor`, …). */
export function own(record: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}
