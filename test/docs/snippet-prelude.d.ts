// The names documentation snippets use without defining them, declared once for the snippet
// type-check (test/docs/snippets.test.ts). Add a name here when a new snippet needs one. (What a
// snippet imports from the application's own modules is in snippet-app.ts.)

// --- the portal page ---
declare const memberSchema: typeof import('./snippet-app.ts').memberSchema;
declare let sealed: import('tokumei').SealedRecordOf<typeof memberSchema>;
declare const record: import('tokumei').RecordInput<typeof memberSchema>;
declare const key: import('tokumei').MemberKey;
declare const session: import('tokumei').Session;
declare const sso: { accessToken(): Promise<string>; memberId: string; onTokenRenewed(listener: () => void): void };
declare const newAddress: string;
declare const form: HTMLFormElement;
declare function showSignedOut(reason: import('tokumei').WipeReason): void;
declare function showTampered(): void;
declare function askStillThere(arg: number | { onStay: () => void }): void;
declare function showDialog(text: string, options: { onStay: () => void }): void;
declare function hideDialog(): void;
declare function saveDraftLocally(form: HTMLFormElement): void;

// --- the data environment ---
declare const token: string;
declare const sealedMembers: import('tokumei').SealedRecord[];
declare const allSealedMembers: import('tokumei').SealedRecord[];

// --- the key environment ---
type Authenticated = { memberId: string; dependants?: string[]; expiresAt?: number } | null;
declare const env: import('tokumei/server').KeyEnvironment;
declare const store: import('tokumei/server').MemberKeyStore;
declare const authenticate: import('tokumei/server').Authenticate;
declare const server: import('node:http').Server;
declare const audit: { log(entry: unknown): void };
declare const metrics: { count(n: number): void };
declare const library: string;
declare const linkKey: Uint8Array;
declare const bytesFromKeyEnvironment: Uint8Array;
declare const requestBody: string;
declare const sessionId: string;
declare const id: string;
declare const oldKeyId: string;
declare const v1: import('tokumei/server').KeyVersion;
declare const masterKey: import('tokumei/server').MasterKey;
declare const keyProvider: import('tokumei').KeyProvider;
declare const records: import('tokumei/server').RecordCollection;
declare function verifySsoToken(token: string): Promise<{ sub: string; dependants?: string[]; exp: number } | null>;
declare function verifyWithYourSso(token: string): Promise<Authenticated>;
declare function readSecret(name: string): Promise<string>;
declare function readPinFromSecretStore(): Promise<string>;
// Snippets that continue an earlier one use what it imported.
declare const createKeyEnvironment: typeof import('tokumei/server').createKeyEnvironment;
declare const pkcs11MasterKey: typeof import('tokumei/server').pkcs11MasterKey;
declare const sealRecord: typeof import('tokumei').sealRecord;
declare const TokumeiError: typeof import('tokumei').TokumeiError;

// --- an HTTP endpoint of the key environment, and its credentials ---
declare const req: { headers: { authorization?: string; dpop?: string } };
declare const res: import('node:http').ServerResponse;
declare const authorization: string;
declare const dpop: string;
declare const url: string;
declare const body: unknown;
declare const keyId: string;
declare const accessToken: string;
declare const claims: { cnf: { jkt: string } };
declare function refuse(): never;
declare const sharedSecret: Uint8Array;
declare const sharedSecretFromYourVault: Uint8Array;
declare const secretFromYourVault: Uint8Array;
declare const log: { warn(...args: unknown[]): void };
declare const kms: { decrypt(request: unknown): Promise<Uint8Array> };
declare const request: unknown;
// Rotation's internal pacing helper (its TSDoc example) and the work it paces.
declare function pacer(sliceMs?: number): () => Promise<void> | undefined;
declare const entries: string[];
declare function work(entry: string): void;

// --- a React page and a framework-neutral store ---
type SealedRecord = import('tokumei').SealedRecord;
declare const createRoot: typeof import('react-dom/client').createRoot;
declare const StrictMode: typeof import('react').StrictMode;
declare const el: HTMLElement;
declare function App(): import('react').ReactElement;
declare function render(snapshot: import('tokumei').SessionSnapshot): void;

// --- the parts of Vue and of @playwright/test the guides use (neither is a dependency) ---
declare module 'vue' {
  export interface ShallowRef<T> {
    value: T;
  }
  export function shallowRef<T>(value: T): ShallowRef<T>;
  export function onScopeDispose(fn: () => void): void;
}
declare module '@playwright/test' {
  type Page = import('playwright-core').Page;
  export function test(name: string, body: (fixtures: { page: Page }) => Promise<void>): void;
  export function expect(locator: import('playwright-core').Locator): { toBeVisible(): Promise<void> };
}

// --- the cloud KMS sketches (docs/integration.md): the parts of @aws-sdk/client-kms they use ---
type MasterKey = import('tokumei/server').MasterKey;
declare class EncryptCommand {
  constructor(input: { KeyId: string; Plaintext: Uint8Array; EncryptionContext?: Record<string, string> });
}
declare class DecryptCommand {
  constructor(input: { KeyId: string; CiphertextBlob: Uint8Array; EncryptionContext?: Record<string, string> });
}
declare class KMSClient {
  send(command: EncryptCommand | DecryptCommand): Promise<{ CiphertextBlob?: Uint8Array; Plaintext?: Uint8Array }>;
}
