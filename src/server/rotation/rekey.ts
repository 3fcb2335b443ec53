// Rotation that loses no edit: which key each live session seals with, the `rekey` status that
// makes a browser fetch the member's new primary key, and the refusal to retire a version a
// session may still seal with (internal; the KeyEnvironment methods are the public surface).
import { TokumeiError } from '../../errors.ts';
import type { SessionStatus } from '../../session/key-provider.ts';
import { activeVersions } from '../member-keys/versions.ts';
import { isLive, type SessionRecord, type SessionRegistry } from '../sessions/registry.ts';
import type { MemberKeyStore } from '../stores/member-key-store.ts';

/** How far a member's sessions have followed a rotation ({@link KeyEnvironment.rekeyProgress}). */
export interface RekeyProgress {
  /** The key id new values are sealed with: the member's newest active version. */
  primaryKeyId: string;
  /** Live sessions. */
  live: number;
  /** Live sessions that still seal with an older version; each follows at its next status check. */
  behind: number;
  /**
   * Sessions that switched keys, or were revoked, within the rekey grace: another tab of theirs
   * may still hold the older key until its own next status check.
   */
  settling: number;
}

/** What rotation needs besides the store and the registry (internal). */
export interface RekeyContext {
  store: MemberKeyStore;
  sessions: SessionRegistry;
  now: () => number;
  /** How long after a session switched keys (or was revoked) its other tabs may still seal with the old one. */
  graceMs: number;
}

/**
 * Whether a tab of this session may still seal with an older key (`older(keyId)`) although the
 * registry does not say so: within the grace after the session switched keys
 * (another tab of it, in IndexedDB mode, learns of the switch at its own next status check), or
 * after a revocation of a session on an older key (its tabs learn of the revocation at their
 * next check; a logoff is different: the tab that logged off has wiped, and told the others).
 */
function settling(s: SessionRecord, older: (keyId: string) => boolean, at: number, graceMs: number): boolean {
  // The key a session switched from is not recorded: any recent switch counts.
  if (s.rekeyedAt !== undefined && s.rekeyedAt > at - graceMs) return true;
  return s.revoked !== undefined && s.revoked.reason !== 'logoff' && s.revoked.at > at - graceMs && older(s.primaryKeyId);
}

/** The status of a session, and the key id its browser reports sealing with (recorded). */
export async function statusOf(ctx: RekeyContext, sessionId: string, reportedKeyId: string | undefined): Promise<SessionStatus> {
  const at = ctx.now();
  const s = await ctx.sessions.get(sessionId);
  if (s === undefined || !isLive(s, at)) return 'revoked';
  const versions = await ctx.store.versions(s.memberId);
  const newest = versions.filter((v) => v.state === 'active').pop();
  if (newest === undefined) return 'active'; // no key left to move to: nothing to follow
  let sealing = s.primaryKeyId;
  // Only a key id of this member's is recorded: anything else is ignored, never stored.
  if (reportedKeyId !== undefined && reportedKeyId !== sealing && versions.some((v) => v.keyId === reportedKeyId)) {
    if (!(await ctx.sessions.setPrimaryKey(sessionId, reportedKeyId, at))) return 'revoked';
    sealing = reportedKeyId;
  }
  return sealing === newest.keyId ? 'active' : 'rekey';
}

/** {@link KeyEnvironment.rekeyProgress}. */
export async function progressOf(ctx: RekeyContext, memberId: string): Promise<RekeyProgress> {
  const at = ctx.now();
  const versions = await activeVersions(ctx.store, memberId);
  const newest = versions[versions.length - 1];
  if (newest === undefined) throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'the member has no key');
  const progress: RekeyProgress = { primaryKeyId: newest.keyId, live: 0, behind: 0, settling: 0 };
  for (const s of await ctx.sessions.memberSessions(memberId, at)) {
    if (isLive(s, at)) {
      progress.live++;
      if (s.primaryKeyId !== newest.keyId) progress.behind++;
    }
    if (settling(s, (id) => id !== newest.keyId, at, ctx.graceMs)) progress.settling++;
  }
  return progress;
}

/**
 * Refuses to retire `keyId` while a session may still seal with it: a live session whose
 * primary it is, or one of the member's sessions still within the rekey grace.
 * @throws TokumeiError `ERR_KEY_IN_USE`
 */
export async function assertRetirable(ctx: RekeyContext, memberId: string, keyId: string): Promise<void> {
  const at = ctx.now();
  for (const s of await ctx.sessions.memberSessions(memberId, at)) {
    if ((isLive(s, at) && s.primaryKeyId === keyId) || settling(s, (id) => id === keyId, at, ctx.graceMs)) {
      throw new TokumeiError('ERR_KEY_IN_USE', 'a session may still seal with this key version: retire it once every session has followed the rotation');
    }
  }
}
