// The key environment at 500,000 members, for each store (memory; PGlite and PostgreSQL once
// `openDatabase` exists): keys created per second; start-up time and RSS at 50,000 and 500,000
// members (memory should not follow the member count); deliveries per second and p50/p99 latency
// over HTTP at concurrency 1, 8 and 64 with the key environment on one core; session registry
// growth over a million deliveries; rewrapAll of every key beside live traffic (time, stopped
// halfway and resumed, event-loop delay while it runs). Medians of `--rounds` where repeated.
// The data set is built once and cached in .bench-data/ (scale-data.mjs).
//
//   node test/bench/scale.mjs [--members 500000] [--stores memory,pglite,postgres]
//     [--seconds 10] [--sections keys,startup,http,registry,rewrap] [--deliveries 1000000]
//     [--server-flags "--cpu-prof --cpu-prof-dir=DIR"]
//     registry on a database: [--registry-members 50000] [--slice 100000] [--concurrency 8]
//     [--clock-rate 1000] [--lifetime-seconds 120]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { httpLoad } from './http-load.mjs';
import { KINDS, prepare, unavailable } from './scale-stores.mjs';
import { fmt } from './stats.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const hasTaskset = spawnSync('taskset', ['-V']).status === 0 && cpus().length > 1;
// Extra node flags for the key environment's process, e.g. --server-flags "--cpu-prof --cpu-prof-dir=/tmp/prof".
const serverFlags = arg('server-flags', '').split(' ').filter((f) => f.length > 0);
const mb = (bytes) => `${fmt(bytes / 2 ** 20, 0)} MB`;

