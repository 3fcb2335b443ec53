// Regenerates test/vectors/format-v1.json from the independent reference implementation
// (test/records/format-reference.mjs). Run when vectors are added; the file is pinned:
//   node test/vectors/generate-format-v1.mjs > test/vectors/format-v1.json
// Every input is derived from fixed labels, so a rerun reproduces the same file byte for byte,
// and vectors are only ever appended (a release must keep opening every earlier one).
import { createHash } from 'node:crypto';
import { checkSeal, fieldKey, open, recordSeal, seal } from '../records/format-reference.mjs';

const h = (label, n = 32) => createHash('sha256').update(label).digest().subarray(0, n);
const memberKey = h('tokumei vector member key 1');
const otherKey = h('tokumei vector member key 2');
const keyId = 'M000001.v1';
const ctx = { schemaName: 'member', schemaVersion: 1, fieldName: 'fullName', recordId: 'M000001' };

const inputs = [
  ['ascii', ctx, 'Taro Yamada'],
  ['japanese', ctx, '山田 太郎'],
  ['emoji', { ...ctx, fieldName: 'nickname' }, '🏃‍♀️ 走る'],
  ['empty', { ...ctx, fieldName: 'phone' }, ''],
  ['63-bytes', { ...ctx, fieldName: 'address' }, 'a'.repeat(63)],
  ['64-bytes', { ...ctx, fieldName: 'address' }, 'a'.repeat(64)],
  ['address-ja', { ...ctx, fieldName: 'address', recordId: 'M000002' }, '東京都千代田区千代田1-1 ロイヤルマンション501号室'],
  ['4kb', { ...ctx, fieldName: 'note', schemaVersion: 7 }, 'あ'.repeat(1365) + 'x'],
];

const valid = inputs.map(([name, c, plaintext], i) => {
  const nonce = h(`tokumei vector nonce ${i}`, 12);
  return { name, context: c, plaintext, nonce: nonce.toString('hex'), envelope: seal(memberKey, keyId, c, plaintext, nonce) };
});

const base = valid[1];
const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
const tampered = [
  ['changed character in the ciphertext', ctx, flip(base.envelope, 60)],
  ['changed character in the tag', ctx, flip(base.envelope, base.envelope.length - 3)],
  ['changed character in the nonce', ctx, flip(base.envelope, 24)],
  ['truncated by one character', ctx, base.envelope.slice(0, -1)],
  ['truncated by 16 bytes', ctx, base.envelope.slice(0, -22)],
  ['moved to another field', { ...ctx, fieldName: 'address' }, base.envelope],
  ['moved to another record', { ...ctx, recordId: 'M000002' }, base.envelope],
  ['another schema version', { ...ctx, schemaVersion: 2 }, base.envelope],
  ['another schema', { ...ctx, schemaName: 'dependant' }, base.envelope],
  ['unknown version prefix', ctx, 'tk2.' + base.envelope.slice(4)],
  ['not base64url', ctx, base.envelope.slice(0, 30) + '+' + base.envelope.slice(31)],
  ['not an envelope', ctx, 'Taro Yamada'],
  ['key id not held', ctx, seal(memberKey, 'M000009.v1', ctx, 'x', h('n', 12))],
].map(([name, c, envelope]) => {
  const { error } = open(new Map([[keyId, memberKey]]), c, envelope);
  if (error === undefined) throw new Error(`tampered vector "${name}" opened`);
  return { name, context: c, envelope, error };
});
const wrongKey = { name: 'wrong key (same key id)', context: ctx, envelope: base.envelope, error: open(new Map([[keyId, otherKey]]), ctx, base.envelope).error };

for (const v of valid) {
  if (open(new Map([[keyId, memberKey]]), v.context, v.envelope).value !== v.plaintext) throw new Error(`vector ${v.name} does not open`);
}

// Added later: the longest value under the longest key id (its envelope body is the longest
// allowed, docs/format.md §3), which the library once sealed but refused to open.
const longKeyId = 'k'.repeat(63) + 'L';
const longest = { name: 'longest value, longest key id', keyId: longKeyId, context: { ...ctx, fieldName: 'note' }, plaintext: 'x'.repeat(65536), nonce: h('tokumei vector nonce longest', 12).toString('hex') };
longest.envelope = seal(memberKey, longKeyId, longest.context, longest.plaintext, Buffer.from(longest.nonce, 'hex'));
if (open(new Map([[longKeyId, memberKey]]), longest.context, longest.envelope).value !== longest.plaintext) throw new Error('longest vector does not open');
valid.push(longest);

