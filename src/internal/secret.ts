// Secret buffers: where the library keeps key bytes, and how it wipes them. Internal.
// Kept in a file of its own so that the wipe-instrumentation tests can observe every
// allocation and every wipe (test/records/wipe.test.ts).

/**
 * Allocates a buffer for secret bytes *off the V8 heap*. V8 keeps typed arrays of ≤ 64 bytes
 * inside the JS heap, and copies them out (leaving the old bytes behind as garbage) the first
 * time anything reads `.buffer`; an explicit `ArrayBuffer` is always off-heap and stays put, so
 * `fill(0)` really wipes it (docs/threat-model.md §7).
 */
export function allocSecret(length: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(length));
}

/** Zeroes every given buffer. Only ever called on buffers the library owns. */
export function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const b of buffers) if (b !== undefined) b.fill(0);
}
