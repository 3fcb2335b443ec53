// Why a request from this page got no answer at all. A script sees a refusal by the page's
// Content-Security-Policy, a refusal by the server's CORS and a network failure as one and the
// same "Failed to fetch"; one `no-cors` request to the same URL tells them apart. Shared by
// `httpKeyProvider` (which does not retry a CSP refusal) and `diagnoseKeyEnvironment`.
// Few words on purpose: this ships in every page.
import type { KeyEnvironmentDiagnosis } from './diagnose.ts';

/**
 * After a request to `url` failed without an answer: `'csp'` when the page's policy refuses the
 * URL (the probe is refused too and raises an enforced `securitypolicyviolation` event naming
 * the URL's origin), `'cors'` when the URL is on another origin and the probe, which CORS does
 * not check, gets its opaque answer; `'answers'` when it gets one on the page's own origin (the
 * failure was a blip); else — and outside a page or worker — `'network'`.
 */
export async function whyNoAnswer(doFetch: typeof globalThis.fetch, url: string, signal?: AbortSignal): Promise<KeyEnvironmentDiagnosis> {
  const page = globalThis.location;
  if (page === undefined) return 'network';
  const { origin } = new URL(url, page.href);
  let csp = false;
  const seen = (event: Event): void => {
    const { disposition, blockedURI } = event as SecurityPolicyViolationEvent;
    csp ||= disposition === 'enforce' && blockedURI.startsWith(origin);
  };
  addEventListener('securitypolicyviolation', seen);
  try {
    await doFetch(url, { mode: 'no-cors', cache: 'no-store', credentials: 'omit', signal });
    return origin === page.origin ? 'answers' : 'cors';
  } catch {
    // The violation event is a task of its own, queued after the rejection.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return csp ? 'csp' : 'network';
  } finally {
    removeEventListener('securitypolicyviolation', seen);
  }
}
