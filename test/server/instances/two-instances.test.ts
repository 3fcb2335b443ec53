// Several instances, one truth: two key-environment processes on one PostgreSQL database behind
// a round-robin client. A logoff or revocation on either is refused by the other at once
// (status, resume); a restart of either signs nobody out; a token record written by one is seen
// by the other. Positive control: with sessions kept in each process's memory, the other
// instance does not see a logoff.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { openDatabase, type KeyEnvironmentDatabase } from '../../../src/server/database/open.ts';
import { freshPostgresDatabase } from '../database/postgres.ts';
import { bundle, removeBundle, start, type Instance } from './processes.ts';

const PROTOCOL = 'tokumei-key-delivery/1';
const masterHex = randomBytes(32).toString('hex');
const sharedHex = randomBytes(32).toString('hex');
let url: string;
let main: string;
let db: KeyEnvironmentDatabase;
const running: Instance[] = [];

async function post(instance: Instance, path: string, body: Record<string, unknown>, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${instance.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ protocol: PROTOCOL, ...body }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const publicKey = () => randomBytes(32).toString('base64url');
/** A fresh token (a token opens one session) of `memberId`, the instance's test token check reads it. */
const token = (memberId: string, tag = randomBytes(6).toString('hex')) => `m~${memberId}~${tag}`;
const deliver = (i: Instance, memberId: string, sessionId?: string) => post(i, '/session', { kem: 'X25519', publicKey: publicKey(), ...(sessionId === undefined ? {} : { sessionId }) }, token(memberId));
const status = async (i: Instance, sessionId: string) => (await post(i, '/session/status', { sessionId })).json.status;
const logoff = (i: Instance, sessionId: string) => post(i, '/session/logoff', { sessionId });

async function launch(env: Record<string, string> = {}): Promise<Instance> {
  const instance = await start(main, { TOKUMEI_DATABASE: url, TOKUMEI_MASTER_KEY_HEX: masterHex, TOKUMEI_SHARED_SECRET_HEX: sharedHex, ...env });
  running.push(instance);
  return instance;
}

beforeAll(async () => {
  [url, main] = await Promise.all([freshPostgresDatabase(), bundle(new URL('instance-main.ts', import.meta.url).pathname)]);
  db = await openDatabase({ url });
  const env = createKeyEnvironment({ masterKey: localMasterKey(new Uint8Array(Buffer.from(masterHex, 'hex'))), store: db.memberKeys, sessions: db.sessions, authenticate: () => null });
  for (let i = 0; i < 8; i++) await env.createMemberKey(`M${i}`);
}, 240_000);

afterAll(async () => {
  await Promise.all(running.map((i) => i.kill()));
  await removeBundle(main);
  await db?.close();
});

describe('two key-environment processes on one database', () => {
  it('round robin: a session opened on one resumes and answers on the other; a logoff on either is refused by both at once', async () => {
    const instances = [await launch(), await launch()];
    for (let i = 0; i < 8; i++) {
      const [x, y] = [instances[i % 2]!, instances[(i + 1) % 2]!];
      const opened = await deliver(x, `M${i}`);
      expect(opened.status).toBe(200);
      const sessionId = opened.json.sessionId as string;
      expect(await status(y, sessionId)).toBe('active');
      const resumed = await deliver(y, `M${i}`, sessionId);
      expect(resumed.status).toBe(200);
      expect(resumed.json.sessionId).toBe(sessionId);
      expect((await logoff(y, sessionId)).status).toBe(204);
      expect(await status(x, sessionId)).toBe('revoked');
      expect(await status(y, sessionId)).toBe('revoked');
      expect((await deliver(x, `M${i}`, sessionId)).status).toBe(410);
    }
    // Every delivery, from either instance, is in the one audit log.
    const log = await db.audit.read({ limit: 100 });
    expect(log.filter((e) => e.kind === 'delivered')).toHaveLength(8);
    expect(log.filter((e) => e.kind === 'resumed')).toHaveLength(8);
    expect(log.filter((e) => e.kind === 'revoked' && e.reason === 'logoff')).toHaveLength(8);
    await Promise.all(instances.map((i) => i.stop()));
  }, 300_000);

  it('a revocation by a third instance (the administrator\'s) is refused by both; a restart of either signs nobody out', async () => {
    let [a, b] = [await launch(), await launch()];
    const revokedSession = (await deliver(a, 'M1')).json.sessionId as string;
    const liveSession = (await deliver(b, 'M2')).json.sessionId as string;
    const admin = createKeyEnvironment({ masterKey: localMasterKey(new Uint8Array(Buffer.from(masterHex, 'hex'))), store: db.memberKeys, sessions: db.sessions, authenticate: () => null });
    expect(await admin.revokeMemberSessions('M1', 'admin')).toBe(1);
    for (const i of [a, b]) {
      expect(await status(i, revokedSession)).toBe('revoked');
      expect((await deliver(i, 'M1', revokedSession)).status).toBe(410);
    }
    // One instance killed outright, the other stopped: both started again, nobody is signed out.
    await a.kill();
    await b.stop();
    [a, b] = [await launch(), await launch()];
    for (const i of [a, b]) expect(await status(i, liveSession)).toBe('active');
    const again = await deliver(a, 'M2', liveSession);
    expect(again.status).toBe(200);
    expect(again.json.sessionId).toBe(liveSession);
    await Promise.all([a.stop(), b.stop()]);
  }, 300_000);

  it('a token record bound by one instance is the one every instance sees (first binding wins across processes)', async () => {
    const other = await openDatabase({ url });
    try {
      const token = `jti.${randomBytes(8).toString('hex')}`;
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : db).sessions.bindToken(token, `s1.${i}`, Date.now() + 60_000, Date.now())));
      expect(new Set(results).size).toBe(1);
      expect(await other.sessions.bindToken(token, 's1.late', Date.now() + 60_000, Date.now())).toBe(results[0]);
    } finally {
      await other.close();
    }
  }, 120_000);

  it('the per-member session cap and the per-token rate are counted once for both instances', async () => {
    const WINDOW = 24 * 60 * 60_000;
    const limits = JSON.stringify({ maxSessionsPerMember: 3, whenSessionLimit: 'refuse', tokenRate: { max: 20, windowMs: WINDOW } });
    const instances = [await launch({ TOKUMEI_LIMITS: limits }), await launch({ TOKUMEI_LIMITS: limits })];
    // Twelve sign-ins of one member at once, half on each instance, each with its own token.
    const opened = await Promise.all(Array.from({ length: 12 }, (_, i) => post(instances[i % 2]!, '/session', { kem: 'X25519', publicKey: publicKey() }, token('M4'))));
    expect(opened.map((r) => r.status).sort()).toEqual([...Array(3).fill(200), ...Array(9).fill(429)]);
    // One token, 25 deliveries (a sign-in, then resumes) alternating between the instances.
    const rateToken = token('M5');
    const startWindow = Math.floor(Date.now() / WINDOW);
    const first = await post(instances[0]!, '/session', { kem: 'X25519', publicKey: publicKey() }, rateToken);
    expect(first.status).toBe(200);
    const statuses = [first.status];
    for (let i = 1; i < 25; i++) statuses.push((await post(instances[i % 2]!, '/session', { kem: 'X25519', publicKey: publicKey(), sessionId: first.json.sessionId }, rateToken)).status);
    const windows = Math.floor(Date.now() / WINDOW) - startWindow + 1; // a day boundary may fall in between
    const ok = statuses.filter((s) => s === 200).length;
    if (windows === 1) expect(statuses).toEqual([...Array(20).fill(200), ...Array(5).fill(429)]);
    else expect(ok).toBeLessThanOrEqual(20 * windows);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    await Promise.all(instances.map((i) => i.stop()));
  }, 300_000);

  it("positive control: with sessions in each process's memory, the other instance does not see a logoff, and each counts its own cap", async () => {
    const limits = JSON.stringify({ maxSessionsPerMember: 3, whenSessionLimit: 'refuse' });
    const [a, b] = [await launch({ TOKUMEI_SESSIONS: 'memory', TOKUMEI_LIMITS: limits }), await launch({ TOKUMEI_SESSIONS: 'memory', TOKUMEI_LIMITS: limits })];
    const sessionId = (await deliver(a, 'M3')).json.sessionId as string;
    expect(await status(b, sessionId)).toBe('revoked'); // unknown there: the restart/second-instance failure
    expect((await logoff(b, sessionId)).status).toBe(204);
    expect(await status(a, sessionId)).toBe('active'); // the logoff on b never reached a
    const opened = await Promise.all(Array.from({ length: 12 }, (_, i) => post([a, b][i % 2]!, '/session', { kem: 'X25519', publicKey: publicKey() }, token('M6'))));
    expect(opened.filter((r) => r.status === 200)).toHaveLength(6); // three on each: the cap the database enforces once
    await Promise.all([a.stop(), b.stop()]);
  }, 300_000);
});
