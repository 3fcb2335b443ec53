// The key environment under fault injection, as its own process (bundled by the fault tests).
// At start it reports what its database holds — every entry with the SHA-256 of its unwrapped
// key, the count, and which of the revoked sessions listed in TOKUMEI_FAULT_REVOKED are revoked —
// then runs four writers at once until it is killed: key creation, rotation (with a retire of
// the older version), rewrap to this run's master key, and session revocation. Each writer prints
// `begin <kind>` before an operation and an acknowledgement after it resolved (sessions to
// revoke are delivered by a fifth, unacknowledged writer).
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
const state = `state ${JSON.stringify({ count: await db.memberKeys.count(), entries, revokedChecked: revoked.length, notRevoked })}\n`;
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

let n = 0;
async function creator(): Promise<never> {
  for (;;) {
    const memberId = `M${cycle}.${n++}`;
    out('begin create');
    const v = await env.createMemberKey(memberId);
    out(`ack create ${memberId} ${v.keyId} ${v.version} ${await fingerprint(memberId, v.keyId)}`);
  }
}
async function rotator(): Promise<never> {
  for (let i = 0; ; i++) {
    const memberId = `R${i % 8}`;
    out('begin rotate');
    const v = await env.rotateMemberKey(memberId);
    out(`ack rotate ${memberId} ${v.keyId} ${v.version} ${await fingerprint(memberId, v.keyId)}`);
    const older = (await env.keyVersions(memberId)).filter((k) => k.state === 'active' && k.version < v.version);
    if (older.length > 2) {
      out('begin retire');
      await env.retireKeyVersion(memberId, older[0]!.keyId);
      out(`ack retire ${older[0]!.keyId}`);
    }
  }
}
async function rewrapper(): Promise<never> {
  for (;;) {
    out('begin rewrap');
    try {
      const r = await rewrapAll(db.memberKeys, { from: other, to: target, batchSize: 50 });
      out(`ack rewrap ${r.rewrapped}`);
    } catch (err) {
      // A key created meanwhile under the old master key cannot exist (new keys are under
      // `target`); anything else is a failure the parent must see.
      out(`fail rewrap ${(err as Error).message}`);
      throw err;
    }
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
out('ready');
if (process.env.TOKUMEI_FAULT_ONLY === 'create') {
  // The disk-full test: create keys until a write fails, say how it failed, and stay up.
  await creator().catch((err: unknown) => out(`refused create ${String((err as { code?: unknown }).code ?? '')} ${(err as Error).message.replace(/\n/g, ' ')}`));
  setInterval(() => undefined, 60_000);
} else {
  await Promise.all([creator(), rotator(), rewrapper(), revoker(), deliverer()]);
}
