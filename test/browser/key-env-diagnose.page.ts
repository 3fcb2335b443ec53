// The page of test/browser/key-env-diagnose.test.ts: one sign-in through httpKeyProvider,
// counting the POSTs it makes (the retries), then what diagnoseKeyEnvironment finds.
import { diagnoseKeyEnvironment } from '../../src/delivery/diagnose.ts';
import { httpKeyProvider } from '../../src/delivery/http-key-provider.ts';
import { TokumeiError } from '../../src/errors.ts';

let signIns = 0;

async function signIn(url: string): Promise<{ result: unknown; posts: number; diagnosis?: string }> {
  let posts = 0;
  const counting: typeof fetch = (input, init) => {
    if (init?.method === 'POST') posts++;
    return fetch(input, init);
  };
  // A token is spent by the session it opens: never the same one twice.
  const getToken = () => `M000001~${crypto.randomUUID()}-${++signIns}`;
  try {
    const keys = await httpKeyProvider({ url, getToken, fetch: counting, retries: 2 }).fetchKeys({});
    keys.keyring.destroy();
    return { result: 'delivered', posts, diagnosis: await diagnoseKeyEnvironment(url) };
  } catch (err) {
    if (!(err instanceof TokumeiError)) return { result: String(err), posts };
    const attempts = posts;
    return { result: { code: err.code, message: err.message }, posts: attempts, diagnosis: await diagnoseKeyEnvironment(url) };
  }
}

(globalThis as { signIn?: typeof signIn }).signIn = signIn;
