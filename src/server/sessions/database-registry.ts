// The session registry over PostgreSQL (or PGlite): sessions, single-use token records and
// one-time proof ids in tables every key-environment instance shares. Each method is one
// statement, so it is atomic across instances and committed before it resolves.
import type { Sql } from '../database/sql.ts';
import type { SessionRecord, SessionRegistry } from './registry.ts';

interface Row {
  session_id: string;
  member_id: string;
  created_at: number | string | bigint;
  expires_at: number | string | bigint;
  key_thumbprint: string | null;
  revoked_at: number | string | bigint | null;
  revoked_reason: string | null;
}

function recordOf(r: Row): SessionRecord {
  return {
    sessionId: r.session_id,
    memberId: r.member_id,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    ...(r.key_thumbprint === null ? {} : { keyThumbprint: r.key_thumbprint }),
    ...(r.revoked_at === null ? {} : { revoked: { at: Number(r.revoked_at), reason: r.revoked_reason ?? '' } }),
  };
}

/** Expired rows are deleted every this many sessions added, at most this many per table. */
const PRUNE_EVERY = 64;
const PRUNE_BATCH = 256;

/** The session registry over an open database (internal; see `openDatabase`). */
export function databaseSessionRegistry(db: Sql): SessionRegistry {
  let adds = 0;
  const prune = async (now: number): Promise<void> => {
    // A bounded batch per table through the expiry index: never a long pause.
    for (const [table, key] of [['sessions', 'session_id'], ['token_records', 'token_id'], ['once_ids', 'id']] as const) {
      await db.query(`DELETE FROM tokumei.${table} WHERE ${key} IN (SELECT ${key} FROM tokumei.${table} WHERE expires_at <= $1 ORDER BY expires_at LIMIT ${PRUNE_BATCH})`, [now]);
    }
  };
  return {
    async add(record) {
      await db.query('INSERT INTO tokumei.sessions (session_id, member_id, created_at, expires_at, key_thumbprint) VALUES ($1, $2, $3, $4, $5)', [
        record.sessionId,
        record.memberId,
        record.createdAt,
        record.expiresAt,
        record.keyThumbprint ?? null,
      ]);
      if (++adds % PRUNE_EVERY === 0) await prune(record.createdAt);
    },
    async get(sessionId) {
      const { rows } = await db.query<Row>('SELECT * FROM tokumei.sessions WHERE session_id = $1', [sessionId]);
      return rows[0] === undefined ? undefined : recordOf(rows[0]);
    },
    async revoke(sessionId, reason, at) {
      // The first revocation's time and reason stay; `known` is read from the same snapshot.
      const { rows } = await db.query<{ known: boolean }>(
        `WITH revoked AS (UPDATE tokumei.sessions SET revoked_at = $3, revoked_reason = $2 WHERE session_id = $1 AND revoked_at IS NULL RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM tokumei.sessions WHERE session_id = $1) AS known`,
        [sessionId, reason, at],
      );
      return rows[0]?.known === true;
    },
    async revokeMember(memberId, reason, at) {
      const r = await db.query('UPDATE tokumei.sessions SET revoked_at = $3, revoked_reason = $2 WHERE member_id = $1 AND revoked_at IS NULL AND expires_at > $3', [memberId, reason, at]);
      return r.rowCount;
    },
    async extend(sessionId, expiresAt, at) {
      const { rows } = await db.query<{ expires_at: number | string | bigint }>(
        'UPDATE tokumei.sessions SET expires_at = GREATEST(expires_at, $2) WHERE session_id = $1 AND revoked_at IS NULL AND expires_at > $3 RETURNING expires_at',
        [sessionId, expiresAt, at],
      );
      return rows[0] === undefined ? undefined : Number(rows[0].expires_at);
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
  };
}
