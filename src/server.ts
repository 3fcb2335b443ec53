/**
 * The key environment's toolkit (Node): member keys wrapped under a master key, sealed key
 * delivery to a browser session over HTTP, session revocation, re-wrapping and re-encryption;
 * and what producers and the data environment need: sealing records in a trusted back office,
 * keyed pseudonyms, matching search tokens.
 *
 * Re-exports only; no logic, nothing runs at import.
 *
 * @packageDocumentation
 * @module tokumei/server
 */
export { TokumeiError, type TokumeiErrorCode, type KeyUnavailableReason, type AuthChallenge } from './errors.ts';
export { defineSchema, type Schema, type SchemaSpec, type SchemaField, type FieldSpec, type FieldKind, type AttributeType, type FieldDeclaration, type FieldDeclarations, type SearchMode, type RecordOf, type RecordInput } from './records/schema.ts';
export { sealRecord, openRecord, type PlainRecord, type SealedRecord, type SealedRecordOf, type SealedRecordExtras, type RecordOptions, type SealOptions, type OpenOptions } from './records/record.ts';
export { MemberKey, generateMemberKey, importMemberKey } from './keys/member-key.ts';
export { Keyring, createKeyring, type KeySource } from './keys/keyring.ts';
export { searchToken } from './search/token.ts';
export { matchesSearch } from './search/match.ts';
export { pseudonym, generateLinkKey, type PseudonymOptions } from './pseudonym/pseudonym.ts';
export { createKeyEnvironment, KeyEnvironment, type KeyEnvironmentOptions, type KeyEnvironmentDpopOptions, type KeyVersion, type Authenticate, type Authenticated, type Credential, type DeliveryRequest, type DeliveryResponse, type DeliveryEvent, type RefreshResponse, type SessionStatusResponse, type DeliveryLimits, type TokenRate, type RekeyProgress } from './server/key-environment.ts';
export { oidcAuthenticator, type OidcAuthenticatorOptions } from './server/auth/oidc.ts';
export { authRefusal, type AuthRefusal, type AuthRefusalOptions } from './server/auth/challenge.ts';
export { dpopVerifier, type DpopVerifier, type DpopOptions, type DpopProof, type DpopProofRequest, type DpopAlgorithm, type ProofReplayStore } from './server/auth/dpop.ts';
export type { MasterKey } from './server/master-keys/master-key.ts';
export { KeyEnvironmentOutage } from './server/outage.ts';
export { localMasterKey, masterKeyFromEnv } from './server/master-keys/local.ts';
export { masterKeyFromFile, createMasterKeyFile, upgradeMasterKeyFile } from './server/master-keys/key-file.ts';
export { pkcs11MasterKey } from './server/master-keys/pkcs11/pkcs11-master-key.ts';
export type { Pkcs11MasterKey, Pkcs11MasterKeyOptions, Pkcs11Status } from './server/master-keys/pkcs11/options.ts';
export type { MemberKeyStore, WrappedMemberKey, NewMemberKey, MemberKeyChange } from './server/stores/member-key-store.ts';
export { memoryKeyStore } from './server/stores/memory-store.ts';
export type { SessionRegistry, SessionRecord, SessionCap } from './server/sessions/registry.ts';
export { memorySessionRegistry } from './server/sessions/memory-registry.ts';
export { openDatabase, type DatabaseOptions, type KeyEnvironmentDatabase } from './server/database/open.ts';
export { memoryDeliveryAudit, type DeliveryAuditLog, type AuditEvent, type AuditRecord } from './server/audit/delivery-audit.ts';
export { rewrapAll, type RewrapOptions, type RewrapResult } from './server/rotation/rewrap.ts';
export { reencryptRecords, type RecordCollection, type StoredRecord, type ReencryptOptions, type ReencryptProgress } from './server/rotation/reencrypt.ts';
export { keyEnvironmentHandler, type KeyEnvironmentHandler, type KeyEnvironmentHandlerOptions } from './server/http/handler.ts';
export { createKeyEnvironmentServer, type KeyEnvironmentServerOptions } from './server/http/server.ts';
