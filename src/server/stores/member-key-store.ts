// Storage of wrapped member keys: the interface every store implements and the boundary checks
// of an entry (on the way in, and on the way out of storage).
import { TokumeiError } from '../../errors.ts';
import { ainteger, astring, fromBase64url } from '../../internal/bytes.ts';
import { assertKeyId } from '../../keys/member-key.ts';

/**
 * One version of one member's key, wrapped under a master key. Everything here is public except
 * that `wrapped` is the key, encrypted. The wrapping is bound to `memberId`, `keyId`, `version`
 * and `state` (everything that decides whether and to whom the key is delivered), so editing one
 * of them in storage makes the entry fail to unwrap instead of changing who gets the key.
 */
export interface WrappedMemberKey {
  /** The member (the key environment's id for them, e.g. the SSO subject); 1–256 characters. */
  memberId: string;
  /** The key id written into every value sealed with this key; unique across the store. */
  keyId: string;
  /** 1, 2, 3, … per member, unique per member; the highest active version seals new values. */
  version: number;
  /** ms since the epoch. */
  createdAt: number;
  /** `retired` versions are no longer delivered (after every record moved off them). */
  state: 'active' | 'retired';
  /** {@link MasterKey.id} of the master key that wrapped it. */
  masterKeyId: string;
  /** base64url of the master key's wrapped value. */
  wrapped: string;
  /**
   * The entry's compare-and-swap counter: 1 when inserted, one more on every update. Assigned
   * by the store; an update names the revision it read and is refused when it changed meanwhile.
   */
  revision: number;
}

/** A key version to insert: an entry before the store has given it a revision. */
export type NewMemberKey = Omit<WrappedMemberKey, 'revision'>;

/**
 * What an update may change: the state and the wrapping, always together (the wrapping is bound
 * to the state, so a new state needs a new wrapping). Member, key id, version and creation time
 * never change.
 */
export type MemberKeyChange = Pick<WrappedMemberKey, 'state' | 'masterKeyId' | 'wrapped'>;

/**
 * Where wrapped member keys live. A database store gives one over PostgreSQL (or the embedded
 * PGlite); {@link memoryKeyStore} serves tests. Every write is one transaction and resolves only
 * after it is durable; a refused write changes nothing.
 */
export interface MemberKeyStore {
  /** Every version of a member's key, in ascending version order (empty if none). */
  versions(memberId: string): Promise<WrappedMemberKey[]>;
  /** The entry with this key id, or `undefined`. */
  get(keyId: string): Promise<WrappedMemberKey | undefined>;
  /**
   * Adds a key version.
   * @returns the stored entry, with revision 1
   * @throws TokumeiError `ERR_CONFLICT` when the key id exists anywhere in the store or the
   *   member already has this version (nothing is written); `TypeError`/`RangeError` for a
   *   malformed entry
   */
  insert(entry: NewMemberKey): Promise<WrappedMemberKey>;
  /**
   * Compare-and-swap: applies `change` to the entry with `current.keyId` only if its revision
   * still equals `current.revision`.
   * @returns the updated entry (revision one more), or `undefined` when the entry changed
   *   meanwhile or is gone (nothing is written: read it again and decide again)
   */
  update(current: WrappedMemberKey, change: MemberKeyChange): Promise<WrappedMemberKey | undefined>;
  /**
   * Optional: {@link MemberKeyStore.update} of several entries in one transaction (one commit),
   * each compare-and-swap on its own revision. `rewrapAll` uses it when present (a commit per
   * entry costs a disk flush per entry); without it, it updates one entry at a time.
   * @returns for each change, in order, the updated entry or `undefined` when that entry changed
   *   meanwhile or is gone (that one is not written; the others are)
   * @throws RangeError when two changes name the same key id (nothing is written)
   */
  updateMany?(changes: readonly { current: WrappedMemberKey; change: MemberKeyChange }[]): Promise<(WrappedMemberKey | undefined)[]>;
  /** Up to `limit` entries in ascending `keyId` order (by UTF-16 code units), starting after `after` (exclusive). */
  list(options: { after?: string; limit: number }): Promise<WrappedMemberKey[]>;
  /** How many entries the store holds. */
  count(): Promise<number>;
}

