// What the fault tests know the database must hold: every acknowledged operation, checked
// against what a restarted key environment reports (lost, duplicated, torn, changed).

/** One entry as the restarted key environment reports it. */
export interface ReportedEntry {
  memberId: string;
  keyId: string;
  version: number;
  state: 'active' | 'retired';
  /** SHA-256 of the unwrapped key, or `torn` when it does not unwrap. */
  fp: string;
}

/** The `state` line of a restarted key environment. */
export interface Report {
  count: number;
  entries: ReportedEntry[];
  revokedChecked: number;
  notRevoked: number;
  /** How long the restart took to open the database and to read and check what it holds. */
  ms?: { open: number; check: number };
}

/** Counts of one verification; all zero when nothing was lost. */
export interface Verdict {
  lost: number;
  duplicated: number;
  torn: number;
  changed: number;
  /** Acknowledged retires whose version is not retired. */
  unretired: number;
  /** Retired versions that no retire was begun for (a retire is all or nothing, and only of its own version). */
  strayRetired: number;
  notRevoked: number;
  countMismatch: number;
}

/** Acknowledged operations, from the `ack …` lines (and the retires begun, from `begin retire …`). */
export class Ledger {
  readonly keys: Map<string, { memberId: string; version: number; fp: string }> = new Map();
  readonly retired: Set<string> = new Set();
  /** Key ids a retire was begun for: retired or still active after a kill, either is right. */
  readonly retiring: Set<string> = new Set();
  readonly revoked: string[] = [];

  /** Records one stdout line of the key environment. */
  record(line: string): void {
    const [tag, kind, ...rest] = line.split(' ');
    if (tag === 'begin' && kind === 'retire') this.retiring.add(rest[0]!);
    if (tag !== 'ack') return;
    if (kind === 'create' || kind === 'rotate') {
      const [memberId, keyId, version, fp] = rest as [string, string, string, string];
      this.keys.set(keyId, { memberId, version: Number(version), fp });
    } else if (kind === 'retire') this.retired.add(rest[0]!);
    else if (kind === 'revoke') this.revoked.push(rest[0]!);
  }

  /** Compares a report with everything acknowledged so far. */
  verify(report: Report): Verdict {
    const byKeyId = new Map<string, ReportedEntry[]>();
    const byVersion = new Map<string, number>();
    for (const e of report.entries) {
      byKeyId.set(e.keyId, [...(byKeyId.get(e.keyId) ?? []), e]);
      const v = `${e.memberId}#${e.version}`;
      byVersion.set(v, (byVersion.get(v) ?? 0) + 1);
    }
    let lost = 0;
    let changed = 0;
    for (const [keyId, want] of this.keys) {
      const got = byKeyId.get(keyId)?.[0];
      if (got === undefined) lost++;
      else if (got.memberId !== want.memberId || got.version !== want.version || (got.fp !== 'torn' && got.fp !== want.fp)) changed++;
    }
    const duplicated = [...byKeyId.values()].filter((l) => l.length > 1).length + [...byVersion.values()].filter((n) => n > 1).length;
    return {
      lost,
      duplicated,
      torn: report.entries.filter((e) => e.fp === 'torn').length,
      changed,
      unretired: [...this.retired].filter((k) => byKeyId.get(k)?.[0]?.state !== 'retired').length,
      strayRetired: report.entries.filter((e) => e.state === 'retired' && !this.retiring.has(e.keyId)).length,
      notRevoked: report.notRevoked,
      countMismatch: Math.abs(report.count - report.entries.length),
    };
  }
}

export const CLEAN: Verdict = { lost: 0, duplicated: 0, torn: 0, changed: 0, unretired: 0, strayRetired: 0, notRevoked: 0, countMismatch: 0 };
