// HPKE core against RFC 9180 Appendix A (A.1 X25519 and A.3 P-256, base mode, AES-128-GCM) and
// interoperability in both directions with an independent implementation (@hpke/core).
import { readFileSync } from 'node:fs';
import { Aes256Gcm, CipherSuite, DhkemP256HkdfSha256, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { describe, expect, it } from 'vitest';
import { AEAD_AES128GCM, AEAD_AES256GCM, KEM_P256, KEM_X25519, type KemId, type Suite } from '../../src/delivery/hpke.ts';
import { generateRecipientKeyPair, openBase, type RecipientKeyPair } from '../../src/delivery/open.ts';
import { toBase64url } from '../../src/internal/bytes.ts';
import { sealBase } from '../../src/server/delivery/hpke-seal.ts';

interface Vector {
  source: string;
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  skEm?: string;
  pkEm?: string;
  skRm: string;
  pkRm: string;
  enc: string;
  encryptions: { aad: string; plaintext: string; ciphertext: string }[];
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const load = (name: string): Vector => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8')) as Vector;

/** Imports the vector's fixed recipient private key into WebCrypto (JWK), as the browser holds one. */
async function importRecipient(kem: KemId, skRm: Uint8Array, pkRm: Uint8Array): Promise<RecipientKeyPair> {
  const jwk: JsonWebKey =
    kem === KEM_P256
      ? { kty: 'EC', crv: 'P-256', d: toBase64url(skRm), x: toBase64url(pkRm.subarray(1, 33)), y: toBase64url(pkRm.subarray(33, 65)) }
      : { kty: 'OKP', crv: 'X25519', d: toBase64url(skRm), x: toBase64url(pkRm) };
  const alg = kem === KEM_P256 ? { name: 'ECDH', namedCurve: 'P-256' } : { name: 'X25519' };
  const privateKey = await crypto.subtle.importKey('jwk', jwk, alg, false, ['deriveBits']);
  return { kem, privateKey, publicKey: pkRm };
}

describe('RFC 9180 Appendix A vectors (base mode, sequence 0)', () => {
  for (const file of ['hpke-rfc9180-a1-base.json', 'hpke-rfc9180-a3-base.json']) {
    const v = load(file);
    const suite: Suite = { kem: v.kem_id as KemId, aead: v.aead_id as typeof AEAD_AES128GCM };
    const first = v.encryptions[0]!;

    it(`${v.source.slice(0, 40)}: the vector is what we think it is`, () => {
      expect([v.mode, v.kdf_id, v.aead_id]).toEqual([0, 1, 1]);
      expect([KEM_P256, KEM_X25519]).toContain(v.kem_id);
    });

    it(`${file}: opens the RFC ciphertext with skRm`, async () => {
      const recipient = await importRecipient(suite.kem, hex(v.skRm), hex(v.pkRm));
      const pt = await openBase(suite, recipient, hex(v.enc), hex(v.info), hex(first.aad), hex(first.ciphertext));
      expect(toHex(pt)).toBe(first.plaintext);
    });

    it(`${file}: a flipped bit in the ciphertext, enc or info does not open`, async () => {
      const recipient = await importRecipient(suite.kem, hex(v.skRm), hex(v.pkRm));
      const ct = hex(first.ciphertext);
      ct[3]! ^= 1;
      await expect(openBase(suite, recipient, hex(v.enc), hex(v.info), hex(first.aad), ct)).rejects.toThrow();
      const info = hex(v.info);
      info[0]! ^= 0x80;
      await expect(openBase(suite, recipient, hex(v.enc), info, hex(first.aad), hex(first.ciphertext))).rejects.toThrow();
      const enc = hex(v.enc);
      enc[enc.length - 1]! ^= 1;
      await expect(openBase(suite, recipient, enc, hex(v.info), hex(first.aad), hex(first.ciphertext))).rejects.toThrow();
    });

    if (v.skEm !== undefined) {
      it(`${file}: seals to exactly the RFC enc and ciphertext with the fixed skEm`, () => {
        const out = sealBase(suite, hex(v.pkRm), hex(v.info), hex(first.aad), hex(first.plaintext), hex(v.skEm!));
        expect(toHex(out.enc)).toBe(v.enc);
        expect(toHex(out.ciphertext)).toBe(first.ciphertext);
      });
    }
  }
});

describe('interoperability with @hpke/core (AES-256-GCM, the production suite)', () => {
  const info = new TextEncoder().encode('tokumei interop');
  const aad = new TextEncoder().encode('aad');
  const plaintext = crypto.getRandomValues(new Uint8Array(200));

  for (const [name, kem, Kem] of [
    ['P-256', KEM_P256, DhkemP256HkdfSha256],
    ['X25519', KEM_X25519, DhkemX25519HkdfSha256],
  ] as const) {
    const suite: Suite = { kem, aead: AEAD_AES256GCM };
    const theirs = new CipherSuite({ kem: new Kem(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

    it(`${name}: @hpke/core seals, our browser side opens`, async () => {
      const recipient = await generateRecipientKeyPair(kem);
      const pkR = await theirs.kem.deserializePublicKey(recipient.publicKey.slice().buffer);
      const sealed = await theirs.seal({ recipientPublicKey: pkR, info: info.slice().buffer }, plaintext.slice().buffer, aad.slice().buffer);
      const pt = await openBase(suite, recipient, new Uint8Array(sealed.enc), info, aad, new Uint8Array(sealed.ct));
      expect(toHex(pt)).toBe(toHex(plaintext));
    });

    it(`${name}: our key environment seals, @hpke/core opens`, async () => {
      const pair = await theirs.kem.generateKeyPair();
      const pkR = new Uint8Array(await theirs.kem.serializePublicKey(pair.publicKey));
      const { enc, ciphertext } = sealBase(suite, pkR, info, aad, plaintext);
      const pt = await theirs.open({ recipientKey: pair, enc: enc.slice().buffer, info: info.slice().buffer }, ciphertext.slice().buffer, aad.slice().buffer);
      expect(toHex(new Uint8Array(pt))).toBe(toHex(plaintext));
    });
  }

  it('rejects a public key of the wrong shape before any DH', () => {
    const suite: Suite = { kem: KEM_P256, aead: AEAD_AES256GCM };
    expect(() => sealBase(suite, new Uint8Array(64), info, aad, plaintext)).toThrow(RangeError);
    const compressedish = new Uint8Array(65);
    compressedish[0] = 0x02;
    expect(() => sealBase(suite, compressedish, info, aad, plaintext)).toThrow(RangeError);
    const offCurve = new Uint8Array(65);
    offCurve[0] = 0x04;
    expect(() => sealBase(suite, offCurve, info, aad, plaintext)).toThrow(RangeError);
  });
});
