// Issue 4 §7: key delivery.
// 1. Deliveries per second on one core: the key environment's whole `deliverKeys` (token check,
//    unwrap of the member's keys under the master key, payload, HPKE Encap + Seal, session
//    registration), sequential in this one Node process; P-256 and X25519. Target ≥ 2,000/s.
// 2. In Chromium: from the HTTP response in hand to a usable keyring (parse, WebCrypto DH,
//    HKDF key schedule, AES-256-GCM open, keys into off-heap buffers), measured in the page with
//    performance.now() (cross-origin isolated, so the clock is not coarsened). Target ≤ 2 ms median.
import { fileURLToPath } from 'node:url';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore } from '../../dist/server.js';
import { withBenchPage } from './chromium-page.mjs';
import { fmt, median } from './stats.mjs';

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

async function makeEnv() {
  const env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    // A member with their own key and one dependant: a keyring of two keys.
    authenticate: ({ token }) => (token.startsWith('tok~') ? { memberId: 'M000001', dependants: ['M000002'] } : null),
    dpop: { required: false },
  });
  await env.createMemberKey('M000001');
  await env.createMemberKey('M000002');
  return env;
}

async function publicKeyFor(kem) {
  const alg = kem === 'P-256' ? { name: 'ECDH', namedCurve: 'P-256' } : { name: 'X25519' };
  const pair = await crypto.subtle.generateKey(alg, false, ['deriveBits']);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return Buffer.from(raw).toString('base64url');
}

async function deliveriesPerSecond(env, kem, { rounds = 9, perRound = 1000 } = {}) {
  const body = { protocol: 'tokumei-key-delivery/1', kem, publicKey: await publicKeyFor(kem) };
  // A fresh bearer token each time: a token opens one session only (the single-use record is part of the cost).
  let n = 0;
  const request = () => ({ authorization: `Bearer tok~${++n}`, method: 'POST', url: 'https://keys.example/session', body });
  for (let i = 0; i < 300; i++) await env.deliverKeys(request()); // warm-up (JIT)
  const rates = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) await env.deliverKeys(request());
    rates.push(perRound / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  return median(rates);
}

const PAGE = `
import { httpKeyProvider } from ${JSON.stringify(dist)};
globalThis.bench = async (runs, kem) => {
  const toKeyring = [];
  const signIn = [];
  for (let i = 0; i < runs; i++) {
    let tResponse = 0;
    const provider = httpKeyProvider({
      url: '/kx',
      getToken: () => `tok~${Math.random()}`,
      kem,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        const text = await res.text(); // the whole response is in hand
        tResponse = performance.now();
        return new Response(text, { status: res.status });
      },
    });
    const t0 = performance.now();
    const keys = await provider.fetchKeys({});
    const t1 = performance.now();
    if (keys.keyring.primary.keyId === undefined || keys.keyring.keyIds.length !== 2) throw new Error('bad keyring');
    toKeyring.push(t1 - tResponse);
    signIn.push(t1 - t0);
    keys.keyring.destroy();
  }
  return { toKeyring, signIn, isolated: crossOriginIsolated };
};
`;

async function chromiumResponseToKeyring(env) {
  const keyEnv = keyEnvironmentHandler(env, { path: '/kx' });
  const answer = (req, res) => req.url.startsWith('/kx') && (keyEnv(req, res), true);
  return withBenchPage(PAGE, async (page) => {
    const results = {};
    for (const kem of ['P-256', 'X25519']) {
      await page.evaluate((k) => globalThis.bench(20, k), kem); // warm-up
      results[kem] = await page.evaluate((k) => globalThis.bench(200, k), kem);
    }
    return results;
  }, answer);
}

export async function run() {
  const env = await makeEnv();
  console.log('delivery (key environment, one core, sequential deliverKeys, keyring of 2 keys, median of 9 rounds x 1,000)');
  for (const kem of ['P-256', 'X25519']) {
    console.log(`  ${kem.padEnd(7)} ${fmt(await deliveriesPerSecond(env, kem), 0)} deliveries/s (target >= 2,000/s)`);
  }
  let browser;
  try {
    browser = await chromiumResponseToKeyring(env);
  } catch (err) {
    console.log(`  Chromium: skipped (${err.message.split('\n')[0]})`);
    return;
  }
  const ms = (xs) => `${fmt(median(xs), 3)} ms`;
  for (const [kem, r] of Object.entries(browser)) {
    console.log(`delivery (Chromium, in-page, ${kem}, median of ${r.toKeyring.length})` + (r.isolated ? '' : ' [clock coarsened]'));
    console.log(`  response in hand -> usable keyring: ${ms(r.toKeyring)} (target <= 2 ms)`);
    console.log(`  whole sign-in over loopback HTTP:   ${ms(r.signIn)} (key pair, request, delivery, open)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
