// A member-key store in one append-only file of JSON lines, indexed in memory (demo, small
// deployments).
import { appendFile, readFile, truncate } from 'node:fs/promises';
import { TokumeiError } from '../../errors.ts';
import { astring } from '../../internal/bytes.ts';
import { assertMemberKeyChange, assertNewMemberKey, assertWrappedMemberKey, copy, insertConflict, type MemberKeyStore, type WrappedMemberKey } from './member-key-store.ts';

/**
 * A store backed by one append-only file of JSON lines (one {@link WrappedMemberKey} per line,
 * the last line for a key id wins), loaded into memory when opened. A line cut short by a crash
 * is ignored. For the demo and small deployments; use a database in production.
 *
 * @param path - the file; created on the first write when missing
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
  const byKeyId = new Map<string, WrappedMemberKey>();
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
      const old = byKeyId.get(entry.keyId);
      if (old !== undefined && (old.memberId !== entry.memberId || old.version !== entry.version)) throw insertConflict('keyId');
      byKeyId.set(entry.keyId, entry);
    } catch (cause) {
      if (i === last) return; // an append cut short by a crash: that write never completed
      throw new TokumeiError('ERR_FORMAT', `line ${i + 1} of the member key store is not a valid entry`, { cause });
    }
  });
  if (text.length > 0 && !text.endsWith('\n')) {
    // Drop a line cut short by a crash, so the next append starts on a line of its own.
    await truncate(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1), 'utf8'));
  }
  let writes: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = writes.then(task, task);
    writes = run.catch(() => undefined);
    return run;
  };
  const write = async (entry: WrappedMemberKey): Promise<WrappedMemberKey> => {
    await appendFile(path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    byKeyId.set(entry.keyId, entry); // visible only once in the log
    return copy(entry);
  };
  const all = (): WrappedMemberKey[] => [...byKeyId.values()];

  return {
    versions: async (memberId) => all().filter((e) => e.memberId === memberId).sort((a, b) => a.version - b.version).map(copy),
    get: async (keyId) => (byKeyId.has(keyId) ? copy(byKeyId.get(keyId)!) : undefined),
    list: async ({ after, limit }) => all().filter((e) => after === undefined || e.keyId > after).sort((a, b) => (a.keyId < b.keyId ? -1 : 1)).slice(0, limit).map(copy),
    count: async () => byKeyId.size,
    insert(entry) {
      assertNewMemberKey(entry);
      return serial(async () => {
        if (byKeyId.has(entry.keyId)) throw insertConflict('keyId');
        if (all().some((e) => e.memberId === entry.memberId && e.version === entry.version)) throw insertConflict('version');
        const { memberId, keyId, version, createdAt, state, masterKeyId, wrapped } = entry;
        return write({ memberId, keyId, version, createdAt, state, masterKeyId, wrapped, revision: 1 });
      });
    },
    update(current, change) {
      assertMemberKeyChange(change);
      return serial(async () => {
        const e = byKeyId.get(current.keyId);
        if (e === undefined || e.revision !== current.revision) return undefined;
        return write({ ...e, state: change.state, masterKeyId: change.masterKeyId, wrapped: change.wrapped, revision: e.revision + 1 });
      });
    },
  };
}
