// Group walking: departments ranked by average daily steps over the last 7 days, and members
// ranked by nickname inside their department. Works on attribute records alone — nobody is
// named, only pseudonymous nicknames are shown.
import type { AttributeRecord } from './records.ts';

/** One line of the department ranking. */
export interface DepartmentRank {
  rank: number;
  code: string;
  name: string;
  members: number;
  averageSteps: number;
}

/** One line of the in-department ranking. */
export interface WalkerRank {
  rank: number;
  nickname: string;
  weekSteps: number;
  you: boolean;
}

const WEEK = 7;

function weekSteps(rec: AttributeRecord): number {
  return (rec.steps ?? []).slice(-WEEK).reduce((a, b) => a + b, 0);
}

/**
 * Health points: one point per full 1,000 steps a day over the last 30 days (at most 10 a
 * day), 30 per checkup taken, 5 per day with vitals entered.
 */
export function healthPoints(rec: AttributeRecord): number {
  const steps = (rec.steps ?? []).slice(-30).reduce((a, s) => a + Math.min(10, Math.floor(s / 1000)), 0);
  return steps + rec.checkups.length * 30 + rec.vitals.length * 5;
}

/** Precomputes the department ranking; `forMember` adds the member's own department's walkers. */
export function rankDepartments(records: readonly AttributeRecord[]): {
  departments: DepartmentRank[];
  forMember: (rec: AttributeRecord) => { departments: DepartmentRank[]; walkers: WalkerRank[]; yourRank: number; of: number };
} {
  const byDept = new Map<string, AttributeRecord[]>();
  for (const r of records) {
    if (r.departmentCode === undefined) continue;
    const list = byDept.get(r.departmentCode) ?? [];
    list.push(r);
    byDept.set(r.departmentCode, list);
  }
  const departments = [...byDept.entries()]
    .map(([code, list]) => ({
      code,
      name: list[0]!.departmentName ?? code,
      members: list.length,
      averageSteps: Math.round(list.reduce((a, r) => a + weekSteps(r), 0) / list.length / WEEK),
    }))
    .sort((a, b) => b.averageSteps - a.averageSteps)
    .map((d, i) => ({ rank: i + 1, ...d }));
  const sortedWalkers = new Map<string, AttributeRecord[]>();
  for (const [code, list] of byDept) sortedWalkers.set(code, [...list].sort((a, b) => weekSteps(b) - weekSteps(a)));
  return {
    departments,
    forMember(rec) {
      const list = sortedWalkers.get(rec.departmentCode ?? '') ?? [];
      const yourIndex = list.findIndex((r) => r.pseudonym === rec.pseudonym);
      const walkers = list.slice(0, 10).map((r, i) => ({ rank: i + 1, nickname: r.nickname ?? '—', weekSteps: weekSteps(r), you: r.pseudonym === rec.pseudonym }));
      return { departments, walkers, yourRank: yourIndex + 1, of: list.length };
    },
  };
}
