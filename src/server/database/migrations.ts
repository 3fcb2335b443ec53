// The key environment's schema, in versioned migrations the library applies at start-up: one
// transaction under an advisory lock, so several instances starting at once apply each migration
// exactly once, and a half-applied migration never exists.
import { TokumeiError } from '../../errors.ts';
import type { SqlDatabase } from './sql.ts';

/** One schema change. Never edit a published migration: add the next one. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Every migration, in order. Times are ms since the epoch (`bigint`); key ids sort in code-unit
 * order (`COLLATE "C"`), as `list` pages them.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'member keys, sessions, token records, one-time ids, delivery counters, delivery audit log',
    sql: `
CREATE TABLE tokumei.member_keys (
  key_id        text COLLATE "C" PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
  member_id     text NOT NULL CHECK (char_length(member_id) BETWEEN 1 AND 256),
  version       integer NOT NULL CHECK (version >= 1),
  created_at    bigint NOT NULL CHECK (created_at >= 0),
  state         text NOT NULL CHECK (state IN ('active', 'retired')),
  master_key_id text NOT NULL CHECK (char_length(master_key_id) BETWEEN 1 AND 256),
  wrapped       text NOT NULL CHECK (char_length(wrapped) BETWEEN 1 AND 4096),
  revision      bigint NOT NULL DEFAULT 1 CHECK (revision >= 1),
  CONSTRAINT member_keys_member_version UNIQUE (member_id, version)
);

CREATE TABLE tokumei.sessions (
  session_id     text COLLATE "C" PRIMARY KEY CHECK (char_length(session_id) BETWEEN 1 AND 256),
  member_id      text NOT NULL,
  created_at     bigint NOT NULL,
  expires_at     bigint NOT NULL,
  key_thumbprint text,
  primary_key_id text NOT NULL,
  rekeyed_at     bigint,
  revoked_at     bigint,
  revoked_reason text,
  -- When the row may be deleted: at expiry, or ten minutes after a revocation (rotation and
  -- status checks must still see a revoked session that long).
  drop_at        bigint NOT NULL GENERATED ALWAYS AS (CASE WHEN revoked_at IS NULL THEN expires_at ELSE LEAST(expires_at, revoked_at + 600000) END) STORED,
  CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX sessions_by_member ON tokumei.sessions (member_id, created_at);
CREATE INDEX sessions_by_drop ON tokumei.sessions (drop_at);

CREATE TABLE tokumei.token_records (
  token_id   text COLLATE "C" PRIMARY KEY,
  session_id text NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX token_records_by_expiry ON tokumei.token_records (expires_at);

CREATE TABLE tokumei.once_ids (
  id         text COLLATE "C" PRIMARY KEY,
  expires_at bigint NOT NULL
);
CREATE INDEX once_ids_by_expiry ON tokumei.once_ids (expires_at);

CREATE TABLE tokumei.delivery_counters (
  key          text COLLATE "C" PRIMARY KEY,
  window_start bigint NOT NULL,
  window_end   bigint NOT NULL,
  count        integer NOT NULL CHECK (count >= 1)
);
CREATE INDEX delivery_counters_by_end ON tokumei.delivery_counters (window_end);

CREATE TABLE tokumei.delivery_audit (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         bigint NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('delivered', 'resumed', 'extended', 'revoked')),
  session_id text NOT NULL,
  member_id  text NOT NULL,
  key_ids    text[] NOT NULL DEFAULT '{}',
  expires_at bigint,
  reason     text
);
CREATE FUNCTION tokumei.refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tokumei.delivery_audit is append-only';
END $$;
CREATE TRIGGER delivery_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON tokumei.delivery_audit
  FOR EACH STATEMENT EXECUTE FUNCTION tokumei.refuse_audit_change();
`,
  },
  {
    version: 2,
    name: 'a key delivery in one statement: token rate, proof id, token record, capped session insert, audit row',
    // One call, one transaction, one commit per delivery. Each statement of a VOLATILE function
    // takes a fresh snapshot (READ COMMITTED), so the count after the member's lock sees every
    // session committed before it. A refusal returns before the later writes; what was written
    // before it (the count, the proof id, the token record) commits, as separate calls would.
    sql: `
CREATE FUNCTION tokumei.commit_delivery(
  p_at bigint, p_rate_key text, p_window_start bigint, p_window_end bigint, p_rate_max integer,
  p_once_id text, p_once_until bigint, p_token_id text, p_token_until bigint,
  p_session_id text, p_member_id text, p_expires_at bigint, p_key_thumbprint text, p_primary_key_id text,
  p_new_session boolean, p_max_live integer, p_refuse_when_full boolean, p_audit boolean, p_key_ids text[]
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  bound text;
BEGIN
  INSERT INTO tokumei.delivery_counters AS c (key, window_start, window_end, count) VALUES (p_rate_key, p_window_start, p_window_end, 1)
  ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN EXCLUDED.window_start > c.window_start THEN 1 ELSE c.count + 1 END,
    window_start = GREATEST(c.window_start, EXCLUDED.window_start),
    window_end = GREATEST(c.window_end, EXCLUDED.window_end)
  RETURNING count INTO n;
  IF n > p_rate_max THEN RETURN 'rate-limited'; END IF;
  IF p_once_id IS NOT NULL THEN
    INSERT INTO tokumei.once_ids AS o (id, expires_at) VALUES (p_once_id, p_once_until)
    ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE o.expires_at <= p_at;
    IF NOT FOUND THEN RETURN 'replayed'; END IF;
  END IF;
  INSERT INTO tokumei.token_records AS t (token_id, session_id, expires_at) VALUES (p_token_id, p_session_id, p_token_until)
  ON CONFLICT (token_id) DO UPDATE SET
    session_id = CASE WHEN t.expires_at <= p_at THEN EXCLUDED.session_id ELSE t.session_id END,
    expires_at = CASE WHEN t.expires_at <= p_at THEN EXCLUDED.expires_at ELSE GREATEST(t.expires_at, EXCLUDED.expires_at) END
  RETURNING session_id INTO bound;
  IF bound <> p_session_id THEN RETURN 'token-used'; END IF;
  IF p_new_session THEN
    -- The same per-member lock as the registry's capped insert: one member's inserts take turns.
    PERFORM pg_advisory_xact_lock(1953459062, hashtext(p_member_id));
    SELECT count(*) INTO n FROM tokumei.sessions WHERE member_id = p_member_id AND revoked_at IS NULL AND expires_at > p_at;
    IF n >= p_max_live THEN
      IF p_refuse_when_full THEN RETURN 'capped'; END IF;
      WITH revoked AS (
        UPDATE tokumei.sessions s SET revoked_at = p_at, revoked_reason = 'session-limit'
        WHERE s.revoked_at IS NULL AND s.session_id IN (
          SELECT session_id FROM tokumei.sessions
          WHERE member_id = p_member_id AND revoked_at IS NULL AND expires_at > p_at
          ORDER BY created_at, session_id LIMIT n - p_max_live + 1)
        RETURNING s.session_id, s.member_id
      )
      INSERT INTO tokumei.delivery_audit (at, kind, member_id, session_id, reason)
      SELECT p_at, 'revoked', member_id, session_id, 'session-limit' FROM revoked;
    END IF;
    INSERT INTO tokumei.sessions (session_id, member_id, created_at, expires_at, key_thumbprint, primary_key_id)
    VALUES (p_session_id, p_member_id, p_at, p_expires_at, p_key_thumbprint, p_primary_key_id);
  END IF;
  IF p_audit THEN
    INSERT INTO tokumei.delivery_audit (at, kind, member_id, session_id, key_ids, expires_at)
    VALUES (p_at, CASE WHEN p_new_session THEN 'delivered' ELSE 'resumed' END, p_member_id, p_session_id, p_key_ids, p_expires_at);
  END IF;
  RETURN 'committed';
END $$;
`,
  },
  {
    version: 3,
    name: 'a resumed session re-checked (and locked) at the commit; search_path pinned on every function',
    // Same signature as migration 2, so an instance still running the previous release keeps
    // working while others upgrade. Every relation is qualified with its schema; the functions
    // and operators left unqualified (count, hashtext, pg_advisory_xact_lock, =, <, +) are
    // pg_catalog's, whatever the calling role's search_path puts before it.
    sql: `
CREATE OR REPLACE FUNCTION tokumei.commit_delivery(
  p_at bigint, p_rate_key text, p_window_start bigint, p_window_end bigint, p_rate_max integer,
  p_once_id text, p_once_until bigint, p_token_id text, p_token_until bigint,
  p_session_id text, p_member_id text, p_expires_at bigint, p_key_thumbprint text, p_primary_key_id text,
  p_new_session boolean, p_max_live integer, p_refuse_when_full boolean, p_audit boolean, p_key_ids text[]
) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n integer;
  bound text;
BEGIN
  INSERT INTO tokumei.delivery_counters AS c (key, window_start, window_end, count) VALUES (p_rate_key, p_window_start, p_window_end, 1)
  ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN EXCLUDED.window_start > c.window_start THEN 1 ELSE c.count + 1 END,
    window_start = GREATEST(c.window_start, EXCLUDED.window_start),
    window_end = GREATEST(c.window_end, EXCLUDED.window_end)
  RETURNING count INTO n;
  IF n > p_rate_max THEN RETURN 'rate-limited'; END IF;
  IF p_once_id IS NOT NULL THEN
    INSERT INTO tokumei.once_ids AS o (id, expires_at) VALUES (p_once_id, p_once_until)
    ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE o.expires_at <= p_at;
    IF NOT FOUND THEN RETURN 'replayed'; END IF;
  END IF;
  INSERT INTO tokumei.token_records AS t (token_id, session_id, expires_at) VALUES (p_token_id, p_session_id, p_token_until)
  ON CONFLICT (token_id) DO UPDATE SET
    session_id = CASE WHEN t.expires_at <= p_at THEN EXCLUDED.session_id ELSE t.session_id END,
    expires_at = CASE WHEN t.expires_at <= p_at THEN EXCLUDED.expires_at ELSE GREATEST(t.expires_at, EXCLUDED.expires_at) END
  RETURNING session_id INTO bound;
  IF bound <> p_session_id THEN RETURN 'token-used'; END IF;
  IF p_new_session THEN
    -- The same per-member lock as the registry's capped insert: one member's inserts take turns.
    PERFORM pg_advisory_xact_lock(1953459062, hashtext(p_member_id));
    SELECT count(*) INTO n FROM tokumei.sessions WHERE member_id = p_member_id AND revoked_at IS NULL AND expires_at > p_at;
    IF n >= p_max_live THEN
      IF p_refuse_when_full THEN RETURN 'capped'; END IF;
      WITH revoked AS (
        UPDATE tokumei.sessions s SET revoked_at = p_at, revoked_reason = 'session-limit'
        WHERE s.revoked_at IS NULL AND s.session_id IN (
          SELECT session_id FROM tokumei.sessions
          WHERE member_id = p_member_id AND revoked_at IS NULL AND expires_at > p_at
          ORDER BY created_at, session_id LIMIT n - p_max_live + 1)
        RETURNING s.session_id, s.member_id
      )
      INSERT INTO tokumei.delivery_audit (at, kind, member_id, session_id, reason)
      SELECT p_at, 'revoked', member_id, session_id, 'session-limit' FROM revoked;
    END IF;
    INSERT INTO tokumei.sessions (session_id, member_id, created_at, expires_at, key_thumbprint, primary_key_id)
    VALUES (p_session_id, p_member_id, p_at, p_expires_at, p_key_thumbprint, p_primary_key_id);
  ELSE
    -- A resume answers only while the session lives, checked here with its row locked until the
    -- commit: a revocation committed before this statement is seen, a later one waits for the
    -- commit (one that is under way when it runs is waited for, then seen).
    PERFORM 1 FROM tokumei.sessions
    WHERE session_id = p_session_id AND member_id = p_member_id AND revoked_at IS NULL AND expires_at > p_at
      AND key_thumbprint IS NOT DISTINCT FROM p_key_thumbprint
    FOR SHARE;
    IF NOT FOUND THEN RETURN 'ended'; END IF;
  END IF;
  IF p_audit THEN
    INSERT INTO tokumei.delivery_audit (at, kind, member_id, session_id, key_ids, expires_at)
    VALUES (p_at, CASE WHEN p_new_session THEN 'delivered' ELSE 'resumed' END, p_member_id, p_session_id, p_key_ids, p_expires_at);
  END IF;
  RETURN 'committed';
END $$;
ALTER FUNCTION tokumei.refuse_audit_change() SET search_path = pg_catalog, pg_temp;
`,
  },
];

/** The schema version this library writes and reads. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** An arbitrary, fixed advisory lock key: "toku" in ASCII. */
const MIGRATION_LOCK = 0x746f6b75;

