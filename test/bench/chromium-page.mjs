// Shared by the in-browser benchmarks: bundle a page script, serve it cross-origin isolated (so
// performance.now() is not coarsened) on 127.0.0.1, open it in Debian's Chromium, and wait for
// the script to define `globalThis.bench`.
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

/**
 * Runs `use(page)` on a page whose module script is `source`. `handler(req, res)` may answer a
 * request first (return true when it did), e.g. a key environment.
 */
export async function withBenchPage(source, use, handler = () => false) {
  const out = await build({
    stdin: { contents: source, resolveDir: process.cwd(), loader: 'js' },
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent',
  });
  const bundle = out.outputFiles[0].text;
  const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  const server = createServer((req, res) => {
    if (handler(req, res)) return;
    if (req.url === '/bundle.js') res.writeHead(200, { 'content-type': 'text/javascript', ...isolation }).end(bundle);
    else res.writeHead(200, { 'content-type': 'text/html', ...isolation }).end('<!doctype html><script type="module" src="/bundle.js"></script>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const userDataDir = await mkdtemp(join(tmpdir(), 'tokumei-bench-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => 'bench' in globalThis);
    return await use(page);
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
    await new Promise((r) => server.close(r));
  }
}
