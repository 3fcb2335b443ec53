// The contract every SessionRegistry keeps, run against each implementation (memory here; the
// database registries run the same suite): sessions, revocation, credentials (extension, token
// records, one-time ids), the key each session seals with, the per-member cap and the delivery
// counters. Ids are random, so implementations backed by one
// shared database can run it side by side.
import { describe, expect, it } from 'vitest';
import type { SessionRecord, SessionRegistry } from '../../../src/server/sessions/registry.ts';

const T0 = 1_767_225_600_000;
const HOUR = 3_600_000;

let counter = 0;
const uid = (prefix: string): string => `${prefix}.${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** A fresh session record with random ids (fields in `over` replace the defaults). */
export function session(over: Partial<SessionRecord> = {}): SessionRecord {
  return { sessionId: uid('s1'), memberId: uid('M'), createdAt: T0, expiresAt: T0 + HOUR, primaryKeyId: 'k1.contract', ...over };
}

/**
 * Runs the registry contract.
 * @param name - the implementation's name in the test titles
 * @param make - a registry (a fresh one, or one shared by every test: the ids never collide)
 */
export function sessionRegistryContract(name: string, make: () => SessionRegistry | Promise<SessionRegistry>): void {
  describe(`SessionRegistry contract: ${name}`, () => {
    it('add then get round-trips every field; unknown ids are undefined', async () => {
      const r = await make();
      const bound = session({ keyThumbprint: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' });
      const plain = session();
      await r.add(bound);
      await r.add(plain);
      expect(await r.get(bound.sessionId)).toEqual(bound);
      const got = await r.get(plain.sessionId);
      expect(got).toEqual(plain);
      expect(got?.keyThumbprint).toBeUndefined();
      expect(got?.revoked).toBeUndefined();
      expect(await r.get(uid('s1'))).toBeUndefined();
    });

    it('get returns a copy: changing it changes nothing stored', async () => {
      const r = await make();
      const s = session();
      await r.add(s);
      const got = (await r.get(s.sessionId))!;
      got.expiresAt = 0;
      got.revoked = { at: 1, reason: 'x' };
      expect(await r.get(s.sessionId)).toEqual(s);
    });

    it('revoke marks a session once (the first reason and time stay); unknown is false', async () => {
      const r = await make();
      const s = session();
      await r.add(s);
      expect(await r.revoke(s.sessionId, 'logoff', T0 + 10)).toBe(true);
      expect(await r.revoke(s.sessionId, 'admin', T0 + 20)).toBe(true);
      expect((await r.get(s.sessionId))?.revoked).toEqual({ at: T0 + 10, reason: 'logoff' });
      expect(await r.revoke(uid('s1'), 'logoff', T0)).toBe(false);
    });

    it("revokeMember revokes only that member's live sessions and counts them", async () => {
      const r = await make();
      const memberId = uid('M');
      const a = session({ memberId });
      const b = session({ memberId });
      const expired = session({ memberId, expiresAt: T0 + 5 });
      const done = session({ memberId });
      const other = session();
      for (const s of [a, b, expired, done, other]) await r.add(s);
      await r.revoke(done.sessionId, 'logoff', T0 + 1);
      expect(await r.revokeMember(memberId, 'admin', T0 + 10)).toBe(2);
      expect((await r.get(a.sessionId))?.revoked).toEqual({ at: T0 + 10, reason: 'admin' });
      expect((await r.get(b.sessionId))?.revoked?.reason).toBe('admin');
      expect((await r.get(done.sessionId))?.revoked?.reason).toBe('logoff');
      expect((await r.get(other.sessionId))?.revoked).toBeUndefined();
      expect(await r.revokeMember(memberId, 'admin', T0 + 20)).toBe(0);
    });

    it('extend moves a live session later, never earlier; refuses revoked, expired and unknown sessions', async () => {
      const r = await make();
      const s = session();
      await r.add(s);
      expect(await r.extend(s.sessionId, T0 + 2 * HOUR, T0 + 1)).toBe(T0 + 2 * HOUR);
      expect(await r.extend(s.sessionId, T0 + HOUR, T0 + 2)).toBe(T0 + 2 * HOUR);
      expect((await r.get(s.sessionId))?.expiresAt).toBe(T0 + 2 * HOUR);
      expect(await r.extend(s.sessionId, T0 + 3 * HOUR, T0 + 2 * HOUR)).toBeUndefined(); // expired at `at`
      const revoked = session();
      await r.add(revoked);
      await r.revoke(revoked.sessionId, 'logoff', T0 + 1);
      expect(await r.extend(revoked.sessionId, T0 + 2 * HOUR, T0 + 2)).toBeUndefined();
      expect((await r.get(revoked.sessionId))?.expiresAt).toBe(revoked.expiresAt);
      expect(await r.extend(uid('s1'), T0 + 2 * HOUR, T0)).toBeUndefined();
    });

    it('bindToken: the first binding wins and stays until its expiry, also after the session is gone', async () => {
      const r = await make();
      const token = uid('tok');
      const [s1, s2] = [uid('s1'), uid('s1')];
      expect(await r.bindToken(token, s1, T0 + HOUR, T0)).toBe(s1);
      expect(await r.bindToken(token, s1, T0 + HOUR, T0 + 1)).toBe(s1);
      expect(await r.bindToken(token, s2, T0 + HOUR, T0 + 2)).toBe(s1);
      // A later expiry given for the same token keeps the record that long (never shorter).
      expect(await r.bindToken(token, s2, T0 + 2 * HOUR, T0 + HOUR - 1)).toBe(s1);
      expect(await r.bindToken(token, s2, T0 + HOUR, T0 + 2 * HOUR - 1)).toBe(s1);
      // Past its expiry the record counts as absent (the token itself is refused by then).
      expect(await r.bindToken(token, s2, T0 + 3 * HOUR, T0 + 2 * HOUR)).toBe(s2);
      expect(await r.bindToken(uid('tok'), s2, T0 + HOUR, T0)).toBe(s2);
    });

    it('bindToken is atomic: of many concurrent bindings of one token, exactly one session wins', async () => {
      const r = await make();
      const token = uid('tok');
      const ids = Array.from({ length: 16 }, () => uid('s1'));
      const results = await Promise.all(ids.map((id) => r.bindToken(token, id, T0 + HOUR, T0)));
      expect(new Set(results).size).toBe(1);
      expect(ids).toContain(results[0]);
    });

    it('useOnce: true the first time, false while remembered, true again after expiry; atomic', async () => {
      const r = await make();
      const id = uid('jti');
      expect(await r.useOnce(id, T0 + 60_000, T0)).toBe(true);
      expect(await r.useOnce(id, T0 + 60_000, T0 + 1)).toBe(false);
      expect(await r.useOnce(id, T0 + 120_000, T0 + 59_999)).toBe(false);
      expect(await r.useOnce(id, T0 + 120_000, T0 + 60_000)).toBe(true);
      const other = uid('jti');
      const results = await Promise.all(Array.from({ length: 16 }, () => r.useOnce(other, T0 + 60_000, T0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
    it('setPrimaryKey records a change and when; the same key again changes nothing; a dead session is refused', async () => {
      const r = await make();
      const s = session();
      await r.add(s);
      expect(await r.setPrimaryKey(s.sessionId, s.primaryKeyId, T0 + 5)).toBe(true);
      expect((await r.get(s.sessionId))!.rekeyedAt).toBeUndefined();
      expect(await r.setPrimaryKey(s.sessionId, 'k1.b', T0 + 10)).toBe(true);
      expect(await r.setPrimaryKey(s.sessionId, 'k1.b', T0 + 20)).toBe(true);
      const got = (await r.get(s.sessionId))!;
      expect([got.primaryKeyId, got.rekeyedAt]).toEqual(['k1.b', T0 + 10]);
      expect(await r.setPrimaryKey(uid('s1'), 'k1.b', T0)).toBe(false);
      expect(await r.setPrimaryKey(s.sessionId, 'k1.c', T0 + HOUR)).toBe(false); // expired
      await r.revoke(s.sessionId, 'admin', T0 + 30);
      expect(await r.setPrimaryKey(s.sessionId, 'k1.c', T0 + 40)).toBe(false);
      expect((await r.get(s.sessionId))!.primaryKeyId).toBe('k1.b');
    });

    it("memberSessions lists the member's unexpired sessions, revoked ones included", async () => {
      const r = await make();
      const memberId = uid('M');
      const a = session({ memberId });
      const b = session({ memberId, createdAt: T0 + 1 });
      const gone = session({ memberId, expiresAt: T0 + 50 });
      await r.add(a);
      await r.add(b);
      await r.add(gone);
      await r.add(session());
      await r.revoke(b.sessionId, 'admin', T0 + 60);
      const list = await r.memberSessions(memberId, T0 + 100);
      expect(list.map((s) => s.sessionId).sort()).toEqual([a.sessionId, b.sessionId].sort());
      expect(list.find((s) => s.sessionId === b.sessionId)!.revoked!.reason).toBe('admin');
      expect(await r.memberSessions(uid('M'), T0)).toEqual([]);
    });

    it("a cap with 'revoke-oldest' revokes the member's oldest live sessions to make room", async () => {
      const r = await make();
      const memberId = uid('M');
      const cap = { maxLive: 2, whenFull: 'revoke-oldest' as const };
      const first = session({ memberId, createdAt: T0 });
      const second = session({ memberId, createdAt: T0 + 1 });
      const expired = session({ memberId, createdAt: T0 - HOUR, expiresAt: T0 + 2 }); // does not count
      for (const s of [expired, first, second]) expect(await r.add(s, cap)).toBe(true);
      const third = session({ memberId, createdAt: T0 + 3 });
      expect(await r.add(third, cap)).toBe(true);
      expect((await r.get(first.sessionId))!.revoked).toEqual({ at: T0 + 3, reason: 'session-limit' });
      expect((await r.get(second.sessionId))!.revoked).toBeUndefined();
      expect((await r.get(third.sessionId))!.revoked).toBeUndefined();
    });

    it("a cap with 'refuse' adds nothing once the member is at the cap; revoked sessions make room", async () => {
      const r = await make();
      const memberId = uid('M');
      const cap = { maxLive: 2, whenFull: 'refuse' as const };
      const a = session({ memberId });
      const b = session({ memberId });
      await r.add(a, cap);
      await r.add(b, cap);
      const c = session({ memberId, createdAt: T0 + 5 });
      expect(await r.add(c, cap)).toBe(false);
      expect(await r.get(c.sessionId)).toBeUndefined();
      await r.revoke(a.sessionId, 'logoff', T0 + 6);
      const d = session({ memberId, createdAt: T0 + 7 });
      expect(await r.add(d, cap)).toBe(true);
    });

    it('the cap holds under concurrent adds for one member', async () => {
      const r = await make();
      const memberId = uid('M');
      const cap = { maxLive: 3, whenFull: 'refuse' as const };
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => r.add(session({ memberId, createdAt: T0 + i }), cap)));
      expect(results.filter(Boolean).length).toBe(3);
      const live = (await r.memberSessions(memberId, T0 + 100)).filter((s) => s.revoked === undefined);
      expect(live.length).toBe(3);
    });

    it('countDelivery counts per key and fixed window, exactly under concurrency', async () => {
      const r = await make();
      const key = uid('tok1');
      const W = 60_000;
      const start = Math.floor(T0 / W) * W;
      const counts = await Promise.all(Array.from({ length: 20 }, () => r.countDelivery(key, W, start + 10)));
      expect(counts.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await r.countDelivery(key, W, start + W - 1)).toBe(21);
      expect(await r.countDelivery(`${key}-other`, W, start + 10)).toBe(1);
      expect(await r.countDelivery(key, W, start + W)).toBe(1); // a new window
    });
  });
}
