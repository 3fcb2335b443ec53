// The master key that wraps every member key at rest in the key environment: an interface, so
// that an HSM or a cloud KMS can stand behind it (local.ts is the local implementation).

/**
 * Wraps and unwraps member keys. Implement it over an HSM or a KMS (`Encrypt`/`Decrypt` with
 * the `context` as encryption context / AAD); {@link localMasterKey} is the local one.
 *
 * A wrapped value is opaque to the rest of the toolkit; `context` binds it to one member key
 * (member id, key id, version), so a wrapped key moved to another entry does not unwrap.
 */
export interface MasterKey {
  /** A public identifier of this master key, stored next to every key it wraps. */
  readonly id: string;
  /**
   * Wraps (encrypts and authenticates) `plaintext` (1 to 65,536 bytes), bound to `context`. The
   * implementation makes every IV or nonce itself.
   */
  wrap(plaintext: Uint8Array, context: Uint8Array): Promise<Uint8Array>;
  /**
   * Unwraps a value from {@link MasterKey.wrap}. Returns a buffer the caller owns and wipes.
   * Must throw `TokumeiError` `ERR_DECRYPTION_FAILED` when the value or context does not match.
   */
  unwrap(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array>;
}
