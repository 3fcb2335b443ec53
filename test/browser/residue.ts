// Residue scans (G4, docs/threat-model.md §5 and §7): search the memory of live processes and every file of a
// directory tree for needles (key bytes). Runs as root on Linux; unreadable regions and files
// are skipped, so a scan must always be paired with a positive control that finds the needle.
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromiumPids } from './chromium.ts';

const CHUNK = 8 * 1024 * 1024;

/** Counts every occurrence of each needle in `hay`, adding to `counts`. */
function countIn(hay: Buffer, needles: readonly Buffer[], counts: number[], end: number): void {
  for (let n = 0; n < needles.length; n++) {
    const needle = needles[n]!;
    let at = hay.indexOf(needle);
    // Only matches that start before `end` count: the overlap belongs to the next chunk.
    while (at !== -1 && at < end) {
      counts[n]! += 1;
      at = hay.indexOf(needle, at + 1);
    }
  }
}

interface Region {
  start: number;
  end: number;
}

async function readableRegions(pid: number): Promise<Region[]> {
  let maps: string;
  try {
    maps = await readFile(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return [];
  }
  const out: Region[] = [];
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
    if (m === null || m[3]![0] !== 'r') continue;
    if (line.endsWith('[vvar]') || line.endsWith('[vsyscall]') || line.includes('[vvar_vclock]')) continue;
    out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16) });
  }
  return out;
}

/**
 * Scans the readable memory of each process (`/proc/PID/maps` + `/proc/PID/mem`) for every
 * needle. Regions that cannot be read are skipped.
 * @returns total hits and hits per needle (same order as `needles`)
 */
export async function scanProcessMemory(pids: number[], needles: Uint8Array[]): Promise<{ hits: number; perNeedle: number[] }> {
  const bufs = needles.map((n) => Buffer.from(n));
  const overlap = Math.max(0, ...bufs.map((b) => b.length)) - 1;
  const perNeedle = bufs.map(() => 0);
  const chunk = Buffer.allocUnsafe(CHUNK + overlap);
  for (const pid of pids) {
    const regions = await readableRegions(pid);
    let fh;
    try {
      fh = await open(`/proc/${pid}/mem`, 'r');
    } catch {
      continue;
    }
    try {
      for (const { start, end } of regions) {
        for (let pos = start; pos < end; pos += CHUNK) {
          const want = Math.min(CHUNK + overlap, end - pos);
          let got: number;
          try {
            ({ bytesRead: got } = await fh.read(chunk, 0, want, pos));
          } catch {
            break; // unreadable (guard pages, device mappings): skip the rest of the region
          }
          if (got <= 0) break;
          const last = got < want || pos + CHUNK >= end;
          countIn(chunk.subarray(0, got), bufs, perNeedle, last ? got : CHUNK);
          if (got < want) break;
        }
      }
    } finally {
      await fh.close();
    }
  }
  return { hits: perNeedle.reduce((a, b) => a + b, 0), perNeedle };
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/**
 * Scans every regular file under `dir` for every needle.
 * @returns total hits and the files that held at least one
 */
export async function scanFiles(dir: string, needles: Uint8Array[]): Promise<{ hits: number; files: string[] }> {
  const bufs = needles.map((n) => Buffer.from(n));
  const overlap = Math.max(0, ...bufs.map((b) => b.length)) - 1;
  const chunk = Buffer.allocUnsafe(CHUNK + overlap);
  let hits = 0;
  const files: string[] = [];
  for await (const path of walk(dir)) {
    let fh;
    try {
      fh = await open(path, 'r');
    } catch {
      continue;
    }
    const counts = bufs.map(() => 0);
    try {
      for (let pos = 0; ; pos += CHUNK) {
        const { bytesRead } = await fh.read(chunk, 0, CHUNK + overlap, pos);
        if (bytesRead <= 0) break;
        const last = bytesRead < CHUNK + overlap;
        countIn(chunk.subarray(0, bytesRead), bufs, counts, last ? bytesRead : CHUNK);
        if (last) break;
      }
    } catch {
      // a file removed or locked while scanning: skip it
    } finally {
      await fh.close();
    }
    const n = counts.reduce((a, b) => a + b, 0);
    if (n > 0) {
      hits += n;
      files.push(path);
    }
  }
  return { hits, files };
}

/**
 * Scans every process of the Chromium instance using `userDataDir` (at least two must exist:
 * browser and renderer) for the named needles; returns hit counts by name, non-zero ones only.
 */
export async function scanChromium(userDataDir: string, names: string[], needles: Uint8Array[]): Promise<Record<string, number>> {
  const pids = chromiumPids(userDataDir);
  if (pids.length < 2) throw new Error(`expected the browser and at least one renderer process, found ${pids.length}`);
  const { perNeedle } = await scanProcessMemory(pids, needles);
  return Object.fromEntries(names.map((n, i) => [n, perNeedle[i]!] as const).filter(([, c]) => c > 0));
}
