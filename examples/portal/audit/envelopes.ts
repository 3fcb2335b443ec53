// The audit's proof that what looks sealed is sealed: every `tk1.` envelope in the data
// environment is opened with the member key it names, in the exact place it claims to belong
// (schema, field, record id: the associated data). A value that only looks like an envelope —
// plaintext dressed as base64url after `tk1.`, a value copied from another record or field, a
// truncated or altered one — fails to authenticate, and the audit fails with it.
import { defineSchema, openRecord, type Keyring, type Schema } from '../../../src/index.ts';
import { IDENTITY_FIELDS, personSchema } from '../shared/schemas.ts';

/** An identity record as the data environment stores it, and where (a file, a row). */
export interface StoredIdentityRecord {
  recordId: string;
  record: Record<string, unknown>;
  where: string;
}

/** A string found in the data environment that looks like an envelope, and where. */
export interface FoundEnvelope {
  value: string;
  where: string;
}

/** What the envelope check found. */
export interface EnvelopeCheckResult {
  /** Envelopes opened with the key they name, in the place they were found. */
  opened: number;
  /** Where each failure is (record and field), never the value. */
  violations: string[];
}

/** A looks-like-an-envelope test: the `tk1.` prefix and a base64url body. */
export const ENVELOPE_SHAPE: RegExp = /^tk1\.[A-Za-z0-9_-]+$/;

/**
 * The portal's schema with every field optional: the associated data binds schema name,
 * version, field name and record id — not optionality — so this opens one field at a time,
 * and the audit can say which field failed.
 */
const oneFieldAtATime: Schema = defineSchema({
  name: personSchema.name,
  version: personSchema.version,
  fields: Object.fromEntries(personSchema.fields.map((f) => [f.name, { kind: f.kind, optional: true }])),
});

/**
 * Opens every identity field of every identity record that is shaped like an envelope, with
 * the keyring of the record's own person (`keyringOf`, destroyed here), and accounts for every
 * other envelope-shaped string found in the data environment (`allEnvelopes`): one that is not
 * an identity field of an identity record belongs nowhere, so it cannot authenticate.
 * Identity fields that are not envelopes at all are left to the "every identity field sealed"
 * check.
 */
export async function openEveryEnvelope(
  records: readonly StoredIdentityRecord[],
  allEnvelopes: readonly FoundEnvelope[],
  keyringOf: (recordId: string) => Promise<Keyring>,
): Promise<EnvelopeCheckResult> {
  const violations: string[] = [];
  const accounted = new Map<string, number>(); // where ‖ envelope → times seen in an identity field there
  let opened = 0;
  for (const { recordId, record, where } of records) {
    const fields = IDENTITY_FIELDS.filter((f) => typeof record[f] === 'string' && ENVELOPE_SHAPE.test(record[f] as string));
    if (fields.length === 0) continue;
    let ring: Keyring | undefined;
    try {
      ring = await keyringOf(recordId);
    } catch {
      violations.push(`${where}: no member key for record "${recordId}", so none of its ${fields.length} envelope(s) can be opened`);
    }
    try {
      for (const field of fields) {
        const value = record[field] as string;
        const at = `${where}\u0000${value}`;
        accounted.set(at, (accounted.get(at) ?? 0) + 1);
        if (ring === undefined) continue;
        try {
          openRecord(ring, oneFieldAtATime, { [field]: value }, { recordId });
          opened++;
        } catch (err) {
          const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : 'error';
          violations.push(`${where}: field "${field}" does not open under the record's own key (${code})`);
        }
      }
    } finally {
      ring?.destroy();
    }
  }
  const strays = new Map<string, number>();
  for (const { value, where } of allEnvelopes) {
    const at = `${where}\u0000${value}`;
    const left = accounted.get(at) ?? 0;
    if (left > 0) accounted.set(at, left - 1);
    else strays.set(where, (strays.get(where) ?? 0) + 1);
  }
  for (const [where, n] of strays) violations.push(`${where}: ${n} envelope(s) outside any identity field, which cannot be authenticated`);
  return { opened, violations };
}
