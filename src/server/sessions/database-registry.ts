// The session registry over PostgreSQL (or PGlite): sessions, single-use token records, one-time
// proof ids and delivery counters in tables every key-environment instance shares. Each method is
// one statement — or, for the capped insert, one transaction under a per-member lock — so it is
// atomic across instances and committed before it resolves. Every revocation and extension is
// appended to the delivery audit log by the statement that makes it. A key delivery's writes are
// one call of a server-side function (migration 2): one transaction, one commit.
import { TokumeiError } from '../../errors.ts';
import type { DeliveryAuditLog } from '../audit/delivery-audit.ts';
import type { Sql, SqlDatabase } from '../database/sql.ts';
import { registerDeliveryCommitter, type DeliveryCommitter, type DeliveryOutcome } from './delivery-commit.ts';
import type { SessionCap, SessionRecord, SessionRegistry } from './registry.ts';

type Int = number | string | bigint;

interface Row {
  session_id: string;
  member_id: string;
  created_at: Int;
  expires_at: Int;
  key_thumbprint: string | null;
  primary_key_id: string;
  rekeyed_at: Int | null;
  revoked_at: Int | null;
  revoked_reason: string | null;
}

const COLUMNS = 'session_id, member_id, created_at, expires_at, key_thumbprint, primary_key_id, rekeyed_at, revoked_at, revoked_reason';

function recordOf(r: Row): SessionRecord {
  return {
    sessionId: r.session_id,
    memberId: r.member_id,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    ...(r.key_thumbprint === null ? {} : { keyThumbprint: r.key_thumbprint }),
    primaryKeyId: r.primary_key_id,
    ...(r.rekeyed_at === null ? {} : { rekeyedAt: Number(r.rekeyed_at) }),
    ...(r.revoked_at === null ? {} : { revoked: { at: Number(r.revoked_at), reason: r.revoked_reason ?? '' } }),
  };
}

/**
 * Revokes the sessions `where` selects (a condition on `s`, with parameters from `$4` on) at
 * `$1` with reason `$2`, and appends one audit event per session revoked, in one statement. The
 * result's `n` is how many were revoked; `$3` is a session id whose existence is reported as
 * `known` (null when unused).
 */
const REVOKE = (where: string): string => `
  WITH revoked AS (
    UPDATE tokumei.sessions s SET revoked_at = $1, revoked_reason = $2
    WHERE s.revoked_at IS NULL AND ${where}
    RETURNING s.session_id, s.member_id
  ), audited AS (
    INSERT INTO tokumei.delivery_audit (at, kind, member_id, session_id, reason)
    SELECT $1, 'revoked', member_id, session_id, $2 FROM revoked
  )
  SELECT (SELECT count(*) FROM revoked) AS n,
         EXISTS (SELECT 1 FROM tokumei.sessions WHERE session_id = $3) AS known`;

const REVOKE_ONE = REVOKE('s.session_id = $3');
const REVOKE_MEMBER = REVOKE('s.member_id = $4 AND s.expires_at > $1');
const REVOKE_OLDEST = REVOKE(`s.session_id IN (
  SELECT session_id FROM tokumei.sessions
  WHERE member_id = $4 AND revoked_at IS NULL AND expires_at > $1
  ORDER BY created_at, session_id LIMIT $5)`);

/** A lock key per member (the two-int form, so it never meets the migration's one-int lock). */
const MEMBER_LOCK_SPACE = 0x746f6b76;

/** Expired rows are deleted every this many sessions added, at most this many per table. */
const PRUNE_EVERY = 64;
const PRUNE_BATCH = 256;
/**
 * PGlite runs no autovacuum: there, every this many prunes one of the pruned tables, in turn, is
 * vacuumed, so the space of deleted rows is reused instead of the files growing with every
 * delivery ever made (each table every 1,024 sessions added).
 */
const VACUUM_EVERY = 4;
const VACUUMED = ['sessions', 'token_records', 'once_ids', 'delivery_counters'] as const;

/** Unique violation (SQLSTATE 23505): a session id registered twice. */
const isUniqueViolation = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === '23505';

async function insert(q: Sql, r: SessionRecord): Promise<void> {
  try {
    await q.query(`INSERT INTO tokumei.sessions (session_id, member_id, created_at, expires_at, key_thumbprint, primary_key_id) VALUES ($1, $2, $3, $4, $5, $6)`, [
      r.sessionId,
      r.memberId,
      r.createdAt,
      r.expiresAt,
      r.keyThumbprint ?? null,
      r.primaryKeyId,
    ]);
  } catch (err) {
    if (isUniqueViolation(err)) throw takenSessionId();
    throw err;
  }
}

/** A session id registered twice. */
const takenSessionId = (): RangeError => new RangeError('"sessionId" expected a new session id, got one already registered');

