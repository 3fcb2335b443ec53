// Server-issued DPoP nonces (RFC 9449 §8), stateless: the nonce of a time window is an HMAC of
// the window's number under a secret, so every key-environment instance that shares the secret
// issues and accepts the same nonces without talking to the others. A nonce is accepted in its
// own window and the next, so between one and two window lengths after it was first issued.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { toBase64url } from '../../internal/bytes.ts';

const NONCE_LABEL = 'tokumei/v1/dpop-nonce';
const NONCE_BYTES = 16;

/** Issues and checks the nonces (internal). */
export interface NonceSource {
  /** The nonce of the current window. */
  current(now: number): string;
  /** Whether `nonce` is the current window's or the previous one's. */
  valid(nonce: string, now: number): boolean;
}

/** HMAC-SHA256(secret, label ‖ u64be(n)), truncated: a short, unguessable, labelled tag. */
export function labelledTag(secret: Uint8Array, label: string, data: string | number, bytes: number = NONCE_BYTES): Buffer {
  const h = createHmac('sha256', secret).update(label).update('\0');
  if (typeof data === 'number') {
    const n = Buffer.alloc(8);
    n.writeBigUInt64BE(BigInt(data));
    h.update(n);
  } else h.update(data, 'utf8');
  return h.digest().subarray(0, bytes);
}

/** Constant-time comparison of two strings (false when their lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * @param secret - shared by every instance (≥ 32 bytes)
 * @param windowMs - the window length
 */
export function nonceSource(secret: Uint8Array, windowMs: number): NonceSource {
  const cache = new Map<number, string>();
  const at = (window: number): string => {
    let n = cache.get(window);
    if (n === undefined) {
      n = toBase64url(labelledTag(secret, NONCE_LABEL, Math.max(0, window)));
      if (cache.size >= 4) cache.clear();
      cache.set(window, n);
    }
    return n;
  };
  return {
    current: (now) => at(Math.floor(now / windowMs)),
    valid(nonce, now) {
      const w = Math.floor(now / windowMs);
      // Both compared, always: the time taken does not say which window matched.
      const a = safeEqual(nonce, at(w));
      const b = safeEqual(nonce, at(w - 1));
      return a || b;
    },
  };
}
