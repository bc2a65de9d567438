/**
 * The product's SMART App Launch v2 authorization server, built on
 * oidc-provider (an OpenID-certified OAuth 2.0 / OpenID Connect server) and
 * served through the gateway's public port:
 *
 * - discovery at /.well-known/smart-configuration (and under /fhir), OpenID
 *   discovery at /.well-known/openid-configuration;
 * - /oauth/authorize, /oauth/token, /oauth/revoke, /oauth/introspect,
 *   /oauth/jwks: authorization code with PKCE (S256 only, required of every
 *   client), `aud` checked against the FHIR base URL, refresh tokens for
 *   offline_access, client credentials for backend services, clients
 *   authenticated by private_key_jwt or a client secret, or public;
 * - /oauth/interaction/…: sign-in (the upstream OpenID Connect provider, or
 *   the demo accounts in development) and the approval screen.
 *
 * Access tokens are the JWTs the gateway verifies (role, org, patient,
 * scope, client_id), signed with this server's key, audience the FHIR base
 * URL. The server holds no state: identity keeps it (identity-client.ts), so
 * replicas share it and restarts keep it. What a patient approves is a
 * consent directive for the app in identity; the consent policy checks it on
 * every request, so a revocation ends access on the next one, whatever
 * tokens the app holds, and ends the grant its refresh tokens come from.
 */
import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';
import { importJWK, jwtVerify, type JWK, type JSONWebKeySet } from 'jose';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { actorFromClaims } from '../../../lib/trust/actor.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import { RESPONSE_SENT, type HttpRequestInfo, type Route } from '../../../lib/runtime/http.js';
import { categoriesOfScopes, isClinicalScope, narrowScopes } from '../../../lib/trust/scopes.js';
import { CONTEXT_SCOPES, KIND_CONTEXT, type AppKind, type SignInAccount } from '../../../lib/trust/smart-apps.js';
import type { IdentityClient } from './identity-client.js';
import { approvalPage, errorPage, PAGE_HEADERS, signInPage, type AppOnPage } from './pages.js';
import { CONTEXT_SCOPE_WORDS, scopeInWords } from './scope-words.js';
import { upstream as upstreamClient, type UpstreamOptions } from './upstream.js';

export interface AuthorizationServerOptions {
  /** The product's public origin (scheme://host[:port]): the issuer; the FHIR base URL is `<publicUrl>/fhir`. */
  publicUrl: string;
  /** The private key (JWK, ES256) tokens are signed with; every gateway replica has the same. */
  signingKey: JWK;
  identity: IdentityClient;
  /** The alliance's OpenID Connect provider patients and staff sign in at. */
  upstream?: UpstreamOptions;
  /** Development without an upstream provider: the sign-in page lists demo patients and staff. */
  demoSignIn?: boolean;
  logger: Logger;
}

export interface AuthorizationServer {
  issuer: string;
  /** The FHIR base URL: the `aud` apps ask for and the audience of every access token. */
  fhirBaseUrl: string;
  /** The public keys the gateway checks this server's tokens with. */
  publicKeys: JSONWebKeySet;
  /** Its endpoints, as the FHIR CapabilityStatement's SMART `oauth-uris` extension names them. */
  oauthUris: { authorize: string; token: string; revoke: string; introspect: string };
  /** Its routes: discovery, /oauth/…, OpenID discovery (the gateway hands it only those paths). */
  routes: Route[];
}

/** Access tokens: an hour for people's apps (a revoked approval ends them sooner: the policy checks it per request); five minutes for backend services, as SMART Backend Services advise. */
export const TOKEN_LIFETIMES = { AccessToken: 3600, ClientCredentials: 300, AuthorizationCode: 60, IdToken: 3600, Interaction: 900, Session: 3600, Grant: 365 * 86_400, RefreshToken: 30 * 86_400 };

