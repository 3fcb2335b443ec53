// G4 through the real key delivery: the page signs in with httpKeyProvider against a key
// environment (tokumei/server, HPKE over HTTP on the same test server), so the keys reach the
// page only sealed. Scanned as in session.residue.test.ts: found while signed in, then nothing in
// any Chromium process or profile file after logoff. The needles come from the key
// environment's test-only key log.
import { hkdfSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SUBKEY_LABELS } from '../../src/keys/subkeys.ts';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore } from '../../src/server.ts';
import { chromiumPids, launchChromium, type LaunchedChromium } from './chromium.ts';
import { scanFiles, scanProcessMemory } from './residue.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: import('./page.ts').PageApi;

let browser: LaunchedChromium | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
});

async function scanMemory(names: string[], needles: Uint8Array[]): Promise<Record<string, number>> {
  const pids = chromiumPids(browser!.userDataDir);
  expect(pids.length).toBeGreaterThan(1);
  const { perNeedle } = await scanProcessMemory(pids, needles);
  return Object.fromEntries(names.map((n, i) => [n, perNeedle[i]!]).filter(([, c]) => (c as number) > 0));
}

describe('zero residue with real key delivery (HPKE over HTTP)', () => {
  let keyServer: PageServer;
  const logged = new Map<string, Uint8Array>();
  const TOKEN = 'member-token-M000001';

  beforeAll(async () => {
    const env = createKeyEnvironment({
      masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
      store: memoryKeyStore(),
      authenticate: (token) => (token === TOKEN ? { memberId: 'M000001', dependants: ['M000002'] } : null),
      // Tests only: the delivered keys, so the scan knows what to look for.
      unsafeKeyLog: (line) => {
        const [, keyId, hex] = line.split(' ');
        logged.set(keyId!, Uint8Array.from(Buffer.from(hex!, 'hex')));
      },
    });
    await env.createMemberKey('M000001', { keyId: 'M000001.v1' });
    await env.createMemberKey('M000002', { keyId: 'M000002.v1' });
    keyServer = await servePage(new URL('./page.ts', import.meta.url).pathname, { handler: keyEnvironmentHandler(env, { path: '/key-env/session' }) });
  });
  afterAll(async () => {
    await keyServer.close();
  });

  it('memory: keys delivered by httpKeyProvider leave nothing after logoff', async () => {
    browser = await launchChromium();
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${keyServer.origin}/app`);
    await page.waitForFunction(() => 'tk' in globalThis);
    await page.evaluate((o) => tk.signInHttp(o), { url: `${keyServer.origin}/key-env/session`, token: TOKEN });
    expect(await page.evaluate(() => tk.work(20))).toBe(20);

    expect([...logged.keys()].sort()).toEqual(['M000001.v1', 'M000002.v1']);
    const names: string[] = [];
    const needles: Uint8Array[] = [];
    for (const [keyId, key] of logged) {
      names.push(`${keyId}.memberKey`, `${keyId}.fieldKey`, `${keyId}.searchKey`);
      needles.push(key, ...[SUBKEY_LABELS.field, SUBKEY_LABELS.search].map((l) => new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), l, 32))));
    }
    const found = await scanMemory(names, needles);
    expect(found['M000001.v1.memberKey']).toBeGreaterThan(0);
    expect(found['M000001.v1.fieldKey']).toBeGreaterThan(0);
    expect(found['M000002.v1.memberKey']).toBeGreaterThan(0);

    await page.evaluate(() => tk.logoff());
    expect(await page.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    expect(await scanMemory(names, needles)).toEqual({});
    expect(await scanFiles(browser!.userDataDir, needles)).toEqual({ hits: 0, files: [] });
  }, 90_000);
});
