// The options of `createKeyEnvironment`, and their boundary check.
import { randomBytes } from 'node:crypto';
import { abytes, ainteger } from '../internal/bytes.ts';
import type { Authenticate } from './auth/credential.ts';
import type { DpopOptions } from './auth/dpop.ts';
import type { DeliveryAuditLog } from './audit/delivery-audit.ts';
import type { DeliveryLimits } from './limits/delivery-limits.ts';
import type { DeliveryEvent } from './delivery/deliver.ts';
import type { MasterKey } from './master-keys/master-key.ts';
import { REVOKED_RETENTION_MS, type SessionRegistry } from './sessions/registry.ts';
import type { MemberKeyStore } from './stores/member-key-store.ts';

/** DPoP (RFC 9449) in the key environment: see {@link KeyEnvironmentOptions.dpop}. */
export interface KeyEnvironmentDpopOptions extends Pick<DpopOptions, 'algorithms' | 'nonces' | 'nonceWindowSeconds' | 'iatWindowSeconds'> {
  /**
   * Require a DPoP proof, and a DPoP-bound token, on every request. Default `true`. With
   * `false` (development and tests only) a plain bearer token is accepted too: it still opens
   * at most one session, but that session is not bound to a key, and its id alone checks and
   * ends it.
   */
  required?: boolean;
}

/** Options of {@link createKeyEnvironment}. */
export interface KeyEnvironmentOptions {
  /** Wraps every member key at rest (new keys are always wrapped under it). */
  masterKey: MasterKey;
  /**
   * Older master keys that still unwrap entries not yet re-wrapped: pass the old one here while
   * `rewrapAll` runs, so deliveries go on during the migration. Empty by default.
   */
  previousMasterKeys?: readonly MasterKey[];
  /** Where wrapped member keys are kept. */
  store: MemberKeyStore;
  /**
   * Verifies the access token of a delivery or refresh and says whose keys it unlocks —
   * `oidcAuthenticator(…)` for an OpenID Provider's JWT access tokens, or your own function.
   * It receives `{ token, scheme, method, url }`; return `{ memberId, dependants?, expiresAt?,
   * tokenId?, keyThumbprint? }`, or `null` (or throw `TokumeiError` `ERR_AUTH`) to refuse: the
   * browser gets HTTP 401. Any other exception is an internal error (HTTP 500). The key
   * environment itself checks the DPoP proof and that `keyThumbprint` (the token's `cnf.jkt`)
   * is the proof's key.
   */
  authenticate: Authenticate;
  /**
   * DPoP on every endpoint (docs/key-delivery.md §2.5): required by default, ES256, with server
   * nonces; used proof ids are remembered in `sessions`.
   */
  dpop?: KeyEnvironmentDpopOptions;
  /**
   * 32 or more random bytes, the same on every instance of the key environment: they key the
   * DPoP nonces and the end-of-session tokens, so that every instance accepts what another
   * issued. Default: random per process (one instance; a restart makes earlier nonces and
   * end-of-session tokens invalid).
   */
  sharedSecret?: Uint8Array;
  /** Where sessions, single-use token records and used proof ids are kept; in memory by default. */
  sessions?: SessionRegistry;
  /** Absolute session lifetime in ms (refreshes never extend a session past it); default 8 hours. */
  sessionLifetimeMs?: number;
  /** Ceilings on delivery: live sessions per member, deliveries per token (see {@link DeliveryLimits}). */
  limits?: DeliveryLimits;
  /**
   * After a rotation, how long a session that switched to the new key (or was revoked) may
   * still have a tab sealing with the old one: at least the portal's `revocationCheckMs`.
   * `KeyEnvironment.retireKeyVersion` waits this long after the last switch. Default 5
   * minutes, at most 10 (a registry keeps revoked sessions that long).
   */
  rekeyGraceMs?: number;
  /** Called after each delivery with public facts (audit log). Never receives key material. */
  onDeliver?: (event: DeliveryEvent) => void;
  /**
   * The append-only delivery audit log (`openDatabase(…).audit`): every delivery and resume is
   * appended before its response leaves. (The database's session registry records every
   * logoff, revocation and extension in the same log, in the statement that makes it.) None by
   * default.
   */
  audit?: DeliveryAuditLog;
  /**
   * **Tests only.** Called with one line `MEMBER_KEY <keyId> <64 hex digits>` per delivered key,
   * like TLS's key log file. Undefined (off) by default; the library never writes keys anywhere
   * by itself.
   */
  unsafeKeyLog?: (line: string) => void;
  /** The clock (tests). Default `Date.now`. */
  now?: () => number;
}

/** The options after the boundary check (internal). */
export interface CheckedEnvironmentOptions {
  dpopRequired: boolean;
  dpop: Omit<DpopOptions, 'replay' | 'now'>;
  sharedSecret: Uint8Array;
  lifetimeMs: number;
}

const DEFAULT_LIFETIME_MS = 8 * 60 * 60_000;

/** The boundary check of {@link KeyEnvironmentOptions}: TypeError / RangeError naming the option. */
export function checkEnvironmentOptions(options: KeyEnvironmentOptions): CheckedEnvironmentOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`"options" expected object, got ${options === null ? 'null' : typeof options}`);
  const m = options.masterKey as Partial<MasterKey> | undefined;
  if (typeof m?.wrap !== 'function' || typeof m.unwrap !== 'function' || typeof m.id !== 'string') throw new TypeError('"masterKey" expected MasterKey');
  const s = options.store as Partial<MemberKeyStore> | undefined;
  if (typeof s?.versions !== 'function' || typeof s.insert !== 'function' || typeof s.update !== 'function' || typeof s.list !== 'function') throw new TypeError('"store" expected MemberKeyStore');
  if (typeof options.authenticate !== 'function') throw new TypeError(`"authenticate" expected function, got ${typeof options.authenticate}`);
  const lifetimeMs = options.sessionLifetimeMs ?? DEFAULT_LIFETIME_MS;
  ainteger('sessionLifetimeMs', lifetimeMs, 1, Number.MAX_SAFE_INTEGER);
  // A registry keeps revoked sessions that long at least: a longer grace could not see them.
  if (options.rekeyGraceMs !== undefined) ainteger('rekeyGraceMs', options.rekeyGraceMs, 0, REVOKED_RETENTION_MS);
  const sharedSecret = options.sharedSecret ?? randomBytes(32);
  abytes('sharedSecret', sharedSecret);
  if (sharedSecret.length < 32) throw new RangeError(`"sharedSecret" expected Uint8Array of at least 32 bytes, got length=${sharedSecret.length}`);
  const { required = true, ...dpop } = options.dpop ?? {};
  if (typeof required !== 'boolean') throw new TypeError(`"dpop.required" expected boolean, got ${typeof required}`);
  return { dpopRequired: required, dpop: { ...dpop, nonceSecret: sharedSecret }, sharedSecret, lifetimeMs };
}
