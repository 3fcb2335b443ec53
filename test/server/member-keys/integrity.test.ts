// Member keys under concurrency and tampering: one key per version however many writers race,
// unique key ids, a state that cannot be edited in storage, a re-wrap that never undoes a
// concurrent retire, and a malformed stored entry that never reaches delivery.
import { describe, expect, it } from 'vitest';
import { encodeKeyringPayload, type PayloadKey } from '../../../src/delivery/payload.ts';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import type { MasterKey } from '../../../src/server/master-keys/master-key.ts';
import { unwrapEntry } from '../../../src/server/master-keys/wrap.ts';
import { rewrapAll } from '../../../src/server/rotation/rewrap.ts';
import type { MemberKeyStore } from '../../../src/server/stores/member-key-store.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';
import { codeOf, outcomeOf } from '../../code-of.ts';

const randomMaster = (): MasterKey => localMasterKey(crypto.getRandomValues(new Uint8Array(32)));
const noAuth = () => null;

describe('concurrent writers for one member', () => {
  it('ten concurrent createMemberKey calls make one key and all return it', async () => {
    const store = memoryKeyStore();
    const env = createKeyEnvironment({ masterKey: randomMaster(), store, authenticate: noAuth });
    const got = await Promise.all(Array.from({ length: 10 }, () => env.createMemberKey('M1')));
    expect(new Set(got.map((v) => v.keyId)).size).toBe(1);
    expect(await store.count()).toBe(1);
  });

  it('concurrent rotations each get a version of their own (no two keys of one version)', async () => {
    const store = memoryKeyStore();
    const env = createKeyEnvironment({ masterKey: randomMaster(), store, authenticate: noAuth });
    await env.createMemberKey('M1');
    const rotated = await Promise.all(Array.from({ length: 5 }, () => env.rotateMemberKey('M1')));
    expect(rotated.map((v) => v.version).sort()).toEqual([2, 3, 4, 5, 6]);
    const versions = await store.versions('M1');
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6]);
    const ring = await env.openKeyring('M1'); // every version unwraps
    expect(ring.keyIds).toHaveLength(6);
    ring.destroy();
  });

  it('a key id that exists (the member\'s current one, another member\'s) is refused and nothing is written', async () => {
    const store = memoryKeyStore();
    const env = createKeyEnvironment({ masterKey: randomMaster(), store, authenticate: noAuth });
    const a = await env.createMemberKey('A');
    await env.createMemberKey('B', { keyId: 'b.1' });
    expect(await codeOf(env.rotateMemberKey('A', { keyId: a.keyId }))).toBe('ERR_CONFLICT');
    expect(await codeOf(env.rotateMemberKey('A', { keyId: 'b.1' }))).toBe('ERR_CONFLICT');
    expect(await codeOf(env.createMemberKey('C', { keyId: 'b.1' }))).toBe('ERR_CONFLICT');
    expect(await outcomeOf(env.rotateMemberKey('A', { keyId: 'not a key id' }))).toBe('RangeError');
    expect(await store.count()).toBe(2);
    expect((await env.keyVersions('A')).map((v) => v.keyId)).toEqual([a.keyId]);
  });
});

describe('the wrapping binds the state', () => {
  it('a retired entry whose state is edited back to active in storage does not unwrap', async () => {
    const master = randomMaster();
    const store = memoryKeyStore();
    const env = createKeyEnvironment({ masterKey: master, store, authenticate: noAuth });
    const v1 = await env.createMemberKey('M1');
    await env.rotateMemberKey('M1');
    await env.retireKeyVersion('M1', v1.keyId);
    const retired = (await store.get(v1.keyId))!;
    // Positive control: as stored (retired), the wrapped value unwraps.
    const key = await unwrapEntry(master, retired);
    expect(key.length).toBe(32);
    // The attack: someone with write access to the store flips the state, keeping the wrapping.
    await store.update(retired, { state: 'active', masterKeyId: retired.masterKeyId, wrapped: retired.wrapped });
    expect(await codeOf(env.openKeyring('M1'))).toBe('ERR_DECRYPTION_FAILED');
    expect(await codeOf(unwrapEntry(master, (await store.get(v1.keyId))!))).toBe('ERR_DECRYPTION_FAILED');
  });
});