/** Starts a node process (pinned to core 0 when possible) with an IPC channel; resolves at its first message. */
function child(script, args, flags = []) {
  const argv = [...flags, here(script), ...args];
  const t0 = performance.now();
  const proc = hasTaskset
    ? spawn('taskset', ['-c', '0', process.execPath, ...argv], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = [];
  proc.on('message', (m) => waiting.shift()?.(m));
  proc.on('exit', (code) => {
    for (const w of waiting.splice(0)) w({ type: 'error', message: `exited with ${code}` });
  });
  const next = () => new Promise((resolve) => waiting.push(resolve));
  const ask = (message) => {
    const p = next();
    proc.send(message);
    return p.then((m) => {
      if (m.type === 'error') throw new Error(m.message);
      return m;
    });
  };
  return next().then((first) => {
    if (first.type === 'error') throw new Error(first.message);
    return { first, spawnMs: performance.now() - t0, ask, exit: () => new Promise((resolve) => (proc.once('exit', resolve), proc.send({ type: 'exit' }))) };
  });
}

async function withServer(kind, members, use) {
  // A PostgreSQL server shares the load generator's core: the key environment has core 0 alone.
  const prepared = await prepare(kind, members, hasTaskset ? { pgCpu: 1 } : {});
  for (const line of prepared.made) console.log(`  (cache) ${line}`);
  try {
    const server = await child('./scale-server.mjs', [JSON.stringify(prepared.spec)], ['--expose-gc', ...serverFlags]);
    server.databaseCpuMicros = prepared.databaseCpuMicros;
    try {
      return await use(server);
    } finally {
      await server.exit();
    }
  } finally {
    prepared.cleanup();
  }
}

/** The CPU time used so far by the key environment and, on PostgreSQL, the database server (µs). */
async function cpuNow(server) {
  const { micros } = await server.ask({ type: 'cpu' });
  return { keyEnv: micros, database: server.databaseCpuMicros?.(), at: performance.now() };
}

/**
 * CPU time per delivery over a run, and what it means for one core: the key environment's
 * deliveries per second on a core of its own, whatever else this machine runs meanwhile.
 */
function cpuLine(a, b, r) {
  const perDelivery = (x) => (x / r.count).toFixed(0);
  const keyEnv = b.keyEnv - a.keyEnv;
  const busy = keyEnv / ((b.at - a.at) * 1000);
  let line = `CPU per delivery: key environment ${perDelivery(keyEnv)} µs (its core ${Math.round(busy * 100)}% busy; a core of its own: ${fmt(r.count / (keyEnv / 1e6), 0)}/s)`;
  if (a.database !== undefined) line += `, PostgreSQL ${perDelivery(b.database - a.database)} µs`;
  return line;
}

async function storeSections(kind, members, sections, seconds) {
  if (sections.includes('startup')) {
    for (const n of [Math.round(members / 10), members]) {
      await withServer(kind, n, async (s) => {
        console.log(`  start-up with ${fmt(n)} members: ${fmt(s.spawnMs, 0)} ms from spawn to serving (${fmt(s.first.ms, 0)} ms in the process), RSS ${mb(s.first.rss)}, heap ${mb(s.first.heapUsed)}`);
      });
    }
  }
  if (!sections.some((s) => ['keys', 'http', 'rewrap'].includes(s))) return;
  await withServer(kind, members, async (s) => {
    const port = s.first.port;
    if (sections.includes('keys')) {
      for (const concurrency of [1, 16]) {
        const { perSecond } = await s.ask({ type: 'createKeys', count: 2000, concurrency });
        console.log(`  keys created: ${fmt(perSecond, 0)}/s (createMemberKey, ${concurrency} at a time)`);
      }
    }
    if (sections.includes('http')) {
      for (const concurrency of [1, 8, 64]) {
        // CPU time over the measured run (its warm-up included in neither count nor time).
        let cpu0;
        const r = await httpLoad({ port, concurrency, seconds, members, onMeasureStart: async () => (cpu0 = await cpuNow(s)) });
        const cpu1 = await cpuNow(s);
        const refused = Object.entries(r.statuses).filter(([k]) => k !== '200');
        console.log(`  HTTP deliveries at concurrency ${String(concurrency).padStart(2)}: ${fmt(r.perSecond, 0)}/s, p50 ${fmt(r.p50Ms, 1)} ms, p99 ${fmt(r.p99Ms, 1)} ms, max ${fmt(r.maxMs, 0)} ms${refused.length ? ` (not 200: ${JSON.stringify(Object.fromEntries(refused))})` : ''}`);
        console.log(`    ${cpuLine(cpu0, cpu1, r)}`);
      }
      const mem = await s.ask({ type: 'memory' });
      console.log(`  after the HTTP runs: RSS ${mb(mem.rss)}, heap ${mb(mem.heapUsed)}`);
    }
    if (sections.includes('rewrap')) {
      // Traffic at concurrency 8 for as long as the server is busy with `ask`.
      const beside = async (message) => {
        const stop = { done: false };
        const traffic = (async () => {
          const rounds = [];
          while (!stop.done) rounds.push(await httpLoad({ port, concurrency: 8, seconds: 5, warmupSeconds: 0, members }));
          return rounds;
        })();
        try {
          const answer = await s.ask(message);
          stop.done = true;
          return [answer, await traffic];
        } finally {
          stop.done = true;
        }
      };
      const [base, baseRounds] = await beside({ type: 'loopDelay', seconds: 10 });
      const d = base.eventLoopDelayMs;
      // In CPU time (scale-server.mjs): what the key environment's own work held the loop, whatever the machine's load.
      const inCpu = (c) => `in CPU time p50 ${fmt(c.p50, 1)} ms, p99 ${fmt(c.p99, 1)} ms, max ${fmt(c.max, 0)} ms`;
      console.log(`  event-loop delay with deliveries only (concurrency 8, 10 s): p50 ${fmt(d.p50, 1)} ms, p99 ${fmt(d.p99, 1)} ms, max ${fmt(d.max, 0)} ms (${inCpu(base.cpuDelayMs)}); ${fmt(baseRounds.reduce((n, x) => n + x.count, 0) / 10, 0)} deliveries/s`);
      const [r, rounds] = await beside({ type: 'rewrap', abortAt: 0.5 });
      const served = rounds.reduce((n, x) => n + x.count, 0);
      const busySeconds = r.firstSeconds + r.resumeSeconds;
      const p99 = Math.max(...rounds.map((x) => x.p99Ms));
      console.log(`  rewrapAll of ${fmt(r.total)} keys beside deliveries: stopped at half after ${fmt(r.firstSeconds, 1)} s, resumed and verified in ${fmt(r.resumeSeconds, 1)} s (re-wrapped ${fmt(r.result.rewrapped)}, already current ${fmt(r.result.alreadyCurrent)}, verified ${fmt(r.result.verified)}/${fmt(r.result.total)}); key environment CPU ${fmt(r.cpuSeconds, 1)} s, deliveries included (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
      console.log(`    event-loop delay meanwhile: p50 ${fmt(r.eventLoopDelayMs.p50, 1)} ms, p99 ${fmt(r.eventLoopDelayMs.p99, 1)} ms, max ${fmt(r.eventLoopDelayMs.max, 0)} ms (target p99 <= 50 ms; ${inCpu(r.cpuDelayMs)}); ${fmt(served / busySeconds, 0)} deliveries/s meanwhile (worst 5-s p99 ${fmt(p99, 1)} ms)`);
    }
  });
}

async function registrySection(kind, deliveries) {
  if (kind !== 'memory') return databaseRegistrySection(kind, deliveries);
  const prepared = await prepare(kind, 1000); // a small store: only the registry is measured
  try {
    const proc = await child('./scale-registry.mjs', [JSON.stringify(prepared.spec), String(deliveries)], ['--expose-gc']);
    const r = proc.first;
    const line = (p) => `${fmt(deliveries / p.seconds, 0)}/s, per delivery p50 ${fmt(p.p50Us, 0)} µs, p99.9 ${fmt(p.p999Us / 1000, 1)} ms, max ${fmt(p.maxMs, 1)} ms; heap ${p.marks.map((m) => `${fmt(m.heapMb, 0)}`).join(' → ')} MB, RSS ${p.marks.map((m) => `${fmt(m.rssMb, 0)}`).join(' → ')} MB`;
    console.log(`  session registry, ${fmt(deliveries)} deliveries (countDelivery + bindToken + add with the cap): ${line(r.first)}`);
    console.log(`    ${fmt(deliveries)} more after the first expired: ${line(r.second)} (heap at start ${fmt(r.baseHeapMb, 0)} MB)`);
  } finally {
    prepared.cleanup();
  }
}

// On a database, through the path production uses (deliverKeys: one transaction per delivery);
// scale-registry-db.mjs prints its figures every --slice deliveries. 50,000 members by default:
// enough that the per-member cap (16 live sessions) is not what the run measures.
async function databaseRegistrySection(kind, deliveries) {
  const prepared = await prepare(kind, Number(arg('registry-members', 50_000)));
  for (const line of prepared.made) console.log(`  (cache) ${line}`);
  const options = { deliveries, slice: Number(arg('slice', 100_000)), concurrency: Number(arg('concurrency', 8)), clockRate: Number(arg('clock-rate', 1000)), lifetimeMs: Number(arg('lifetime-seconds', 120)) * 1000 };
  console.log(`  session registry on ${kind}, deliveries through deliverKeys (one transaction each):`);
  try {
    await child('./scale-registry-db.mjs', [JSON.stringify(prepared.spec), JSON.stringify(options)], ['--expose-gc']);
  } finally {
    prepared.cleanup();
  }
}

export async function run() {
  if (!existsSync(here('../../dist/server.js'))) throw new Error('scale: dist/server.js not found; run npm run build first');
  const members = Number(arg('members', 500_000));
  const seconds = Number(arg('seconds', 10));
  const deliveries = Number(arg('deliveries', 1_000_000));
  const sections = arg('sections', 'keys,startup,http,registry,rewrap').split(',');
  const kinds = arg('stores', KINDS.join(',')).split(',');
  if (hasTaskset) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)]);
  console.log(`scale (${fmt(members)} members; key environment on core 0${hasTaskset ? '' : ' (no taskset: not pinned)'}, load on the other; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores)`);
  for (const kind of kinds) {
    const why = await unavailable(kind);
    console.log(`${kind}:${why ? ` skipped (${why})` : ''}`);
    if (why) continue;
    await storeSections(kind, members, sections, seconds);
    if (sections.includes('registry')) await registrySection(kind, deliveries);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
