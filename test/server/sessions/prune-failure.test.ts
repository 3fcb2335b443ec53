// Deleting expired rows runs after a delivery has committed, every 64 sessions added: when it
// fails, the delivery that committed still answers (the browser has its keyring, its session
// resumes — a client retrying a delivery reported as failed would get "the token has already
// opened another session"), the registry's `onError` is told, the other tables are still pruned,
// and the next prune tries again. Only sessions that were committed count towards the next
// prune: refused deliveries and refused inserts do not. The failure is the database's own (a
// trigger refusing DELETE on tokumei.sessions), on PGlite and a real PostgreSQL server; each
// prune's failure is one `onError` call, which is how the prunes are counted here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseDeliveryAudit, type DeliveryAuditLog } from '../../../src/server/audit/delivery-audit.ts';
import { TokumeiError } from '../../../src/errors.ts';
import { openDatabase } from '../../../src/server/database/open.ts';
import { migrate } from '../../../src/server/database/migrations.ts';
import { openPGlite, openPostgres, type SqlDatabase } from '../../../src/server/database/sql.ts';
import { createKeyEnvironment, type KeyEnvironment, type KeyEnvironmentOptions } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { databaseSessionRegistry } from '../../../src/server/sessions/database-registry.ts';
import type { SessionRegistry } from '../../../src/server/sessions/registry.ts';
import { databaseKeyStore } from '../../../src/server/stores/database-store.ts';
import { codeOf } from '../../code-of.ts';
import { deliveryBody, URL_DELIVER } from '../auth/helpers.ts';
import { freshPostgresDatabase } from '../database/postgres.ts';
import { session } from './registry-contract.ts';

const bearer = (token: string, body: object) => ({ authorization: `Bearer ${token}`, method: 'POST', url: URL_DELIVER, body });
const HOUR = 3_600_000;
let serial = 0;
const member = () => `M-${process.pid}-${serial++}`;
const liveSession = (memberId = member()) => session({ memberId, createdAt: Date.now(), expiresAt: Date.now() + HOUR });

/** Makes every DELETE on tokumei.sessions fail, as a missing privilege or a lock timeout would. */
async function refuseSessionDeletes(db: SqlDatabase): Promise<void> {
  await db.query(`CREATE FUNCTION public.refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'deletes refused by the test'; END $$`);
  await db.query('CREATE TRIGGER refuse_delete BEFORE DELETE ON tokumei.sessions FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete()');
}

const OPENERS: [string, () => Promise<SqlDatabase>][] = [
  ['PGlite', () => openPGlite(undefined)],
  ['PostgreSQL', async () => openPostgres(await freshPostgresDatabase(), 4)],
];