const ROUTES = {
  authorization: '/oauth/authorize', token: '/oauth/token', jwks: '/oauth/jwks', revocation: '/oauth/revoke',
  introspection: '/oauth/introspect', userinfo: '/oauth/userinfo', end_session: '/oauth/logout', pushed_authorization_request: '/oauth/par',
  code_verification: '/oauth/device', device_authorization: '/oauth/device/auth', backchannel_authentication: '/oauth/backchannel', registration: '/oauth/register',
  challenge: '/oauth/challenge', credential: '/oauth/credential',
};
const INTERACTION = /^\/oauth\/interaction\/([\w-]{1,64})(?:\/(login|upstream|confirm|abort))?$/;
const UPSTREAM_CALLBACK = '/oauth/upstream/callback';
const SMART_DISCOVERY = new Set(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']);
const SIGNING_ALGORITHM = 'ES256';
/** Algorithms accepted for client assertions: SMART Backend Services require RS384 and ES384. */
const CLIENT_ASSERTION_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'ES256', 'ES384'];

type Account = SignInAccount & { claims: () => Record<string, unknown> };

export async function authorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const issuer = new URL(options.publicUrl).origin;
  const fhirBaseUrl = `${issuer}/fhir`;
  const { identity, logger } = options;
  const signingKey: JWK = { ...options.signingKey, alg: SIGNING_ALGORITHM, use: 'sig' };
  if (signingKey.kty !== 'EC' || signingKey.crv !== 'P-256' || !signingKey.d) throw new Error('The authorization server\'s signing key must be a private EC P-256 JWK (ES256)');
  const { d: _private, ...publicJwk } = signingKey;
  const upstream = options.upstream ? upstreamClient(options.upstream) : undefined;

  const fhirUser = (account: SignInAccount) => `${fhirBaseUrl}/${account.kind === 'patient' ? 'Patient' : 'Practitioner'}/${account.accountId}`;
  const findAccount = async (_ctx: unknown, accountId: string): Promise<Account | undefined> => {
    const account = await identity.account({ op: 'find', accountId });
    return account ? { ...account, claims: () => ({ sub: account.accountId, fhirUser: fhirUser(account) }) } : undefined;
  };

  /** What the app asked for, cut to what it is registered for and what its kind may have (the request's scope is rewritten: see getResourceServerInfo). */
  const allowedScopes = (requested: string[], client: { [key: string]: unknown }) => {
    const kind = client.fpr_kind as AppKind;
    const registered = String(client.fpr_scope ?? '').split(' ').filter(Boolean);
    const context = KIND_CONTEXT[kind];
    const clinical = narrowScopes(requested, registered.filter((s) => isClinicalScope(s) && s.startsWith(`${context}/`)));
    const contextScopes = requested.filter((s) => (CONTEXT_SCOPES as readonly string[]).includes(s) && kind !== 'BACKEND_SERVICE'
      && (s !== 'launch/patient' || kind === 'PATIENT_APP') && (s !== 'offline_access' || registered.includes('offline_access')));
    return { clinical, contextScopes };
  };

  const configuration: Configuration = {
    adapter: identity.Adapter,
    findAccount,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    scopes: [...CONTEXT_SCOPES],
    conformIdTokenClaims: false,
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: CLIENT_ASSERTION_ALGORITHMS as never, idTokenSigningAlgValues: [SIGNING_ALGORITHM] as never },
    jwks: { keys: [signingKey as never] },
    // Cookies (the sign-in session, the interaction) are signed with a key every replica derives from the signing key.
    cookies: {
      keys: [Buffer.from(hkdfSync('sha256', Buffer.from(String(signingKey.d)), 'fpr-smart', 'cookie-signing', 32)).toString('base64url')],
      names: { session: 'fpr_session', interaction: 'fpr_interaction', resume: 'fpr_resume' },
    } as never,
    routes: ROUTES,
    pkce: { required: () => true },
    responseTypes: ['code'],
    clientDefaults: { id_token_signed_response_alg: SIGNING_ALGORITHM, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' } as never,
    ttl: { ...TOKEN_LIFETIMES },
    extraClientMetadata: { properties: ['fpr_kind', 'fpr_organization', 'fpr_organization_name', 'fpr_scope'] },
    // SMART's `aud`: the FHIR base URL the app means to call; anything else is refused before anyone signs in.
    extraParams: {
      aud(ctx: KoaContextWithOIDC, value: string | undefined) {
        if (ctx.oidc.route !== 'authorization') return;
        if (value !== fhirBaseUrl && value !== `${fhirBaseUrl}/`) throw new errors.InvalidRequest(`aud must be this server's FHIR base URL, ${fhirBaseUrl}`);
      },
    } as never,
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/oauth/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId },
      revocation: { enabled: true },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => fhirBaseUrl,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx: KoaContextWithOIDC, resource: string, client: { [key: string]: unknown }) => {
          if (resource !== fhirBaseUrl && resource !== `${fhirBaseUrl}/`) throw new errors.InvalidTarget(`the only resource is ${fhirBaseUrl}`);
          const oidc = ctx.oidc as unknown as { params?: { scope?: string }; entities: Record<string, { scope?: string } | undefined>; route: string };
          const requested = (oidc.params?.scope ?? oidc.entities.AuthorizationCode?.scope ?? oidc.entities.RefreshToken?.scope ?? '').split(' ').filter(Boolean);
          const { clinical, contextScopes } = allowedScopes(requested, client);
          // The request is narrowed here, once the client is known: what oidc-provider asks consent for, stores and issues is
          // what the registration allows. An app asking for more than it was registered for gets less, never more.
          if (oidc.params?.scope !== undefined) oidc.params.scope = [...contextScopes, ...clinical].join(' ') || undefined;
          if (client.fpr_kind === 'BACKEND_SERVICE' && oidc.route === 'token' && clinical.length === 0) {
            throw new errors.InvalidScope('none of the requested scopes is registered for this client (system/ scopes)', requested.join(' '));
          }
          return {
            scope: clinical.join(' '),
            audience: fhirBaseUrl,
            accessTokenFormat: 'jwt',
            accessTokenTTL: client.fpr_kind === 'BACKEND_SERVICE' ? TOKEN_LIFETIMES.ClientCredentials : TOKEN_LIFETIMES.AccessToken,
            jwt: { sign: { alg: SIGNING_ALGORITHM } },
          };
        },
      },
    } as never,
    // The claims the gateway reads (gateway/src/auth.ts, lib/trust/actor.ts): who, in which role, for which patient or organisation.
    extraTokenClaims: async (ctx: KoaContextWithOIDC, token: { kind: string; accountId?: string }) => {
      const client = ctx.oidc.client as unknown as { [key: string]: unknown } | undefined;
      if (token.kind === 'ClientCredentials') return { role: 'system', org: client?.fpr_organization };
      const account = (ctx.oidc.entities.Account as Account | undefined) ?? (token.accountId ? await findAccount(ctx, token.accountId) : undefined);
      if (!account) throw new errors.InvalidGrant('the account is gone');
      return account.kind === 'patient' ? { role: 'app', patient: account.accountId } : { role: account.role, org: account.org };
    },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }, code: { scopes: Set<string> }) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    // Browser apps (fhirclient) call the token endpoint from their own origin: the origins of their registered redirect URIs.
    clientBasedCORS: (_ctx: unknown, origin: string, client: { redirectUris?: string[] }) => (client.redirectUris ?? []).some((uri) => new URL(uri).origin === origin),
    renderError: async (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) => {
      ctx.type = 'html';
      ctx.set(PAGE_HEADERS);
      ctx.body = errorPage('Sign-in could not continue', `${out.error}: ${out.error_description ?? ''}`);
    },
  } as Configuration;

  const provider = new Provider(issuer, configuration);
  provider.proxy = true;
  // Hashed client secrets (identity keeps only SHA-256 of each): compare the hash of what the client presents.
  const clientPrototype = (provider.Client as unknown as { prototype: { clientSecret?: string; compareClientSecret(actual: string): boolean } }).prototype;
  clientPrototype.compareClientSecret = function compareHashed(this: { clientSecret?: string }, actual: string) {
    const presented = createHash('sha256').update(String(actual)).digest();
    const stored = Buffer.from(this.clientSecret ?? '', 'hex');
    return stored.length === presented.length && timingSafeEqual(stored, presented);
  };
  provider.on('server_error', (_ctx: unknown, error: Error) => logger.error({ err: error }, 'authorization server error'));

  // SMART's token response: `patient` when launch/patient was granted, and the granted context scopes in `scope` beside the clinical ones.
  provider.use(async (ctx, next) => {
    await next();
    const { oidc } = ctx as KoaContextWithOIDC;
    if (oidc?.route === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && 'access_token' in ctx.body) {
      const body = ctx.body as Record<string, unknown>;
      const source = (oidc.entities.AuthorizationCode ?? oidc.entities.RefreshToken) as { scope?: string } | undefined;
      const grant = oidc.entities.Grant as { getOIDCScopeFiltered(scopes: Set<string>): string } | undefined;
      const granted = source?.scope && grant ? grant.getOIDCScopeFiltered(new Set(source.scope.split(' '))).split(' ').filter(Boolean) : [];
      body.scope = [...granted, ...String(body.scope ?? '').split(' ').filter(Boolean)].join(' ') || undefined;
      const account = oidc.entities.Account as Account | undefined;
      if (account?.kind === 'patient' && granted.includes('launch/patient')) body.patient = account.accountId;
      ctx.set('pragma', 'no-cache');
    }
    // Access tokens are JWTs oidc-provider does not keep; introspection of one (by the client it was issued to) answers from the
    // token itself, the app's registration and, for a patient's app, the patient's approval now: revoked, the token is not active.
    if (oidc?.route === 'introspection' && ctx.status === 400 && (ctx.body as { error?: string })?.error === 'unsupported_token_type' && oidc.client) {
      ctx.status = 200;
      ctx.body = await introspectJwt(String(oidc.params?.token ?? ''), oidc.client.clientId);
    }
  });

  /** The introspection answer for one of this server's JWT access tokens. */
  const introspectJwt = async (token: string, clientId: string): Promise<Record<string, unknown>> => {
    try {
      const { payload } = await jwtVerify(token, await importJWK(publicJwk, SIGNING_ALGORITHM), { issuer, audience: fhirBaseUrl, algorithms: [SIGNING_ALGORITHM] });
      if (payload.client_id !== clientId) return { active: false };
      const actor = actorFromClaims(payload);
      const app = await identity.app(clientId);
      if (!app?.active) return { active: false };
      // A patient's app: active only while the patient's approval is (what the gateway checks on every request).
      if (actor.role === 'app' && !(await identity.approved(actor.patient!, clientId))) return { active: false };
      return { active: true, ...payload };
    } catch {
      return { active: false };
    }
  };

  const callback = provider.callback();
  /** Hands a request to oidc-provider, as seen at the public URL (its endpoints' URLs and `aud` checks use it). */
  const toProvider = async (request: HttpRequestInfo): ReturnType<Route> => {
    const { request: req, response: res } = request.raw;
    if (request.url.pathname === ROUTES.authorization) consentForOffline(request);
    const publicUrl = new URL(issuer);
    req.headers['x-forwarded-host'] = publicUrl.host;
    req.headers['x-forwarded-proto'] = publicUrl.protocol.replace(':', '');
    await callback(req, res);
    return RESPONSE_SENT;
  };

  /**
   * OpenID Connect grants offline_access only with prompt=consent; SMART apps
   * ask for offline_access without it. The approval screen is shown for it
   * anyway, so an authorization request asking for offline_access is one
   * that asks for consent.
   */
  const consentForOffline = (request: HttpRequestInfo) => {
    const { request: req } = request.raw;
    const params = new URLSearchParams(request.method === 'POST' ? request.body : request.url.search);
    if (!String(params.get('scope') ?? '').split(' ').includes('offline_access') || params.has('prompt')) return;
    params.set('prompt', 'consent');
    if (request.method === 'POST') req.body = params.toString();
    else req.url = `${request.url.pathname}?${params}`;
  };

  const html = (status: number, body: string) => ({ status, body, contentType: 'text/html; charset=utf-8', headers: PAGE_HEADERS });
  const appOnPage = (client: { [key: string]: unknown } | undefined): AppOnPage => ({
    name: String(client?.clientName ?? client?.clientId ?? 'An app'), organizationName: String(client?.fpr_organization_name ?? ''), clientId: String(client?.clientId ?? ''),
  });
  /** Whether this account may use this kind of app: patients their apps, staff theirs. */
  const accountFits = (account: SignInAccount, kind: unknown) => (kind === 'PATIENT_APP' ? account.kind === 'patient' : kind === 'STAFF_APP' && account.kind === 'practitioner');
  const wrongAccount = (kind: unknown) => (kind === 'PATIENT_APP' ? 'This app is for patients: sign in as a patient.' : 'This app is for staff: sign in as a practitioner.');

  const interaction = async (request: HttpRequestInfo, uid: string, step: string | undefined): ReturnType<Route> => {
    const { request: req, response: res } = request.raw;
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      return html(400, errorPage('Sign-in expired', 'This sign-in is no longer valid. Go back to the app and start again.'));
    }
    if (details.uid !== uid) return html(400, errorPage('Sign-in expired', 'This sign-in is no longer valid. Go back to the app and start again.'));
    const client = (await provider.Client.find(String(details.params.client_id))) as unknown as { [key: string]: unknown } | undefined;
    if (!client) return html(400, errorPage('Unknown app', 'This app is not registered (or no longer active).'));
    const app = appOnPage(client);
    const form = new URLSearchParams(request.method === 'POST' ? request.body : '');
    const finish = async (result: Record<string, unknown>): ReturnType<Route> => {
      await provider.interactionFinished(req, res, result as never, { mergeWithLastSubmission: false });
      return RESPONSE_SENT;
    };

    if (step === 'abort' && request.method === 'POST') return finish({ error: 'access_denied', error_description: 'The user cancelled' });

    if (details.prompt.name === 'login') {
      const demoAccounts = options.demoSignIn ? await identity.demoAccounts() : undefined;
      const signIn = (message?: string) => html(message ? 400 : 200, signInPage({
        uid, app, upstreamName: upstream?.displayName, message,
        accounts: demoAccounts?.filter((a) => accountFits(a, client.fpr_kind)),
      }));
      if (step === 'login' && request.method === 'POST') {
        if (!options.demoSignIn) return html(404, errorPage('Not found', 'Demo sign-in is for development only.'));
        const account = await identity.account({ op: 'find', accountId: String(form.get('accountId') ?? '') });
        if (!account) return signIn('No such account.');
        if (!accountFits(account, client.fpr_kind)) return signIn(wrongAccount(client.fpr_kind));
        return finish({ login: { accountId: account.accountId } });
      }
      if (step === 'upstream' && request.method === 'GET' && upstream) {
        const login = await upstream.begin(`${issuer}${UPSTREAM_CALLBACK}`);
        await new identity.Adapter('UpstreamLogin').upsert(login.state, { uid, nonce: login.nonce, codeVerifier: login.codeVerifier } as never, TOKEN_LIFETIMES.Interaction);
        return { status: 303, body: '', headers: { location: login.url, ...PAGE_HEADERS } };
      }
      if (step) return html(404, errorPage('Not found', 'No such step.'));
      return signIn();
    }

    if (details.prompt.name === 'consent') {
      const account = await identity.account({ op: 'find', accountId: String(details.session?.accountId ?? '') });
      if (!account) return html(400, errorPage('Account not found', 'Sign in again.'));
      const requested = String(details.params.scope ?? '').split(' ').filter(Boolean);
      const clinical = requested.filter(isClinicalScope);
      const context = requested.filter((s) => !isClinicalScope(s));
      if (step === 'confirm' && request.method === 'POST') {
        if (form.get('decision') !== 'approve') return finish({ error: 'access_denied', error_description: 'The user denied the request' });
        const chosen = form.getAll('scope');
        const approved = clinical.filter((s) => chosen.includes(s));
        const keepOffline = form.get('offline') === '1';
        const grantedContext = context.filter((s) => s !== 'offline_access' || keepOffline);
        // Nothing of what the app asked for: that is a refusal.
        if (approved.length === 0 && clinical.length > 0) return finish({ error: 'access_denied', error_description: 'The user approved none of the requested scopes' });
        // The grant this sign-in already has (a new request of an app approved before), or a new one.
        const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId: account.accountId, clientId: app.clientId });
        grant.addOIDCScope(grantedContext.join(' '));
        if (context.includes('offline_access') && !keepOffline) grant.rejectOIDCScope('offline_access');
        if (approved.length) grant.addResourceScope(fhirBaseUrl, approved.join(' '));
        const rejected = clinical.filter((s) => !approved.includes(s));
        if (rejected.length) grant.rejectResourceScope(fhirBaseUrl, rejected.join(' '));
        const grantId = await grant.save();
        if (account.kind === 'patient' && categoriesOfScopes(approved.join(' ')).length) {
          const patient = actorFromClaims({ sub: account.accountId, role: 'patient', patient: account.accountId, scope: 'patient/Consent.cu' });
          await identity.approve(patient, { clientId: app.clientId, scope: approved.join(' '), grantId }, request.requestId);
        }
        return finish({ consent: { grantId } });
      }
      if (step) return html(404, errorPage('Not found', 'No such step.'));
      const whose = account.kind === 'patient' ? 'your' : "patients'";
      return html(200, approvalPage({
        uid, app, account,
        scopes: clinical.map((s) => scopeInWords(s, whose)).filter((w): w is NonNullable<typeof w> => w !== null),
        context: context.filter((s) => s !== 'offline_access').map((s) => CONTEXT_SCOPE_WORDS[s]).filter((w): w is string => Boolean(w)),
        offline: context.includes('offline_access'),
      }));
    }
    return html(400, errorPage('Sign-in could not continue', 'Go back to the app and start again.'));
  };

  /** The upstream provider sends the browser back here: map its identity to a patient or practitioner, and resume. */
  const upstreamCallback = async (request: HttpRequestInfo): ReturnType<Route> => {
    if (!upstream) return html(404, errorPage('Not found', 'No identity provider is configured.'));
    const state = request.url.searchParams.get('state') ?? '';
    const adapter = new identity.Adapter('UpstreamLogin');
    const login = /^[\w-]{1,200}$/.test(state) ? (await adapter.find(state)) as { uid: string; nonce: string; codeVerifier: string } | undefined : undefined;
    if (!login) return html(400, errorPage('Sign-in expired', 'This sign-in is no longer valid. Go back to the app and start again.'));
    await adapter.destroy(state);
    const pending = await provider.Interaction.find(login.uid);
    if (!pending) return html(400, errorPage('Sign-in expired', 'This sign-in is no longer valid. Go back to the app and start again.'));
    let account: SignInAccount | null = null;
    try {
      const callbackUrl = new URL(`${issuer}${UPSTREAM_CALLBACK}${request.url.search}`);
      const who = await upstream.finish(callbackUrl, { state, nonce: login.nonce, codeVerifier: login.codeVerifier });
      account = who.healthCard ? await identity.account({ op: 'health-card', value: who.healthCard })
        : who.practitionerId ? await identity.account({ op: 'practitioner', practitionerId: who.practitionerId, organizationId: who.organizationId }) : null;
    } catch (error) {
      logger.warn({ err: error }, 'upstream sign-in failed');
      return html(400, errorPage('Sign-in failed', 'The identity provider did not confirm who you are. Go back to the app and start again.'));
    }
    const client = (await provider.Client.find(String(pending.params?.client_id))) as unknown as { [key: string]: unknown } | undefined;
    const result = !account
      ? { error: 'access_denied', error_description: 'This identity is not linked to a patient or practitioner of the alliance' }
      : !accountFits(account, client?.fpr_kind) ? { error: 'access_denied', error_description: wrongAccount(client?.fpr_kind) }
        : { login: { accountId: account.accountId } };
    pending.result = result as never;
    await pending.save(pending.exp - Math.floor(Date.now() / 1000));
    return { status: 303, body: '', headers: { location: pending.returnTo, ...PAGE_HEADERS } };
  };

  const smartConfiguration = () => JSON.stringify({
    issuer,
    jwks_uri: `${issuer}${ROUTES.jwks}`,
    authorization_endpoint: `${issuer}${ROUTES.authorization}`,
    token_endpoint: `${issuer}${ROUTES.token}`,
    introspection_endpoint: `${issuer}${ROUTES.introspection}`,
    revocation_endpoint: `${issuer}${ROUTES.revocation}`,
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    response_types_supported: ['code'],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post', 'none'],
    token_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGORITHMS,
    scopes_supported: [...CONTEXT_SCOPES, 'patient/*.rs', 'patient/*.cruds', 'user/*.rs', 'user/*.cruds', 'system/*.rs', 'system/*.cruds',
      ...['Patient', 'Encounter', 'Condition', 'ServiceRequest', 'Observation', 'DiagnosticReport', 'ImagingStudy', 'Immunization', 'EpisodeOfCare', 'Task', 'Consent']
        .map((type) => `patient/${type}.rs`)],
    code_challenge_methods_supported: ['S256'],
    id_token_signing_alg_values_supported: [SIGNING_ALGORITHM],
    capabilities: [
      'launch-standalone', 'client-public', 'client-confidential-symmetric', 'client-confidential-asymmetric', 'context-standalone-patient',
      'permission-patient', 'permission-user', 'permission-v2', 'permission-v1', 'permission-offline', 'sso-openid-connect',
    ],
  });

  return {
    issuer,
    fhirBaseUrl,
    publicKeys: { keys: [publicJwk] },
    oauthUris: { authorize: `${issuer}${ROUTES.authorization}`, token: `${issuer}${ROUTES.token}`, revoke: `${issuer}${ROUTES.revocation}`, introspect: `${issuer}${ROUTES.introspection}` },
    routes: [
      async (request) => {
        const { pathname } = request.url;
        if (SMART_DISCOVERY.has(pathname)) {
          if (request.method === 'OPTIONS') return { status: 204, body: '', headers: { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET', 'access-control-max-age': '600' } };
          if (request.method !== 'GET') return { status: 405, body: JSON.stringify({ error: 'invalid_request', error_description: 'GET only' }), headers: { allow: 'GET' } };
          // Public metadata: any origin may read it (a browser app discovers the server before anything else).
          return { status: 200, body: smartConfiguration(), contentType: 'application/json', headers: { 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=300' } };
        }
        if (pathname === UPSTREAM_CALLBACK) return request.method === 'GET' ? upstreamCallback(request) : html(405, errorPage('Not allowed', 'GET only'));
        const step = INTERACTION.exec(pathname);
        if (step) return interaction(request, step[1]!, step[2]);
        if (pathname.startsWith('/oauth/') || pathname === '/.well-known/openid-configuration') return toProvider(request);
        return undefined;
      },
    ],
  };
}
