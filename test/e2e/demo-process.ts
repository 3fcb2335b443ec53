// Starts `npm run demo` (examples/portal/demo.mjs) as a child process, on ephemeral ports with a
// temp data folder, the test key log and the data environment's test request record, exactly
// as a user would run it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hkdfSync } from 'node:crypto';
import { SUBKEY_LABELS } from '../../src/keys/subkeys.ts';
import { generateMember, type SeedMember } from '../../examples/portal/seed/generate.ts';
import type { DemoConfig } from '../../examples/portal/seed/config.ts';
import { openDataEnvironmentStorage, type DataEnvironmentStorage } from '../../examples/portal/data-env/storage.ts';

const DEMO = new URL('../../examples/portal/demo.mjs', import.meta.url).pathname;

/** A running demo. */
export interface RunningDemo {
  url: string;
  dataDir: string;
  keylog: string;
  /** The SSO's issuer (its own origin, `http://localhost:<port>`). */
  issuer: string;
  /** The key environment's own address (administration is reachable only there). */
  keyEnvironmentUrl: string;
  /** Everything the demo printed so far. */
  output(): string;
  /** The seeded member number `n`, regenerated from the demo's seed. */
  member(n: number): SeedMember;
  /** Member keys delivered so far, from the key log: key id → 32 bytes. */
  deliveredKeys(): Map<string, Uint8Array>;
  /** Every request the data environment received so far (method, URL, headers, body). */
  dataEnvironmentRequests(): RecordedRequest[];
  /**
   * Reads the data environment's database as it is now (a copy of the embedded database the
   * running demo holds open, or its PostgreSQL server).
   */
  readDataEnvironment<T>(read: (storage: DataEnvironmentStorage) => Promise<T>): Promise<T>;
  /** The SSO's token events so far (names and refusal details; never a token). */
  ssoEvents(): SsoEvent[];
  /** Stops the demo with SIGINT (Ctrl-C); resolves with its exit code. */
  stop(): Promise<number | null>;
}

/** One request as the data environment received it. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  body: unknown;
}

/** One token event of the SSO's test log. */
export interface SsoEvent {
  at: number;
  event: string;
  grantType?: string;
  error?: string;
  detail?: string;
}

function jsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
}

/** Runs the demo to its `Portal:` line. */
export async function startDemo(options: { members?: number; env?: Record<string, string> } = {}): Promise<RunningDemo> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokumei-demo-'));
  const keylog = join(dataDir, 'keylog.txt');
  const record = join(dataDir, 'data-env-requests.jsonl');
  const ssoLog = join(dataDir, 'sso-events.jsonl');
  const child: ChildProcess = spawn(process.execPath, [DEMO], {
    env: { ...process.env, PORT: '0', TOKUMEI_DEMO_DATA: dataDir, TOKUMEI_DEMO_KEYLOG: keylog, TOKUMEI_DEMO_DATA_ENV_RECORD: record, TOKUMEI_DEMO_SSO_LOG: ssoLog, DEMO_MEMBERS: String(options.members ?? 1000), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /Portal: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
      if (m !== null) {
        clearInterval(timer);
        resolve(m[1]!);
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`the demo exited (${code}) before it printed its URL:\n${output}`));
    });
  });
  let config: DemoConfig | undefined;
  const demoConfig = (): DemoConfig => (config ??= JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoConfig);
  const address = (label: string): string => new RegExp(`${label}: +(http://[a-z0-9.]+:\\d+)/`).exec(output)![1]!;
  return {
    url,
    dataDir,
    keylog,
    issuer: address('SSO'),
    keyEnvironmentUrl: `${address('Key environment')}/`,
    output: () => output,
    member: (n) => generateMember(demoConfig().seed, n, demoConfig().seedYear),
    deliveredKeys() {
      const keys = new Map<string, Uint8Array>();
      if (!existsSync(keylog)) return keys;
      for (const line of readFileSync(keylog, 'utf8').split('\n')) {
        const m = /^MEMBER_KEY (\S+) ([0-9a-f]{64})$/.exec(line);
        if (m !== null) keys.set(m[1]!, new Uint8Array(Buffer.from(m[2]!, 'hex')));
      }
      return keys;
    },
    dataEnvironmentRequests: () => jsonLines<RecordedRequest>(record),
    async readDataEnvironment(read) {
      const storage = await openDataEnvironmentStorage(dataDir, { snapshot: true, url: options.env?.DATA_ENV_DATABASE_URL || undefined });
      try {
        return await read(storage);
      } finally {
        await storage.close();
        // PGlite ran in this thread and held the event loop for seconds: let the sockets' pending
        // events (a keep-alive connection the server closed meanwhile) be seen before the test's
        // next request would reuse that connection.
        await sleep(100);
      }
    },
    ssoEvents: () => jsonLines<SsoEvent>(ssoLog),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const code = await exited;
      rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** A member key and the subkeys derived from it (what a residue scan looks for). */
export function keyAndSubkeys(key: Uint8Array): Uint8Array[] {
  const sub = (label: string): Uint8Array => new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), label, 32));
  return [key, sub(SUBKEY_LABELS.field), sub(SUBKEY_LABELS.search)];
}
