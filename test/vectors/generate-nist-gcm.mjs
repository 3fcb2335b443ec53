// Builds test/vectors/nist-gcm-256.json: NIST CAVP GCM known answers (CAVS 14.0) for AES-256 with
// 96-bit IVs and 128-bit tags, the only parameters the field cipher uses.
//
// NIST's response files (gcmtestvectors.zip: gcmEncryptExtIV256.rsp, gcmDecrypt256.rsp) could not
// be downloaded where this was built, so the values come from two published transcriptions,
// read from their repositories and cross-checked against each other here:
//   - RustCrypto/AEADs, aes-gcm/tests/aes256gcm.rs (MIT / Apache-2.0): every Taglen = 128 case of
//     the IVlen = 96 sections of gcmEncryptExtIV256.rsp;
//   - google/quiche, quiche/quic/core/crypto/aes_256_gcm_{en,de}crypter_test.cc (BSD-3-Clause,
//     "downloaded from csrc.nist.gov on 2017-09-27"): a selection from both files, including
//     gcmDecrypt256.rsp cases that must FAIL.
// Every quiche encrypt case must appear, identical, in the RustCrypto set, or this script stops.
// Run: node test/vectors/generate-nist-gcm.mjs <RustCrypto/AEADs checkout> <google/quiche checkout>
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [rust, quiche] = process.argv.slice(2);
if (!rust || !quiche) throw new Error('usage: generate-nist-gcm.mjs <RustCrypto/AEADs git dir> <google/quiche git dir>');
const show = (dir, path) => execFileSync('git', ['-C', dir, 'show', `HEAD:${path}`], { encoding: 'utf8' });
const head = (dir) => execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();

// RustCrypto: `TestVector { key: &hex!("…"), nonce: …, plaintext: b"" | &hex!("…"), aad, ciphertext, tag }`
const rs = show(rust, 'aes-gcm/tests/aes256gcm.rs');
const field = (block, name) => {
  const m = new RegExp(`${name}: (?:b""|&hex!\\(\\s*"([0-9a-f]*)"\\s*\\))`).exec(block);
  if (m === null) throw new Error(`no ${name} in ${block.slice(0, 80)}`);
  return m[1] ?? '';
};
const encrypt = rs
  .split('TestVector {')
  .slice(1)
  .map((b) => ({ key: field(b, 'key'), iv: field(b, 'nonce'), pt: field(b, 'plaintext'), aad: field(b, 'aad'), ct: field(b, 'ciphertext'), tag: field(b, 'tag') }));

// quiche: arrays of string literals (adjacent literals concatenated), nullptr for a FAIL's pt.
function quicheVectors(path, names) {
  const text = show(quiche, path);
  const out = [];
  for (const [, body] of text.matchAll(/const TestVector test_group_\d+\[\] = \{([\s\S]*?)\{nullptr, nullptr/g)) {
    for (const [, entry] of body.matchAll(/\{([^{}]*)\}/g)) {
      const values = entry
        .replace(/\/\/[^\n]*/g, '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .map((s) => (s === 'nullptr' ? null : s.replace(/"\s*"/g, '').replace(/^"|"$/g, '')));
      if (values.length !== names.length) throw new Error(`unexpected entry ${entry}`);
      out.push(Object.fromEntries(names.map((n, i) => [n, values[i]])));
    }
  }
  return out;
}
const qEncrypt = quicheVectors('quiche/quic/core/crypto/aes_256_gcm_encrypter_test.cc', ['key', 'iv', 'pt', 'aad', 'ct', 'tag']);
const qDecrypt = quicheVectors('quiche/quic/core/crypto/aes_256_gcm_decrypter_test.cc', ['key', 'iv', 'ct', 'aad', 'tag', 'pt']);

const same = (a, b) => ['key', 'iv', 'pt', 'aad', 'ct', 'tag'].every((k) => a[k] === b[k]);
for (const q of qEncrypt) {
  if (!encrypt.some((r) => same(r, q))) throw new Error(`quiche case ${q.key} is not in the RustCrypto set`);
}
for (const v of [...encrypt, ...qDecrypt]) {
  if (v.key.length !== 64 || v.iv.length !== 24 || v.tag.length !== 32) throw new Error(`not AES-256 / 96-bit IV / 128-bit tag: ${v.key}`);
}

const doc = {
  algorithm: 'AES-256-GCM',
  source: 'NIST CAVP GCM test vectors (GCMVS, CAVS 14.0, generated 2012-08-31): gcmEncryptExtIV256.rsp, gcmDecrypt256.rsp, from https://csrc.nist.gov/CSRC/media/Projects/Cryptographic-Algorithm-Validation-Program/documents/mac/gcmtestvectors.zip',
  provenance: {
    encrypt: `every [Keylen = 256] [IVlen = 96] [Taglen = 128] case of gcmEncryptExtIV256.rsp, as transcribed in RustCrypto/AEADs ${head(rust)} aes-gcm/tests/aes256gcm.rs (MIT OR Apache-2.0)`,
    decrypt: `a selection of [Keylen = 256] [IVlen = 96] [Taglen = 128] cases of gcmDecrypt256.rsp, FAIL cases included (pt = null), as transcribed in google/quiche ${head(quiche)} quiche/quic/core/crypto/aes_256_gcm_decrypter_test.cc (BSD-3-Clause)`,
    crossCheck: `the ${qEncrypt.length} gcmEncryptExtIV256.rsp cases quiche transcribed independently are all in the encrypt set, identical`,
    generator: 'node test/vectors/generate-nist-gcm.mjs <RustCrypto/AEADs git dir> <google/quiche git dir>',
  },
  encrypt,
  decrypt: qDecrypt.map(({ key, iv, ct, aad, tag, pt }) => ({ key, iv, ct, aad, tag, pt })),
};
writeFileSync(new URL('./nist-gcm-256.json', import.meta.url), JSON.stringify(doc, null, 1) + '\n');
console.log(`nist-gcm-256.json: ${encrypt.length} encrypt, ${qDecrypt.length} decrypt (${qDecrypt.filter((v) => v.pt === null).length} FAIL)`);
