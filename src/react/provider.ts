// <TokumeiProvider>: one session store per provider, opened at most once however often React
// mounts, renders or refreshes it; never logged off when it unmounts.
import { createContext, createElement, useContext, useEffect, useRef, useState, type ReactElement, type ReactNode } from 'react';
import type { SessionOptions } from '../session/options.ts';
import { createSessionStore, type SessionStore } from '../session/store.ts';
import { useLatestEffect } from './latest.ts';

/** Props of {@link TokumeiProvider}: `options` or `store`. */
export interface TokumeiProviderProps {
  /**
   * The options of `openSession`, or a function returning them. Read when the session opens,
   * never on a re-render: new objects and inline callbacks (an inline `getToken`) on every render
   * are fine, and the latest ones are used at the next `open()`.
   */
  options?: SessionOptions | (() => SessionOptions | Promise<SessionOptions>);
  /**
   * A store made with `createSessionStore` instead of `options`: to share one session with code
   * outside React, or beyond this provider's lifetime.
   */
  store?: SessionStore;
  /**
   * Open the session when the provider mounts, if it has never been opened (default `false`).
   * Not after a wipe or a failed sign-in: then the app calls `open()` (a "sign in again" button),
   * so a signed-out member is never signed back in by a re-render.
   */
  openOnMount?: boolean;
  /** The app. */
  children?: ReactNode;
}

const StoreContext = /* @__PURE__ */ createContext<SessionStore | undefined>(undefined);

/**
 * Provides one tokumei session to a React tree. The session is opened by `openOnMount` or by
 * `useSessionStore().open()`, at most once at a time: StrictMode's double mounting, fast refresh
 * and re-renders with new inline callbacks do not sign in again. Unmounting never logs off
 * (that would sign the member out of every tab): the session ends at `logoff()` or at one of its
 * wipe triggers. Put the provider at the root of the app, once.
 *
 * @param props - `options` (or `store`), `openOnMount`, `children`
 * @returns the provider element
 * @throws TypeError when neither `options` nor `store` is given
 * @example
 * ```tsx
 * import { httpKeyProvider } from 'tokumei';
 * import { TokumeiProvider } from 'tokumei/react';
 * createRoot(el).render(
 *   <StrictMode>
 *     <TokumeiProvider
 *       options={{ keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: () => sso.accessToken() }), persistence: 'indexeddb' }}
 *       openOnMount
 *     >
 *       <App />
 *     </TokumeiProvider>
 *   </StrictMode>,
 * );
 * ```
 */
export function TokumeiProvider(props: TokumeiProviderProps): ReactElement {
  const latest = useRef(props);
  useLatestEffect(() => {
    latest.current = props;
  });
  const [owned] = useState(() =>
    props.store === undefined
      ? createSessionStore(() => {
          const { options } = latest.current;
          if (options === undefined) throw new TypeError('"options" expected SessionOptions or a function returning them, got undefined');
          return typeof options === 'function' ? options() : options;
        })
      : undefined,
  );
  if (props.store === undefined && props.options === undefined) throw new TypeError('<TokumeiProvider> expected "options" or "store"');
  const store = props.store ?? owned!;
  const { openOnMount = false } = props;
  useEffect(() => {
    // The failure, if any, is in the snapshot (status 'failed').
    if (openOnMount && store.getSnapshot().status === 'signed-out') store.open().catch(() => undefined);
  }, [store, openOnMount]);
  return createElement(StoreContext.Provider, { value: store }, props.children);
}

/**
 * The session store of the nearest {@link TokumeiProvider}: `open()`, `logoff()`, `touch()`,
 * `getSnapshot()`.
 *
 * @returns the store
 * @throws TypeError outside a `TokumeiProvider`
 * @example
 * ```tsx
 * import { useSessionStore } from 'tokumei/react';
 * function LogoffButton() {
 *   const store = useSessionStore();
 *   return <button onClick={() => void store.logoff()}>Log off</button>;
 * }
 * ```
 */
export function useSessionStore(): SessionStore {
  const store = useContext(StoreContext);
  if (store === undefined) throw new TypeError('tokumei/react hooks expected a <TokumeiProvider> above them');
  return store;
}
