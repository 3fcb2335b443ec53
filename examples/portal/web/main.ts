// The member portal. Identity values reach this page sealed and are opened here, in the
// browser, with the member's keys — which the page holds only while the member is signed in
// (a tokumei session). Sign-in is at the SSO (sso.ts: OpenID Connect, code flow with PKCE,
// DPoP-bound tokens, one audience per environment); health data comes from the data
// environment under pseudonyms named by a ticket from the key environment (api.ts).
//
// Query parameters: `?persistence=indexeddb` (a reload or a second tab resumes the session,
// signing in again silently at the SSO) and `?idleMs=N` (idle timeout) pass through to
// `openSession`; `?revocationCheckMs=N` sets how often the session asks the key environment
// whether it was revoked (default 30 s).
// In a portal of your own this is `from 'tokumei'`; the demo bundles the library from source.
import { httpKeyProvider, openSession, type PlainRecord } from '../../../src/index.ts';
import { personSchema } from '../shared/schemas.ts';
import type { TicketResponse } from '../shared/ticket.ts';
import { ApiError, PortalApi, type AttributeView } from './api.ts';
import { destroyCharts } from './charts.ts';
import { h, replace } from './dom.ts';
import { dpopKeyPair, forgetDpopKeyPair } from './dpop-key.ts';
import { beginSignIn, completeSignIn, ssoConfig, type SsoSession } from './sso.ts';
import { renderDashboard, type Dependant, type PortalView } from './views.ts';
import './style.css';

type Session = Awaited<ReturnType<typeof openSession>>;

/** The portal's own query parameters (read again after the SSO's redirect has restored them). */
function portalOptions(search: string): { persistence: 'memory' | 'indexeddb'; idleTimeoutMs: number; revocationCheckMs: number } {
  const params = new URLSearchParams(search);
  const idle = Number(params.get('idleMs'));
  const check = Number(params.get('revocationCheckMs'));
  return {
    persistence: params.get('persistence') === 'indexeddb' ? 'indexeddb' : 'memory',
    idleTimeoutMs: Number.isSafeInteger(idle) && idle > 0 ? idle : 15 * 60_000,
    revocationCheckMs: Number.isSafeInteger(check) && check > 0 ? check : 30_000,
  };
}
let { persistence, idleTimeoutMs, revocationCheckMs } = portalOptions(location.search);
// IndexedDB mode: a hint (no token, no key) that this browser has a session to resume, so a
// reload signs in again silently at the SSO instead of showing the sign-in button.
const RESUME_HINT = 'tokumei-demo.resume';
const config = ssoConfig();

const root = document.getElementById('app')!;
let current: { session: Session; sso: SsoSession } | undefined;

// Why the member was signed out, in words (the reason code stays in `data-reason`, for tests).
const REASONS: Record<string, string> = {
  logoff: 'ログオフしました。',
  idle: 'しばらく操作がなかったため、サインアウトしました。',
  expired: 'サインインの有効期限が切れたため、サインアウトしました。',
  pagehide: 'ページを離れたため、表示していた情報を消去しました。',
  'remote-logoff': '別のタブでログオフしたため、このタブもサインアウトしました。',
  revoked: '安全のため、サインインが取り消されました。もう一度サインインしてください。',
};
const TRY_AGAIN = 'サインインできませんでした。しばらくしてから、もう一度お試しください。';

