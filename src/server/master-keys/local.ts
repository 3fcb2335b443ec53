// The local master key: AES-256-GCM under a key held in a node:crypto `KeyObject`, from raw
// bytes or an environment variable (key files: key-file.ts) — for development, tests and the
// demo. Node only.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes as nodeRandomBytes, type KeyObject } from 'node:crypto';
import { decryptionFailed } from '../../errors.ts';
import { abytes, allocSecret, astring, toBase64url, wipe } from '../../internal/bytes.ts';
import { hexToSecret } from './hex.ts';
import type { MasterKey } from './master-key.ts';

const WRAP_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
/** The longest value a master key wraps (member keys are 32 bytes). */
const MAX_PLAINTEXT = 65_536;
const MASTER_KEY_ID_LABEL = 'tokumei/v1/master-key-id';

/** The local master key: AES-256-GCM under a key held in a node:crypto `KeyObject`. */
class LocalMasterKey implements MasterKey {
  readonly id: string;
  #key: KeyObject;

  constructor(key: KeyObject, id: string) {
    this.#key = key;
    this.id = id;
  }

  // Format: 0x01 ‖ iv(12) ‖ ciphertext ‖ tag(16), AAD = context.
  async wrap(plaintext: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    abytes('plaintext', plaintext);
    abytes('context', context);
    if (plaintext.length === 0 || plaintext.length > MAX_PLAINTEXT) throw new RangeError(`"plaintext" expected 1 to ${MAX_PLAINTEXT} bytes, got length=${plaintext.length}`);
    const iv = nodeRandomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(context);
    const ct = cipher.update(plaintext);
    cipher.final();
    const out = new Uint8Array(1 + IV_LENGTH + ct.length + TAG_LENGTH);
    out[0] = WRAP_VERSION;
    out.set(iv, 1);
    out.set(ct, 1 + IV_LENGTH);
    out.set(cipher.getAuthTag(), 1 + IV_LENGTH + ct.length);
    return out;
  }

  async unwrap(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    abytes('wrapped', wrapped);
    abytes('context', context);
    const n = wrapped.length - 1 - IV_LENGTH - TAG_LENGTH;
    if (n < 1 || n > MAX_PLAINTEXT || wrapped[0] !== WRAP_VERSION) throw decryptionFailed();
    const out = allocSecret(n);
    let part: Buffer | undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, wrapped.subarray(1, 1 + IV_LENGTH)).setAAD(context);
      decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_LENGTH));
      part = decipher.update(wrapped.subarray(1 + IV_LENGTH, 1 + IV_LENGTH + n));
      out.set(part);
      decipher.final(); // verifies the tag; nothing leaves before it does
      return out;
    } catch {
      wipe(out);
      throw decryptionFailed();
    } finally {
      wipe(part);
    }
  }

  /** Never prints key material. */
  toJSON(): { id: string } {
    return { id: this.id };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `LocalMasterKey { id: '${this.id}' }`;
  }
}

/** A public fingerprint of a master key: "mk1." ‖ base64url(HMAC-SHA256(key, label)[0..12]). */
function fingerprint(key: KeyObject): string {
  return `mk1.${toBase64url(createHmac('sha256', key).update(MASTER_KEY_ID_LABEL).digest().subarray(0, 12))}`;
}

/**
 * A local master key (AES-256-GCM) from 32 raw bytes. The bytes are copied into a node:crypto
 * `KeyObject`; the caller's buffer is not kept and not wiped.
 *
 * @param key - 32 bytes
 * @param options - `id`: the master key's public id; by default a fingerprint (`mk1.…`) of the key
 * @returns the master key
 * @throws TypeError / RangeError when `key` is not 32 bytes
 * @example
 * ```ts
 * import { localMasterKey } from 'tokumei/server';
 * const master = localMasterKey(crypto.getRandomValues(new Uint8Array(32)));
 * ```
 */
export function localMasterKey(key: Uint8Array, options: { id?: string } = {}): MasterKey {
  abytes('key', key, 32);
  const keyObject = createSecretKey(key);
  const id = options.id ?? fingerprint(keyObject);
  astring('id', id, true);
  return new LocalMasterKey(keyObject, id);
}

/**
 * The local master key from an environment variable holding 64 hex digits (surrounding
 * whitespace allowed). The digits are decoded one character code at a time into an off-heap
 * buffer, and the value is never logged or echoed in an error. An environment variable is a
 * string by nature: its value stays in `process.env` and in the process's initial environment
 * (`/proc/PID/environ`) for the life of the process, where no one can wipe it. Prefer
 * {@link masterKeyFromFile}, or a master key in an HSM (`pkcs11MasterKey`).
 *
 * @param name - the variable's name; `TOKUMEI_MASTER_KEY` by default
 * @param options - `id`, as in {@link localMasterKey}
 * @returns the master key
 * @throws TypeError when the variable is not set; RangeError when it is not 64 hex digits
 * @example
 * ```ts
 * import { masterKeyFromEnv } from 'tokumei/server';
 * const master = masterKeyFromEnv('TOKUMEI_MASTER_KEY');
 * ```
 */
export function masterKeyFromEnv(name = 'TOKUMEI_MASTER_KEY', options: { id?: string } = {}): MasterKey {
  astring('name', name, true);
  const value = process.env[name];
  if (value === undefined) throw new TypeError(`"${name}" expected an environment variable with 64 hex digits, got undefined`);
  let start = 0;
  let end = value.length;
  while (start < end && value.charCodeAt(start) <= 0x20) start++;
  while (end > start && value.charCodeAt(end - 1) <= 0x20) end--;
  const bytes = end - start === 64 ? hexToSecret((i) => value.charCodeAt(i), start, 32) : undefined;
  if (bytes === undefined) throw new RangeError(`"${name}" expected 64 hex digits, got length=${end - start}`);
  try {
    return localMasterKey(bytes, options);
  } finally {
    wipe(bytes);
  }
}
