// Every function the migrations create runs with its search_path pinned (pg_catalog, then
// pg_temp): what a calling role's search_path puts before pg_catalog cannot change what it does.
// Attacked with an operator `<>` on text in a schema placed first on the caller's search_path,
// one that says no two texts differ: commit_delivery's "the token already opened another
// session" check then lets one token open a second session. The positive control is the previous
// schema's commit_delivery (migration 2, not pinned): the shadowing operator lets the token
// through. On PGlite and a real PostgreSQL server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS } from '../../../src/server/database/migrations.ts';
import { openPGlite, openPostgres, type Sql, type SqlDatabase } from '../../../src/server/database/sql.ts';
import { databaseDeliveryAudit } from '../../../src/server/audit/delivery-audit.ts';
import { databaseSessionRegistry } from '../../../src/server/sessions/database-registry.ts';
import { deliveryCommitterOf, type DeliveryOutcome } from '../../../src/server/sessions/delivery-commit.ts';
import { freshPostgresDatabase } from './postgres.ts';

const OPENERS: [string, () => Promise<SqlDatabase>][] = [
  ['PGlite', () => openPGlite(undefined)],
  ['PostgreSQL', async () => openPostgres(await freshPostgresDatabase(), 4)],
];

let serial = 0;

for (const [name, open] of OPENERS) {
  describe(`functions run with a pinned search_path: ${name}`, () => {
    let db: SqlDatabase;
    beforeAll(async () => {
      db = await open();
      await migrate(db, MIGRATIONS.filter((m) => m.version <= 2));
      await db.query('CREATE SCHEMA shadow');
      await db.query('CREATE FUNCTION shadow.never_differ(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT false $$');
      await db.query('CREATE OPERATOR shadow.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = shadow.never_differ)');
    }, 240_000);
    afterAll(() => db?.close());

    /** One token opens two sessions, both commits made with `searchPath` as the caller's: the second's outcome. */
    const secondSessionWithOneToken = (searchPath: string): Promise<DeliveryOutcome> =>
      db.transaction(async (tx) => {
        await tx.query(`SET LOCAL search_path = ${searchPath}`);
        const at = Date.now();
        const memberId = `M-${process.pid}-${serial++}`;
        const commit = (sessionId: string) =>
          committerOn(tx, db).commit({
            at,
            rate: { key: `rate.${memberId}`, windowMs: 60_000, max: 100 },
            token: { id: `tok.${memberId}`, until: at + 60_000 },
            session: { added: { sessionId, memberId, createdAt: at, expiresAt: at + 60_000, primaryKeyId: 'k1' }, cap: { maxLive: 8, whenFull: 'refuse' } },
          });
        expect(await commit(`s1.a-${memberId}`)).toBe('committed');
        return commit(`s1.b-${memberId}`);
      });
    const settings = async () =>
      (await db.query<{ proname: string; proconfig: string[] | null }>("SELECT proname, proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'tokumei' ORDER BY proname")).rows.map((r) => [
        r.proname,
        r.proconfig,
      ]);

    it('control: the previous schema (migration 2) follows the caller\'s search_path: a shadowing operator lets one token open two sessions', async () => {
      expect(await secondSessionWithOneToken('pg_catalog, public')).toBe('token-used');
      expect(await secondSessionWithOneToken('shadow, pg_catalog, public')).toBe('committed');
      expect(await settings()).toEqual([
        ['commit_delivery', null],
        ['refuse_audit_change', null],
      ]);
    });

    it('with migration 3 every function pins search_path = pg_catalog, pg_temp: the shadowing operator changes nothing', async () => {
      await migrate(db);
      expect(await secondSessionWithOneToken('shadow, pg_catalog, public')).toBe('token-used');
      expect(await secondSessionWithOneToken('pg_catalog, public')).toBe('token-used');
      expect(await settings()).toEqual([
        ['commit_delivery', ['search_path=pg_catalog, pg_temp']],
        ['refuse_audit_change', ['search_path=pg_catalog, pg_temp']],
      ]);
      // The audit log's trigger still resolves everything it uses.
      await expect(db.query('DELETE FROM tokumei.delivery_audit')).rejects.toThrow(/append-only/);
    });
  });
}

/** The database registry's one-transaction delivery, run on `tx`. */
function committerOn(tx: Sql, db: SqlDatabase) {
  const onTx: SqlDatabase = { engine: db.engine, query: tx.query.bind(tx), transaction: () => Promise.reject(new Error('unused')), close: async () => undefined };
  return deliveryCommitterOf(databaseSessionRegistry(onTx, databaseDeliveryAudit(onTx)))!;
}
