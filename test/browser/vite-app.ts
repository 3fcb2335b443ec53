// A React app served by Vite's dev server (development React, so StrictMode really mounts twice,
// and react-refresh for fast refresh) next to a real key environment on the same origin, which
// counts what reaches it. The app is copied into a temporary folder (with a link to the
// repository's node_modules, so `react` resolves) and may be edited by the test; `tokumei` and
// `tokumei/react` resolve to the source. (Not under test-results/: Vite's watcher ignores that.)
import { cp, mkdtemp, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import react from '@vitejs/plugin-react';
import { createServer as createViteServer, type ViteDevServer } from 'vite';
import { defineSchema, sealRecord } from '../../src/index.ts';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore, memorySessionRegistry } from '../../src/server.ts';

const repo = new URL('../..', import.meta.url).pathname;
export const KEY_ENV_PATH = '/key-env/session';
/** The member's name in the sealed record the app opens. */
export const MEMBER_NAME = '山田 太郎';
const memberSchema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });

/** What the key environment saw. */
export interface Counts {
  /** Deliveries by session id, in order (a resume is a delivery of a session seen before). */
  deliveries: string[];
  /** Sessions the app logged off (the browser's end-of-session request with reason `logoff`). */
  logoffs: number;
  /** Sessions ended by any other wipe, by reason (a tab closed or reloaded in memory mode: `pagehide`). */
  ended: string[];
  /** Bearer tokens handed out by `/token`. */
  tokens: number;
}

export interface ViteApp {
  origin: string;
  /** The app's folder (a copy): edit files here to trigger fast refresh. */
  dir: string;
  counts: Counts;
  close(): Promise<void>;
}

/** Serves `appDir` (copied) with Vite in development mode, and a key environment for member M000001. */
export async function serveViteApp(appDir: string): Promise<ViteApp> {
  const counts: Counts = { deliveries: [], logoffs: 0, ended: [], tokens: 0 };
  // Token values never repeat, even when a test resets `counts.tokens`: a token opens one session.
  let issued = 0;
  // Every wipe ends the key-environment session with its reason: count them by reason.
  const sessions = memorySessionRegistry();
  const revoke = sessions.revoke.bind(sessions);
  sessions.revoke = async (sessionId, reason, at) => {
    if (reason === 'logoff') counts.logoffs++;
    else counts.ended.push(reason);
    return revoke(sessionId, reason, at);
  };
  const env = createKeyEnvironment({
    sessions,
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    // Every `/token` answer is a fresh token for M000001 (as an SSO would issue).
    authenticate: ({ token }) => (token.startsWith('member-M000001-') ? { memberId: 'M000001' } : null),
    dpop: { required: false },
    onDeliver: (event) => counts.deliveries.push(event.sessionId),
  });
  await env.createMemberKey('M000001');
  // The data environment's copy of the member's record, sealed at ingest (the app's schema).
  const ring = await env.openKeyring('M000001');
  const record = sealRecord(ring, memberSchema, { id: 'M000001', fullName: MEMBER_NAME }, { recordId: 'M000001' });
  ring.destroy();
  const keyEnv = keyEnvironmentHandler(env, { path: KEY_ENV_PATH });

  const dir = await mkdtemp(join(tmpdir(), 'tokumei-react-app-'));
  await cp(appDir, dir, { recursive: true });
  await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const http: Server = createServer();
  const vite: ViteDevServer = await createViteServer({
    root: dir,
    configFile: false,
    logLevel: 'silent',
    cacheDir: join(dir, '.vite'),
    plugins: [react()],
    resolve: {
      alias: [
        { find: /^tokumei\/react$/, replacement: join(repo, 'src/react.ts') },
        { find: /^tokumei$/, replacement: join(repo, 'src/index.ts') },
      ],
    },
    server: { middlewareMode: true, hmr: { server: http }, fs: { allow: [repo, dir] } },
    appType: 'spa',
  });
  http.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/token') {
      counts.tokens++;
      issued++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`member-M000001-${issued}`);
    } else if (path === '/api/record') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(record));
    } else {
      keyEnv(req, res, () => vite.middlewares(req, res));
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    dir,
    counts,
    async close() {
      await vite.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await unlink(join(dir, 'node_modules')); // the link only, first: never what it points to
      await rm(dir, { recursive: true, force: true });
    },
  };
}
