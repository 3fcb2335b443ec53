// The synthetic population of the demo, deterministic from a seed: the same seed and member
// number always give the same person, so the audit (and the tests) can regenerate every
// plaintext identity value instead of keeping a copy of them anywhere.
import { BUILDINGS, DEPARTMENTS, GIVEN_FEMALE, GIVEN_MALE, NICK_A, NICK_B, PLACES, SURNAMES } from './tables.ts';

/** The identity values of one person: what the data environment may hold only sealed. */
export interface IdentityValues {
  fullName: string;
  fullNameKana: string;
  birthDate: string;
  address: string;
  phone: string;
  insuredNumber: string;
}

/** One annual health checkup (attribute data, filed under a pseudonym). */
export interface Checkup {
  date: string;
  heightCm: number;
  weightKg: number;
  bmi: number;
  systolic: number;
  diastolic: number;
  hba1c: number;
  ldl: number;
  hdl: number;
  triglycerides: number;
}

/** A dependant (spouse or child) insured through a member. */
export interface SeedDependant {
  recordId: string;
  relation: 'spouse' | 'child';
  identity: IdentityValues;
  checkups: Checkup[];
}

/** A member: identity, attributes and dependants. */
export interface SeedMember {
  /** The SSO login id and identity record id: `M000001`… */
  memberId: string;
  identity: IdentityValues;
  departmentCode: string;
  departmentName: string;
  nickname: string;
  checkups: Checkup[];
  /** Daily step counts, oldest first, ending the day before the seed date. */
  steps: number[];
  dependants: SeedDependant[];
}

/** How many days of step counts each member has. */
export const STEP_DAYS = 365;

/** mulberry32: a small, fast, deterministic PRNG (not for secrets). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const round1 = (x: number): number => Math.round(x * 10) / 10;
/** A roughly normal value (sum of three uniforms). */
const normal = (rng: Rng, mean: number, sd: number): number => mean + ((rng() + rng() + rng() - 1.5) / 0.5) * sd;

/** The member id of member number `n` (1-based): `M000001`. */
export function memberId(n: number): string {
  return `M${pad(n, 6)}`;
}

function birthDate(rng: Rng, fromYear: number, toYear: number): string {
  return `${int(rng, fromYear, toYear)}-${pad(int(rng, 1, 12), 2)}-${pad(int(rng, 1, 28), 2)}`;
}

function address(rng: Rng): string {
  const [pref, city, towns] = pick(rng, PLACES);
  const [town, postcode] = pick(rng, towns);
  const zip = `〒${postcode}`;
  const block = `${town}${int(rng, 1, 5)}丁目${int(rng, 1, 30)}-${int(rng, 1, 20)}`;
  const building = rng() < 0.5 ? ` ${pick(rng, BUILDINGS)}${int(rng, 1, 9)}0${int(rng, 1, 9)}` : '';
  return `${zip} ${pref}${city}${block}${building}`;
}

function phone(rng: Rng): string {
  return `0${pick(rng, [70, 80, 90])}-${pad(int(rng, 0, 9999), 4)}-${pad(int(rng, 0, 9999), 4)}`;
}

function checkups(rng: Rng, seedYear: number, female: boolean, age: number): Checkup[] {
  const height = normal(rng, female ? 158 : 171, 5.5);
  let bmi = normal(rng, female ? 21.5 : 23.5, 2.5);
  let sys = normal(rng, 112 + age * 0.35, 9);
  let hba1c = normal(rng, 5.2 + age * 0.006, 0.25);
  let ldl = normal(rng, 115, 22);
  const hdl = normal(rng, female ? 66 : 55, 9);
  let tg = normal(rng, 100, 30);
  const out: Checkup[] = [];
  for (let y = seedYear - 5; y < seedYear; y++) {
    // Each year drifts a little, so the trend chart has something to show.
    bmi += normal(rng, 0.12, 0.35);
    sys += normal(rng, 0.8, 3);
    hba1c += normal(rng, 0.03, 0.06);
    ldl += normal(rng, 1, 6);
    tg += normal(rng, 1, 10);
    const weight = (bmi * (height / 100) ** 2);
    out.push({
      date: `${y}-${pad(int(rng, 5, 10), 2)}-${pad(int(rng, 1, 28), 2)}`,
      heightCm: round1(height),
      weightKg: round1(weight),
      bmi: round1(bmi),
      systolic: Math.round(sys),
      diastolic: Math.round(sys * 0.63 + normal(rng, 0, 4)),
      hba1c: round1(hba1c),
      ldl: Math.round(ldl),
      hdl: Math.round(hdl),
      triglycerides: Math.round(Math.max(35, tg)),
    });
  }
  return out;
}

