// The key environment: member keys (created, rotated, retired, wrapped under the master key),
// sealed key delivery to a browser session, and the session registry (revocation, logoff).
import { TokumeiError } from '../errors.ts';
import { astring, fillRandom, allocSecret, fromBase64url, randomBytes, toBase64url, wipe } from '../internal/bytes.ts';
import { createKeyring, type Keyring } from '../keys/keyring.ts';
import { adoptMemberKey, assertKeyId, MEMBER_KEY_LENGTH, randomKeyId, type MemberKey } from '../keys/member-key.ts';
import type { SessionStatus } from '../session/key-provider.ts';
import { deliveryInfo, DELIVERY_PROTOCOL, encodeKeyringPayload, MAX_DELIVERED_KEYS, suiteFor, type PayloadKey } from '../delivery/payload.ts';
import { sealBase } from './hpke-seal.ts';
import type { MemberKeyStore, WrappedMemberKey } from './key-store.ts';
import type { MasterKey } from './master-key.ts';
import { memorySessionRegistry, type SessionRegistry } from './sessions.ts';
import { unwrapEntry, wrapEntry } from './wrap.ts';

/** The public facts about one key version (everything but the wrapped key). */
export type KeyVersion = Omit<WrappedMemberKey, 'wrapped'>;

/** Who a bearer token belongs to, as the caller's `authenticate` function decides. */
export interface Authenticated {
  /** The member signing in. */
  memberId: string;
  /** Members whose records this member may read (e.g. dependants): their keys are delivered too. */
  dependants?: readonly string[];
  /** The token's own expiry (ms since the epoch); the session never outlives it. */
  expiresAt?: number;
}

/** What the browser POSTs, and the token from its `Authorization: Bearer` header. */
export interface DeliveryRequest {
  /** The bearer token (without the `Bearer ` prefix); `undefined` when none was sent. */
  token: string | undefined;
  /** The parsed JSON body: `{ protocol, kem, publicKey }` (docs/key-delivery.md §2). */
  body: unknown;
}

/** The JSON the key environment answers (docs/key-delivery.md §2). */
export interface DeliveryResponse {
  /** `"tokumei-key-delivery/1"`. */
  protocol: typeof DELIVERY_PROTOCOL;
  /** The KEM the browser asked for. */
  kem: 'P-256' | 'X25519';
  /** The new session's id (`s1.` and 22 base64url characters). */
  sessionId: string;
  /** The member whose keyring this is. */
  memberId: string;
  /** The session's absolute expiry, ms since the epoch. */
  expiresAt: number;
  /** base64url of the HPKE `enc` (the ephemeral public key). */
  enc: string;
  /** base64url of the sealed keyring payload (ciphertext ‖ tag). */
  ciphertext: string;
}

/** What {@link KeyEnvironmentOptions.onDeliver} is told: public facts only, never a key. */
export interface DeliveryEvent {
  /** The new session. */
  sessionId: string;
  /** The member who signed in. */
  memberId: string;
  /** The key ids delivered (own versions first, then dependants'). */
  keyIds: string[];
  /** The session's absolute expiry, ms since the epoch. */
  expiresAt: number;
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
   * Verifies a bearer token (e.g. a JWT from your SSO) and says whose keys it unlocks. Return
   * `null` (or throw `TokumeiError` `ERR_AUTH`) to refuse: the browser gets HTTP 401. Any other
   * exception is an internal error (HTTP 500).
   */
  authenticate: (token: string) => Authenticated | null | Promise<Authenticated | null>;
  /** Where sessions are registered; in memory by default. */
  sessions?: SessionRegistry;
  /** Absolute session lifetime in ms; default 8 hours. */
  sessionLifetimeMs?: number;
  /** Called after each delivery with public facts (audit log). Never receives key material. */
  onDeliver?: (event: DeliveryEvent) => void;
  /**
   * **Tests only.** Called with one line `MEMBER_KEY <keyId> <64 hex digits>` per delivered key,
   * like TLS's key log file. Undefined (off) by default; the library never writes keys anywhere
   * by itself.
   */
  unsafeKeyLog?: (line: string) => void;
  /** The clock (tests). Default `Date.now`. */
  now?: () => number;
}

const DEFAULT_LIFETIME_MS = 8 * 60 * 60_000;
const MAX_ID_CHARS = 256;

function authError(cause?: unknown): TokumeiError {
  return new TokumeiError('ERR_AUTH', 'the bearer token was refused', cause === undefined ? undefined : { cause });
}

