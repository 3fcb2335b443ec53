// Finds the token-like strings in the memory of a browser's processes and in the files of its
// profile — what a thief who dumps a device's memory or copies its disk would try:
//
// - every JWT (access, ID and refresh tokens if they are JWTs, DPoP proofs, tickets): `eyJ`,
//   then three base64url segments;
// - every key-environment session id: `s1.` and 22 base64url characters;
// - the SSO's opaque tokens (its refresh tokens and authorization codes: 43 base64url
//   characters). Nothing marks those in memory, and a run of 43 base64url characters is
//   everywhere in a browser's gigabytes; but every one the device could hold was handed to it
//   by the SSO, so the caller names them (`known`) and the scan reports which are still there.
//
// Strings are looked for as one-byte text (how V8 keeps ASCII strings, and how the network
// stack keeps headers) and as UTF-16LE (two-byte strings, the DOM), at both alignments. Memory
// is read from `/proc/PID/mem` (as root), region by region; read-only mappings of files (the
// browser's and the system's code and constant data, the same on every machine) are skipped.
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What was found, by kind. */
export interface TokenCandidates {
  /** Three base64url segments, the first a JSON object (`eyJ…`). */
  jwts: Set<string>;
  /** The `known` opaque strings that were found. */
  opaque: Set<string>;
  /** `s1.` and 22 base64url characters: a key-environment session id. */
  sessionIds: Set<string>;
}

const CHUNK = 8 * 1024 * 1024;
const OVERLAP = 16 * 1024; // longer than any token looked for
const MIN_JWT_SEGMENT = 8;
const SESSION_ID_TAIL = 22;

const B64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') B64[c.charCodeAt(0)] = 1;
const DOT = 0x2e;
const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');
const MARKERS = { jwt: Buffer.from('eyJ'), session: Buffer.from('s1.'), jwt16: utf16('eyJ'), session16: utf16('s1.') };

/** An empty result. */
export function noCandidates(): TokenCandidates {
  return { jwts: new Set(), opaque: new Set(), sessionIds: new Set() };
}

/** The end of the base64url run starting at `i` (one byte per character, `step` bytes apart). */
function runEnd(b: Uint8Array, i: number, step: number): number {
  while (i + step - 1 < b.length && B64[b[i]!] === 1 && (step === 1 || b[i + 1] === 0)) i += step;
  return i;
}

function text(b: Buffer, from: number, to: number, step: number): string {
  return step === 1 ? b.toString('latin1', from, to) : b.toString('utf16le', from, to);
}

/** Adds the JWTs and session ids in `b`, in one-byte (`step` 1) or UTF-16LE (`step` 2) text. */
function collectMarked(b: Buffer, step: number, into: TokenCandidates): void {
  const { jwt, session } = step === 1 ? { jwt: MARKERS.jwt, session: MARKERS.session } : { jwt: MARKERS.jwt16, session: MARKERS.session16 };
  const dot = (i: number): boolean => b[i] === DOT && (step === 1 || b[i + 1] === 0);
  for (let at = b.indexOf(jwt); at !== -1; at = b.indexOf(jwt, at + 1)) {
    const e1 = runEnd(b, at, step);
    if ((e1 - at) / step < MIN_JWT_SEGMENT || !dot(e1)) continue;
    const e2 = runEnd(b, e1 + step, step);
    if ((e2 - e1) / step - 1 < MIN_JWT_SEGMENT || !dot(e2)) continue;
    const e3 = runEnd(b, e2 + step, step);
    if ((e3 - e2) / step - 1 < 16) continue;
    into.jwts.add(text(b, at, e3, step));
  }
  for (let at = b.indexOf(session); at !== -1; at = b.indexOf(session, at + 1)) {
    const tail = at + 3 * step;
    if ((runEnd(b, tail, step) - tail) / step === SESSION_ID_TAIL) into.sessionIds.add(text(b, at, tail + SESSION_ID_TAIL * step, step));
  }
}

/** Adds everything `b` holds. */
function collect(b: Buffer, known: readonly { s: string; bytes: Buffer[] }[], into: TokenCandidates): void {
  collectMarked(b, 1, into);
  collectMarked(b, 2, into);
  for (const k of known) if (!into.opaque.has(k.s) && k.bytes.some((n) => b.includes(n))) into.opaque.add(k.s);
}

function knownNeedles(known: Iterable<string>): { s: string; bytes: Buffer[] }[] {
  return [...new Set(known)].map((s) => ({ s, bytes: [Buffer.from(s), utf16(s), Buffer.concat([Buffer.alloc(1), utf16(s)])] }));
}

/** Scans the readable memory of each process (`/proc/PID/maps`, `/proc/PID/mem`). */
export async function tokensInMemory(pids: readonly number[], known: Iterable<string> = [], into: TokenCandidates = noCandidates()): Promise<TokenCandidates> {
  const needles = knownNeedles(known);
  const chunk = Buffer.allocUnsafe(CHUNK + OVERLAP);
  for (const pid of pids) {
    let maps: string;
    try {
      maps = await readFile(`/proc/${pid}/maps`, 'utf8');
    } catch {
      continue;
    }
    let fh;
    try {
      fh = await open(`/proc/${pid}/mem`, 'r');
    } catch {
      continue;
    }
    try {
      for (const line of maps.split('\n')) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
        if (m === null || m[3]![0] !== 'r') continue;
        const path = m[4]!;
        if (path.startsWith('[vvar') || path === '[vsyscall]') continue;
        // Code and constant data of files on disk: nothing the page made is there.
        if (path.startsWith('/') && m[3]![1] !== 'w' && !path.startsWith('/dev/shm') && !path.includes('(deleted)')) continue;
        const start = parseInt(m[1]!, 16);
        const end = parseInt(m[2]!, 16);
        for (let pos = start; pos < end; pos += CHUNK) {
          let got: number;
          try {
            ({ bytesRead: got } = await fh.read(chunk, 0, Math.min(CHUNK + OVERLAP, end - pos), pos));
          } catch {
            break; // unreadable: skip the rest of the region
          }
          if (got <= 0) break;
          collect(chunk.subarray(0, got), needles, into);
        }
      }
    } finally {
      await fh.close();
    }
  }
  return into;
}

/** Scans every regular file under `dir`. */
export async function tokensInFiles(dir: string, known: Iterable<string> = [], into: TokenCandidates = noCandidates()): Promise<TokenCandidates> {
  const needles = knownNeedles(known);
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(d, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) {
        try {
          collect(await readFile(path), needles, into);
        } catch {
          // removed or locked while scanning
        }
      }
    }
  };
  await walk(dir);
  return into;
}

/** The JSON of a JWT's header and payload, or `undefined`. */
export function jwtParts(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } | undefined {
  try {
    const [h, p] = jwt.split('.');
    return { header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<string, unknown>, payload: JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown> };
  } catch {
    return undefined;
  }
}
