// What documentation snippets import from the application's own modules (`./oidc`,
// `./schemas`, …): every relative import of a snippet resolves to this file in the type-check
// (test/docs/snippets.test.ts). Add an export when a snippet imports a new name.
import type { ReactElement } from 'react';
import { defineSchema, type Schema, type SealedRecord } from '../../src/index.ts';

/** The application's SSO client. */
export declare const sso: { accessToken(): Promise<string> };
/** The tab's DPoP key pair, which the SSO client binds its access tokens to. */
export declare const dpopKey: CryptoKeyPair;
/** The application's root component. */
export declare function App(): ReactElement;
/** The member's sealed record from the data environment (a hook of the application's). */
export declare function useMemberRecord(): SealedRecord | undefined;

/** An OpenID Connect client, as `oidc-client-ts`'s UserManager. */
export declare const userManager: {
  getUser(): Promise<{ access_token: string; profile: { sub: string } } | null>;
  events: { addUserLoaded(listener: () => void): void };
};

type MemberFields = {
  id: { kind: 'attribute'; type: 'string' };
  fullName: { kind: 'identity'; search: 'name-ja' };
  birthDate: 'identity';
  address: 'identity';
  insuredNo: 'identity';
  phone: { kind: 'identity'; optional: true };
  department: 'attribute';
};

/** The member schema an application defines once and imports where it seals or opens. */
export const memberSchema: Schema<MemberFields> = defineSchema({
  name: 'member',
  version: 1,
  fields: {
    id: { kind: 'attribute', type: 'string' },
    fullName: { kind: 'identity', search: 'name-ja' },
    birthDate: 'identity',
    address: 'identity',
    insuredNo: 'identity',
    phone: { kind: 'identity', optional: true },
    department: 'attribute',
  },
});
