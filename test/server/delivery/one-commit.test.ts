// A key delivery on the database is one transaction: the token's count, the DPoP proof's id, the
// token record, the session under the member's cap and the audit row commit together, in one
// statement, on PGlite and on a real PostgreSQL server. Counted on the statements the key
// environment sends (the control: a registry the key environment cannot commit through in one
// transaction sends four commits), and attacked: concurrent deliveries past the cap and the token
// rate, a used token, a replayed proof — each counted once, each audited only when delivered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseDeliveryAudit, type DeliveryAuditLog } from '../../../src/server/audit/delivery-audit.ts';
import type { Sql, SqlDatabase, SqlResult } from '../../../src/server/database/sql.ts';
import { createKeyEnvironment, type KeyEnvironment, type KeyEnvironmentOptions } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { databaseParts } from '../../../src/server/database/open.ts';
import { databaseSessionRegistry } from '../../../src/server/sessions/database-registry.ts';
import type { SessionRegistry } from '../../../src/server/sessions/registry.ts';
import { databaseKeyStore } from '../../../src/server/stores/database-store.ts';
import { boundToken, deliveryBody, dpopKey, dpopKeyEnvironment, proof, reasonOf, testIssuer, URL_DELIVER } from '../auth/helpers.ts';
import { codeOf } from '../../code-of.ts';
import { ENGINES } from '../database/engines.ts';

/** What the key environment sent: round trips, and commits (a write outside a transaction, or a transaction). */
interface Counts {
  roundTrips: number;
  commits: number;
}

/** `db`, counting: a plain SELECT only reads; everything else outside a transaction commits a write. */
function counting(db: SqlDatabase): { db: SqlDatabase; counts: Counts } {
  const counts: Counts = { roundTrips: 0, commits: 0 };
  const writes = (text: string): boolean => !/^\s*SELECT\b/i.test(text) || /commit_delivery/.test(text);
  const query = <R,>(q: Sql, text: string, params?: readonly unknown[]): Promise<SqlResult<R>> => {
    counts.roundTrips++;
    return q.query<R>(text, params);
  };
  return {
    counts,
    db: {
      engine: db.engine,
      query<R>(text: string, params?: readonly unknown[]) {
        if (writes(text)) counts.commits++;
        return query<R>(db, text, params);
      },
      transaction<T>(fn: (tx: Sql) => Promise<T>) {
        counts.roundTrips += 2; // BEGIN, COMMIT
        counts.commits++;
        return db.transaction((tx) => fn({ query: <R,>(text: string, params?: readonly unknown[]) => query<R>(tx, text, params) }));
      },
      close: () => db.close(),
    },
  };
}

const bearer = (token: string, body: object) => ({ authorization: `Bearer ${token}`, method: 'POST', url: URL_DELIVER, body });
let serial = 0;
const member = () => `M-${process.pid}-${serial++}`;

