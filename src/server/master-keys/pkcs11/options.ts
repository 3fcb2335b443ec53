// The options of pkcs11MasterKey, their defaults and their boundary checks.
import { ainteger, astring } from '../../../internal/bytes.ts';
import type { MasterKey } from '../master-key.ts';

/** Options of {@link pkcs11MasterKey}. */
export interface Pkcs11MasterKeyOptions {
  /** Path of the PKCS#11 module (the HSM vendor's client library), e.g. `/usr/lib/softhsm/libsofthsm2.so`. */
  library: string;
  /** The token (HSM partition), by its label. */
  tokenLabel: string;
  /**
   * The user PIN (CKU_USER). Never logged and never in an error. A string stays in memory for
   * re-login after the token comes back; a function is called at every login instead (fetch
   * the PIN from your secret store there) and its result is dropped afterwards.
   */
  pin: string | (() => string | Promise<string>);
  /** The master key in the token, by its label (CKA_LABEL). */
  keyLabel: string;
  /**
   * Generate the key inside the token (AES-256, sensitive, never extractable, encrypt/decrypt
   * only, a random CKA_ID) when no key has `keyLabel`. Default `false`: a missing key is an
   * error. Create it once, as an operator step, not from several processes at once.
   */
  create?: boolean;
  /** The master key's public id; by default `p11.` ‖ base64url(CKA_ID) of the key. */
  id?: string;
  /** Sessions (each with its own thread) for concurrent wraps and unwraps; default 4. */
  sessions?: number;
  /** How long a wrap or unwrap may wait for a session and the token, in ms; default 5000. */
  timeoutMs?: number;
  /** While the token is unavailable, the least time between two attempts to reconnect, in ms; default 1000. */
  retryIntervalMs?: number;
  /**
   * Told when the token becomes unavailable (`down`, with the reason), refuses the PIN
   * (`refused`), and is back (`up`). For logging and alerting; never receives a PIN or key. An
   * exception it throws is ignored.
   */
  onStatus?: (status: Pkcs11Status, reason?: string) => void;
}

/**
 * `up`: working. `down`: the token or its sessions went away; operations fail with
 * `ERR_KEY_UNAVAILABLE` and the master key reconnects by itself. `refused`: the token refused
 * the PIN; nothing is retried (a retry could lock the token): fix the PIN and open a new one.
 * `closed`: after `close()`.
 */
export type Pkcs11Status = 'up' | 'down' | 'refused' | 'closed';

/** A master key in an HSM over PKCS#11 (see {@link pkcs11MasterKey}). */
export interface Pkcs11MasterKey extends MasterKey {
  /** Where the connection to the token stands (for health checks). */
  readonly status: Pkcs11Status;
  /**
   * Waits for running operations, closes the sessions, and finalizes the PKCS#11 module when
   * no other master key in this process uses it. Later calls throw `ERR_DESTROYED`. Safe to
   * call again.
   */
  close(): Promise<void>;
}

/** The options with their defaults. */
export interface ResolvedOptions extends Required<Omit<Pkcs11MasterKeyOptions, 'id' | 'onStatus' | 'pin'>> {
  id: string | undefined;
  pin: () => Promise<string>;
  onStatus: ((status: Pkcs11Status, reason?: string) => void) | undefined;
}

/** Boundary checks (a caller's mistake is a TypeError or RangeError; never echoes the PIN). */
export function resolveOptions(options: Pkcs11MasterKeyOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`"options" expected object, got ${options === null ? 'null' : typeof options}`);
  const { library, tokenLabel, keyLabel, pin, id } = options;
  astring('library', library, true);
  astring('tokenLabel', tokenLabel, true);
  astring('keyLabel', keyLabel, true);
  if (tokenLabel.length > 32) throw new RangeError(`"tokenLabel" expected at most 32 characters (CK_TOKEN_INFO), got length=${tokenLabel.length}`);
  if (typeof pin !== 'string' && typeof pin !== 'function') throw new TypeError(`"pin" expected string or function, got ${pin === null ? 'null' : typeof pin}`);
  if (typeof pin === 'string' && pin.length === 0) throw new RangeError('"pin" expected non-empty string, got length=0');
  if (id !== undefined) astring('id', id, true);
  const sessions = options.sessions ?? 4;
  const timeoutMs = options.timeoutMs ?? 5000;
  const retryIntervalMs = options.retryIntervalMs ?? 1000;
  ainteger('sessions', sessions, 1, 64);
  ainteger('timeoutMs', timeoutMs, 1, 600_000);
  ainteger('retryIntervalMs', retryIntervalMs, 0, 600_000);
  if (options.onStatus !== undefined && typeof options.onStatus !== 'function') throw new TypeError(`"onStatus" expected function, got ${typeof options.onStatus}`);
  return {
    library,
    tokenLabel,
    keyLabel,
    pin: typeof pin === 'string' ? () => Promise.resolve(pin) : async () => {
      const value = await pin();
      if (typeof value !== 'string' || value.length === 0) throw new TypeError(`"pin" function expected to return a non-empty string, got ${typeof value}`);
      return value;
    },
    id,
    create: options.create === true,
    sessions,
    timeoutMs,
    retryIntervalMs,
    onStatus: options.onStatus,
  };
}
