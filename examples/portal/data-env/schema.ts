// The data environment's schema, in a schema of its own (`data_env`), created when missing. It
// holds what the portal's database would: sealed identity records (every identity field a
// `tk1.` envelope; the data environment checks their shape, the audit opens them), attribute
// records filed under pseudonyms, and the vitals members type in. No key, no plaintext identity
// value, no link between a pseudonym and a person.

/** The statements that create the schema, run in one transaction at open. */
export const DATA_ENV_SCHEMA: readonly string[] = [
  'CREATE SCHEMA IF NOT EXISTS data_env',
  `CREATE TABLE IF NOT EXISTS data_env.identity_records (
    record_id text PRIMARY KEY CHECK (record_id ~ '^[A-Za-z0-9_-]{1,128}$'),
    -- The sealed record as the browser (or the seeding job) sealed it.
    record jsonb NOT NULL CHECK (jsonb_typeof(record) = 'object' AND record->>'id' = record_id)
  )`,
  `CREATE TABLE IF NOT EXISTS data_env.attribute_records (
    pseudonym text PRIMARY KEY CHECK (pseudonym ~ '^[A-Za-z0-9_-]{16,128}$'),
    -- Department, nickname, checkups, daily steps: everything but the vitals.
    record jsonb NOT NULL CHECK (jsonb_typeof(record) = 'object')
  )`,
  `CREATE TABLE IF NOT EXISTS data_env.vitals (
    pseudonym text NOT NULL REFERENCES data_env.attribute_records,
    day date NOT NULL,
    weight_kg double precision NOT NULL,
    systolic double precision NOT NULL,
    diastolic double precision NOT NULL,
    PRIMARY KEY (pseudonym, day)
  )`,
];
