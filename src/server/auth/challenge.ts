// The answer to a refused credential: the `WWW-Authenticate` challenge of a 401 (RFC 6750 §3,
// RFC 9449 §7.1) and, for the nonce challenge, the `DPoP-Nonce` header (RFC 9449 §8, §9). One
// implementation for the key environment's handler (`KeyEnvironment.authChallenge`) and for
// resource servers (`authRefusal`).
import { TokumeiError, type AuthChallenge } from '../../errors.ts';
import { aobject } from '../../internal/bytes.ts';

/**
 * `DPoP algs="…"` (with `error="…"` when given) where DPoP is required; else `Bearer` too, a
 * token error on the Bearer challenge and a proof error on DPoP's.
 */
export function authChallenge(algorithms: readonly string[], dpopRequired: boolean, error: string | undefined): string {
  const algs = `algs="${algorithms.join(' ')}"`;
  if (dpopRequired) return `DPoP ${error === undefined ? '' : `error="${error}", `}${algs}`;
  // Bearer accepted too: a token error belongs to the Bearer challenge, a proof error to DPoP's.
  if (error === undefined) return `Bearer, DPoP ${algs}`;
  return error === 'invalid_token' ? `Bearer error="invalid_token", DPoP ${algs}` : `Bearer, DPoP error="${error}", ${algs}`;
}

// RFC 9449 §8.1: nonce = 1*NQCHAR (%x21 / %x23-5B / %x5D-7E).
const NONCE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;
const INVALID_TOKEN: AuthChallenge = Object.freeze({ error: 'invalid_token' });
const INVALID_PROOF: AuthChallenge = Object.freeze({ error: 'invalid_dpop_proof' });

/**
 * The challenge of an `ERR_AUTH` refusal, or `undefined` for any other error. A refusal that
 * names none (an `authenticate` of the caller's throwing its own `ERR_AUTH`) or a malformed one
 * is `invalid_token`.
 */
export function challengeOf(error: unknown): AuthChallenge | undefined {
  if (!(error instanceof TokumeiError) || error.code !== 'ERR_AUTH') return undefined;
  const c = error.challenge as { error?: unknown; nonce?: unknown } | undefined;
  if (c?.error === 'use_dpop_nonce' && typeof c.nonce === 'string' && NONCE.test(c.nonce)) return { error: 'use_dpop_nonce', nonce: c.nonce };
  return c?.error === 'invalid_dpop_proof' ? INVALID_PROOF : INVALID_TOKEN;
}

/** The 401's headers: `WWW-Authenticate` as given, and the nonce of a nonce challenge. */
export function refusalHeaders(wwwAuthenticate: string, challenge: AuthChallenge): Record<string, string> {
  return challenge.error === 'use_dpop_nonce' ? { 'WWW-Authenticate': wwwAuthenticate, 'DPoP-Nonce': challenge.nonce } : { 'WWW-Authenticate': wwwAuthenticate };
}

/** Options of {@link authRefusal}. */
export interface AuthRefusalOptions {
  /**
   * The algorithms the server accepts for DPoP proofs, for `algs="…"`: a {@link DpopVerifier}'s
   * `algorithms`. Default `['ES256']`.
   */
  algorithms?: readonly string[];
  /**
   * `true` when the server also accepts plain `Bearer` tokens: the challenge then names both
   * schemes (RFC 9449 §7.2), a token error on `Bearer`'s. Default `false` (DPoP required).
   */
  bearer?: boolean;
}

/** The HTTP answer to a refused credential, from {@link authRefusal}. */
export interface AuthRefusal {
  /** Always 401 (RFC 6750 §3.1, RFC 9449 §7.1, §9). */
  readonly status: 401;
  /** Which refusal it is (see {@link AuthChallenge}). */
  readonly challenge: AuthChallenge;
  /**
   * The response headers: `WWW-Authenticate` always; `DPoP-Nonce` for `use_dpop_nonce`. Other
   * answers may carry a fresh `DPoP-Nonce` too (RFC 9449 §8.2): add the verifier's `nonce()`.
   */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * How a resource server answers a refused credential, as RFC 9449 asks: HTTP 401 with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header when the proof lacks
 * the server's current nonce (the client retries once with it), `error="invalid_dpop_proof"`
 * for any other bad proof, `error="invalid_token"` for a missing or refused token — read from
 * the refusal's {@link TokumeiError.challenge}. The key environment's own handler
 * (`keyEnvironmentHandler`) answers the same way. The headers carry no token, proof or reason;
 * the reason stays in the error's `cause`, for the server's logs.
 *
 * @param error - what `dpopVerifier().verify`, `oidcAuthenticator` or your own check threw
 * @param options - see {@link AuthRefusalOptions}
 * @returns the status and headers; `undefined` when `error` is not a refused credential
 *   (`TokumeiError` `ERR_AUTH`): rethrow it (an outage, a bug) rather than answer 401
 * @throws TypeError for malformed options
 * @example
 * ```ts
 * import { authRefusal, dpopVerifier } from 'tokumei/server';
 * const proofs = dpopVerifier({ nonceSecret: sharedSecret });
 * try {
 *   await proofs.verify({ proof: req.headers.dpop, method: 'POST', url: 'https://data.example/api/records', accessToken, thumbprint: claims.cnf.jkt });
 * } catch (err) {
 *   const refusal = authRefusal(err, { algorithms: proofs.algorithms });
 *   if (refusal === undefined) throw err;
 *   res.writeHead(refusal.status, refusal.headers).end(); // use_dpop_nonce: the client retries with the nonce
 * }
 * ```
 */
export function authRefusal(error: unknown, options: AuthRefusalOptions = {}): AuthRefusal | undefined {
  aobject('options', options);
  const algorithms = options.algorithms ?? ['ES256'];
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => typeof a === 'string' && /^[A-Za-z0-9_-]{1,32}$/.test(a))) {
    throw new TypeError('"algorithms" expected a non-empty array of JWS algorithm names');
  }
  const bearer = options.bearer ?? false;
  if (typeof bearer !== 'boolean') throw new TypeError(`"bearer" expected boolean, got ${typeof bearer}`);
  const challenge = challengeOf(error);
  if (challenge === undefined) return undefined;
  return { status: 401, challenge, headers: refusalHeaders(authChallenge(algorithms, !bearer, challenge.error), challenge) };
}
