// Residue scans (G4, docs/threat-model.md §5 and §7): search the memory of live processes and every file of a
// directory tree for needles (key bytes). Runs as root on Linux; unreadable regions and files
// are skipped, so a scan must always be paired with a positive control that finds the needle.
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { chromiumPids } from './chromium.ts';
import type { Browser } from './engines/engine.ts';

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

const PAGE = 4096;
const PAGEMAP_CHUNK = 128 * 1024; // pagemap entries read at once (512 MiB of address space)

/**
 * The readable mappings of a process that hold any memory (`/proc/PID/smaps`: resident or
 * swapped). WebKit reserves tens of GiB of readable address space it never touches; a mapping
 * with nothing resident or swapped reads as zeros and cannot hold a key.
 */
async function populatedRegions(pid: number): Promise<Region[]> {
  let smaps: string;
  try {
    smaps = await readFile(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return [];
  }
  const out: Region[] = [];
  let current: (Region & { readable: boolean; held: number }) | undefined;
  const flush = (): void => {
    if (current !== undefined && current.readable && current.held > 0) out.push({ start: current.start, end: current.end });
  };
  for (const line of smaps.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
    if (head !== null) {
      flush();
      const special = line.endsWith('[vvar]') || line.endsWith('[vsyscall]') || line.includes('[vvar_vclock]');
      current = { start: parseInt(head[1]!, 16), end: parseInt(head[2]!, 16), readable: head[3]![0] === 'r' && !special, held: 0 };
      continue;
    }
    const field = /^(Rss|Swap):\s+(\d+) kB/.exec(line);
    if (field !== null && current !== undefined) current.held += Number(field[2]);
  }
  flush();
  return out;
}

/**
 * Splits a region into runs of pages that are resident or swapped (`/proc/PID/pagemap` bits 63
 * and 62), leaving out resident pages whose physical frame was already scanned (`seen`: shared
 * libraries, shared memory between the processes of one browser). Pages left out are either
 * never-touched zeros or bytes already searched.
 */
async function pageRuns(pagemap: FileHandle, region: Region, seen: Set<number>): Promise<Region[]> {
  const runs: Region[] = [];
  const entries = Buffer.allocUnsafe(PAGEMAP_CHUNK * 8);
  let runStart = -1;
  const firstPage = region.start / PAGE;
  const pages = (region.end - region.start) / PAGE;
  for (let done = 0; done < pages; done += PAGEMAP_CHUNK) {
    const n = Math.min(PAGEMAP_CHUNK, pages - done);
    const { bytesRead } = await pagemap.read(entries, 0, n * 8, (firstPage + done) * 8);
    for (let i = 0; i < n; i++) {
      let take = false;
      if (i * 8 + 8 <= bytesRead) {
        const lo = entries.readUInt32LE(i * 8);
        const hi = entries.readUInt32LE(i * 8 + 4);
        if ((hi & 0x80000000) !== 0) {
          // Resident: bits 0–54 are the frame number (readable as root; 0 when hidden).
          const pfn = (hi & 0x7fffff) * 0x100000000 + lo;
          take = pfn === 0 || !seen.has(pfn);
          if (pfn !== 0) seen.add(pfn);
        } else {
          take = (hi & 0x40000000) !== 0; // swapped out: still holds its bytes
        }
      }
      const at = region.start + (done + i) * PAGE;
      if (take && runStart < 0) runStart = at;
      if (!take && runStart >= 0) {
        runs.push({ start: runStart, end: at });
        runStart = -1;
      }
    }
  }
  if (runStart >= 0) runs.push({ start: runStart, end: region.end });
  return runs;
}

const frozen = new Set<number>();
let thawOnExit = false;

/**
 * Stops every process (SIGSTOP) for the duration of `scan`, then lets them go on (SIGCONT), so
 * the scan reads one consistent snapshot: nothing moves a key (a garbage collector, a memcpy)
 * from a page not yet read to a page already read while the scan runs.
 */
async function whileStopped<T>(pids: number[], scan: () => Promise<T>): Promise<T> {
  if (!thawOnExit) {
    thawOnExit = true;
    process.once('exit', () => {
      for (const pid of frozen) signal(pid, 'SIGCONT');
    });
  }
  for (const pid of pids) if (signal(pid, 'SIGSTOP')) frozen.add(pid);
  try {
    return await scan();
  } finally {
    for (const pid of pids) {
      signal(pid, 'SIGCONT');
      frozen.delete(pid);
    }
  }
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false; // exited meanwhile
  }
}

/**
 * Scans the memory of each process (`/proc/PID/mem`) for every needle: every readable page that
 * is resident or swapped, each physical page once across all the given processes, with every
 * process stopped while it runs (one consistent snapshot). A needle that starts in a scanned
 * page is found even where it runs into the next page. Regions that cannot be read are skipped.
 * @returns total hits and hits per needle (same order as `needles`)
 */
export function scanProcessMemory(pids: number[], needles: Uint8Array[]): Promise<{ hits: number; perNeedle: number[] }> {
  return whileStopped(pids, () => scanStopped(pids, needles));
}

async function scanStopped(pids: number[], needles: Uint8Array[]): Promise<{ hits: number; perNeedle: number[] }> {
  const bufs = needles.map((n) => Buffer.from(n));
  const overlap = Math.max(0, ...bufs.map((b) => b.length)) - 1;
  const perNeedle = bufs.map(() => 0);
  const chunk = Buffer.allocUnsafe(CHUNK + overlap);
  const seen = new Set<number>();
  for (const pid of pids) {
    const regions = await populatedRegions(pid);
    let mem: FileHandle | undefined;
    let pagemap: FileHandle | undefined;
    try {
      mem = await open(`/proc/${pid}/mem`, 'r');
      pagemap = await open(`/proc/${pid}/pagemap`, 'r');
      for (const region of regions) {
        for (const run of await pageRuns(pagemap, region, seen)) {
          // A match may start in the run's last bytes and end in the next page: read on into it.
          const end = Math.min(region.end, run.end + overlap);
          for (let pos = run.start; pos < run.end; pos += CHUNK) {
            const want = Math.min(CHUNK + overlap, end - pos);
            let got: number;
            try {
              ({ bytesRead: got } = await mem.read(chunk, 0, want, pos));
            } catch {
              break; // unreadable (guard pages, device mappings): skip the rest of the run
            }
            if (got <= 0) break;
            // Only matches that start inside the run (and before the next chunk) count here.
            countIn(chunk.subarray(0, got), bufs, perNeedle, Math.min(got, CHUNK, run.end - pos));
            if (got < want) break;
          }
        }
      }
    } catch {
      // the process exited while being scanned
    } finally {
      await mem?.close();
      await pagemap?.close();
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

/**
 * Scans every process of a browser instance launched through the engine interface for the named
 * needles; returns hit counts by name, non-zero ones only. At least two processes must exist
 * (a browser process and a content process), or the scan would prove nothing.
 */
export async function scanBrowser(browser: Browser, names: string[], needles: Uint8Array[]): Promise<Record<string, number>> {
  const pids = browser.pids();
  if (pids.length < 2) throw new Error(`${browser.engine}: expected the browser and at least one content process, found ${pids.length}`);
  const { perNeedle } = await scanProcessMemory(pids, needles);
  return Object.fromEntries(names.map((n, i) => [n, perNeedle[i]!] as const).filter(([, c]) => c > 0));
}
