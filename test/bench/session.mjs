// Issue 3 §8: in Chromium, from a keyring in hand to the first opened record — openSession (with
// its timers, pagehide and cross-tab listeners) plus openRecord of a five-field member record,
// subkey derivation included. Median of many runs, measured inside the page with
// performance.now() (the page is cross-origin isolated, so the clock is not coarsened to 100 µs).
// Also: the same with persistence 'indexeddb' (first sign-in: the entry is written), and a
// resume (what a reload does: read and check the entry, re-delivery by the key provider — here
// in memory; in a portal add one round trip to the key environment, see delivery.mjs).
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { fmt, median } from './stats.mjs';

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

const PAGE = `
import { createKeyring, defineSchema, importMemberKey, memoryKeyProvider, openSession, sealRecord } from ${JSON.stringify(dist)};
const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity', kana: 'identity', birthDate: 'identity', address: 'identity', insuredNo: 'identity' } });
const record = { id: 'M000001', fullName: '山田 太郎', kana: 'ヤマダ タロウ', birthDate: '1980-04-01', address: '東京都千代田区千代田1-1-1 メゾン千代田101', insuredNo: '12345678-0001' };
const raw = crypto.getRandomValues(new Uint8Array(new ArrayBuffer(32)));
const keyFor = () => importMemberKey(raw, 'M000001.v1');
const sealed = sealRecord(keyFor(), schema, record, { recordId: 'M000001' });

globalThis.bench = async (runs, persistence) => {
  const firstOpen = [];
  const resume = [];
  for (let i = 0; i < runs; i++) {
    // The keyring in hand, as a key provider delivers it (a fresh one per delivery: a resume
    // is a second delivery).
    const keyProvider = memoryKeyProvider(() => createKeyring([keyFor()]));
    const t0 = performance.now();
    const s = await openSession({ keyProvider, persistence });
    const me = await s.openRecord(schema, sealed, { recordId: 'M000001' });
    firstOpen.push(performance.now() - t0);
    if (me.fullName !== record.fullName) throw new Error('wrong plaintext');
    if (persistence === 'indexeddb') {
      const t1 = performance.now();
      const again = await openSession({ keyProvider, persistence });
      await again.openRecord(schema, sealed, { recordId: 'M000001' });
      resume.push(performance.now() - t1);
      if (!again.resumed) throw new Error('not resumed');
      await again.logoff();
    }
    await s.logoff();
  }
  return { firstOpen, resume, isolated: crossOriginIsolated };
};
`;

export async function run() {
  const out = await build({
    stdin: { contents: PAGE, resolveDir: process.cwd(), loader: 'js' },
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent',
  });
  const bundle = out.outputFiles[0].text;
  const server = createServer((req, res) => {
    const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
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
    await page.evaluate(() => globalThis.bench(20, 'memory')); // warm-up (JIT)
    const mem = await page.evaluate(() => globalThis.bench(300, 'memory'));
    const idb = await page.evaluate(() => globalThis.bench(60, 'indexeddb'));
    const ms = (xs) => `${fmt(median(xs), 3)} ms`;
    console.log('session (Chromium, in-page, median)' + (mem.isolated ? '' : ' [clock coarsened: not cross-origin isolated]'));
    console.log(`  keyring in hand -> first opened record, memory:      ${ms(mem.firstOpen)} (n=${mem.firstOpen.length}, target <= 2 ms)`);
    console.log(`  keyring in hand -> first opened record, indexeddb:   ${ms(idb.firstOpen)} (n=${idb.firstOpen.length}; includes the IndexedDB entry write)`);
    console.log(`  resume (entry + re-delivery) -> first opened record: ${ms(idb.resume)} (n=${idb.resume.length}; plus one key-environment round trip in a portal)`);
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
    server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
