// G4 for the secrets of key delivery itself, measured in Chromium. The browser's half of HPKE
// runs its ECDH in WebCrypto (deriveBits), whose internal buffers are not ours to wipe; the DH
// output and the KEM shared secret, with a captured response, would open the delivered keyring.
// A test key environment seals with an ephemeral key the test knows (the same `fixedEphemeral`
// path the RFC vectors use), so the test can compute the DH output and shared secret the page
// derives, and scan every Chromium process for them — and for the delivered member key, the
// positive control — after the page has opened the delivery, and again after logoff.
import { createECDH, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../../src/internal/bytes.ts';
import { deliveryInfo, DELIVERY_PROTOCOL, encodeKeyringPayload, suiteFor } from '../../src/delivery/payload.ts';
import { kemSharedSecret } from '../../src/delivery/hpke.ts';
import { sealBase } from '../../src/server/delivery/hpke-seal.ts';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import { scanChromium, scanFiles } from './residue.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: import('./page.ts').PageApi;

const PATH = '/hpke-test/session';
const memberKey = new Uint8Array(randomBytes(32));
const dependantKey = new Uint8Array(randomBytes(32));
const secrets: { dh?: Uint8Array; shared?: Uint8Array } = {};

/** A minimal key environment: P-256 only, a fixed keyring, an ephemeral key the test keeps. */
function handler(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  if (req.url !== PATH) return next();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { kem: string; publicKey: string };
    const suite = suiteFor(body.kem)!;
    const pkR = fromBase64url(body.publicKey)!;
    const skE = new Uint8Array(randomBytes(32));
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(skE);
    secrets.dh = new Uint8Array(ecdh.computeSecret(pkR));
    secrets.shared = kemSharedSecret(suite.kem, secrets.dh, new Uint8Array(ecdh.getPublicKey(undefined, 'uncompressed')), pkR);
    const sessionId = `s1.${toBase64url(new Uint8Array(randomBytes(16)))}`;
    const expiresAt = Date.now() + 60_000;
    const payload = encodeKeyringPayload([{ keyId: 'M000001.v1', key: memberKey }, { keyId: 'M000002.v1', key: dependantKey }], 0);
    const sealed = sealBase(suite, pkR, deliveryInfo('M000001', sessionId, expiresAt), new Uint8Array(0), payload, skE);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ protocol: DELIVERY_PROTOCOL, kem: body.kem, sessionId, memberId: 'M000001', expiresAt, enc: toBase64url(sealed.enc), ciphertext: toBase64url(sealed.ciphertext) }));
  });
}

let server: PageServer;
let browser: LaunchedChromium | undefined;
beforeAll(async () => {
  server = await servePage(new URL('./page.ts', import.meta.url).pathname, { handler });
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await browser?.close();
  browser = undefined;
});

describe('zero residue of the delivery secrets (HPKE in Chromium)', () => {
  it('neither the ECDH output nor the KEM shared secret is in any process once the keyring is open, nor after logoff', async () => {
    browser = await launchChromium();
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${server.origin}/app`);
    await page.waitForFunction(() => 'tk' in globalThis);
    await page.evaluate((o) => tk.signInHttp(o), { url: `${server.origin}${PATH}`, token: 'any' });
    // The page opened the delivery (it seals and opens with the delivered keys), which it can
    // only have done by deriving exactly this DH output and shared secret: the needles are right.
    expect(await page.evaluate(() => tk.work(20))).toBe(20);

    const names = ['memberKey', 'dh', 'sharedSecret'];
    const needles = [memberKey, secrets.dh!, secrets.shared!];
    const signedIn = await scanChromium(browser.userDataDir, names, needles);
    expect(signedIn.memberKey).toBeGreaterThan(0); // positive control: the scan sees live keys
    expect({ dh: signedIn.dh, sharedSecret: signedIn.sharedSecret }).toEqual({ dh: undefined, sharedSecret: undefined });

    await page.evaluate(() => tk.logoff());
    expect(await scanChromium(browser.userDataDir, names, needles)).toEqual({});
    expect(await scanFiles(browser.userDataDir, needles)).toEqual({ hits: 0, files: [] });
  }, 90_000);
});
