// The options of `openSession`, and their boundary check.
import { ainteger, astring, describe as typeName } from '../internal/bytes.ts';
import type { KeyProvider } from './key-provider.ts';
import type { SessionPersistence } from './types.ts';

/** Options of {@link openSession}. */
export interface SessionOptions {
  /** Where the keyring comes from at sign-in (`httpKeyProvider`, or `memoryKeyProvider` in tests). */
  keyProvider: KeyProvider;
  /**
   * `'memory'` (default): the keyring lives in this tab only; a reload signs in again.
   * `'indexeddb'`: the session (its id and expiries — never a key) is stored, so a reload or a
   * second tab resumes it without a new sign-in: the key provider re-delivers that session's
   * keyring, which the key environment refuses once the session ended (docs/sessions.md).
   */
  persistence?: SessionPersistence;
  /** With `'indexeddb'`: use `'memory'` instead when IndexedDB fails, rather than rejecting. */
  fallback?: 'memory';
  /** Wipe after this long without activity (default 15 minutes). */
  idleTimeoutMs?: number;
  /** Wipe this long after sign-in at the latest (default 8 hours; the key environment may set less). */
  maxLifetimeMs?: number;
  /**
   * Keeps this portal's sessions apart from others on the same origin: scopes the cross-tab
   * channel and the IndexedDB database (`tokumei/<namespace>`). 1–64 characters of
   * `A–Z a–z 0–9 . _ -`; it is written to the device, so it must not name a person. Default: none
   * (channel `tokumei/session`, database `tokumei`).
   */
  namespace?: string;
  /**
   * Wipe when another tab of the same namespace logs off the same session or the same member
   * (the same primary key id), or the same session was revoked (default `true`).
   */
  crossTab?: boolean;
  /** Wipe on `pagehide`: tab close, navigation, entering the back/forward cache (default `true`). */
  wipeOnPagehide?: boolean;
  /**
   * Fire `idle-warning` this long before an idle wipe; `0`: never. Less than `idleTimeoutMs`.
   * Default 60 s, or a quarter of `idleTimeoutMs` if that is shorter.
   */
  idleWarningMs?: number;
  /**
   * User-input events (listened to on `window`, capturing, passive) that count as activity.
   * Default: pointer, key, input, wheel, scroll, touch and visibility —
   * `['pointerdown', 'pointermove', 'keydown', 'input', 'wheel', 'scroll', 'touchstart', 'visibilitychange']`;
   * `[]` for none (then only `touch()` and the session's own calls count). Once an
   * `idle-warning` is shown, moves, wheels, scrolls and visibility changes no longer count until
   * a click, a tap, a key or `touch()` answers it.
   */
  activityEvents?: readonly string[];
  /** Ask the key provider every this many ms whether the session was revoked. Default: never. */
  revocationCheckMs?: number;
  /** Aborts the key fetch at sign-in. */
  signal?: AbortSignal;
}

const DEFAULT_IDLE_MS = 15 * 60_000;
const DEFAULT_WARNING_MS = 60_000;
const DEFAULT_ACTIVITY_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'input', 'wheel', 'scroll', 'touchstart', 'visibilitychange'];
const DEFAULT_LIFETIME_MS = 8 * 60 * 60_000;
const MAX_MS = Number.MAX_SAFE_INTEGER;
const NAMESPACE_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** setTimeout's limit; longer waits are re-armed. */
export const MAX_TIMER_MS = 0x7fffffff;

/** Options after the boundary check, with defaults applied (internal). */
export interface CheckedOptions extends SessionOptions {
  persistence: SessionPersistence;
  idleTimeoutMs: number;
  idleWarningMs: number;
  maxLifetimeMs: number;
  crossTab: boolean;
  wipeOnPagehide: boolean;
  activityEvents: readonly string[];
}

/** What a value is, for error messages (never its contents). */
export { typeName };

/** The boundary check of {@link SessionOptions}: TypeError / RangeError naming the option. */
export function checkOptions(o: SessionOptions): CheckedOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError(`"options" expected object, got ${typeName(o)}`);
  const { keyProvider, persistence = 'memory', fallback, idleTimeoutMs = DEFAULT_IDLE_MS, maxLifetimeMs = DEFAULT_LIFETIME_MS } = o;
  const { revocationCheckMs, activityEvents = DEFAULT_ACTIVITY_EVENTS, crossTab = true, wipeOnPagehide = true, namespace } = o;
  if (typeof keyProvider?.fetchKeys !== 'function') throw new TypeError(`"keyProvider" expected KeyProvider, got ${typeName(keyProvider)}`);
  if (persistence !== 'memory' && persistence !== 'indexeddb') throw new RangeError(`"persistence" expected 'memory' or 'indexeddb', got '${String(persistence)}'`);
  if (namespace !== undefined) astring('namespace', namespace);
  if (namespace !== undefined && !NAMESPACE_PATTERN.test(namespace)) {
    throw new RangeError(`"namespace" expected 1-64 characters of [A-Za-z0-9._-], got length=${namespace.length}`);
  }
  if (fallback !== undefined && fallback !== 'memory') throw new RangeError(`"fallback" expected 'memory', got '${String(fallback)}'`);
  ainteger('idleTimeoutMs', idleTimeoutMs, 1, MAX_MS);
  ainteger('maxLifetimeMs', maxLifetimeMs, 1, MAX_MS);
  const { idleWarningMs = Math.min(DEFAULT_WARNING_MS, Math.floor(idleTimeoutMs / 4)) } = o;
  ainteger('idleWarningMs', idleWarningMs, 0, idleTimeoutMs - 1);
  if (revocationCheckMs !== undefined) ainteger('revocationCheckMs', revocationCheckMs, 1, MAX_TIMER_MS);
  if (!Array.isArray(activityEvents)) throw new TypeError(`"activityEvents" expected string[], got ${typeName(activityEvents)}`);
  for (const e of activityEvents) astring('activityEvents[]', e, true);
  for (const [name, v] of [['crossTab', crossTab], ['wipeOnPagehide', wipeOnPagehide]] as const) {
    if (typeof v !== 'boolean') throw new TypeError(`"${name}" expected boolean, got ${typeName(v)}`);
  }
  // A copy, so that a caller changing their options object later changes nothing here.
  return { ...o, persistence, idleTimeoutMs, idleWarningMs, maxLifetimeMs, crossTab, wipeOnPagehide, activityEvents: [...activityEvents] };
}
