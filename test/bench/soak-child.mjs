// The child process of the delivery soak (soak.mjs) and of the freeze regression test: runs
// key deliveries through the built `tokumei/server` in-process, sequentially, and prints the
// running count every `beat` deliveries (the watchdog's heartbeat).
//
//   node [--max-semi-space-size=1] test/bench/soak-child.mjs <count> <kems> [beat] [control]
//
// `kems` is `X25519`, `P-256` or `X25519,P-256` (alternating). With `control`, each delivery
// is followed by the pattern that deadlocks Node 20 (an X25519 key from generateKeyPairSync,
// then a JWK export of its public key): the positive control that shows the watchdog sees a
// freeze of this kind.
import { createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { createKeyEnvironment, localMasterKey, memoryKeyStore } from '../../dist/server.js';

const [countArg, kemsArg = 'X25519,P-256', beatArg = '1000', controlArg] = process.argv.slice(2);
const count = Number(countArg);
const kems = kemsArg.split(',');
const beat = Number(beatArg);
const control = controlArg === 'control';
const MEMBERS = 1000;

const env = createKeyEnvironment({
  masterKey: localMasterKey(webcrypto.getRandomValues(new Uint8Array(32))),
  store: memoryKeyStore(),
  // `M<n>~<i>`: a fresh bearer token for each delivery (a token opens one session only).
  authenticate: ({ token }) => ({ memberId: token.split('~')[0] }),
  dpop: { required: false },
  // Short sessions, so the registry keeps pruning what expired (bounded memory over the run).
  sessionLifetimeMs: 20_000,
  // No per-token or per-member ceiling in the way of a soak.
  limits: { maxSessionsPerMember: 100_000, tokenRate: { max: 1_000_000_000, windowMs: 1000 } },
});
for (let m = 0; m < MEMBERS; m++) await env.createMemberKey(`M${m}`);

async function publicKeyFor(kem) {
  const alg = kem === 'P-256' ? { name: 'ECDH', namedCurve: 'P-256' } : { name: 'X25519' };
  const pair = await webcrypto.subtle.generateKey(alg, false, ['deriveBits']);
  return Buffer.from(await webcrypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
}
const bodies = [];
for (const kem of kems) bodies.push({ protocol: 'tokumei-key-delivery/1', kem, publicKey: await publicKeyFor(kem) });

for (let i = 1; i <= count; i++) {
  const r = await env.deliverKeys({ authorization: `Bearer M${i % MEMBERS}~${i}`, method: 'POST', url: 'https://keys.example/session', body: bodies[i % bodies.length] });
  if (r.ciphertext.length === 0) throw new Error('empty delivery');
  if (control) createPublicKey(generateKeyPairSync('x25519').privateKey).export({ format: 'jwk' });
  if (i % beat === 0 || i === count) process.stdout.write(`${i}\n`);
}
const mem = process.memoryUsage();
process.stdout.write(`rss ${Math.round(mem.rss / 2 ** 20)} heapUsed ${Math.round(mem.heapUsed / 2 ** 20)}\n`);