/** The longest member id, master key id, and wrapped value (in characters) a store accepts. */
export const MAX_MEMBER_ID_CHARS = 256;
const MAX_MASTER_KEY_ID_CHARS = 256;
const MAX_WRAPPED_CHARS = 4096;

/** Boundary check of a member id: a non-empty string of at most 256 characters. */
export function assertMemberId(memberId: unknown): asserts memberId is string {
  astring('memberId', memberId, true);
  if (memberId.length > MAX_MEMBER_ID_CHARS) throw new RangeError(`"memberId" expected at most ${MAX_MEMBER_ID_CHARS} characters, got length=${memberId.length}`);
}

/** Boundary check of a state, a master key id and a wrapped value; names fields, never values. */
export function assertMemberKeyChange(change: unknown): asserts change is MemberKeyChange {
  if (typeof change !== 'object' || change === null) throw new TypeError(`"change" expected object, got ${change === null ? 'null' : typeof change}`);
  const c = change as MemberKeyChange;
  if (c.state !== 'active' && c.state !== 'retired') throw new TypeError(`"state" expected 'active' or 'retired', got ${typeof c.state}`);
  astring('masterKeyId', c.masterKeyId, true);
  if (c.masterKeyId.length > MAX_MASTER_KEY_ID_CHARS) throw new RangeError(`"masterKeyId" expected at most ${MAX_MASTER_KEY_ID_CHARS} characters, got length=${c.masterKeyId.length}`);
  astring('wrapped', c.wrapped, true);
  if (c.wrapped.length > MAX_WRAPPED_CHARS || fromBase64url(c.wrapped) === undefined) throw new RangeError(`"wrapped" expected base64url of at most ${MAX_WRAPPED_CHARS} characters, got length=${c.wrapped.length}`);
}

/** Boundary check of an entry to insert (key id pattern included); names fields, never values. */
export function assertNewMemberKey(entry: unknown): asserts entry is NewMemberKey {
  if (typeof entry !== 'object' || entry === null) throw new TypeError(`"entry" expected object, got ${entry === null ? 'null' : typeof entry}`);
  const e = entry as NewMemberKey;
  assertMemberId(e.memberId);
  assertKeyId(e.keyId);
  ainteger('version', e.version, 1, 2 ** 31 - 1);
  ainteger('createdAt', e.createdAt, 0, Number.MAX_SAFE_INTEGER);
  assertMemberKeyChange(e);
}

/** Boundary check of a stored entry (revision included). */
export function assertWrappedMemberKey(entry: unknown): asserts entry is WrappedMemberKey {
  assertNewMemberKey(entry);
  ainteger('revision', (entry as WrappedMemberKey).revision, 1, Number.MAX_SAFE_INTEGER);
}

/**
 * Checks an entry read from storage (a row edited by hand, a corrupted file): a malformed one is
 * `ERR_KEY_UNAVAILABLE` (that key cannot be used), never handed on to delivery.
 */
export function checkStored(entry: WrappedMemberKey): WrappedMemberKey {
  try {
    assertWrappedMemberKey(entry);
  } catch (cause) {
    throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'the member key store holds a malformed entry', { cause });
  }
  return entry;
}

/** The refusal of an insert whose key id or version is taken. */
export function insertConflict(what: 'keyId' | 'version'): TokumeiError {
  return new TokumeiError('ERR_CONFLICT', what === 'keyId' ? 'the key id already exists in the member key store' : 'the member already has a key of this version');
}

/** A shallow copy, so that a caller never holds the store's own object. */
export const copy = (e: WrappedMemberKey): WrappedMemberKey => ({ ...e });
