// The page of test/browser/key-env-blocked.test.ts: one sign-in through httpKeyProvider (with a
// DPoP key when asked), counting the POSTs it makes (the retries); and diagnoseKeyEnvironment.
import { diagnoseKeyEnvironment } from '../../src/delivery/diagnose.ts';
import { httpKeyProvider } from '../../src/delivery/http-key-provider.ts';
import { TokumeiError } from '../../src/errors.ts';

let signIns = 0;

async function signIn(url: string, dpop: boolean): Promise<{ result: unknown; posts: number }> {
  let posts = 0;
  const counting: typeof fetch = (input, init) => {
    if (init?.method === 'POST') posts++;
    return fetch(input, init);
  };
  // A token is spent by the session it opens: never the same one twice.
  const getToken = () => `M000001~${crypto.randomUUID()}-${++signIns}`;
  const dpopKey = dpop ? await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) : undefined;
  let result: unknown;
  try {
    const keys = await httpKeyProvider({ url, getToken, dpopKey, fetch: counting, retries: 2 }).fetchKeys({});
    keys.keyring.destroy();
    result = 'delivered';
  } catch (err) {
    result = err instanceof TokumeiError ? { code: err.code, reason: err.reason, message: err.message } : String(err);
  }
  return { result, posts };
}

Object.assign(globalThis, { signIn, diagnose: diagnoseKeyEnvironment });
