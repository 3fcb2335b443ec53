// Wrapping one member key under a master key, bound to its entry (internal).
import { decryptionFailed } from '../../errors.ts';
import { allocSecret, fromBase64url, toBase64url, utf8, wipe } from '../../internal/bytes.ts';
import { MEMBER_KEY_LENGTH } from '../../keys/member-key.ts';
import type { MemberKeyChange, WrappedMemberKey } from '../stores/member-key-store.ts';
import type { MasterKey } from './master-key.ts';
import { TokumeiError } from '../../errors.ts';

const WRAP_LABEL = 'tokumei/v1/member-key-entry';
const STATE_BYTE = { active: 1, retired: 2 } as const;

function lengthPrefixed(text: string): Uint8Array {
  const b = utf8(text);
  const out = new Uint8Array(2 + b.length);
  out[0] = b.length >> 8;
  out[1] = b.length & 0xff;
  out.set(b, 2);
  return out;
}

/**
 * The master key's `context` for one entry: "tokumei/v1/member-key-entry" ‖ 0x00 ‖
 * len16(memberId) ‖ memberId ‖ len16(keyId) ‖ keyId ‖ u32be(version) ‖ u8(state: 1 active,
 * 2 retired). Everything that decides whether and to whom a key is delivered is bound: a wrapped
 * key copied to another member, key id or version, or an entry whose state was edited in
 * storage, does not unwrap.
 */
export function wrapContext(entry: Pick<WrappedMemberKey, 'memberId' | 'keyId' | 'version' | 'state'>): Uint8Array {
  const label = utf8(WRAP_LABEL);
  const m = lengthPrefixed(entry.memberId);
  const k = lengthPrefixed(entry.keyId);
  const out = new Uint8Array(label.length + 1 + m.length + k.length + 5);
  out.set(label);
  out.set(m, label.length + 1);
  out.set(k, label.length + 1 + m.length);
  new DataView(out.buffer).setUint32(out.length - 5, entry.version);
  out[out.length - 1] = STATE_BYTE[entry.state];
  return out;
}

/** Wraps `key` for an entry (with the state it is to have) under `master`. */
export async function wrapFor(master: MasterKey, entry: Pick<WrappedMemberKey, 'memberId' | 'keyId' | 'version' | 'state'>, key: Uint8Array): Promise<MemberKeyChange> {
  const wrapped = await master.wrap(key, wrapContext(entry));
  return { state: entry.state, masterKeyId: master.id, wrapped: toBase64url(wrapped) };
}

/**
 * Unwraps an entry's key into a fresh off-heap buffer the caller wipes.
 * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when the entry is wrapped under another master key;
 *   `ERR_DECRYPTION_FAILED` when it does not unwrap
 */
export async function unwrapEntry(master: MasterKey, entry: Pick<WrappedMemberKey, 'memberId' | 'keyId' | 'version' | 'state' | 'masterKeyId' | 'wrapped'>): Promise<Uint8Array> {
  if (entry.masterKeyId !== master.id) {
    throw new TokumeiError('ERR_KEY_UNAVAILABLE', `member key "${entry.keyId}" is wrapped under master key "${entry.masterKeyId}", not "${master.id}"`);
  }
  const wrapped = fromBase64url(entry.wrapped);
  if (wrapped === undefined) throw decryptionFailed();
  const raw = await master.unwrap(wrapped, wrapContext(entry));
  try {
    if (raw.length !== MEMBER_KEY_LENGTH) throw decryptionFailed();
    const out = allocSecret(MEMBER_KEY_LENGTH);
    out.set(raw);
    return out;
  } finally {
    wipe(raw); // the master key implementation's buffer, handed to us to wipe
  }
}

/**
 * Unwraps an entry under whichever of the known master keys wrapped it (the current one, or an
 * older one while `rewrapAll` moves entries off it); an entry of an unknown master key is tried
 * with the current one, which refuses it.
 */
export function unwrapperFor(current: MasterKey, previous: readonly MasterKey[]): (entry: WrappedMemberKey) => Promise<Uint8Array> {
  const masters = new Map([...previous, current].map((m) => [m.id, m]));
  return (entry) => unwrapEntry(masters.get(entry.masterKeyId) ?? current, entry);
}
