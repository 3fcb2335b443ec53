// A key environment (tokumei/server) for browser tests: members M000001 (with dependant
// M000002), one bearer token, and the test-only key log, so residue scans know the delivered
// keys and their subkeys.
import type { webcrypto } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KEY_PARTS, keyParts } from './keys.ts';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore, type KeyEnvironment } from '../../src/server.ts';

/** The key environment's path on the test page server. */
export const KEY_ENV_PATH = '/key-env/session';
/** The bearer token of M000001. */
export const TOKEN = 'member-token-M000001';

/** A running test key environment. */
export interface TestKeyEnvironment {
  env: KeyEnvironment;
  handler: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
  /** Delivered keys by key id (from the key log). */
  logged: Map<string, Uint8Array>;
  /** Every delivered key and every part of it a scan looks for (KEY_PARTS), named. */
  needles(): { names: string[]; needles: Uint8Array[] };
}

/** Makes the key environment; serve `handler` with `servePage(entry, { handler })`. */
export async function startKeyEnvironment(): Promise<TestKeyEnvironment> {
  const logged = new Map<string, Uint8Array>();
  const env = createKeyEnvironment({
    masterKey: localMasterKey((globalThis.crypto as webcrypto.Crypto).getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    // `TOKEN~<anything>`: the page makes a fresh token for every sign-in (a token opens one session).
    authenticate: ({ token }) => (token.startsWith(`${TOKEN}~`) ? { memberId: 'M000001', dependants: ['M000002'] } : null),
    dpop: { required: false },
    // Tests only: the delivered keys, so the scan knows what to look for.
    unsafeKeyLog: (line) => {
      const [, keyId, hex] = line.split(' ');
      logged.set(keyId!, Uint8Array.from(Buffer.from(hex!, 'hex')));
    },
  });
  await env.createMemberKey('M000001', { keyId: 'M000001.v1' });
  await env.createMemberKey('M000002', { keyId: 'M000002.v1' });
  return {
    env,
    handler: keyEnvironmentHandler(env, { path: KEY_ENV_PATH }),
    logged,
    needles() {
      const names: string[] = [];
      const needles: Uint8Array[] = [];
      for (const [keyId, key] of logged) {
        const parts = keyParts(key);
        for (const part of KEY_PARTS) {
          names.push(`${keyId}.${part}`);
          needles.push(parts[part]);
        }
      }
      return { names, needles };
    },
  };
}
