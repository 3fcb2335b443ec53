// The data environment: the portal's database. It holds sealed identity records (keyed by
// record id) and attribute records (keyed by pseudonym), and never a key, a plaintext identity
// value, or the link between a pseudonym and a person. Its own process, port and database
// (storage.ts: the embedded PGlite in data-env/db, or DATA_ENV_DATABASE_URL's server).
//
// Authorization (auth.ts): identity records need the data environment's own DPoP-bound access
// token — an audience the key environment refuses — and are served to their member (and a
// member's dependants' records to that member). Attribute records need a ticket from the key
// environment naming their pseudonym; the pseudonym travels in the request body, never in a
// URL, so no access log holds one.
import { appendFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { IDENTITY_FIELDS } from '../shared/schemas.ts';
import { deploymentFromEnv } from '../shared/deployment.ts';
import { announce, HttpError, readJson, sendJson, serve } from '../shared/http.ts';
import { dataEnvironmentAuth } from './auth.ts';
import { envelopeShapeProblem } from './envelope-shape.ts';
import type { AttributeRecord, StoredIdentity, VitalsEntry } from './records.ts';
import { healthPoints, rankDepartments } from './ranking.ts';
import { openDataEnvironmentStorage } from './storage.ts';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const deployment = deploymentFromEnv();
// The ticket keys, where the key environment publishes them (its public address behind the
// portal's gateway, or DEMO_KEY_ENV_URL).
const auth = dataEnvironmentAuth(deployment, `${process.env.DEMO_KEY_ENV_URL ?? `${deployment.keyEnvironment}/`}ticket-keys`);
// Tests only: every request this process receives — method, URL, every header, the body — one
// JSON line each, so a test can replay all of it to the key environment.
const recordFile = process.env.TOKUMEI_DEMO_DATA_ENV_RECORD;
if (recordFile !== undefined && recordFile !== '') {
  const banner = '!'.repeat(78);
  console.warn(`${banner}\n!! TOKUMEI_DEMO_DATA_ENV_RECORD is set: every request the data environment receives\n!! is appended, credentials included, to ${recordFile}\n!! For tests only. Never set it anywhere real.\n${banner}`);
}
const storage = await openDataEnvironmentStorage(dataDir);

// Computed once, right after start-up rather than before it: the ranking is over every member's
// steps, which the demo does not change. A failure is retried by the next request that needs it.
let ranking: Promise<ReturnType<typeof rankDepartments>> | undefined;
function departmentRanking(): Promise<ReturnType<typeof rankDepartments>> {
  ranking ??= storage.allAttributes().then(rankDepartments, (err: unknown) => {
    ranking = undefined;
    throw err;
  });
  return ranking;
}

async function canRead(sub: string, id: string): Promise<boolean> {
  if (sub === id) return true;
  const own = await storage.identity(sub);
  return own?.dependants?.includes(id) === true;
}

/** The pseudonym a request names, if its ticket names it too: a pseudonym is not a capability by itself. */
function ticketed(pseudonym: unknown, allowed: ReadonlySet<string>): string {
  if (typeof pseudonym !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(pseudonym)) throw new HttpError(400, '"pseudonym" expected a pseudonym');
  if (!allowed.has(pseudonym)) throw new HttpError(403, 'the ticket does not name this pseudonym');
  return pseudonym;
}

function found<T>(value: T | undefined): T {
  if (value === undefined) throw new HttpError(404, 'no such record');
  return value;
}

/** Accepts a re-sealed identity record only if every identity field is a sealed value. */
function checkSealed(stored: StoredIdentity, body: Record<string, unknown>): void {
  for (const f of ['id', 'relation', 'dependants', 'holder'] as const) {
    if (JSON.stringify(body[f]) !== JSON.stringify(stored[f])) throw new HttpError(400, `field "${f}" cannot change`);
  }
  for (const f of IDENTITY_FIELDS) {
    // The data environment never accepts an identity value in the clear, nor anything that is
    // not shaped like a sealed one (docs/format.md §3).
    const problem = envelopeShapeProblem(body[f]);
    if (problem !== undefined) throw new HttpError(400, `field "${f}" must be a sealed value: ${problem}`);
  }
  const allowed = new Set<string>(['id', 'relation', 'dependants', 'holder', ...IDENTITY_FIELDS]);
  for (const k of Object.keys(body)) if (!allowed.has(k)) throw new HttpError(400, `unknown field "${k}"`);
}

function checkVitals(body: Record<string, unknown>): Omit<VitalsEntry, 'date'> {
  const num = (name: string, lo: number, hi: number): number => {
    const v = body[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw new HttpError(400, `"${name}" expected a number in [${lo}, ${hi}]`);
    return Math.round(v * 10) / 10;
  };
  return { weightKg: num('weightKg', 20, 300), systolic: num('systolic', 60, 260), diastolic: num('diastolic', 30, 180) };
}

/** Reads the body as JSON and, in tests, records the whole request. */
async function body(req: IncomingMessage, url: URL): Promise<Record<string, unknown>> {
  const json = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readJson(req);
  if (recordFile !== undefined && recordFile !== '') appendFileSync(recordFile, `${JSON.stringify({ method: req.method, url: url.pathname + url.search, headers: req.headers, body: json })}\n`);
  if (json === undefined) return {};
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HttpError(400, 'request body must be a JSON object');
  return json as Record<string, unknown>;
}

const { server, port } = await serve(async (req, res, url) => {
  const input = await body(req, url);
  const parts = url.pathname.split('/').filter((p) => p !== '');
  if (parts[0] === 'persons' && parts.length === 2) {
    const sub = await auth.member(req, url.pathname);
    const id = parts[1]!;
    if (!(await canRead(sub, id))) throw new HttpError(403, 'not your record');
    const stored = found(await storage.identity(id));
    if (req.method === 'GET') return sendJson(res, 200, stored);
    if (req.method === 'PUT') {
      if (id !== sub) throw new HttpError(403, 'only your own record can be changed');
      checkSealed(stored, input);
      if (!(await storage.replaceIdentity(input as StoredIdentity))) throw new HttpError(404, 'no such record');
      return sendJson(res, 200, { ok: true });
    }
  } else if (req.method === 'POST' && url.pathname === '/attributes/read') {
    const rec: AttributeRecord = found(await storage.attributes(ticketed(input.pseudonym, await auth.pseudonyms(req))));
    return sendJson(res, 200, { ...rec, points: healthPoints(rec), ranking: rec.departmentCode === undefined ? undefined : (await departmentRanking()).forMember(rec) });
  } else if (req.method === 'POST' && url.pathname === '/attributes/vitals') {
    const pseudonym = ticketed(input.pseudonym, await auth.pseudonyms(req));
    const entry: VitalsEntry = { date: new Date().toISOString().slice(0, 10), ...checkVitals(input) };
    // One entry per day: a second one the same day replaces the first.
    const rec = found(await storage.putVitals(pseudonym, entry));
    return sendJson(res, 200, { ok: true, entry, points: healthPoints(rec) });
  }
  throw new HttpError(404, 'not found');
}, Number(process.env.DEMO_SERVICE_PORT ?? '0'));

announce('data-env', server, port, () => storage.close());
setImmediate(() => departmentRanking().catch((err: unknown) => console.error('data-env: the department ranking could not be computed yet', err)));
