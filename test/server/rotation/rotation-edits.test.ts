// Rotation that loses no edit, end to end: a signed-in session (openSession on httpKeyProvider
// over node:http) keeps editing the member's records during each step of the documented
// procedure — rotate, wait until every session follows, re-encrypt, retire — and afterwards a
// keyring with only the new version opens every record, each with the last value written.
// The positive control is the old behaviour: a retire that does not wait for a session still
// sealing with the old version (written straight into the store, as `retireKeyVersion` used to)
// leaves that session's next edit opening nowhere.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineSchema, httpKeyProvider, openRecord, openSession, type SealedRecord, type Session } from '../../../src/index.ts';
import { decodeEnvelope } from '../../../src/records/envelope.ts';
import { unwrapEntry } from '../../../src/server/master-keys/wrap.ts';
import { changeState } from '../../../src/server/member-keys/versions.ts';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore, reencryptRecords, type KeyEnvironment, type MemberKeyStore, type RecordCollection } from '../../../src/server.ts';
import { codeOf } from '../../code-of.ts';

const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', note: 'identity' } });
const MEMBER = 'M000001';
const RECORDS = Array.from({ length: 24 }, (_, i) => `${MEMBER}-r${String(i).padStart(2, '0')}`);

const masterKey = localMasterKey(crypto.getRandomValues(new Uint8Array(32)));
let env: KeyEnvironment;
let store: MemberKeyStore;
let server: Server;
let url: string;

