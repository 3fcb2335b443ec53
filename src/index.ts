/**
 * The portal page's side of tokumei (browsers and Node): sign in and hold a member's keyring in a
 * session (`openSession`, `httpKeyProvider`), open and seal identity records (`defineSchema`,
 * `openRecord`, `sealRecord`), make search tokens, and the typed errors (`TokumeiError`).
 *
 * Re-exports only; no logic, nothing runs at import.
 *
 * @packageDocumentation
 * @module tokumei
 */
export { TokumeiError, type TokumeiErrorCode, type KeyUnavailableReason } from './errors.ts';
export { defineSchema, type Schema, type SchemaSpec, type SchemaField, type FieldSpec, type FieldKind, type AttributeType, type FieldDeclaration, type FieldDeclarations, type SearchMode, type RecordOf, type RecordInput } from './records/schema.ts';
export { sealRecord, openRecord, type PlainRecord, type SealedRecord, type SealedRecordOf, type SealedRecordExtras, type RecordOptions, type SealOptions, type OpenOptions } from './records/record.ts';
export { MemberKey, generateMemberKey, importMemberKey } from './keys/member-key.ts';
export { Keyring, createKeyring, type KeySource } from './keys/keyring.ts';
export { openSession, type Session, type SessionOptions, type SessionState, type SessionPersistence, type SessionEventMap, type WipedEvent, type IdleEvent, type WipeReason } from './session/session.ts';
export { createSessionStore, type SessionStore, type SessionSnapshot, type SessionStoreStatus } from './session/store.ts';
export { memoryKeyProvider, type MemoryKeyProvider, type MemoryKeyProviderOptions } from './session/memory-key-provider.ts';
export type { KeyProvider, SessionKeys, SessionStatus } from './session/key-provider.ts';
export { searchToken } from './search/token.ts';
export { httpKeyProvider, type HttpKeyProviderOptions } from './delivery/http-key-provider.ts';
export { diagnoseKeyEnvironment, type KeyEnvironmentDiagnosis } from './delivery/diagnose.ts';
