// PGlite on disk that resolves a write only once it is durable. As shipped, PGlite starts
// PostgreSQL with fsync off (`-F`), and its Node file system layer (Emscripten's NODEFS) has no
// fsync: a committed write sits in the operating system's cache, safe from a killed process but
// not from a power loss. Here PostgreSQL runs with fsync on and `wal_sync_method=fsync`, and
// NODEFS's fsync reaches the host file (or directory): every commit flushes its WAL before it
// returns, checkpoints flush the data files before the WAL is recycled.
import { closeSync, fsyncSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** What this module needs of Emscripten's runtime inside PGlite (internal). */
interface EmscriptenModule {
  NODEFS: {
    stream_ops: Record<string, unknown> & { fsync?: (stream: NodeStream) => number };
    realPath(node: unknown): string;
    convertNodeCode(err: unknown): number;
  };
  FS: { ErrnoError: new (errno: number) => Error };
}
interface NodeStream {
  /** The host file descriptor (files only). */
  nfd?: number;
  node: unknown;
}

/** The parts of `@electric-sql/pglite/nodefs`'s `NodeFS` this module extends. */
export interface NodeFsClass {
  new (dir: string): { init(pg: unknown, opts: Record<string, unknown>): Promise<{ emscriptenOpts: Record<string, unknown> }> };
}

// Emscripten's errno for EIO, when a host error has no code it knows.
const EIO = 29;

/** fsync of a host file or directory by path. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flushes every file and directory under `dir` (once, after PGlite created a new database with fsync off). */
export function fsyncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) fsyncTree(path);
    else if (entry.isFile()) fsyncPath(path);
  }
  fsyncPath(dir);
}

/** Makes NODEFS's fsync flush the host file; a failure reaches PostgreSQL as the host's errno. */
function durableFsync(mod: EmscriptenModule): void {
  const { NODEFS, FS } = mod;
  NODEFS.stream_ops.fsync = (stream: NodeStream): number => {
    try {
      if (stream.nfd !== undefined) fsyncSync(stream.nfd);
      else fsyncPath(NODEFS.realPath(stream.node)); // a directory: NODEFS keeps no host descriptor
      return 0;
    } catch (err) {
      throw new FS.ErrnoError(NODEFS.convertNodeCode(err) ?? EIO);
    }
  };
}

/** A `NodeFS` subclass whose fsync reaches the disk. */
export function durableNodeFs(NodeFS: NodeFsClass): NodeFsClass {
  return class DurableNodeFS extends NodeFS {
    override async init(pg: unknown, opts: Record<string, unknown>): Promise<{ emscriptenOpts: Record<string, unknown> }> {
      const r = await super.init(pg, opts);
      const preRun = (r.emscriptenOpts.preRun as ((mod: EmscriptenModule) => void)[] | undefined) ?? [];
      r.emscriptenOpts.preRun = [...preRun, durableFsync];
      return r;
    }
  };
}

/** PGlite's start parameters with fsync on, WAL flushed by fsync (the call NODEFS now honours). */
export function durableStartParams(defaults: readonly string[]): string[] {
  return [...defaults.filter((p) => p !== '-F'), '-c', 'fsync=on', '-c', 'wal_sync_method=fsync', '-c', 'synchronous_commit=on'];
}
