// A shared corpus of bad inputs, run against every public function (test/bad-inputs.test.ts).
// Each must be rejected with a TypeError, a RangeError or a TokumeiError — never another error
// (a crash inside a primitive, a `Cannot read properties of undefined`) and never accepted.

/** Values that are wrong for almost every parameter. */
export const BAD_VALUES: readonly [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['zero', 0],
  ['NaN', Number.NaN],
  ['negative', -1],
  ['bigint', 10n],
  ['true', true],
  ['empty string', ''],
  ['string', 'not valid: spaces & ☃'],
  ['symbol', Symbol('x')],
  ['function', () => 1],
  ['empty object', {}],
  ['array', []],
  ['empty bytes', new Uint8Array(0)],
  ['31 bytes', new Uint8Array(31)],
  ['33 bytes', new Uint8Array(33)],
  ['Uint16Array', new Uint16Array(16)],
  ['ArrayBuffer', new ArrayBuffer(32)],
  ['Date', new Date(0)],
];
