// The database session registry over a million deliveries, through the path production uses: a
// key environment (createKeyEnvironment on openDatabase, with its audit log) in this process,
// whose deliverKeys is called directly (no HTTP) with a bearer token of its own per delivery for
// a random member of the store and a real P-256 public key, `concurrency` deliveries in flight. On
// a database each delivery's writes are one transaction (tokumei.commit_delivery). The clock is
// simulated — it advances with the deliveries begun, `clockRate` a second — and sessions last
// `lifetimeMs`, so expired sessions, token records and counters must be pruned as the run goes:
// the tables must follow what is live, not the deliveries made (the audit log excepted, which
// keeps every delivery by design). Every `slice` deliveries the load stops and this prints the
// rate, the process's CPU per delivery (and PostgreSQL's), per-delivery latency, the pauses
// (longest gap between completions, event-loop delay), heap and RSS, and each table's rows and
// size on disk. scale.mjs runs it (`--sections registry`) in a process of its own.
//   node --expose-gc test/bench/scale-registry-db.mjs '<spec JSON>' '<options JSON>'
//     options: { deliveries = 1e6, slice = 1e5, concurrency = 8, clockRate = 1000, lifetimeMs = 120000 }
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { DIST, masterKeyBytes, memberId } from './scale-data.mjs';
import { fmt } from './stats.mjs';

const spec = JSON.parse(process.argv[2]);
const { deliveries = 1_000_000, slice = 100_000, concurrency = 8, clockRate = 1000, lifetimeMs = 120_000 } = JSON.parse(process.argv[3] ?? '{}');
process.on('disconnect', () => process.exit(0)); // the benchmark ended (or was stopped)
const dist = await import(DIST);
const masterKey = dist.localMasterKey(masterKeyBytes().current);
const TABLES = ['sessions', 'token_records', 'once_ids', 'delivery_counters', 'delivery_audit'];

// The simulated clock: `clockRate` deliveries a second, from a fixed start.
const T0 = Date.UTC(2026, 11, 2);
let begun = 0;
const now = () => T0 + Math.floor((begun * 1000) / clockRate);

let db;
let env;
async function openEnvironment() {
  db = await dist.openDatabase(spec.kind === 'pglite' ? { dir: spec.dir } : { url: spec.url, maxConnections: 20 });
  env = dist.createKeyEnvironment({
    masterKey,
    store: db.memberKeys,
    sessions: db.sessions,
    audit: db.audit,
    sessionLifetimeMs: lifetimeMs,
    now,
    authenticate: ({ token }) => ({ memberId: memberId(Number(token.split('.')[1])) }),
    dpop: { required: false },
  });
}

/** Runs `sql` on a connection of its own (PostgreSQL), or on the closed PGlite directory, then reopens it. */
async function inspect(use) {
  if (spec.kind === 'postgres') {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: spec.url });
    await client.connect();
    try {
      return await use((sql) => client.query(sql));
    } finally {
      await client.end();
    }
  }
  // PGlite is one connection in this process: close the key environment's database to look.
  await db.close();
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = new PGlite(spec.dir);
  try {
    return await use((sql) => pg.query(sql));
  } finally {
    await pg.close();
    await openEnvironment();
  }
}

const tableStats = () =>
  inspect(async (query) => {
    const out = {};
    for (const t of TABLES) {
      const { rows } = await query(`SELECT count(*)::bigint AS n, pg_total_relation_size('tokumei.${t}')::bigint AS bytes, (SELECT n_dead_tup FROM pg_stat_user_tables WHERE schemaname = 'tokumei' AND relname = '${t}')::bigint AS dead FROM tokumei.${t}`);
      out[t] = { rows: Number(rows[0].n), bytes: Number(rows[0].bytes), dead: Number(rows[0].dead ?? 0) };
    }
    if (spec.kind === 'postgres') {
      const { rows } = await query(`SELECT xact_commit::bigint AS commits, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS wal FROM pg_stat_database WHERE datname = current_database()`);
      out.commits = Number(rows[0].commits);
      out.walBytes = Number(rows[0].wal);
    }
    return out;
  });

// PostgreSQL's CPU: every process of the private cluster (the postmaster's children), from /proc.
const postmaster = spec.kind === 'postgres' ? Number(readFileSync(join(decodeURIComponent(/[?&]host=([^&]+)/.exec(spec.url)[1]), 'data', 'postmaster.pid'), 'utf8').split('\n')[0]) : undefined;
function postgresCpuMs() {
  if (postmaster === undefined) return undefined;
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
      if (Number(pid) === postmaster || Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
const publicKey = Buffer.from(await crypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
const body = { protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey };

/** `n` deliveries, `concurrency` at a time; the measures of this slice. */
async function runSlice(n) {
  const latency = createHistogram();
  const eld = monitorEventLoopDelay({ resolution: 10 });
  const failures = {};
  let started = 0;
  let maxGapMs = 0;
  const cpu0 = process.cpuUsage();
  const pg0 = postgresCpuMs();
  const t0 = performance.now();
  let last = t0;
  eld.enable();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < n) {
        started++;
        const i = begun++;
        const s = performance.now();
        try {
          const r = await env.deliverKeys({ authorization: `Bearer b.${Math.floor(Math.random() * spec.members)}.${i}`, method: 'POST', url: 'https://keys.example/session', body });
          if (typeof r.ciphertext !== 'string' || r.ciphertext.length === 0) throw new Error('no ciphertext');
        } catch (err) {
          const code = err?.code ?? err?.message ?? String(err);
          failures[code] = (failures[code] ?? 0) + 1;
        }
        const e = performance.now();
        latency.record(Math.max(1, Math.round((e - s) * 1000)));
        maxGapMs = Math.max(maxGapMs, e - last);
        last = e;
      }
    }),
  );
  eld.disable();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const pg1 = postgresCpuMs();
  return {
    n,
    seconds,
    perSecond: n / seconds,
    cpuUsPerDelivery: (cpu.user + cpu.system) / n,
    ...(pg0 === undefined ? {} : { postgresCpuUsPerDelivery: ((pg1 - pg0) * 1000) / n }),
    p50Ms: latency.percentile(50) / 1000,
    p999Ms: latency.percentile(99.9) / 1000,
    maxMs: latency.max / 1000,
    maxGapMs,
    loopDelayMs: { p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 },
    failures,
    histogram: latency,
  };
}

