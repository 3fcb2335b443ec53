// Child process of no-freeze.test.ts (bundled with esbuild): X25519 HPKE seals in synchronous
// batches of 1,000 — the shape that froze Node 20 within ~10,000 keys with the old ephemeral key
// — printing the running count after each batch (the watchdog's heartbeat).
//   node --max-semi-space-size=1 freeze-probe.mjs <count> <fixed | stall>
// `stall` seals like `fixed` and, after 2,000 seals, blocks its main thread on a lock for good
// (a futex wait that nothing wakes): the positive control that the watchdog sees a freeze.
import { generateKeyPairSync } from 'node:crypto';
import { AEAD_AES256GCM, KEM_X25519 } from '../../../src/delivery/hpke.ts';
import { sealBase } from '../../../src/server/delivery/hpke-seal.ts';

const count = Number(process.argv[2]);
const mode = process.argv[3];
if (mode !== 'fixed' && mode !== 'stall') throw new Error(`mode expected fixed or stall, got ${mode}`);
const suite = { kem: KEM_X25519, aead: AEAD_AES256GCM } as const;
const recipient = generateKeyPairSync('x25519').publicKey;
const pkR = new Uint8Array(Buffer.from(recipient.export({ format: 'jwk' }).x!, 'base64url'));
const info = new Uint8Array(16);
const plaintext = new Uint8Array(100);

function batch(start: number): void {
  const end = Math.min(count, start + 1000);
  for (let i = start; i < end; i++) {
    sealBase(suite, pkR, info, info, plaintext);
  }
  process.stdout.write(`${end}\n`);
  if (mode === 'stall' && end >= 2000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // no one wakes it
  if (end < count) setImmediate(batch, end);
}
batch(0);
