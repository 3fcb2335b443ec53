// The end-of-session token: a capability, delivered with the session, that ends that session and
// nothing else. A page going away (`pagehide`) cannot wait for a DPoP signature, so the browser
// ends its session with this token in a `keepalive` request it can send synchronously. It is
// stateless — HMAC-SHA256 of the session id under the key environment's shared secret — so every
// instance that shares the secret accepts it, and a resume delivers the same token again.
import { toBase64url } from '../../internal/bytes.ts';
import { labelledTag, safeEqual } from './nonce.ts';

const END_LABEL = 'tokumei/v1/end-session';

/** Makes and checks end-of-session tokens (internal). */
export interface EndTokens {
  issue(sessionId: string): string;
  valid(sessionId: string, token: unknown): boolean;
}

/** @param secret - the key environment's shared secret (≥ 32 bytes) */
export function endTokens(secret: Uint8Array): EndTokens {
  const issue = (sessionId: string): string => toBase64url(labelledTag(secret, END_LABEL, sessionId));
  return { issue, valid: (sessionId, token) => typeof token === 'string' && safeEqual(token, issue(sessionId)) };
}
