/**
 * Signing in at the alliance's own OpenID Connect provider (its health-card
 * login), with openid-client (a certified relying party): authorization code
 * with PKCE, state and nonce, the ID token verified against the provider's
 * keys. The upstream identity maps to a patient by the health-card number
 * it asserts, or to a practitioner of the registry (and their organisation).
 */
import * as oidc from 'openid-client';

export interface UpstreamOptions {
  /** The provider's issuer (discovery at `<issuer>/.well-known/openid-configuration`). */
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** Scopes asked for (default `openid`). */
  scope?: string;
  /** The claim holding the regional health-card number (default `health_card_number`). */
  healthCardClaim?: string;
  /** The claim holding a practitioner's registry id (default `practitioner_id`). */
  practitionerClaim?: string;
  /** The claim holding the practitioner's organisation, checked against the registry when present (default `organization_id`). */
  organizationClaim?: string;
  /** The button's label (default "the alliance health-card login"). */
  displayName?: string;
  /** Plain http to the provider (development and tests on the loopback only). */
  allowHttp?: boolean;
}

export interface UpstreamIdentity {
  healthCard: string | null;
  practitionerId: string | null;
  organizationId: string | null;
}

export interface UpstreamLogin {
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface Upstream {
  displayName: string;
  begin(redirectUri: string): Promise<UpstreamLogin>;
  finish(callbackUrl: URL, login: Omit<UpstreamLogin, 'url'>): Promise<UpstreamIdentity>;
}

/** Reads the upstream provider's settings from the environment (SMART_UPSTREAM_*); undefined when none is configured. */
export function upstreamFromEnv(env: NodeJS.ProcessEnv = process.env, production = env.NODE_ENV === 'production'): UpstreamOptions | undefined {
  const issuer = env.SMART_UPSTREAM_ISSUER;
  if (!issuer) return undefined;
  if (!env.SMART_UPSTREAM_CLIENT_ID) throw new Error('SMART_UPSTREAM_ISSUER is set: set SMART_UPSTREAM_CLIENT_ID too');
  return {
    issuer,
    clientId: env.SMART_UPSTREAM_CLIENT_ID,
    clientSecret: env.SMART_UPSTREAM_CLIENT_SECRET,
    scope: env.SMART_UPSTREAM_SCOPE,
    healthCardClaim: env.SMART_UPSTREAM_HEALTH_CARD_CLAIM,
    practitionerClaim: env.SMART_UPSTREAM_PRACTITIONER_CLAIM,
    organizationClaim: env.SMART_UPSTREAM_ORGANIZATION_CLAIM,
    displayName: env.SMART_UPSTREAM_NAME,
    allowHttp: !production && new URL(issuer).protocol === 'http:',
  };
}

export function upstream(options: UpstreamOptions): Upstream {
  let configuration: Promise<oidc.Configuration> | undefined;
  // Discovered once, again after a failure (the provider may come up after the gateway).
  const config = () => {
    configuration ??= oidc.discovery(new URL(options.issuer), options.clientId, options.clientSecret, options.clientSecret ? undefined : oidc.None(), {
      execute: options.allowHttp ? [oidc.allowInsecureRequests] : [],
    }).catch((error: unknown) => {
      configuration = undefined;
      throw error;
    });
    return configuration;
  };
  const claimText = (claims: Record<string, unknown>, name: string) => {
    const value = claims[name];
    return typeof value === 'string' && value.trim() ? value.trim().slice(0, 100) : null;
  };
  return {
    displayName: options.displayName ?? 'the alliance health-card login',
    async begin(redirectUri) {
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(await config(), {
        redirect_uri: redirectUri, scope: options.scope ?? 'openid', state, nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
      });
      return { url: url.href, state, nonce, codeVerifier };
    },
    async finish(callbackUrl, login) {
      const tokens = await oidc.authorizationCodeGrant(await config(), callbackUrl, {
        pkceCodeVerifier: login.codeVerifier, expectedState: login.state, expectedNonce: login.nonce, idTokenExpected: true,
      });
      const claims = (tokens.claims() ?? {}) as Record<string, unknown>;
      return {
        healthCard: claimText(claims, options.healthCardClaim ?? 'health_card_number'),
        practitionerId: claimText(claims, options.practitionerClaim ?? 'practitioner_id'),
        organizationId: claimText(claims, options.organizationClaim ?? 'organization_id'),
      };
    },
  };
}
