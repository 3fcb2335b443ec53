// A shared corpus of bad inputs, run against every public function (test/bad-inputs.test.ts).
// Each must be rejected with a TokumeiError, or a TypeError / RangeError of the library's one
// message shape (`"recordId" expected …`) — never another error (a crash inside a primitive, a
// `Cannot read properties of undefined`) and never accepted.

/** Values that are wrong for almost every parameter. */
export const BAD_VALUES: readonly [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['zero', 0],
  ['NaN', Number.NaN],
  ['negative', -1],
  ['fraction', 1.5],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['bigint', 10n],
  ['true', true],
  ['empty string', ''],
  ['string', 'not valid: spaces & ☃'],
  ['lone high surrogate', 'k\uD800'],
  ['lone low surrogate', '\uDFFFk'],
  ['long string', 'x'.repeat(70_000)],
  ['symbol', Symbol('x')],
  ['function', () => 1],
  ['empty object', {}],
  ['object with __proto__', JSON.parse('{"__proto__": {"polluted": 1}}') as unknown],
  ['array', []],
  ['empty bytes', new Uint8Array(0)],
  ['31 bytes', new Uint8Array(31)],
  ['33 bytes', new Uint8Array(33)],
  ['Uint16Array', new Uint16Array(16)],
  ['ArrayBuffer', new ArrayBuffer(32)],
  ['Date', new Date(0)],
];

/** Strings that are never a valid record id (docs/format.md §1.2–§1.3). */
export const BAD_RECORD_IDS: readonly string[] = ['', 'patient-\uD800', 'patient-\uDFFF', '\uDC00\uD800', 'x'.repeat(1025), 'あ'.repeat(342)];

/** Strings that are never a valid key id (docs/format.md §1.2). */
export const BAD_KEY_IDS: readonly string[] = ['', 'k'.repeat(65), 'has space', 'k\uD800', 'ключ', 'k/1', 'k\n'];

/** Names that are never a valid field name (docs/format.md §1.2). */
export const BAD_FIELD_NAMES: readonly string[] = ['', '1st', 'a-b', 'a.b', 'x'.repeat(65), '__proto__', '$search', 'n\uD800', 'namé', ' a'];

/** Values an identity field can never hold when sealing. */
export const BAD_IDENTITY_VALUES: readonly unknown[] = [42, true, {}, [], 10n, 'a\uD800', '\uDFFF', 'x'.repeat(65_537), 'あ'.repeat(21_846)];

/** What an identity field can never hold when opening (none is a valid envelope). */
export const BAD_ENVELOPES: readonly unknown[] = [
  42, {}, [], '', 'Taro', 'tk1.', 'tk1.A', 'tk1.!!!!', 'tk2.AQAA', 'tk1.' + 'A'.repeat(109_353), 'TK1.AQ', 'tk1.AQ==', 'tk1.\uD800AAA',
];

/** What `$seal` can never hold, and what `$version` can never hold beside a seal. */
export const BAD_SEALS: readonly unknown[] = [42, true, '', 'tr1.', 'tr1.AQ', 'tr2.AQAA', 'TR1.AQ', {}, ['tr1.']];
export const BAD_VERSIONS: readonly unknown[] = [-1, 1.5, '7', 2 ** 53, Number.NaN, null, undefined, {}];

/** Strings that are never a search token. */
export const BAD_TOKENS: readonly unknown[] = ['', 'tq1.', 'tq2.AQ', 'tq1.!!', 'ts1.AAAA', 'tq1.' + 'A'.repeat(300), 'tq1.\uD800', 42, null];
