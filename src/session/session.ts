// A client-held key session: the member's keyring lives in this tab only while they are signed
// in; every wipe trigger ends in the same wipe (client-session.ts). `openSession` fetches or
// resumes the keyring and hands it to the session.
import { TokumeiError } from '../errors.ts';
import { ainteger, astring } from '../internal/bytes.ts';
import { Keyring } from '../keys/keyring.ts';
import { ClientSession } from './client-session.ts';
import { DeviceStore, type EntryMeta } from './device-store.ts';
import type { SessionKeys } from './key-provider.ts';
import { checkOptions, type SessionOptions } from './options.ts';
import type { Session, SessionPersistence } from './types.ts';

export type { SessionOptions } from './options.ts';
export type { IdleEvent, Session, SessionEventMap, SessionPersistence, SessionState, WipedEvent, WipeReason } from './types.ts';

const MAX_MS = Number.MAX_SAFE_INTEGER;

function isStorageError(err: unknown): boolean {
  return err instanceof TokumeiError && err.code === 'ERR_STORAGE_UNAVAILABLE';
}

function checkDelivered(keys: SessionKeys): void {
  if (typeof keys !== 'object' || keys === null || !(keys.keyring instanceof Keyring)) {
    throw new TypeError('"fetchKeys()" expected { keyring, sessionId, expiresAt }');
  }
  try {
    astring('sessionId', keys.sessionId, true);
    ainteger('expiresAt', keys.expiresAt, 0, MAX_MS);
  } catch (err) {
    keys.keyring.destroy(); // ours now: never leave a delivered key behind
    throw err;
  }
}

/**
 * Opens a session: fetches the member's keyring from the key provider — with
 * `persistence: 'indexeddb'` and a live stored session, by asking it to re-deliver that
 * session's keyring (`fetchKeys({ resume })`); when the key environment refuses (`ERR_REVOKED`:
 * logged off, revoked or expired there) a new session is started instead. In IndexedDB mode a
 * stale entry (past its idle or absolute expiry, or not authenticating) is removed before
 * anything else happens.
 *
 * The session's timers and listeners are created here and removed at its wipe; nothing runs at
 * import.
 *
 * @param options - see {@link SessionOptions}
 * @returns the open session
 * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE` (IndexedDB failed and no `fallback: 'memory'`;
 *   nothing is left half-written), `ERR_KEY_UNAVAILABLE` (the key provider delivered a session
 *   that has already expired), and whatever the key provider throws (`ERR_AUTH`, `ERR_TIMEOUT`,
 *   `ERR_REVOKED`, …); TypeError / RangeError for malformed options
 * @example
 * ```ts
 * import { httpKeyProvider, openSession } from 'tokumei';
 * const session = await openSession({
 *   keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: () => sso.accessToken() }),
 *   persistence: 'indexeddb',
 *   fallback: 'memory',
 *   idleTimeoutMs: 15 * 60_000,
 * });
 * session.on('wiped', ({ reason }) => showSignedOut(reason));
 * session.on('idle-warning', () => askStillThere({ onStay: () => session.touch() }));
 * const me = await session.openRecord(memberSchema, sealed, { recordId: sealed.id });
 * await session.logoff();
 * ```
 */
export async function openSession(options: SessionOptions): Promise<Session> {
  const opts = checkOptions(options);
  const signal = opts.signal === undefined ? {} : { signal: opts.signal };
  let store: DeviceStore | undefined;
  let persistence = opts.persistence;
  let stored: EntryMeta | undefined;
  if (persistence === 'indexeddb') {
    try {
      store = DeviceStore.open(opts.namespace);
      // A stale entry is removed here, before the key provider is asked anything.
      stored = await store.readLive(Date.now());
    } catch (err) {
      store = undefined;
      if (!isStorageError(err) || opts.fallback !== 'memory') throw err;
      persistence = 'memory';
    }
  }

  let delivered: SessionKeys | undefined;
  let resumed = false;
  if (stored !== undefined) {
    // Resume: the key environment delivers the same session's keyring again, to a fresh
    // ephemeral key. Nothing on the device can unlock it by itself (device-store.ts).
    try {
      delivered = await opts.keyProvider.fetchKeys({ ...signal, resume: stored.sessionId });
      // A provider that cannot resume may have started a new session instead.
      resumed = delivered?.sessionId === stored.sessionId;
    } catch (err) {
      if (!(err instanceof TokumeiError && err.code === 'ERR_REVOKED')) throw err;
      // Logged off elsewhere, revoked or expired at the key environment: sign in afresh.
      await store?.removeSession(stored.sessionId);
    }
  }
  delivered ??= await opts.keyProvider.fetchKeys(signal);
  checkDelivered(delivered);
  const { keyring, sessionId } = delivered;
  const now = Date.now();
  // A resumed session keeps the bound set at its sign-in; refreshes never pass it.
  const maxExpiresAt = resumed ? stored!.maxExpiresAt : now + opts.maxLifetimeMs;
  const expiresAt = Math.min(delivered.expiresAt, maxExpiresAt);
  if (expiresAt <= now) {
    keyring.destroy();
    throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'the delivered session has expired');
  }
  if (store !== undefined) {
    const meta: EntryMeta = { sessionId, expiresAt, idleExpiresAt: Math.min(expiresAt, now + opts.idleTimeoutMs), maxExpiresAt };
    try {
      await store.save(meta);
    } catch (err) {
      store = undefined;
      if (opts.fallback !== 'memory') {
        keyring.destroy();
        throw err;
      }
      persistence = 'memory';
    }
  }
  return new ClientSession(opts, keyring, sessionId, expiresAt, maxExpiresAt, store, persistence, resumed);
}
