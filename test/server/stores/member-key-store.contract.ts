// The member-key store contract, one suite run against every store (memory, PGlite, PostgreSQL):
// unique key ids, one version number per member, validation before any write, compare-and-swap.
import { describe, expect, it } from 'vitest';
import { TokumeiError } from '../../../src/errors.ts';
import type { MemberKeyStore, NewMemberKey } from '../../../src/server/stores/member-key-store.ts';
import { codeOf, outcomeOf } from '../../code-of.ts';

/** An entry to insert (the wrapped value is any base64url: the store never unwraps). */
export const newEntry = (keyId: string, memberId = 'm1', version = 1): NewMemberKey => ({
  memberId,
  keyId,
  version,
  createdAt: 1_700_000_000_000,
  state: 'active',
  masterKeyId: 'mk1.test',
  wrapped: 'AAAA',
});

/** Registers the contract suite for one store; `make` returns an empty store. */
export function memberKeyStoreContract(name: string, make: () => Promise<MemberKeyStore>): void {
  describe(`${name}: member-key store contract`, () => {
    it('insert, versions, get, list, count; callers get copies, not the store\'s objects', async () => {
      const s = await make();
      expect((await s.insert(newEntry('k-b', 'm1', 2))).revision).toBe(1);
      await s.insert(newEntry('k-a', 'm1', 1));
      await s.insert(newEntry('k-c', 'm2', 1));
      expect((await s.versions('m1')).map((e) => e.version)).toEqual([1, 2]);
      expect(await s.versions('nobody')).toEqual([]);
      expect(await s.count()).toBe(3);
      expect(await s.get('k-c')).toEqual({ ...newEntry('k-c', 'm2', 1), revision: 1 });
      expect(await s.get('k-none')).toBeUndefined();
      expect((await s.list({ limit: 2 })).map((e) => e.keyId)).toEqual(['k-a', 'k-b']);
      expect((await s.list({ after: 'k-b', limit: 2 })).map((e) => e.keyId)).toEqual(['k-c']);
      expect(await s.list({ after: 'k-c', limit: 2 })).toEqual([]);
      const got = (await s.versions('m1'))[0]!;
      got.state = 'retired';
      expect((await s.versions('m1'))[0]!.state).toBe('active');
    });

    it('lists in code-unit order of the key id, whatever the database collation', async () => {
      const s = await make();
      const ids = ['b', 'B', 'a', 'A', '_x', '-x', '.x', '0', ':x', 'a.b', 'a-b', 'a_b', 'Z9', 'z'];
      for (const [i, id] of ids.entries()) await s.insert(newEntry(id, `m${i}`));
      const want = [...ids].sort();
      expect((await s.list({ limit: 100 })).map((e) => e.keyId)).toEqual(want);
      const page: string[] = [];
      for (let after: string | undefined; ; ) {
        const batch = await s.list(after === undefined ? { limit: 3 } : { after, limit: 3 });
        if (batch.length === 0) break;
        page.push(...batch.map((e) => e.keyId));
        after = batch[batch.length - 1]!.keyId;
      }
      expect(page).toEqual(want);
    });

    it('a key id is unique across the store and a version per member: ERR_CONFLICT, nothing written', async () => {
      const s = await make();
      await s.insert(newEntry('k1', 'm1', 1));
      expect(await codeOf(s.insert(newEntry('k1', 'm1', 2)))).toBe('ERR_CONFLICT'); // same member, next version
      expect(await codeOf(s.insert(newEntry('k1', 'm2', 1)))).toBe('ERR_CONFLICT'); // another member
      expect(await codeOf(s.insert(newEntry('k2', 'm1', 1)))).toBe('ERR_CONFLICT'); // a second version 1
      expect(await s.count()).toBe(1);
      expect(await s.versions('m2')).toEqual([]);
      expect((await s.insert(newEntry('k2', 'm1', 2))).version).toBe(2);
    });

    it('validates every entry (key id pattern included) before writing anything', async () => {
      const s = await make();
      const bad: [Partial<NewMemberKey> | Record<string, unknown>, string][] = [
        [{ version: 0 }, 'RangeError'],
        [{ version: 1.5 }, 'RangeError'],
        [{ keyId: 'has space' }, 'RangeError'],
        [{ keyId: 'k'.repeat(65) }, 'RangeError'],
        [{ keyId: '' }, 'RangeError'],
        [{ memberId: '' }, 'RangeError'],
        [{ memberId: 'm'.repeat(257) }, 'RangeError'],
        [{ state: 'deleted' }, 'TypeError'],
        [{ wrapped: 'not base64url!' }, 'RangeError'],
        [{ wrapped: undefined }, 'TypeError'],
        [{ masterKeyId: '' }, 'RangeError'],
        [{ createdAt: -1 }, 'RangeError'],
      ];
      for (const [change, want] of bad) expect(await outcomeOf(s.insert({ ...newEntry('ok'), ...change } as NewMemberKey)), JSON.stringify(change)).toBe(want);
      expect(await outcomeOf(s.insert(null as never))).toBe('TypeError');
      expect(await s.count()).toBe(0);
    });

    it('update is compare-and-swap on the revision: a stale or unknown revision writes nothing', async () => {
      const s = await make();
      const e1 = await s.insert(newEntry('k1'));
      const change = { state: 'retired' as const, masterKeyId: 'mk1.other', wrapped: 'BBBB' };
      const e2 = await s.update(e1, change);
      expect(e2).toEqual({ ...e1, ...change, revision: 2 });
      expect(await s.update(e1, { ...change, wrapped: 'CCCC' })).toBeUndefined(); // e1's revision is stale
      expect(await s.get('k1')).toEqual(e2);
      expect(await s.update({ ...e1, keyId: 'k-none' }, change)).toBeUndefined();
      expect(await outcomeOf(s.update(e2!, { ...change, state: 'gone' } as never))).toBe('TypeError');
      expect(await outcomeOf(s.update(e2!, { ...change, wrapped: '%%' }))).toBe('RangeError');
      expect(await s.get('k1')).toEqual(e2);
      // Only state and wrapping change: member, key id, version and creation time stay.
      const e3 = await s.update(e2!, { state: 'active', masterKeyId: 'mk1.third', wrapped: 'DDDD' });
      expect(e3).toMatchObject({ memberId: 'm1', keyId: 'k1', version: 1, createdAt: e1.createdAt, revision: 3 });
    });

    it('concurrent writers: one version 1 of ten, one compare-and-swap of ten', async () => {
      const s = await make();
      const inserts = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => s.insert(newEntry(`k${i}`, 'm1', 1))));
      expect(inserts.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of inserts) if (r.status === 'rejected') expect((r.reason as TokumeiError).code).toBe('ERR_CONFLICT');
      expect(await s.count()).toBe(1);
      const [current] = await s.versions('m1');
      const updates = await Promise.all(Array.from({ length: 10 }, (_, i) => s.update(current!, { state: 'active', masterKeyId: `mk1.w${i}`, wrapped: 'EEEE' })));
      expect(updates.filter((u) => u !== undefined)).toHaveLength(1);
      expect((await s.get(current!.keyId))!.revision).toBe(2);
    });
  });
}
