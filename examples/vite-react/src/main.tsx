import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { httpKeyProvider } from 'tokumei';
import { TokumeiProvider } from 'tokumei/react';
import { App } from './App';

// The member's access token for the key environment, from your SSO client — in a portal, e.g.
// `(await userManager.getUser())!.access_token` (oidc-client-ts). This example's server hands
// out a development token instead (server/key-env.mjs).
async function getToken(): Promise<string> {
  const res = await fetch('/dev-sso/token', { method: 'POST' });
  if (!res.ok) throw new Error(`dev SSO: HTTP ${res.status}`);
  return res.text();
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {/* One session for the whole app. Inline options are fine: they are read when the session opens. */}
    <TokumeiProvider options={{ keyProvider: httpKeyProvider({ url: '/key-env/session', getToken }), idleTimeoutMs: 5 * 60_000 }}>
      <App />
    </TokumeiProvider>
  </StrictMode>,
);
