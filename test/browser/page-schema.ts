// The schema of the test page's records, shared by the page (sealing and opening in the browser)
// and by tests that seal a record in Node for the page to open.
import { defineSchema, type Schema } from '../../src/index.ts';

/**
 * fullName is searchable, so sealing derives the search subkey too and the residue scans have a
 * live search subkey to find while signed in (and none after logoff).
 */
export const memberSchema: Schema = defineSchema({
  name: 'member',
  version: 1,
  fields: { id: 'attribute', fullName: { kind: 'identity', search: 'name-ja' }, birthDate: 'identity', address: 'identity' },
});
