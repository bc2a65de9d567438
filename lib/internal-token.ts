/**
 * The gateway-signed actor token carried by every call from the gateway to a
 * subgraph (header `x-actor-token`). It is an EdDSA JWT, valid for
 * `INTERNAL_TOKEN_TTL_SECONDS`, holding the verified actor and the request id,
 * and bound to the exact GraphQL operation (hash of query and variables) so a
 * captured token cannot carry a different query. Subgraphs refuse every
 * request, `_service` and `_entities` included, without a valid one.
 *
 * Subgraphs forward the token they received to another service's internal API
 * (identity's consent facts, for instance); those endpoints check signature
 * and expiry but not the operation hash.
 */
import { createHash } from 'node:crypto';
import { SignJWT, importJWK, jwtVerify, type JWK } from 'jose';
import type { Actor } from './actor.js';

export const ACTOR_TOKEN_HEADER = 'x-actor-token';
const ISSUER = 'fpr-gateway';
const AUDIENCE = 'fpr-subgraphs';
const TTL_SECONDS = 60;

export interface InternalClaims {
  actor: Actor;
  requestId: string;
  /** Hash of the operation the token was issued for. */
  operationHash: string;
}

export function operationHash(query: string | undefined, variables: unknown): string {
  return createHash('sha256').update(query ?? '').update('\n').update(JSON.stringify(variables ?? {})).digest('base64url');
}

export async function createInternalSigner(privateJwk: JWK) {
  const key = await importJWK(privateJwk, 'EdDSA');
  return (claims: InternalClaims) =>
    new SignJWT({ act: claims.actor, rid: claims.requestId, oph: claims.operationHash })
      .setProtectedHeader({ alg: 'EdDSA', kid: privateJwk.kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${TTL_SECONDS}s`)
      .sign(key);
}

export class InternalTokenError extends Error {}

export async function createInternalVerifier(publicJwk: JWK) {
  const key = await importJWK(publicJwk, 'EdDSA');
  return async (token: string | undefined): Promise<InternalClaims> => {
    if (!token) throw new InternalTokenError('missing actor token');
    try {
      const { payload } = await jwtVerify(token, key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'], clockTolerance: 5 });
      return { actor: payload.act as Actor, requestId: String(payload.rid), operationHash: String(payload.oph) };
    } catch {
      throw new InternalTokenError('invalid actor token');
    }
  };
}
