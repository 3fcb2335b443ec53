// A resume is checked when it is read and again at the commit: a session revoked, logged off,
// revoked with its member, or expired while its member keys are unwrapped (after the read, before
// the commit) gets no keyring — ERR_REVOKED, "the session has ended", nothing audited as resumed.
// The race is made deterministic by ending the session from inside the master key's unwrap. On
// PGlite and a real PostgreSQL server, the positive control is the same race against the
// previous schema's commit_delivery (migration 2, no re-check): delivered. On the memory path
// (one call at a time) the control is a registry whose reads do not see the revocation. On
// PostgreSQL the session's row is locked until the commit: a revocation waits for it, or, under
// way first, is waited for and seen (control: migration 2 neither waits nor sees).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { databaseDeliveryAudit, type DeliveryAuditLog } from '../../../src/server/audit/delivery-audit.ts';
import { migrate, MIGRATIONS } from '../../../src/server/database/migrations.ts';
import { openPGlite, openPostgres, type Sql, type SqlDatabase } from '../../../src/server/database/sql.ts';
import { createKeyEnvironment, type KeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { databaseSessionRegistry } from '../../../src/server/sessions/database-registry.ts';
import { deliveryCommitterOf, type DeliveryOutcome } from '../../../src/server/sessions/delivery-commit.ts';
import { memorySessionRegistry } from '../../../src/server/sessions/memory-registry.ts';
import type { SessionRecord, SessionRegistry } from '../../../src/server/sessions/registry.ts';
import { databaseKeyStore } from '../../../src/server/stores/database-store.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';
import type { MemberKeyStore } from '../../../src/server/stores/member-key-store.ts';
import { codeOf } from '../../code-of.ts';
import { deliveryBody, URL_DELIVER } from '../auth/helpers.ts';
import { freshPostgresDatabase } from '../database/postgres.ts';

const bearer = (token: string, body: object) => ({ authorization: `Bearer ${token}`, method: 'POST', url: URL_DELIVER, body });
const LIFETIME = 3_600_000;
let serial = 0;
const member = () => `M-${process.pid}-${serial++}`;

/** How the session ends while its keys are unwrapped. */
const ENDINGS: [string, (env: KeyEnvironment, s: { sessionId: string; memberId: string; expiresAt: number }, clock: { now: number }) => Promise<unknown>][] = [
  ['revoked', (env, s) => env.revokeSession(s.sessionId, 'admin')],
  ['logged off', (env, s) => env.logoff(s.sessionId)],
  ["its member's sessions revoked", (env, s) => env.revokeMemberSessions(s.memberId, 'member-revoked')],
  ['expired', async (_env, s, clock) => void (clock.now = s.expiresAt)],
];

/**
 * A key environment whose master key runs `during()` (once) inside the next unwrap: after the
 * resume's read, before its commit. Its clock stands still unless a test moves it.
 */
function racingEnvironment(store: MemberKeyStore, sessions: SessionRegistry, audit: DeliveryAuditLog | undefined) {
  const master = localMasterKey(new Uint8Array(32).fill(7));
  const clock = { now: Date.now() };
  const race: { during?: () => Promise<unknown> } = {};
  const env: KeyEnvironment = createKeyEnvironment({
    masterKey: {
      id: master.id,
      wrap: (plaintext, context) => master.wrap(plaintext, context),
      async unwrap(wrapped, context) {
        const during = race.during;
        delete race.during;
        await during?.();
        return master.unwrap(wrapped, context);
      },
    },
    store,
    sessions,
    ...(audit === undefined ? {} : { audit }),
    authenticate: ({ token }) => ({ memberId: token.split('.')[1]! }),
    dpop: { required: false },
    sessionLifetimeMs: LIFETIME,
    now: () => clock.now,
  });
  /** Signs a new member in, then resumes while `ending` ends the session: the resume's result. */
  const resumeWhileEnding = async (ending: (typeof ENDINGS)[number][1]): Promise<{ code: string; memberId: string; sessionId: string }> => {
    const memberId = member();
    await env.createMemberKey(memberId);
    const s = await env.deliverKeys(bearer(`t.${memberId}.1`, await deliveryBody()));
    race.during = () => ending(env, s, clock);
    const code = await codeOf(env.deliverKeys(bearer(`t.${memberId}.1`, await deliveryBody(s.sessionId))));
    expect(race.during).toBeUndefined(); // the race ran
    return { code, memberId, sessionId: s.sessionId };
  };
  return { env, clock, resumeWhileEnding };
}

const OPENERS: [string, () => Promise<{ db: SqlDatabase; url?: string }>][] = [
  ['PGlite', async () => ({ db: await openPGlite(undefined) })],
  [
    'PostgreSQL',
    async () => {
      const url = await freshPostgresDatabase();
      return { db: await openPostgres(url, 10), url };
    },
  ],
];

for (const [name, open] of OPENERS) {
  describe(`a resume is checked again at the commit: ${name}`, () => {
    let db: SqlDatabase;
    let url: string | undefined;
    let audit: DeliveryAuditLog;
    beforeAll(async () => {
      ({ db, url } = await open());
      // The previous schema first (the controls), then this library's (see the last test).
      await migrate(db, MIGRATIONS.filter((m) => m.version <= 2));
      audit = databaseDeliveryAudit(db);
    }, 240_000);
    afterAll(() => db?.close());

    const kinds = async (memberId: string) => (await audit.read({ limit: 100_000 })).filter((e) => e.memberId === memberId).map((e) => e.kind);
    const racing = () => racingEnvironment(databaseKeyStore(db), databaseSessionRegistry(db, audit), audit);

    it('control: against the previous schema (migration 2) a session that ends during the unwrap still gets its keyring', async () => {
      const { resumeWhileEnding } = racing();
      for (const [, ending] of ENDINGS) {
        const { code, memberId } = await resumeWhileEnding(ending);
        expect(code).toBe('resolved');
        expect(await kinds(memberId)).toContain('resumed');
      }
    });

    if (name === 'PostgreSQL') {
      it('control: against the previous schema a resume neither locks the session nor sees a revocation under way', async () => {
        const r = await lockRace(db, url!, audit);
        expect(r).toEqual({ revokeDuringCommit: 'went through', outcomeAfterRevocation: 'committed' });
      });
    }

    it('with migration 3: a session revoked, logged off, revoked with its member or expired during the unwrap is refused (ERR_REVOKED) and not audited as resumed', async () => {
      await migrate(db);
      const { resumeWhileEnding } = racing();
      for (const [, ending] of ENDINGS) {
        const { code, memberId } = await resumeWhileEnding(ending);
        expect(code).toBe('ERR_REVOKED');
        expect(await kinds(memberId)).not.toContain('resumed');
      }
      // Nothing ends the session: the same resume goes through.
      const { code, memberId } = await resumeWhileEnding(async () => undefined);
      expect(code).toBe('resolved');
      expect(await kinds(memberId)).toEqual(['delivered', 'resumed']);
    });

    if (name === 'PostgreSQL') {
      it('with migration 3: a revocation waits for a resume that is committing, and a resume waits for a revocation under way and sees it', async () => {
        await migrate(db);
        const r = await lockRace(db, url!, audit);
        expect(r).toEqual({ revokeDuringCommit: 'waited', outcomeAfterRevocation: 'ended' });
      });
    }
  });
}

/**
 * On PostgreSQL: (1) a resume's commit is held open while another connection revokes its session
 * with a short lock timeout — does the revocation wait? (2) a revocation is held open while a
 * resume commits: once the revocation commits, what does the resume's commit answer?
 */
async function lockRace(db: SqlDatabase, url: string, audit: DeliveryAuditLog): Promise<{ revokeDuringCommit: string; outcomeAfterRevocation: DeliveryOutcome }> {
  const registry = databaseSessionRegistry(db, audit);
  const at = Date.now();
  const live = async (): Promise<SessionRecord> => {
    const s: SessionRecord = { sessionId: `s1.lock-${serial++}`, memberId: member(), createdAt: at, expiresAt: at + LIFETIME, primaryKeyId: 'k1' };
    await registry.add(s);
    return s;
  };
  /** The resume's one-transaction commit, run on `q`. */
  const commit = (q: Sql, s: SessionRecord) =>
    deliveryCommitterOf(databaseSessionRegistry({ engine: db.engine, query: q.query.bind(q), transaction: () => Promise.reject(new Error('unused')), close: async () => undefined }, audit))!.commit({
      at,
      rate: { key: `rate.${s.sessionId}`, windowMs: 60_000, max: 100 },
      token: { id: `tok.${s.sessionId}`, until: at + LIFETIME },
      session: { resumed: s },
    });
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  try {
    const revoke = (s: SessionRecord) => other.query('UPDATE tokumei.sessions SET revoked_at = $1, revoked_reason = $2 WHERE session_id = $3', [at, 'admin', s.sessionId]);
    // (1)
    const a = await live();
    await other.query("SET lock_timeout = '300ms'");
    let revokeDuringCommit = '';
    await db.transaction(async (tx) => {
      expect(await commit(tx, a)).toBe('committed');
      revokeDuringCommit = await revoke(a).then(
        () => 'went through',
        (err: { code?: string }) => (err.code === '55P03' ? 'waited' : `failed: ${err.code}`),
      );
    });
    await other.query('RESET lock_timeout');
    // (2)
    const b = await live();
    await other.query('BEGIN');
    await revoke(b);
    const outcome = commit(db, b);
    // The resume's statement is under way: waiting for the revocation's lock, or already answered.
    let settled = false;
    void outcome.finally(() => (settled = true));
    for (let i = 0; !settled; i++) {
      const { rows } = await other.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%commit_delivery%'");
      if (rows[0].n === 1) break;
      if (i > 600) throw new Error('the resume neither waited nor answered');
      await new Promise((r) => setTimeout(r, 50));
    }
    await other.query('COMMIT');
    return { revokeDuringCommit, outcomeAfterRevocation: await outcome };
  } finally {
    await other.end();
  }
}

describe('a resume is checked again before answering: one call at a time (memory registry)', () => {
  /** The memory registry, but `get` answers with what it answered first (a stale read). */
  function staleReads(): SessionRegistry {
    const r = memorySessionRegistry();
    const seen = new Map<string, SessionRecord | undefined>();
    return {
      add: (s, cap) => r.add(s, cap),
      async get(id) {
        if (!seen.has(id)) seen.set(id, await r.get(id));
        return seen.get(id);
      },
      revoke: (...a) => r.revoke(...a),
      revokeMember: (...a) => r.revokeMember(...a),
      extend: (...a) => r.extend(...a),
      bindToken: (...a) => r.bindToken(...a),
      useOnce: (...a) => r.useOnce(...a),
      setPrimaryKey: (...a) => r.setPrimaryKey(...a),
      memberSessions: (...a) => r.memberSessions(...a),
      countDelivery: (...a) => r.countDelivery(...a),
    };
  }

  it('a session that ends during the unwrap is refused (ERR_REVOKED); control: a registry whose reads miss the change delivers', async () => {
    for (const [label, ending] of ENDINGS) {
      const fixed = racingEnvironment(memoryKeyStore(), memorySessionRegistry(), undefined);
      expect([label, (await fixed.resumeWhileEnding(ending)).code]).toEqual([label, 'ERR_REVOKED']);
      if (label === 'expired') continue; // a stale read cannot hide the clock
      const control = racingEnvironment(memoryKeyStore(), staleReads(), undefined);
      expect([label, (await control.resumeWhileEnding(ending)).code]).toEqual([label, 'resolved']);
    }
    const untouched = racingEnvironment(memoryKeyStore(), memorySessionRegistry(), undefined);
    expect((await untouched.resumeWhileEnding(async () => undefined)).code).toBe('resolved');
  });
});
