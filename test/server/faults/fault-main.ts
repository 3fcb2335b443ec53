// The key environment under fault injection, as its own process (bundled by the fault tests).
// At start it reports what its database holds — every entry with the SHA-256 of its unwrapped
// key, the count, and which of the revoked sessions listed in TOKUMEI_FAULT_REVOKED are revoked —
// then runs its writers at once until it is killed: key creation, rotation, retire, rewrap to
// this run's master key, and session revocation. Each writer prints `begin <kind>` before an
// operation and an acknowledgement after it resolved (sessions to revoke are delivered by an
// unacknowledged writer); a writer that fails prints `fail <kind> …`, which fails the test.
//
// Retires run on members of their own (`T…`) that never have a session, so that no retire is
// refused for a session still sealing with the version; each restart sets them up with older
// versions to retire, and two rotators keep adding versions while one retirer retires them back
// to back, so that a retire is in flight at almost every moment.
//
// TOKUMEI_FAULT_CONTROL=1 (the positive control): after set-up it acknowledges a create and a
// retire it never does (a version of R0, whose versions nothing retires), then runs as always
// until it is killed; the next restart's check must see exactly those two.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { keyMaterial } from '../../../src/keys/member-key.ts';
import { unwrapEntry } from '../../../src/server/master-keys/wrap.ts';
import { createKeyEnvironment, localMasterKey, openDatabase, rewrapAll } from '../../../src/server.ts';

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const masters = (process.env.TOKUMEI_FAULT_MASTERS ?? '').split(',').map((hex) => localMasterKey(new Uint8Array(Buffer.from(hex, 'hex'))));
const cycle = Number(process.env.TOKUMEI_FAULT_CYCLE ?? '0');
const target = masters[cycle % 2]!;
const other = masters[(cycle + 1) % 2]!;
const where = process.env.TOKUMEI_DATABASE ?? '';
const started = performance.now();
const db = await openDatabase(where.startsWith('dir:') ? { dir: where.slice(4) } : { url: where });
const env = createKeyEnvironment({
  masterKey: target,
  previousMasterKeys: [other],
  store: db.memberKeys,
  sessions: db.sessions,
  // `R3~<n>`: a fresh token for each delivery (a token opens one session).
  authenticate: ({ token }) => ({ memberId: token.split('~')[0]! }),
  dpop: { required: false },
  // The revoker's member sessions pile up faster than it revokes them: no cap gets in the way.
  limits: { maxSessionsPerMember: 1_000_000 },
});

const opened = performance.now();

// What the database holds after the restart.
const entries: Record<string, unknown>[] = [];
for (let after: string | undefined; ; ) {
  const batch = await db.memberKeys.list(after === undefined ? { limit: 500 } : { after, limit: 500 });
  if (batch.length === 0) break;
  for (const e of batch) {
    let fp = 'torn';
    try {
      const key = await unwrapEntry(e.masterKeyId === target.id ? target : other, e);
      fp = createHash('sha256').update(key).digest('hex');
      key.fill(0);
    } catch {
      // stays 'torn'
    }
    entries.push({ memberId: e.memberId, keyId: e.keyId, version: e.version, state: e.state, fp });
  }
  after = batch[batch.length - 1]!.keyId;
}
const revokedPath = process.env.TOKUMEI_FAULT_REVOKED;
const revoked = revokedPath ? readFileSync(revokedPath, 'utf8').split('\n').filter(Boolean) : [];
let notRevoked = 0;
for (const id of revoked) if ((await env.sessionStatus(id)) !== 'revoked') notRevoked++;
// Megabytes for a full store: written to the end before anything may exit (process.exit drops
// what a pipe has not taken yet).
const count = await db.memberKeys.count();
// Where a restart's time goes (ms): opening the database, reading and checking what it holds.
const ms = { open: Math.round(opened - started), check: Math.round(performance.now() - opened) };
const state = `state ${JSON.stringify({ count, entries, revokedChecked: revoked.length, notRevoked, ms })}\n`;
await new Promise<void>((resolve, reject) => process.stdout.write(state, (err) => (err ? reject(err) : resolve())));
if (process.env.TOKUMEI_FAULT_VERIFY_ONLY === '1') {
  await db.close();
  process.exit(0);
}

const fingerprint = async (memberId: string, keyId: string): Promise<string> => {
  const ring = await env.openKeyring(memberId);
  try {
    return createHash('sha256').update(keyMaterial(ring.get(keyId), 'raw')).digest('hex');
  } finally {
    ring.destroy();
  }
};

/** Runs a writer; a failure is printed for the parent (`fail <kind> <message>`) and ends the process. */
const writer = (kind: string, loop: () => Promise<never>): Promise<never> =>
  loop().catch((err: unknown) => {
    out(`fail ${kind} ${String((err as { code?: unknown }).code ?? '')} ${String((err as Error).message).replace(/\n/g, ' ')}`);
    process.exit(1);
  });

let n = 0;
async function creator(): Promise<never> {
  for (;;) {
    const memberId = `M${cycle}.${n++}`;
    out('begin create');
    const v = await env.createMemberKey(memberId);
    out(`ack create ${memberId} ${v.keyId} ${v.version} ${await fingerprint(memberId, v.keyId)}`);
  }
}
// Rotation of the members that also get sessions, up to MAX_VERSIONS versions each (a keyring
// holds at most 255 keys); after that, of members without sessions.
const MAX_VERSIONS = 100;
const versionOf = new Map<string, number>();
async function rotator(): Promise<never> {
  for (let i = 0; ; i++) {
    const withSessions = `R${i % 8}`;
    const memberId = (versionOf.get(withSessions) ?? 0) < MAX_VERSIONS ? withSessions : `R${cycle}.${i % 8}`;
    out('begin rotate');
    const v = await env.rotateMemberKey(memberId);
    versionOf.set(memberId, v.version);
    out(`ack rotate ${memberId} ${v.keyId} ${v.version} ${await fingerprint(memberId, v.keyId)}`);
  }
}

