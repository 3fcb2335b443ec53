// Long passes (rewrapAll, reencryptRecords) yield the event loop: with a memory store and a
// local master key every await settles as a microtask, so without pacing nothing else (a
// delivery, a liveness probe) runs until the pass ends. The pacer on a fake clock, then each
// pass with deliberately slow synchronous work, counting event-loop turns while it runs.
import { describe, expect, it } from 'vitest';
import { defineSchema, type SealedRecord } from '../../../src/index.ts';
import { sealRecord } from '../../../src/records/record.ts';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import type { MasterKey } from '../../../src/server/master-keys/master-key.ts';
import { pacer } from '../../../src/server/rotation/pace.ts';
import { reencryptRecords, type RecordCollection } from '../../../src/server/rotation/reencrypt.ts';
import { rewrapAll } from '../../../src/server/rotation/rewrap.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';

/** Holds the thread for `ms` (wall clock): synchronous work, as a local master key's is. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** Counts turns of the event loop (setImmediate callbacks) while `work` runs. */
async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let counting = true;
  const tick = (): void => {
    if (!counting) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    await work();
  } finally {
    counting = false;
  }
  return turns;
}

/** A local master key whose every call first holds the thread for 1 ms. */
function slow(inner: MasterKey): MasterKey {
  return {
    id: inner.id,
    wrap: (p, c) => (busy(1), inner.wrap(p, c)),
    unwrap: (w, c) => (busy(1), inner.unwrap(w, c)),
  };
}

describe('pacer', () => {
  it('waits for nothing until a slice has passed, then for one later turn of the loop, shared by every caller', async () => {
    let clock = 0;
    const pace = pacer(10, () => clock);
    expect(pace()).toBeUndefined();
    clock = 9.9;
    expect(pace()).toBeUndefined();
    clock = 10;
    const order: string[] = [];
    setImmediate(() => order.push('queued before'));
    const first = pace();
    expect(first).toBeInstanceOf(Promise);
    expect(pace()).toBe(first); // a second worker waits for the same turn
    await first!.then(() => order.push('pace'));
    expect(order).toEqual(['queued before', 'pace']);
    // A new slice starts at the turn.
    clock = 19;
    expect(pace()).toBeUndefined();
    clock = 20;
    expect(pace()).toBeInstanceOf(Promise);
    await pace();
  });

  it('refuses a slice that is not a finite number >= 0', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number]) expect(() => pacer(bad)).toThrow(RangeError);
    expect(pacer(0)).toBeTypeOf('function');
  });
});

describe('long passes yield the event loop', () => {
  it('the control: 160 ms of the same slow calls awaited in a plain loop let the loop turn 0 times', async () => {
    const key = slow(localMasterKey(new Uint8Array(32).fill(1)));
    const context = new Uint8Array(8);
    const wrapped = await key.wrap(new Uint8Array(32), context);
    const turns = await turnsDuring(async () => {
      for (let i = 0; i < 160; i++) await key.unwrap(wrapped, context);
    });
    expect(turns).toBe(0);
  });

  it('rewrapAll of 40 keys at >= 4 ms each (memory store, a slow local master key) lets the loop turn while it runs', async () => {
    const from = slow(localMasterKey(new Uint8Array(32).fill(1)));
    const to = slow(localMasterKey(new Uint8Array(32).fill(2)));
    const store = memoryKeyStore();
    const env = createKeyEnvironment({ masterKey: from, store, authenticate: () => null });
    for (let i = 0; i < 40; i++) await env.createMemberKey(`M${i}`);
    let result: Awaited<ReturnType<typeof rewrapAll>> | undefined;
    const turns = await turnsDuring(async () => (result = await rewrapAll(store, { from, to, concurrency: 2 })));
    expect(result).toEqual({ total: 40, rewrapped: 40, alreadyCurrent: 0, verified: 40 });
    // ≥ 160 ms of work in slices of 10 ms: about 16 yields.
    expect(turns).toBeGreaterThanOrEqual(8);
  });

  it('reencryptRecords of 40 records at >= 4 ms each lets the loop turn while it runs', async () => {
    const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', note: 'identity' } });
    const env = createKeyEnvironment({ masterKey: localMasterKey(new Uint8Array(32).fill(1)), store: memoryKeyStore(), authenticate: () => null });
    await env.createMemberKey('M1');
    const rows = new Map<string, SealedRecord>();
    const old = await env.openKeyring('M1');
    try {
      for (let i = 0; i < 40; i++) rows.set(`r${String(i).padStart(2, '0')}`, sealRecord(old, schema, { id: String(i), note: `note ${i}` }, { recordId: `r${String(i).padStart(2, '0')}` }));
    } finally {
      old.destroy();
    }
    await env.rotateMemberKey('M1');
    const records: RecordCollection = {
      list: (after, limit) => Promise.resolve([...rows.keys()].filter((id) => after === undefined || id > after).slice(0, limit).map((recordId) => ({ recordId, record: rows.get(recordId)! }))),
      replace: (recordId, record) => (rows.set(recordId, record), Promise.resolve(true)),
    };
    const ring = await env.openKeyring('M1');
    try {
      let moved = -1;
      const turns = await turnsDuring(async () => {
        moved = (
          await reencryptRecords({
            records,
            schema,
            keys: () => (busy(4), ring),
          })
        ).moved;
      });
      expect(moved).toBe(40);
      expect(turns).toBeGreaterThanOrEqual(8);
    } finally {
      ring.destroy();
    }
  });
});
