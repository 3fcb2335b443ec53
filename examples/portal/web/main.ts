// The member portal. Identity values reach this page sealed and are opened here, in the
// browser, with the member's keys — which the page holds only while the member is signed in
// (a tokumei session). Health data comes from the data environment under a pseudonym.
//
// Query parameters: `?persistence=indexeddb` (a reload or a second tab resumes the session)
// and `?idleMs=N` (idle timeout) pass through to `openSession`; `?revocationCheckMs=N` sets how
// often the session asks the key environment whether it was revoked (default 30 s).
// In a portal of your own this is `from 'tokumei'`; the demo bundles the library from source.
import { httpKeyProvider, openSession, type PlainRecord } from '../../../src/index.ts';
import { personSchema } from '../shared/schemas.ts';
import { api, ApiError, signIn, signOutSso, type AttributeView, type Pseudonyms, type SsoToken } from './api.ts';
import { destroyCharts } from './charts.ts';
import { h, replace } from './dom.ts';
import { renderDashboard, type Dependant, type PortalView } from './views.ts';
import './style.css';

type Session = Awaited<ReturnType<typeof openSession>>;

const params = new URLSearchParams(location.search);
const persistence: 'memory' | 'indexeddb' = params.get('persistence') === 'indexeddb' ? 'indexeddb' : 'memory';
const idleParam = Number(params.get('idleMs'));
const idleTimeoutMs = Number.isSafeInteger(idleParam) && idleParam > 0 ? idleParam : 15 * 60_000;
const checkParam = Number(params.get('revocationCheckMs'));
const revocationCheckMs = Number.isSafeInteger(checkParam) && checkParam > 0 ? checkParam : 30_000;
// The SSO token (not a key) is kept across reloads only in the multi-page (IndexedDB) mode.
const TOKEN_KEY = 'tokumei-demo.sso';
const tokenStore: Storage | undefined = persistence === 'indexeddb' ? localStorage : undefined;

const root = document.getElementById('app')!;
let current: { session: Session; sso: SsoToken } | undefined;

const REASONS: Record<string, string> = {
  logoff: 'ログオフしました',
  idle: '一定時間操作がなかったため、サインアウトしました',
  expired: 'セッションの有効期限が切れました',
  pagehide: 'ページを離れたため、鍵を消去しました',
  'remote-logoff': '別のタブでログオフしました',
  revoked: 'セッションが無効化されました',
};

function showLogin(signedOutReason?: string): void {
  destroyCharts();
  const error = h('p', { class: 'error', role: 'alert' });
  const id = h('input', { 'data-testid': 'login-id', name: 'id', autocomplete: 'username', placeholder: 'M000001', required: true, value: 'M000001' });
  const password = h('input', { 'data-testid': 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', placeholder: 'demo', required: true });
  const submit = h('button', { 'data-testid': 'login-submit', type: 'submit' }, 'サインイン');
  const form = h(
    'form',
    {
      class: 'card login',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        submit.disabled = true;
        error.textContent = '';
        signIn(id.value.trim(), password.value)
          .then((sso) => enter(sso))
          .catch((err: unknown) => {
            error.textContent = err instanceof ApiError && err.status === 401 ? '会員番号またはパスワードが違います' : `サインインできませんでした (${describe(err)})`;
            submit.disabled = false;
          });
      },
    },
    h('h2', {}, 'サインイン'),
    h('label', {}, '会員番号 (Member ID)', id),
    h('label', {}, 'パスワード (Password)', password),
    submit,
    error,
    h('p', { class: 'hint' }, 'デモ: M000001〜M001000、パスワードは demo'),
  );
  replace(
    root,
    signedOutReason === undefined
      ? null
      : h('div', { class: 'signed-out', 'data-testid': 'signed-out', 'data-reason': signedOutReason, role: 'status' }, `${REASONS[signedOutReason] ?? 'サインアウトしました'} (${signedOutReason})`),
    form,
  );
}

function describe(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err) return String((err as { code: unknown }).code);
  return err instanceof Error ? err.message : 'error';
}

/** Opens a session for a signed-in member and shows the portal. */
async function enter(sso: SsoToken): Promise<void> {
  replace(root, h('p', { class: 'loading' }, '鍵を受け取っています…'));
  const session = await openSession({
    keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: () => sso.accessToken }),
    persistence,
    idleTimeoutMs,
    // Typing and tapping count as activity, not only use of the keys.
    activityEvents: ['pointerdown', 'keydown'],
    revocationCheckMs,
  });
  current = { session, sso };
  tokenStore?.setItem(TOKEN_KEY, JSON.stringify(sso));
  session.on('wiped', ({ reason }) => signedOut(reason, sso));
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

function signedOut(reason: string, sso: SsoToken): void {
  current = undefined;
  if (reason === 'pagehide') {
    // The page is going away, or into the back/forward cache: drop every decrypted value so
    // no snapshot keeps one. In IndexedDB mode the next page resumes from the stored session,
    // so the SSO token stays.
    destroyCharts();
    root.replaceChildren();
    return;
  }
  tokenStore?.removeItem(TOKEN_KEY);
  if (reason === 'logoff') void signOutSso(sso.accessToken);
  // Drop every decrypted value from the page along with the keys.
  showLogin(reason);
}

async function load(session: Session, sso: SsoToken): Promise<void> {
  const client = api(sso.accessToken);
  const pseudonyms: Pseudonyms = await client.pseudonyms();
  const [sealedMe, attrs] = await Promise.all([client.person(sso.memberId), client.attributes(pseudonyms.self)]);
  const me = await session.openRecord(personSchema, sealedMe, { recordId: sso.memberId });
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
      const sealed = await session.sealRecord(personSchema, next, { recordId: sso.memberId });
      await client.putPerson(sso.memberId, sealed);
      view.me = next;
    },
  };
  renderDashboard(root, view);
}

async function start(): Promise<void> {
  const saved = tokenStore?.getItem(TOKEN_KEY);
  if (saved != null) {
    try {
      await enter(JSON.parse(saved) as SsoToken);
      return;
    } catch {
      tokenStore?.removeItem(TOKEN_KEY);
    }
  }
  showLogin();
}

// A page restored from the back/forward cache has wiped its keys on the way in: start afresh
// (IndexedDB mode resumes; memory mode asks to sign in again).
window.addEventListener('pageshow', (ev) => {
  if (ev.persisted) location.reload();
});
void start();
