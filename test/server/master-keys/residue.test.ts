// Residue of unwrapped member keys in the key environment's process, measured (not assumed):
// a key environment runs in a child process with the local master key or the PKCS#11 master
// key on SoftHSM2 (whose library runs inside that process too), unwraps a member's key 50 times
// through openKeyring, and this test reads the child's whole memory (/proc/PID/mem) for the key.
// Positive control: while one keyring is still open the scan finds the key; after every keyring
// is destroyed (and a garbage collection) it must find nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { scanProcessMemory } from '../../browser/residue.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import type { MasterKey } from '../../../src/server/master-keys/master-key.ts';
import { pkcs11MasterKey } from '../../../src/server/master-keys/pkcs11/pkcs11-master-key.ts';
import { unwrapEntry } from '../../../src/server/master-keys/wrap.ts';
import type { WrappedMemberKey } from '../../../src/server/stores/member-key-store.ts';
import { softHsm, USER_PIN } from './softhsm.ts';

const hsm = softHsm();
hsm.initToken('residue');
const dir = mkdtempSync(join(tmpdir(), 'tokumei-residue-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  hsm.cleanup();
});
const dist = new URL('../../../dist/server.js', import.meta.url).pathname;
const localKey = crypto.getRandomValues(new Uint8Array(32));

// The child: a key environment that answers "hold" (unwrap 50 times, keep the last keyring
// open) and "release" (destroy it, collect garbage). It never prints or stringifies a key.
const CHILD = `
import { createInterface } from 'node:readline';
import { createKeyEnvironment, localMasterKey, memoryKeyStore, pkcs11MasterKey } from ${JSON.stringify(dist)};
const [kind, arg] = process.argv.slice(2);
const master = kind === 'local'
  ? localMasterKey(new Uint8Array(Buffer.from(arg, 'base64')))
  : await pkcs11MasterKey({ library: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'residue', pin: ${JSON.stringify(USER_PIN)}, keyLabel: arg, create: true, sessions: 2 });
const store = memoryKeyStore();
const env = createKeyEnvironment({ masterKey: master, store, authenticate: () => null });
await env.createMemberKey('M000001');
const [entry] = await store.versions('M000001');
console.log(JSON.stringify({ entry }));
let held;
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'hold') {
    for (let i = 0; i < 50; i++) (await env.openKeyring('M000001')).destroy();
    held = await env.openKeyring('M000001');
  } else if (line === 'release') {
    held.destroy();
    held = undefined;
    for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
  } else break;
  console.log(JSON.stringify({ done: line }));
}
await master.close?.();
`;

async function measure(kind: 'local' | 'pkcs11', master: MasterKey, arg: string): Promise<{ holding: number; released: number }> {
  const script = join(dir, `child-${kind}.mjs`);
  writeFileSync(script, CHILD);
  const child = spawn(process.execPath, ['--expose-gc', script, kind, arg], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => JSON.parse(String((await lines.next()).value)) as Record<string, unknown>;
  try {
    const { entry } = (await next()) as { entry: WrappedMemberKey };
    const key = await unwrapEntry(master, entry); // the needle, in this process only
    try {
      child.stdin!.write('hold\n');
      await next();
      const holding = (await scanProcessMemory([child.pid!], [key])).hits;
      child.stdin!.write('release\n');
      await next();
      const released = (await scanProcessMemory([child.pid!], [key])).hits;
      return { holding, released };
    } finally {
      key.fill(0);
    }
  } finally {
    child.stdin!.end('exit\n');
    await new Promise((r) => child.once('exit', r));
  }
}

describe('residue of unwrapped member keys in the key environment process', () => {
  it('local master key: found while a keyring is open, nowhere once every keyring is destroyed', { timeout: 120_000 }, async () => {
    const result = await measure('local', localMasterKey(localKey), Buffer.from(localKey).toString('base64'));
    expect(result.holding).toBeGreaterThanOrEqual(1);
    expect(result.released).toBe(0);
  });

  it('PKCS#11 master key (SoftHSM2 inside the process): found while a keyring is open, nowhere once every keyring is destroyed', { timeout: 120_000 }, async () => {
    const master = await pkcs11MasterKey({ library: hsm.library, tokenLabel: 'residue', pin: USER_PIN, keyLabel: 'residue-key', create: true, sessions: 1 });
    try {
      const result = await measure('pkcs11', master, 'residue-key');
      expect(result.holding).toBeGreaterThanOrEqual(1);
      expect(result.released).toBe(0);
    } finally {
      await master.close();
    }
  });
});
