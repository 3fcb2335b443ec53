// A passing outage of what the key environment depends on (the master key's HSM or KMS, the key
// store): not "no key for this member". The HTTP handler answers it 503 with Retry-After, and
// the browser retries, where a missing key is a 404 it never retries.
import { TokumeiError } from '../errors.ts';

/**
 * Thrown when a dependency of the key environment — the master key's HSM or KMS, the member key
 * store — cannot serve the request now but may later. Its code is `ERR_KEY_UNAVAILABLE` (the
 * key cannot be used now), and unlike a member who has no key it is answered HTTP 503 with
 * `Retry-After` and reported to `onError`, so browsers retry and the operator is told.
 * `pkcs11MasterKey` throws it while its token is gone, hung or refuses the PIN; a
 * {@link MasterKey} or {@link MemberKeyStore} of your own (a cloud KMS, another database) should
 * throw it for time-outs and lost connections.
 *
 * @example
 * ```ts
 * import { KeyEnvironmentOutage } from 'tokumei/server';
 * try {
 *   await kms.decrypt(request);
 * } catch (cause) {
 *   throw new KeyEnvironmentOutage('the KMS did not answer', { cause, retryAfterMs: 5000 });
 * }
 * ```
 */
export class KeyEnvironmentOutage extends TokumeiError {
  /** When the client may try again, in ms (the `Retry-After` header, rounded up to seconds). */
  readonly retryAfterMs: number;

  /**
   * @param message - what is unavailable and why; never a secret (it goes to logs, not to browsers)
   * @param options - `cause`; `retryAfterMs` (default 5,000)
   * @throws RangeError when `retryAfterMs` is not a positive safe integer
   */
  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super('ERR_KEY_UNAVAILABLE', message, 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'KeyEnvironmentOutage';
    const after = options.retryAfterMs ?? 5000;
    if (!Number.isSafeInteger(after) || after <= 0) throw new RangeError(`"retryAfterMs" expected a positive integer, got ${String(after)}`);
    this.retryAfterMs = after;
  }
}
