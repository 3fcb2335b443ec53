// A member-key store in one append-only file of JSON lines, indexed in memory (demo, small
// deployments).
import { appendFile, open, readFile, rename, truncate } from 'node:fs/promises';
import { TokumeiError } from '../../errors.ts';
import { astring } from '../../internal/bytes.ts';
import { assertWrappedMemberKey, copy, MemoryKeyStore, type MemberKeyStore, type WrappedMemberKey } from './member-key-store.ts';

/**
 * A store backed by one append-only file of JSON lines (one {@link WrappedMemberKey} per line,
 * the last line for a key id wins), loaded into memory when opened. A line cut short by a crash
 * is ignored; `compact()` rewrites the file with only the current entries (write to a temporary
 * file, fsync, rename). For the demo and small deployments; use a database in production.
 *
 * @param path - the file; created on the first `put` when missing
 * @returns the opened store
 * @throws TokumeiError `ERR_FORMAT` when a line other than the last is not a valid entry
 * @example
 * ```ts
 * import { fileKeyStore } from 'tokumei/server';
 * const store = await fileKeyStore('./data/key-env/member-keys.jsonl');
 * ```
 */
export async function fileKeyStore(path: string): Promise<MemberKeyStore> {
  astring('path', path, true);
  const index = new MemoryKeyStore();
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = text.split('\n');
  const last = lines.length - 1;
  lines.forEach((line, i) => {
    if (line.length === 0) return;
    try {
      const entry = JSON.parse(line) as unknown;
      assertWrappedMemberKey(entry);
      index.apply(entry);
    } catch (cause) {
      if (i === last) return; // an append cut short by a crash: that put never completed
      if (cause instanceof TokumeiError) throw cause;
      throw new TokumeiError('ERR_FORMAT', `line ${i + 1} of the member key store is not a valid entry`, { cause });
    }
  });
  if (text.length > 0 && !text.endsWith('\n')) {
    // Drop a line cut short by a crash, so the next append starts on a line of its own.
    await truncate(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1), 'utf8'));
  }
  let writes: Promise<void> = Promise.resolve();
  const serial = (task: () => Promise<void>): Promise<void> => (writes = writes.then(task, task));

  return {
    versions: (memberId) => index.versions(memberId),
    list: (options) => index.list(options),
    count: () => index.count(),
    async put(entry: WrappedMemberKey): Promise<void> {
      assertWrappedMemberKey(entry);
      const line = `${JSON.stringify(copy(entry))}\n`;
      return serial(async () => {
        await appendFile(path, line, { mode: 0o600 });
        index.apply(entry); // visible only once durable in the log
      });
    },
    compact(): Promise<void> {
      return serial(async () => {
        const tmp = `${path}.compact-${process.pid}`;
        const file = await open(tmp, 'w', 0o600);
        try {
          await file.writeFile(index.all().map((e) => `${JSON.stringify(e)}\n`).join(''));
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(tmp, path);
      });
    },
  };
}
