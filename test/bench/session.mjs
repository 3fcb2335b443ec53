// Issue 3 §8: in Chromium, from a keyring in hand to the first opened record — openSession (with
// its timers, pagehide and cross-tab listeners) plus openRecord of a five-field member record,
// subkey derivation included. Median of many runs, measured inside the page with
// performance.now() (the page is cross-origin isolated, so the clock is not coarsened to 100 µs).
// Also: the same with persistence 'indexeddb' (first sign-in: the entry is written), and a
// resume (what a reload does: read and check the entry, re-delivery by the key provider — here
// in memory; in a portal add one round trip to the key environment, see delivery.mjs).
import { fileURLToPath } from 'node:url';
import { withBenchPage } from './chromium-page.mjs';
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
  await withBenchPage(PAGE, async (page) => {
    await page.evaluate(() => globalThis.bench(20, 'memory')); // warm-up (JIT)
    const mem = await page.evaluate(() => globalThis.bench(300, 'memory'));
    const idb = await page.evaluate(() => globalThis.bench(60, 'indexeddb'));
    const ms = (xs) => `${fmt(median(xs), 3)} ms`;
    console.log('session (Chromium, in-page, median)' + (mem.isolated ? '' : ' [clock coarsened: not cross-origin isolated]'));
    console.log(`  keyring in hand -> first opened record, memory:      ${ms(mem.firstOpen)} (n=${mem.firstOpen.length}, target <= 2 ms)`);
    console.log(`  keyring in hand -> first opened record, indexeddb:   ${ms(idb.firstOpen)} (n=${idb.firstOpen.length}; includes the IndexedDB entry write)`);
    console.log(`  resume (entry + re-delivery) -> first opened record: ${ms(idb.resume)} (n=${idb.resume.length}; plus one key-environment round trip in a portal)`);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
