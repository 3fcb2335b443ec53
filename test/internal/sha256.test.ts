// The HMAC-SHA256 of src/internal/sha256.ts (SHA-256 written from FIPS 180-4): the same MACs as
// node:crypto and @noble/hashes on random keys and messages of every length around the block
// boundaries, keys longer than a block, messages split into parts anywhere, and RFC 4231's
// known answers.
import { createHmac, randomBytes } from 'node:crypto';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { hmacSha256Into } from '../../src/internal/sha256.ts';

const bytes = (n: number): Uint8Array => Uint8Array.from(randomBytes(n));
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const mac = (key: Uint8Array, ...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(32);
  hmacSha256Into(out, key, ...parts);
  return out;
};
const nodeMac = (key: Uint8Array, message: Uint8Array): Uint8Array => Uint8Array.from(createHmac('sha256', key).update(message).digest());

describe('the vendored HMAC-SHA256', () => {
  it('matches node:crypto for every message length 0 … 300 and key lengths 0 … 150', () => {
    for (let n = 0; n <= 300; n++) {
      const key = bytes(n % 151);
      const message = bytes(n);
      expect(mac(key, message)).toEqual(nodeMac(key, message));
    }
  });

  it('matches noble on long messages (the bit length past 2^16 and 2^24 bits)', () => {
    for (const n of [8191, 8192, 65_535, 65_536, 2_100_000]) {
      const key = bytes(32);
      const message = bytes(n);
      expect(mac(key, message)).toEqual(hmac(sha256, key, message));
      expect(mac(key, message)).toEqual(nodeMac(key, message));
    }
  });

  it('gives the same MAC however the message is split into parts', () => {
    for (let n = 0; n < 200; n++) {
      const key = bytes(32);
      const message = bytes(n * 3);
      const cut1 = Math.floor(Math.random() * (message.length + 1));
      const cut2 = cut1 + Math.floor(Math.random() * (message.length - cut1 + 1));
      expect(mac(key, message.subarray(0, cut1), message.subarray(cut1, cut2), new Uint8Array(0), message.subarray(cut2))).toEqual(nodeMac(key, message));
    }
  });

  it("reproduces RFC 4231's test cases 1–4, 6 and 7 (key longer than a block included)", () => {
    const cases: [string, string, string][] = [
      ['0b'.repeat(20), Buffer.from('Hi There').toString('hex'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
      [Buffer.from('Jefe').toString('hex'), Buffer.from('what do ya want for nothing?').toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
      ['aa'.repeat(20), 'dd'.repeat(50), '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'],
      ['0102030405060708090a0b0c0d0e0f10111213141516171819', 'cd'.repeat(50), '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'],
      ['aa'.repeat(131), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First').toString('hex'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
      [
        'aa'.repeat(131),
        Buffer.from('This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.').toString('hex'),
        '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
      ],
    ];
    for (const [key, data, expected] of cases) expect(Buffer.from(mac(hex(key), hex(data))).toString('hex')).toBe(expected);
  });

  it('may write its output over its key or one of its parts', () => {
    const key = bytes(32);
    const message = bytes(40);
    const expected = nodeMac(key, message);
    const k = key.slice();
    hmacSha256Into(k, k, message);
    expect(k).toEqual(expected);
    const m = message.slice(0, 32);
    hmacSha256Into(m, key, m, message.subarray(32));
    expect(m).toEqual(expected);
  });
});
