// Moving a store's member keys into an HSM without loss: rewrapAll from the local master key to
// a PKCS#11 master key on SoftHSM2, and from one HSM key to another, while deliveries go on —
// interrupted midway (the token taken away; an abort), resumed, verified, every member key the
// same afterwards and every delivery either served or refused with ERR_KEY_UNAVAILABLE.
import { afterAll, describe, expect, it } from 'vitest';
import { TokumeiError } from '../../../src/errors.ts';
import { createKeyEnvironment, type KeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import type { MasterKey } from '../../../src/server/master-keys/master-key.ts';
import type { Pkcs11MasterKey } from '../../../src/server/master-keys/pkcs11/options.ts';
import { pkcs11MasterKey } from '../../../src/server/master-keys/pkcs11/pkcs11-master-key.ts';
import { unwrapEntry } from '../../../src/server/master-keys/wrap.ts';
import { rewrapAll } from '../../../src/server/rotation/rewrap.ts';
import type { MemberKeyStore } from '../../../src/server/stores/member-key-store.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';
import { softHsm, USER_PIN } from '../master-keys/softhsm.ts';

const hsm = softHsm();
hsm.initToken('old-hsm');
hsm.initToken('new-hsm');
const opened: Pkcs11MasterKey[] = [];
afterAll(async () => {
  for (const m of opened) await m.close();
  hsm.cleanup();
});

const MEMBERS = 40;
const memberId = (i: number) => `M${String(i).padStart(6, '0')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function inHsm(tokenLabel: string, keyLabel: string): Promise<Pkcs11MasterKey> {
  const m = await pkcs11MasterKey({ library: hsm.library, tokenLabel, pin: USER_PIN, keyLabel, create: true, sessions: 2, retryIntervalMs: 100 });
  opened.push(m);
  return m;
}

/** A store of MEMBERS members' keys under `master`, and every key's bytes (hex) to compare with later. */
async function seeded(master: MasterKey): Promise<{ store: MemberKeyStore; keys: Map<string, string> }> {
  const store = memoryKeyStore();
  const env = createKeyEnvironment({ masterKey: master, store, authenticate: () => null });
  for (let i = 0; i < MEMBERS; i++) await env.createMemberKey(memberId(i));
  return { store, keys: await keyBytes(store, [master]) };
}

async function keyBytes(store: MemberKeyStore, masters: MasterKey[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await store.list({ limit: 10_000 })) {
    const key = await unwrapEntry(masters.find((m) => m.id === e.masterKeyId)!, e);
    out.set(e.keyId, Buffer.from(key).toString('hex'));
    key.fill(0);
  }
  return out;
}

/** Deliveries to random members, one after another, until `stop()`; counts the outcomes. */
function deliveriesGoOn(env: KeyEnvironment): { stop: () => Promise<Record<string, number>> } {
  const counts: Record<string, number> = {};
  let running = true;
  const publicKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  const loop = (async () => {
    for (let i = 0; running; i++) {
      let outcome = 'served';
      try {
        // A fresh token per delivery (`<member>~<n>`): a token opens one session only.
        const res = await env.deliverKeys({ authorization: `Bearer ${memberId(i % MEMBERS)}~${i}`, method: 'POST', url: 'https://keys.example/session', body: { protocol: 'tokumei-key-delivery/1', kem: 'X25519', publicKey } });
        if (res.memberId !== memberId(i % MEMBERS)) outcome = 'wrong member';
      } catch (err) {
        outcome = err instanceof TokumeiError ? err.code : `unexpected: ${String(err)}`;
      }
      counts[outcome] = (counts[outcome] ?? 0) + 1;
      await sleep(1);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return counts;
    },
  };
}

const envFor = (store: MemberKeyStore, masterKey: MasterKey, previous: MasterKey[]) =>
  createKeyEnvironment({ masterKey, previousMasterKeys: previous, store, authenticate: ({ token }) => ({ memberId: token.split('~')[0]! }), dpop: { required: false } });

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return 'resolved';
}

describe('rewrapAll into an HSM (G9: no member key changes, nothing is lost)', () => {
  it('local → HSM while deliveries go on: the token taken away midway stops the pass; put back, the pass resumes and verifies', async () => {
    const local = localMasterKey(crypto.getRandomValues(new Uint8Array(32)));
    const { store, keys } = await seeded(local);
    const target = await inHsm('new-hsm', 'from-local');
    const env = envFor(store, target, [local]);
    const deliveries = deliveriesGoOn(env);

    let putBack: (() => void) | undefined;
    const stopped = await failure(
      rewrapAll(store, {
        from: local,
        to: target,
        batchSize: 8,
        concurrency: 2,
        onProgress: (p) => {
          if (p.examined >= 16 && putBack === undefined) putBack = hsm.removeToken('new-hsm');
        },
      }),
    );
    expect(stopped).toBeInstanceOf(TokumeiError);
    expect((stopped as TokumeiError).code).toBe('ERR_KEY_UNAVAILABLE');
    const mid = await store.list({ limit: 1000 });
    const moved = mid.filter((e) => e.masterKeyId === target.id).length;
    expect(moved).toBeGreaterThanOrEqual(16);
    expect(moved).toBeLessThan(MEMBERS);
    // Midway, the keys still under the local master key are served; those in the HSM wait for it.
    const stillLocal = mid.find((e) => e.masterKeyId === local.id)!;
    expect((await env.openKeyring(stillLocal.memberId)).keyIds).toEqual([stillLocal.keyId]);
    const inToken = mid.find((e) => e.masterKeyId === target.id)!;
    expect(await failure(env.openKeyring(inToken.memberId))).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE' });

    putBack!();
    await sleep(150);
    const result = await rewrapAll(store, { from: local, to: target, batchSize: 8, concurrency: 2 });
    expect(result).toEqual({ total: MEMBERS, rewrapped: MEMBERS - moved, alreadyCurrent: moved, verified: MEMBERS });
    await sleep(50);
    const counts = await deliveries.stop();

    expect(await keyBytes(store, [target])).toEqual(keys); // every member key the same, now under the HSM key
    expect(Object.keys(counts).sort()).toEqual(['ERR_KEY_UNAVAILABLE', 'served']); // nothing else went wrong
    expect(counts.served).toBeGreaterThan(0);
    // The local master key is out: the store no longer needs it.
    const hsmOnly = envFor(store, target, []);
    for (let i = 0; i < MEMBERS; i++) (await hsmOnly.openKeyring(memberId(i))).destroy();
  });

  it('HSM → HSM (another token) while deliveries go on: aborted midway, resumed, verified; the old HSM key can then be closed', async () => {
    const source = await inHsm('old-hsm', 'old');
    const { store, keys } = await seeded(source);
    const target = await inHsm('new-hsm', 'next');
    const env = envFor(store, target, [source]);
    const deliveries = deliveriesGoOn(env);

    const ac = new AbortController();
    const stopped = await failure(rewrapAll(store, { from: source, to: target, batchSize: 5, concurrency: 2, signal: ac.signal, onProgress: (p) => p.examined >= 20 && ac.abort(new Error('maintenance window over')) }));
    expect((stopped as Error).message).toBe('maintenance window over');
    const moved = (await store.list({ limit: 1000 })).filter((e) => e.masterKeyId === target.id).length;
    expect(moved).toBeGreaterThanOrEqual(20);
    expect(moved).toBeLessThan(MEMBERS);

    const result = await rewrapAll(store, { from: source, to: target, concurrency: 2 });
    expect(result).toEqual({ total: MEMBERS, rewrapped: MEMBERS - moved, alreadyCurrent: moved, verified: MEMBERS });
    const counts = await deliveries.stop();
    expect(counts).toEqual({ served: counts.served });
    expect(counts.served).toBeGreaterThan(0);

    await source.close(); // the old key's module user goes; the new key keeps working
    expect(await keyBytes(store, [target])).toEqual(keys);
  });

  it('HSM → HSM in the same token: two keys side by side, one login', async () => {
    const source = await inHsm('old-hsm', 'same-token-a');
    const { store, keys } = await seeded(source);
    const target = await inHsm('old-hsm', 'same-token-b');
    expect(target.id).not.toBe(source.id);
    expect(await rewrapAll(store, { from: source, to: target, batchSize: 7, concurrency: 4 })).toEqual({ total: MEMBERS, rewrapped: MEMBERS, alreadyCurrent: 0, verified: MEMBERS });
    expect(await keyBytes(store, [target])).toEqual(keys);
    // Each entry now names the new key and no longer unwraps under the old one.
    const [one] = await store.list({ limit: 1 });
    expect(one!.masterKeyId).toBe(target.id);
    expect(await failure(unwrapEntry(source, one!))).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE' });
    expect(await failure(unwrapEntry(source, { ...one!, masterKeyId: source.id }))).toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  });
});
