/**
 * Driving the SMART authorization server as an app and a person would: a
 * small browser (cookies by name and path, like a real one; redirects
 * followed by hand) for the sign-in and approval pages, and openid-client
 * (a certified OAuth client) for everything an app does: discovery from
 * `.well-known/smart-configuration`, the authorization URL with PKCE, the
 * code exchange, refresh, client credentials.
 */
import * as oidc from 'openid-client';
import { Provider, type Configuration as ProviderConfiguration } from 'oidc-provider';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestStack } from './harness.js';

export class Browser {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  private cookieHeader(url: URL): string {
    return [...this.cookies.values()].filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  private remember(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const [name, ...rest] = pair!.split('=');
      const path = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const value = rest.join('=');
      const expired = attributes.some((a) => /^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now()) || attributes.some((a) => /^max-age=0$/i.test(a));
      if (expired || value === '') this.cookies.delete(`${name}|${path}`);
      else this.cookies.set(`${name}|${path}`, { name: name!, value, path });
    }
  }

  async request(url: string, init: { method?: string; form?: URLSearchParams } = {}): Promise<Response> {
    const target = new URL(url);
    const response = await fetch(target, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      redirect: 'manual',
      headers: { cookie: this.cookieHeader(target), ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: init.form?.toString(),
    });
    this.remember(response);
    return response;
  }

  /**
   * Requests `url` and follows redirects until a page (200) or until a
   * redirect to `stopAt` (the app's redirect URI), which is returned unfollowed.
   */
  async go(url: string, init: { form?: URLSearchParams } = {}, stopAt?: string): Promise<{ url: string; status: number; html: string; location?: string }> {
    let response = await this.request(url, init);
    let current = url;
    for (let hops = 0; hops < 20; hops++) {
      const location = response.headers.get('location');
      if (!(response.status >= 300 && response.status < 400 && location)) break;
      const next = new URL(location, current).href;
      if (stopAt && next.startsWith(stopAt)) return { url: current, status: response.status, html: '', location: next };
      current = next;
      response = await this.request(current);
    }
    return { url: current, status: response.status, html: await response.text() };
  }
}

export interface AppRegistration {
  clientId: string;
  name?: string;
  organizationId?: string;
  kind?: 'PATIENT_APP' | 'STAFF_APP' | 'BACKEND_SERVICE';
  clientType?: 'PUBLIC' | 'CONFIDENTIAL_SYMMETRIC' | 'CONFIDENTIAL_ASYMMETRIC';
  redirectUris?: string[];
  scope: string;
  jwks?: string;
  jwksUri?: string;
  active?: boolean;
}

export const REGISTER_APP = `mutation Register($input: AppInput!) {
  upsertApp(input: $input) { clientSecret app { clientId name kind clientType scope active organization { id name } } }
}`;

/** Registers (or changes) an app as an administrator; returns the answer. */
export async function registerApp(stack: TestStack, input: AppRegistration) {
  const admin = await stack.token({ sub: 'admin-apps', role: 'admin' });
  const answer = await stack.graphql(admin, REGISTER_APP, {
    input: { name: `App ${input.clientId}`, organizationId: 'org-county-north', kind: 'PATIENT_APP', clientType: 'PUBLIC', ...input },
  });
  if (answer.errors) throw new Error(`registration failed: ${JSON.stringify(answer.errors)}`);
  return answer.data.upsertApp as { clientSecret: string | null; app: Record<string, unknown> };
}

export const baseOf = (stack: TestStack) => stack.url.replace(/\/graphql$/, '');

/** What a SMART app does first: read the server's SMART configuration, and make an OAuth client of it. */
export async function smartClient(stack: TestStack, clientId: string, auth: oidc.ClientAuth = oidc.None(), clientMetadata?: Partial<oidc.ClientMetadata>) {
  const response = await fetch(`${baseOf(stack)}/fhir/.well-known/smart-configuration`);
  const metadata = (await response.json()) as oidc.ServerMetadata;
  const config = new oidc.Configuration(metadata, clientId, clientMetadata, auth);
  oidc.allowInsecureRequests(config); // the test stack listens on plain http on the loopback
  return config;
}

export interface AuthorizeOptions {
  scope: string;
  redirectUri: string;
  /** The demo account to sign in as (development sign-in); omitted when the test signs in itself (upstream). */
  account?: string;
  /** Which requested clinical scopes to tick on the approval screen; 'none' denies; default all. */
  approve?: string[] | 'none';
  aud?: string;
  /** Tick "stay connected" (offline_access) — default true. */
  offline?: boolean;
  /** Sign in through the upstream provider instead of the demo list. */
  upstream?: boolean;
}

