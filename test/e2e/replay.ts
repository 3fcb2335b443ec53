// The attacker's side of the credential tests: ask the demo's key environment for a keyring
// with whatever was captured — a token, a whole set of request headers, a session id — and a
// fresh ephemeral key of the attacker's own. tokumei's own `httpKeyProvider` makes the request
// and opens the answer, so "a keyring came back" means exactly what it would for a real client.
import { httpKeyProvider } from '../../src/index.ts';
import type { RecordedRequest } from './demo-process.ts';
import { jwtParts, type TokenCandidates } from './token-scan.ts';

/** What one replay got. */
export interface ReplayResult {
  /** What was tried (never printed with its secrets: labels name the kind and the source). */
  label: string;
  /** Whether a keyring came back (the attack worked). */
  keyring: boolean;
  /** The error code otherwise (`ERR_AUTH`, `ERR_REVOKED`, …). */
  code?: string;
}

/** One attempt: the headers to send instead of the library's own, or a token and the key to prove it with. */
export interface ReplayAttempt {
  label: string;
  /** Replaces the request's `Authorization` and `DPoP` headers (and adds the others). */
  headers?: Record<string, string>;
  /** The token `httpKeyProvider` sends (with a proof of `proofKey`, else as a bearer token). */
  token?: string;
  proofKey?: CryptoKeyPair;
  /** Resume this session instead of opening one. */
  resume?: string;
}

// Headers a client does not choose: the transport sets them for the new request.
const TRANSPORT = new Set(['host', 'content-length', 'connection', 'content-type', 'transfer-encoding', 'keep-alive', 'accept-encoding', 'expect', 'upgrade']);

/** Tries one delivery (or resume) at `portal`'s key environment with a fresh ephemeral key. */
export async function replay(portal: string, attempt: ReplayAttempt): Promise<ReplayResult> {
  const { headers } = attempt;
  const provider = httpKeyProvider({
    url: `${portal.replace(/\/$/, '')}/key-env/session`,
    getToken: () => attempt.token ?? 'no-token',
    ...(attempt.proofKey === undefined ? {} : { dpopKey: attempt.proofKey }),
    retries: 0,
    timeoutMs: 15_000,
    ...(headers === undefined
      ? {}
      : {
          fetch: (url: RequestInfo | URL, init?: RequestInit) => {
            const h = new Headers(init?.headers);
            h.delete('authorization');
            h.delete('dpop');
            for (const [k, v] of Object.entries(headers)) if (!TRANSPORT.has(k.toLowerCase())) h.set(k, v);
            return fetch(url, { ...init, headers: h });
          },
        }),
  });
  try {
    const keys = await provider.fetchKeys(attempt.resume === undefined ? {} : { resume: attempt.resume });
    keys.keyring.destroy();
    return { label: attempt.label, keyring: true };
  } catch (err) {
    return { label: attempt.label, keyring: false, code: (err as { code?: string }).code ?? String(err) };
  }
}

/** Runs attempts a few at a time; resolves with every result. */
export async function replayAll(portal: string, attempts: readonly ReplayAttempt[], parallel = 8): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < attempts.length) results.push(await replay(portal, attempts[next++]!));
    }),
  );
  return results;
}

/** Every string a request carried: each header value and its space- or comma-separated parts, the URL and its parts, every body value. */
export function stringsOf(req: RecordedRequest): Set<string> {
  const out = new Set<string>();
  const add = (s: string): void => {
    if (s.length === 0) return;
    out.add(s);
    for (const part of s.split(/[\s,;=]+/)) if (part.length > 0) out.add(part);
  };
  for (const value of Object.values(req.headers)) for (const v of Array.isArray(value) ? value : [value]) add(v);
  add(req.url);
  const url = new URL(req.url, 'http://x');
  for (const segment of url.pathname.split('/')) add(decodeURIComponent(segment));
  for (const [k, v] of url.searchParams) {
    add(k);
    add(v);
  }
  const walk = (v: unknown): void => {
    if (typeof v === 'string') add(v);
    else if (typeof v === 'number' || typeof v === 'boolean') add(String(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        add(k);
        walk(x);
      }
    }
  };
  walk(req.body);
  return out;
}

/** The request's headers as one flat record (repeated headers joined as the wire does). */
export function flatHeaders(req: RecordedRequest): Record<string, string> {
  return Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]));
}

/**
 * Every way a set of found strings can be turned into a key request: each as a bearer token and
 * as a DPoP token proven with the attacker's key; each JWT also with every proof-shaped JWT
 * found as its `DPoP` header; and each JWT resuming every session-id-shaped string found (plus
 * `sessionIds` the attacker may know), with the attacker's key and with every proof found.
 * Opaque strings are not JWTs, which is all the key environment accepts: they are tried as
 * tokens only (and at the SSO as refresh tokens, elsewhere).
 */
export function attemptsFor(found: TokenCandidates, attackerKey: CryptoKeyPair, source: string, sessionIds: readonly string[] = []): ReplayAttempt[] {
  const proofs = [...found.jwts].filter((j) => jwtParts(j)?.header.typ === 'dpop+jwt');
  const jwts = [...found.jwts].filter((t) => jwtParts(t)?.header.typ !== 'dpop+jwt');
  const resumable = [...new Set([...found.sessionIds, ...sessionIds])];
  const attempts: ReplayAttempt[] = [];
  [...found.opaque].forEach((token, i) => {
    attempts.push({ label: `${source}: opaque string #${i} as a bearer token`, token });
    attempts.push({ label: `${source}: opaque string #${i} proven with the attacker's key`, token, proofKey: attackerKey });
  });
  jwts.forEach((token, i) => {
    attempts.push({ label: `${source}: JWT #${i} as a bearer token`, token });
    attempts.push({ label: `${source}: JWT #${i} proven with the attacker's key`, token, proofKey: attackerKey });
    proofs.forEach((proof, j) => attempts.push({ label: `${source}: JWT #${i} with proof #${j}`, headers: { authorization: `DPoP ${token}`, dpop: proof } }));
    resumable.forEach((sessionId, k) => {
      attempts.push({ label: `${source}: JWT #${i} resuming session #${k} with the attacker's key`, token, proofKey: attackerKey, resume: sessionId });
      proofs.forEach((proof, j) => attempts.push({ label: `${source}: JWT #${i} with proof #${j} resuming session #${k}`, headers: { authorization: `DPoP ${token}`, dpop: proof }, resume: sessionId }));
    });
  });
  return attempts;
}
