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
// encoding it once per field instead of once per value is a measurable share of sealing
// (test/bench/records.mjs). Bounded, public values only.
const heads = /* @__PURE__ */ new Map<string, Uint8Array>();
const MAX_HEADS = 512;

function head(ctx: FieldContext): Uint8Array {
  const cacheKey = `${ctx.schemaName}\u0000${ctx.schemaVersion}\u0000${ctx.fieldName}`;
  let h = heads.get(cacheKey);
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
    if (heads.size >= MAX_HEADS) heads.clear();
    heads.set(cacheKey, h);
  }
  return h;
}

/**
 * `"tokumei.field" ‖ u8(1) ‖ len8 ‖ schemaName ‖ u32be(schemaVersion) ‖ len8 ‖ fieldName ‖
 * u16be(len) ‖ recordId ‖ len8 ‖ keyId`, strings in UTF-8.
 */
export function fieldAad(ctx: FieldContext, keyId: string): Uint8Array {
  const h = head(ctx);
  const record = utf8(ctx.recordId);
  const out = new Uint8Array(h.length + 2 + record.length + 1 + keyId.length);
  out.set(h);
  let o = h.length;
  out[o++] = record.length >> 8;
  out[o++] = record.length & 0xff;
  out.set(record, o); o += record.length;
  out[o++] = keyId.length;
  for (let i = 0; i < keyId.length; i++) out[o + i] = keyId.charCodeAt(i); // key ids are ASCII (format §1)
  return out;
}
