// The local master key's file: its format, reading, creating, and upgrading a bare key from
// tokumei 0.1. Bytes only: the key goes from the file's bytes into an off-heap buffer and back
// without ever becoming a JavaScript string. Node only.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { TokumeiError } from '../../errors.ts';
import { allocSecret, astring, fillRandom, toBase64url, utf8, wipe } from '../../internal/bytes.ts';
import { hexToSecret, secretToHex } from './hex.ts';
import { localMasterKey } from './local.ts';
import type { MasterKey } from './master-key.ts';

// The file, 126 bytes, exactly these three LF-terminated lines (docs/key-delivery.md §7.1):
//   tokumei-master-key v1
//   key: <64 lowercase hex digits>
//   fingerprint: mk1.<16 base64url characters>
// The fingerprint is the key's default public id; reading checks it, so a damaged file is
// refused instead of silently becoming another key.
const HEADER = /* @__PURE__ */ utf8('tokumei-master-key v1\n');
const HEADER_NAME = /* @__PURE__ */ utf8('tokumei-master-key ');
const KEY_PREFIX = /* @__PURE__ */ utf8('key: ');
const FINGERPRINT_PREFIX = /* @__PURE__ */ utf8('\nfingerprint: ');
const FINGERPRINT_LENGTH = 20; // "mk1." + 16
const KEY_AT = HEADER.length + KEY_PREFIX.length;
const FINGERPRINT_AT = KEY_AT + 64 + FINGERPRINT_PREFIX.length;
const FILE_LENGTH = FINGERPRINT_AT + FINGERPRINT_LENGTH + 1;
const MAX_READ = 4096;

const startsWith = (bytes: Uint8Array, prefix: Uint8Array, at = 0): boolean => prefix.every((c, i) => bytes[at + i] === c);
const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

function formatError(path: string, what: string): TokumeiError {
  return new TokumeiError('ERR_FORMAT', `"${path}" ${what}`);
}

/** Reads a small file into an off-heap buffer the caller wipes (never a pooled heap `Buffer`). */
function readSecretFile(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_READ) throw formatError(path, `is not a tokumei master key file (${size} bytes)`);
    const out = allocSecret(size);
    let n = 0;
    while (n < size) {
      const r = readSync(fd, out, n, size - n, n);
      if (r === 0) break;
      n += r;
    }
    return n === size ? out : out.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The bare key of tokumei 0.1 (64 hex digits with surrounding whitespace, or 32 raw bytes), or `undefined`. */
function legacyKey(raw: Uint8Array): Uint8Array | undefined {
  if (raw.length === 32) {
    const key = allocSecret(32);
    key.set(raw);
    return key;
  }
  let start = 0;
  let end = raw.length;
  while (start < end && isSpace(raw[start])) start++;
  while (end > start && isSpace(raw[end - 1])) end--;
  return end - start === 64 ? hexToSecret((i) => raw[i]!, start, 32) : undefined;
}

/** The key of a version 1 file, checked against its fingerprint line. */
function parseKeyFile(path: string, raw: Uint8Array): Uint8Array {
  if (!startsWith(raw, HEADER_NAME)) {
    const legacy = legacyKey(raw);
    wipe(legacy);
    if (legacy !== undefined) {
      throw formatError(path, 'holds a bare key from tokumei 0.1, not a tokumei master key file: convert it once with upgradeMasterKeyFile(path) from tokumei/server (the key and its id stay the same)');
    }
    throw formatError(path, 'is not a tokumei master key file (no "tokumei-master-key v1" header)');
  }
  let end = HEADER_NAME.length;
  while (end < raw.length && end < HEADER.length + 8 && raw[end] !== 0x0a && raw[end] !== 0x0d) end++;
  if (end !== HEADER.length - 1 || !startsWith(raw, HEADER.subarray(0, end))) {
    throw formatError(path, 'is a tokumei master key file of an unsupported version (this version reads v1)');
  }
  if (raw.length !== FILE_LENGTH || raw[HEADER.length - 1] !== 0x0a || !startsWith(raw, KEY_PREFIX, HEADER.length) || !startsWith(raw, FINGERPRINT_PREFIX, KEY_AT + 64) || raw[FILE_LENGTH - 1] !== 0x0a) {
    throw formatError(path, 'is a damaged tokumei master key file (expected the lines "key: <64 hex digits>" and "fingerprint: mk1.…")');
  }
  const key = hexToSecret((i) => raw[i]!, KEY_AT, 32);
  if (key === undefined) throw formatError(path, 'is a damaged tokumei master key file (the key line is not 64 hex digits)');
  return key;
}

/** The fingerprint line's text (public). */
function fingerprintOf(raw: Uint8Array): string {
  return String.fromCharCode(...raw.subarray(FINGERPRINT_AT, FINGERPRINT_AT + FINGERPRINT_LENGTH));
}

