// The seeding job: what a society's core system would run once to move its members into the
// model. For each person it makes a member key, seals the identity record with it, and files
// the attributes under a pseudonym. Keys go only to the key environment's storage (wrapped
// under the master key), sealed records and attributes only to the data environment's.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateMemberKey, sealRecord } from '../../../src/index.ts';
import { keyMaterial } from '../../../src/keys/member-key.ts';
import { generateLinkKey, pseudonym } from '../../../src/server.ts';
import { wipe } from '../../../src/internal/bytes.ts';
import { DATA_ENV_DIRS, type AttributeRecord, type StoredIdentity } from '../data-env/records.ts';
import { openVault } from '../key-env/vault.ts';
import { JsonDir } from '../shared/json-dir.ts';
import { keyIdOf, personSchema } from '../shared/schemas.ts';
import { generateMember, STEP_DAYS, type IdentityValues } from './generate.ts';

/** What the demo records about its seed (public: it names no one and holds no key). */
export interface DemoConfig {
  seed: number;
  members: number;
  seedYear: number;
  stepsUntil: string;
  seededAt: string;
}

/** The pseudonym purpose of the portal's attribute records. */
export const PORTAL_PURPOSE = 'portal';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const config: DemoConfig = {
  seed: Number(process.env.DEMO_SEED ?? '20260401'),
  members: Number(process.env.DEMO_MEMBERS ?? '1000'),
  seedYear: new Date().getUTCFullYear(),
  stepsUntil: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10),
  seededAt: new Date().toISOString(),
};

const vault = openVault(dataDir, { create: true });
const identities = new JsonDir<StoredIdentity>(join(dataDir, DATA_ENV_DIRS.identities));
const attributes = new JsonDir<AttributeRecord>(join(dataDir, DATA_ENV_DIRS.attributes));
const linkKey = generateLinkKey();

/** Seals one person's identity record under a fresh member key; the key goes to the vault. */
async function sealPerson(recordId: string, identity: IdentityValues, structure: { relation: string; dependants?: string[]; holder?: string }): Promise<void> {
  const key = generateMemberKey({ keyId: keyIdOf(recordId) });
  try {
    await vault.putMemberKey(key.keyId, keyMaterial(key, 'raw'));
    identities.put(recordId, sealRecord(key, personSchema, { id: recordId, ...structure, ...identity }, { recordId }) as StoredIdentity);
  } finally {
    key.destroy();
  }
}

try {
  await vault.putLinkKey(linkKey);
  let people = 0;
  for (let n = 1; n <= config.members; n++) {
    const m = generateMember(config.seed, n, config.seedYear);
    const dependantIds = m.dependants.map((d) => d.recordId);
    await sealPerson(m.memberId, m.identity, { relation: 'self', dependants: dependantIds });
    attributes.put(pseudonym(linkKey, m.memberId, { purpose: PORTAL_PURPOSE }), {
      pseudonym: pseudonym(linkKey, m.memberId, { purpose: PORTAL_PURPOSE }),
      departmentCode: m.departmentCode,
      departmentName: m.departmentName,
      nickname: m.nickname,
      checkups: m.checkups,
      steps: m.steps.slice(-STEP_DAYS),
      stepsUntil: config.stepsUntil,
      vitals: [],
    });
    for (const d of m.dependants) {
      await sealPerson(d.recordId, d.identity, { relation: d.relation, holder: m.memberId });
      const p = pseudonym(linkKey, d.recordId, { purpose: PORTAL_PURPOSE });
      attributes.put(p, { pseudonym: p, checkups: d.checkups, vitals: [] });
    }
    // A member's keyring: their own key first (it seals their edits), then their dependants'.
    vault.setAccess(m.memberId, [keyIdOf(m.memberId), ...dependantIds.map(keyIdOf)]);
    people += 1 + m.dependants.length;
  }
  vault.save();
  writeFileSync(join(dataDir, 'demo.json'), JSON.stringify(config, null, 2));
  console.log(`Seeded ${config.members} members and ${people - config.members} dependants (seed ${config.seed}).`);
} finally {
  wipe(linkKey);
}
