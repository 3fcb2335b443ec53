// Issue 5 §5: the data environment's linear scan — matchesSearch over 500,000 sealed records on
// one core, reported as tag tests per second (median of 5 scans). Alongside, for comparison, the
// same scan with node:crypto's createHmac per record, sealRecord's cost with and without search
// tags, and pseudonyms per second.
//
// 5,000 records are sealed with sealRecord; the other 495,000 tags are made from the format in
// docs/search.md §3 with node:crypto (tag = salt ‖ HMAC-SHA256(T, salt)[0..16]), 1 in 1,000
// under the searched value's T and the rest under other values' T — which also checks that the
// spec and the library agree (the scan must find exactly the expected records).
import { createHmac, randomBytes } from 'node:crypto';
import { defineSchema, generateMemberKey, searchToken, sealRecord } from '../../dist/index.js';
import { generateLinkKey, matchesSearch, pseudonym } from '../../dist/server.js';
import { fmt, interleave, median } from './stats.mjs';

const RECORDS = 500_000;
const SEALED = 5_000;

/** T, the per-value secret inside a token (docs/search.md §3). */
function tokenSecret(token) {
  const body = Buffer.from(token.slice(4), 'base64url');
  return body.subarray(body.length - 32);
}

function tagFor(secret) {
  const salt = randomBytes(16);
  const mac = createHmac('sha256', secret).update(salt).digest().subarray(0, 16);
  return 'ts1.' + Buffer.concat([salt, mac]).toString('base64url');
}

export async function run() {
  const schema = defineSchema({
    name: 'member',
    version: 1,
    fields: { id: 'attribute', fullName: { kind: 'identity', search: 'name-ja' }, insuredNo: { kind: 'identity', search: 'exact' }, birthDate: 'identity' },
  });
  const untagged = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity', insuredNo: 'identity', birthDate: 'identity' } });
  const key = generateMemberKey();
  const wanted = 'ヤマダ タロウ';
  const token = searchToken(key, schema, 'fullName', 'ﾔﾏﾀﾞ ﾀﾛｳ');
  const wantedT = tokenSecret(token);
  const otherT = Array.from({ length: 1000 }, (_, i) => tokenSecret(searchToken(key, schema, 'fullName', `たなか${i}`)));

  const records = new Array(RECORDS);
  let expected = 0;
  for (let i = 0; i < RECORDS; i++) {
    const id = `M${String(i).padStart(7, '0')}`;
    const hit = i % 1000 === 7;
    if (hit) expected++;
    if (i < SEALED) {
      records[i] = sealRecord(key, schema, { id, fullName: hit ? wanted : `たなか${i % 1000}`, insuredNo: id, birthDate: '1980-04-01' }, { recordId: id });
    } else {
      records[i] = { id, $search: { fullName: tagFor(hit ? wantedT : otherT[i % 1000]), insuredNo: tagFor(otherT[(i + 1) % 1000]) } };
    }
  }

  const scan = (match) => {
    const t0 = process.hrtime.bigint();
    let found = 0;
    for (let i = 0; i < RECORDS; i++) if (match(records[i])) found++;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (found !== expected) throw new Error(`scan found ${found} records, expected ${expected}`);
    return RECORDS / s;
  };
  const nodeT = Buffer.from(wantedT);
  const nodeMatch = (r) => {
    const b = Buffer.from(r.$search.fullName.slice(4), 'base64url');
    return createHmac('sha256', nodeT).update(b.subarray(0, 16)).digest().subarray(0, 16).equals(b.subarray(16));
  };

  const ours = [];
  const viaNode = [];
  scan((r) => matchesSearch(token, r)); // warm-up
  for (let round = 0; round < 5; round++) {
    ours.push(scan((r) => matchesSearch(token, r)));
    viaNode.push(scan(nodeMatch));
  }
  const m = median(ours);
  const n = median(viaNode);
  console.log(`search: linear scan of ${fmt(RECORDS)} sealed records on one core (median of 5 scans, ${expected} matches each)`);
  console.log(`  matchesSearch:                ${fmt(m, 0)} records/s, one tag test each  (${fmt(1e9 / m, 0)} ns/record; target ≥ 1,000,000)`);
  console.log(`  node:crypto createHmac/record: ${fmt(n, 0)} tag tests/s  (matchesSearch is ${fmt(m / n, 2)}× that)`);

  const record = { id: 'M0000001', fullName: wanted, insuredNo: '12345678-0001', birthDate: '1980-04-01' };
  const linkKey = generateLinkKey();
  const medians = interleave(
    {
      sealTagged: () => sealRecord(key, schema, record, { recordId: 'M0000001' }),
      sealUntagged: () => sealRecord(key, untagged, record, { recordId: 'M0000001' }),
      token: () => searchToken(key, schema, 'fullName', wanted),
      pseudonym: (i) => pseudonym(linkKey, `M${i}`, { purpose: 'portal' }),
    },
    { rounds: 15, iterations: 300 },
  );
  console.log(`  sealRecord, 3 identity fields: ${fmt(medians.sealUntagged / 1000, 1)} µs without tags, ${fmt(medians.sealTagged / 1000, 1)} µs with 2 search tags (${fmt(medians.sealTagged / medians.sealUntagged, 2)}×)`);
  console.log(`  searchToken: ${fmt(medians.token / 1000, 1)} µs; pseudonym: ${fmt(1e9 / medians.pseudonym, 0)} /s`);
  linkKey.fill(0);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
