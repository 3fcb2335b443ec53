import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HmacMidstate } from '../../src/search/hmac-midstate.ts';

// The matcher's own HMAC-SHA256 (two precomputed key blocks, one 16-byte message) checked
// against node:crypto on random keys and messages.
describe('HmacMidstate', () => {
  it('equals node:crypto HMAC-SHA256 for random 32-byte keys and 16-byte messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (key, message) => {
        const expected = createHmac('sha256', key).update(message).digest();
        const h = new HmacMidstate(key);
        expect(Buffer.from(h.digest16(message)).toString('hex')).toBe(expected.toString('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('verify16 accepts exactly the right 16-byte MAC and rejects any single-bit change', () => {
    const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const salt = new Uint8Array(16).map((_, i) => 255 - i);
    const mac = createHmac('sha256', key).update(salt).digest().subarray(0, 16);
    const h = new HmacMidstate(key);
    const probe = new Uint8Array(32);
    probe.set(salt);
    probe.set(mac, 16);
    expect(h.verify16(probe)).toBe(true);
    for (let bit = 0; bit < 256; bit++) {
      const flipped = probe.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(h.verify16(flipped)).toBe(false);
    }
  });

  it('destroy zeroes the hashed key blocks: nothing verifies afterwards', () => {
    const key = new Uint8Array(32).fill(9);
    const salt = new Uint8Array(16);
    const probe = new Uint8Array(32);
    probe.set(createHmac('sha256', key).update(salt).digest().subarray(0, 16), 16);
    const h = new HmacMidstate(key);
    expect(h.verify16(probe)).toBe(true);
    h.destroy();
    expect(h.verify16(probe)).toBe(false);
  });
});