function showLogin(signedOutReason?: string, error?: string): void {
  destroyCharts();
  const button = h('button', { 'data-testid': 'sign-in', type: 'button' }, 'サインイン');
  button.addEventListener('click', () => {
    button.disabled = true;
    beginSignIn(config).catch((err: unknown) => {
      button.disabled = false;
      console.warn('sign-in could not start:', describe(err));
      message.textContent = TRY_AGAIN;
    });
  });
  const message = h('p', { class: 'error', role: 'alert' }, error ?? '');
  replace(
    root,
    signedOutReason === undefined
      ? null
      : h('div', { class: 'signed-out', 'data-testid': 'signed-out', 'data-reason': signedOutReason, role: 'status' }, REASONS[signedOutReason] ?? 'サインアウトしました。'),
    h(
      'section',
      { class: 'card login' },
      h('h2', {}, 'サインイン'),
      h('p', {}, '会員番号とパスワードでサインインします。'),
      button,
      message,
      h('p', { class: 'hint' }, 'デモ: M000001〜M001000、パスワードは demo'),
    ),
  );
}

function describe(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err) return String((err as { code: unknown }).code);
  return err instanceof Error ? err.message : 'error';
}

/** Opens a session for a member the SSO just signed in, and shows the portal. */
async function enter(sso: SsoSession): Promise<void> {
  replace(root, h('p', { class: 'loading' }, '読み込み中…'));
  let session: Session;
  try {
    session = await openSession({
      keyProvider: httpKeyProvider({
        url: '/key-env/session',
        getToken: async () => {
          if (sso.keyEnvironmentTokenExpiring()) await sso.renewKeyEnvironmentToken();
          return sso.keyEnvironmentToken();
        },
        // The key pair the SSO bound the tokens to: every key-environment request carries a
        // fresh proof signed with it, and the session is bound to it.
        dpopKey: sso.dpopKey,
        // A delivery of anyone else's keys than the member the SSO signed in is refused.
        memberId: sso.memberId,
      }),
      persistence,
      idleTimeoutMs,
      // Typing and tapping count as activity, not only use of the keys.
      activityEvents: ['pointerdown', 'keydown'],
      revocationCheckMs,
    });
  } catch (err) {
    sso.end();
    throw err;
  }
  current = { session, sso };
  if (persistence === 'indexeddb') localStorage.setItem(RESUME_HINT, '1');
  const stopRenewing = keepSessionAlive(session, sso);
  session.on('wiped', ({ reason }) => {
    stopRenewing();
    signedOut(reason, sso);
  });
  try {
    await load(session, sso);
  } catch (err) {
    // The session may have been wiped while loading (another tab logged off): that view wins.
    if (current?.session === session) {
      await session.logoff().catch(() => undefined);
      throw err;
    }
  }
}

/** Renew the key environment's token and extend the session this long before the session's expiry. */
const RENEW_SESSION_BEFORE_MS = 60_000;

/**
 * The key environment ends a session when the access token it was opened (or last extended)
 * with expires — minutes, not hours. So, a minute before that, the portal renews the token at
 * the SSO and extends the session with it (`session.refresh()`): no new key delivery, no
 * sign-out, up to the session's absolute lifetime. The idle timeout still ends an unused
 * session. Returns the function that stops it.
 */
function keepSessionAlive(session: Session, sso: SsoSession): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = (): void => {
    const before = session.expiresAt;
    timer = setTimeout(() => {
      sso
        .renewKeyEnvironmentToken()
        .then(() => session.refresh())
        // Again before the new expiry; not once the absolute lifetime stops it moving. A refused
        // refresh wipes the session (revoked) or lets it expire.
        .then((next) => next > before && schedule(), () => undefined);
    }, Math.max(0, before - Date.now() - RENEW_SESSION_BEFORE_MS));
  };
  schedule();
  return () => clearTimeout(timer);
}

function signedOut(reason: string, sso: SsoSession): void {
  current = undefined;
  // Drop every decrypted value from the page along with the keys.
  destroyCharts();
  root.replaceChildren();
  if (reason === 'pagehide') {
    // The page is going away, or into the back/forward cache. Its refresh token is revoked
    // (a keepalive request); in IndexedDB mode the next page resumes the session by signing in
    // again silently, so the hint and the stored DPoP key stay.
    sso.end();
    return;
  }
  localStorage.removeItem(RESUME_HINT);
  if (persistence === 'indexeddb') void forgetDpopKeyPair().catch(() => undefined);
  if (reason === 'remote-logoff') {
    // The tab that logged off ends the SSO session; this one forgets its own tokens.
    sso.end();
    showLogin(reason);
    return;
  }
  // Every other wipe ends the SSO session too (RP-initiated logout): a device left signed in at
  // the SSO could sign in again without the password. The SSO sends the browser back here with
  // the reason.
  showLogin(reason);
  sso.signOutOfSso(reason, location.search);
}

