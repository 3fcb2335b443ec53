// The master key in an HSM beside the local one, in one run, on one core:
// 1. Unwraps per second: MasterKey.unwrap of a wrapped 32-byte member key, one at a time, and
//    four at a time (the PKCS#11 master key's pool of four sessions).
// 2. Deliveries per second: the key environment's whole deliverKeys (token check, unwrap of a
//    keyring of 2 keys, payload, HPKE X25519 Encap + Seal, session registration), one at a time.
// The local master key (AES-256-GCM in node:crypto) and pkcs11MasterKey on a SoftHSM2 token made
// for this run are measured in interleaved rounds (local, HSM, local, HSM, …) so that a busy
// machine slows both alike; medians and the HSM/local ratio are printed. The process is pinned
// to one CPU (taskset -c 0) when it can be, so the PKCS#11 threads share the core with the
// event loop instead of getting a second one for free.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKeyEnvironment, localMasterKey, memoryKeyStore, pkcs11MasterKey } from '../../dist/server.js';
import { fmt, median } from './stats.mjs';

const SOFTHSM2 = '/usr/lib/softhsm/libsofthsm2.so';
const ROUNDS = 7;
const here = fileURLToPath(import.meta.url);

function hasTaskset() {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

/** A SoftHSM2 token in a temporary folder; SOFTHSM2_CONF must be set before the module loads. */
function softHsmToken() {
  const dir = mkdtempSync(join(tmpdir(), 'tokumei-bench-softhsm-'));
  writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${dir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', 'bench-so-pin', '--pin', 'bench-pin'], { stdio: 'pipe' });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Operations per second of `op` over `n` calls made by `concurrency` callers at once. */
async function rate(op, n, concurrency) {
  let next = 0;
  const caller = async () => {
    while (next < n) {
      next++;
      await op();
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, caller));
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Interleaved rounds of each candidate; the median rate of each. */
async function interleaved(candidates) {
  const samples = Object.fromEntries(Object.keys(candidates).map((k) => [k, []]));
  for (let r = -1; r < ROUNDS; r++) {
    for (const [name, measure] of Object.entries(candidates)) {
      const ops = await measure();
      if (r >= 0) samples[name].push(ops); // round -1 warms up (JIT, sessions, threads)
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

async function unwrapper(master) {
  const context = new TextEncoder().encode('tokumei/v1/member-key-entry bench');
  const wrapped = await master.wrap(crypto.getRandomValues(new Uint8Array(32)), context);
  return async () => (await master.unwrap(wrapped, context)).fill(0);
}

/**
 * The same unwrap with pkcs11js called directly and synchronously on the main thread: the
 * token's own cost, without the library's threads (which a slow HSM would freeze the event loop
 * without). The wrapped value comes from the master key, so it is the same operation.
 */
async function rawUnwrapper(master) {
  const P = createRequire(import.meta.url)('pkcs11js');
  const p = new P.PKCS11();
  p.load(SOFTHSM2);
  try {
    p.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  } catch {
    // initialized already by the master key's threads: one module per process
  }
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trimEnd() === 'bench');
  const session = p.C_OpenSession(slot, P.CKF_SERIAL_SESSION);
  p.C_FindObjectsInit(session, [{ type: P.CKA_LABEL, value: 'bench' }]);
  const [key] = p.C_FindObjects(session, 1);
  p.C_FindObjectsFinal(session);
  const context = new TextEncoder().encode('tokumei/v1/member-key-entry bench');
  const wrapped = await master.wrap(crypto.getRandomValues(new Uint8Array(32)), context);
  const mechanism = { mechanism: P.CKM_AES_GCM, parameter: { type: P.CK_PARAMS_AES_GCM_v240, iv: Buffer.from(wrapped.subarray(1, 13)), ivBits: 96, aad: Buffer.from(context), tagBits: 128 } };
  const data = Buffer.from(wrapped.subarray(13));
  const out = Buffer.from(new ArrayBuffer(64));
  return {
    op: async () => {
      p.C_DecryptInit(session, mechanism, key);
      p.C_Decrypt(session, data, out);
      out.fill(0);
    },
    close: () => p.C_CloseSession(session),
  };
}

async function deliverer(masterKey) {
  const env = createKeyEnvironment({
    masterKey,
    store: memoryKeyStore(),
    authenticate: ({ token }) => (token.startsWith('tok~') ? { memberId: 'M000001', dependants: ['M000002'] } : null),
    dpop: { required: false },
  });
  await env.createMemberKey('M000001');
  await env.createMemberKey('M000002');
  const pair = await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
  const publicKey = Buffer.from(await crypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
  const body = { protocol: 'tokumei-key-delivery/1', kem: 'X25519', publicKey };
  // A fresh bearer token each time: a token opens one session only.
  let n = 0;
  return () => env.deliverKeys({ authorization: `Bearer tok~${++n}`, method: 'POST', url: 'https://keys.example/session', body });
}

async function measure(pinned) {
  if (!existsSync(SOFTHSM2)) {
    console.log(`master keys: skipped (SoftHSM2 is not installed: ${SOFTHSM2}; apt-get install softhsm2)`);
    return;
  }
  const token = softHsmToken();
  const local = localMasterKey(crypto.getRandomValues(new Uint8Array(32)));
  const hsm = await pkcs11MasterKey({ library: SOFTHSM2, tokenLabel: 'bench', pin: 'bench-pin', keyLabel: 'bench', create: true, sessions: 4 });
  try {
    const [uLocal, uHsm, raw] = [await unwrapper(local), await unwrapper(hsm), await rawUnwrapper(hsm)];
    const one = await interleaved({ local: () => rate(uLocal, 20_000, 1), hsm: () => rate(uHsm, 2_000, 1), raw: () => rate(raw.op, 5_000, 1) });
    raw.close();
    const four = await interleaved({ local: () => rate(uLocal, 20_000, 4), hsm: () => rate(uHsm, 2_000, 4) });
    const [dLocal, dHsm] = [await deliverer(local), await deliverer(hsm)];
    const deliveries = await interleaved({ local: () => rate(dLocal, 1_000, 1), hsm: () => rate(dHsm, 500, 1) });

    console.log(`master keys: SoftHSM2 (pkcs11MasterKey, 4 sessions) beside the local key, ${pinned ? 'one core (taskset -c 0)' : 'not pinned to one core (no taskset)'}, median of ${ROUNDS} interleaved rounds`);
    const row = (label, r) => console.log(`  ${label.padEnd(38)} local ${fmt(r.local, 0).padStart(8)}/s   SoftHSM2 ${fmt(r.hsm, 0).padStart(7)}/s   HSM/local ${fmt(r.hsm / r.local, 3)}`);
    row('unwraps, one at a time', one);
    console.log(`  ${''.padEnd(38)} (SoftHSM2 through pkcs11js on the main thread, no threads: ${fmt(one.raw, 0)}/s — what a call costs in the token itself)`);
    row('unwraps, four at a time', four);
    row('deliveries (X25519, 2 keys), one at a time', deliveries);
  } finally {
    await hsm.close();
    token.cleanup();
  }
}

export async function run() {
  // Pin a child process to CPU 0 (the PKCS#11 worker threads would otherwise run on another
  // core beside the event loop); measure here when that is not possible or already done.
  if (process.env.TOKUMEI_BENCH_PINNED === undefined && hasTaskset()) {
    const child = spawnSync('taskset', ['-c', '0', process.execPath, here], { stdio: 'inherit', env: { ...process.env, TOKUMEI_BENCH_PINNED: '1' } });
    if (child.status !== 0) throw new Error(`master-keys benchmark failed (exit ${child.status})`);
    return;
  }
  await measure(process.env.TOKUMEI_BENCH_PINNED !== undefined);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
