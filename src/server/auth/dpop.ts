// DPoP proof verification (RFC 9449 §4.3): one compact JWS of `typ` `dpop+jwt`, signed with an
// allowed asymmetric algorithm by the public key in its `jwk` header; `htm` and `htu` name this
// request; `iat` is recent; `ath` is the hash of the access token it accompanies; a server nonce
// (§8) when nonces are on; and its `jti` is used once (§11.1). The key's RFC 7638 thumbprint is
// what tokens (`cnf.jkt`) and sessions are bound to.
import { createHash, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { ainteger, abytes, aobject } from '../../internal/bytes.ts';
import { nonceRequired, proofRefused, tokenRefused, type CredentialRefused } from './refusal.ts';
import { nonceSource, safeEqual, type NonceSource } from './nonce.ts';

/** The JWS algorithms a DPoP proof may use: asymmetric only (RFC 9449 §4.2), never `none` or HMAC. */
export type DpopAlgorithm = 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519' | 'PS256' | 'PS384' | 'PS512' | 'RS256' | 'RS384' | 'RS512';

const ASYMMETRIC: ReadonlySet<string> = new Set<DpopAlgorithm>(['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
// Members that only a private (or symmetric) JWK has (RFC 7517, RFC 7518 §6).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_PROOF_CHARS = 8192;
const MAX_JTI_CHARS = 256;

/** Where used proof ids are remembered (a `SessionRegistry` is one). */
export interface ProofReplayStore {
  /**
   * Remembers `id` until `expiresAt`, atomically.
   * @returns `true` the first time; `false` while `id` is remembered (its `expiresAt` is after `at`)
   */
  useOnce(id: string, expiresAt: number, at: number): Promise<boolean>;
}

/** Options of {@link dpopVerifier}. */
export interface DpopOptions {
  /** Algorithms accepted for proofs. Default `['ES256']` (what `httpKeyProvider` signs with). */
  algorithms?: readonly DpopAlgorithm[];
  /**
   * Require a server-issued nonce in every proof (RFC 9449 §8). Default `true`. A proof without
   * a valid one is refused with the challenge `use_dpop_nonce` and the current nonce.
   */
  nonces?: boolean;
  /**
   * The secret that keys the stateless nonces: 32 or more random bytes, the same on every
   * instance that must accept the others' nonces. Default: random per process.
   */
  nonceSecret?: Uint8Array;
  /** Length of a nonce's time window in seconds: a nonce is accepted for one to two windows. Default 300. */
  nonceWindowSeconds?: number;
  /** How far a proof's `iat` may lie from the server's clock, either way, in seconds. Default 300. */
  iatWindowSeconds?: number;
  /**
   * Where used proof ids are remembered until the proof could no longer be accepted anyway:
   * anything with a `useOnce` (a `SessionRegistry` is one). Shared by every instance, or a proof
   * may be replayed once to each instance within the `iat` window. Default: in this process.
   */
  replay?: ProofReplayStore;
  /** The clock (tests). Default `Date.now`. */
  now?: () => number;
}

/** What {@link DpopVerifier.verify} checks a proof against. */
export interface DpopProofRequest {
  /** The request's `DPoP` header: exactly one proof. */
  proof: string | undefined;
  /** The HTTP method of the request (`htm`). */
  method: string;
  /** The URL the client called, as it called it (`htu`; query and fragment are ignored). */
  url: string;
  /** The access token sent with the proof: its hash must be the proof's `ath`. */
  accessToken?: string;
  /**
   * When given: the thumbprint the proof's key must have (a token's `cnf.jkt`, a session's key).
   * Another key is `invalid_token` when `accessToken` is given (the token's key binding, RFC 9449
   * §7.1), else `invalid_dpop_proof`.
   */
  thumbprint?: string;
}

/** A verified proof. */
export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's public key, base64url. */
  thumbprint: string;
  /** The proof's `jti`. */
  jti: string;
  /** The proof's `iat`, seconds since the epoch. */
  iat: number;
}

/** Verifies DPoP proofs. Create one with {@link dpopVerifier}. */
export interface DpopVerifier {
  /**
   * Verifies a proof and uses up its `jti`.
   * @throws TokumeiError `ERR_AUTH` when the proof is refused (the reason is in `cause`, for
   *   logs); its `challenge` says which refusal: `{ error: 'use_dpop_nonce', nonce }` for a
   *   proof that passed every other check but lacks the current nonce, `{ error:
   *   'invalid_dpop_proof' }` otherwise — `authRefusal` turns it into the 401's headers
   */
  verify(request: DpopProofRequest): Promise<DpopProof>;
  /** The nonce to send in a `DPoP-Nonce` header, or `undefined` when nonces are off. */
  nonce(): string | undefined;
  /** The accepted algorithms, for `WWW-Authenticate: DPoP algs="…"`. */
  readonly algorithms: readonly DpopAlgorithm[];
}

/** A proof that passed every check but the replay check (internal). */
export interface CheckedProof extends DpopProof {
  replayId: string;
  replayUntil: number;
}

/** The verifier with its two steps apart, so a caller can authorize before using up the jti (internal). */
export interface DpopChecker extends DpopVerifier {
  check(request: DpopProofRequest): Promise<CheckedProof>;
  consume(proof: CheckedProof): Promise<void>;
  /** Where `consume` records used proof ids (a caller may record one itself, in its own transaction). */
  readonly replay: ProofReplayStore;
}

/** The normalized `htu` (RFC 9449 §4.3 step 9): scheme, authority and path; no query or fragment. */
export function normalizeHtu(value: string): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return undefined;
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username !== '' || u.password !== '') return undefined;
  u.search = '';
  u.hash = '';
  return u.href;
}