const COMMIT_DELIVERY = `SELECT tokumei.commit_delivery(${Array.from({ length: 19 }, (_, i) => `$${i + 1}`).join(', ')}) AS outcome`;

/**
 * The session registry over an open database (internal; see `openDatabase`). With `audit` (the
 * same database's log), a key delivery commits its audit row in its one transaction. `onError`
 * is told when deleting expired rows fails: that never fails the session's insert or the
 * delivery that committed before it, and is tried again at the next prune.
 */
export function databaseSessionRegistry(db: SqlDatabase, audit?: DeliveryAuditLog, onError?: (error: unknown) => void): SessionRegistry {
  let adds = 0;
  let prunes = 0;
  const prune = async (now: number): Promise<void> => {
    // A bounded batch per table through its deadline index: never a long pause. The audit log
    // is never pruned. A table that cannot be pruned now (a lock timeout, a lost connection, a
    // missing privilege) does not stop the others.
    for (const [table, key, deadline] of [
      ['sessions', 'session_id', 'drop_at'],
      ['token_records', 'token_id', 'expires_at'],
      ['once_ids', 'id', 'expires_at'],
      ['delivery_counters', 'key', 'window_end'],
    ] as const) {
      try {
        await db.query(`DELETE FROM tokumei.${table} WHERE ${key} IN (SELECT ${key} FROM tokumei.${table} WHERE ${deadline} <= $1 ORDER BY ${deadline} LIMIT ${PRUNE_BATCH})`, [now]);
      } catch (err) {
        report(new TokumeiError('ERR_STORAGE_UNAVAILABLE', `deleting expired rows from tokumei.${table} failed; tried again after the next ${PRUNE_EVERY} sessions added`, { cause: err }));
      }
    }
    if (db.engine !== 'pglite' || ++prunes % VACUUM_EVERY !== 0) return;
    const table = VACUUMED[(prunes / VACUUM_EVERY - 1) % VACUUMED.length];
    try {
      await db.query(`VACUUM tokumei.${table}`);
    } catch (err) {
      report(new TokumeiError('ERR_STORAGE_UNAVAILABLE', `vacuuming tokumei.${table} failed; tried again at its next turn`, { cause: err }));
    }
  };
  const report = (error: TokumeiError): void => {
    try {
      onError?.(error);
    } catch {
      // a failing logger must not fail a delivery either
    }
  };
  /** Counts a session added (committed): every `PRUNE_EVERY`th prunes. */
  const addedSession = async (now: number): Promise<void> => {
    if (++adds % PRUNE_EVERY === 0) await prune(now);
  };

  const capped = (record: SessionRecord, cap: SessionCap): Promise<boolean> =>
    db.transaction(async (tx) => {
      // One member's capped inserts take turns, across instances; other members are not held up.
      await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MEMBER_LOCK_SPACE, record.memberId]);
      const { rows } = await tx.query<{ n: Int }>('SELECT count(*) AS n FROM tokumei.sessions WHERE member_id = $1 AND revoked_at IS NULL AND expires_at > $2', [record.memberId, record.createdAt]);
      const live = Number(rows[0]!.n);
      if (live >= cap.maxLive) {
        if (cap.whenFull === 'refuse') return false;
        await tx.query(REVOKE_OLDEST, [record.createdAt, 'session-limit', null, record.memberId, live - cap.maxLive + 1]);
      }
      await insert(tx, record);
      return true;
    });

  const registry: SessionRegistry = {
    async add(record, cap) {
      let inserted = true;
      if (cap === undefined) await insert(db, record);
      else inserted = await capped(record, cap);
      if (inserted) await addedSession(record.createdAt);
      return inserted;
    },
    async get(sessionId) {
      const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM tokumei.sessions WHERE session_id = $1`, [sessionId]);
      return rows[0] === undefined ? undefined : recordOf(rows[0]);
    },
    async revoke(sessionId, reason, at) {
      // The first revocation's time and reason stay.
      const { rows } = await db.query<{ known: boolean }>(REVOKE_ONE, [at, reason, sessionId]);
      return rows[0]?.known === true;
    },
    async revokeMember(memberId, reason, at) {
      const { rows } = await db.query<{ n: Int }>(REVOKE_MEMBER, [at, reason, null, memberId]);
      return Number(rows[0]!.n);
    },
    async extend(sessionId, expiresAt, at) {
      const { rows } = await db.query<{ expires_at: Int }>(
        `WITH extended AS (
           UPDATE tokumei.sessions SET expires_at = $2
           WHERE session_id = $1 AND revoked_at IS NULL AND expires_at > $3 AND expires_at < $2
           RETURNING session_id, member_id, expires_at
         ), audited AS (
           INSERT INTO tokumei.delivery_audit (at, kind, member_id, session_id, expires_at)
           SELECT $3, 'extended', member_id, session_id, expires_at FROM extended
         )
         SELECT expires_at FROM extended`,
        [sessionId, expiresAt, at],
      );
      if (rows[0] !== undefined) return Number(rows[0].expires_at);
      // Not moved: the session is not live, or already lasts at least that long.
      const live = await db.query<{ expires_at: Int }>('SELECT expires_at FROM tokumei.sessions WHERE session_id = $1 AND revoked_at IS NULL AND expires_at > $2', [sessionId, at]);
      return live.rows[0] === undefined ? undefined : Number(live.rows[0].expires_at);
    },
    async bindToken(tokenId, sessionId, expiresAt, at) {
      // First binding wins while its record lives; an expired record counts as absent.
      const { rows } = await db.query<{ session_id: string }>(
        `INSERT INTO tokumei.token_records AS t (token_id, session_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (token_id) DO UPDATE SET
           session_id = CASE WHEN t.expires_at <= $4 THEN EXCLUDED.session_id ELSE t.session_id END,
           expires_at = CASE WHEN t.expires_at <= $4 THEN EXCLUDED.expires_at ELSE GREATEST(t.expires_at, EXCLUDED.expires_at) END
         RETURNING session_id`,
        [tokenId, sessionId, expiresAt, at],
      );
      return rows[0]!.session_id;
    },
    async useOnce(id, expiresAt, at) {
      const { rows } = await db.query(
        `INSERT INTO tokumei.once_ids AS o (id, expires_at) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE o.expires_at <= $3
         RETURNING 1`,
        [id, expiresAt, at],
      );
      return rows.length === 1;
    },
    async setPrimaryKey(sessionId, primaryKeyId, at) {
      // SET reads the row as it was: rekeyed_at moves only when the key id changes.
      const r = await db.query(
        `UPDATE tokumei.sessions SET rekeyed_at = CASE WHEN primary_key_id <> $2 THEN $3 ELSE rekeyed_at END, primary_key_id = $2
         WHERE session_id = $1 AND revoked_at IS NULL AND expires_at > $3`,
        [sessionId, primaryKeyId, at],
      );
      return r.rowCount === 1;
    },
    async memberSessions(memberId, at) {
      const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM tokumei.sessions WHERE member_id = $1 AND expires_at > $2 ORDER BY created_at, session_id`, [memberId, at]);
      return rows.map(recordOf);
    },
    async countDelivery(key, windowMs, at) {
      // A caller whose clock is behind (a window already passed here) counts in the current one.
      const start = at - (at % windowMs);
      const { rows } = await db.query<{ count: Int }>(
        `INSERT INTO tokumei.delivery_counters AS c (key, window_start, window_end, count) VALUES ($1, $2, $3, 1)
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN EXCLUDED.window_start > c.window_start THEN 1 ELSE c.count + 1 END,
           window_start = GREATEST(c.window_start, EXCLUDED.window_start),
           window_end = GREATEST(c.window_end, EXCLUDED.window_end)
         RETURNING count`,
        [key, start, start + windowMs],
      );
      return Number(rows[0]!.count);
    },
  };
  if (audit !== undefined) registerDeliveryCommitter(registry, committer(audit));
  return registry;

  function committer(log: DeliveryAuditLog): DeliveryCommitter {
    return {
      audit: log,
      async count(key, windowMs, at) {
        // A stored window that starts later than this one is current too (countDelivery).
        const { rows } = await db.query<{ count: Int }>('SELECT count FROM tokumei.delivery_counters WHERE key = $1 AND window_start >= $2', [key, at - (at % windowMs)]);
        return rows[0] === undefined ? 0 : Number(rows[0].count);
      },
      async commit(w) {
        const start = w.at - (w.at % w.rate.windowMs);
        const added = 'added' in w.session ? w.session : undefined;
        const s = added?.added ?? (w.session as { resumed: SessionRecord }).resumed;
        let outcome: DeliveryOutcome;
        try {
          const { rows } = await db.query<{ outcome: DeliveryOutcome }>(COMMIT_DELIVERY, [
            w.at,
            w.rate.key,
            start,
            start + w.rate.windowMs,
            w.rate.max,
            w.once?.id ?? null,
            w.once?.until ?? null,
            w.token.id,
            w.token.until,
            s.sessionId,
            s.memberId,
            s.expiresAt,
            s.keyThumbprint ?? null,
            s.primaryKeyId,
            added !== undefined,
            added?.cap.maxLive ?? null,
            added?.cap.whenFull === 'refuse',
            w.audit !== undefined,
            [...(w.audit?.keyIds ?? [])],
          ]);
          outcome = rows[0]!.outcome;
        } catch (err) {
          if (isUniqueViolation(err)) throw takenSessionId();
          throw err;
        }
        if (added !== undefined && outcome === 'committed') await addedSession(w.at);
        return outcome;
      },
    };
  }
}
