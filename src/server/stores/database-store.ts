// The member-key store over PostgreSQL (or PGlite): one row per key version; the key id is the
// primary key and (member, version) is unique, so the database itself refuses a duplicate; an
// update is compare-and-swap on the revision column.
import { ainteger } from '../../internal/bytes.ts';
import type { Sql } from '../database/sql.ts';
import { assertMemberKeyChange, assertNewMemberKey, checkStored, insertConflict, type MemberKeyChange, type MemberKeyStore, type NewMemberKey, type WrappedMemberKey } from './member-key-store.ts';

interface Row {
  key_id: string;
  member_id: string;
  version: number | string;
  created_at: number | string | bigint;
  state: string;
  master_key_id: string;
  wrapped: string;
  revision: number | string | bigint;
}

const COLUMNS = 'key_id, member_id, version, created_at, state, master_key_id, wrapped, revision';

/** A row as an entry, checked: a row edited by hand into something malformed is refused. */
function entryOf(r: Row): WrappedMemberKey {
  return checkStored({
    memberId: r.member_id,
    keyId: r.key_id,
    version: Number(r.version),
    createdAt: Number(r.created_at),
    state: r.state as WrappedMemberKey['state'],
    masterKeyId: r.master_key_id,
    wrapped: r.wrapped,
    revision: Number(r.revision),
  });
}

// The first read of a key delivery, in one round trip: the token's delivery count in the window
// starting at or after $2 (a stored window that starts later is current too), and the member's
// key versions — one row even when the member has none.
const COUNT_AND_VERSIONS = `SELECT (SELECT count FROM tokumei.delivery_counters WHERE key = $1 AND window_start >= $2) AS rate_count, ${COLUMNS
  .split(', ')
  .map((c) => `k.${c}`)
  .join(', ')}
  FROM (VALUES (1)) AS one (x) LEFT JOIN tokumei.member_keys k ON k.member_id = $3 ORDER BY k.version`;

/**
 * A token's delivery count (in the window of `windowStart`) and a member's key versions, oldest
 * first, in one statement (internal: the database session registry's early rate check).
 */
export async function countAndVersions(db: Sql, rateKey: string, windowStart: number, memberId: string): Promise<{ count: number; versions: WrappedMemberKey[] }> {
  const { rows } = await db.query<Row & { rate_count: number | string | null }>(COUNT_AND_VERSIONS, [rateKey, windowStart, memberId]);
  return {
    count: rows[0]?.rate_count == null ? 0 : Number(rows[0].rate_count),
    versions: rows.filter((r) => r.key_id !== null).map(entryOf),
  };
}

/** The member-key store over an open database (internal; see `openDatabase`). */
export function databaseKeyStore(db: Sql): MemberKeyStore {
  return {
    async versions(memberId) {
      const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM tokumei.member_keys WHERE member_id = $1 ORDER BY version`, [memberId]);
      return rows.map(entryOf);
    },
    async get(keyId) {
      const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM tokumei.member_keys WHERE key_id = $1`, [keyId]);
      return rows[0] === undefined ? undefined : entryOf(rows[0]);
    },
    async insert(entry: NewMemberKey) {
      assertNewMemberKey(entry);
      // One statement is one transaction: it commits before the promise resolves. A taken key id
      // or version inserts nothing (the unique constraints decide, across every instance).
      const { rows } = await db.query<Row>(
        `INSERT INTO tokumei.member_keys (key_id, member_id, version, created_at, state, master_key_id, wrapped)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
        [entry.keyId, entry.memberId, entry.version, entry.createdAt, entry.state, entry.masterKeyId, entry.wrapped],
      );
      if (rows[0] !== undefined) return entryOf(rows[0]);
      const taken = await db.query('SELECT 1 FROM tokumei.member_keys WHERE key_id = $1', [entry.keyId]);
      throw insertConflict(taken.rows.length > 0 ? 'keyId' : 'version');
    },
    async update(current: WrappedMemberKey, change: MemberKeyChange) {
      assertMemberKeyChange(change);
      ainteger('revision', current.revision, 1, Number.MAX_SAFE_INTEGER);
      const { rows } = await db.query<Row>(
        `UPDATE tokumei.member_keys SET state = $3, master_key_id = $4, wrapped = $5, revision = revision + 1
         WHERE key_id = $1 AND revision = $2 RETURNING ${COLUMNS}`,
        [current.keyId, current.revision, change.state, change.masterKeyId, change.wrapped],
      );
      return rows[0] === undefined ? undefined : entryOf(rows[0]);
    },
    async updateMany(changes) {
      const ids = new Set<string>();
      for (const { current, change } of changes) {
        assertMemberKeyChange(change);
        ainteger('revision', current.revision, 1, Number.MAX_SAFE_INTEGER);
        if (ids.has(current.keyId)) throw new RangeError('"changes" expected each key id at most once');
        ids.add(current.keyId);
      }
      if (changes.length === 0) return [];
      // One statement is one transaction: every row whose revision still matches commits at once.
      const { rows } = await db.query<Row>(
        `UPDATE tokumei.member_keys AS m SET state = u.state, master_key_id = u.master_key_id, wrapped = u.wrapped, revision = m.revision + 1
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(key_id, revision, state, master_key_id, wrapped)
         WHERE m.key_id = u.key_id AND m.revision = u.revision RETURNING ${COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')}`,
        [
          changes.map((c) => c.current.keyId),
          changes.map((c) => String(c.current.revision)),
          changes.map((c) => c.change.state),
          changes.map((c) => c.change.masterKeyId),
          changes.map((c) => c.change.wrapped),
        ],
      );
      const byId = new Map(rows.map((r) => [r.key_id, r]));
      return changes.map(({ current }) => {
        const r = byId.get(current.keyId);
        return r === undefined ? undefined : entryOf(r);
      });
    },
    async list({ after, limit }) {
      ainteger('limit', limit, 1, 1_000_000);
      const { rows } =
        after === undefined
          ? await db.query<Row>(`SELECT ${COLUMNS} FROM tokumei.member_keys ORDER BY key_id LIMIT $1`, [limit])
          : await db.query<Row>(`SELECT ${COLUMNS} FROM tokumei.member_keys WHERE key_id > $1 ORDER BY key_id LIMIT $2`, [after, limit]);
      return rows.map(entryOf);
    },
    async count() {
      const { rows } = await db.query<{ n: number | string }>('SELECT count(*) AS n FROM tokumei.member_keys');
      return Number(rows[0]!.n);
    },
  };
}
