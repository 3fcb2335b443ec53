// Moving sealed records to a member's newest key version (G9: interruptible, resumable, every
// record readable throughout).
import { ainteger, aobject } from '../../internal/bytes.ts';
import { sealingKey, type KeySource } from '../../keys/keyring.ts';
import { decodeEnvelope } from '../../records/envelope.ts';
import { openRecord, sealRecord, type SealedRecord } from '../../records/record.ts';
import type { Schema } from '../../records/schema.ts';
import { pacer } from './pace.ts';

/** One sealed record and its id. */
export interface StoredRecord {
  /** The record's id (bound into its sealed values). */
  recordId: string;
  /** The sealed record as stored. */
  record: SealedRecord;
}

/**
 * The records to move, wherever they live (the data environment's database). `list` pages in a
 * stable order by record id; `replace` writes one record atomically.
 */
export interface RecordCollection {
  /** Up to `limit` records with ids greater than `after` (all from the start when undefined), in ascending id order. */
  list(after: string | undefined, limit: number): Promise<StoredRecord[]>;
  /**
   * Replaces one record. `previous` is the value that was read: implement compare-and-swap
   * and return `false` when the record changed meanwhile (it is then left as it is, still
   * readable, and a later run moves it). Returning nothing counts as written.
   */
  replace(recordId: string, record: SealedRecord, previous: SealedRecord): Promise<boolean | void>;
}

/** Options of {@link reencryptRecords}. */
export interface ReencryptOptions {
  /** The records. */
  records: RecordCollection;
  /** Their schema. */
  schema: Schema;
  /**
   * Keys that open the records (old and new versions) and whose primary key is the target
   * version — e.g. `await env.openKeyring(memberId)` after `rotateMemberKey`. Or a function
   * choosing the keys per record, for a collection that spans members. The caller keeps
   * ownership (and destroys the keyrings).
   */
  keys: KeySource | ((recordId: string) => KeySource | Promise<KeySource>);
  /** Records per batch; default 100. */
  batchSize?: number;
  /** Resume after this record id (the `lastRecordId` of an interrupted run); from the start by default. */
  startAfter?: string;
  /** Stops between two records; every record written so far stays written. */
  signal?: AbortSignal;
  /** Called after each batch. */
  onBatch?: (progress: ReencryptProgress) => void;
}

/** Counts of a run of {@link reencryptRecords}. */
export interface ReencryptProgress {
  /** Records looked at. */
  examined: number;
  /** Records re-sealed under the target key. */
  moved: number;
  /** Records already under the target key (nothing to do). */
  alreadyCurrent: number;
  /** Records that changed while being moved (`replace` returned `false`): left for a later run. */
  conflicts: number;
  /** The last record id handled: pass it as `startAfter` to resume. */
  lastRecordId: string | undefined;
}

/** Whether every identity value of the record is sealed under `keyId`. */
function isUnder(schema: Schema, record: SealedRecord, keyId: string): boolean {
  for (const f of schema.fields) {
    if (f.kind !== 'identity') continue;
    const value = record[f.name];
    if (value === undefined) continue;
    if (decodeEnvelope(value).keyId !== keyId) return false;
  }
  return true;
}

/**
 * Moves sealed records to the key version that the keys' primary names, in batches. Each record
 * is opened with the keys (any version they hold) and re-sealed under the primary, then written
 * back with one `replace`, so at every moment each record is wholly under its old key or wholly
 * under the new one — and the keyring holds both, so every record stays readable throughout.
 * Records already under the target are skipped, so the run can be stopped at any point
 * (`signal`, a crash) and started again, from the beginning or from `startAfter`.
 * The run yields the event loop about every 10 ms, so the process's other work goes on beside it.
 *
 * Retire the old key version (`env.retireKeyVersion`) only after a complete run reports
 * `moved + alreadyCurrent === examined` with no conflicts.
 *
 * @param options - see {@link ReencryptOptions}
 * @returns the counts of this run
 * @throws TokumeiError from `openRecord` (`ERR_DECRYPTION_FAILED`, `ERR_KEY_UNAVAILABLE`,
 *   `ERR_FORMAT`, `ERR_SCHEMA`) for a record that cannot be opened — nothing is written for it;
 *   the signal's reason when aborted
 * @example
 * ```ts
 * import { reencryptRecords } from 'tokumei/server';
 * await env.rotateMemberKey('M000001');
 * const ring = await env.openKeyring('M000001');
 * try {
 *   const run = await reencryptRecords({ records, schema: memberSchema, keys: ring });
 *   if (run.conflicts === 0) await env.retireKeyVersion('M000001', oldKeyId);
 * } finally {
 *   ring.destroy();
 * }
 * ```
 */
export async function reencryptRecords(options: ReencryptOptions): Promise<ReencryptProgress> {
  aobject('options', options);
  aobject('records', options.records);
  const { records, schema, keys, signal, onBatch } = options;
  const batchSize = options.batchSize ?? 100;
  ainteger('batchSize', batchSize, 1, 100_000);
  const progress: ReencryptProgress = { examined: 0, moved: 0, alreadyCurrent: 0, conflicts: 0, lastRecordId: options.startAfter };
  // The data environment's other work goes on beside the run: it never holds the loop for long.
  const pace = pacer();
  for (;;) {
    signal?.throwIfAborted();
    const batch = await records.list(progress.lastRecordId, batchSize);
    if (batch.length === 0) return progress;
    for (const { recordId, record } of batch) {
      await pace();
      signal?.throwIfAborted();
      const source = typeof keys === 'function' ? await keys(recordId) : keys;
      progress.examined++;
      if (isUnder(schema, record, sealingKey(source).keyId)) {
        progress.alreadyCurrent++;
      } else {
        const plain = openRecord(source, schema, record, { recordId });
        const resealed = sealRecord(source, schema, plain, { recordId });
        if ((await records.replace(recordId, resealed, record)) === false) progress.conflicts++;
        else progress.moved++;
      }
      progress.lastRecordId = recordId;
    }
    onBatch?.({ ...progress });
  }
}
