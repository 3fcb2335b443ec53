// Key delivery in real Chromium: the page signs in through httpKeyProvider against the real key
// environment (same origin, node:http, port 0), opens a record sealed in the key environment,
// and logs off. Measured like the session's G4 test: while signed in the scan finds the
// delivered member key (positive control); after logoff neither the member key nor its subkeys
// are in any Chromium process or profile file, and the key environment has the session revoked.
// The member key bytes for the scan come from the key environment's test-only key log.
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { sealRecord, defineSchema, type SealedRecord } from '../../src/index.ts';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore, type KeyEnvironment } from '../../src/server.ts';
import { launchChromium, type LaunchedChromium } from '../browser/chromium.ts';
import { KEY_PARTS, keyParts } from '../browser/keys.ts';
import { scanChromium, scanFiles } from '../browser/residue.ts';
import { servePage, type PageServer } from '../browser/server.ts';

declare const tkd: import('./chromium.page.ts').DeliveryPageApi;

// fullName is searchable, so sealing derives the search subkey and the scan has it to find.
const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: { kind: 'identity', search: 'exact' }, address: 'identity' } });
let env: KeyEnvironment;
let server: PageServer;
let browser: LaunchedChromium | undefined;
let sealed: SealedRecord;
const keyLog: string[] = [];

beforeAll(async () => {
  env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    authenticate: ({ token }) => (token.startsWith('sso-token~') ? { memberId: 'M000001', dependants: ['M000002'] } : null),
    dpop: { required: false },
    unsafeKeyLog: (line) => keyLog.push(line),
  });
  await env.createMemberKey('M000001');
  await env.createMemberKey('M000002');
  const ring = await env.openKeyring('M000001');
  sealed = sealRecord(ring, schema, { id: 'M000001', fullName: '鈴木 一郎', address: '大阪府大阪市北区1-2-3' }, { recordId: 'M000001' });
  ring.destroy();
  const handler = keyEnvironmentHandler(env, { path: '/key-env/session' });
  server = await servePage(new URL('./chromium.page.ts', import.meta.url).pathname, { handler });
});

afterAll(async () => {
  await server.close();
});

afterEach(async () => {
  await browser?.close();
  browser = undefined;
});

async function signedIn(kem: 'P-256' | 'X25519', revocationCheckMs?: number): Promise<{ page: Page; sessionId: string }> {
  browser = await launchChromium();
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  await page.goto(`${server.origin}/app`);
  await page.waitForFunction(() => 'tkd' in globalThis);
  const { sessionId } = await page.evaluate((o) => tkd.signIn(o), { kem, ...(revocationCheckMs === undefined ? {} : { revocationCheckMs }) });
  expect(await page.evaluate(([s]) => tkd.open(s, 'M000001'), [sealed] as const)).toBe('鈴木 一郎');
  return { page, sessionId };
}

/** The delivered keys (from the test-only key log) and every part of each (KEY_PARTS): the needles. */
function needles(lines: string[]): { names: string[]; bytes: Uint8Array[] } {
  const names: string[] = [];
  const bytes: Uint8Array[] = [];
  for (const line of lines) {
    const [, keyId, hex] = line.split(' ');
    const parts = keyParts(new Uint8Array(Buffer.from(hex!, 'hex')));
    for (const part of KEY_PARTS) {
      names.push(`${keyId}.${part}`);
      bytes.push(parts[part]);
    }
  }
  return { names, bytes };
}

const scan = (names: string[], bytes: Uint8Array[]) => scanChromium(browser!.userDataDir, names, bytes);

describe('key delivery in Chromium', () => {
  it('P-256: signs in, opens a record; after logoff no delivered key or subkey in any process or profile file', async () => {
    keyLog.length = 0;
    const { page, sessionId } = await signedIn('P-256');
    expect(keyLog).toHaveLength(2); // own key and the dependant's
    expect(await page.evaluate(() => tkd.work(20))).toBe(20);
    const { names, bytes } = needles(keyLog);
    const found = await scan(names, bytes);
    const own = keyLog[0]!.split(' ')[1]!;
    // positive control: the scan sees the key, its subkeys and the field cipher's state
    for (const part of KEY_PARTS) expect(found[`${own}.${part}`], part).toBeGreaterThan(0);
    expect(await env.sessionStatus(sessionId)).toBe('active');

    await page.evaluate(() => tkd.logoff());
    expect(await page.evaluate(() => tkd.probe())).toBe('ERR_SESSION_CLOSED');
    expect(await scan(names, bytes)).toEqual({});
    expect(await scanFiles(browser!.userDataDir, bytes)).toEqual({ hits: 0, files: [] });
    await vi.waitFor(async () => expect(await env.sessionStatus(sessionId)).toBe('revoked'), { timeout: 5_000, interval: 20 });
  }, 240_000);

  it('X25519: signs in; a revocation in the key environment wipes the page with reason revoked', async () => {
    const { page, sessionId } = await signedIn('X25519', 100);
    expect(await page.evaluate(() => tkd.work(5))).toBe(5);
    expect(await env.revokeSession(sessionId, 'admin')).toBe(true);
    await page.waitForFunction(() => tkd.events().includes('revoked'), undefined, { timeout: 10_000 });
    expect(await page.evaluate(() => tkd.events())).toEqual(['revoked']);
    expect(await page.evaluate(() => tkd.probe())).toBe('ERR_SESSION_CLOSED');
  }, 60_000);
});
