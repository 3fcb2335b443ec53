// Associated data of a sealed identity value (G1, docs/format.md §5). Every variable-length part
// is length-prefixed, so no two different contexts encode to the same bytes.
import { utf8 } from '../internal/bytes.ts';
import { FORMAT_VERSION } from './envelope.ts';

/** Where a value belongs: what the associated data binds besides the version and key id. */
export interface FieldContext {
  schemaName: string;
  schemaVersion: number;
  fieldName: string;
  recordId: string;
}

/** Largest record id, in UTF-8 bytes. */
export const MAX_RECORD_ID_BYTES = 1024;

// The head of the AAD (label … field name) is the same for every record of a schema field;
// encoding it once per field instead of once per value is a measurable share of opening
// (test/bench/records.mjs). Bounded, public values only.
// Looked up by schema name, version and field name in turn (no key string to build per value).
const heads = /* @__PURE__ */ new Map<string, Map<number, Map<string, Uint8Array>>>();
let cachedHeads = 0;
const MAX_HEADS = 512;

function head(ctx: FieldContext): Uint8Array {
  let byVersion = heads.get(ctx.schemaName);
  if (byVersion === undefined) heads.set(ctx.schemaName, (byVersion = new Map()));
  let byField = byVersion.get(ctx.schemaVersion);
  if (byField === undefined) byVersion.set(ctx.schemaVersion, (byField = new Map()));
  let h = byField.get(ctx.fieldName);
  if (h === undefined) {
    const label = utf8('tokumei.field');
    const schema = utf8(ctx.schemaName);
    const field = utf8(ctx.fieldName);
    h = new Uint8Array(label.length + 1 + 1 + schema.length + 4 + 1 + field.length);
    let o = 0;
    h.set(label, o); o += label.length;
    h[o++] = FORMAT_VERSION;
    h[o++] = schema.length; h.set(schema, o); o += schema.length;
    new DataView(h.buffer).setUint32(o, ctx.schemaVersion); o += 4;
    h[o++] = field.length; h.set(field, o);
    if (++cachedHeads > MAX_HEADS) {
      heads.clear();
      cachedHeads = 1;
      heads.set(ctx.schemaName, (byVersion = new Map([[ctx.schemaVersion, (byField = new Map())]])));
    }
    byField.set(ctx.fieldName, h);
  }
  return h;
}

// A record's fields share its id: the last one encoded is kept (public, bounded by 1024 bytes).
let lastRecordId: string | undefined;
let lastRecordBytes: Uint8Array = /* @__PURE__ */ new Uint8Array(0);
// The AAD is assembled here and used at once (public bytes; grown on demand).
let scratch: Uint8Array | undefined;

/**
 * `"tokumei.field" ‖ u8(1) ‖ len8 ‖ schemaName ‖ u32be(schemaVersion) ‖ len8 ‖ fieldName ‖
 * u16be(len) ‖ recordId ‖ len8 ‖ keyId`, strings in UTF-8. The result is a view of a buffer
 * the next call overwrites: use it before calling again.
 */
export function fieldAad(ctx: FieldContext, keyId: string): Uint8Array {
  const h = head(ctx);
  if (ctx.recordId !== lastRecordId) {
    lastRecordBytes = utf8(ctx.recordId);
    lastRecordId = ctx.recordId;
  }
  const record = lastRecordBytes;
  const length = h.length + 2 + record.length + 1 + keyId.length;
  if (scratch === undefined || scratch.length < length) scratch = new Uint8Array(Math.max(256, length));
  const out = scratch;
  out.set(h);
  let o = h.length;
  out[o++] = record.length >> 8;
  out[o++] = record.length & 0xff;
  out.set(record, o); o += record.length;
  out[o++] = keyId.length;
  for (let i = 0; i < keyId.length; i++) out[o + i] = keyId.charCodeAt(i); // key ids are ASCII (format §1)
  return out.subarray(0, length);
}
