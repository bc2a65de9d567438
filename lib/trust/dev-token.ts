/**
 * Development tokens: signed with the development issuer key, trusted by a
 * gateway that is not in production. Used by `npm run token` and the tests.
 */
import { SignJWT, importJWK, type JWK } from 'jose';
import { DEFAULT_AUDIENCE, DEV_ISSUER } from './keys.js';
import { categoriesOfScopes, categoryToEnum } from './scopes.js';

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

/**
 * Records the patient's approval of an app (a permit for its client_id
 * covering the categories of `scope`) through the gateway's GraphQL
 * `grantConsent`, as the patient: what the approval screen records when a
 * patient approves an app. Development and tests mint app tokens directly
 * (`npm run token -- --role app`); without an approval, consent rule 3 lets
 * such a token read nothing. Returns the directive's id.
 */
export async function recordAppApproval(options: {
  graphqlUrl: string; issuerPrivateKey: JWK; patientId: string; clientId: string; scope: string; issuer?: string; audience?: string;
}): Promise<string | null> {
  const categories = categoriesOfScopes(options.scope).map(categoryToEnum);
  if (categories.length === 0) return null;
  const patientToken = await mintDevToken(options.issuerPrivateKey, { sub: options.patientId, role: 'patient', patient: options.patientId, scope: 'patient/Consent.cu' },
    { issuer: options.issuer, audience: options.audience, expiresIn: 60 });
  const response = await fetch(options.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${patientToken}` },
    body: JSON.stringify({
      query: 'mutation Approve($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }',
      variables: { input: { patientId: options.patientId, decision: 'PERMIT', actorType: 'APP', actorId: options.clientId, categories } },
    }),
  });
  const answer = (await response.json()) as { data?: { grantConsent?: { id: string } }; errors?: { message: string }[] };
  if (!answer.data?.grantConsent) throw new Error(`the patient's approval of ${options.clientId} could not be recorded: ${answer.errors?.[0]?.message ?? response.status}`);
  return answer.data.grantConsent.id;
}
