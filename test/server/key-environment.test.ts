// tokumei/server: key versions,
// rewrapAll (interrupted, resumed, verified) and reencryptRecords (stopped midway, resumed).
import { describe, expect, it } from 'vitest';
import { openRecord, sealRecord, type SealedRecord } from '../../src/records/record.ts';
import { defineSchema } from '../../src/records/schema.ts';
import { createKeyEnvironment } from '../../src/server/key-environment.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';
import type { MasterKey } from '../../src/server/master-keys/master-key.ts';
import { reencryptRecords, type RecordCollection } from '../../src/server/rotation/reencrypt.ts';
import { rewrapAll } from '../../src/server/rotation/rewrap.ts';
import { decodeEnvelope } from '../../src/records/envelope.ts';
import { codeOf } from '../code-of.ts';

const randomMaster = (): MasterKey => localMasterKey(crypto.getRandomValues(new Uint8Array(32)));
const noAuth = () => null;

describe('member keys: create, rotate, retire', () => {
  it('createMemberKey is idempotent; rotate adds versions with their own key ids; retire drops old ones from the keyring', async () => {
    const env = createKeyEnvironment({ masterKey: randomMaster(), store: memoryKeyStore(), authenticate: noAuth });
    const v1 = await env.createMemberKey('M1');
    expect(v1.version).toBe(1);
    expect(v1.keyId).toMatch(/^k1\./);
    expect(v1).not.toHaveProperty('wrapped');
    expect(await env.createMemberKey('M1')).toEqual(v1);
    const v2 = await env.rotateMemberKey('M1', { keyId: 'custom.v2' });
    expect(v2).toMatchObject({ version: 2, keyId: 'custom.v2', state: 'active' });
    const ring = await env.openKeyring('M1');
    expect(ring.keyIds.sort()).toEqual([v1.keyId, v2.keyId].sort());
    expect(ring.primary.keyId).toBe(v2.keyId);
    ring.destroy();
    await expect(env.retireKeyVersion('M1', v2.keyId)).rejects.toThrow(RangeError); // the newest cannot be retired
    await env.retireKeyVersion('M1', v1.keyId);
    const after = await env.openKeyring('M1');
    expect(after.keyIds).toEqual([v2.keyId]);
    after.destroy();
    expect((await env.keyVersions('M1')).map((v) => v.state)).toEqual(['retired', 'active']);
    expect(await codeOf(env.openKeyring('nobody'))).toBe('ERR_KEY_UNAVAILABLE');
  });

  it('a wrapped key copied to another member does not unwrap (context binding)', async () => {
    const store = memoryKeyStore();
    const env = createKeyEnvironment({ masterKey: randomMaster(), store, authenticate: noAuth });
    await env.createMemberKey('A');
    const [a] = await store.versions('A');
    await store.insert({ ...a!, memberId: 'B', keyId: 'stolen.1' });
    expect(await codeOf(env.openKeyring('B'))).toBe('ERR_DECRYPTION_FAILED');
  });
});

describe('rewrapAll (G9: a new master key, no data touched)', () => {
  it('interrupted midway, resumed, verified; every key unchanged; no old wrapped value left', async () => {
    const store = memoryKeyStore();
    const oldMaster = randomMaster();
    const newMaster = randomMaster();
    const env = createKeyEnvironment({ masterKey: oldMaster, store, authenticate: noAuth });
    const schema = defineSchema({ name: 'member', version: 1, fields: { fullName: 'identity' } });
    const sealed: SealedRecord[] = [];
    for (let i = 0; i < 40; i++) {
      await env.createMemberKey(`M${i}`);
      if (i % 2 === 0) await env.rotateMemberKey(`M${i}`);
      const ring = await env.openKeyring(`M${i}`);
      sealed.push(sealRecord(ring, schema, { fullName: `name ${i}` }, { recordId: `M${i}` }));
      ring.destroy();
    }
    expect(await store.count()).toBe(60);
    const oldWrapped = (await store.list({ limit: 100 })).map((e) => e.wrapped);

    const ac = new AbortController();
    await expect(
      rewrapAll(store, { from: oldMaster, to: newMaster, batchSize: 10, signal: ac.signal, onProgress: (p) => p.examined >= 20 && ac.abort(new Error('stop')) }),
    ).rejects.toThrow('stop');
    const mid = await store.list({ limit: 100 });
    const moved = mid.filter((e) => e.masterKeyId === newMaster.id).length;
    expect(moved).toBe(20);
    // Midway, a key environment that knows both master keys delivers every member's keys
    // (some members have one version under each), and every record opens.
    const during = createKeyEnvironment({ masterKey: newMaster, previousMasterKeys: [oldMaster], store, authenticate: noAuth });
    for (let i = 0; i < 40; i++) {
      const ring = await during.openKeyring(`M${i}`);
      expect(openRecord(ring, schema, sealed[i]!, { recordId: `M${i}` }).fullName).toBe(`name ${i}`);
      ring.destroy();
    }
    const mixed = createKeyEnvironment({ masterKey: oldMaster, store, authenticate: noAuth });
    const mixedNew = createKeyEnvironment({ masterKey: newMaster, store, authenticate: noAuth });

    const result = await rewrapAll(store, { from: oldMaster, to: newMaster, batchSize: 7 });
    expect(result).toEqual({ total: 60, rewrapped: 40, alreadyCurrent: 20, verified: 60 });
    // No data touched: every record sealed before the rotation opens under the re-wrapped keys.
    for (let i = 0; i < 40; i++) {
      const ring = await mixedNew.openKeyring(`M${i}`);
      expect(openRecord(ring, schema, sealed[i]!, { recordId: `M${i}` }).fullName).toBe(`name ${i}`);
      ring.destroy();
    }
    expect(await codeOf(mixed.openKeyring('M0'))).toBe('ERR_KEY_UNAVAILABLE'); // the old master key is out
    const now = new Set((await store.list({ limit: 100 })).map((e) => e.wrapped));
    for (const w of oldWrapped) expect(now.has(w)).toBe(false);
    // Running it again is a no-op that still verifies.
    expect(await rewrapAll(store, { from: oldMaster, to: newMaster })).toEqual({ total: 60, rewrapped: 0, alreadyCurrent: 60, verified: 60 });
  });

  it('an entry under an unknown master key stops the pass with ERR_KEY_UNAVAILABLE', async () => {
    const store = memoryKeyStore();
    const env = createKeyEnvironment({ masterKey: randomMaster(), store, authenticate: noAuth });
    await env.createMemberKey('X');
    expect(await codeOf(rewrapAll(store, { from: randomMaster(), to: randomMaster() }))).toBe('ERR_KEY_UNAVAILABLE');
  });
});

