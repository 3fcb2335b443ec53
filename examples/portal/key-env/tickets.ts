// Attribute tickets (shared/ticket.ts): the key environment signs, for one live session, a
// short-lived JWS naming the pseudonyms of the member and their dependants — computed here
// with the link key, which never leaves this process. The data environment checks the ticket
// with the public key published at `/ticket-keys`, and learns pseudonyms only, never whose.
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JSONWebKeySet } from 'jose';
import type { Deployment } from '../shared/deployment.ts';
import { TICKET_TTL_S, TICKET_TYPE } from '../shared/ticket.ts';

/** Signs tickets with a key made at start (in memory only; a restart just issues new tickets). */
export interface TicketIssuer {
  /** The public key, as a JWK Set for the data environment. */
  jwks: JSONWebKeySet;
  /** Signs a ticket for `pseudonyms`; resolves with it and its expiry (ms since the epoch). */
  issue(pseudonyms: readonly string[]): Promise<{ ticket: string; expiresAt: number }>;
}

/** Makes the signing key and the issuer. */
export async function ticketIssuer(deployment: Deployment): Promise<TicketIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = randomBytes(8).toString('base64url');
  return {
    jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] },
    async issue(pseudonyms) {
      const now = Math.floor(Date.now() / 1000);
      const ticket = await new SignJWT({ psn: [...pseudonyms] })
        .setProtectedHeader({ alg: 'ES256', typ: TICKET_TYPE, kid })
        .setIssuer(deployment.keyEnvironment)
        .setAudience(deployment.dataEnvironment)
        .setIssuedAt(now)
        .setExpirationTime(now + TICKET_TTL_S)
        .setJti(randomBytes(16).toString('base64url'))
        .sign(privateKey);
      return { ticket, expiresAt: (now + TICKET_TTL_S) * 1000 };
    },
  };
}
