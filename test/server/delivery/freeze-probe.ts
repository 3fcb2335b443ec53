// Child process of no-freeze.test.ts (bundled with esbuild): X25519 HPKE seals in synchronous
// batches of 1,000 — the shape that froze Node 20 within ~10,000 keys with the old ephemeral key
// — printing the running count after each batch (the watchdog's heartbeat).
//   node --max-semi-space-size=1 freeze-probe.mjs <count> <fixed | control>
// `control` makes each ephemeral key the old way (generateKeyPairSync, then a JWK export of
// its public key): the positive control, which must freeze.
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { AEAD_AES256GCM, KEM_X25519 } from '../../../src/delivery/hpke.ts';
import { sealBase } from '../../../src/server/delivery/hpke-seal.ts';

const count = Number(process.argv[2]);
const control = process.argv[3] === 'control';
const suite = { kem: KEM_X25519, aead: AEAD_AES256GCM } as const;
const recipient = generateKeyPairSync('x25519').publicKey;
const pkR = new Uint8Array(Buffer.from(recipient.export({ format: 'jwk' }).x!, 'base64url'));
const info = new Uint8Array(16);
const plaintext = new Uint8Array(100);

function oldEphemeral(): void {
  const privateKey = generateKeyPairSync('x25519').privateKey;
  createPublicKey(privateKey).export({ format: 'jwk' });
  diffieHellman({ privateKey, publicKey: recipient });
}

function batch(start: number): void {
  const end = Math.min(count, start + 1000);
  for (let i = start; i < end; i++) {
    if (control) oldEphemeral();
    else sealBase(suite, pkR, info, info, plaintext);
  }
  process.stdout.write(`${end}\n`);
  if (end < count) setImmediate(batch, end);
}
batch(0);