/** Writes the file's bytes to a new file (mode 0600), flushed to disk with its directory entry. */
function writeDurably(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDirectory(path: string): void {
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The bytes of a version 1 file for `key` (an off-heap buffer the caller wipes), and the key's id. */
function keyFileBytes(key: Uint8Array): { bytes: Uint8Array; id: string } {
  const id = localMasterKey(key).id;
  const bytes = allocSecret(FILE_LENGTH);
  bytes.set(HEADER);
  bytes.set(KEY_PREFIX, HEADER.length);
  secretToHex(key, bytes, KEY_AT);
  bytes.set(FINGERPRINT_PREFIX, KEY_AT + 64);
  bytes.set(utf8(id), FINGERPRINT_AT);
  bytes[FILE_LENGTH - 1] = 0x0a;
  return { bytes, id };
}

/**
 * The local master key from a tokumei master key file (as {@link createMasterKeyFile} writes):
 * three lines, `tokumei-master-key v1`, `key: <64 hex digits>`, `fingerprint: mk1.…`. The key
 * goes from the file into an off-heap buffer without becoming a string, and must match its
 * fingerprint line. Any other file is refused: a bare 32-byte or hex key (tokumei 0.1) gets an
 * error that says to convert it once with {@link upgradeMasterKeyFile}.
 *
 * @param path - the file
 * @param options - `id`, as in {@link localMasterKey}
 * @returns the master key
 * @throws TokumeiError `ERR_FORMAT` when the file is not a version 1 master key file, is damaged,
 *   or holds a bare key; the `fs` error when it cannot be read. Messages never contain the key.
 * @example
 * ```ts
 * import { masterKeyFromFile } from 'tokumei/server';
 * const master = masterKeyFromFile('/run/secrets/tokumei-master.key');
 * ```
 */
export function masterKeyFromFile(path: string, options: { id?: string } = {}): MasterKey {
  astring('path', path, true);
  const raw = readSecretFile(path);
  let key: Uint8Array | undefined;
  try {
    key = parseKeyFile(path, raw);
    const master = localMasterKey(key, options);
    const fingerprint = options.id === undefined ? master.id : localMasterKey(key).id;
    if (fingerprint !== fingerprintOf(raw)) throw formatError(path, 'is a damaged tokumei master key file (the key does not match its fingerprint line)');
    return master;
  } finally {
    wipe(raw, key);
  }
}

/**
 * Creates a master key file (mode 0600) with a fresh random key, in the format
 * {@link masterKeyFromFile} reads, and flushes it and its directory entry to disk before it
 * returns. Refuses to overwrite an existing file. The key never becomes a string.
 *
 * @param path - the file to create
 * @returns the new master key's id (its fingerprint, `mk1.…`)
 * @throws the `fs` error (`EEXIST` when the file exists)
 * @example
 * ```ts
 * import { createMasterKeyFile, masterKeyFromFile } from 'tokumei/server';
 * createMasterKeyFile('./data/master.key');
 * const master = masterKeyFromFile('./data/master.key');
 * ```
 */
export function createMasterKeyFile(path: string): string {
  astring('path', path, true);
  const key = fillRandom(allocSecret(32));
  let file: Uint8Array | undefined;
  try {
    const { bytes, id } = keyFileBytes(key);
    file = bytes;
    writeDurably(path, file);
    fsyncDirectory(path);
    return id;
  } finally {
    wipe(key, file);
  }
}

/**
 * Converts, in place, a master key file of tokumei 0.1 (a bare key: 64 hex digits, or 32 raw
 * bytes) into the version 1 format, keeping the key (and so its id: every member key wrapped
 * under it still unwraps). The new file replaces the old one atomically. A file already in the
 * version 1 format is left as it is.
 *
 * @param path - the file
 * @returns the master key's id (its fingerprint, `mk1.…`)
 * @throws TokumeiError `ERR_FORMAT` when the file is neither a bare key nor a valid version 1
 *   file; the `fs` error when it cannot be read or replaced
 * @example
 * ```ts
 * import { upgradeMasterKeyFile } from 'tokumei/server';
 * upgradeMasterKeyFile('.demo-data/key-env/master.key');
 * ```
 */
export function upgradeMasterKeyFile(path: string): string {
  astring('path', path, true);
  const raw = readSecretFile(path);
  let key: Uint8Array | undefined;
  let file: Uint8Array | undefined;
  try {
    if (startsWith(raw, HEADER_NAME)) return masterKeyFromFile(path).id;
    key = legacyKey(raw);
    if (key === undefined) throw formatError(path, 'is neither a tokumei master key file nor a bare key (64 hex digits or 32 raw bytes)');
    const { bytes, id } = keyFileBytes(key);
    file = bytes;
    const tmp = `${path}.upgrade-${toBase64url(fillRandom(new Uint8Array(6)))}`;
    try {
      writeDurably(tmp, file);
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    fsyncDirectory(path);
    return id;
  } finally {
    wipe(raw, key, file);
  }
}
