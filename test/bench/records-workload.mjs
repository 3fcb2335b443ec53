// The identity-field workload of test/bench/records.mjs, run the same way in Node and in a
// Chromium page: the same sealed member records opened with tokumei's openRecord, and the same
// envelopes decrypted with WebCrypto AES-GCM under the same field key — which it has to import
// as a CryptoKey, the thing tokumei avoids (a CryptoKey cannot be wiped, docs/threat-model.md §7).
// WebCrypto is given everything pre-parsed (nonce, ciphertext, associated data built from
// docs/format.md §5); tokumei does the whole job: parse, build the AAD, decrypt, unpad, decode.
export const SCHEMA_SPEC = {
  name: 'member',
  version: 1,
  fields: { id: 'attribute', fullName: 'identity', kana: 'identity', birthDate: 'identity', address: 'identity', insuredNo: 'identity' },
};
export const IDENTITY_FIELDS = ['fullName', 'kana', 'birthDate', 'address', 'insuredNo'];
export const KEY_ID = 'M000001.v1';

export function recordFor(i) {
  return {
    id: `M${String(i).padStart(6, '0')}`,
    fullName: `山田 太郎${i % 10}`,
    kana: 'ヤマダ タロウ',
    birthDate: '1980-04-01',
    address: '東京都千代田区千代田1-1-1 メゾン千代田101',
    insuredNo: `12345678-${String(i % 10000).padStart(4, '0')}`,
  };
}

const utf8 = (s) => new TextEncoder().encode(s);
const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '=')), (c) => c.charCodeAt(0));

/** AAD of docs/format.md §5. */
function aadOf(schemaName, schemaVersion, fieldName, recordId, keyId) {
  const parts = [utf8('tokumei.field'), Uint8Array.of(1), Uint8Array.of(utf8(schemaName).length), utf8(schemaName)];
  parts.push(Uint8Array.of(schemaVersion >>> 24, (schemaVersion >>> 16) & 255, (schemaVersion >>> 8) & 255, schemaVersion & 255));
  parts.push(Uint8Array.of(fieldName.length), utf8(fieldName));
  const id = utf8(recordId);
  parts.push(Uint8Array.of(id.length >> 8, id.length & 255), id, Uint8Array.of(keyId.length), utf8(keyId));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
}

/**
 * Seals `n` records with `tk` (the tokumei entry module) under `raw` (32 member key bytes),
 * and prepares the same envelopes for WebCrypto. Returns the two timed loops.
 */
export async function prepare(tk, raw, n) {
  const schema = tk.defineSchema(SCHEMA_SPEC);
  const key = tk.importMemberKey(raw, KEY_ID);
  const sealed = Array.from({ length: n }, (_, i) => {
    const rec = recordFor(i);
    return tk.sealRecord(key, schema, rec, { recordId: rec.id });
  });
  // The field subkey (docs/format.md §1) as a WebCrypto key.
  const ikm = await crypto.subtle.importKey('raw', raw, 'HKDF', false, ['deriveKey']);
  const fieldKey = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8('tokumei/v1/field-encryption') },
    ikm, { name: 'AES-GCM', length: 256 }, false, ['decrypt'],
  );
  const items = sealed.flatMap((s) => IDENTITY_FIELDS.map((f) => {
    const body = b64(s[f].slice(4));
    const at = 2 + body[1];
    return { iv: body.subarray(at, at + 12), data: body.subarray(at + 12), additionalData: aadOf(schema.name, schema.version, f, s.id, KEY_ID) };
  }));
  const decoder = new TextDecoder();
  return {
    fields: items.length,
    /** tokumei: openRecord on every record; returns the number of fields opened. */
    tokumei() {
      let opened = 0;
      for (const s of sealed) {
        const me = tk.openRecord(key, schema, s, { recordId: s.id });
        if (me.kana !== 'ヤマダ タロウ') throw new Error('wrong plaintext');
        opened += IDENTITY_FIELDS.length;
      }
      return opened;
    },
    /** WebCrypto, one await after another (what a page opening a record does). */
    async webcrypto() {
      let opened = 0;
      for (const it of items) {
        const pt = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: it.iv, additionalData: it.additionalData }, fieldKey, it.data));
        let end = pt.length - 1;
        while (pt[end] === 0) end--;
        decoder.decode(pt.subarray(0, end));
        opened++;
      }
      return opened;
    },
    /** WebCrypto with every decryption of a batch in flight at once (Promise.all). */
    async webcryptoBatched() {
      const pts = await Promise.all(items.map((it) => crypto.subtle.decrypt({ name: 'AES-GCM', iv: it.iv, additionalData: it.additionalData }, fieldKey, it.data)));
      return pts.length;
    },
  };
}

/** Runs each loop `rounds` times, interleaved; returns opens per second (median) for each. */
export async function measure(work, rounds) {
  const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
  const samples = { tokumei: [], webcrypto: [], webcryptoBatched: [] };
  for (let r = -2; r < rounds; r++) {
    for (const name of Object.keys(samples)) {
      const t0 = now();
      const n = await work[name]();
      const dt = now() - t0;
      if (r >= 0) samples[name].push((n / dt) * 1000);
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}
