// One key-environment instance as its own process (bundled by instances.ts and run with node):
// the database named by TOKUMEI_DATABASE (a PostgreSQL URL, or `dir:<path>` for the embedded
// PGlite), the master key in TOKUMEI_MASTER_KEY_HEX, a test token check (`m~<member id>~<anything>`, plain bearer tokens), one shared secret for
// every instance in TOKUMEI_SHARED_SECRET_HEX, HTTP on
// an ephemeral port, announced as one JSON line on stdout.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memorySessionRegistry, openDatabase, type DeliveryLimits } from '../../../src/server.ts';

const where = process.env.TOKUMEI_DATABASE ?? '';
const db = await openDatabase(where.startsWith('dir:') ? { dir: where.slice(4) } : { url: where });
const env = createKeyEnvironment({
  masterKey: localMasterKey(new Uint8Array(Buffer.from(process.env.TOKUMEI_MASTER_KEY_HEX ?? '', 'hex'))),
  store: db.memberKeys,
  // TOKUMEI_SESSIONS=memory: sessions in this process only (the positive control of the tests).
  sessions: process.env.TOKUMEI_SESSIONS === 'memory' ? memorySessionRegistry() : db.sessions,
  audit: db.audit,
  authenticate: ({ token }) => (token.startsWith('m~') ? { memberId: token.split('~')[1]! } : null),
  dpop: { required: false },
  sharedSecret: new Uint8Array(Buffer.from(process.env.TOKUMEI_SHARED_SECRET_HEX ?? '', 'hex')),
  // TOKUMEI_LIMITS: the delivery ceilings as JSON (the tests of shared counts).
  ...(process.env.TOKUMEI_LIMITS === undefined ? {} : { limits: JSON.parse(process.env.TOKUMEI_LIMITS) as DeliveryLimits }),
});
const handler = keyEnvironmentHandler(env, { path: '/session', onError: (err) => console.error(err) });
const server = createServer((req, res) => void handler(req, res));
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, pid: process.pid })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void db.close().then(() => process.exit(0));
});
