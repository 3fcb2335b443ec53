// Embedded storage for the demo: one JSON file per record in a directory. Writes go to a
// temporary file first and are renamed into place, so a crash never leaves half a record.
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ID = /^[A-Za-z0-9_-]{1,128}$/;

/** A directory of JSON records, one file per id. */
export class JsonDir<T> {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  #path(id: string): string {
    if (!ID.test(id)) throw new RangeError(`"id" expected 1-128 characters of [A-Za-z0-9_-], got length=${id.length}`);
    return join(this.dir, `${id}.json`);
  }

  /** The record with this id, or `undefined`. */
  get(id: string): T | undefined {
    try {
      return JSON.parse(readFileSync(this.#path(id), 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Writes a record (atomically: temp file, then rename). */
  put(id: string, value: T): void {
    const path = this.#path(id);
    writeFileSync(`${path}.tmp`, JSON.stringify(value));
    renameSync(`${path}.tmp`, path);
  }

  /** Every id stored. */
  ids(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5));
  }
}
