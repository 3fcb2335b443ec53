// Sealed delivery of a member's keyring to the browser's ephemeral public key: the vault's
// wrapped keys are unwrapped into buffers wiped right after sealing. With TOKUMEI_DEMO_KEYLOG
// set, each delivered key is also appended to that file (tests only; like TLS's key log).
import { appendFileSync } from 'node:fs';
import { wipe } from '../../../src/internal/bytes.ts';
import { fromBase64url, toBase64url } from '../../../src/internal/bytes.ts';
import { DELIVERY_PROTOCOL, deliveryInfo, encodeKeyringPayload, suiteFor, type PayloadKey } from '../../../src/delivery/payload.ts';
import { sealBase } from '../../../src/server/hpke-seal.ts';
import { HttpError } from '../shared/http.ts';
import type { Vault } from './vault.ts';

/** Who gets which keys in this delivery. */
export interface DeliveryGrant {
  memberId: string;
  keyIds: string[];
  sessionId: string;
  expiresAt: number;
  keylog: string | undefined;
}

/** Answers a delivery request (docs/key-delivery.md) with the sealed keyring. */
export async function deliverKeyring(vault: Vault, body: Record<string, unknown>, grant: DeliveryGrant): Promise<Record<string, unknown>> {
  const suite = suiteFor(body.kem);
  const publicKey = typeof body.publicKey === 'string' ? fromBase64url(body.publicKey) : undefined;
  if (body.protocol !== DELIVERY_PROTOCOL || suite === undefined || publicKey === undefined) throw new HttpError(400, 'malformed delivery request');
  const keys: PayloadKey[] = [];
  let payload: Uint8Array | undefined;
  try {
    for (const keyId of grant.keyIds) keys.push({ keyId, key: await vault.memberKey(keyId) });
    if (grant.keylog !== undefined && grant.keylog !== '') {
      appendFileSync(grant.keylog, keys.map((k) => `MEMBER_KEY ${k.keyId} ${Buffer.from(k.key).toString('hex')}\n`).join(''));
    }
    payload = encodeKeyringPayload(keys, 0);
    let sealed: { enc: Uint8Array; ciphertext: Uint8Array };
    try {
      sealed = sealBase(suite, publicKey, deliveryInfo(grant.memberId, grant.sessionId, grant.expiresAt), new Uint8Array(0), payload);
    } catch {
      throw new HttpError(400, 'malformed public key');
    }
    return {
      protocol: DELIVERY_PROTOCOL,
      kem: body.kem,
      sessionId: grant.sessionId,
      memberId: grant.memberId,
      expiresAt: grant.expiresAt,
      enc: toBase64url(sealed.enc),
      ciphertext: toBase64url(sealed.ciphertext),
    };
  } finally {
    wipe(payload, ...keys.map((k) => k.key));
  }
}
