// The `WWW-Authenticate` challenge of a 401 from the key environment (RFC 6750 §3, RFC 9449
// §7.1) (internal; `KeyEnvironment.authChallenge` is the public surface).

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