beforeAll(async () => {
  store = memoryKeyStore();
  env = createKeyEnvironment({
    masterKey,
    store,
    authenticate: ({ token }) => (token.startsWith('sso-') ? { memberId: MEMBER } : null),
    dpop: { required: false },
    rekeyGraceMs: 300,
    limits: { tokenRate: { max: 100_000, windowMs: 60_000 } },
  });
  server = createServer(keyEnvironmentHandler(env, { path: '/key-env/session' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/key-env/session`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The data environment's records: compare-and-swap on the value read. */
class Records implements RecordCollection {
  readonly rows = new Map<string, SealedRecord>();
  /** The last plaintext written per record: what must open at the end. */
  readonly expected = new Map<string, string>();

  write(recordId: string, record: SealedRecord, note: string): void {
    this.rows.set(recordId, record);
    this.expected.set(recordId, note);
  }

  list(after: string | undefined, limit: number): Promise<{ recordId: string; record: SealedRecord }[]> {
    const ids = [...this.rows.keys()].sort().filter((id) => after === undefined || id > after);
    return Promise.resolve(ids.slice(0, limit).map((recordId) => ({ recordId, record: this.rows.get(recordId)! })));
  }

  replace(recordId: string, record: SealedRecord, previous: SealedRecord): Promise<boolean> {
    if (this.rows.get(recordId) !== previous) return Promise.resolve(false);
    this.rows.set(recordId, record);
    return Promise.resolve(true);
  }
}

const keyIdOf = (record: SealedRecord): string => decodeEnvelope(record.note).keyId;
let edits = 0;

/** The member edits a record in the browser session; the portal stores the sealed result. */
async function edit(session: Session, records: Records, recordId: string): Promise<string> {
  const note = `edit ${++edits} of ${recordId}`;
  const sealed = await session.sealRecord(schema, { id: recordId, note }, { recordId });
  records.write(recordId, sealed, note);
  return keyIdOf(sealed);
}

async function signIn(token: string, revocationCheckMs?: number): Promise<Session> {
  return openSession({
    keyProvider: httpKeyProvider({ url, getToken: () => token, retries: 0 }),
    ...(revocationCheckMs === undefined ? {} : { revocationCheckMs }),
    wipeOnPagehide: false,
    crossTab: false,
  });
}

describe('rotate, re-encrypt, retire with a session editing at every step', () => {
  it('every record opens under the new version alone, each with its last edit', async () => {
    const v1 = await env.createMemberKey(MEMBER);
    const records = new Records();
    const session = await signIn('sso-a', 25);
    for (const id of RECORDS) expect(await edit(session, records, id)).toBe(v1.keyId);

    // 1. Rotate. The session may still seal with v1 until its next status check.
    const v2 = await env.rotateMemberKey(MEMBER);
    await edit(session, records, RECORDS[0]!);
    expect(await codeOf(env.retireKeyVersion(MEMBER, v1.keyId))).toBe('ERR_KEY_IN_USE');

    // 2. Wait until every session follows: the status check answers `rekey`, the session
    //    fetches its keyring again and reports the new key at its next check.
    await vi.waitFor(async () => expect((await env.rekeyProgress(MEMBER)).behind).toBe(0), { timeout: 10_000, interval: 20 });
    expect(await edit(session, records, RECORDS[1]!)).toBe(v2.keyId);

    // 3. Re-encrypt, while the member keeps editing records both ahead of and behind the run.
    const ring = await env.openKeyring(MEMBER);
    try {
      let batch = 0;
      const edits: Promise<string>[] = [];
      const run = await reencryptRecords({
        records,
        schema,
        keys: ring,
        batchSize: 5,
        onBatch: () => {
          const ahead = RECORDS[Math.min(RECORDS.length - 1, (batch + 1) * 5 + 2)]!;
          const behind = RECORDS[batch * 5]!;
          batch++;
          // Not awaited here: the edits race the run's next reads and compare-and-swap writes.
          edits.push(edit(session, records, ahead), edit(session, records, behind));
        },
      });
      expect(run.examined).toBe(RECORDS.length);
      expect(await Promise.all(edits)).toEqual(Array(edits.length).fill(v2.keyId));
      expect(edits.length).toBeGreaterThan(4);
      // Edits are sealed under v2 already: what the run did not move is under v2 too.
      const again = await reencryptRecords({ records, schema, keys: ring });
      expect(again.moved).toBe(0);
      expect(again.alreadyCurrent).toBe(RECORDS.length);
    } finally {
      ring.destroy();
    }

    // 4. Retire, once the switch is older than the grace.
    await vi.waitFor(async () => expect(await codeOf(env.retireKeyVersion(MEMBER, v1.keyId))).toBe('resolved'), { timeout: 10_000, interval: 50 });
    expect(await edit(session, records, RECORDS[2]!)).toBe(v2.keyId);

    const now = await env.openKeyring(MEMBER);
    try {
      expect(now.keyIds).toEqual([v2.keyId]);
      for (const [recordId, record] of records.rows) {
        expect(keyIdOf(record)).toBe(v2.keyId);
        expect(openRecord(now, schema, record, { recordId }).note).toBe(records.expected.get(recordId));
      }
    } finally {
      now.destroy();
    }
    await session.logoff();
  }, 60_000);

  it('control: a retire that does not wait for a session still on the old key loses its next edit', async () => {
    const member = await env.rotateMemberKey(MEMBER); // the current primary: v_n
    const records = new Records();
    const stale = await signIn('sso-b'); // never checks its status: keeps sealing with v_n
    const next = await env.rotateMemberKey(MEMBER);
    expect(await codeOf(env.retireKeyVersion(MEMBER, member.keyId))).toBe('ERR_KEY_IN_USE');

    // What retireKeyVersion used to do: mark the version retired without asking the sessions.
    const entry = (await store.versions(MEMBER)).find((e) => e.keyId === member.keyId)!;
    expect(await changeState(store, masterKey, (e) => unwrapEntry(masterKey, e), entry, 'retired')).toBeDefined();
    expect(await edit(stale, records, RECORDS[0]!)).toBe(member.keyId);
    const ring = await env.openKeyring(MEMBER);
    try {
      expect(ring.has(member.keyId)).toBe(false);
      expect(ring.primary.keyId).toBe(next.keyId);
      expect(() => openRecord(ring, schema, records.rows.get(RECORDS[0]!)!, { recordId: RECORDS[0]! })).toThrow(
        expect.objectContaining({ code: 'ERR_KEY_UNAVAILABLE' }) as Error,
      );
    } finally {
      ring.destroy();
      await stale.logoff();
    }
  }, 60_000);
});
