// The data environment: the portal's database. It holds sealed identity records (keyed by
// record id) and attribute records (keyed by pseudonym), and never a key, a plaintext identity
// value, or the link between a pseudonym and a person. Its own process, port and folder.
//
// Authorization, kept simple for a demo: every request carries an SSO bearer token. Identity
// records are served to their own member (and a member's dependants' records to that member).
// Attribute records are addressed by pseudonym, which only the key environment can compute and
// which is unguessable (HMAC-SHA256): the pseudonym is the capability. A production system
// would rather have the key environment sign a short-lived ticket naming the pseudonyms.
import { join } from 'node:path';
import { IDENTITY_FIELDS } from '../shared/schemas.ts';
import { announce, bearerToken, HttpError, readJson, sendJson, serve, ssoVerifier } from '../shared/http.ts';
import { JsonDir } from '../shared/json-dir.ts';
import { envelopeShapeProblem } from './envelope-shape.ts';
import { DATA_ENV_DIRS, type AttributeRecord, type StoredIdentity, type VitalsEntry } from './records.ts';
import { healthPoints, rankDepartments } from './ranking.ts';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const verify = ssoVerifier(process.env.DEMO_SSO_URL ?? 'http://127.0.0.1:0/');
const identities = new JsonDir<StoredIdentity>(join(dataDir, DATA_ENV_DIRS.identities));
const attributes = new JsonDir<AttributeRecord>(join(dataDir, DATA_ENV_DIRS.attributes));

// Loaded once: the ranking is over every member's steps, which the demo does not change.
const allAttributes: AttributeRecord[] = attributes.ids().map((p) => attributes.get(p)!);
const ranking = rankDepartments(allAttributes);

function canRead(sub: string, id: string): boolean {
  if (sub === id) return true;
  const own = identities.get(sub);
  return own?.dependants?.includes(id) === true;
}

function attributeRecord(pseudonym: string): AttributeRecord {
  const rec = /^[A-Za-z0-9_-]{16,128}$/.test(pseudonym) ? attributes.get(pseudonym) : undefined;
  if (rec === undefined) throw new HttpError(404, 'no such record');
  return rec;
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

const { server, port } = await serve(async (req, res, url) => {
  const sub = await verify(bearerToken(req));
  const parts = url.pathname.split('/').filter((p) => p !== '');
  if (parts[0] === 'persons' && parts.length === 2) {
    const id = parts[1]!;
    if (!canRead(sub, id)) throw new HttpError(403, 'not your record');
    const stored = identities.get(id);
    if (stored === undefined) throw new HttpError(404, 'no such record');
    if (req.method === 'GET') return sendJson(res, 200, stored);
    if (req.method === 'PUT') {
      if (id !== sub) throw new HttpError(403, 'only your own record can be changed');
      const body = (await readJson(req)) as Record<string, unknown>;
      checkSealed(stored, body);
      identities.put(id, body as StoredIdentity);
      return sendJson(res, 200, { ok: true });
    }
  } else if (parts[0] === 'attributes' && parts.length >= 2) {
    const rec = attributeRecord(parts[1]!);
    if (req.method === 'GET' && parts.length === 2) {
      return sendJson(res, 200, { ...rec, points: healthPoints(rec), ranking: rec.departmentCode === undefined ? undefined : ranking.forMember(rec) });
    }
    if (req.method === 'POST' && parts[2] === 'vitals' && parts.length === 3) {
      const entry: VitalsEntry = { date: new Date().toISOString().slice(0, 10), ...checkVitals((await readJson(req)) as Record<string, unknown>) };
      // One entry per day: a second one the same day replaces the first.
      rec.vitals = [...rec.vitals.filter((v) => v.date !== entry.date), entry];
      attributes.put(rec.pseudonym, rec);
      return sendJson(res, 200, { ok: true, entry, points: healthPoints(rec) });
    }
  }
  throw new HttpError(404, 'not found');
}, Number(process.env.DEMO_SERVICE_PORT ?? '0'));

announce('data-env', server, port);
