// Hooks over the provider's store: the snapshot (useSession, useWipeReason, useIdleWarning) and
// a record opened with the session (useRecord), dropped when the session ends.
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { PlainRecord, RecordOptions, SealedRecord } from '../records/record.ts';
import type { Schema } from '../records/schema.ts';
import type { SessionSnapshot } from '../session/store.ts';
import type { IdleEvent, Session, WipeReason } from '../session/types.ts';
import { useLatestEffect } from './latest.ts';
import { useSessionStore } from './provider.ts';

/**
 * The session's snapshot: `status` (`'signed-out' | 'opening' | 'open' | 'closed' | 'failed'`),
 * `session` while open, `wipeReason`, `error`, `idleWarning`. Re-renders on every change.
 *
 * @returns the current snapshot of the nearest provider's store
 * @throws TypeError outside a `TokumeiProvider`
 * @example
 * ```tsx
 * import { useSession, useSessionStore } from 'tokumei/react';
 * function SignIn() {
 *   const { status, error } = useSession();
 *   const store = useSessionStore();
 *   if (status === 'open') return null;
 *   return <button onClick={() => void store.open()} disabled={status === 'opening'}>Sign in</button>;
 * }
 * ```
 */
export function useSession(): SessionSnapshot {
  const store = useSessionStore();
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * Why the session was wiped (`'logoff'`, `'idle'`, `'expired'`, `'pagehide'`,
 * `'remote-logoff'`, `'revoked'`), once it has been; `undefined` while open or before sign-in.
 *
 * @returns the wipe reason, or `undefined`
 * @throws TypeError outside a `TokumeiProvider`
 * @example
 * ```tsx
 * import { useWipeReason } from 'tokumei/react';
 * function SignedOut() {
 *   const reason = useWipeReason();
 *   return reason === 'idle' ? <p>You were signed out after a while without activity.</p> : null;
 * }
 * ```
 */
export function useWipeReason(): WipeReason | undefined {
  return useSession().wipeReason;
}

/**
 * While an idle warning stands — from the session's `idle-warning` until activity (`touch()`,
 * input) or the wipe — when the idle wipe is due; otherwise `undefined`.
 *
 * @returns `{ idleDeadline }` or `undefined`
 * @throws TypeError outside a `TokumeiProvider`
 * @example
 * ```tsx
 * import { useIdleWarning, useSessionStore } from 'tokumei/react';
 * function StillThere() {
 *   const warning = useIdleWarning();
 *   const store = useSessionStore();
 *   if (warning === undefined) return null;
 *   return <dialog open>Signing out at {new Date(warning.idleDeadline).toLocaleTimeString()} <button onClick={() => store.touch()}>Stay</button></dialog>;
 * }
 * ```
 */
export function useIdleWarning(): IdleEvent | undefined {
  return useSession().idleWarning;
}

/** What {@link useRecord} returns. */
export interface RecordState<R> {
  /** `'idle'` (no open session, or nothing to open), `'loading'`, `'ready'` or `'error'`. */
  status: 'idle' | 'loading' | 'ready' | 'error';
  /** The opened record while `'ready'`. */
  record: R | undefined;
  /** Why it could not be opened while `'error'` (a `TokumeiError`: `ERR_DECRYPTION_FAILED`, `ERR_SESSION_CLOSED`, …). */
  error: unknown;
}

const IDLE: RecordState<never> = Object.freeze({ status: 'idle', record: undefined, error: undefined });
const LOADING: RecordState<never> = Object.freeze({ status: 'loading', record: undefined, error: undefined });

interface Opened {
  session: Session;
  key: string;
  record?: PlainRecord;
  error?: unknown;
  failed: boolean;
}

/**
 * Opens a sealed record with the provider's session. Re-opens when the session, the schema
 * (name and version), the record id or the sealed values change — not when the same values
 * arrive in a new object. When the session ends, the opened record is dropped (status
 * `'idle'`), so no decrypted value outlives the session in this hook's state.
 *
 * @param schema - the record's schema
 * @param sealed - the sealed record (`undefined` while it is still being fetched)
 * @param options - `{ recordId }`
 * @returns `{ status, record, error }`
 * @throws TypeError outside a `TokumeiProvider`
 * @example
 * ```tsx
 * import { useRecord } from 'tokumei/react';
 * function MemberName({ sealed }: { sealed: SealedRecord | undefined }) {
 *   const { status, record } = useRecord(memberSchema, sealed, { recordId: 'M000001' });
 *   return status === 'ready' ? <span>{String(record!.fullName)}</span> : null;
 * }
 * ```
 */
export function useRecord(schema: Schema, sealed: SealedRecord | undefined, options: RecordOptions): RecordState<PlainRecord> {
  const { session } = useSession();
  // What the record depends on, as a value: a new object with the same values changes nothing.
  const key = sealed === undefined ? undefined : JSON.stringify([schema.name, schema.version, options.recordId, sealed]);
  const latest = useRef({ schema, sealed, options });
  useLatestEffect(() => {
    latest.current = { schema, sealed, options };
  });
  const [opened, setOpened] = useState<Opened | undefined>(undefined);
  useEffect(() => {
    if (session === undefined || key === undefined) {
      setOpened(undefined); // the session ended: drop the plaintext
      return;
    }
    let live = true;
    const { schema: s, sealed: r, options: o } = latest.current;
    session.openRecord(s, r!, o).then(
      (record) => live && setOpened({ session, key, record, failed: false }),
      (error: unknown) => live && setOpened({ session, key, error, failed: true }),
    );
    return () => {
      live = false;
    };
  }, [session, key]);
  if (session === undefined || key === undefined) return IDLE;
  if (opened?.session !== session || opened.key !== key) return LOADING;
  return opened.failed ? { status: 'error', record: undefined, error: opened.error } : { status: 'ready', record: opened.record, error: undefined };
}
