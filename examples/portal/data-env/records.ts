// What the data environment stores. Identity records hold sealed identity values only;
// attribute records are filed under a pseudonym and name nobody.
import type { Checkup } from '../seed/generate.ts';

/** A sealed identity record (the output of `sealRecord` for `personSchema`). */
export type StoredIdentity = Record<string, unknown> & { id: string; relation: string; dependants?: string[]; holder?: string };

/** One entry of today's weight and blood pressure, typed in on the portal. */
export interface VitalsEntry {
  date: string;
  weightKg: number;
  systolic: number;
  diastolic: number;
}

/** The attribute record of one person, filed under their pseudonym. */
export interface AttributeRecord {
  pseudonym: string;
  /** Members only: the department, for the group-walking ranking. */
  departmentCode?: string;
  departmentName?: string;
  /** Members only: the nickname shown in the ranking. */
  nickname?: string;
  checkups: Checkup[];
  /** Members only: daily step counts, oldest first, the last one for `stepsUntil`. */
  steps?: number[];
  stepsUntil?: string;
  vitals: VitalsEntry[];
}