// Record seals (docs/format.md §8).
const sealSchema = { schemaName: 'member', schemaVersion: 1, fields: { id: 'attribute', fullName: 'identity', phone: 'identity', plan: 'attribute', checkups: 'attribute' } };
const recordId = 'M000001';
const fieldCtx = (fieldName) => ({ schemaName: 'member', schemaVersion: 1, fieldName, recordId });
const sealedAt = (version, fullName, phone, plan) => {
  const r = { id: recordId, fullName: seal(memberKey, keyId, fieldCtx('fullName'), fullName, h(`tokumei vector seal ${version} fullName`, 12)), plan, checkups: [{ year: 2024, bmi: 22.5, note: '要再検査' }, { year: 2025, bmi: 21, ok: true }], $search: { fullName: 'ts1.' + h(`tokumei vector seal ${version} tag`).toString('base64url').slice(0, 43) } };
  if (phone !== undefined) r.phone = seal(memberKey, keyId, fieldCtx('phone'), phone, h(`tokumei vector seal ${version} phone`, 12));
  r.$version = version;
  r.$seal = recordSeal(memberKey, keyId, sealSchema, r, recordId, version);
  return r;
};
const older = sealedAt(6, '山田 太郎', '03-1111-1111', 'basic');
const current = sealedAt(7, '山田 太朗', '03-2222-2222', 'premium');
const keys = new Map([[keyId, memberKey]]);
const sealTampered = [
  ['one field rolled back to its older envelope', { ...current, fullName: older.fullName }, undefined],
  ['an optional identity field dropped', { ...current, phone: undefined }, undefined],
  ['an optional identity field set to null', { ...current, phone: null }, undefined],
  ['an attribute changed', { ...current, plan: 'basic' }, undefined],
  ['a nested attribute changed', { ...current, checkups: [current.checkups[0]] }, undefined],
  ['search tags changed', { ...current, $search: older.$search }, undefined],
  ['version changed', { ...current, $version: 8 }, undefined],
  ['seal of the older version', { ...current, $seal: older.$seal }, undefined],
  ['seal stripped, a minimum version asked for', { ...current, $seal: undefined, $version: undefined }, 7],
  ['the whole older record, a minimum version asked for', older, 7],
  ['unknown seal version', { ...current, $seal: 'tr2.' + current.$seal.slice(4) }, undefined],
  ['malformed seal', { ...current, $seal: current.$seal.slice(0, -2) }, undefined],
  ['version not an integer', { ...current, $version: 7.5 }, undefined],
].map(([name, record, minVersion]) => {
  const { error } = checkSeal(keys, sealSchema, JSON.parse(JSON.stringify(record)), recordId, minVersion);
  if (error === undefined) throw new Error(`tampered seal vector "${name}" verified`);
  return { name, record: JSON.parse(JSON.stringify(record)), ...(minVersion === undefined ? {} : { minVersion }), error };
});
for (const r of [older, current]) if (checkSeal(keys, sealSchema, JSON.parse(JSON.stringify(r)), recordId, undefined).ok !== true) throw new Error('seal vector does not verify');
// JSON storage reorders nothing that matters: members in another order verify the same.
const reordered = Object.fromEntries(Object.entries(current).reverse());
reordered.checkups = current.checkups.map((c) => Object.fromEntries(Object.entries(c).reverse()));
if (checkSeal(keys, sealSchema, reordered, recordId, 7).ok !== true) throw new Error('reordered record does not verify');

process.stdout.write(JSON.stringify({
  description: 'tokumei wire format v1 known-answer vectors (docs/format.md). Generated by test/vectors/generate-format-v1.mjs from the independent reference implementation; pinned: every release must open each valid vector and reject each tampered one with the listed code.',
  memberKey: memberKey.toString('hex'),
  fieldKey: fieldKey(memberKey).toString('hex'),
  wrongMemberKey: otherKey.toString('hex'),
  keyId,
  valid,
  tampered: [...tampered, { ...wrongKey, memberKey: otherKey.toString('hex') }],
  recordSeals: {
    description: 'docs/format.md §8: a schema (field name → kind; phone is optional), two sealed versions of one record, and tampered records with the error each must give (openRecord, with minVersion where given).',
    schema: sealSchema,
    recordId,
    valid: [
      { name: 'version 6', record: older, opened: { id: recordId, fullName: '山田 太郎', phone: '03-1111-1111', plan: 'basic', checkups: older.checkups } },
      { name: 'version 7', record: current, opened: { id: recordId, fullName: '山田 太朗', phone: '03-2222-2222', plan: 'premium', checkups: current.checkups } },
      { name: 'version 7, members reordered as a JSON store may return them', record: reordered, minVersion: 7, opened: { id: recordId, fullName: '山田 太朗', phone: '03-2222-2222', plan: 'premium', checkups: current.checkups } },
    ],
    tampered: sealTampered,
  },
}, null, 2) + '\n');
