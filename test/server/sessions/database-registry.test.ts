// The session registry contract on PGlite and on a real PostgreSQL server (one database per
// engine, shared by every test: the contract's ids never collide), and what only the database
// registry does: every revocation and extension lands in the audit log in the statement that
// makes it, and expired rows are deleted a bounded batch at a time (revoked sessions kept for the
// retention time).
import { describe, expect, it } from 'vitest';
import { databaseDeliveryAudit } from '../../../src/server/audit/delivery-audit.ts';
import { databaseSessionRegistry } from '../../../src/server/sessions/database-registry.ts';
import { REVOKED_RETENTION_MS } from '../../../src/server/sessions/registry.ts';
import { forEachEngine } from '../database/engines.ts';
import { session, sessionRegistryContract } from './registry-contract.ts';

const T0 = 1_767_225_600_000;
const HOUR = 3_600_000;
type Int = number | string | bigint;

forEachEngine((name, db) => {
  sessionRegistryContract(name, () => databaseSessionRegistry(db()));

  describe(`database session registry: ${name}`, () => {
    it('appends every revocation (logoff, administrator, member, session limit) and extension to the audit log', async () => {
      const r = databaseSessionRegistry(db());
      const audit = databaseDeliveryAudit(db());
      const before = Number((await db().query<{ seq: string }>('SELECT coalesce(max(seq), 0) AS seq FROM tokumei.delivery_audit')).rows[0]!.seq);
      const a = session();
      const b = session({ memberId: a.memberId, createdAt: T0 + 1 });
      const c = session({ memberId: a.memberId, createdAt: T0 + 2 });
      await r.add(a);
      await r.add(b);
      expect(await r.extend(a.sessionId, T0 + 2 * HOUR, T0 + 5)).toBe(T0 + 2 * HOUR);
      expect(await r.extend(a.sessionId, T0 + HOUR, T0 + 6)).toBe(T0 + 2 * HOUR); // not moved: not audited
      await r.add(c, { maxLive: 2, whenFull: 'revoke-oldest' }); // revokes a
      await r.revoke(b.sessionId, 'logoff', T0 + 10);
      await r.revoke(b.sessionId, 'admin', T0 + 11); // already revoked: not audited
      expect(await r.revokeMember(a.memberId, 'admin', T0 + 20)).toBe(1); // c
      const log = (await audit.read({ after: before, limit: 100 })).filter((e) => e.memberId === a.memberId);
      expect(log.map((e) => [e.kind, e.sessionId, e.reason ?? e.expiresAt, e.at])).toEqual([
        ['extended', a.sessionId, T0 + 2 * HOUR, T0 + 5],
        ['revoked', a.sessionId, 'session-limit', T0 + 2],
        ['revoked', b.sessionId, 'logoff', T0 + 10],
        ['revoked', c.sessionId, 'admin', T0 + 20],
      ]);
    });

    it('a session id registered twice is a RangeError and changes nothing', async () => {
      const r = databaseSessionRegistry(db());
      const s = session();
      await r.add(s);
      await expect(r.add({ ...s, memberId: 'M-other' })).rejects.toThrow(RangeError);
      await expect(r.add({ ...s, memberId: 'M-other' }, { maxLive: 4, whenFull: 'refuse' })).rejects.toThrow(RangeError);
      expect(await r.get(s.sessionId)).toEqual(s);
    });

    it('deletes expired rows a batch at a time as sessions are added; a revoked session stays for the retention time', async () => {
      const r = databaseSessionRegistry(db());
      const far = T0 + 1000 * HOUR; // later than anything the other tests wrote
      const expired = session({ createdAt: far - HOUR, expiresAt: far + 10 });
      const revokedRecently = session({ createdAt: far - HOUR, expiresAt: far + HOUR });
      const revokedLongAgo = session({ createdAt: far - HOUR, expiresAt: far + HOUR });
      for (const s of [expired, revokedRecently, revokedLongAgo]) await r.add(s);
      await r.revoke(revokedLongAgo.sessionId, 'admin', far - REVOKED_RETENTION_MS);
      await r.revoke(revokedRecently.sessionId, 'admin', far - REVOKED_RETENTION_MS + 1000);
      await r.bindToken('tok.prune', expired.sessionId, far + 10, far - HOUR);
      await r.useOnce('once.prune', far + 10, far - HOUR);
      await r.countDelivery('count.prune', 60_000, far - HOUR);
      // Enough adds at far + 20 that the registry prunes at least once.
      for (let i = 0; i < 64; i++) await r.add(session({ createdAt: far + 20, expiresAt: far + 2 * HOUR }));
      expect(await r.get(expired.sessionId)).toBeUndefined();
      expect(await r.get(revokedLongAgo.sessionId)).toBeUndefined();
      expect((await r.get(revokedRecently.sessionId))?.revoked?.reason).toBe('admin');
      const left = async (table: string, key: string, id: string) => (await db().query(`SELECT 1 FROM tokumei.${table} WHERE ${key} = $1`, [id])).rows.length;
      expect(await left('token_records', 'token_id', 'tok.prune')).toBe(0);
      expect(await left('once_ids', 'id', 'once.prune')).toBe(0);
      expect(await left('delivery_counters', 'key', 'count.prune')).toBe(0);
      // The audit log is never pruned.
      expect((await db().query('SELECT 1 FROM tokumei.delivery_audit WHERE session_id = $1', [revokedLongAgo.sessionId])).rows.length).toBe(1);
    });

    // PGlite runs no autovacuum: without a VACUUM it never reuses the space of deleted rows, and
    // its files grow with every delivery ever made while the live rows stay few (measured in
    // test/bench/scale-registry-db.mjs). A PostgreSQL server vacuums them itself.
    if (name === 'PGlite') it('vacuums each pruned table in turn as sessions are added', async () => {
      const r = databaseSessionRegistry(db());
      const far = T0 + 2000 * HOUR;
      const vacuums = async () => {
        const { rows } = await db().query<{ relname: string; n: Int }>(`SELECT relname, vacuum_count AS n FROM pg_stat_user_tables WHERE schemaname = 'tokumei'`);
        return Object.fromEntries(rows.map((x) => [x.relname, Number(x.n)]));
      };
      const before = await vacuums();
      for (let i = 0; i < 1024; i++) await r.add(session({ createdAt: far + i, expiresAt: far + i + 1 }));
      const after = await vacuums();
      for (const t of ['sessions', 'token_records', 'once_ids', 'delivery_counters']) expect([t, after[t]! - before[t]!]).toEqual([t, 1]);
      // The append-only log and the key store are not the registry's to vacuum.
      for (const t of ['delivery_audit', 'member_keys']) expect([t, after[t]! - before[t]!]).toEqual([t, 0]);
      // Every session but the last few has expired and been deleted.
      expect(Number((await db().query<{ n: Int }>('SELECT count(*) AS n FROM tokumei.sessions WHERE created_at >= $1', [far])).rows[0]!.n)).toBeLessThan(64);
    });
  });
});
