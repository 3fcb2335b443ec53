// What a promise settled with, as one string an assertion compares (shared by the suites).
import { TokumeiError } from '../src/errors.ts';

/**
 * `'resolved'`, or the `code` of the TokumeiError the promise rejected with. Any other rejection
 * — a TypeError, or another error that merely has a `code` property — is
 * `not a TokumeiError: <name>: <message>`, which equals no code: `expect(await codeOf(p)).toBe('ERR_AUTH')`
 * holds only for a TokumeiError with that code.
 */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TokumeiError) return err.code;
    return `not a TokumeiError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
  }
  return 'resolved';
}

/**
 * As {@link codeOf}, but another `Error` is its name alone (`TypeError`, `RangeError`): for tables
 * where some inputs are refused with a code and others are a caller's programming mistake.
 */
export async function outcomeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TokumeiError) return err.code;
    return err instanceof Error ? err.name : `not an Error: ${String(err)}`;
  }
  return 'resolved';
}