for (const [name, open] of OPENERS) {
  describe(`a failed prune fails no delivery: ${name}`, () => {
    let db: SqlDatabase;
    let audit: DeliveryAuditLog;
    beforeAll(async () => {
      db = await open();
      await migrate(db);
      await refuseSessionDeletes(db);
      audit = databaseDeliveryAudit(db);
    }, 240_000);
    afterAll(() => db?.close());

    function keyEnvironment(sessions: SessionRegistry, options: Partial<KeyEnvironmentOptions> = {}): KeyEnvironment {
      return createKeyEnvironment({
        masterKey: localMasterKey(new Uint8Array(32).fill(5)),
        store: databaseKeyStore(db),
        sessions,
        audit,
        authenticate: ({ token }) => ({ memberId: token.split('.')[1]! }),
        dpop: { required: false },
        ...options,
      });
    }

    it('the delivery that meets a failing prune answers and resumes; onError is told; the other tables are pruned; the next prune tries again', async () => {
      const errors: unknown[] = [];
      const registry = databaseSessionRegistry(db, audit, (e) => errors.push(e));
      const env = keyEnvironment(registry);
      const m = member();
      await env.createMemberKey(m);
      const past = Date.now() - HOUR;
      await registry.bindToken(`tok.expired.${m}`, 's1.gone', past, past - 1);
      await registry.useOnce(`once.expired.${m}`, past, past - 1);
      for (let i = 0; i < 63; i++) await registry.add(liveSession());
      expect(errors).toEqual([]);
      // The 64th session is this delivery's: it commits, then the prune fails.
      const token = `t.${m}.1`;
      const { sessionId } = await env.deliverKeys(bearer(token, await deliveryBody()));
      expect(errors.length).toBe(1);
      const error = errors[0] as TokumeiError;
      expect(error).toBeInstanceOf(TokumeiError);
      expect(error.code).toBe('ERR_STORAGE_UNAVAILABLE');
      expect(error.message).toMatch(/tokumei\.sessions/);
      expect(String((error.cause as Error).message)).toMatch(/deletes refused by the test/);
      expect(`${error.message} ${String((error.cause as Error).message)}`).not.toMatch(new RegExp(`${token}|${sessionId}`));
      // Delivered, recorded, and the session resumes with its token.
      expect((await audit.read({ limit: 100_000 })).filter((e) => e.memberId === m).map((e) => e.kind)).toEqual(['delivered']);
      expect(await codeOf(env.deliverKeys(bearer(token, await deliveryBody(sessionId))))).toBe('resolved');
      // The tables after the failing one were pruned all the same.
      const left = async (table: string, key: string, id: string) => (await db.query(`SELECT 1 FROM tokumei.${table} WHERE ${key} = $1`, [id])).rows.length;
      expect([await left('token_records', 'token_id', `tok.expired.${m}`), await left('once_ids', 'id', `once.expired.${m}`)]).toEqual([0, 0]);
      // An insert that meets the next prune resolves too, and the prune was tried again.
      for (let i = 0; i < 63; i++) await registry.add(liveSession());
      expect(errors.length).toBe(1);
      expect(await registry.add(liveSession())).toBe(true);
      expect(errors.length).toBe(2);
    });

    it('an onError that throws fails nothing either', async () => {
      const registry = databaseSessionRegistry(db, audit, () => {
        throw new Error('a broken logger');
      });
      const results: boolean[] = [];
      for (let i = 0; i < 64; i++) results.push(await registry.add(liveSession()));
      expect(results.every((r) => r)).toBe(true);
    });

    it('only committed sessions count towards the next prune: refused deliveries and refused inserts do not', async () => {
      const prunes: unknown[] = [];
      const registry = databaseSessionRegistry(db, audit, (e) => prunes.push(e));
      const env = keyEnvironment(registry, { limits: { maxSessionsPerMember: 1, whenSessionLimit: 'refuse' } });
      const m = member();
      await env.createMemberKey(m);
      await env.deliverKeys(bearer(`t.${m}.0`, await deliveryBody())); // 1
      for (let i = 0; i < 61; i++) await registry.add(liveSession()); // 62
      // Refused: the member's cap (through a delivery, and an insert), a token already used.
      for (let i = 1; i <= 8; i++) expect(await codeOf(env.deliverKeys(bearer(`t.${m}.${i}`, await deliveryBody())))).toBe('ERR_RATE_LIMITED');
      for (let i = 0; i < 8; i++) expect(await registry.add(liveSession(m), { maxLive: 1, whenFull: 'refuse' })).toBe(false);
      const other = member();
      await env.createMemberKey(other);
      await env.deliverKeys(bearer(`t.${other}.0`, await deliveryBody())); // 63
      expect(await codeOf(env.deliverKeys(bearer(`t.${other}.0`, await deliveryBody())))).toBe('ERR_AUTH'); // the token opened a session already
      expect(prunes.length).toBe(0);
      const third = member();
      await env.createMemberKey(third);
      expect(await codeOf(env.deliverKeys(bearer(`t.${third}.0`, await deliveryBody())))).toBe('resolved'); // 64
      expect(prunes.length).toBe(1);
    });

    if (name === 'PostgreSQL') {
      it("openDatabase's onError is the registry's", async () => {
        const url = await freshPostgresDatabase();
        const raw = await openPostgres(url, 1);
        await migrate(raw);
        await refuseSessionDeletes(raw);
        await raw.close();
        const errors: unknown[] = [];
        const opened = await openDatabase({ url, maxConnections: 2, onError: (e) => errors.push(e) });
        try {
          for (let i = 0; i < 64; i++) expect(await opened.sessions.add(liveSession())).toBe(true);
          expect(errors.map((e) => (e as TokumeiError).code)).toEqual(['ERR_STORAGE_UNAVAILABLE']);
        } finally {
          await opened.close();
        }
      });
    }
  });
}
