// The seeding job: what a society's core system would run once to move its members into the
// model. For each person the key environment makes a member key (stored only there, wrapped
// under the master key) and lends the seeding job a keyring to seal the identity record with;
// the sealed record and the attributes (filed under a pseudonym) go only to the data
// environment's database.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sealRecord } from '../../../src/index.ts';
import { generateLinkKey, pseudonym } from '../../../src/server.ts';
import type { AttributeRecord, StoredIdentity } from '../data-env/records.ts';
import { DATA_ENV_DIR, openDataEnvironmentStorage, type SeedBatch } from '../data-env/storage.ts';
import { KEY_ENV_DIR, openKeyEnvironmentStorage } from '../key-env/storage.ts';
import { PORTAL_PURPOSE, personSchema } from '../shared/schemas.ts';
import { DEMO_CONFIG_FILE, type DemoConfig } from './config.ts';
import { generateMember, type IdentityValues } from './generate.ts';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const config: DemoConfig = {
  seed: Number(process.env.DEMO_SEED ?? '20260401'),
  members: Number(process.env.DEMO_MEMBERS ?? '1000'),
  seedYear: new Date().getUTCFullYear(),
  stepsUntil: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10),
  seededAt: new Date().toISOString(),
};

if (existsSync(join(dataDir, DEMO_CONFIG_FILE))) {
  console.log(`${dataDir} is already seeded.`);
  process.exit(0);
}
if (existsSync(join(dataDir, KEY_ENV_DIR)) || existsSync(join(dataDir, DATA_ENV_DIR))) {
  // A seeding run that stopped midway: starting over on top of it would orphan records.
  console.error(`${dataDir} holds an incomplete seed: delete the folder and start again.`);
  process.exit(1);
}
// The two environments' databases open side by side (each costs seconds to start).
const [keyEnvironment, dataEnvironment] = await Promise.all([openKeyEnvironmentStorage(dataDir, { create: true }), openDataEnvironmentStorage(dataDir)]);
const { env } = keyEnvironment;
const linkKey = generateLinkKey();

/** Seals one person's identity record under their new member key. */
async function sealPerson(batch: SeedBatch, recordId: string, identity: IdentityValues, structure: { relation: string; dependants?: string[]; holder?: string }): Promise<void> {
  // Key ids are random (`k1.…`): they appear in every sealed value, so they must not name anyone.
  await env.createMemberKey(recordId);
  const ring = await env.openKeyring(recordId);
  try {
    batch.identities.push(sealRecord(ring, personSchema, { id: recordId, ...structure, ...identity }, { recordId }) as StoredIdentity);
  } finally {
    ring.destroy();
  }
}

function fileAttributes(batch: SeedBatch, recordId: string, record: Omit<AttributeRecord, 'pseudonym'>): void {
  batch.attributes.push({ pseudonym: pseudonym(linkKey, recordId, { purpose: PORTAL_PURPOSE }), ...record });
}

try {
  await keyEnvironment.putLinkKey(linkKey);
  let dependants = 0;
  for (let n = 1; n <= config.members; n++) {
    const m = generateMember(config.seed, n, config.seedYear);
    const dependantIds = m.dependants.map((d) => d.recordId);
    // A member and their dependants reach the data environment in one transaction.
    const batch: SeedBatch = { identities: [], attributes: [] };
    await sealPerson(batch, m.memberId, m.identity, { relation: 'self', dependants: dependantIds });
    fileAttributes(batch, m.memberId, {
      departmentCode: m.departmentCode,
      departmentName: m.departmentName,
      nickname: m.nickname,
      checkups: m.checkups,
      steps: m.steps,
      stepsUntil: config.stepsUntil,
      vitals: [],
    });
    for (const d of m.dependants) {
      await sealPerson(batch, d.recordId, d.identity, { relation: d.relation, holder: m.memberId });
      fileAttributes(batch, d.recordId, { checkups: d.checkups, vitals: [] });
    }
    await dataEnvironment.seed(batch);
    // Whose keys a member's keyring holds besides their own: their dependants'.
    keyEnvironment.dependants[m.memberId] = dependantIds;
    dependants += dependantIds.length;
  }
  keyEnvironment.saveDependants();
  writeFileSync(join(dataDir, DEMO_CONFIG_FILE), JSON.stringify(config, null, 2));
  console.log(`Seeded ${config.members} members and ${dependants} dependants (seed ${config.seed}).`);
} finally {
  linkKey.fill(0); // ours to wipe (generateLinkKey hands it over)
  await Promise.all([keyEnvironment.close(), dataEnvironment.close()]);
}