/** A store whose first `update` of `keyId` first lets `before` run (a concurrent writer), then writes. */
function interleaved(inner: MemberKeyStore, keyId: string, before: () => Promise<void>, blind = false): MemberKeyStore {
  let fired = false;
  return {
    versions: (m) => inner.versions(m),
    get: (k) => inner.get(k),
    insert: (e) => inner.insert(e),
    list: (o) => inner.list(o),
    count: () => inner.count(),
    async update(current, change) {
      if (!fired && current.keyId === keyId) {
        fired = true;
        await before();
      }
      // `blind` is the weakened store a blind read-modify-write amounts to: it ignores the revision.
      return inner.update(blind ? ((await inner.get(current.keyId)) ?? current) : current, change);
    },
  };
}

describe('rewrapAll beside a concurrent retire', () => {
  for (const blind of [false, true]) {
    it(blind ? 'positive control: a store that ignores the revision lets the re-wrap undo the retire' : 'compare-and-swap: the retire stays, and the entry ends under the new master key', async () => {
      const oldMaster = randomMaster();
      const newMaster = randomMaster();
      const base = memoryKeyStore();
      const env = createKeyEnvironment({ masterKey: oldMaster, store: base, authenticate: noAuth });
      const v1 = await env.createMemberKey('M1');
      await env.rotateMemberKey('M1');
      const store = interleaved(base, v1.keyId, () => env.retireKeyVersion('M1', v1.keyId), blind);
      const result = await rewrapAll(store, { from: oldMaster, to: newMaster });
      const after = (await base.get(v1.keyId))!;
      if (blind) {
        expect(after.state).toBe('active'); // the retire was undone: the attack this test guards against
      } else {
        expect(after.state).toBe('retired');
        expect(after.masterKeyId).toBe(newMaster.id);
        expect(result).toMatchObject({ total: 2, verified: 2 });
        const both = createKeyEnvironment({ masterKey: newMaster, store: base, authenticate: noAuth });
        const ring = await both.openKeyring('M1');
        expect(ring.keyIds).toHaveLength(1); // v1 retired, not delivered
        ring.destroy();
        expect((await unwrapEntry(newMaster, after)).length).toBe(32);
      }
    });
  }
});

describe('a malformed entry in the store', () => {
  it('is ERR_KEY_UNAVAILABLE before any key is unwrapped, in delivery and in openKeyring', async () => {
    const master = randomMaster();
    let unwraps = 0;
    const counting: MasterKey = { id: master.id, wrap: (k, c) => master.wrap(k, c), unwrap: (w, c) => (unwraps++, master.unwrap(w, c)) };
    const base = memoryKeyStore();
    const env0 = createKeyEnvironment({ masterKey: counting, store: base, authenticate: noAuth });
    await env0.createMemberKey('M1');
    await env0.rotateMemberKey('M1');
    let corrupt = true;
    // A row edited by hand: the second version's key id no longer matches the pattern.
    const store: MemberKeyStore = { ...base, get: (k) => base.get(k), insert: (e) => base.insert(e), update: (c, ch) => base.update(c, ch), list: (o) => base.list(o), count: () => base.count(), versions: async (m) => (await base.versions(m)).map((e, i) => (corrupt && i === 1 ? { ...e, keyId: 'bad id!' } : e)) };
    const env = createKeyEnvironment({ masterKey: counting, store, authenticate: () => ({ memberId: 'M1' }), dpop: { required: false } });
    const request = (token: string) => ({ authorization: `Bearer ${token}`, method: 'POST', url: 'https://keys.example/session', body });
    const body = { protocol: 'tokumei-key-delivery/1', kem: 'X25519', publicKey: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url') };
    expect(await codeOf(env.deliverKeys(request('t1')))).toBe('ERR_KEY_UNAVAILABLE');
    expect(await codeOf(env.openKeyring('M1'))).toBe('ERR_KEY_UNAVAILABLE');
    expect(unwraps).toBe(0);
    corrupt = false; // positive control: the same store, uncorrupted, delivers (and unwraps)
    expect((await env.deliverKeys(request('t2'))).memberId).toBe('M1');
    expect(unwraps).toBe(2);
  });

  it('a malformed key id reaching the payload encoder is refused before any key byte is copied', () => {
    let reads = 0;
    const key = (keyId: string): PayloadKey => ({
      keyId,
      get key() {
        reads++;
        return new Uint8Array(32).fill(7);
      },
    });
    expect(() => encodeKeyringPayload([key('good.1'), key('bad id!')], 0)).toThrow(RangeError);
    expect(reads).toBe(0);
    const ok = encodeKeyringPayload([key('good.1'), key('good.2')], 0); // positive control
    expect(reads).toBe(2);
    ok.fill(0);
  });
});
