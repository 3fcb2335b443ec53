// An independent implementation of wire format v1, written from docs/format.md alone with
// node:crypto (no tokumei code, no noble). The tests check that it and the library agree, and
// test/vectors/generate-format-v1.mjs uses it to produce the pinned vectors.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** §1: FK = HKDF-SHA256(K, salt = "", info = "tokumei/v1/field-encryption", 32). */
export function fieldKey(memberKey) {
  return Buffer.from(hkdfSync('sha256', memberKey, Buffer.alloc(0), 'tokumei/v1/field-encryption', 32));
}

/** §2: bucket length for n bytes. */
export function bucket(n) {
  const m = n + 1;
  if (m <= 64) return 64;
  let e = 0;
  while (2 ** e < m) e++;
  const step = 2 ** (e - 3);
  return Math.ceil(m / step) * step;
}

/** §5: associated data. */
export function aad({ schemaName, schemaVersion, fieldName, recordId }, keyId) {
  const lp8 = (s) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([Buffer.of(b.length), b]); };
  const rid = Buffer.from(recordId, 'utf8');
  const v = Buffer.alloc(4); v.writeUInt32BE(schemaVersion);
  const r = Buffer.alloc(2); r.writeUInt16BE(rid.length);
  return Buffer.concat([Buffer.from('tokumei.field'), Buffer.of(1), lp8(schemaName), v, lp8(fieldName), r, rid, lp8(keyId)]);
}

/** §3–§5: seal with a given nonce. */
export function seal(memberKey, keyId, ctx, value, nonce) {
  const p = Buffer.from(value, 'utf8');
  const padded = Buffer.alloc(bucket(p.length));
  p.copy(padded); padded[p.length] = 0x80;
  const c = createCipheriv('aes-256-gcm', fieldKey(memberKey), nonce);
  c.setAAD(aad(ctx, keyId));
  const ct = Buffer.concat([c.update(padded), c.final()]);
  const body = Buffer.concat([Buffer.of(1, keyId.length), Buffer.from(keyId, 'ascii'), nonce, ct, c.getAuthTag()]);
  return 'tk1.' + body.toString('base64url');
}

/** §6: open; returns { value } or { error: code }. `keys` maps key id → member key. */
export function open(keys, ctx, envelope) {
  if (typeof envelope !== 'string') return { error: 'ERR_FORMAT' };
  if (!envelope.startsWith('tk1.')) return { error: 'ERR_FORMAT' };
  const text = envelope.slice(4);
  if (text.length > Math.ceil((4 * (2 + 64 + 12 + bucket(65536) + 16)) / 3)) return { error: 'ERR_FORMAT' }; // §3, §6 step 2
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return { error: 'ERR_FORMAT' };
  if (text.length % 4 === 1) return { error: 'ERR_DECRYPTION_FAILED' };
  const body = Buffer.from(text, 'base64url');
  if (body.toString('base64url') !== text) return { error: 'ERR_DECRYPTION_FAILED' }; // non-canonical
  if (body.length < 2) return { error: 'ERR_DECRYPTION_FAILED' };
  if (body[0] !== 1) return { error: 'ERR_FORMAT' };
  const idLen = body[1];
  if (body.length < 2 + idLen) return { error: 'ERR_DECRYPTION_FAILED' };
  const keyId = body.subarray(2, 2 + idLen).toString('latin1');
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(keyId)) return { error: 'ERR_FORMAT' };
  const nonce = body.subarray(2 + idLen, 14 + idLen);
  const rest = body.subarray(14 + idLen);
  const ctLen = rest.length - 16;
  if (nonce.length !== 12 || ctLen < 64 || bucket(ctLen - 1) !== ctLen) return { error: 'ERR_DECRYPTION_FAILED' };
  const key = keys.get(keyId);
  if (key === undefined) return { error: 'ERR_KEY_UNAVAILABLE' };
  let padded;
  try {
    const d = createDecipheriv('aes-256-gcm', fieldKey(key), nonce);
    d.setAAD(aad(ctx, keyId));
    d.setAuthTag(rest.subarray(ctLen));
    padded = Buffer.concat([d.update(rest.subarray(0, ctLen)), d.final()]);
  } catch {
    return { error: 'ERR_DECRYPTION_FAILED' };
  }
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0) i--;
  if (i < 0 || padded[i] !== 0x80) return { error: 'ERR_DECRYPTION_FAILED' };
  try {
    return { value: new TextDecoder('utf-8', { fatal: true }).decode(padded.subarray(0, i)) };
  } catch {
    return { error: 'ERR_DECRYPTION_FAILED' };
  }
}

