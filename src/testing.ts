/**
 * Test doubles for apps that use tokumei (Node and browsers; not for production): a fake key
 * environment ({@link fakeKeyEnvironment}) with deterministic keys and sessions a test can
 * revoke, expire and fail on demand — in-process as a `KeyProvider`, or speaking the real key
 * delivery protocol to `httpKeyProvider` through `fetch` or a Playwright route — and
 * deterministic member keys for fixtures ({@link testMemberKey}). See docs/integration.md.
 *
 * Re-exports only; no logic, nothing runs at import.
 *
 * @packageDocumentation
 * @module tokumei/testing
 */
export { fakeKeyEnvironment } from './testing/fake.ts';
export type { FakeKeyEnvironment, FakeKeyEnvironmentOptions, FakeMember, FakeFailure, FakeSession, FakeRequest, FakeResponse } from './testing/fake-key-environment.ts';
export { testMemberKey } from './testing/test-keys.ts';
