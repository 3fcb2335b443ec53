// Retiring an older key version: refused while a session may still seal with it, and written by
// compare-and-swap so that a concurrent change (a re-wrap) is never undone (internal;
// `KeyEnvironment.retireKeyVersion` is the public surface).
import { TokumeiError } from '../../errors.ts';
import type { MemberKeyContext } from '../member-keys/admin.ts';
import { activeVersions, changeState } from '../member-keys/versions.ts';
import { assertMemberId } from '../stores/member-key-store.ts';
import { assertRetirable, type RekeyContext } from './rekey.ts';

const MAX_RETIRE_ATTEMPTS = 8;

/**
 * Sets `keyId`, an older active version of the member, to `retired`.
 * @throws RangeError when it is not one; TokumeiError `ERR_KEY_IN_USE` while a session may still
 *   seal with it; `ERR_CONFLICT` when the entry kept changing meanwhile
 */
export async function retireVersion(keys: MemberKeyContext, rekey: RekeyContext, memberId: string, keyId: string): Promise<void> {
  assertMemberId(memberId);
  for (let attempt = 1; ; attempt++) {
    const active = await activeVersions(keys.store, memberId);
    const i = active.findIndex((e) => e.keyId === keyId);
    if (i < 0 || i === active.length - 1) throw new RangeError(`"keyId" expected an older active key version of the member, got "${String(keyId)}"`);
    await assertRetirable(rekey, memberId, keyId);
    // Compare-and-swap: a concurrent change (a re-wrap) makes this read again and decide again.
    if ((await changeState(keys.store, keys.masterKey, keys.unwrap, active[i]!, 'retired')) !== undefined) return;
    if (attempt === MAX_RETIRE_ATTEMPTS) throw new TokumeiError('ERR_CONFLICT', 'the key version kept changing while it was retired');
  }
}