function steps(rng: Rng): number[] {
  const base = normal(rng, 7000, 2200);
  const out: number[] = [];
  for (let d = 0; d < STEP_DAYS; d++) {
    const weekend = d % 7 === 5 || d % 7 === 6 ? normal(rng, -1200, 800) : 0;
    out.push(Math.max(300, Math.round(base + weekend + normal(rng, 0, 1800))));
  }
  return out;
}

/**
 * Generates member number `n` (1-based) of the population for `seed`. `seedYear` is the year
 * of the seed date: checkups cover the five years before it. Identity values depend only on
 * `seed` and `n`.
 */
export function generateMember(seed: number, n: number, seedYear: number): SeedMember {
  const rng = prng((seed * 0x9e3779b1) ^ (n * 0x85ebca6b));
  const id = memberId(n);
  const female = rng() < 0.42;
  const [sur, surKana] = pick(rng, SURNAMES);
  const [given, givenKana] = pick(rng, female ? GIVEN_FEMALE : GIVEN_MALE);
  const birthYear = int(rng, 1962, 2003);
  const home = address(rng);
  // 記号-番号-枝番 (symbol, number, branch) as on a Japanese health-insurance card.
  const insured = `${pad(1200 + int(rng, 1, 40), 4)}-${pad(n, 5)}`;
  const [departmentCode, departmentName] = pick(rng, DEPARTMENTS);
  const member: SeedMember = {
    memberId: id,
    identity: {
      fullName: `${sur} ${given}`,
      fullNameKana: `${surKana} ${givenKana}`,
      birthDate: birthDate(rng, birthYear, birthYear),
      address: home,
      phone: phone(rng),
      insuredNumber: `${insured}-00`,
    },
    departmentCode,
    departmentName,
    nickname: `${pick(rng, NICK_A)}${pick(rng, NICK_B)}${int(rng, 1, 99)}`,
    checkups: checkups(rng, seedYear, female, seedYear - birthYear),
    steps: steps(rng),
    dependants: [],
  };
  // About a third have a spouse; some have children (born 2006–2020, so no birth date can
  // coincide with a checkup date, which are all later).
  let branch = 1;
  const addDependant = (relation: 'spouse' | 'child', from: number, to: number): void => {
    const spouseFemale = relation === 'spouse' ? !female : rng() < 0.5;
    const [g, gKana] = pick(rng, spouseFemale ? GIVEN_FEMALE : GIVEN_MALE);
    const year = int(rng, from, to);
    member.dependants.push({
      recordId: `${id}-${branch}`,
      relation,
      identity: {
        fullName: `${sur} ${g}`,
        fullNameKana: `${surKana} ${gKana}`,
        birthDate: birthDate(rng, year, year),
        address: home,
        phone: phone(rng),
        insuredNumber: `${insured}-${pad(branch, 2)}`,
      },
      checkups: relation === 'spouse' ? checkups(rng, seedYear, spouseFemale, seedYear - year) : [],
    });
    branch++;
  };
  if (birthYear < 1995 && rng() < 0.35) addDependant('spouse', birthYear - 4, birthYear + 4);
  if (birthYear < 1990 && rng() < 0.3) {
    const kids = int(rng, 1, 2);
    for (let k = 0; k < kids; k++) addDependant('child', Math.max(2006, birthYear + 25), 2020);
  }
  return member;
}

/** Every identity value of member `n` and their dependants (what the audit looks for). */
export function identityValuesOf(member: SeedMember): string[] {
  const out: string[] = [];
  for (const v of [member.identity, ...member.dependants.map((d) => d.identity)]) out.push(...Object.values(v));
  return out;
}
