// The ticket endpoint (POST /ticket): a ticket for a live session of the caller's, for the
// data environment's attribute records. The request carries the key environment's access token
// with a fresh DPoP proof (with the server's nonce), and the proof's key must be the one the
// token and the session are bound to: a token or a session id read anywhere else gets no
// ticket. A refusal is answered as RFC 9449 asks (authRefusal): the nonce challenge, which the
// browser answers once; a bad proof; or a refused token — told apart by tokumei's refusal itself.
import type { IncomingMessage, ServerResponse } from 'node:http';
// In a key environment of your own this is `from 'tokumei/server'`.
import { authRefusal, TokumeiError, type Authenticate, type DpopVerifier, type SessionRegistry } from '../../../src/server.ts';
import { HttpError, readJson, sendJson } from '../shared/http.ts';
import type { TicketResponse } from '../shared/ticket.ts';

/** What the endpoint is built from. */
export interface TicketEndpointParts {
  /** Verifies the key environment's access tokens (the delivery endpoints' `authenticate`). */
  authenticate: Authenticate;
  /** Verifies the proofs; shares its nonce secret with the delivery endpoints. */
  proofs: DpopVerifier;
  /** The key environment's sessions. */
  sessions: Pick<SessionRegistry, 'get'>;
  /** The endpoint's URL as the browser calls it (the proofs' `htu`). */
  url: string;
  /** Signs the ticket for a member whose session is live. */
  issue(memberId: string): Promise<TicketResponse>;
}

/** Builds the endpoint: `(req, res)` for `POST /ticket` with body `{ sessionId }`. */
export function ticketEndpoint(parts: TicketEndpointParts): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { authenticate, proofs, sessions, url } = parts;

  async function memberOf(req: IncomingMessage, sessionId: unknown): Promise<string> {
    const token = /^DPoP (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined) throw new TokumeiError('ERR_AUTH', 'no DPoP access token'); // invalid_token
    const who = await authenticate({ token, scheme: 'DPoP', method: 'POST', url });
    if (who === null || who.keyThumbprint === undefined) throw new TokumeiError('ERR_AUTH', 'the access token is not DPoP-bound');
    const session = typeof sessionId === 'string' ? await sessions.get(sessionId) : undefined;
    if (session === undefined || session.revoked !== undefined || session.expiresAt <= Date.now() || session.memberId !== who.memberId || session.keyThumbprint !== who.keyThumbprint) throw new HttpError(410, 'no live session');
    const proof = req.headers.dpop;
    await proofs.verify({ proof: typeof proof === 'string' ? proof : undefined, method: 'POST', url, accessToken: token, thumbprint: who.keyThumbprint });
    return who.memberId;
  }

  return async (req, res) => {
    const { sessionId } = (await readJson(req)) as { sessionId?: unknown };
    const nonce = proofs.nonce();
    if (nonce !== undefined) res.setHeader('DPoP-Nonce', nonce);
    let ticket: TicketResponse;
    try {
      ticket = await parts.issue(await memberOf(req, sessionId));
    } catch (err) {
      const refusal = authRefusal(err, { algorithms: proofs.algorithms });
      if (refusal === undefined) throw err; // a 410, an outage: not a refused credential
      for (const [name, value] of Object.entries(refusal.headers)) res.setHeader(name, value);
      return sendJson(res, refusal.status, { error: 'ERR_AUTH' });
    }
    return sendJson(res, 200, ticket);
  };
}
