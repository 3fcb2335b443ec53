// The data environment holds no key, so it cannot tell a real envelope from a forged one; what it
// can refuse is anything that is not even shaped like one. Written from docs/format.md §2–§3
// alone (as another team's API would be), with node:buffer only:
//
//   "tk1." ‖ base64url( 0x01 ‖ len8(keyId) ‖ keyId ‖ nonce(12) ‖ ciphertext(B(n)) ‖ tag(16) )
//
// where B(n) is a bucket length (64, 80, 96, 112, 128, 160, …). Plaintext written as `tk1.`
// plus its base64url encoding almost never has that shape; one that does still fails the
// audit, which opens every envelope with its key.

const KEY_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const NONCE = 12;
const TAG = 16;
const MAX_VALUE_BYTES = 65_536;

/** docs/format.md §2: the padded length of a value of `n` UTF-8 bytes. */
function bucketLength(n: number): number {
  const m = n + 1;
  if (m <= 64) return 64;
  const e = 32 - Math.clz32(m - 1);
  const step = 2 ** (e - 3);
  return Math.ceil(m / step) * step;
}

const MAX_BODY_CHARS = Math.ceil(((2 + 64 + NONCE + bucketLength(MAX_VALUE_BYTES) + TAG) * 4) / 3);

/** Strict base64url (RFC 4648 §5, no padding, canonical last character), or `undefined`. */
function strictBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/**
 * Why `value` is not a well-formed v1 envelope of a valid bucket length, or `undefined` when
 * it is one. The reason names the rule, never the value.
 */
export function envelopeShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('tk1.')) return 'not a tk1 envelope';
  const text = value.slice(4);
  if (text.length > MAX_BODY_CHARS) return 'envelope too long';
  const body = strictBase64url(text);
  if (body === undefined) return 'envelope body is not canonical base64url';
  if (body.length < 2 || body[0] !== 1) return 'envelope version byte is not 1';
  const idLength = body[1]!;
  if (body.length < 2 + idLength || !KEY_ID.test(body.subarray(2, 2 + idLength).toString('latin1'))) return 'envelope key id is malformed';
  const ciphertext = body.length - 2 - idLength - NONCE - TAG;
  if (ciphertext < 64 || bucketLength(ciphertext - 1) !== ciphertext) return 'envelope ciphertext is not a bucket length';
  return undefined;
}
