// rewrapAll on the databases writes many entries per commit. Each commit waits for a disk flush
// (on PGlite, on the key environment's own thread), so one commit per entry made the flushes the
// whole cost of a pass: 500,000 of them. The database store's `updateMany` compare-and-swaps a
// batch in one statement; counted here on the statements sent (the control: the same store
// without `updateMany` sends one UPDATE per entry). A retire that lands between the read and the
// batched write is refused by that write for its entry alone, and is kept.
import { describe, expect, it } from 'vitest';
import type { Sql, SqlDatabase } from '../../../src/server/database/sql.ts';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { unwrapEntry, wrapFor } from '../../../src/server/master-keys/wrap.ts';
import { rewrapAll } from '../../../src/server/rotation/rewrap.ts';
import { databaseKeyStore } from '../../../src/server/stores/database-store.ts';
import type { MemberKeyStore, WrappedMemberKey } from '../../../src/server/stores/member-key-store.ts';
import { wipe } from '../../../src/internal/bytes.ts';
import { forEachEngine } from '../database/engines.ts';

const MEMBERS = 120;
let serial = 0;

/** `db`, counting the UPDATEs of member keys sent (each is one commit: none runs in a transaction). */
function counting(db: SqlDatabase): { sql: Sql; updates: () => number } {
  let updates = 0;
  return {
    updates: () => updates,
    sql: {
      query(text, params) {
        if (/^\s*UPDATE tokumei\.member_keys\b/.test(text)) updates++;
        return db.query(text, params);
      },
    },
  };
}

forEachEngine((name, db) => {
  describe(`rewrapAll in batched commits: ${name}`, () => {
    /** A fresh store of MEMBERS keys under a fresh master key; returns it with the next master key. */
    async function seeded() {
      await db().query('TRUNCATE tokumei.member_keys');
      const n = serial++;
      const from = localMasterKey(new Uint8Array(32).fill(2 * n + 1), { id: `mk.from${n}` });
      const to = localMasterKey(new Uint8Array(32).fill(2 * n + 2), { id: `mk.to${n}` });
      const admin = createKeyEnvironment({ masterKey: from, store: databaseKeyStore(db()), authenticate: () => null });
      for (let i = 0; i < MEMBERS; i++) await admin.createMemberKey(`M${i}`);
      return { from, to, ...counting(db()) };
    }

    it(`re-wraps ${MEMBERS} keys in ceil(${MEMBERS} / commitSize) UPDATEs; the control without updateMany sends one per key`, async () => {
      const batched = await seeded();
      const result = await rewrapAll(databaseKeyStore(batched.sql), { from: batched.from, to: batched.to, commitSize: 50 });
      expect(result).toEqual({ total: MEMBERS, rewrapped: MEMBERS, alreadyCurrent: 0, verified: MEMBERS });
      expect(batched.updates()).toBe(Math.ceil(MEMBERS / 50));

      const control = await seeded();
      const { updateMany: _, ...oneByOne } = databaseKeyStore(control.sql);
      const controlResult = await rewrapAll(oneByOne, { from: control.from, to: control.to });
      expect(controlResult).toEqual(result);
      expect(control.updates()).toBe(MEMBERS);
    }, 120_000);

    it('a retire between the read and the batched write is refused for that entry alone and kept', async () => {
      const { from, to, sql } = await seeded();
      const store = databaseKeyStore(sql);
      let retired: WrappedMemberKey | undefined;
      const refused: string[] = [];
      const racing: MemberKeyStore = {
        ...store,
        async updateMany(changes) {
          if (retired === undefined) {
            // What retireKeyVersion writes: the same key, wrapped with the retired state, by compare-and-swap.
            const entry = changes[0]!.current;
            const key = await unwrapEntry(from, entry);
            try {
              retired = await store.update(entry, await wrapFor(from, { ...entry, state: 'retired' }, key));
            } finally {
              wipe(key);
            }
          }
          const written = await store.updateMany!(changes);
          written.forEach((w, i) => w === undefined && refused.push(changes[i]!.current.keyId));
          return written;
        },
      };
      const result = await rewrapAll(racing, { from, to, commitSize: 50 });
      expect(retired?.state).toBe('retired');
      expect(refused).toEqual([retired!.keyId]);
      expect(result).toEqual({ total: MEMBERS, rewrapped: MEMBERS, alreadyCurrent: 0, verified: MEMBERS });
      const after = await store.get(retired!.keyId);
      expect(after).toMatchObject({ state: 'retired', masterKeyId: to.id, revision: retired!.revision + 1 });
      wipe(await unwrapEntry(to, after!)); // bound to the retired state, under the new master key
    }, 120_000);

    it('updateMany: each change is compare-and-swap on its own revision; a key id twice is refused, nothing written', async () => {
      const { from, to } = await seeded();
      const store = databaseKeyStore(db());
      const [a, b] = await store.list({ limit: 2 });
      const change = async (e: WrappedMemberKey) => {
        const key = await unwrapEntry(from, e);
        try {
          return await wrapFor(to, e, key);
        } finally {
          wipe(key);
        }
      };
      const [ca, cb] = [await change(a!), await change(b!)];
      await expect(store.updateMany!([{ current: a!, change: ca }, { current: a!, change: ca }])).rejects.toThrow(RangeError);
      expect(await store.get(a!.keyId)).toEqual(a);
      const written = await store.updateMany!([{ current: { ...a!, revision: a!.revision + 1 }, change: ca }, { current: b!, change: cb }]);
      expect(written).toEqual([undefined, { ...b!, ...cb, revision: b!.revision + 1 }]);
      expect(await store.get(a!.keyId)).toEqual(a);
      expect(await store.updateMany!([])).toEqual([]);
    }, 120_000);
  });
});
