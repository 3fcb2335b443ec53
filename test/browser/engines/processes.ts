// Finding the processes of one browser instance in /proc (for the residue scans), the port a
// child process listens on, and stopping what a launch started. Linux only; runs as root.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';

function readProc(pid: string, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined; // the process exited, or is not ours to read
  }
}

/** Every live process: pid → parent pid, and pid → command line (NUL-separated arguments). */
function processTable(): { parentOf: Map<number, number>; cmdlines: Map<number, string[]> } {
  const parentOf = new Map<number, number>();
  const cmdlines = new Map<number, string[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const cmdline = readProc(entry, 'cmdline');
    if (cmdline === undefined) continue;
    cmdlines.set(pid, cmdline.split('\0'));
    const stat = readProc(entry, 'stat');
    if (stat === undefined) continue;
    // Field 4 of /proc/PID/stat is the parent pid; the command name (field 2) may contain spaces.
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parentOf.set(pid, Number(after[1]));
  }
  return { parentOf, cmdlines };
}

function withDescendants(roots: Set<number>, parentOf: Map<number, number>): number[] {
  const found = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if (!found.has(pid) && found.has(ppid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found].filter((pid) => parentOf.has(pid)).sort((a, b) => a - b);
}

/** The processes whose command line has an argument `matches` accepts, and all their descendants. */
export function processTreeByArg(matches: (arg: string) => boolean): number[] {
  const { parentOf, cmdlines } = processTable();
  const roots = new Set<number>();
  for (const [pid, args] of cmdlines) if (args.some(matches)) roots.add(pid);
  return withDescendants(roots, parentOf);
}

/** `pid` and all its live descendants (`includeRoot: false` leaves `pid` itself out). */
export function processTree(pid: number, options: { includeRoot?: boolean } = {}): number[] {
  const { parentOf } = processTable();
  const all = withDescendants(new Set([pid]), parentOf);
  return options.includeRoot === false ? all.filter((p) => p !== pid) : all;
}

/** The TCP port `pid` listens on (IPv4), read from /proc: lets a child pick its own port (0). */
export function listeningPort(pid: number): number | undefined {
  const sockets = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m !== null) sockets.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  for (const line of (readProc('self', 'net/tcp') ?? '').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 10 is the inode.
    if (f.length > 9 && f[3] === '0A' && sockets.has(f[9]!)) return parseInt(f[1]!.split(':')[1]!, 16);
  }
  return undefined;
}

const children = new Set<ChildProcess>();
let exitHook = false;

/**
 * Remembers a child process so that it is killed if the test process exits without closing it
 * (a crashed or interrupted run must not leave browsers, drivers or X servers behind).
 */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
