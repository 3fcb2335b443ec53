// The SSO's own pages: the sign-in form, the sign-out step of RP-initiated logout, and errors.
// They run no inline script or style (their content security policy forbids both); the one
// script, which submits the sign-out form, is a file of this origin.
import type { KoaContextWithOIDC } from 'oidc-provider';

/** The SSO's content security policy; `portal` is where its forms may end up (redirects). */
export function ssoCsp(portal: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `form-action 'self' ${portal}`,
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

/** Static files of the SSO's pages. */
export const ASSETS: Record<string, { type: string; body: string }> = {
  '/assets/sso.css': {
    type: 'text/css; charset=utf-8',
    body: `body{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;background:#f4f6f8;color:#1d2733;margin:0}
main{max-width:26rem;margin:3rem auto;padding:1.5rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.25rem;margin:0 0 1rem}label{display:block;margin:.75rem 0 .25rem}
input{box-sizing:border-box;width:100%;font-size:1rem;padding:.6rem;min-height:44px}
button{margin-top:1rem;width:100%;font-size:1rem;padding:.7rem;min-height:44px;background:#1f6feb;color:#fff;border:0;border-radius:6px}
.error{color:#b42318}.hint{color:#56606b;font-size:.9rem}`,
  },
  // Submits the sign-out form once the page has loaded (a request from the portal: logoutPage).
  '/assets/logout.js': {
    type: 'text/javascript; charset=utf-8',
    body: `const f=document.getElementById('op.logoutForm');if(f){const i=document.createElement('input');i.type='hidden';i.name='logout';i.value='yes';f.append(i);f.submit();}`,
  },
};

/** A page with the SSO's stylesheet. `body` must already be escaped. */
export function plainPage(title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — けんぽ SSO</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/sso.css">${head}</head>
<body><main><h1>${title}</h1>${body}</main></body></html>`;
}

/** The sign-in form of an interaction. */
export function loginPage(uid: string, error?: string, memberId = ''): string {
  const id = encodeURIComponent(uid);
  return plainPage(
    'けんぽ SSO サインイン',
    `<form method="post" action="/interaction/${id}/login" autocomplete="off">
<label for="id">会員番号 (Member ID)</label><input id="id" data-testid="login-id" name="id" autocomplete="username" placeholder="M000001" required value="${memberId.replace(/[^A-Z0-9]/g, '')}">
<label for="password">パスワード (Password)</label><input id="password" data-testid="login-password" name="password" type="password" autocomplete="current-password" placeholder="demo" required>
<button data-testid="login-submit" type="submit">サインイン</button>
${error === undefined ? '' : `<p class="error" role="alert">${error}</p>`}
<p class="hint">デモ: M000001〜、パスワードは demo</p>
</form>`,
  );
}

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). A request from the portal — its
 * client id and its registered post-logout address — submits itself: the portal does not send
 * the ID token as `id_token_hint`, because the URL lands in the browser's history on disk and an
 * ID token names the member. The price is that any page could sign a member out of the SSO (a
 * nuisance, never a disclosure). Any other request asks the member to confirm.
 */
export function logoutPage(trustedClientId: string): (ctx: KoaContextWithOIDC, form: string) => Promise<void> {
  return async (ctx, form) => {
    const trusted = ctx.oidc.client?.clientId === trustedClientId || ctx.oidc.entities.IdTokenHint !== undefined;
    ctx.type = 'html';
    ctx.body = trusted
      ? plainPage('サインアウトしています…', form, '<script src="/assets/logout.js" defer></script>')
      : plainPage(
          'SSO からサインアウトしますか?',
          `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">サインアウト</button>`,
        );
  };
}
