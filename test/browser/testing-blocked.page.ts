// The page of test/browser/testing.blocked.test.ts: one sign-in through the real httpKeyProvider,
// against a real key environment (`fake` undefined) or against tokumei/testing's fake with a CSP
// or CORS refusal planned (over its `fetch`, or in-process); counting the POSTs (the retries).
import { httpKeyProvider } from '../../src/delivery/http-key-provider.ts';
import { TokumeiError } from '../../src/errors.ts';
import { fakeKeyEnvironment } from '../../src/testing.ts';

type Fake = { failure: 'csp' | 'cors'; times: number; path: 'fetch' | 'in-process' };

async function signIn(url: string, fake?: Fake): Promise<{ result: unknown; posts: number }> {
  const env = fakeKeyEnvironment();
  if (fake !== undefined && fake.times > 0) env.failNext(fake.failure, fake.times);
  let posts = 0;
  const base = fake === undefined ? fetch : env.fetch;
  const counting: typeof fetch = (input, init) => {
    if (init?.method === 'POST') posts++;
    return base(input, init);
  };
  const getToken = () => (fake === undefined ? `M000001~${crypto.randomUUID()}` : env.token('M000001'));
  const provider = fake?.path === 'in-process' ? env.keyProvider('M000001') : httpKeyProvider({ url, getToken, fetch: counting, retries: 2 });
  let result: unknown;
  try {
    const keys = await provider.fetchKeys({});
    keys.keyring.destroy();
    result = 'delivered';
  } catch (err) {
    result = err instanceof TokumeiError ? { code: err.code, reason: err.reason, message: err.message } : String(err);
  }
  return { result, posts };
}

Object.assign(globalThis, { signIn });
