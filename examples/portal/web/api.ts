// The portal's calls to its two environments, same-origin through the portal's gateway:
// - /data-env/persons/… (sealed identity records) with the data environment's own access token
//   and a DPoP proof;
// - /key-env/ticket with the key environment's access token and a DPoP proof, for a ticket
//   naming the session's pseudonyms;
// - /data-env/attributes/… (checkups, vitals) with that ticket alone; the pseudonym goes in the
//   body, never in a URL.
import type { AttributeRecord, VitalsEntry } from '../data-env/records.ts';
import type { DepartmentRank, WalkerRank } from '../data-env/ranking.ts';
import type { TicketResponse } from '../shared/ticket.ts';
import type { SsoSession } from './sso.ts';

/** An attribute record as the data environment serves it, with points and ranking. */
export interface AttributeView extends AttributeRecord {
  points: number;
  ranking?: { departments: DepartmentRank[]; walkers: WalkerRank[]; yourRank: number; of: number };
}

/** An HTTP failure, with the status for the UI. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function json<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? `HTTP ${res.status}`);
  return body as T;
}

/** Ask for a new ticket when the current one has less than this left. */
const TICKET_MARGIN_MS = 30_000;

/** The API of a signed-in member: `sessionId` is the tokumei session's (the key environment's). */
export class PortalApi {
  readonly #sso: SsoSession;
  readonly #sessionId: () => string;
  #ticket: Promise<TicketResponse> | undefined;

  constructor(sso: SsoSession, sessionId: () => string) {
    this.#sso = sso;
    this.#sessionId = sessionId;
  }

  /** The session's ticket and pseudonyms (a fresh one when the current one is about to expire). */
  async ticket(): Promise<TicketResponse> {
    const current = await this.#ticket?.catch(() => undefined);
    if (current !== undefined && current.expiresAt - Date.now() > TICKET_MARGIN_MS) return current;
    this.#ticket = this.#sso.keyEnvironmentFetch('POST', '/key-env/ticket', { sessionId: this.#sessionId() }).then((r) => json<TicketResponse>(r));
    return this.#ticket;
  }

  /** A sealed identity record. */
  async person(id: string): Promise<Record<string, unknown>> {
    return json(await this.#sso.dataEnvironmentFetch('GET', `/data-env/persons/${encodeURIComponent(id)}`));
  }

  /** Stores the member's re-sealed identity record. */
  async putPerson(id: string, sealed: Record<string, unknown>): Promise<unknown> {
    return json(await this.#sso.dataEnvironmentFetch('PUT', `/data-env/persons/${encodeURIComponent(id)}`, sealed));
  }

  /** The attribute record filed under `pseudonym`. */
  attributes(pseudonym: string): Promise<AttributeView> {
    return this.#withTicket('/data-env/attributes/read', { pseudonym });
  }

  /** Records today's vitals under `pseudonym`. */
  addVitals(pseudonym: string, v: Omit<VitalsEntry, 'date'>): Promise<{ entry: VitalsEntry; points: number }> {
    return this.#withTicket('/data-env/attributes/vitals', { pseudonym, ...v });
  }

  async #withTicket<T>(path: string, body: object): Promise<T> {
    const { ticket } = await this.ticket();
    const res = await fetch(path, {
      method: 'POST',
      headers: { authorization: `Ticket ${ticket}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
    return json<T>(res);
  }
}