async function load(session: Session, sso: SsoSession): Promise<void> {
  const client = new PortalApi(sso, () => session.sessionId);
  const { memberId } = sso;
  const pseudonyms: TicketResponse = await client.ticket();
  const [sealedMe, attrs] = await Promise.all([client.person(memberId), client.attributes(pseudonyms.self)]);
  const me = await session.openRecord(personSchema, sealedMe, { recordId: memberId });
  const dependantIds = (me.dependants as string[] | undefined) ?? [];
  const dependants: Dependant[] = await Promise.all(
    dependantIds.map(async (id) => {
      const pseudonym = pseudonyms.dependants[id];
      const [sealed, attributes] = await Promise.all([client.person(id), pseudonym === undefined ? undefined : client.attributes(pseudonym)]);
      return { id, record: await session.openRecord(personSchema, sealed, { recordId: id }), attributes };
    }),
  );
  if (current?.session !== session) return; // wiped meanwhile
  const view: PortalView = {
    me,
    attrs,
    dependants,
    persistence,
    logoff: () => session.logoff(),
    addVitals: async (v) => {
      const { entry, points } = await client.addVitals(pseudonyms.self, v);
      view.attrs = { ...view.attrs, vitals: [...view.attrs.vitals.filter((x) => x.date !== entry.date), entry], points } as AttributeView;
      return entry;
    },
    changeAddress: async (address: string) => {
      const next: PlainRecord = { ...view.me, address };
      // Sealed here, in the browser, under the member's own key: the plaintext address never
      // leaves the device.
      const sealed = await session.sealRecord(personSchema, next, { recordId: memberId });
      await client.putPerson(memberId, sealed);
      view.me = next;
    },
  };
  renderDashboard(root, view);
}

async function start(): Promise<void> {
  // Coming back from the SSO, the address bar holds its answer; the portal's own query was kept
  // across the redirect and is put back first.
  const result = await completeSignIn(config, () => dpopKeyPair(portalOptions(location.search).persistence));
  if (result !== undefined) ({ persistence, idleTimeoutMs, revocationCheckMs } = portalOptions(result.search));
  if (result?.kind === 'signed-in') return enter(result.sso);
  if (result?.kind === 'signed-out') return showLogin(result.reason);
  if (result?.kind === 'refused') {
    // A silent sign-in the SSO could not answer (`login_required`: its session has ended).
    localStorage.removeItem(RESUME_HINT);
    if (result.error !== 'login_required') console.warn('sign-in refused:', result.error);
    return showLogin(undefined, result.error === 'login_required' ? undefined : TRY_AGAIN);
  }
  // An ordinary page load. In IndexedDB mode, with a session to resume, sign in again silently.
  if (persistence === 'indexeddb' && localStorage.getItem(RESUME_HINT) === '1') return beginSignIn(config, { silent: true });
  showLogin();
}

// A page restored from the back/forward cache has wiped its keys on the way in: start afresh
// (IndexedDB mode resumes; memory mode asks to sign in again).
window.addEventListener('pageshow', (ev) => {
  if (ev.persisted) location.reload();
});
start().catch((err: unknown) => {
  if (!(err instanceof ApiError && err.status === 401)) console.warn('sign-in failed:', describe(err));
  showLogin(undefined, err instanceof ApiError && err.status === 401 ? 'サインインできませんでした。会員番号とパスワードをご確認ください。' : TRY_AGAIN);
});
