/**
 * Internal tokens as the services sign them, from a stack's real keys: what
 * an attacker holding a captured token, or a service key, could send.
 */
import type { Actor } from '../../lib/trust/actor.js';
import { createInternalAuth, operationHash, type InternalAuth, type ServiceName } from '../../lib/trust/internal-token.js';
import { keyringOf, type DevKeys } from '../../lib/trust/keys.js';

export interface InternalSigners {
  /** The service's own signer (its private key). */
  as(service: ServiceName): InternalAuth;
  /** An actor token the gateway would sign for `audience` and this operation. */
  actorToken(audience: ServiceName, actor: Actor, query: string, variables?: Record<string, unknown>, requestId?: string): string;
}

export function internalSigners(keys: DevKeys): InternalSigners {
  const cache = new Map<ServiceName, InternalAuth>();
  const as = (service: ServiceName) => {
    if (!cache.has(service)) cache.set(service, createInternalAuth(keyringOf(keys.internal, service)));
    return cache.get(service)!;
  };
  return {
    as,
    actorToken: (audience, actor, query, variables, requestId = 'test-request') => as('gateway').signActorToken(audience, actor, requestId, operationHash(query, variables)),
  };
}

export const staffActor = (org: string, overrides: Partial<Actor> = {}): Actor => ({
  sub: 'dr-x', role: 'clinician', org, scope: 'user/*.cruds', patient: null, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: null, ...overrides,
});
