/**
 * The authorization server's pages: sign-in (the upstream identity provider,
 * or the demo accounts in development), the approval screen, and errors.
 * Plain server-rendered HTML, every value escaped, no script; framing is
 * refused (an approval screen inside another site's frame would be
 * clickjacking bait).
 */
import type { SignInAccount } from '../../../lib/trust/smart-apps.js';
import type { ScopeWords } from './scope-words.js';

const escape = (value: unknown) => String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  pragma: 'no-cache',
};

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1d2733}
main{max-width:36rem;margin:2rem auto;background:#fff;border-radius:8px;padding:1.5rem 2rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin-top:0}.muted{color:#5b6877;font-size:.9rem}
ul.scopes{list-style:none;padding:0}ul.scopes li{padding:.5rem 0;border-bottom:1px solid #e3e7eb}
label{cursor:pointer}.actions{display:flex;gap:.75rem;margin-top:1.25rem;flex-wrap:wrap}
button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #1f5fa8;background:#1f5fa8;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1f5fa8}.accounts form{display:inline}.accounts button{margin:.2rem 0;width:100%;text-align:left}
.write{color:#9a3b00;font-weight:600}
</style></head><body><main>${body}</main></body></html>`;
}

export interface AppOnPage {
  name: string;
  organizationName: string;
  clientId: string;
}

const appLine = (app: AppOnPage) => `<p><strong>${escape(app.name)}</strong> <span class="muted">by ${escape(app.organizationName)} (${escape(app.clientId)})</span></p>`;

/** Sign-in: the upstream provider's button, and in development the demo accounts. */
export function signInPage(options: { uid: string; app: AppOnPage; upstreamName?: string; accounts?: SignInAccount[]; message?: string }): string {
  const { uid, app } = options;
  const upstream = options.upstreamName
    ? `<form method="get" action="/oauth/interaction/${escape(uid)}/upstream"><button type="submit">Sign in with ${escape(options.upstreamName)}</button></form>`
    : '';
  const demo = options.accounts
    ? `<h2>Development sign-in</h2><p class="muted">No identity provider is configured: choose a demo account.</p>
<div class="accounts">${options.accounts.map((a) => `<form method="post" action="/oauth/interaction/${escape(uid)}/login">
<input type="hidden" name="accountId" value="${escape(a.accountId)}"><button type="submit" class="secondary" data-account="${escape(a.accountId)}">${escape(a.name)} — ${a.kind === 'patient' ? 'patient' : `${escape(a.role.replace('_', ' '))}, ${escape(a.org)}`}</button></form>`).join('\n')}</div>`
    : '';
  return page('Sign in', `<h1>Sign in to connect an app</h1>${appLine(app)}
${options.message ? `<p role="alert">${escape(options.message)}</p>` : ''}${upstream}${demo}
<form method="post" action="/oauth/interaction/${escape(uid)}/abort"><div class="actions"><button type="submit" class="secondary">Cancel</button></div></form>`);
}

/** The approval screen: the app, who is behind it, each scope in plain words; approve all, some or none. */
export function approvalPage(options: {
  uid: string; app: AppOnPage; account: SignInAccount; scopes: ScopeWords[]; context: string[]; offline: boolean;
}): string {
  const { uid, app, account } = options;
  const staff = account.kind === 'practitioner';
  const items = options.scopes.map((s, i) => `<li><label><input type="checkbox" name="scope" value="${escape(s.scope)}" checked id="scope-${i}">
${escape(s.access)} ${escape(s.what)}${s.writes ? ' <span class="write">(can write)</span>' : ''}</label></li>`).join('\n');
  return page('Approve app', `<h1>${escape(app.name)} asks to connect</h1>${appLine(app)}
<p>Signed in as <strong>${escape(account.name)}</strong>${staff ? ` (${escape(account.org)})` : ''}.</p>
<form method="post" action="/oauth/interaction/${escape(uid)}/confirm">
<p>It asks to:</p>
<ul class="scopes">${items || '<li class="muted">No records</li>'}
${options.context.map((words) => `<li class="muted">${escape(words)}</li>`).join('\n')}
${options.offline ? '<li><label><input type="checkbox" name="offline" value="1" checked> Stay connected when you are not using it (until you revoke it)</label></li>' : ''}
</ul>
<p class="muted">${staff
    ? 'It sees only what you may see yourself, under the patients\' consent.'
    : 'Untick what you do not want to share. Records marked sensitive (HIV, mental health…) stay closed to apps unless you name them in a consent. You can revoke this at any time under “My consents”; the app loses access at once.'}</p>
<div class="actions"><button type="submit" name="decision" value="approve">Approve selected</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button></div>
</form>`);
}

export function errorPage(title: string, message: string): string {
  return page(title, `<h1>${escape(title)}</h1><p>${escape(message)}</p>`);
}
