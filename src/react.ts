/**
 * React bindings (React 18.3 or 19, an optional peer dependency): {@link TokumeiProvider} holds
 * one session for the app, opened at most once under StrictMode, fast refresh and inline
 * callbacks, and never logged off on unmount; hooks read its state ({@link useSession},
 * {@link useWipeReason}, {@link useIdleWarning}) and open records with it ({@link useRecord}).
 * Built on the framework-neutral `createSessionStore` of `tokumei`. See docs/integration.md.
 *
 * Re-exports only; no logic, nothing runs at import.
 *
 * @packageDocumentation
 * @module tokumei/react
 */
export { TokumeiProvider, useSessionStore, type TokumeiProviderProps } from './react/provider.ts';
export { useSession, useWipeReason, useIdleWarning, useRecord, type RecordState } from './react/hooks.ts';
