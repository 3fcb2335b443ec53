// The memory scanner itself, against a process whose copies of a needle are known: a Node child
// writes 256 copies of a 32-byte needle into a 2 MiB buffer at a stride of 4112 bytes, so that
// the copies sit at every 16-byte offset within a page, some across a page boundary. The scan
// must find every one of them (it skips untouched pages and frames already scanned, and reads
// on past a run's end for matches that cross into the next page), and find them gone once the
// child zeroes the buffer.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { scanProcessMemory } from './residue.ts';

const CHILD = `
const needle = Buffer.from(process.argv[1], 'hex');
const big = new Uint8Array(new ArrayBuffer(2 << 20));
for (let i = 0; i < 256; i++) big.set(needle, i * 4112);
needle.fill(0);
process.stdout.write('ready\\n');
process.stdin.on('data', () => { big.fill(0); process.stdout.write('zeroed\\n'); });
setInterval(() => {}, 1000);
`;

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

/** Resolves once the child has printed `want`. */
function printed(c: ChildProcess, want: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (!out.includes(want)) return;
      c.stdout!.off('data', onData);
      resolve();
    };
    c.stdout!.on('data', onData);
    c.once('exit', () => reject(new Error(`child exited before "${want}"`)));
  });
}

describe('scanProcessMemory', () => {
  it('finds every copy, including those across a page boundary, and none once they are zeroed', async () => {
    // The needle reaches the child as hex only, so its raw bytes exist only where the child puts them.
    const needle = new Uint8Array(randomBytes(32));
    const absent = new Uint8Array(randomBytes(32));
    child = spawn(process.execPath, ['-e', CHILD, Buffer.from(needle).toString('hex')], { stdio: ['pipe', 'pipe', 'inherit'] });
    await printed(child, 'ready');

    const before = await scanProcessMemory([child.pid!], [needle, absent]);
    expect(before.perNeedle[0]).toBeGreaterThanOrEqual(256);
    expect(before.perNeedle[1]).toBe(0);

    const zeroed = printed(child, 'zeroed');
    child.stdin!.write('\n');
    await zeroed;
    const after = await scanProcessMemory([child.pid!], [needle, absent]);
    // Exactly the 256 written copies went away: every one of them had been found.
    expect(before.perNeedle[0]! - after.perNeedle[0]!).toBe(256);
    child.kill('SIGKILL');
    await once(child, 'exit');
  });
});