/** base64url(SHA-256(ASCII token)): the `ath` of a proof sent with that token. */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function memoryReplay(): ProofReplayStore {
  const seen = new Map<string, number>();
  return {
    useOnce(id, expiresAt, at) {
      let n = 0;
      for (const [k, e] of seen) {
        if (++n > 256) break;
        if (e <= at) seen.delete(k);
      }
      const e = seen.get(id);
      if (e !== undefined && e > at) return Promise.resolve(false);
      seen.delete(id);
      seen.set(id, expiresAt);
      return Promise.resolve(true);
    },
  };
}

/** The refusal of a proof whose jti was used before. */
export function proofReplayed(): CredentialRefused {
  return proofRefused('DPoP proof replayed (jti already used)');
}

/** The boundary check of {@link DpopOptions} and the verifier with its two steps (internal). */
export function dpopChecker(options: DpopOptions = {}): DpopChecker {
  aobject('options', options);
  const algorithms = [...(options.algorithms ?? ['ES256'])];
  if (algorithms.length === 0) throw new RangeError('"algorithms" expected at least one algorithm, got length=0');
  for (const a of algorithms) if (!ASYMMETRIC.has(a)) throw new RangeError(`"algorithms" expected asymmetric JWS algorithms, got '${String(a)}'`);
  const allowed = new Set<string>(algorithms);
  const useNonces = options.nonces ?? true;
  if (typeof useNonces !== 'boolean') throw new TypeError(`"nonces" expected boolean, got ${typeof useNonces}`);
  const secret = options.nonceSecret ?? randomBytes(32);
  abytes('nonceSecret', secret);
  if (secret.length < 32) throw new RangeError(`"nonceSecret" expected Uint8Array of at least 32 bytes, got length=${secret.length}`);
  const nonceWindow = options.nonceWindowSeconds ?? 300;
  ainteger('nonceWindowSeconds', nonceWindow, 10, 86_400);
  const iatWindow = options.iatWindowSeconds ?? 300;
  ainteger('iatWindowSeconds', iatWindow, 1, 86_400);
  const replay = options.replay ?? memoryReplay();
  if (typeof replay?.useOnce !== 'function') throw new TypeError('"replay" expected { useOnce }');
  const now = options.now ?? Date.now;
  const nonces: NonceSource | undefined = useNonces ? nonceSource(secret, nonceWindow * 1000) : undefined;

  async function check(req: DpopProofRequest): Promise<CheckedProof> {
    const { proof } = req;
    if (typeof proof !== 'string' || proof.length === 0) throw proofRefused('no DPoP proof');
    if (proof.length > MAX_PROOF_CHARS || !COMPACT_JWS.test(proof)) throw proofRefused('the DPoP header is not one compact JWS');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch (err) {
      throw proofRefused('malformed DPoP proof header', err);
    }
    if (header.typ !== 'dpop+jwt') throw proofRefused('DPoP proof typ is not dpop+jwt');
    const { alg, jwk } = header;
    if (typeof alg !== 'string' || !allowed.has(alg)) throw proofRefused('DPoP proof alg not allowed');
    if (!isObject(jwk)) throw proofRefused('DPoP proof has no jwk header');
    if (PRIVATE_MEMBERS.some((m) => m in jwk) || jwk.kty === 'oct') throw proofRefused('DPoP proof jwk is not a public key');
    let payload: Record<string, unknown>;
    try {
      const key = await importJWK(jwk as JWK, alg);
      if (!(key instanceof CryptoKey) || key.type !== 'public') throw new Error('not a public key');
      ({ payload } = await jwtVerify(proof, key, { algorithms: [alg], typ: 'dpop+jwt' }));
    } catch (err) {
      throw proofRefused('DPoP proof signature or key does not verify', err);
    }
    const { jti, htm, htu, iat, ath, nonce } = payload;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_CHARS) throw proofRefused('DPoP proof jti missing or malformed');
    if (htm !== req.method) throw proofRefused('DPoP proof htm does not match the request method');
    const expected = normalizeHtu(req.url);
    if (expected === undefined || typeof htu !== 'string' || normalizeHtu(htu) !== expected) throw proofRefused('DPoP proof htu does not match the request URL');
    const t = now();
    if (typeof iat !== 'number' || !Number.isFinite(iat) || Math.abs(t / 1000 - iat) > iatWindow) throw proofRefused('DPoP proof iat outside the accepted window');
    if (req.accessToken !== undefined && (typeof ath !== 'string' || !safeEqual(ath, accessTokenHash(req.accessToken)))) {
      throw proofRefused('DPoP proof ath does not match the access token');
    }
    if (req.accessToken === undefined && ath !== undefined) throw proofRefused('DPoP proof has ath but no access token came with it');
    let thumbprint: string;
    try {
      thumbprint = await calculateJwkThumbprint(jwk as JWK, 'sha256');
    } catch (err) {
      throw proofRefused('DPoP proof jwk has no thumbprint', err);
    }
    if (req.thumbprint !== undefined && !safeEqual(thumbprint, req.thumbprint)) {
      // RFC 9449 §7.1: a token bound to another key is an invalid token ("Invalid DPoP key
      // binding"); without a token (a session's key), the proof is the one refused.
      throw req.accessToken === undefined ? proofRefused('DPoP proof key is not the bound key') : tokenRefused('DPoP proof key is not the bound key (the token\'s cnf.jkt)');
    }
    // Last, so only a proof that is otherwise valid earns the nonce challenge's retry.
    if (nonces !== undefined && (typeof nonce !== 'string' || !nonces.valid(nonce, t))) {
      throw nonceRequired(nonces.current(t));
    }
    // The id binds the jti to the key, so two clients choosing one jti never collide.
    const replayId = createHash('sha256').update(`${thumbprint}\0${jti}`).digest('base64url');
    return { thumbprint, jti, iat, replayId, replayUntil: Math.ceil((iat + iatWindow) * 1000) + 1000 };
  }

  async function consume(p: CheckedProof): Promise<void> {
    if (!(await replay.useOnce(p.replayId, p.replayUntil, now()))) throw proofReplayed();
  }

  return {
    algorithms,
    check,
    consume,
    replay,
    async verify(req) {
      const p = await check(req);
      await consume(p);
      return { thumbprint: p.thumbprint, jti: p.jti, iat: p.iat };
    },
    nonce: () => nonces?.current(now()),
  };
}