/**
 * Applies the migrations the database lacks, in one transaction.
 * @returns the schema version after the call
 * @throws TokumeiError `ERR_STORAGE_UNAVAILABLE` when the database has a newer schema than this
 *   library knows (an older instance must not write to it)
 */
export async function migrate(db: SqlDatabase, migrations: readonly Migration[] = MIGRATIONS): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query('CREATE SCHEMA IF NOT EXISTS tokumei');
    await tx.query('CREATE TABLE IF NOT EXISTS tokumei.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM tokumei.schema_migrations ORDER BY version');
    const applied = new Set(rows.map((r) => Number(r.version)));
    const known = migrations[migrations.length - 1]?.version ?? 0;
    const newest = Math.max(0, ...applied);
    if (newest > known) {
      throw new TokumeiError('ERR_STORAGE_UNAVAILABLE', `the database has schema version ${newest}, newer than this library's ${known}: upgrade tokumei before opening it`);
    }
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      for (const statement of splitStatements(m.sql)) await tx.query(statement);
      await tx.query('INSERT INTO tokumei.schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    return known;
  });
}

/**
 * Splits a migration into statements at semicolons that end a line, except inside a `$$` body
 * (each statement runs on its own, inside the one transaction).
 */
function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let inBody = false;
  for (const line of sql.split('\n')) {
    current += `${line}\n`;
    if ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) inBody = !inBody;
    if (!inBody && line.trimEnd().endsWith(';')) {
      out.push(current.trim());
      current = '';
    }
  }
  if (current.trim().length > 0) out.push(current.trim());
  return out;
}
