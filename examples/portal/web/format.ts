// Dates and numbers as a Japanese member reads them: 2025年4月1日, 4月, 2025年. Pure functions,
// used by the views and the charts (whose time axis is Japan time).

const JST_OFFSET_MS = 9 * 3_600_000;

/** `2025-04-01` → `2025年4月1日` (anything else is shown as it is). */
export function jpDate(iso: unknown): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso));
  return m === null ? String(iso) : `${m[1]}年${Number(m[2])}月${Number(m[3])}日`;
}

/** The Japan-time calendar date of a chart timestamp (seconds since the epoch). */
function jst(ts: number): { y: number; m: number; d: number } {
  const t = new Date(ts * 1000 + JST_OFFSET_MS);
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

/** A chart timestamp (seconds) as `2025年4月1日`. */
export function jpDateOfTs(ts: number): string {
  const { y, m, d } = jst(ts);
  return `${y}年${m}月${d}日`;
}

const DAY_S = 86_400;

/**
 * The labels of a time axis whose ticks are `incrS` seconds apart: years (`2025年`), months
 * (`2025年1月`, then `2月`, `3月`… with the year again in January), or days (`4月1日`).
 */
export function axisDates(ticks: readonly number[], incrS: number): string[] {
  let lastYear: number | undefined;
  return ticks.map((ts) => {
    const { y, m, d } = jst(ts);
    if (incrS >= 360 * DAY_S) return `${y}年`;
    if (incrS >= 28 * DAY_S) {
      const label = y !== lastYear ? `${y}年${m}月` : `${m}月`;
      lastYear = y;
      return label;
    }
    return `${m}月${d}日`;
  });
}
