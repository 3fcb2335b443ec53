// rewrapAll on the embedded database beside deliveries over HTTP. PGlite runs PostgreSQL on the
// calling thread and settles every statement as a microtask, so a pass over it never lets the
// event loop turn by itself: an HTTP request that arrives meanwhile is not even read until the
// pass yields. The library's PGlite gives each statement a turn of the event loop of its own
// (and the pass paces itself besides): deliveries started while the pass runs are answered
// before it ends. The control runs PGlite's statements as PGlite does and the pass unpaced —
// there, no delivery is answered before the pass ends. Ordering is asserted, never a duration.
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseDeliveryAudit } from '../../../src/server/audit/delivery-audit.ts';
import { migrate } from '../../../src/server/database/migrations.ts';
import { openPGlite, type SqlDatabase } from '../../../src/server/database/sql.ts';
import { keyEnvironmentHandler } from '../../../src/server/http/handler.ts';
import { createKeyEnvironmentServer } from '../../../src/server/http/server.ts';
import { createKeyEnvironment } from '../../../src/server/key-environment.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { pacer, type Pace } from '../../../src/server/rotation/pace.ts';
import { rewrapPaced } from '../../../src/server/rotation/rewrap.ts';
import { databaseSessionRegistry } from '../../../src/server/sessions/database-registry.ts';
import { databaseKeyStore } from '../../../src/server/stores/database-store.ts';

const MEMBERS = 120;
const DELIVERIES = 3;
const first = localMasterKey(new Uint8Array(32).fill(1), { id: 'mk.first' });
const second = localMasterKey(new Uint8Array(32).fill(2), { id: 'mk.second' });
const open: SqlDatabase[] = [];
afterAll(async () => {
  await Promise.all(open.map((db) => db.close()));
});

/** A migrated in-memory PGlite with MEMBERS keys under `first`, served over HTTP. */
async function keyEnvironment(turns: boolean) {
  const db = await openPGlite(undefined, { turns });
  open.push(db);
  await migrate(db);
  const store = databaseKeyStore(db);
  const audit = databaseDeliveryAudit(db);
  const admin = createKeyEnvironment({ masterKey: first, store, authenticate: () => null });
  for (let i = 0; i < MEMBERS; i++) await admin.createMemberKey(`M${i}`);
  const env = createKeyEnvironment({
    masterKey: second,
    previousMasterKeys: [first],
    store,
    sessions: databaseSessionRegistry(db, audit),
    audit,
    authenticate: ({ token }) => ({ memberId: `M${token.split('.')[0]!}` }),
    dpop: { required: false },
  });
  const server = createKeyEnvironmentServer(keyEnvironmentHandler(env, { path: '/session' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { store, server, port: (server.address() as AddressInfo).port };
}

let publicKey: string | undefined;
async function body(): Promise<string> {
  if (publicKey === undefined) {
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    publicKey = Buffer.from(await crypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
  }
  return JSON.stringify({ protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey });
}

function post(agent: Agent, port: number, token: string, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port, method: 'POST', path: '/session', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

interface Answered {
  status: number;
  /** Whether the pass had ended when the answer arrived. */
  afterPass: boolean;
}

/**
 * Runs a pass from `first` to `second` and, once its first batch is done, sends DELIVERIES
 * deliveries over HTTP; notes for each whether the pass had ended when it was answered.
 */
async function passBesideDeliveries(turns: boolean, pace: Pace) {
  const { store, server, port } = await keyEnvironment(turns);
  const payload = await body();
  const agent = new Agent({ keepAlive: false });
  let ended = false;
  let sent: Promise<Answered[]> | undefined;
  try {
    const result = await rewrapPaced(
      store,
      {
        from: first,
        to: second,
        batchSize: 10,
        onProgress: () => {
          sent ??= Promise.all(Array.from({ length: DELIVERIES }, (_, i) => post(agent, port, `${i}.t${i}`, payload).then((status) => ({ status, afterPass: ended }))));
        },
      },
      pace,
    );
    ended = true;
    return { result, answered: await sent! };
  } finally {
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('rewrapAll on PGlite beside deliveries over HTTP', () => {
  it('deliveries sent while the pass runs are answered before it ends (statements take turns, the pass paces itself)', async () => {
    const { result, answered } = await passBesideDeliveries(true, pacer());
    expect(result).toEqual({ total: MEMBERS, rewrapped: MEMBERS, alreadyCurrent: 0, verified: MEMBERS });
    expect(answered).toEqual(Array.from({ length: DELIVERIES }, () => ({ status: 200, afterPass: false })));
  }, 180_000);

  it('the turns alone suffice: an unpaced pass still lets them through', async () => {
    const { result, answered } = await passBesideDeliveries(true, () => undefined);
    expect(result.verified).toBe(MEMBERS);
    expect(answered).toEqual(Array.from({ length: DELIVERIES }, () => ({ status: 200, afterPass: false })));
  }, 180_000);

  it('the control: statements as PGlite runs them and an unpaced pass — no delivery is answered before the pass ends', async () => {
    const { result, answered } = await passBesideDeliveries(false, () => undefined);
    expect(result.verified).toBe(MEMBERS);
    expect(answered).toEqual(Array.from({ length: DELIVERIES }, () => ({ status: 200, afterPass: true })));
  }, 180_000);
});
