// The portal's calls to its three back ends, all same-origin through the portal's gateway:
// /sso (sign-in), /key-env (key delivery, pseudonyms), /data-env (sealed records, attributes).
import type { AttributeRecord, VitalsEntry } from '../data-env/records.ts';
import type { DepartmentRank, WalkerRank } from '../data-env/ranking.ts';

/** What the SSO hands back at sign-in. */
export interface SsoToken {
  accessToken: string;
  memberId: string;
}

/** An attribute record as the data environment serves it, with points and ranking. */
export interface AttributeView extends AttributeRecord {
  points: number;
  ranking?: { departments: DepartmentRank[]; walkers: WalkerRank[]; yourRank: number; of: number };
}

/** Pseudonyms of the member and their dependants, from the key environment. */
export interface Pseudonyms {
  self: string;
  dependants: Record<string, string>;
}

/** An HTTP failure, with the status for the UI. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function call<T>(method: string, path: string, token: string | undefined, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const json = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(res.status, json.error ?? `HTTP ${res.status}`);
  return json as T;
}

/** Signs in at the mock SSO. */
export function signIn(id: string, password: string): Promise<SsoToken> {
  return call('POST', '/sso/token', undefined, { id, password });
}

/** Ends the SSO token (best effort). */
export function signOutSso(token: string): Promise<unknown> {
  return call('POST', '/sso/logout', token).catch(() => undefined);
}

/** The API of a signed-in member. */
export function api(token: string): {
  pseudonyms: () => Promise<Pseudonyms>;
  person: (id: string) => Promise<Record<string, unknown>>;
  putPerson: (id: string, sealed: Record<string, unknown>) => Promise<unknown>;
  attributes: (pseudonym: string) => Promise<AttributeView>;
  addVitals: (pseudonym: string, v: Omit<VitalsEntry, 'date'>) => Promise<{ entry: VitalsEntry; points: number }>;
} {
  return {
    pseudonyms: () => call('GET', '/key-env/pseudonyms', token),
    person: (id) => call('GET', `/data-env/persons/${encodeURIComponent(id)}`, token),
    putPerson: (id, sealed) => call('PUT', `/data-env/persons/${encodeURIComponent(id)}`, token, sealed),
    attributes: (p) => call('GET', `/data-env/attributes/${encodeURIComponent(p)}`, token),
    addVitals: (p, v) => call('POST', `/data-env/attributes/${encodeURIComponent(p)}/vitals`, token, v),
  };
}
