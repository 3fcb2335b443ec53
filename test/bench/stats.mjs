// Small helpers shared by the benchmarks: medians over interleaved rounds.

/** Median of an array of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `fn` `iterations` times and returns nanoseconds per call. */
export function timeNs(fn, iterations) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / iterations;
}

/**
 * Interleaves candidates round by round (A, B, A, B, …) so that a noisy, shared machine slows
 * them alike; returns the median ns/op of each.
 */
export function interleave(candidates, { rounds = 25, iterations = 200, warmup = 3 } = {}) {
  const samples = Object.fromEntries(Object.keys(candidates).map((k) => [k, []]));
  for (let r = -warmup; r < rounds; r++) {
    for (const [name, fn] of Object.entries(candidates)) {
      const ns = timeNs(fn, iterations);
      if (r >= 0) samples[name].push(ns);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

export const fmt = (n, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
