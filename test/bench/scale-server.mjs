// The key environment of the scale benchmark, in a process of its own (scale.mjs starts it,
// pinned to one core where `taskset` exists): opens the store, serves deliveries over HTTP on an
// ephemeral port (the library's own server and handler, default limits), and does what the
// benchmark asks over IPC — report memory, create keys, run rewrapAll beside the traffic.
// Bearer tokens are `b.<member number>.<anything unique>` (a token opens one session), without
// DPoP: the benchmark measures the key environment, not the client's proofs.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DIST, masterKeyBytes, memberId } from './scale-data.mjs';
import { open } from './scale-stores.mjs';

const spec = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0)); // the benchmark ended (or was stopped)
const dist = await import(DIST);
const keys = masterKeyBytes();
const current = dist.localMasterKey(keys.current);
const next = dist.localMasterKey(keys.next);
const { store, sessions, audit, close } = await open(spec);
const env = dist.createKeyEnvironment({
  // Deliveries go on while rewrapAll moves entries from `current` to `next`.
  masterKey: next,
  previousMasterKeys: [current],
  store,
  sessions,
  ...(audit === undefined ? {} : { audit }),
  authenticate: ({ token }) => {
    const i = Number(token.split('.')[1]);
    return Number.isSafeInteger(i) && i >= 0 && i < spec.members ? { memberId: memberId(i) } : null;
  },
  dpop: { required: false },
});
const server = dist.createKeyEnvironmentServer(dist.keyEnvironmentHandler(env, { path: '/session' }));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const memory = () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
};
const reply = (message) => process.send(message);
/** CPU time this process has used so far (user + system), in µs. */
const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
reply({ type: 'ready', ms: performance.now(), port: server.address().port, ...memory() });

async function createKeys({ count, concurrency }) {
  const prefix = `N${process.pid}-${Date.now().toString(36)}-`;
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < count) await env.createMemberKey(`${prefix}${i++}`);
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}

const ms = (ns) => ns / 1e6;

/**
 * The event-loop delay in CPU time, which other processes on the core do not stretch: a 10 ms
 * timer notes the CPU time this process used since its last tick (process.cpuUsage); what is
 * beyond 10 ms held the loop. A process descheduled by the machine's load uses no CPU meanwhile
 * and adds nothing; its other threads (GC helpers, libuv's pool) do count. @returns stop → ms
 */
function cpuLoopDelay() {
  const samples = [];
  let last = process.cpuUsage();
  let timer;
  const tick = () => {
    const used = process.cpuUsage(last);
    last = process.cpuUsage();
    samples.push(Math.max(0, (used.user + used.system) / 1000 - 10));
    timer = setTimeout(tick, 10);
  };
  timer = setTimeout(tick, 10);
  return () => {
    clearTimeout(timer);
    const sorted = samples.sort((a, b) => a - b);
    const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
    return { p50: at(50), p99: at(99), max: sorted.at(-1) ?? 0 };
  };
}

/** Event-loop delay over `seconds` (while the benchmark drives deliveries): the baseline. */
async function loopDelay({ seconds }) {
  const eld = monitorEventLoopDelay({ resolution: 10 });
  const cpuDelay = cpuLoopDelay();
  eld.enable();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  eld.disable();
  return { eventLoopDelayMs: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) }, cpuDelayMs: cpuDelay() };
}

async function rewrap({ abortAt }) {
  const total = await store.count();
  const eld = monitorEventLoopDelay({ resolution: 10 });
  const cpuDelay = cpuLoopDelay();
  eld.enable();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const stop = new AbortController();
  try {
    await dist.rewrapAll(store, {
      from: current,
      to: next,
      signal: stop.signal,
      onProgress: ({ examined }) => {
        if (examined >= abortAt * total) stop.abort(new Error('stopped for the benchmark'));
      },
    });
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  }
  const t1 = performance.now();
  // The second run resumes: what the first one moved counts as already current.
  const resumed = await dist.rewrapAll(store, { from: current, to: next });
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0); // the key environment's CPU, the deliveries served meanwhile included
  await new Promise((resolve) => setTimeout(resolve, 50)); // a loop held until now is recorded now
  eld.disable();
  return {
    total,
    firstSeconds: (t1 - t0) / 1000,
    resumeSeconds: (t2 - t1) / 1000,
    result: resumed,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    eventLoopDelayMs: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) },
    cpuDelayMs: cpuDelay(),
  };
}

process.on('message', async (m) => {
  try {
    if (m.type === 'memory') reply({ type: 'memory', ...memory() });
    else if (m.type === 'cpu') reply({ type: 'cpu', micros: cpuMicros() });
    else if (m.type === 'createKeys') reply({ type: 'createKeys', perSecond: await createKeys(m) });
    else if (m.type === 'rewrap') reply({ type: 'rewrap', ...(await rewrap(m)) });
    else if (m.type === 'loopDelay') reply({ type: 'loopDelay', ...(await loopDelay(m)) });
    else if (m.type === 'exit') {
      server.close();
      await close();
      process.exit(0);
    }
  } catch (err) {
    reply({ type: 'error', message: String(err?.stack ?? err) });
  }
});
