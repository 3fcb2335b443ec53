// PGlite runs PostgreSQL on the calling thread. A statement, with the fsync of its commit, holds
// the event loop from its start to its end, and its promise settles as a microtask, so whatever
// awaits it runs on at once: on PGlite's own queue, every statement already waiting ran in the
// same turn of the event loop, one after another, and an HTTP request waited for all of them.
// Here statements take turns: each starts in a turn of the event loop of its own, so a turn
// holds at most one statement, and requests that arrived meanwhile are read before the next.

/** Resolves in a later turn of the event loop (after the I/O callbacks that are due). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs `fn` alone, in its own turn of the event loop (internal). */
export type Exclusive = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * A first-in, first-out queue of statements (or whole transactions) over one PGlite: each waits
 * for the one before it to settle, then for the next turn of the event loop, then runs alone.
 * @returns the function that queues one
 */
export function statementTurns(): Exclusive {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(nextTurn).then(fn);
    tail = run.catch(() => undefined);
    return run;
  };
}
