// openDatabase on both engines: migrations applied once and recorded, a newer schema refused, the
// embedded database on disk (reopened with everything in it; one process at a time), the audit
// log append-only, a missing peer dependency a clear error, and a key environment end to end.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TokumeiError } from '../../../src/errors.ts';
import { openDatabase, type KeyEnvironmentDatabase } from '../../../src/server/database/open.ts';
import { MIGRATIONS, migrate, SCHEMA_VERSION } from '../../../src/server/database/migrations.ts';
import { loadPeer, openPostgres } from '../../../src/server/database/sql.ts';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { freshPostgresDatabase } from './postgres.ts';
import { codeOf, outcomeOf } from '../../code-of.ts';

const dir = mkdtempSync(join(tmpdir(), 'tokumei-db-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SLOW = 240_000; // each open of a new PGlite runs its initdb in WebAssembly

const x25519Body = () => ({ protocol: 'tokumei-key-delivery/1', kem: 'X25519', publicKey: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url') });

/** A key environment over `db`: a member key, a delivery, a logoff; what the audit log holds. */
async function roundTrip(db: KeyEnvironmentDatabase): Promise<void> {
  const env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: db.memberKeys,
    sessions: db.sessions,
    audit: db.audit,
    authenticate: () => ({ memberId: 'M1' }),
    dpop: { required: false },
  });
  const req = (body: object) => ({ authorization: 'Bearer t', method: 'POST', url: 'https://keys.example/session', body });
  const v1 = await env.createMemberKey('M1');
  const d = await env.deliverKeys(req(x25519Body()));
  expect(await env.sessionStatus(d.sessionId)).toBe('active');
  await env.deliverKeys(req({ ...x25519Body(), sessionId: d.sessionId }));
  await env.logoff(d.sessionId);
  expect(await env.sessionStatus(d.sessionId)).toBe('revoked');
  const log = await db.audit.read({ limit: 10 });
  expect(log.map((e) => [e.kind, e.sessionId, e.keyIds])).toEqual([
    ['delivered', d.sessionId, [v1.keyId]],
    ['resumed', d.sessionId, [v1.keyId]],
    ['revoked', d.sessionId, []],
  ]);
  expect(log[2]!.reason).toBe('logoff');
  expect(log[0]).toMatchObject({ memberId: 'M1', expiresAt: d.expiresAt });
  expect(log[1]!.seq).toBeGreaterThan(log[0]!.seq);
  expect(await db.audit.read({ after: log[1]!.seq, limit: 10 })).toEqual([log[2]]);
}

describe('openDatabase on PostgreSQL', () => {
  it('migrates once (also when instances start together), records it, and refuses a newer schema', async () => {
    const url = await freshPostgresDatabase();
    const [a, b] = await Promise.all([openDatabase({ url }), openDatabase({ url })]);
    expect(a.engine).toBe('postgresql');
    expect([a.schemaVersion, b.schemaVersion]).toEqual([SCHEMA_VERSION, SCHEMA_VERSION]);
    await roundTrip(a);
    await b.close();
    const raw = await openPostgres(url, 1);
    try {
      const { rows } = await raw.query<{ version: number }>('SELECT version FROM tokumei.schema_migrations');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      // Append-only: the table itself refuses to change or lose a row.
      for (const statement of ['UPDATE tokumei.delivery_audit SET member_id = $1', 'DELETE FROM tokumei.delivery_audit WHERE member_id = $1', 'TRUNCATE tokumei.delivery_audit']) {
        const err = await raw.query(statement, statement.includes('$1') ? ['M2'] : []).then(() => undefined, (e: Error) => e);
        expect(err?.message).toMatch(/append-only/);
      }
      expect((await a.audit.read({ limit: 10 })).map((e) => e.memberId)).toEqual(['M1', 'M1', 'M1']);
      // A database migrated by a newer library is not written to by this one.
      await raw.query("INSERT INTO tokumei.schema_migrations (version, name) VALUES (99, 'from the future')");
      expect(await codeOf(openDatabase({ url }))).toBe('ERR_STORAGE_UNAVAILABLE');
      expect(await codeOf(migrate(raw))).toBe('ERR_STORAGE_UNAVAILABLE');
    } finally {
      await raw.close();
      await a.close();
    }
  }, SLOW);
});

describe('PostgreSQL connections run READ COMMITTED whatever the database defaults to', () => {
  it("a database whose default is REPEATABLE READ: the library's connections (plain statements and transactions) are READ COMMITTED; control: a plain client is not", async () => {
    const url = await freshPostgresDatabase();
    const pg = await loadPeer<typeof import('pg')>('pg', '8.23.1');
    const admin = new pg.default.Client({ connectionString: url });
    await admin.connect();
    try {
      const name = (await admin.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!.name;
      await admin.query(`ALTER DATABASE "${name}" SET default_transaction_isolation TO 'repeatable read'`);
      const control = new pg.default.Client({ connectionString: url });
      await control.connect();
      expect((await control.query('SHOW transaction_isolation')).rows[0].transaction_isolation).toBe('repeatable read');
      await control.end();
      const db = await openPostgres(url, 3);
      try {
        const levels = await Promise.all(Array.from({ length: 6 }, () => db.query<{ transaction_isolation: string }>('SHOW transaction_isolation')));
        expect(levels.map((r) => r.rows[0]!.transaction_isolation)).toEqual(Array(6).fill('read committed'));
        expect(await db.transaction(async (tx) => (await tx.query<{ transaction_isolation: string }>('SHOW transaction_isolation')).rows[0]!.transaction_isolation)).toBe('read committed');
      } finally {
        await db.close();
      }
    } finally {
      await admin.end();
    }
  });
});

describe('PostgreSQL statements are prepared once per connection', () => {
  it('a statement with parameters is named (prepared) on its connection and reused; one without is not', async () => {
    const db = await openPostgres(await freshPostgresDatabase(), 1);
    try {
      for (const n of [1, 2, 3]) expect((await db.query<{ n: number }>('SELECT $1::int AS n', [n])).rows[0]!.n).toBe(n);
      await db.query('SELECT 1');
      const { rows } = await db.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements ORDER BY statement');
      // The parameterised statement was prepared once for its three runs (control: the plain one was not).
      expect(rows.map((r) => r.statement)).toEqual(['SELECT $1::int AS n']);
    } finally {
      await db.close();
    }
  });

  it("a table changed under a prepared statement (another instance migrated) costs one failed statement, not the connection's every later one", async () => {
    const url = await freshPostgresDatabase();
    const db = await openPostgres(url, 1);
    const pg = await loadPeer<typeof import('pg')>('pg', '8.23.1');
    const other = new pg.default.Client({ connectionString: url });
    await other.connect();
    try {
      await other.query('CREATE TABLE t (a integer)');
      await other.query('INSERT INTO t VALUES (7)');
      const read = () => db.query<{ a: unknown }>('SELECT a FROM t WHERE $1::int = 1', [1]);
      expect((await read()).rows).toEqual([{ a: 7 }]);
      await other.query('ALTER TABLE t ALTER COLUMN a TYPE text');
      // The server refuses the prepared plan once (SQLSTATE 0A000): the pool drops that
      // connection, so the next statement prepares afresh on a new one.
      const err = await read().then(() => undefined, (e: { code?: string }) => e);
      expect(err?.code).toBe('0A000');
      expect((await read()).rows).toEqual([{ a: '7' }]);
      // Control: a connection that keeps its prepared statement fails again and again.
      const kept = new pg.default.Client({ connectionString: url });
      await kept.connect();
      try {
        const q = { name: 'kept', text: 'SELECT a FROM t WHERE $1::int = 1', values: [1] };
        await kept.query(q);
        await other.query('ALTER TABLE t ALTER COLUMN a TYPE varchar');
        for (let i = 0; i < 2; i++) expect(await kept.query(q).then(() => 'ok', (e: { code?: string }) => e.code)).toBe('0A000');
      } finally {
        await kept.end();
      }
    } finally {
      await other.end();
      await db.close();
    }
  });

  it("a fresh pool's connections never get a statement while their set-up is still queued (pg warns of it, and pg 9 drops it)", async () => {
    // pg's own check for its "client.query() when the client is already executing a query"
    // deprecation (warned once per process, so counted here instead): a statement handed to a
    // client that still has one queued.
    const pg = await loadPeer<typeof import('pg')>('pg', '8.23.1');
    const proto = pg.default.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    let queuedBehind = 0;
    let calls = 0;
    let queueSeen = 0; // a pg whose client no longer has this queue would make the check vacuous
    proto.query = function (this: { _queryQueue?: unknown[] }, ...args: unknown[]) {
      calls++;
      if (Array.isArray(this._queryQueue)) queueSeen++;
      if ((this._queryQueue?.length ?? 0) > 0) queuedBehind++;
      return original.apply(this, args);
    };
    const db = await openPostgres(await freshPostgresDatabase(), 4);
    try {
      await Promise.all(Array.from({ length: 16 }, (_, i) => db.query('SELECT $1::int', [i])));
      await db.transaction((tx) => tx.query('SELECT 1'));
    } finally {
      proto.query = original;
      await db.close();
    }
    expect(calls).toBeGreaterThanOrEqual(16 + 4); // the spy saw the statements and the set-ups
    expect(queueSeen).toBe(calls);
    expect(queuedBehind).toBe(0);
  });
});

describe('openDatabase embedded (PGlite)', () => {
  it('on disk: everything is there after a reopen; a second open of the directory is refused while it is open', async () => {
    const path = join(dir, 'kenv');
    const db = await openDatabase({ dir: path });
    expect(db.engine).toBe('pglite');
    await roundTrip(db);
    const [entry] = await db.memberKeys.versions('M1');
    expect(await codeOf(openDatabase({ dir: path }))).toBe('ERR_STORAGE_UNAVAILABLE');
    await db.close();
    const again = await openDatabase({ dir: path });
    try {
      expect(await again.memberKeys.versions('M1')).toEqual([entry]);
      expect((await again.audit.read({ limit: 10 })).map((e) => e.kind)).toEqual(['delivered', 'resumed', 'revoked']);
    } finally {
      await again.close();
    }
  }, SLOW);

  it('a lock left by a process that died is taken over', async () => {
    const path = join(dir, 'stale');
    const db = await openDatabase({ dir: path });
    await db.close();
    writeFileSync(join(path, 'tokumei.lock'), '2147483646\n'); // no such process
    const again = await openDatabase({ dir: path });
    await again.close();
  }, SLOW);

  it('in memory: the same contract end to end', async () => {
    const db = await openDatabase({ inMemory: true });
    try {
      await roundTrip(db);
    } finally {
      await db.close();
    }
  }, SLOW);
});

describe('openDatabase boundaries', () => {
  it('a missing peer dependency is ERR_STORAGE_UNAVAILABLE naming the package; bad options are TypeError/RangeError', async () => {
    const err = await loadPeer('tokumei-no-such-peer', '1.0.0').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TokumeiError);
    expect((err as TokumeiError).code).toBe('ERR_STORAGE_UNAVAILABLE');
    expect((err as TokumeiError).message).toContain('npm install --save-exact tokumei-no-such-peer@1.0.0');
    expect(await outcomeOf(openDatabase({} as never))).toBe('TypeError');
    expect(await outcomeOf(openDatabase({ url: '' }))).toBe('RangeError');
    expect(await outcomeOf(openDatabase({ url: 'postgresql://x@/db?host=/tmp', maxConnections: 0 }))).toBe('RangeError');
  });
});
