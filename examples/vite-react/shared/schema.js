// @ts-check
// The member record's schema, shared by the page (which opens records) and the data
// environment (which seals them at ingest). Identity fields are sealed field by field; the
// attribute passes through as it is.
import { defineSchema } from 'tokumei';

export const memberSchema = defineSchema({
  name: 'member',
  version: 1,
  fields: {
    id: 'attribute',
    fullName: 'identity',
    birthDate: 'identity',
  },
});
