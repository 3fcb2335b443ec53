// The record schema the portal uses, shared by the seeding job (which seals) and the browser
// (which opens and re-seals). A member and each dependant has one identity record: identity
// fields are sealed field by field under that person's own member key; the attribute fields
// are structure the data environment needs to route and authorize (never identity values).
import { defineSchema, type Schema } from '../../../src/index.ts';

/** A person insured through the society: a member (`relation: 'self'`) or a dependant. */
export const personSchema: Schema = defineSchema({
  name: 'portal.person',
  version: 1,
  fields: {
    id: 'attribute',
    relation: 'attribute',
    /** Record ids of a member's dependants. */
    dependants: { kind: 'attribute', optional: true },
    /** The member a dependant is insured through. */
    holder: { kind: 'attribute', optional: true },
    fullName: 'identity',
    fullNameKana: 'identity',
    birthDate: 'identity',
    address: 'identity',
    phone: 'identity',
    insuredNumber: 'identity',
  },
});

/** The identity fields of {@link personSchema}, in display order. */
export const IDENTITY_FIELDS = ['fullName', 'fullNameKana', 'birthDate', 'address', 'phone', 'insuredNumber'] as const;

/** The pseudonym purpose of the portal's attribute records. */
export const PORTAL_PURPOSE = 'portal';
