// Key delivery v1: the constants, the HPKE `info`, and the sealed keyring payload
// (docs/key-delivery.md §3–§4). Shared by the browser (decode) and the key environment (encode).
import { decryptionFailed } from '../errors.ts';
import { allocSecret, utf8 } from '../internal/bytes.ts';
import { createKeyring, type Keyring } from '../keys/keyring.ts';
import { adoptMemberKey, KEY_ID_PATTERN, MEMBER_KEY_LENGTH, type MemberKey } from '../keys/member-key.ts';
import { AEAD_AES256GCM, KEM_P256, KEM_X25519, type KemId, type Suite } from './hpke.ts';

/** The `protocol` value of every request and response of key delivery v1. */
export const DELIVERY_PROTOCOL = 'tokumei-key-delivery/1';
/** The first part of the HPKE `info` (docs/key-delivery.md §3). */
export const INFO_LABEL = 'tokumei/v1/key-delivery';
/** Payload format byte. */
export const PAYLOAD_VERSION = 1;
/** The payload is zero-padded to a multiple of this (hides the key count, keeps it off the V8 heap). */
export const PAYLOAD_BLOCK = 128;
/** At most this many keys in one delivery. */
export const MAX_DELIVERED_KEYS = 255;

/** The KEM names used on the wire. */
export type KemName = 'P-256' | 'X25519';

/** Maps a wire KEM name to its suite (AEAD is always AES-256-GCM); `undefined` if unknown. */
export function suiteFor(kem: unknown): Suite | undefined {
  if (kem === 'P-256') return { kem: KEM_P256, aead: AEAD_AES256GCM };
  if (kem === 'X25519') return { kem: KEM_X25519, aead: AEAD_AES256GCM };
  return undefined;
}

/** The wire name of a KEM id. */
export function kemName(kem: KemId): KemName {
  return kem === KEM_P256 ? 'P-256' : 'X25519';
}

/**
 * HPKE `info` = "tokumei/v1/key-delivery" ‖ 0x00 ‖ len16(memberId) ‖ memberId ‖
 * len16(sessionId) ‖ sessionId ‖ u64be(expiresAt) (docs/key-delivery.md §3.1). Binding these
 * means a response whose member, session or expiry was changed in transit does not open. Ids are
 * at most 256 characters (≤ 768 UTF-8 bytes), which the callers check.
 */
export function deliveryInfo(memberId: string, sessionId: string, expiresAt: number): Uint8Array {
  const parts = [utf8(memberId), utf8(sessionId)];
  const out = new Uint8Array(INFO_LABEL.length + 1 + 2 + parts[0]!.length + 2 + parts[1]!.length + 8);
  out.set(utf8(INFO_LABEL));
  let o = INFO_LABEL.length + 1; // the 0x00 separator is already zero
  for (const p of parts) {
    out[o++] = p.length >> 8;
    out[o++] = p.length & 0xff;
    out.set(p, o);
    o += p.length;
  }
  // u64be: expiresAt ≤ 2^53 − 1, so the high half is exact as a float division.
  for (let i = 7, v = expiresAt; i >= 0; i--, v = Math.floor(v / 256)) out[o + i] = v % 256;
  return out;
}

/** One key to deliver: the id and the 32 bytes (a buffer the encoder only reads). */
export interface PayloadKey {
  keyId: string;
  key: Uint8Array;
}

/**
 * Encodes the keyring payload: 0x01 ‖ count ‖ primaryIndex ‖ count × (len8(keyId) ‖ keyId ‖
 * key(32)) ‖ zero padding to a multiple of 128 bytes. Returns an off-heap buffer the caller wipes.
 */
export function encodeKeyringPayload(keys: readonly PayloadKey[], primaryIndex: number): Uint8Array {
  if (keys.length < 1 || keys.length > MAX_DELIVERED_KEYS) throw new RangeError(`"keys" expected 1-${MAX_DELIVERED_KEYS} keys, got length=${keys.length}`);
  if (!Number.isInteger(primaryIndex) || primaryIndex < 0 || primaryIndex >= keys.length) throw new RangeError(`"primaryIndex" expected integer in [0, ${keys.length - 1}], got ${primaryIndex}`);
  let n = 3;
  // Every key id is checked before the buffer exists: a malformed one never leaves key bytes
  // behind in a half-written payload.
  for (const k of keys) {
    if (!KEY_ID_PATTERN.test(k.keyId)) throw new RangeError(`"keyId" expected 1-64 characters of [A-Za-z0-9._:-], got length=${k.keyId.length}`);
    n += 1 + k.keyId.length + MEMBER_KEY_LENGTH;
  }
  const out = allocSecret(Math.ceil(n / PAYLOAD_BLOCK) * PAYLOAD_BLOCK);
  out[0] = PAYLOAD_VERSION;
  out[1] = keys.length;
  out[2] = primaryIndex;
  let o = 3;
  for (const k of keys) {
    out[o++] = k.keyId.length;
    for (let i = 0; i < k.keyId.length; i++) out[o++] = k.keyId.charCodeAt(i); // ASCII by the pattern
    out.set(k.key, o);
    o += MEMBER_KEY_LENGTH;
  }
  return out;
}

/**
 * Decodes an opened payload into a {@link Keyring}. Each key is copied byte by byte straight into
 * its own `allocSecret` buffer (no `subarray`, no intermediate array) and adopted; on any
 * malformation every key made so far is destroyed and the one opaque decryption error is thrown
 * (the payload was authentic, so this means a broken key environment, not an attacker; still no
 * detail). The caller wipes `payload`.
 */
export function decodeKeyringPayload(payload: Uint8Array): Keyring {
  const keys: MemberKey[] = [];
  let ok = false;
  try {
    if (payload.length < 3 || payload.length % PAYLOAD_BLOCK !== 0 || payload[0] !== PAYLOAD_VERSION) throw decryptionFailed();
    const count = payload[1]!;
    const primary = payload[2]!;
    if (count === 0 || primary >= count) throw decryptionFailed();
    let o = 3;
    for (let k = 0; k < count; k++) {
      const idLen = payload[o++];
      if (idLen === undefined || idLen === 0 || idLen > 64 || o + idLen + MEMBER_KEY_LENGTH > payload.length) throw decryptionFailed();
      let keyId = '';
      for (let i = 0; i < idLen; i++) keyId += String.fromCharCode(payload[o++]!);
      if (!KEY_ID_PATTERN.test(keyId)) throw decryptionFailed();
      const bytes = allocSecret(MEMBER_KEY_LENGTH);
      for (let i = 0; i < MEMBER_KEY_LENGTH; i++) bytes[i] = payload[o++]!;
      keys.push(adoptMemberKey(bytes, keyId));
    }
    for (; o < payload.length; o++) if (payload[o] !== 0) throw decryptionFailed();
    let ring: Keyring;
    try {
      ring = createKeyring(keys, { primary: keys[primary]!.keyId });
    } catch {
      throw decryptionFailed(); // repeated key ids
    }
    ok = true;
    return ring;
  } finally {
    if (!ok) for (const k of keys) k.destroy();
  }
}
