// A member's key versions in the store: adding one (a fresh random key wrapped under the master
// key), the active entries a keyring holds, and unwrapping them into buffers wiped after use.
import { TokumeiError } from '../../errors.ts';
import { allocSecret, fillRandom, wipe } from '../../internal/bytes.ts';
import { assertKeyId, MEMBER_KEY_LENGTH, randomKeyId } from '../../keys/member-key.ts';
import { MAX_DELIVERED_KEYS, type PayloadKey } from '../../delivery/payload.ts';
import type { MasterKey } from '../master-keys/master-key.ts';
import { wrapFor } from '../master-keys/wrap.ts';
import { checkStored, type MemberKeyStore, type WrappedMemberKey } from '../stores/member-key-store.ts';

/** The public facts about one key version (everything but the wrapped key and the store's revision). */
export type KeyVersion = Omit<WrappedMemberKey, 'wrapped' | 'revision'>;

/** An entry without its wrapped key and revision. */
export const publicFacts = ({ wrapped: _, revision: __, ...rest }: WrappedMemberKey): KeyVersion => rest;

/**
 * The member's active entries, oldest first, each checked: an entry the store hands back
 * malformed (or another member's) is `ERR_KEY_UNAVAILABLE` before any key is unwrapped. `read`:
 * the member's versions when they were already read (as `store.versions` returns them).
 */
export async function activeVersions(store: MemberKeyStore, memberId: string, read?: readonly WrappedMemberKey[]): Promise<WrappedMemberKey[]> {
  const entries = (read ?? (await store.versions(memberId))).map(checkStored);
  if (entries.some((e) => e.memberId !== memberId)) throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'the member key store returned another member\'s entry');
  return entries.filter((e) => e.state === 'active');
}

const MAX_ATTEMPTS = 8;

const isConflict = (err: unknown): boolean => err instanceof TokumeiError && err.code === 'ERR_CONFLICT';

/**
 * Adds the member's next key version: a fresh random key, wrapped under `masterKey`, inserted
 * as the version after the highest one. When a concurrent writer takes that version first, it
 * reads again and takes the next (with `first`, it returns the member's newest active version
 * instead, so two concurrent first calls give one key).
 * @throws TokumeiError `ERR_CONFLICT` when `keyId` already exists in the store
 */
export async function addVersion(store: MemberKeyStore, masterKey: MasterKey, memberId: string, keyId: string | undefined, createdAt: number, first = false): Promise<KeyVersion> {
  const id = keyId ?? randomKeyId();
  assertKeyId(id);
  const key = fillRandom(allocSecret(MEMBER_KEY_LENGTH));
  try {
    for (let attempt = 1; ; attempt++) {
      const existing = await store.versions(memberId);
      const active = existing.filter((e) => e.state === 'active');
      if (first && active.length > 0) return publicFacts(active[active.length - 1]!);
      const version = existing.reduce((max, e) => Math.max(max, e.version), 0) + 1;
      const wrapping = await wrapFor(masterKey, { memberId, keyId: id, version, state: 'active' }, key);
      try {
        return publicFacts(await store.insert({ memberId, keyId: id, version, createdAt, ...wrapping }));
      } catch (err) {
        // A taken key id is the caller's conflict; a taken version is a concurrent writer's.
        if (!isConflict(err) || attempt === MAX_ATTEMPTS || (await store.get(id)) !== undefined) throw err;
      }
    }
  } finally {
    wipe(key);
  }
}

/**
 * Sets an entry's state by compare-and-swap, re-wrapping its key (the wrapping binds the state)
 * under `masterKey`.
 * @returns the updated entry, or `undefined` when the entry changed meanwhile (nothing written)
 */
export async function changeState(store: MemberKeyStore, masterKey: MasterKey, unwrap: (entry: WrappedMemberKey) => Promise<Uint8Array>, entry: WrappedMemberKey, state: WrappedMemberKey['state']): Promise<WrappedMemberKey | undefined> {
  const key = await unwrap(entry);
  try {
    return await store.update(entry, await wrapFor(masterKey, { ...entry, state }, key));
  } finally {
    wipe(key);
  }
}

/**
 * Active entries of the member (own, newest last) and of dependants, for a keyring; `primary`
 * is the index of the member's newest version; `ownRead`: the member's own versions when they
 * were already read (with the token's count, on the database).
 * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when the member has no key or there are too many
 */
export async function keyringEntries(store: MemberKeyStore, memberId: string, dependants: readonly string[], ownRead?: readonly WrappedMemberKey[]): Promise<{ entries: WrappedMemberKey[]; primary: number }> {
  const own = await activeVersions(store, memberId, ownRead);
  if (own.length === 0) throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'the member has no key');
  const entries = [...own];
  const seen = new Set([memberId]);
  for (const d of dependants) {
    if (seen.has(d)) continue;
    seen.add(d);
    entries.push(...(await activeVersions(store, d)));
  }
  if (entries.length > MAX_DELIVERED_KEYS) throw new TokumeiError('ERR_KEY_UNAVAILABLE', `more than ${MAX_DELIVERED_KEYS} keys to deliver`);
  return { entries, primary: own.length - 1 };
}

/** Unwraps entries into off-heap buffers, runs `use`, and wipes them all in `finally`. */
export async function withUnwrappedKeys<T>(entries: readonly WrappedMemberKey[], unwrap: (entry: WrappedMemberKey) => Promise<Uint8Array>, use: (keys: PayloadKey[]) => T): Promise<T> {
  const keys: PayloadKey[] = [];
  try {
    for (const e of entries) keys.push({ keyId: e.keyId, key: await unwrap(e) });
    return use(keys);
  } finally {
    for (const k of keys) wipe(k.key);
  }
}