/**
 * A DPoP proof verifier (RFC 9449) for a resource server — the key environment makes its own
 * from `createKeyEnvironment({ dpop })`; use this one in another service that accepts
 * DPoP-bound tokens (a data environment, for example). It checks: one compact JWS; `typ`
 * `dpop+jwt`; an allowed asymmetric `alg` (never `none` or HMAC); a public `jwk` header with no
 * private members, whose key verifies the signature; `htm` equal to the method; `htu` equal to
 * the URL (scheme, host, port and path, normalized; query and fragment ignored); `iat` within
 * `iatWindowSeconds` of the clock; `ath` equal to the access token's SHA-256 when a token comes
 * with it (and absent otherwise); the key's RFC 7638 thumbprint equal to the expected one when
 * given; a server nonce when nonces are on; and a `jti` not used before. A refusal is a
 * `TokumeiError` `ERR_AUTH` whose `challenge` says whether it is the nonce challenge
 * (`use_dpop_nonce`, checked last, so only an otherwise valid proof earns the retry) or a bad
 * proof; {@link authRefusal} builds the 401 for it.
 *
 * @param options - see {@link DpopOptions}
 * @returns the verifier
 * @throws TypeError / RangeError for malformed options (an empty or symmetric algorithm list, a
 *   short nonce secret)
 * @example
 * ```ts
 * import { dpopVerifier } from 'tokumei/server';
 * const dpop = dpopVerifier({ nonceSecret: sharedSecret });
 * const { thumbprint } = await dpop.verify({ proof: req.headers.dpop, method: 'POST', url: 'https://data.example/api/records', accessToken });
 * if (thumbprint !== claims.cnf.jkt) refuse();
 * ```
 */
export function dpopVerifier(options: DpopOptions = {}): DpopVerifier {
  const { verify, nonce, algorithms } = dpopChecker(options);
  return { verify, nonce, algorithms };
}