for (const [name, open] of ENGINES) {
  describe(`one commit per delivery: ${name}`, () => {
    let raw: SqlDatabase;
    let db: SqlDatabase;
    let counts: Counts;
    let audit: DeliveryAuditLog;
    beforeAll(async () => {
      raw = await open();
      ({ db, counts } = counting(raw));
      audit = databaseDeliveryAudit(db);
    }, 240_000);
    afterAll(() => raw?.close());

    /** A key environment on the database (bearer tokens `t.<member>.<anything>`). */
    function keyEnvironment(sessions: SessionRegistry, options: Partial<KeyEnvironmentOptions> = {}): KeyEnvironment {
      return createKeyEnvironment({
        masterKey: localMasterKey(new Uint8Array(32).fill(9)),
        store: databaseKeyStore(db),
        sessions,
        audit,
        authenticate: ({ token }) => ({ memberId: token.split('.')[1]! }),
        dpop: { required: false },
        ...options,
      });
    }
    const delivered = async (memberId: string) => (await audit.read({ limit: 10_000 })).filter((e) => e.memberId === memberId);
    const measure = async (fn: () => Promise<unknown>): Promise<Counts> => {
      const before = { ...counts };
      await fn();
      return { roundTrips: counts.roundTrips - before.roundTrips, commits: counts.commits - before.commits };
    };

    it("a delivery is one commit in two round trips (the token's count and the member's keys read in one), a resume one commit in three; controls: a store the registry does not share, three and four; a registry that cannot commit in one transaction, four commits", async () => {
      const parts = databaseParts(db);
      const env = keyEnvironment(parts.sessions, { store: parts.memberKeys, audit: parts.audit });
      const m = member();
      const { keyId } = await env.createMemberKey(m);
      let sessionId = '';
      expect(await measure(async () => ({ sessionId } = await env.deliverKeys(bearer(`t.${m}.1`, await deliveryBody()))))).toEqual({ roundTrips: 2, commits: 1 });
      expect(await measure(async () => env.deliverKeys(bearer(`t.${m}.1`, await deliveryBody(sessionId))))).toEqual({ roundTrips: 3, commits: 1 });
      expect((await delivered(m)).map((e) => [e.kind, e.sessionId, e.keyIds])).toEqual([
        ['delivered', sessionId, [keyId]],
        ['resumed', sessionId, [keyId]],
      ]);
      // A member without a key: the one read finds none (ERR_KEY_UNAVAILABLE), nothing written.
      const keyless = member();
      expect(await measure(async () => expect(await codeOf(env.deliverKeys(bearer(`t.${keyless}.1`, await deliveryBody())))).toBe('ERR_KEY_UNAVAILABLE'))).toEqual({ roundTrips: 1, commits: 0 });
      // A registry that does not know the store (another database, as far as it can tell): the
      // count and the keys are read one after the other.
      const apart = keyEnvironment(databaseSessionRegistry(db, audit));
      const a = member();
      await apart.createMemberKey(a);
      let apartSession = '';
      expect(await measure(async () => ({ sessionId: apartSession } = await apart.deliverKeys(bearer(`t.${a}.1`, await deliveryBody()))))).toEqual({ roundTrips: 3, commits: 1 });
      expect(await measure(async () => apart.deliverKeys(bearer(`t.${a}.1`, await deliveryBody(apartSession))))).toEqual({ roundTrips: 4, commits: 1 });
      // The same registry's methods, but not the registry itself: every write is a call of its own.
      const control = keyEnvironment({ ...databaseSessionRegistry(db, audit) });
      const c = member();
      await control.createMemberKey(c);
      expect(await measure(async () => control.deliverKeys(bearer(`t.${c}.1`, await deliveryBody())))).toEqual({ roundTrips: 9, commits: 4 });
      expect((await delivered(c)).map((e) => e.kind)).toEqual(['delivered']);
    });

    it('with DPoP the proof id commits in the same transaction; a replayed proof, a used token: refused, nothing delivered or audited', async () => {
      const issuer = await testIssuer();
      const m = member();
      const env = await dpopKeyEnvironment(issuer, { store: databaseKeyStore(db), sessions: databaseSessionRegistry(db, audit), audit });
      await env.createMemberKey(m);
      const key = await dpopKey();
      const token = await boundToken(issuer, key, { sub: m });
      const request = async (t: string, sessionId?: string) => ({ authorization: `DPoP ${t}`, dpop: await proof(key, { accessToken: t, nonce: env.dpopNonce()! }), method: 'POST', url: URL_DELIVER, body: await deliveryBody(sessionId) });
      const first = await request(token);
      let sessionId = '';
      expect(await measure(async () => ({ sessionId } = await env.deliverKeys(first)))).toEqual({ roundTrips: 3, commits: 1 });
      expect(await reasonOf(env.deliverKeys({ ...first, body: await deliveryBody() }))).toMatch(/ERR_AUTH: .*replayed/);
      expect(await reasonOf(env.deliverKeys(await request(token)))).toMatch(/ERR_AUTH: .*already opened another session/);
      expect(await codeOf(env.deliverKeys(await request(token, sessionId)))).toBe('resolved');
      expect((await delivered(m)).map((e) => e.kind)).toEqual(['delivered', 'resumed']);
    });

    it("concurrent deliveries past the member's cap ('refuse'): exactly the cap delivered and audited, the rest ERR_RATE_LIMITED", async () => {
      const sessions = databaseSessionRegistry(db, audit);
      const env = keyEnvironment(sessions, { limits: { maxSessionsPerMember: 3, whenSessionLimit: 'refuse' } });
      const m = member();
      await env.createMemberKey(m);
      const codes = await Promise.all(Array.from({ length: 12 }, async (_, i) => codeOf(env.deliverKeys(bearer(`t.${m}.${i}`, await deliveryBody())))));
      expect(codes.sort()).toEqual([...Array(9).fill('ERR_RATE_LIMITED'), ...Array(3).fill('resolved')]);
      expect((await sessions.memberSessions(m, Date.now())).length).toBe(3);
      expect((await delivered(m)).map((e) => e.kind)).toEqual(['delivered', 'delivered', 'delivered']);
    });

    it("past the cap ('revoke-oldest') the oldest sessions are revoked and audited in the delivery's transaction", async () => {
      const sessions = databaseSessionRegistry(db, audit);
      const env = keyEnvironment(sessions, { limits: { maxSessionsPerMember: 2 } });
      const m = member();
      await env.createMemberKey(m);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await env.deliverKeys(bearer(`t.${m}.${i}`, await deliveryBody()))).sessionId);
      const live = (await sessions.memberSessions(m, Date.now())).filter((s) => s.revoked === undefined);
      expect(live.map((s) => s.sessionId).sort()).toEqual(ids.slice(2).sort());
      expect((await sessions.get(ids[0]!))!.revoked!.reason).toBe('session-limit');
      const log = await delivered(m);
      expect(log.filter((e) => e.kind === 'revoked').map((e) => [e.sessionId, e.reason])).toEqual([
        [ids[0], 'session-limit'],
        [ids[1], 'session-limit'],
      ]);
      expect(log.filter((e) => e.kind === 'delivered').map((e) => e.sessionId)).toEqual(ids);
    });

    it('concurrent resumes with one token past its rate: exactly the rate delivered, the rest ERR_RATE_LIMITED; control: under the rate all go through', async () => {
      for (const [max, ok] of [
        [4, 3],
        [100, 6],
      ] as const) {
        // As openDatabase wires it: the rate is read with the member's keys.
        const parts = databaseParts(db);
        const env = keyEnvironment(parts.sessions, { store: parts.memberKeys, audit: parts.audit, limits: { tokenRate: { max, windowMs: 3_600_000 } } });
        const m = member();
        await env.createMemberKey(m);
        const { sessionId } = await env.deliverKeys(bearer(`t.${m}.1`, await deliveryBody()));
        const codes = await Promise.all(Array.from({ length: 6 }, async () => codeOf(env.deliverKeys(bearer(`t.${m}.1`, await deliveryBody(sessionId))))));
        expect(codes.filter((c) => c === 'resolved').length).toBe(ok);
        expect(codes.filter((c) => c !== 'resolved').every((c) => c === 'ERR_RATE_LIMITED')).toBe(true);
        expect((await delivered(m)).filter((e) => e.kind === 'resumed').length).toBe(ok);
        // Over the rate, a further request is refused before any key is unwrapped: one read, no commit.
        if (ok < 6) expect(await measure(async () => expect(await codeOf(env.deliverKeys(bearer(`t.${m}.1`, await deliveryBody(sessionId))))).toBe('ERR_RATE_LIMITED'))).toEqual({ roundTrips: 1, commits: 0 });
      }
    });

    it('a public key that is not a valid point is refused before any member key is unwrapped (such a request never reaches the commit that counts it); control: a valid one unwraps', async () => {
      let unwraps = 0;
      const master = localMasterKey(new Uint8Array(32).fill(9));
      const masterKey = {
        id: master.id,
        wrap: (plaintext: Uint8Array, context: Uint8Array) => master.wrap(plaintext, context),
        unwrap: (wrapped: Uint8Array, context: Uint8Array) => (unwraps++, master.unwrap(wrapped, context)),
      };
      const env = keyEnvironment(databaseSessionRegistry(db, audit), { masterKey, limits: { tokenRate: { max: 2, windowMs: 3_600_000 } } });
      const m = member();
      await env.createMemberKey(m);
      const bad = { ...(await deliveryBody()), publicKey: Buffer.alloc(65, 4).toString('base64url') }; // 0x04 ‖ not a point
      const codes = await Promise.all(Array.from({ length: 10 }, () => codeOf(env.deliverKeys(bearer(`t.${m}.1`, bad)))));
      expect(codes).toEqual(Array(10).fill('ERR_FORMAT'));
      expect(unwraps).toBe(0);
      await env.deliverKeys(bearer(`t.${m}.1`, await deliveryBody()));
      expect(unwraps).toBeGreaterThan(0);
    });

    it('a token rate above the database counter\'s 32-bit range (e.g. MAX_SAFE_INTEGER for "no limit") delivers', async () => {
      const env = keyEnvironment(databaseSessionRegistry(db, audit), { limits: { tokenRate: { max: Number.MAX_SAFE_INTEGER, windowMs: 3_600_000 } } });
      const m = member();
      await env.createMemberKey(m);
      await env.deliverKeys(bearer(`t.${m}.1`, await deliveryBody()));
      expect((await delivered(m)).length).toBe(1);
    });
  });
}
