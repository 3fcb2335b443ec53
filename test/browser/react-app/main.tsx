// A React 19 app under StrictMode, written the way the old docs invited mistakes: the provider
// gets new options, a new key provider and an inline getToken on every render. The tests count
// what reaches the key environment. `?persistence=indexeddb`, `?auto=0` (no openOnMount),
// `?idle=ms`; `?naive=1` renders the hook the integration guide used to show instead (the
// tests' positive control: under StrictMode it signs in more than once and logs off).
import { StrictMode, useEffect, useState, type ReactElement } from 'react';
import { createRoot } from 'react-dom/client';
import { httpKeyProvider, openSession, type Session } from 'tokumei';
import { TokumeiProvider } from 'tokumei/react';
import { App } from './App.tsx';

const params = new URLSearchParams(location.search);
const persistence = params.get('persistence') === 'indexeddb' ? 'indexeddb' : 'memory';

function Root(): ReactElement {
  return (
    <TokumeiProvider
      options={{
        keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: async () => (await fetch('/token', { method: 'POST' })).text() }),
        persistence,
        idleTimeoutMs: Number(params.get('idle') ?? 15 * 60_000),
      }}
      openOnMount={params.get('auto') !== '0'}
    >
      <App />
    </TokumeiProvider>
  );
}

/** The hook the integration guide showed before tokumei/react, verbatim in substance. */
function useOldHook(getToken: () => Promise<string>): Session | undefined {
  const [session, setSession] = useState<Session>();
  useEffect(() => {
    let live: Session | undefined;
    let cancelled = false;
    void openSession({ keyProvider: httpKeyProvider({ url: '/key-env/session', getToken }) }).then((s) => {
      if (cancelled) return void s.logoff();
      live = s;
      setSession(s);
    });
    return () => {
      cancelled = true;
      void live?.logoff();
    };
  }, [getToken]);
  return session;
}

function NaiveRoot(): ReactElement {
  const session = useOldHook(async () => (await fetch('/token', { method: 'POST' })).text());
  return <span data-testid="status">{session === undefined ? 'signed-out' : 'open'}</span>;
}

createRoot(document.getElementById('root')!).render(<StrictMode>{params.get('naive') === '1' ? <NaiveRoot /> : <Root />}</StrictMode>);
