// A closed-loop HTTP load generator for the key environment's delivery endpoint: `concurrency`
// clients, each sending its next request when the last one is answered, over keep-alive
// connections; every request carries a bearer token of its own for a random member.
import { request, Agent } from 'node:http';
import { createHistogram } from 'node:perf_hooks';

let publicKey;
async function body(kem) {
  if (publicKey === undefined) {
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    publicKey = Buffer.from(await crypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
  }
  return JSON.stringify({ protocol: 'tokumei-key-delivery/1', kem, publicKey });
}

function post(agent, port, token, payload) {
  return new Promise((resolve) => {
    const req = request({ agent, host: '127.0.0.1', port, method: 'POST', path: '/session', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve('error'));
    req.end(payload);
  });
}

/**
 * Runs the load for `warmupSeconds` (not counted) and then `seconds`; `onMeasureStart` is called
 * when the counted part begins.
 * @returns { perSecond, p50Ms, p99Ms, maxMs, count, statuses }
 */
export async function httpLoad({ port, concurrency, seconds, warmupSeconds = 2, members, kem = 'P-256', onMeasureStart }) {
  const payload = await body(kem);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const histogram = createHistogram();
  const statuses = {};
  let n = 0;
  const start = performance.now();
  const measureFrom = start + warmupSeconds * 1000;
  const end = measureFrom + seconds * 1000;
  const marker = onMeasureStart === undefined ? undefined : setTimeout(onMeasureStart, warmupSeconds * 1000);
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; ; i++) {
        const t0 = performance.now();
        if (t0 >= end) return;
        const token = `b.${Math.floor(Math.random() * members)}.${worker}-${i}`;
        const status = await post(agent, port, token, payload);
        const t1 = performance.now();
        if (t0 < measureFrom) continue;
        statuses[status] = (statuses[status] ?? 0) + 1;
        histogram.record(Math.max(1, Math.round((t1 - t0) * 1000))); // µs
        n++;
      }
    }),
  );
  clearTimeout(marker);
  agent.destroy();
  return { perSecond: n / seconds, p50Ms: histogram.percentile(50) / 1000, p99Ms: histogram.percentile(99) / 1000, maxMs: histogram.max / 1000, count: n, statuses };
}