/**
 * A standalone launch in the browser: the authorization request (PKCE S256,
 * state, aud), the sign-in, the approval screen. Returns the redirect back to
 * the app (with its code, or an error) and what the app keeps for the
 * exchange.
 */
export async function authorize(stack: TestStack, browser: Browser, config: oidc.Configuration, options: AuthorizeOptions) {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: options.redirectUri, scope: options.scope, state, aud: options.aud ?? `${baseOf(stack)}/fhir`,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
  });
  let page = await browser.go(url.href, {}, options.redirectUri);
  const interaction = () => page.url.replace(/\/(login|upstream|confirm)$/, '');
  if (!page.location && /Sign in to connect an app/.test(page.html)) {
    if (options.upstream) page = await browser.go(`${interaction()}/upstream`, {}, options.redirectUri);
    else page = await browser.go(`${interaction()}/login`, { form: new URLSearchParams({ accountId: options.account ?? '' }) }, options.redirectUri);
  }
  const approvalHtml = page.html;
  if (!page.location && /asks to connect/.test(page.html)) {
    const offered = [...page.html.matchAll(/name="scope" value="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"'));
    const form = new URLSearchParams();
    if (options.approve === 'none') form.set('decision', 'deny');
    else {
      form.set('decision', 'approve');
      for (const scope of options.approve ?? offered) form.append('scope', scope);
      if (options.offline !== false) form.set('offline', '1');
    }
    page = await browser.go(`${interaction()}/confirm`, { form }, options.redirectUri);
  }
  return { callback: page.location ? new URL(page.location) : undefined, page, approvalHtml, codeVerifier, state };
}

/** The code exchange, as the app does it (openid-client checks state and the response). */
export function exchange(config: oidc.Configuration, flow: { callback?: URL; codeVerifier: string; state: string }) {
  if (!flow.callback) throw new Error('no redirect back to the app');
  return oidc.authorizationCodeGrant(config, flow.callback, { pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state });
}

/** Decodes a JWT's claims (the test reads what the gateway will verify). */
export const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, any>;

/**
 * An upstream OpenID Connect provider in process (a second oidc-provider):
 * the alliance's health-card login. Whoever `signInAs` names signs in at
 * once (its own login is not what is tested), and the ID token carries the
 * claims the authorization server maps: the health-card number, or a
 * practitioner id and organisation.
 */
export async function startUpstreamProvider() {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let redirectUri = 'http://127.0.0.1/unset';
  let claims: Record<string, unknown> = {};
  const store = new Map<string, Record<string, unknown>>();
  class MemoryAdapter {
    constructor(private readonly model: string) {}
    key = (id: string) => `${this.model}:${id}`;
    async upsert(id: string, payload: Record<string, unknown>) { store.set(this.key(id), payload); }
    async find(id: string) {
      if (this.model === 'Client') {
        return id === 'fpr-gateway'
          ? { client_id: 'fpr-gateway', client_secret: 'upstream-secret', token_endpoint_auth_method: 'client_secret_post', redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] }
          : undefined;
      }
      return store.get(this.key(id));
    }
    async findByUid(uid: string) { return [...store.entries()].find(([k, v]) => k.startsWith(`${this.model}:`) && v.uid === uid)?.[1]; }
    async findByUserCode() { return undefined; }
    async consume(id: string) { const v = store.get(this.key(id)); if (v) v.consumed = Math.floor(Date.now() / 1000); }
    async destroy(id: string) { store.delete(this.key(id)); }
    async revokeByGrantId(grantId: string) { for (const [k, v] of store) if (v.grantId === grantId) store.delete(k); }
  }
  const configuration: ProviderConfiguration = {
    adapter: MemoryAdapter as never,
    claims: { openid: ['sub', 'health_card_number', 'practitioner_id', 'organization_id'] },
    conformIdTokenClaims: false,
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, ...claims }) }),
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['upstream-test-cookie-key'] },
    // First-party login: consent is implied.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid');
      await grant.save();
      return grant;
    },
  };
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();
  server.on('request', async (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      // The person signs in at once as whoever the test chose.
      await provider.interactionFinished(req, res, { login: { accountId: String(claims.sub ?? 'someone') } }, { mergeWithLastSubmission: false });
      return;
    }
    await callback(req, res);
  });
  return {
    issuer,
    setRedirectUri: (uri: string) => { redirectUri = uri; },
    /** Who signs in next, and what the ID token says about them. */
    signInAs: (next: Record<string, unknown>) => { claims = next; },
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
