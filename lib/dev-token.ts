/**
 * Development tokens: signed with the development issuer key, trusted by a
 * gateway that is not in production. Used by `npm run token` and the tests.
 */
import { SignJWT, importJWK, type JWK } from 'jose';
import { DEFAULT_AUDIENCE, DEV_ISSUER } from './keys.js';

export interface TokenClaims {
  sub: string;
  role: string;
  org?: string;
  scope?: string;
  patient?: string;
  purpose_of_use?: string;
  break_glass_reason?: string;
  client_id?: string;
  [claim: string]: unknown;
}

export interface MintOptions {
  /** Lifetime, e.g. '1h' (default), or a negative number of seconds for an expired token. */
  expiresIn?: string | number;
  issuer?: string;
  audience?: string;
  notBefore?: number;
}

/** Default scopes per role when none are given. */
export function defaultScope(role: string): string {
  switch (role) {
    case 'patient': return 'patient/*.cruds';
    case 'app': return 'patient/*.rs';
    case 'admin': return 'schema:read';
    case 'system': return 'system/*.cru';
    default: return 'user/*.cruds';
  }
}

export async function mintDevToken(privateJwk: JWK, claims: TokenClaims, options: MintOptions = {}): Promise<string> {
  const key = await importJWK(privateJwk, privateJwk.alg ?? 'ES256');
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...claims, scope: claims.scope ?? defaultScope(claims.role) })
    .setProtectedHeader({ alg: privateJwk.alg ?? 'ES256', kid: privateJwk.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? DEV_ISSUER)
    .setAudience(options.audience ?? DEFAULT_AUDIENCE)
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(typeof options.expiresIn === 'number' ? now + options.expiresIn : options.expiresIn ?? '1h');
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  return jwt.sign(key);
}
