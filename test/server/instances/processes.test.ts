// The test helper that runs key-environment instances as child processes leaves nothing in the
// temporary directory: a bundle's directory is removed once no process runs it, and what its
// link points to (the repository's node_modules) is untouched.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundle, removeBundle, start } from './processes.ts';

const scratch = mkdtempSync(join(tmpdir(), 'tokumei-processes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('bundle() and removeBundle()', { timeout: 60_000 }, () => {
  it('removes the bundle once the processes running it have exited, killing the ones still running', async () => {
    const entry = join(scratch, 'entry.ts');
    writeFileSync(entry, "const port: number = 1;\nconsole.log(JSON.stringify({ port }));\nsetInterval(() => undefined, 1000);\n");
    const main = await bundle(entry);
    const instance = await start(main, {});
    // A process a test spawned itself, left running.
    const own = spawn(process.execPath, [main], { stdio: 'ignore' });
    const ownExit = new Promise<NodeJS.Signals | null>((resolve) => own.once('exit', (_code, signal) => resolve(signal)));
    const instanceExit = new Promise<NodeJS.Signals | null>((resolve) => instance.child.once('exit', (_code, signal) => resolve(signal)));
    // The control: until then the directory is there and both run.
    expect(existsSync(main)).toBe(true);
    expect(instance.child.exitCode).toBeNull();
    expect(own.exitCode).toBeNull();

    await removeBundle(main);
    expect(await instanceExit).toBe('SIGKILL');
    expect(await ownExit).toBe('SIGKILL');
    expect(existsSync(dirname(main))).toBe(false);
    expect(existsSync(new URL('../../../node_modules/esbuild/package.json', import.meta.url).pathname)).toBe(true);
    // Twice, or a path bundle() did not make: nothing happens.
    await removeBundle(main);
    await removeBundle(entry);
    expect(existsSync(entry)).toBe(true);
  });
});
