// HKDF-SHA256 (RFC 5869) producing exactly 32 bytes into an off-heap buffer the caller owns.
// noble's `hkdf` returns its output and PRK as fresh small arrays, which V8 keeps on the JS
// heap where a scavenge may copy them (docs/threat-model.md §7); `digestInto` lets every secret intermediate
// live in an off-heap buffer that is wiped in `finally`.
import { allocSecret, wipe } from './bytes.ts';
import { hmacSha256Into } from './sha256.ts';

const ONE = /* @__PURE__ */ Uint8Array.of(1);

/**
 * HKDF-SHA256 with L = 32 (one expand block: T(1) = HMAC(PRK, info ‖ 0x01), RFC 5869 §2.3).
 * Writes the output key into `out` (32 bytes, off-heap, owned by the caller).
 */
export function hkdfSha256Into(out: Uint8Array, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): void {
  const prk = allocSecret(32);
  try {
    // RFC 5869 §2.2: salt defaults to HashLen zeros; HMAC pads an empty key with zeros to the same.
    hmacSha256Into(prk, salt, ikm);
    hmacSha256Into(out, prk, info, ONE);
  } finally {
    wipe(prk);
  }
}
