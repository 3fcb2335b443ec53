// A watchdog for long runs in a child process: the child prints a line per heartbeat (a count);
// the watchdog tells a *frozen* child (no heartbeat, and its CPU time stands still: a thread
// waiting on a lock) from a *slow* one (no heartbeat, but it keeps using CPU — a busy machine,
// a long garbage collection). Used by the soak (soak.mjs) and by the freeze regression test
// (test/server/delivery/no-freeze.test.ts).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** CPU time (user + system) of a process in ms, from /proc; undefined where /proc is missing. */
export function cpuMs(pid) {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are fields 14, 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** What the main thread of a process is blocked in (gdb backtrace when installed, else wchan). */
export function describeStall(pid) {
  const wchan = (() => {
    try {
      return readFileSync(`/proc/${pid}/wchan`, 'utf8');
    } catch {
      return '?';
    }
  })();
  const gdb = ['/usr/bin/gdb', '/usr/local/bin/gdb'].find((p) => existsSync(p));
  if (gdb === undefined) return `wchan=${wchan}`;
  const r = spawnSync(gdb, ['-p', String(pid), '-batch', '-ex', 'thread 1', '-ex', 'bt 12'], { encoding: 'utf8', timeout: 60_000 });
  const frames = (r.stdout ?? '').split('\n').filter((l) => /^#\d/.test(l)).map((l) => l.replace(/^#\d+\s+(0x[0-9a-f]+ in )?/, '').slice(0, 140));
  return `wchan=${wchan}\n    ${frames.join('\n    ')}`;
}

/**
 * Runs `node [flags] script [...args]` and watches its heartbeats (lines of stdout holding a
 * number: the count of operations done so far).
 *
 * @returns a promise of `{ outcome: 'done' | 'frozen' | 'stalled' | 'timeout' | 'failed', count,
 *   maxGapMs, seconds, detail, lines }`: `frozen` when no heartbeat came for `stallMs` and the
 *   child used less than `frozenCpuMs` of CPU meanwhile; `stalled` when no heartbeat came for
 *   `busyStallMs` although it used CPU; `timeout` after `maxMs` in all.
 */
export function watchChild(script, args, { flags = [], stallMs = 15_000, busyStallMs = 120_000, frozenCpuMs = 50, maxMs = 60 * 60_000, onBeat, env } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [...flags, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let count = 0;
    let lastBeat = Date.now();
    let maxGapMs = 0;
    let cpuAtBeat = cpuMs(child.pid) ?? 0;
    let settled = false;
    let buffered = '';
    let stderr = '';
    const lines = [];
    const finish = (outcome, detail = '') => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve({ outcome, count, maxGapMs, seconds: (Date.now() - t0) / 1000, detail, lines });
    };
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop();
      for (const line of parts) {
        const n = Number(line);
        if (line === '' || !Number.isFinite(n)) {
          lines.push(line);
          continue;
        }
        const now = Date.now();
        maxGapMs = Math.max(maxGapMs, now - lastBeat);
        lastBeat = now;
        count = n;
        cpuAtBeat = cpuMs(child.pid) ?? cpuAtBeat;
        onBeat?.(count);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    child.on('exit', (code, signal) => finish(code === 0 ? 'done' : 'failed', code === 0 ? '' : `exit ${code ?? signal}: ${stderr.trim()}`));
    const timer = setInterval(() => {
      const now = Date.now();
      if (now - t0 > maxMs) return finish('timeout', `after ${(maxMs / 60_000).toFixed(0)} min`);
      const gap = now - lastBeat;
      if (gap < stallMs) return;
      const cpu = cpuMs(child.pid);
      const used = cpu === undefined ? undefined : cpu - cpuAtBeat;
      if (used !== undefined && used < frozenCpuMs) {
        const detail = `no heartbeat for ${(gap / 1000).toFixed(0)} s and ${used} ms of CPU meanwhile: ${describeStall(child.pid)}`;
        return finish('frozen', detail);
      }
      if (gap >= busyStallMs) finish('stalled', `no heartbeat for ${(gap / 1000).toFixed(0)} s (CPU ${used ?? '?'} ms meanwhile)`);
    }, 1000);
    timer.unref?.();
  });
}
