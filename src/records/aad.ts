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

/**
 * `"tokumei.field" ‖ version(1) ‖ len8 ‖ schemaName ‖ u32be(schemaVersion) ‖ len8 ‖ fieldName ‖
 * u16be(len) ‖ recordId ‖ len8 ‖ keyId`, strings in UTF-8.
 */
export function fieldAad(ctx: FieldContext, keyId: string): Uint8Array {
  const label = utf8('tokumei.field');
  const schema = utf8(ctx.schemaName);
  const field = utf8(ctx.fieldName);
  const record = utf8(ctx.recordId);
  const key = utf8(keyId);
  const out = new Uint8Array(label.length + 1 + 1 + schema.length + 4 + 1 + field.length + 2 + record.length + 1 + key.length);
  const view = new DataView(out.buffer);
  let o = 0;
  out.set(label, o); o += label.length;
  out[o++] = FORMAT_VERSION;
  out[o++] = schema.length; out.set(schema, o); o += schema.length;
  view.setUint32(o, ctx.schemaVersion); o += 4;
  out[o++] = field.length; out.set(field, o); o += field.length;
  view.setUint16(o, record.length); o += 2; out.set(record, o); o += record.length;
  out[o++] = key.length; out.set(key, o);
  return out;
}
