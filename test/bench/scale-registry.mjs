// Session registry growth over a million deliveries, in a process of its own (run with
// --expose-gc): what each delivery asks of the registry — one countDelivery for its token, one
// bindToken (a token opens one session; its record is kept an hour) and one add with the
// per-member cap — for random members of 500,000, on a simulated clock of 2,000
// deliveries a second, 8-hour sessions. A second million comes after the first ones expired:
// memory must follow the live sessions, not the deliveries made, and no call may pause.
//   node --expose-gc test/bench/scale-registry.mjs '<spec JSON>' [deliveries]
import { createHistogram } from 'node:perf_hooks';
import { memberId } from './scale-data.mjs';
import { open } from './scale-stores.mjs';

const spec = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0)); // the benchmark ended (or was stopped)
const deliveries = Number(process.argv[3] ?? 1_000_000);
const { sessions, close } = await open({ ...spec, seed: undefined }); // no member keys needed
const LIFETIME = 8 * 60 * 60_000;
const T0 = 1_800_000_000_000;
const cap = { maxLive: 16, whenFull: 'revoke-oldest' };

const heapMb = () => {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

async function phase(start, label) {
  const histogram = createHistogram();
  const marks = [];
  const t0 = performance.now();
  for (let i = 0; i < deliveries; i++) {
    const at = start + Math.floor(i / 2); // 2,000 a second
    const s = performance.now();
    const sessionId = `s1.${label}-${i}-${Math.random().toString(36).slice(2, 14)}`;
    await sessions.countDelivery(`tok1.${label}-${i}`, 60_000, at);
    await sessions.bindToken(`jti.${label}-${i}`, sessionId, at + 3_600_000, at);
    await sessions.add({ sessionId, memberId: memberId(Math.floor(Math.random() * 500_000)), createdAt: at, expiresAt: at + LIFETIME, primaryKeyId: 'k1.benchmark00000' }, cap);
    histogram.record(Math.max(1, Math.round((performance.now() - s) * 1000)));
    if ((i + 1) % (deliveries / 4) === 0) marks.push({ after: i + 1, heapMb: heapMb(), rssMb: process.memoryUsage().rss / 2 ** 20 });
  }
  return { seconds: (performance.now() - t0) / 1000, p50Us: histogram.percentile(50), p999Us: histogram.percentile(99.9), maxMs: histogram.max / 1000, marks };
}

const base = heapMb();
const first = await phase(T0, 'a');
// Every session of the first million has expired by the second: they must be forgotten.
const second = await phase(T0 + LIFETIME + 3_600_000, 'b');
process.send({ type: 'registry', baseHeapMb: base, first, second });
await close();
process.exit(0);
