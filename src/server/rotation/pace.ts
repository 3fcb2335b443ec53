// Long passes over a store (rewrapAll, reencryptRecords) share the event loop with deliveries.
// A store and a master key that answer without I/O (in memory, a local master key) settle every
// promise as a microtask, so the loop never turns by itself while such a pass runs: measured at
// 500,000 members, a pass held it for its whole length. The pass yields on its own instead.

/** What a {@link pacer} returns: await it between two units of work. */
export type Pace = () => Promise<void> | undefined;

/**
 * A function to await between units of work of a long pass. It returns `undefined` (nothing to
 * wait for) until `sliceMs` have passed since the pass last yielded, then a promise that
 * resolves in a later turn of the event loop (`setImmediate`: after the timers and I/O callbacks
 * that are due), so the pass never holds the loop much longer than one slice plus one unit.
 * Several workers of one pass may share it; each waits for the same turn.
 *
 * @param sliceMs - work between two yields, in ms (default 10)
 * @param now - the clock, in ms (default `performance.now`)
 * @returns the pace function
 * @throws RangeError when `sliceMs` is not a finite number ≥ 0
 * @example
 * ```ts
 * const pace = pacer();
 * for (const entry of entries) {
 *   await pace();
 *   work(entry);
 * }
 * ```
 */
export function pacer(sliceMs = 10, now: () => number = () => performance.now()): Pace {
  if (typeof sliceMs !== 'number' || !Number.isFinite(sliceMs) || sliceMs < 0) throw new RangeError(`"sliceMs" expected a finite number >= 0, got ${String(sliceMs)}`);
  let since = now();
  let turn: Promise<void> | undefined;
  return () => {
    if (turn !== undefined) return turn;
    if (now() - since < sliceMs) return undefined;
    turn = new Promise<void>((resolve) =>
      setImmediate(() => {
        turn = undefined;
        since = now();
        resolve();
      }),
    );
    return turn;
  };
}
