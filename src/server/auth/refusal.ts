// The refusal of a credential: one error code (`ERR_AUTH`, HTTP 401) and one message for every
// reason, with the reason in `cause` for the server's own logs only, and the RFC 6750 / RFC 9449
// challenge the 401 answers with in the public `challenge` (errors.ts: `AuthChallenge`).
import { TokumeiError, type AuthChallenge } from '../../errors.ts';

/** The `error` of the `WWW-Authenticate` challenge (RFC 6750 §3.1, RFC 9449 §7.1, §8). */
export type AuthChallengeError = AuthChallenge['error'];

/** `ERR_AUTH` with the challenge to send (internal: callers see a `TokumeiError` with `challenge`). */
export class CredentialRefused extends TokumeiError {
  /** What the 401 says: the `WWW-Authenticate` error, and the nonce for `use_dpop_nonce`. */
  override readonly challenge: AuthChallenge;

  constructor(challenge: AuthChallenge, reason: string, cause?: unknown) {
    // The reason stays on the server (onRefused, logs); the browser only ever sees ERR_AUTH.
    super('ERR_AUTH', 'the credential was refused', { cause: cause === undefined ? new Error(reason) : new Error(reason, { cause }) });
    this.name = 'TokumeiError';
    this.challenge = Object.freeze({ ...challenge });
  }
}

/** A refusal of the access token (or of a request that needs one and has none). */
export function tokenRefused(reason: string, cause?: unknown): CredentialRefused {
  return new CredentialRefused({ error: 'invalid_token' }, reason, cause);
}

/** A refusal of the DPoP proof. */
export function proofRefused(reason: string, cause?: unknown): CredentialRefused {
  return new CredentialRefused({ error: 'invalid_dpop_proof' }, reason, cause);
}

/** The nonce challenge: the proof is otherwise valid but lacks the current nonce, `nonce`. */
export function nonceRequired(nonce: string): CredentialRefused {
  return new CredentialRefused({ error: 'use_dpop_nonce', nonce }, 'DPoP proof without a current server nonce');
}
