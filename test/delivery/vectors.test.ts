// Pinned vectors of key delivery v1 (test/vectors/hpke-delivery-v1.json): the `info`, the
// keyring payload, and the exact response for fixed recipient and ephemeral keys. An
// implementation in another language can check itself against the same file; @hpke/core
// opens the pinned ciphertexts independently.
import { readFileSync } from 'node:fs';
import { Aes256Gcm, CipherSuite, DhkemP256HkdfSha256, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { describe, expect, it } from 'vitest';
import { openBase } from '../../src/delivery/open.ts';
import { decodeKeyringPayload, deliveryInfo, encodeKeyringPayload, suiteFor } from '../../src/delivery/payload.ts';
import { fromBase64url, toBase64url } from '../../src/internal/bytes.ts';
import { keyMaterial } from '../../src/keys/member-key.ts';
import { sealBase } from '../../src/server/delivery/hpke-seal.ts';

interface DeliveryVector {
  kem: 'P-256' | 'X25519';
  skRm: string;
  pkRm: string;
  skEm: string;
  request: { protocol: string; kem: string; publicKey: string };
  info: string;
  keys: { keyId: string; key: string }[];
  primary: number;
  payload: string;
  response: { protocol: string; kem: string; sessionId: string; memberId: string; expiresAt: number; enc: string; ciphertext: string };
}

const { vectors } = JSON.parse(readFileSync(new URL('../vectors/hpke-delivery-v1.json', import.meta.url), 'utf8')) as { vectors: DeliveryVector[] };
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('key delivery v1 vectors', () => {
  it('cover both KEMs', () => {
    expect(vectors.map((v) => v.kem).sort()).toEqual(['P-256', 'X25519']);
  });

  for (const v of vectors) {
    const suite = suiteFor(v.kem)!;
    const { response: r } = v;

    it(`${v.kem}: info, payload and response are reproduced byte for byte`, () => {
      expect(toBase64url(hex(v.pkRm))).toBe(v.request.publicKey);
      expect(toHex(deliveryInfo(r.memberId, r.sessionId, r.expiresAt))).toBe(v.info);
      const payload = encodeKeyringPayload(v.keys.map((k) => ({ keyId: k.keyId, key: hex(k.key) })), v.primary);
      expect(toHex(payload)).toBe(v.payload);
      const sealed = sealBase(suite, hex(v.pkRm), hex(v.info), new Uint8Array(0), payload, hex(v.skEm));
      expect(toBase64url(sealed.enc)).toBe(r.enc);
      expect(toBase64url(sealed.ciphertext)).toBe(r.ciphertext);
    });

    it(`${v.kem}: the browser side opens the pinned response into the keyring`, async () => {
      const alg = v.kem === 'P-256' ? { name: 'ECDH', namedCurve: 'P-256' } : { name: 'X25519' };
      const pk = hex(v.pkRm);
      const jwk: JsonWebKey =
        v.kem === 'P-256'
          ? { kty: 'EC', crv: 'P-256', d: toBase64url(hex(v.skRm)), x: toBase64url(pk.subarray(1, 33)), y: toBase64url(pk.subarray(33)) }
          : { kty: 'OKP', crv: 'X25519', d: toBase64url(hex(v.skRm)), x: toBase64url(pk) };
      const privateKey = await crypto.subtle.importKey('jwk', jwk, alg, false, ['deriveBits']);
      const payload = await openBase(suite, { kem: suite.kem, privateKey, publicKey: pk }, fromBase64url(r.enc)!, hex(v.info), new Uint8Array(0), fromBase64url(r.ciphertext)!);
      const ring = decodeKeyringPayload(payload);
      expect(ring.keyIds).toEqual(v.keys.map((k) => k.keyId));
      expect(ring.primary.keyId).toBe(v.keys[v.primary]!.keyId);
      for (const k of v.keys) expect(toHex(keyMaterial(ring.get(k.keyId), 'raw'))).toBe(k.key);
      ring.destroy();
    });

    it(`${v.kem}: @hpke/core opens the pinned response independently`, async () => {
      const theirs = new CipherSuite({ kem: v.kem === 'P-256' ? new DhkemP256HkdfSha256() : new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
      const recipientKey = await theirs.kem.importKey('raw', hex(v.skRm).slice().buffer, false);
      const pt = await theirs.open({ recipientKey, enc: fromBase64url(r.enc)!.slice().buffer, info: hex(v.info).slice().buffer }, fromBase64url(r.ciphertext)!.slice().buffer);
      expect(toHex(new Uint8Array(pt))).toBe(v.payload);
    });
  }
});
