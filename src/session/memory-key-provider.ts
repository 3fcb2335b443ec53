import { TokumeiError } from '../errors.ts';
import { astring, randomBytes, toBase64url } from '../internal/bytes.ts';
import { createKeyring, Keyring } from '../keys/keyring.ts';
import { importMemberKey, keyMaterial, MemberKey } from '../keys/member-key.ts';
import type { KeyProvider, SessionKeys, SessionStatus } from './key-provider.ts';

/** Options of {@link memoryKeyProvider}. */
export interface MemoryKeyProviderOptions {
  /** Key id of the primary (sealing) key; the first key by default. */
  primary?: string;
  /** The session id reported to the session; a random one by default. */
  sessionId?: string;
  /** Absolute lifetime the "key environment" grants, in ms (default 8 hours). */
  lifetimeMs?: number;
}

/**
 * A {@link KeyProvider} that hands out keys already in memory, for tests and examples. It has
 * one session id; `fetchKeys({ resume })` re-delivers it (same expiry) until it is revoked, logged
 * off or expired, and then rejects with `ERR_REVOKED`.
 */
export interface MemoryKeyProvider extends KeyProvider {
  /** Marks every session of this provider revoked: `checkSession` reports `'revoked'` from now on. */
  revoke(): void;
  /** Session ids passed to `notifyLogoff`, in order. */
  readonly logoffs: readonly string[];
  /** How many times `fetchKeys` has been called. */
  readonly fetches: number;
}

/**
 * A key provider for tests and examples: it "delivers" keys that are already in memory, with no
 * key environment. Pass either member keys (each fetch hands the session fresh **copies**; your
 * keys stay yours) or a function that makes a new keyring for each fetch (the session takes
 * ownership of what it returns).
 *
 * Not for production: in a portal the key comes from the key environment through
 * `httpKeyProvider`, sealed to the session (HPKE), so it never sits in the page beforehand.
 *
 * @param source - member keys to copy, or a factory of keyrings
 * @param options - `primary`, `sessionId`, `lifetimeMs`
 * @returns a provider for `openSession({ keyProvider })`
 * @throws TypeError / RangeError for a malformed `source` or options
 * @example
 * ```ts
 * import { generateMemberKey, memoryKeyProvider, openSession } from 'tokumei';
 * const session = await openSession({ keyProvider: memoryKeyProvider([generateMemberKey()]) });
 * ```
 */
export function memoryKeyProvider(
  source: readonly MemberKey[] | (() => Keyring | Promise<Keyring>),
  options: MemoryKeyProviderOptions = {},
): MemoryKeyProvider {
  if (typeof source !== 'function') {
    if (!Array.isArray(source) || source.length === 0 || !source.every((k) => k instanceof MemberKey)) {
      throw new TypeError('"source" expected non-empty MemberKey[] or a function returning a Keyring');
    }
  }
  const sessionId = options.sessionId ?? `s1.${toBase64url(randomBytes(12))}`;
  astring('sessionId', sessionId, true);
  const lifetimeMs = options.lifetimeMs ?? 8 * 60 * 60_000;
  let revoked = false;
  let expiresAt: number | undefined; // of the session last delivered: a resume keeps it
  let fetches = 0;
  const logoffs: string[] = [];

  async function makeKeyring(): Promise<Keyring> {
    if (typeof source === 'function') {
      const ring = await source();
      if (!(ring instanceof Keyring)) throw new TypeError('"source" expected a function returning a Keyring');
      return ring;
    }
    // importMemberKey copies into a buffer the new handle owns: the session may destroy it freely.
    const copies = source.map((k) => importMemberKey(keyMaterial(k, 'raw'), k.keyId));
    return createKeyring(copies, options.primary === undefined ? {} : { primary: options.primary });
  }

  return {
    async fetchKeys({ resume } = {}): Promise<SessionKeys> {
      fetches++;
      const now = Date.now();
      if (revoked || (resume !== undefined && (resume !== sessionId || logoffs.includes(resume) || now >= (expiresAt ?? 0)))) {
        throw new TokumeiError('ERR_REVOKED', 'the key environment has revoked the session');
      }
      if (resume === undefined) expiresAt = now + lifetimeMs;
      return { keyring: await makeKeyring(), sessionId, expiresAt: expiresAt! };
    },
    async checkSession(): Promise<SessionStatus> {
      return revoked ? 'revoked' : 'active';
    },
    async notifyLogoff(id: string): Promise<void> {
      logoffs.push(id);
    },
    revoke(): void {
      revoked = true;
    },
    get logoffs(): readonly string[] {
      return logoffs;
    },
    get fetches(): number {
      return fetches;
    },
  };
}
