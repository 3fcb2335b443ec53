// Records: (1) seal + open of a member record with five identity fields against the raw
// primitive (noble AES-256-GCM on the same five values, a fresh nonce each), interleaved in one
// process — the target is a ratio of at most 1.10; (2) identity-field opens per second with
// openRecord, beside WebCrypto AES-GCM decrypting the same envelopes under the same field key,
// in Node and in a Chromium page (test/bench/records-workload.mjs) — the target is at least
// 150,000 opens per second in both.
import { fileURLToPath } from 'node:url';
import { gcm } from '@noble/ciphers/aes.js';
import * as tk from '../../dist/index.js';
import { withBenchPage } from './chromium-page.mjs';
import { measure, prepare, SCHEMA_SPEC } from './records-workload.mjs';
import { fmt, interleave } from './stats.mjs';

const RECORDS = 2000; // 10,000 identity fields per round

const workload = fileURLToPath(new URL('./records-workload.mjs', import.meta.url));
const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const PAGE = `
import * as tk from ${JSON.stringify(dist)};
import { measure, prepare } from ${JSON.stringify(workload)};
globalThis.bench = async (records, rounds) => {
  const raw = crypto.getRandomValues(new Uint8Array(new ArrayBuffer(32)));
  const work = await prepare(tk, raw, records);
  return { ...(await measure(work, rounds)), isolated: crossOriginIsolated };
};
`;

function sealOpenRatio() {
  const schema = tk.defineSchema(SCHEMA_SPEC);
  const record = { id: 'M000001', fullName: '山田 太郎', kana: 'ヤマダ タロウ', birthDate: '1980-04-01', address: '東京都千代田区千代田1-1-1 メゾン千代田101', insuredNo: '12345678-0001' };
  const identity = ['fullName', 'kana', 'birthDate', 'address', 'insuredNo'].map((f) => new TextEncoder().encode(record[f]));
  const key = tk.generateMemberKey();
  const rawKey = crypto.getRandomValues(new Uint8Array(new ArrayBuffer(32)));
  const medians = interleave({
    tokumei: () => {
      const sealed = tk.sealRecord(key, schema, record, { recordId: 'M000001' });
      tk.openRecord(key, schema, sealed, { recordId: 'M000001' });
    },
    raw: () => {
      for (const v of identity) {
        const nonce = crypto.getRandomValues(new Uint8Array(12));
        const ct = gcm(rawKey, nonce).encrypt(v);
        gcm(rawKey, nonce).decrypt(ct);
      }
    },
  }, { rounds: 31, iterations: 200 });
  return { ...medians, ratio: medians.tokumei / medians.raw };
}

export async function run() {
  const r = sealOpenRatio();
  console.log('records: seal + open of a 5-identity-field member record (median of 31 interleaved rounds x 200, Node)');
  console.log(`  tokumei        ${fmt(r.tokumei / 1000, 2)} µs/record`);
  console.log(`  raw noble gcm  ${fmt(r.raw / 1000, 2)} µs/record (same 5 values, a fresh nonce each, no padding, AAD or encoding)`);
  console.log(`  ratio          ${fmt(r.ratio, 2)} (target <= 1.10)`);

  const raw = crypto.getRandomValues(new Uint8Array(new ArrayBuffer(32)));
  const node = await measure(await prepare(tk, raw, RECORDS), 9);
  const browser = await withBenchPage(PAGE, (page) => page.evaluate(([n, rounds]) => globalThis.bench(n, rounds), [RECORDS, 9]));
  const line = (label, m) =>
    `  ${label.padEnd(9)} tokumei ${fmt(m.tokumei, 0)} opens/s   WebCrypto ${fmt(m.webcrypto, 0)}/s awaited one by one, ${fmt(m.webcryptoBatched, 0)}/s all in flight`;
  console.log(`records: identity-field opens per second, ${RECORDS * 5} fields per round (median of 9 interleaved rounds; target >= 150,000)`);
  console.log(line('Node', node));
  console.log(line('Chromium', browser) + (browser.isolated ? '' : ' [clock coarsened]'));
  console.log('  (WebCrypto gets nonce, ciphertext and AAD pre-parsed and keeps its key as a CryptoKey that cannot be wiped)');
  return { ratio: r.ratio, node, browser };
}
