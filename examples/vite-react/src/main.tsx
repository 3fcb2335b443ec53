import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { httpKeyProvider } from 'tokumei';
import { TokumeiProvider } from 'tokumei/react';
import { App } from './App';
// Development sign-in: replace with your SSO client — `getToken` returns its access token for the
// key environment, `dpopKey` is the non-extractable DPoP key pair it binds that token to
// (docs/integration.md §2).
import { dpopKey, getToken } from './dev-sign-in';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {/* One session for the whole app. Inline options are fine: they are read when the session opens. */}
    <TokumeiProvider options={{ keyProvider: httpKeyProvider({ url: '/key-env/session', getToken, dpopKey }), idleTimeoutMs: 5 * 60_000 }}>
      <App />
    </TokumeiProvider>
  </StrictMode>,
);
