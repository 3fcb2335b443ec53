// A binary min-heap of (deadline, id): what the memory registry drops when, a few at a time, so
// that no single call pays for pruning a million sessions (internal).

/** Deadlines in ms with the id each belongs to; the earliest is on top. */
export class DeadlineHeap {
  #at: number[] = [];
  #ids: string[] = [];

  get size(): number {
    return this.#at.length;
  }

  push(at: number, id: string): void {
    const times = this.#at;
    const ids = this.#ids;
    let i = times.length;
    times.push(at);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= at) break;
      times[i] = times[parent]!;
      ids[i] = ids[parent]!;
      i = parent;
    }
    times[i] = at;
    ids[i] = id;
  }

  /** The earliest deadline, or `Infinity` when empty. */
  peek(): number {
    return this.#at.length === 0 ? Infinity : this.#at[0]!;
  }

  /** Removes the earliest entry and returns its id. */
  pop(): string | undefined {
    const times = this.#at;
    const ids = this.#ids;
    if (times.length === 0) return undefined;
    const top = ids[0];
    const lastAt = times.pop()!;
    const lastId = ids.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && times[child + 1]! < times[child]!) child++;
        if (times[child]! >= lastAt) break;
        times[i] = times[child]!;
        ids[i] = ids[child]!;
        i = child;
      }
      times[i] = lastAt;
      ids[i] = lastId;
    }
    return top;
  }
}
