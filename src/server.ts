// Entry `tokumei/server` (Node): the producer's and key environment's toolkit.
// Re-exports only; no logic, nothing runs at import.
export { TokumeiError, type TokumeiErrorCode } from './errors.ts';
export { defineSchema, type Schema, type SchemaSpec, type SchemaField, type FieldSpec, type SearchMode } from './records/schema.ts';
export { sealRecord, openRecord, type PlainRecord, type SealedRecord, type RecordOptions } from './records/record.ts';
export { MemberKey, generateMemberKey, importMemberKey } from './keys/member-key.ts';
export { Keyring, createKeyring, type KeySource } from './keys/keyring.ts';
export { searchToken } from './search/token.ts';
export { matchesSearch } from './search/match.ts';
export { pseudonym, generateLinkKey, type PseudonymOptions } from './pseudonym/pseudonym.ts';