function formatError(message: string): TokumeiError {
  return new TokumeiError('ERR_FORMAT', message);
}

function assertMemberId(memberId: unknown): asserts memberId is string {
  astring('memberId', memberId, true);
  if (memberId.length > MAX_ID_CHARS) throw new RangeError(`"memberId" expected at most ${MAX_ID_CHARS} characters, got length=${memberId.length}`);
}

const publicFacts = ({ wrapped: _, ...rest }: WrappedMemberKey): KeyVersion => rest;

function hex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0');
  return s;
}

/**
 * The key environment's toolkit. Create one with {@link createKeyEnvironment}; serve it over
 * HTTP with {@link keyEnvironmentHandler}.
 *
 * @example
 * ```ts
 * import { createKeyEnvironment, fileKeyStore, masterKeyFromEnv } from 'tokumei/server';
 * const env = createKeyEnvironment({
 *   masterKey: masterKeyFromEnv('TOKUMEI_MASTER_KEY'),
 *   store: await fileKeyStore('/var/lib/key-env/keys.jsonl'),
 *   authenticate: async (token) => verifySsoToken(token), // → { memberId, dependants? } or null
 * });
 * const { keyId } = await env.createMemberKey('M000001');
 * ```
 */
export class KeyEnvironment {
  readonly #masterKey: MasterKey;
  readonly #masters: Map<string, MasterKey>;
  readonly #store: MemberKeyStore;
  readonly #sessions: SessionRegistry;
  readonly #authenticate: KeyEnvironmentOptions['authenticate'];
  readonly #lifetimeMs: number;
  readonly #onDeliver: KeyEnvironmentOptions['onDeliver'];
  readonly #keyLog: KeyEnvironmentOptions['unsafeKeyLog'];
  readonly #now: () => number;

  /** @internal Use {@link createKeyEnvironment}. */
  constructor(options: KeyEnvironmentOptions) {
    this.#masterKey = options.masterKey;
    this.#masters = new Map([...(options.previousMasterKeys ?? []), options.masterKey].map((m) => [m.id, m]));
    this.#store = options.store;
    this.#sessions = options.sessions ?? memorySessionRegistry();
    this.#authenticate = options.authenticate;
    this.#lifetimeMs = options.sessionLifetimeMs ?? DEFAULT_LIFETIME_MS;
    this.#onDeliver = options.onDeliver;
    this.#keyLog = options.unsafeKeyLog;
    this.#now = options.now ?? Date.now;
  }

  /** Unwraps an entry under whichever known master key wrapped it. */
  #unwrap(entry: WrappedMemberKey): Promise<Uint8Array> {
    return unwrapEntry(this.#masters.get(entry.masterKeyId) ?? this.#masterKey, entry);
  }

  async #addVersion(memberId: string, keyId: string | undefined): Promise<KeyVersion> {
    const id = keyId ?? randomKeyId();
    assertKeyId(id);
    const existing = await this.#store.versions(memberId);
    const version = existing.reduce((max, e) => Math.max(max, e.version), 0) + 1;
    const key = fillRandom(allocSecret(MEMBER_KEY_LENGTH));
    try {
      const entry = await wrapEntry(this.#masterKey, { memberId, keyId: id, version, createdAt: this.#now(), state: 'active' }, key);
      await this.#store.put(entry);
      return publicFacts(entry);
    } finally {
      wipe(key);
    }
  }