describe('reencryptRecords (G9: move records to a new key version)', () => {
  it('stopped midway every record opens; resumed, every record is under the new version', async () => {
    const env = createKeyEnvironment({ masterKey: randomMaster(), store: memoryKeyStore(), authenticate: noAuth });
    const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity', address: { kind: 'identity', optional: true } } });
    const v1 = await env.createMemberKey('M1');
    const ring1 = await env.openKeyring('M1');
    const db = new Map<string, SealedRecord>();
    for (let i = 0; i < 50; i++) {
      const id = `R${String(i).padStart(3, '0')}`;
      db.set(id, sealRecord(ring1, schema, { id, fullName: `山田 ${i}`, ...(i % 3 ? { address: `東京 ${i}` } : {}) }, { recordId: id }));
    }
    ring1.destroy();
    const v2 = await env.rotateMemberKey('M1');
    const records: RecordCollection = {
      async list(after, limit) {
        return [...db.keys()].sort().filter((id) => after === undefined || id > after).slice(0, limit).map((recordId) => ({ recordId, record: db.get(recordId)! }));
      },
      async replace(recordId, record, previous) {
        if (db.get(recordId) !== previous) return false;
        db.set(recordId, record);
        return true;
      },
    };
    const keyIdsOf = (r: SealedRecord) => ['fullName', 'address'].filter((f) => r[f] !== undefined).map((f) => decodeEnvelope(r[f]).keyId);
    const openAll = async () => {
      const ring = await env.openKeyring('M1');
      try {
        for (const [id, r] of db) expect(openRecord(ring, schema, r, { recordId: id }).fullName).toBe(`山田 ${Number(id.slice(1))}`);
      } finally {
        ring.destroy();
      }
    };

    const ring = await env.openKeyring('M1');
    expect(ring.primary.keyId).toBe(v2.keyId);
    const ac = new AbortController();
    let stoppedAt: string | undefined;
    await expect(
      reencryptRecords({
        records, schema, keys: ring, batchSize: 8, signal: ac.signal,
        onBatch: (p) => {
          if (p.examined >= 16) {
            stoppedAt = p.lastRecordId;
            ac.abort(new Error('maintenance window over'));
          }
        },
      }),
    ).rejects.toThrow('maintenance window over');
    const under = [...db.values()].map((r) => new Set(keyIdsOf(r)));
    expect(under.filter((s) => s.has(v2.keyId) && s.size === 1)).toHaveLength(16);
    expect(under.filter((s) => s.has(v1.keyId) && s.size === 1)).toHaveLength(34);
    await openAll(); // midway: every record opens

    const resumed = await reencryptRecords({ records, schema, keys: ring, batchSize: 8, startAfter: stoppedAt });
    expect(resumed).toMatchObject({ examined: 34, moved: 34, alreadyCurrent: 0, conflicts: 0 });
    expect([...db.values()].every((r) => keyIdsOf(r).every((k) => k === v2.keyId))).toBe(true);
    await openAll();
    // A full run from the start finds nothing to do; then v1 can be retired and everything still opens.
    expect(await reencryptRecords({ records, schema, keys: ring })).toMatchObject({ examined: 50, moved: 0, alreadyCurrent: 50 });
    ring.destroy();
    await env.retireKeyVersion('M1', v1.keyId);
    await openAll();
  });

  it('a record changed during the move is left as it is and counted as a conflict', async () => {
    const env = createKeyEnvironment({ masterKey: randomMaster(), store: memoryKeyStore(), authenticate: noAuth });
    const schema = defineSchema({ name: 'member', version: 1, fields: { fullName: 'identity' } });
    await env.createMemberKey('M');
    const r1 = await env.openKeyring('M');
    const record = sealRecord(r1, schema, { fullName: 'a' }, { recordId: 'A' });
    r1.destroy();
    await env.rotateMemberKey('M');
    const ring = await env.openKeyring('M');
    const result = await reencryptRecords({
      records: { list: async (after) => (after === undefined ? [{ recordId: 'A', record }] : []), replace: async () => false },
      schema,
      keys: () => ring,
    });
    expect(result).toMatchObject({ examined: 1, moved: 0, conflicts: 1, lastRecordId: 'A' });
    ring.destroy();
  });
});
