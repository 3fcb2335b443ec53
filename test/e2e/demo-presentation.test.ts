// How the demo presents itself, checked without a browser: dates on the charts' time axis and
// in their legends in Japanese, postcodes that belong to the member's prefecture, and a second
// `npm run demo` on a port already taken saying which variable to set instead of a stack trace.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMember } from '../../examples/portal/seed/generate.ts';
import { axisDates, jpDate, jpDateOfTs } from '../../examples/portal/web/format.ts';
import { startDemo, type RunningDemo } from './demo-process.ts';

const ts = (iso: string): number => Date.parse(`${iso}T00:00:00Z`) / 1000;

describe('dates on the charts', () => {
  it('are Japanese at every scale, in Japan time', () => {
    expect(jpDate('2025-04-01')).toBe('2025年4月1日');
    expect(jpDateOfTs(ts('2025-04-01'))).toBe('2025年4月1日');
    // 23:30 UTC on 31 March is already 1 April in Japan.
    expect(jpDateOfTs(Date.parse('2025-03-31T23:30:00Z') / 1000)).toBe('2025年4月1日');
    const years = ['2021-01-01', '2022-01-01', '2023-01-01'].map(ts);
    expect(axisDates(years, 365 * 86_400)).toEqual(['2021年', '2022年', '2023年']);
    const months = ['2024-11-01', '2024-12-01', '2025-01-01', '2025-02-01'].map(ts);
    expect(axisDates(months, 30 * 86_400)).toEqual(['2024年11月', '12月', '2025年1月', '2月']);
    expect(axisDates(['2025-03-30', '2025-04-06'].map(ts), 7 * 86_400)).toEqual(['3月30日', '4月6日']);
  });
});

describe('synthetic addresses', () => {
  // The first digits of a Japanese postcode place it: these ranges are the prefectures'.
  const RANGES: Record<string, [number, number]> = {
    東京都: [100, 208],
    神奈川県: [210, 259],
    埼玉県: [330, 369],
    千葉県: [260, 299],
    大阪府: [530, 599],
    愛知県: [440, 499],
    福岡県: [800, 839],
  };

  it("have a postcode in the range of their own prefecture", () => {
    const seen = new Set<string>();
    for (let n = 1; n <= 300; n++) {
      const { address } = generateMember(42, n, 2026).identity;
      const m = /^〒(\d{3})-(\d{4}) (東京都|神奈川県|埼玉県|千葉県|大阪府|愛知県|福岡県)/.exec(address);
      expect(m, address).not.toBeNull();
      const [lo, hi] = RANGES[m![3]!]!;
      expect(Number(m![1]), address).toBeGreaterThanOrEqual(lo);
      expect(Number(m![1]), address).toBeLessThanOrEqual(hi);
      seen.add(m![3]!);
    }
    expect(seen.size).toBe(Object.keys(RANGES).length);
  });
});

describe('a second `npm run demo`', () => {
  let demo: RunningDemo;
  const dirs: string[] = [];
  beforeAll(async () => {
    demo = await startDemo({ members: 5 });
  }, 300_000); // the first start creates the key environment's embedded database (PGlite's initdb, ~13 s of CPU)
  afterAll(async () => {
    await demo?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('on the port the first one holds says to set PORT, without a stack trace, and exits 1', async () => {
    const port = new URL(demo.url).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'tokumei-demo-second-'));
    dirs.push(dataDir);
    const second = spawn(process.execPath, [new URL('../../examples/portal/demo.mjs', import.meta.url).pathname], {
      env: { ...process.env, PORT: port, TOKUMEI_DEMO_DATA: dataDir, DEMO_MEMBERS: '5' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    second.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    second.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => second.once('exit', resolve));
    expect(code).toBe(1);
    expect(out).toContain(`Port ${port} is already in use`);
    expect(out).toMatch(/PORT=\d+ npm run demo/);
    expect(out).not.toMatch(/^\s+at /m); // no stack trace
    // The first demo is still there.
    expect((await fetch(demo.url)).status).toBe(200);
  }, 120_000);
});