// The retire members: each keeps its newest version plus up to RETIRE_SUPPLY older active ones.
const RETIRE_MEMBERS = ['T0', 'T1', 'T2', 'T3'];
const RETIRE_SUPPLY = 4;
const newest = new Map<string, string>();
const toRetire: { memberId: string; keyId: string }[] = [];
// Who waits for a version to retire (the retirer) or for room in the supply (the rotators).
const supplied: (() => void)[] = [];
const consumed: (() => void)[] = [];
const waitOn = (waiters: (() => void)[]): Promise<void> => new Promise((resolve) => waiters.push(resolve));
const wakeAll = (waiters: (() => void)[]): void => {
  for (const wake of waiters.splice(0)) wake();
};
async function rotateRetireMember(memberId: string): Promise<void> {
  out('begin rotate');
  const v = await env.rotateMemberKey(memberId);
  out(`ack rotate ${memberId} ${v.keyId} ${v.version} ${await fingerprint(memberId, v.keyId)}`);
  toRetire.push({ memberId, keyId: newest.get(memberId)! });
  newest.set(memberId, v.keyId);
}
async function retireRotator(members: string[]): Promise<never> {
  for (let i = 0; ; i++) {
    while (toRetire.length >= RETIRE_MEMBERS.length * RETIRE_SUPPLY) await waitOn(consumed);
    await rotateRetireMember(members[i % members.length]!);
    wakeAll(supplied);
  }
}
async function retirer(): Promise<never> {
  for (;;) {
    const next = toRetire.shift();
    if (next === undefined) {
      await waitOn(supplied);
      continue;
    }
    out(`begin retire ${next.keyId}`);
    await env.retireKeyVersion(next.memberId, next.keyId);
    out(`ack retire ${next.keyId}`);
    wakeAll(consumed);
  }
}
async function rewrapper(): Promise<never> {
  for (;;) {
    out('begin rewrap');
    // A key created meanwhile under the old master key cannot exist (new keys are under
    // `target`): any failure is one the parent must see.
    const r = await rewrapAll(db.memberKeys, { from: other, to: target, batchSize: 50 });
    out(`ack rewrap ${r.rewrapped}`);
  }
}
const pool: string[] = [];
let tokens = 0;
const deliver = async (memberId: string): Promise<string> =>
  (await env.deliverKeys({ authorization: `Bearer ${memberId}~${process.pid}.${++tokens}`, method: 'POST', url: 'https://keys.example/session', body: { protocol: 'tokumei-key-delivery/1', kem: 'X25519', publicKey: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url') } })).sessionId;
async function deliverer(): Promise<never> {
  for (;;) pool.push(await deliver(`R${n % 8}`));
}
async function revoker(): Promise<never> {
  for (;;) {
    const sessionId = pool.shift();
    out('begin revoke');
    if (sessionId === undefined) {
      await env.revokeMemberSessions(`R${n % 8}`, 'fault test');
      out('ack revoke-member');
    } else {
      await env.revokeSession(sessionId, 'fault test');
      out(`ack revoke ${sessionId}`);
    }
  }
}
for (let i = 0; i < 8; i++) await env.createMemberKey(`R${i}`); // the rotator's members
for (let i = 0; i < 16; i++) pool.push(await deliver(`R${i % 8}`)); // sessions to revoke
if (process.env.TOKUMEI_FAULT_ONLY !== 'create') {
  // The retirer's supply: every older active version left from earlier runs, topped up.
  for (const memberId of RETIRE_MEMBERS) {
    const active = (await env.keyVersions(memberId)).filter((k) => k.state === 'active');
    if (active.length === 0) {
      out('begin create');
      const v = await env.createMemberKey(memberId);
      out(`ack create ${memberId} ${v.keyId} ${v.version} ${await fingerprint(memberId, v.keyId)}`);
      active.push(v);
    }
    newest.set(memberId, active.pop()!.keyId);
    for (const k of active) toRetire.push({ memberId, keyId: k.keyId });
    for (let i = active.length; i < RETIRE_SUPPLY; i++) await rotateRetireMember(memberId);
  }
}
out('ready');
if (process.env.TOKUMEI_FAULT_CONTROL === '1') {
  // Acknowledgements the database does not back: a key never created, a retire never done.
  const never = (await env.keyVersions('R0'))[0]!.keyId;
  out('begin create');
  out(`ack create C${cycle} k1.control${cycle} 1 ${'0'.repeat(64)}`);
  out(`begin retire ${never}`);
  out(`ack retire ${never}`);
}
if (process.env.TOKUMEI_FAULT_ONLY === 'create') {
  // The disk-full test: create keys until a write fails, say how it failed, and stay up.
  await creator().catch((err: unknown) => out(`refused create ${String((err as { code?: unknown }).code ?? '')} ${(err as Error).message.replace(/\n/g, ' ')}`));
  setInterval(() => undefined, 60_000);
} else {
  await Promise.all([
    writer('create', creator),
    writer('rotate', rotator),
    writer('rotate', () => retireRotator(RETIRE_MEMBERS.slice(0, 2))),
    writer('rotate', () => retireRotator(RETIRE_MEMBERS.slice(2))),
    writer('retire', retirer),
    writer('rewrap', rewrapper),
    writer('revoke', revoker),
    writer('deliver', deliverer),
  ]);
}