const memory = () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { heapMb: m.heapUsed / 2 ** 20, rssMb: m.rss / 2 ** 20 };
};
const mb = (bytes) => fmt(bytes / 2 ** 20, 1);
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

await openEnvironment();
const base = { ...memory(), tables: await tableStats() };
console.log(`    ${spec.kind}, ${fmt(spec.members)} members: ${fmt(deliveries)} deliveries through deliverKeys, ${concurrency} at a time, simulated clock ${fmt(clockRate)} deliveries/s, sessions of ${fmt(lifetimeMs / 1000)} s (default limits: 16 live per member, revoke-oldest); heap ${fmt(base.heapMb, 0)} MB, RSS ${fmt(base.rssMb, 0)} MB at the start (load average ${load()})`);
const marks = [];
const millions = [];
let previous = base.tables;
let done = 0;
while (done < deliveries) {
  const n = Math.min(slice, deliveries - done);
  const r = await runSlice(n);
  done += n;
  const tables = await tableStats();
  const mem = memory();
  const m = Math.floor((done - 1) / 1_000_000);
  if (millions[m] === undefined) millions[m] = { histogram: createHistogram(), seconds: 0, n: 0, maxGapMs: 0, loopMaxMs: 0 };
  const agg = millions[m];
  agg.histogram.add(r.histogram);
  agg.seconds += r.seconds;
  agg.n += n;
  agg.maxGapMs = Math.max(agg.maxGapMs, r.maxGapMs);
  agg.loopMaxMs = Math.max(agg.loopMaxMs, r.loopDelayMs.max);
  const { histogram: _, ...mark } = r;
  const auditPerDelivery = (tables.delivery_audit.bytes - previous.delivery_audit.bytes) / n;
  const commits = tables.commits === undefined ? undefined : (tables.commits - previous.commits) / n;
  const wal = tables.walBytes === undefined ? undefined : (tables.walBytes - previous.walBytes) / n;
  marks.push({ after: done, ...mark, ...mem, tables, auditBytesPerDelivery: auditPerDelivery, commitsPerDelivery: commits, walBytesPerDelivery: wal, loadavg: loadavg() });
  const failed = Object.entries(r.failures);
  console.log(
    `    after ${fmt(done)}: ${fmt(r.perSecond, 0)}/s, CPU ${fmt(r.cpuUsPerDelivery, 0)} µs/delivery here${r.postgresCpuUsPerDelivery === undefined ? '' : ` + ${fmt(r.postgresCpuUsPerDelivery, 0)} µs in PostgreSQL`}` +
      `${commits === undefined ? '' : `, ${fmt(commits, 2)} transactions and ${fmt(wal / 1024, 1)} KB WAL per delivery`}; p50 ${fmt(r.p50Ms, 1)} ms, p99.9 ${fmt(r.p999Ms, 0)} ms, max ${fmt(r.maxMs, 0)} ms;` +
      ` longest gap between completions ${fmt(r.maxGapMs, 0)} ms, event-loop delay p99 ${fmt(r.loopDelayMs.p99, 0)} ms, max ${fmt(r.loopDelayMs.max, 0)} ms; heap ${fmt(mem.heapMb, 0)} MB, RSS ${fmt(mem.rssMb, 0)} MB (load average ${load()})${failed.length ? `; FAILED ${JSON.stringify(r.failures)}` : ''}`,
  );
  console.log(`      rows (MB on disk, dead rows): ${TABLES.map((t) => `${t} ${fmt(tables[t].rows)} (${mb(tables[t].bytes)}, ${fmt(tables[t].dead)})`).join('; ')}; audit log +${fmt(auditPerDelivery, 0)} B/delivery`);
  previous = tables;
}
for (const [i, agg] of millions.entries()) {
  console.log(
    `    ${i === 0 ? 'first' : `delivery ${fmt(i * 1_000_000 + 1)} on:`} ${fmt(agg.n)}: ${fmt(agg.n / agg.seconds, 0)}/s, p50 ${fmt(agg.histogram.percentile(50) / 1000, 1)} ms, p99.9 ${fmt(agg.histogram.percentile(99.9) / 1000, 0)} ms, max ${fmt(agg.histogram.max / 1000, 0)} ms; longest gap ${fmt(agg.maxGapMs, 0)} ms, event-loop delay max ${fmt(agg.loopMaxMs, 0)} ms`,
  );
}
process.send({ type: 'registry', base, marks });
await db.close();
process.exit(0);
