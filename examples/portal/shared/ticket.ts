// The attribute ticket (a JWS the key environment signs, the data environment verifies): it
// names the pseudonyms one key-environment session may use, for a few minutes, and nothing else.
//
//   header  { alg: "ES256", typ: TICKET_TYPE, kid }
//   payload { iss: <key env resource>, aud: <data env resource>, iat, exp, jti, psn: [pseudonym, …] }

/** The ticket's JOSE `typ`, so no other JWT passes as one. */
export const TICKET_TYPE = 'tokumei-demo-ticket+jwt';

/** How long a ticket lasts, in seconds; the portal asks for a new one before it runs out. */
export const TICKET_TTL_S: number = 5 * 60;

/** What the key environment answers the portal: the ticket and whose pseudonym is which. */
export interface TicketResponse {
  ticket: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** The member's own pseudonym. */
  self: string;
  /** Dependant record id → pseudonym. */
  dependants: Record<string, string>;
}
