// Hex digits of a secret, read and written byte by byte between off-heap buffers: a key never
// becomes a JavaScript string on the way (strings cannot be wiped; docs/threat-model.md §6).
// Internal.
import { allocSecret } from '../../internal/bytes.ts';

/** The value of one hex digit given as a character code, or -1. */
function digit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10; // a-f, A-F
  return -1;
}

/**
 * Decodes `2 × length` hex digits from `at(start)`, `at(start + 1)`, … (character codes) into a
 * fresh off-heap buffer; `undefined` (with the buffer wiped) when one is not a hex digit.
 */
export function hexToSecret(at: (i: number) => number, start: number, length: number): Uint8Array | undefined {
  const out = allocSecret(length);
  for (let i = 0; i < length; i++) {
    const hi = digit(at(start + 2 * i));
    const lo = digit(at(start + 2 * i + 1));
    if (hi < 0 || lo < 0) {
      out.fill(0);
      return undefined;
    }
    out[i] = (hi << 4) | lo;
  }
  return out;
}

const HEX = /* @__PURE__ */ new TextEncoder().encode('0123456789abcdef');

/** Writes `bytes` as lowercase hex digits (character codes) into `out` at `offset`. */
export function secretToHex(bytes: Uint8Array, out: Uint8Array, offset: number): void {
  for (let i = 0; i < bytes.length; i++) {
    out[offset + 2 * i] = HEX[bytes[i]! >> 4]!;
    out[offset + 2 * i + 1] = HEX[bytes[i]! & 15]!;
  }
}
