// A member's key versions in the store: adding one (a fresh random key wrapped under the master
// key), the active entries a keyring holds, and unwrapping them into buffers wiped after use.
import { TokumeiError } from '../../errors.ts';
import { allocSecret, fillRandom, wipe } from '../../internal/bytes.ts';
import { assertKeyId, MEMBER_KEY_LENGTH, randomKeyId } from '../../keys/member-key.ts';
import { MAX_DELIVERED_KEYS, type PayloadKey } from '../../delivery/payload.ts';
import type { MasterKey } from '../master-keys/master-key.ts';
import { wrapEntry } from '../master-keys/wrap.ts';
import type { MemberKeyStore, WrappedMemberKey } from '../stores/member-key-store.ts';

/** The public facts about one key version (everything but the wrapped key). */
export type KeyVersion = Omit<WrappedMemberKey, 'wrapped'>;

/** An entry without its wrapped key. */
export const publicFacts = ({ wrapped: _, ...rest }: WrappedMemberKey): KeyVersion => rest;

/** The member's active entries, oldest first. */
export async function activeVersions(store: MemberKeyStore, memberId: string): Promise<WrappedMemberKey[]> {
  return (await store.versions(memberId)).filter((e) => e.state === 'active');
}

/** Adds the member's next key version: a fresh random key, wrapped under `masterKey`. */
export async function addVersion(store: MemberKeyStore, masterKey: MasterKey, memberId: string, keyId: string | undefined, createdAt: number): Promise<KeyVersion> {
  const id = keyId ?? randomKeyId();
  assertKeyId(id);
  const existing = await store.versions(memberId);
  const version = existing.reduce((max, e) => Math.max(max, e.version), 0) + 1;
  const key = fillRandom(allocSecret(MEMBER_KEY_LENGTH));
  try {
    const entry = await wrapEntry(masterKey, { memberId, keyId: id, version, createdAt, state: 'active' }, key);
    await store.put(entry);
    return publicFacts(entry);
  } finally {
    wipe(key);
  }
}

/**
 * Active entries of the member (own, newest last) and of dependants, for a keyring; `primary`
 * is the index of the member's newest version.
 * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when the member has no key or there are too many
 */
export async function keyringEntries(store: MemberKeyStore, memberId: string, dependants: readonly string[]): Promise<{ entries: WrappedMemberKey[]; primary: number }> {
  const own = await activeVersions(store, memberId);
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