/** §8.2: canonical JSON (RFC 8785 form of the value's JSON text). */
export function canonicalJson(value) {
  const walk = (v) => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) return '[' + v.map(walk).join(',') + ']';
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + walk(v[k])).join(',') + '}';
  };
  return walk(JSON.parse(JSON.stringify(value)));
}

/** §8.2: the MAC of a sealed record. `fields` maps field name → 'identity' | 'attribute'. */
export function recordMac(memberKey, keyId, { schemaName, schemaVersion, fields }, record, recordId, version) {
  const sk = Buffer.from(hkdfSync('sha256', memberKey, Buffer.alloc(0), 'tokumei/v1/record-seal', 32));
  const lp8 = (s) => Buffer.concat([Buffer.of(Buffer.byteLength(s)), Buffer.from(s, 'utf8')]);
  const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const rid = Buffer.from(recordId, 'utf8');
  const r = Buffer.alloc(2); r.writeUInt16BE(rid.length);
  const v = Buffer.alloc(8); v.writeBigUInt64BE(BigInt(version));
  const parts = [Buffer.from('tokumei.record'), Buffer.of(1), lp8(schemaName), u32(schemaVersion), r, rid, lp8(keyId), v];
  const names = Object.keys(fields).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of [...names, '$search']) {
    const value = Object.hasOwn(record, name) ? record[name] : undefined;
    if (value === undefined || value === null) { parts.push(lp8(name), Buffer.of(0)); continue; }
    const identity = fields[name] === 'identity';
    const bytes = Buffer.from(identity ? value : canonicalJson(value), 'utf8');
    parts.push(lp8(name), Buffer.of(identity ? 1 : 2), u32(bytes.length), bytes);
  }
  return createHmac('sha256', sk).update(Buffer.concat(parts)).digest();
}

/** §8.3: the $seal string. */
export function recordSeal(memberKey, keyId, schema, record, recordId, version) {
  const body = Buffer.concat([Buffer.of(1, keyId.length), Buffer.from(keyId, 'ascii'), recordMac(memberKey, keyId, schema, record, recordId, version)]);
  return 'tr1.' + body.toString('base64url');
}

/** §8.4: check a sealed record's seal; returns { ok: true } or { error: code }. */
export function checkSeal(keys, schema, record, recordId, minVersion) {
  const seal = record.$seal;
  if (seal === undefined || seal === null) return minVersion === undefined ? { ok: true } : { error: 'ERR_DECRYPTION_FAILED' };
  if (typeof seal !== 'string' || !seal.startsWith('tr1.') || !/^[A-Za-z0-9_-]*$/.test(seal.slice(4))) return { error: 'ERR_FORMAT' };
  const body = Buffer.from(seal.slice(4), 'base64url');
  if (body.toString('base64url') !== seal.slice(4) || body.length < 2 || body[0] !== 1 || body.length !== 2 + body[1] + 32) return { error: 'ERR_FORMAT' };
  const keyId = body.subarray(2, 2 + body[1]).toString('latin1');
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(keyId)) return { error: 'ERR_FORMAT' };
  const version = record.$version;
  if (!Number.isSafeInteger(version) || version < 0) return { error: 'ERR_FORMAT' };
  const key = keys.get(keyId);
  if (key === undefined) return { error: 'ERR_KEY_UNAVAILABLE' };
  if (!timingSafeEqual(recordMac(key, keyId, schema, record, recordId, version), body.subarray(2 + body[1]))) return { error: 'ERR_DECRYPTION_FAILED' };
  if (minVersion !== undefined && version < minVersion) return { error: 'ERR_STALE_RECORD' };
  return { ok: true };
}