  /**
   * Makes sure a member has a key: returns their current key version, creating version 1 (a
   * fresh random key, wrapped under the master key) when they have none. Safe to call again.
   *
   * @param memberId - the member
   * @param options - `keyId` for a new key (a random `k1.…` id by default; key ids appear in
   *   every sealed value, so do not put a member id in them)
   * @returns the current key version
   * @throws RangeError for a malformed member id or key id
   * @example
   * ```ts
   * const { keyId } = await env.createMemberKey('M000001');
   * ```
   */
  async createMemberKey(memberId: string, options: { keyId?: string } = {}): Promise<KeyVersion> {
    assertMemberId(memberId);
    const active = (await this.#store.versions(memberId)).filter((e) => e.state === 'active');
    if (active.length > 0) return publicFacts(active[active.length - 1]!);
    return this.#addVersion(memberId, options.keyId);
  }

  /**
   * Rotates a member's key: adds a new version that seals from now on. Older versions stay
   * active (delivered, so records sealed under them keep opening) until
   * {@link KeyEnvironment.retireKeyVersion}; move records with `reencryptRecords` in between.
   *
   * @param memberId - the member
   * @param options - `keyId` for the new version (random by default)
   * @returns the new key version
   * @throws RangeError for a malformed member id or key id
   * @example
   * ```ts
   * const v2 = await env.rotateMemberKey('M000001');
   * ```
   */
  async rotateMemberKey(memberId: string, options: { keyId?: string } = {}): Promise<KeyVersion> {
    assertMemberId(memberId);
    return this.#addVersion(memberId, options.keyId);
  }

  /**
   * Retires an older key version: it is no longer delivered. Do this only after every record
   * moved to a newer version (`reencryptRecords` reports it).
   *
   * @param memberId - the member
   * @param keyId - an active version other than the newest
   * @throws RangeError when `keyId` is not an older active version of this member
   * @example
   * ```ts
   * await env.retireKeyVersion('M000001', v1.keyId);
   * ```
   */
  async retireKeyVersion(memberId: string, keyId: string): Promise<void> {
    assertMemberId(memberId);
    const active = (await this.#store.versions(memberId)).filter((e) => e.state === 'active');
    const i = active.findIndex((e) => e.keyId === keyId);
    if (i < 0 || i === active.length - 1) throw new RangeError(`"keyId" expected an older active key version of the member, got "${String(keyId)}"`);
    await this.#store.put({ ...active[i]!, state: 'retired' });
  }

  /**
   * The key versions of a member, oldest first (public facts, no key material).
   * @param memberId - the member
   * @returns the versions (empty when the member has no key)
   * @example
   * ```ts
   * const versions = await env.keyVersions('M000001');
   * ```
   */
  async keyVersions(memberId: string): Promise<KeyVersion[]> {
    assertMemberId(memberId);
    return (await this.#store.versions(memberId)).map(publicFacts);
  }

  /** Active entries of the member (own, newest last) and of dependants, for a keyring. */
  async #entriesFor(memberId: string, dependants: readonly string[]): Promise<{ entries: WrappedMemberKey[]; primary: number }> {
    const own = (await this.#store.versions(memberId)).filter((e) => e.state === 'active');
    if (own.length === 0) throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'the member has no key');
    const entries = [...own];
    const seen = new Set([memberId]);
    for (const d of dependants) {
      if (seen.has(d)) continue;
      seen.add(d);
      entries.push(...(await this.#store.versions(d)).filter((e) => e.state === 'active'));
    }
    if (entries.length > MAX_DELIVERED_KEYS) throw new TokumeiError('ERR_KEY_UNAVAILABLE', `more than ${MAX_DELIVERED_KEYS} keys to deliver`);
    return { entries, primary: own.length - 1 };
  }

  /** Unwraps entries into off-heap buffers, runs `use`, and wipes them all in `finally`. */
  async #withKeys<T>(entries: readonly WrappedMemberKey[], use: (keys: PayloadKey[]) => T): Promise<T> {
    const keys: PayloadKey[] = [];
    try {
      for (const e of entries) keys.push({ keyId: e.keyId, key: await this.#unwrap(e) });
      return use(keys);
    } finally {
      for (const k of keys) wipe(k.key);
    }
  }

  /**
   * A keyring with a member's active keys (their newest version is the primary) and, when
   * given, dependants' keys — for producers that seal records in a trusted back office, and for
   * `reencryptRecords`. The caller owns the keyring and must `destroy()` it.
   *
   * @param memberId - the member
   * @param options - `dependants`: other members whose keys to include
   * @returns the keyring
   * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when the member has no key;
   *   `ERR_DECRYPTION_FAILED` when a wrapped key does not unwrap
   * @example
   * ```ts
   * const ring = await env.openKeyring('M000001');
   * try { sealed = sealRecord(ring, memberSchema, record, { recordId: 'M000001' }); } finally { ring.destroy(); }
   * ```
   */
  async openKeyring(memberId: string, options: { dependants?: readonly string[] } = {}): Promise<Keyring> {
    assertMemberId(memberId);
    const { entries, primary } = await this.#entriesFor(memberId, options.dependants ?? []);
    const keys: MemberKey[] = [];
    let ok = false;
    try {
      // Unwrapped buffers are off-heap and owned by the library: adopted without a copy.
      for (const e of entries) keys.push(adoptMemberKey(await this.#unwrap(e), e.keyId));
      const ring = createKeyring(keys, { primary: entries[primary]!.keyId });
      ok = true;
      return ring;
    } finally {
      if (!ok) for (const k of keys) k.destroy();
    }
  }

  /**
   * Sealed key delivery (docs/key-delivery.md): authenticates the bearer token, registers a
   * session, and seals the member's keyring (own active versions, newest as primary, plus the
   * dependants' keys `authenticate` allows) to the browser's ephemeral public key with HPKE base
   * mode — DHKEM(P-256 or X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM — with `info`
   * binding protocol, member, session id and expiry. Every unwrapped key is wiped before this
   * returns.
   *
   * @param request - the bearer token and the parsed JSON body
   * @returns the JSON response for the browser
   * With `sessionId` in the body, resumes that session (a reload or a second tab of a portal in
   * IndexedDB mode): the same session id and expiry, sealed to the new public key.
   *
   * @throws TokumeiError `ERR_AUTH` (no token, or refused), `ERR_FORMAT` (malformed body or
   *   public key), `ERR_KEY_UNAVAILABLE` (the member has no key), `ERR_REVOKED` (a session to
   *   resume that was logged off, revoked, has expired, is unknown or is another member's)
   * @example
   * ```ts
   * const response = await env.deliverKeys({ token, body: JSON.parse(requestBody) });
   * ```
   */
  async deliverKeys(request: DeliveryRequest): Promise<DeliveryResponse> {
    const { token, body } = request;
    if (typeof token !== 'string' || token.length === 0) throw authError();
    const who = await this.#authenticate(token); // its own ERR_AUTH, or an internal error, propagates
    if (who === null || typeof who !== 'object') throw authError();
    assertMemberId(who.memberId); // a broken `authenticate` is an internal error (HTTP 500), not a refusal
    if (typeof body !== 'object' || body === null) throw formatError('the delivery request must be a JSON object');
    const { protocol, kem, publicKey, sessionId: resume } = body as Record<string, unknown>;
    if (protocol !== DELIVERY_PROTOCOL) throw formatError('unsupported key delivery protocol');
    const suite = suiteFor(kem);
    if (suite === undefined) throw formatError('unsupported KEM');
    const pkR = typeof publicKey === 'string' ? fromBase64url(publicKey) : undefined;
    if (pkR === undefined) throw formatError('publicKey must be base64url');

    if (resume !== undefined && typeof resume !== 'string') throw formatError('sessionId must be a string');

    const { memberId } = who;
    const now = this.#now();
    let sessionId: string;
    let expiresAt: number;
    if (resume === undefined) {
      expiresAt = Math.min(now + this.#lifetimeMs, who.expiresAt ?? Number.MAX_SAFE_INTEGER);
      if (expiresAt <= now) throw authError();
      sessionId = `s1.${toBase64url(randomBytes(16))}`;
    } else {
      // Resume (a reload or a second tab in IndexedDB mode): the same session's keyring again,
      // to this request's fresh ephemeral key — only while the session lives, and only for the
      // member it belongs to. A logged-off, revoked, expired or unknown session is refused.
      const s = await this.#sessions.get(resume);
      if (s === undefined || s.revoked !== undefined || s.expiresAt <= now || s.memberId !== memberId) {
        throw new TokumeiError('ERR_REVOKED', 'the session cannot be resumed');
      }
      ({ sessionId, expiresAt } = s);
    }
    const { entries, primary } = await this.#entriesFor(memberId, who.dependants ?? []);
    const info = deliveryInfo(memberId, sessionId, expiresAt);

    const sealed = await this.#withKeys(entries, (keys) => {
      const payload = encodeKeyringPayload(keys, primary);
      try {
        const out = sealBase(suite, pkR, info, new Uint8Array(0), payload);
        if (this.#keyLog !== undefined) for (const k of keys) this.#keyLog(`MEMBER_KEY ${k.keyId} ${hex(k.key)}`);
        return out;
      } catch (err) {
        if (err instanceof RangeError) throw formatError('publicKey is not a valid public key of the KEM');
        throw err;
      } finally {
        wipe(payload);
      }
    });
    if (resume === undefined) await this.#sessions.add({ sessionId, memberId, createdAt: now, expiresAt });
    this.#onDeliver?.({ sessionId, memberId, keyIds: entries.map((e) => e.keyId), expiresAt });
    return {
      protocol: DELIVERY_PROTOCOL,
      kem: kem as 'P-256' | 'X25519',
      sessionId,
      memberId,
      expiresAt,
      enc: toBase64url(sealed.enc),
      ciphertext: toBase64url(sealed.ciphertext),
    };
  }

  /**
   * Whether a session may go on: `'revoked'` when it was revoked, logged off, has expired, or
   * is unknown.
   * @param sessionId - from the delivery
   * @returns `'active'` or `'revoked'`
   * @example
   * ```ts
   * if ((await env.sessionStatus(id)) === 'revoked') …
   * ```
   */
  async sessionStatus(sessionId: string): Promise<SessionStatus> {
    if (typeof sessionId !== 'string') return 'revoked';
    const s = await this.#sessions.get(sessionId);
    return s !== undefined && s.revoked === undefined && s.expiresAt > this.#now() ? 'active' : 'revoked';
  }

  /**
   * Revokes one session (an administrator acted, the member logged off elsewhere). The browser
   * learns it at its next status check and wipes with reason `revoked`.
   * @param sessionId - the session
   * @param reason - recorded with the revocation; default `'revoked'`
   * @returns `false` when the session is unknown
   * @example
   * ```ts
   * await env.revokeSession(sessionId, 'admin');
   * ```
   */
  async revokeSession(sessionId: string, reason = 'revoked'): Promise<boolean> {
    astring('sessionId', sessionId, true);
    return this.#sessions.revoke(sessionId, reason, this.#now());
  }

  /**
   * Revokes every live session of a member (e.g. after a password reset).
   * @param memberId - the member
   * @param reason - recorded with the revocation; default `'revoked'`
   * @returns how many sessions were revoked
   * @example
   * ```ts
   * await env.revokeMemberSessions('M000001');
   * ```
   */
  async revokeMemberSessions(memberId: string, reason = 'revoked'): Promise<number> {
    assertMemberId(memberId);
    return this.#sessions.revokeMember(memberId, reason, this.#now());
  }

  /**
   * Records a logoff notification from the browser (the session is revoked with reason
   * `logoff`). Unknown sessions are ignored.
   * @param sessionId - the session
   * @example
   * ```ts
   * await env.logoff(sessionId);
   * ```
   */
  async logoff(sessionId: string): Promise<void> {
    if (typeof sessionId !== 'string' || sessionId.length === 0) return;
    await this.#sessions.revoke(sessionId, 'logoff', this.#now());
  }
}

/**
 * Creates the key environment's toolkit over a master key, a member-key store and the caller's
 * token verification.
 *
 * @param options - see {@link KeyEnvironmentOptions}
 * @returns the key environment
 * @throws TypeError when a required option is missing
 * @example
 * ```ts
 * import { createKeyEnvironment, fileKeyStore, masterKeyFromFile } from 'tokumei/server';
 * const env = createKeyEnvironment({
 *   masterKey: masterKeyFromFile('./data/master.key'),
 *   store: await fileKeyStore('./data/member-keys.jsonl'),
 *   authenticate: async (token) => {
 *     const claims = await verifySsoToken(token); // yours: signature, issuer, audience, expiry
 *     return claims ? { memberId: claims.sub, dependants: claims.dependants } : null;
 *   },
 * });
 * ```
 */
export function createKeyEnvironment(options: KeyEnvironmentOptions): KeyEnvironment {
  if (typeof options !== 'object' || options === null) throw new TypeError(`"options" expected object, got ${options === null ? 'null' : typeof options}`);
  const m = options.masterKey as Partial<MasterKey> | undefined;
  if (typeof m?.wrap !== 'function' || typeof m.unwrap !== 'function' || typeof m.id !== 'string') throw new TypeError('"masterKey" expected MasterKey');
  const s = options.store as Partial<MemberKeyStore> | undefined;
  if (typeof s?.versions !== 'function' || typeof s.put !== 'function' || typeof s.list !== 'function') throw new TypeError('"store" expected MemberKeyStore');
  if (typeof options.authenticate !== 'function') throw new TypeError(`"authenticate" expected function, got ${typeof options.authenticate}`);
  if (options.sessionLifetimeMs !== undefined && !(Number.isSafeInteger(options.sessionLifetimeMs) && options.sessionLifetimeMs > 0)) {
    throw new RangeError(`"sessionLifetimeMs" expected positive integer, got ${String(options.sessionLifetimeMs)}`);
  }
  return new KeyEnvironment(options);
}
