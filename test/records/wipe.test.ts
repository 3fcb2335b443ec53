// Zeroization by instrumentation (STYLE.md): every secret buffer the library allocates and every
// plaintext buffer it hands to or gets from the cipher is observed, and must be zero once the
// call returns — on success and on every failure path — except the key handle's own buffers,
// which must be zero after destroy(). Buffers the caller owns must never be touched.
import { beforeEach, describe, expect, it, vi } from 'vitest';

const seen = vi.hoisted(() => ({ allocated: [] as Uint8Array[], wiped: [] as Uint8Array[], cipherPlain: [] as Uint8Array[], cipherAllocated: [] as Uint8Array[] }));

vi.mock('../../src/internal/secret.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/internal/secret.ts')>();
  return {
    ...real,
    allocSecret: (n: number) => {
      const b = real.allocSecret(n);
      seen.allocated.push(b);
      return b;
    },
    wipe: (...bufs: (Uint8Array | undefined)[]) => {
      for (const b of bufs) if (b) seen.wiped.push(b);
      real.wipe(...bufs);
    },
  };
});

// The field cipher: what goes in to be sealed and what comes out opened are recorded, and so is
// every buffer its constructor allocates (the key schedule and tables the key keeps, scratch).
vi.mock('../../src/keys/aes-gcm.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/keys/aes-gcm.ts')>();
  class Observed extends real.AesGcmKey {
    constructor(key: Uint8Array) {
      const from = seen.allocated.length;
      super(key);
      seen.cipherAllocated.push(...seen.allocated.slice(from));
    }
    override seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
      seen.cipherPlain.push(plaintext);
      return super.seal(nonce, aad, plaintext);
    }
    override open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
      seen.cipherPlain.push(out);
      return super.open(nonce, aad, sealed, out);
    }
  }
  return { ...real, AesGcmKey: Observed };
});

const { defineSchema, generateMemberKey, importMemberKey, openRecord, sealRecord, createKeyring, TokumeiError } = await import('../../src/index.ts');

const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity', address: 'identity' } });
const isZero = (b: Uint8Array) => b.every((x) => x === 0);

beforeEach(() => {
  seen.allocated.length = 0;
  seen.wiped.length = 0;
  seen.cipherPlain.length = 0;
  seen.cipherAllocated.length = 0;
});

/** What a key keeps until destroy(): the raw key, its field subkey, the cipher state. */
function kept(): Uint8Array[] {
  const raw = seen.allocated[0]!;
  const fieldKey = seen.allocated.find((b) => b.length === 32 && b !== raw && !isZero(b))!;
  expect(fieldKey).toBeDefined();
  // The cipher state (key schedule and GHASH tables) is the one large non-zero buffer; its
  // scratch and running GHASH value are zero between calls.
  const state = seen.cipherAllocated.filter((b) => !isZero(b));
  expect(state).toHaveLength(1);
  expect(state[0]!.buffer.byteLength).toBeGreaterThan(8 * 1024); // the schedule and 8 KB of tables
  return [raw, fieldKey, ...state];
}

/** Buffers allocated during `fn` that must be zero afterwards (all but those the key keeps). */
function transient(keep: Uint8Array[]): Uint8Array[] {
  return seen.allocated.filter((b) => !keep.includes(b));
}

describe('wipe instrumentation', () => {
  it('generateMemberKey keeps its bytes off-heap in a library-owned buffer, wiped by destroy()', () => {
    const key = generateMemberKey();
    expect(seen.allocated).toHaveLength(1);
    const raw = seen.allocated[0]!;
    expect(raw.byteLength).toBe(32);
    expect(raw.buffer.byteLength).toBe(32); // its own ArrayBuffer: off the V8 heap
    expect(isZero(raw!)).toBe(false);
    key.destroy();
    expect(isZero(raw)).toBe(true);
    expect(seen.wiped).toContain(raw);
  });

  it('sealRecord and openRecord: every transient secret is zero on return; the key and subkey are wiped by destroy()', () => {
    const key = generateMemberKey();
    const sealed = sealRecord(key, schema, { id: 'a', fullName: '山田 太郎', address: '東京都' }, { recordId: 'a' });
    const opened = openRecord(key, schema, sealed, { recordId: 'a' });
    expect(opened.fullName).toBe('山田 太郎');

    const keep = kept();
    const [raw, fieldKey, state] = keep;
    for (const b of transient(keep)) expect(isZero(b)).toBe(true); // PRK, salt, padded plaintexts, cipher scratch
    // The cipher saw 2 padded plaintexts going in and produced 2 coming out: all wiped.
    expect(seen.cipherPlain).toHaveLength(4);
    for (const b of seen.cipherPlain) expect(isZero(b)).toBe(true);
    expect(isZero(raw!)).toBe(false);
    key.destroy();
    expect(isZero(raw!)).toBe(true);
    expect(isZero(fieldKey!)).toBe(true);
    expect(isZero(state!)).toBe(true);
  });

  it('failure paths wipe too: a tampered value, an over-long value', () => {
    const key = generateMemberKey();
    const sealed = sealRecord(key, schema, { id: 'a', fullName: 'x', address: 'y' }, { recordId: 'a' });
    const keep = kept();
    seen.cipherPlain.length = 0;
    // the second field fails after the first one opened: its plaintext must be wiped too
    const tampered = { ...sealed, address: (sealed.address as string).slice(0, -2) + 'AA' };
    expect(() => openRecord(key, schema, tampered, { recordId: 'a' })).toThrow(TokumeiError);
    expect(seen.cipherPlain.length).toBeGreaterThanOrEqual(1);
    for (const b of seen.cipherPlain) expect(isZero(b)).toBe(true);
    expect(() => sealRecord(key, schema, { id: 'a', fullName: 'x'.repeat(70000), address: 'y' }, { recordId: 'a' })).toThrow(TokumeiError);
    for (const b of transient(keep)) expect(isZero(b)).toBe(true);
    // An over-long value is refused before it is encoded: no buffer of its size was ever made.
    expect(seen.allocated.some((b) => b.length >= 70000)).toBe(false);
    key.destroy();
    for (const b of seen.allocated) expect(isZero(b)).toBe(true);
  });

  it('importMemberKey copies: the caller\'s buffer is never wiped, and is not shared', () => {
    const mine = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    const before = mine.slice();
    const key = importMemberKey(mine, 'k');
    expect(seen.allocated[0]!.buffer).not.toBe(mine.buffer);
    mine[0] = 99; // changing mine later does not change the key
    const sealed = sealRecord(key, schema, { id: 'a', fullName: 'x', address: 'y' }, { recordId: 'a' });
    mine[0] = 1;
    expect(importMemberKey(before, 'k') && openRecord(importMemberKey(before, 'k'), schema, sealed, { recordId: 'a' }).fullName).toBe('x');
    key.destroy();
    expect(mine).toEqual(before);
    expect(seen.wiped).not.toContain(mine);
  });

  it('a keyring destroys every key it owns', () => {
    const a = generateMemberKey({ keyId: 'a' });
    const b = generateMemberKey({ keyId: 'b' });
    const ring = createKeyring([a, b]);
    sealRecord(ring, schema, { id: 'a', fullName: 'x', address: 'y' }, { recordId: 'a' });
    ring.destroy();
    for (const buf of seen.allocated) expect(isZero(buf)).toBe(true);
  });
});
