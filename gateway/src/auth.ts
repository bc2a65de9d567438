/**
 * Verification of callers' bearer tokens at the gateway, with jose.
 *
 * Keys come from a JWKS URL (an OIDC provider: jose caches the set and fetches
 * it again when a token names an unknown `kid`), or from a local JWKS file.
 * Only asymmetric algorithms are accepted (RS256, ES256, EdDSA): `alg: none`
 * and HMAC tokens "signed" with a public key are refused before any key is
 * used. Every failure is the same UNAUTHENTICATED error so the response tells
 * an attacker nothing about which check failed.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { actorFromClaims, ActorError, type Actor } from '../../lib/trust/actor.js';
import { productError, ErrorCode } from '../../lib/runtime/errors.js';
import { ConfigurationError, isDevKey } from '../../lib/trust/keys.js';

export const ACCEPTED_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
const CLOCK_SKEW_SECONDS = 30;
/** Tokens whose verification is remembered (about 1 kB each). */
const VERIFIED_TOKENS_CACHED = 10_000;

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  /** A local key set (JWKS), e.g. read from AUTH_PUBLIC_KEYS_FILE. */
  keySet?: JSONWebKeySet;
  production: boolean;
  /** Minimum time between two JWKS fetches (an unknown kid triggers one); default 30 s. */
  jwksCooldownMs?: number;
}

export type TokenVerifier = (authorization: string | undefined) => Promise<Actor>;

export const invalidToken = (reason = 'Invalid or expired token') => productError(ErrorCode.unauthenticated, reason);

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  let keys: JWTVerifyGetKey;
  if (options.jwksUrl) {
    keys = createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: options.jwksCooldownMs ?? 30_000, cacheMaxAge: 10 * 60_000 });
  } else if (options.keySet) {
    if (options.production && options.keySet.keys.some(isDevKey)) {
      throw new ConfigurationError('AUTH_PUBLIC_KEYS_FILE holds the development key; production must trust a real identity provider');
    }
    keys = createLocalJWKSet(options.keySet);
  } else {
    throw new ConfigurationError('Set AUTH_JWKS_URL or AUTH_PUBLIC_KEYS_FILE');
  }
  // A client sends the same token with every request until it expires:
  // remember what a token verified to (bounded, least recently used out),
  // so its signature is checked once, not per request. Expiry is still
  // checked on every use.
  const verified = new Map<string, { actor: Actor; exp: number }>();
  return async (authorization) => {
    const match = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(authorization ?? '');
    if (!match) throw productError(ErrorCode.unauthenticated, 'Authentication required: send Authorization: Bearer <token>');
    const known = verified.get(match[1]!);
    if (known) {
      verified.delete(match[1]!);
      if (known.exp + CLOCK_SKEW_SECONDS > Date.now() / 1000) {
        verified.set(match[1]!, known);
        return known.actor;
      }
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(match[1]!, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ACCEPTED_ALGORITHMS,
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch {
      throw invalidToken();
    }
    try {
      const actor = actorFromClaims(payload);
      if (verified.size >= VERIFIED_TOKENS_CACHED) verified.delete(verified.keys().next().value!);
      verified.set(match[1]!, { actor, exp: Number(payload.exp) });
      return actor;
    } catch (error) {
      // The token is genuine but its claims are unusable; say which rule so the
      // integrator can fix it (this reveals nothing about keys).
      throw invalidToken(error instanceof ActorError ? `Token refused: ${error.message}` : 'Token refused');
    }
  };
}

/**
 * A verifier trusting a second issuer beside the configured one: tokens
 * whose (unverified) `iss` names it go to its verifier, every other token to
 * the first. The gateway trusts its own SMART authorization server this way,
 * next to the identity provider or development issuer it is configured with.
 * The issuer is only a routing hint: each verifier checks the signature,
 * issuer and audience itself.
 */
export function trustingAlso(verifier: TokenVerifier, issuer: () => string | undefined, other: () => TokenVerifier | undefined): TokenVerifier {
  return async (authorization) => {
    const match = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(authorization ?? '');
    const second = other();
    if (match && second) {
      let claimed: unknown;
      try {
        claimed = decodeJwt(match[1]!).iss;
      } catch {
        claimed = undefined;
      }
      if (claimed !== undefined && claimed === issuer()) return second(authorization);
    }
    return verifier(authorization);
  };
}
