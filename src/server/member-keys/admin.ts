// What an operator does with a member's keys: create the first version, rotate to a new one,
// list the versions, and open a keyring in a trusted back office (internal; the KeyEnvironment
// methods are the public surface).
import { aobject } from '../../internal/bytes.ts';
import { createKeyring, type Keyring } from '../../keys/keyring.ts';
import { adoptMemberKey, type MemberKey } from '../../keys/member-key.ts';
import type { MasterKey } from '../master-keys/master-key.ts';
import { assertMemberId, type MemberKeyStore, type WrappedMemberKey } from '../stores/member-key-store.ts';
import { addVersion, keyringEntries, publicFacts, type KeyVersion } from './versions.ts';

/** What the member-key operations need (internal). */
export interface MemberKeyContext {
  store: MemberKeyStore;
  /** New keys, and entries whose state changes, are wrapped under it. */
  masterKey: MasterKey;
  /** Unwraps an entry under whichever known master key wrapped it. */
  unwrap: (entry: WrappedMemberKey) => Promise<Uint8Array>;
  now: () => number;
}

/**
 * Adds a member's next key version; with `first`, only when the member has no active one
 * (`KeyEnvironment.createMemberKey`), else always (`KeyEnvironment.rotateMemberKey`).
 */
export function newVersion(ctx: MemberKeyContext, memberId: string, options: { keyId?: string }, first: boolean): Promise<KeyVersion> {
  assertMemberId(memberId);
  aobject('options', options);
  return addVersion(ctx.store, ctx.masterKey, memberId, options.keyId, ctx.now(), first);
}

/** The public facts of a member's key versions, oldest first. */
export async function listVersions(ctx: MemberKeyContext, memberId: string): Promise<KeyVersion[]> {
  assertMemberId(memberId);
  return (await ctx.store.versions(memberId)).map(publicFacts);
}

/** A keyring of the member's active keys (newest primary) and the dependants'; the caller destroys it. */
export async function openMemberKeyring(ctx: MemberKeyContext, memberId: string, options: { dependants?: readonly string[] }): Promise<Keyring> {
  assertMemberId(memberId);
  aobject('options', options);
  const { entries, primary } = await keyringEntries(ctx.store, memberId, options.dependants ?? []);
  const keys: MemberKey[] = [];
  let ok = false;
  try {
    // Unwrapped buffers are off-heap and owned by the library: adopted without a copy.
    for (const e of entries) keys.push(adoptMemberKey(await ctx.unwrap(e), e.keyId));
    const ring = createKeyring(keys, { primary: entries[primary]!.keyId });
    ok = true;
    return ring;
  } finally {
    if (!ok) for (const k of keys) k.destroy();
  }
}
