/**
 * Service-to-service authentication: every service (the gateway and each
 * subgraph) holds its own X25519 key pair and knows every service's public
 * key. From them each pair of services derives a key only those two know
 * (X25519 agreement, then HKDF-SHA256), and tokens are authenticated with
 * HMAC-SHA256 under those pair keys: a few microseconds per token, where a
 * public-key signature cost a hundred times more, on every call of every
 * request. A token carries one MAC for each subgraph (any of them may have
 * to check it, as the authority of a chain of calls), each under the pair
 * key of the signer and that subgraph, so no service can make a token that
 * another accepts as coming from a third. Kinds of short-lived tokens,
 * travelling in the `x-actor-token` header:
 *
 * - an **actor token**, signed by the gateway for one call to one subgraph's
 *   GraphQL endpoint: it holds the verified actor and the request id, names
 *   that subgraph as its audience and is bound to the hash of the exact
 *   operation (query and variables). A subgraph refuses every request,
 *   `_service` and `_entities` included, without one made for it and for
 *   that operation.
 * - a **call token**, signed by the calling service for one call to another
 *   service's internal API: it names the caller (`iss`, proven by the
 *   caller's own key), the owner (`aud`), the path and the hash of the exact
 *   body. The owner accepts only the callers its API lists (the audit trail
 *   only from the gateway, the timeline only from identity, ...). A subgraph
 *   does not speak for users on its own: its call token carries, in `via`,
 *   the token that authorised the work it is doing (the gateway's actor
 *   token, or the call token it is itself answering), and the actor is read
 *   from the root of that chain, which the gateway signed for this caller.
 *   The gateway, which verifies users, puts the actor in its call tokens
 *   directly.
 *
 * - a **facts token**, signed by identity alone: the consent facts (the
 *   patients' registrations and directives, the alliance's organisations)
 *   identity loaded while answering a request, bound to that request's id.
 *   The gateway relays it to the subgraphs it calls next for the same
 *   request, which then decide consent without asking identity again (one
 *   signature check instead of a round trip and three statements). A
 *   revocation still applies from the next request on: facts are never kept
 *   beyond the request they were loaded for.
 *
 * Each token is accepted once (its `jti` is remembered until it expires):
 * by the receiving process alone, or by every replica of the service when
 * they share a replay guard on Redis (lib/trust/replay-guard.ts,
 * REPLAY_GUARD_REDIS_URL), so a captured token cannot be replayed at another
 * replica either.
 *
 * Everything uses node:crypto directly and synchronously: the gateway makes one
 * token per subgraph call.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomUUID, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type { Actor } from './actor.js';
import { SUBGRAPH_NAMES } from '../runtime/services.js';
import { CLOCK_TOLERANCE_SECONDS, ProcessReplayGuard, type ReplayGuard } from './replay-guard.js';

export const ACTOR_TOKEN_HEADER = 'x-actor-token';
/** Facts tokens identity signed for the request, relayed to the next services (space-separated). */
export const CONSENT_FACTS_HEADER = 'x-consent-facts';
export const SERVICE_NAMES = ['gateway', ...SUBGRAPH_NAMES] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];
export const isServiceName = (name: unknown): name is ServiceName => typeof name === 'string' && (SERVICE_NAMES as readonly string[]).includes(name);

/** Lifetime of every internal token. */
export const TOKEN_TTL_SECONDS = 30;
/** How many hops a chain of call tokens may have (gateway → encounters → public-health → encounters). */
const MAX_CHAIN = 4;

const ACTOR_TYPE = 'fpr-actor';
const CALL_TYPE = 'fpr-call';
const FACTS_TYPE = 'fpr-facts';
/** The audience of facts tokens: any subgraph serving the same request. */
const ANY_SUBGRAPH = 'subgraphs';

/** A service's keys: its own private key and every service's public key. */
export interface ServiceKeyring {
  self: ServiceName;
  privateJwk: JWK;
  publicJwks: Record<ServiceName, JWK>;
}

/** What a verified token tells the service that received it. */
export interface VerifiedCall {
  actor: Actor;
  requestId: string;
  /** The service that sent this request (the gateway for GraphQL calls). */
  caller: ServiceName;
}

export class InternalTokenError extends Error {}

export function operationHash(query: string | undefined, variables: unknown): string {
  return createHash('sha256').update(query ?? '').update('\n').update(JSON.stringify(variables ?? {})).digest('base64url');
}

export const bodyHash = (body: string) => createHash('sha256').update(body).digest('base64url');

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface Claims {
  iss: ServiceName;
  aud: ServiceName | typeof ANY_SUBGRAPH;
  typ: typeof ACTOR_TYPE | typeof CALL_TYPE | typeof FACTS_TYPE;
  rid: string;
  iat: number;
  exp: number;
  jti: string;
  /** Actor tokens and the gateway's call tokens: the verified actor. */
  act?: Actor;
  /** Actor tokens: hash of the operation. */
  oph?: string;
  /** Call tokens: the API path and the hash of the body. */
  pth?: string;
  bh?: string;
  /** Call tokens of subgraphs: the token that authorised the work. */
  via?: string;
  /** Facts tokens: the consent facts identity loaded. */
  fct?: unknown;
}

export interface InternalAuth {
  self: ServiceName;
  /** Gateway only: an actor token for one GraphQL call to `audience`. */
  signActorToken(audience: ServiceName, actor: Actor, requestId: string, operation: string): string;
  /**
   * A call token for one internal API call: `via` is the token that authorised
   * the current work (absent only for the gateway, which names the actor).
   */
  signCallToken(options: { audience: ServiceName; path: string; body: string; requestId: string; actor?: Actor; via?: string }): string;
  /**
   * A subgraph's GraphQL endpoint: an actor token from the gateway, for this subgraph and this operation, not seen before
   * (rejects with InternalTokenError, or ReplayGuardUnavailable when a shared guard cannot tell).
   */
  verifyActorToken(token: string | undefined, operation: string): Promise<VerifiedCall>;
  /** An internal API: a call token for this service, this path and this body, from one of `callers`, not seen before. */
  verifyCallToken(token: string | undefined, path: string, body: string, callers: readonly ServiceName[]): Promise<VerifiedCall>;
  /** Identity only: the consent facts it loaded for request `requestId`, for the other subgraphs of that request. */
  signFactsToken(requestId: string, facts: unknown): string;
  /** A subgraph: the facts identity signed for this very request, or an error. */
  verifyFactsToken(token: string, requestId: string): unknown;
}

/** The algorithm name in a token's header: HMAC-SHA256 under pair keys (see above). */
const ALGORITHM = 'HS256+X25519';
/** Who checks tokens: the subgraphs (the gateway only makes them). */
const VERIFIERS = SUBGRAPH_NAMES;

/**
 * Builds the signer and verifier of one service from its keyring; `replay`
 * remembers the tokens it accepted (one process's memory unless a shared
 * guard is given: lib/trust/replay-guard.ts).
 */
export function createInternalAuth(keyring: ServiceKeyring, replay: ReplayGuard = new ProcessReplayGuard()): InternalAuth {
  let privateKey: KeyObject;
  const publicKeys = new Map<ServiceName, KeyObject>();
  try {
    privateKey = createPrivateKey({ key: keyring.privateJwk as never, format: 'jwk' });
    for (const name of SERVICE_NAMES) {
      const jwk = keyring.publicJwks[name];
      if (jwk) publicKeys.set(name, createPublicKey({ key: jwk as never, format: 'jwk' }));
    }
  } catch {
    throw new InternalTokenError('the internal keys are not X25519 keys in JWK form (npm run keys:internal makes them)');
  }
  if (privateKey.asymmetricKeyType !== 'x25519' || [...publicKeys.values()].some((key) => key.asymmetricKeyType !== 'x25519')) {
    throw new InternalTokenError('the internal keys must be X25519 keys (npm run keys:internal makes them)');
  }
  const own = publicKeys.get(keyring.self);
  if (!own || !own.equals(createPublicKey(privateKey))) {
    throw new InternalTokenError(`the public key listed for ${keyring.self} does not match its private key`);
  }
  // The key this service shares with each other service (and with itself, for tokens it checks that it made).
  const pairKeys = new Map<ServiceName, Buffer>();
  for (const [name, publicKey] of publicKeys) {
    const secret = diffieHellman({ privateKey, publicKey });
    pairKeys.set(name, Buffer.from(hkdfSync('sha256', secret, 'fpr-internal-token', [keyring.self, name].sort().join('|'), 32)));
  }
  const mac = (key: Buffer, input: string) => createHmac('sha256', key).update(input).digest();
  const header = b64({ alg: ALGORITHM, typ: 'JWT', kid: keyring.privateJwk.kid });

  const sign = (claims: Omit<Claims, 'iss' | 'iat' | 'exp' | 'jti'>): string => {
    const now = Math.floor(Date.now() / 1000);
    const payload = b64({ ...claims, iss: keyring.self, iat: now, exp: now + TOKEN_TTL_SECONDS, jti: randomUUID() });
    const input = `${header}.${payload}`;
    const macs = VERIFIERS.filter((name) => pairKeys.has(name)).map((name) => `${name}~${mac(pairKeys.get(name)!, input).toString('base64url')}`);
    return `${input}.${macs.join(',')}`;
  };

  /** The MAC for this service, under the key it shares with the issuer; issuer, audience, type and lifetime; returns the claims. */
  const open = (token: string | undefined, audience: Claims['aud'], type: Claims['typ']): Claims => {
    if (!token || token.length > 16_384) throw new InternalTokenError('missing actor token');
    const parts = token.split('.');
    if (parts.length !== 3) throw new InternalTokenError('malformed token');
    let claims: Claims;
    try {
      const head = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: string };
      if (head.alg !== ALGORITHM) throw new Error();
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Claims;
    } catch {
      throw new InternalTokenError('malformed token');
    }
    const key = isServiceName(claims.iss) ? pairKeys.get(claims.iss) : undefined;
    const mine = parts[2]!.split(',').find((entry) => entry.startsWith(`${keyring.self}~`))?.slice(keyring.self.length + 1);
    const expected = key ? mac(key, `${parts[0]}.${parts[1]}`) : undefined;
    const given = mine ? Buffer.from(mine, 'base64url') : undefined;
    if (!expected || !given || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InternalTokenError('invalid signature');
    }
    const now = Date.now() / 1000;
    if (claims.typ !== type || claims.aud !== audience) throw new InternalTokenError('token issued for another service or purpose');
    if (typeof claims.exp !== 'number' || claims.exp + CLOCK_TOLERANCE_SECONDS < now || claims.iat - CLOCK_TOLERANCE_SECONDS > now) {
      throw new InternalTokenError('expired token');
    }
    if (typeof claims.rid !== 'string' || typeof claims.jti !== 'string') throw new InternalTokenError('malformed token');
    return claims;
  };

  /**
   * The actor behind a call token issued by `caller`: the gateway names it;
   * a subgraph proves it with the token it was given (`via`), whose audience
   * is that subgraph, for the same request, back to the gateway's actor token.
   */
  const actorOf = (claims: Claims, depth: number): Actor => {
    if (claims.iss === 'gateway') {
      if (!claims.act) throw new InternalTokenError('no actor');
      return claims.act;
    }
    if (!claims.via || depth >= MAX_CHAIN) throw new InternalTokenError('no authorising token');
    const via = claims.via;
    const typeOf = (() => {
      try {
        return (JSON.parse(Buffer.from(via.split('.')[1] ?? '', 'base64url').toString('utf8')) as Claims).typ;
      } catch {
        return undefined;
      }
    })();
    const parent = open(via, claims.iss, typeOf === ACTOR_TYPE ? ACTOR_TYPE : CALL_TYPE);
    if (parent.rid !== claims.rid) throw new InternalTokenError('authorising token of another request');
    if (parent.typ === ACTOR_TYPE) {
      if (parent.iss !== 'gateway' || !parent.act) throw new InternalTokenError('actor tokens come from the gateway');
      return parent.act;
    }
    return actorOf(parent, depth + 1);
  };

  const once = async (claims: Claims) => {
    if (!(await replay.accept(claims.jti, claims.exp))) throw new InternalTokenError('token already used');
  };

  return {
    self: keyring.self,
    signActorToken: (audience, actor, requestId, operation) => sign({ aud: audience, typ: ACTOR_TYPE, act: actor, rid: requestId, oph: operation }),
    signCallToken: ({ audience, path, body, requestId, actor, via }) =>
      sign({ aud: audience, typ: CALL_TYPE, rid: requestId, pth: path, bh: bodyHash(body), ...(keyring.self === 'gateway' ? { act: actor } : { via }) }),
    async verifyActorToken(token, operation) {
      const claims = open(token, keyring.self, ACTOR_TYPE);
      if (claims.iss !== 'gateway' || !claims.act) throw new InternalTokenError('actor tokens come from the gateway');
      if (claims.oph !== operation) throw new InternalTokenError('token issued for another operation');
      await once(claims);
      return { actor: claims.act, requestId: claims.rid, caller: 'gateway' };
    },
    signFactsToken(requestId, facts) {
      if (keyring.self !== 'identity') throw new InternalTokenError('only identity signs consent facts');
      return sign({ aud: ANY_SUBGRAPH, typ: FACTS_TYPE, rid: requestId, fct: facts });
    },
    verifyFactsToken(token, requestId) {
      const claims = open(token, ANY_SUBGRAPH, FACTS_TYPE);
      if (claims.iss !== 'identity') throw new InternalTokenError('consent facts come from identity');
      if (claims.rid !== requestId) throw new InternalTokenError('consent facts of another request');
      return claims.fct;
    },
    async verifyCallToken(token, path, body, callers) {
      const claims = open(token, keyring.self, CALL_TYPE);
      if (!callers.includes(claims.iss)) throw new InternalTokenError(`${claims.iss} may not call ${path}`);
      if (claims.pth !== path || claims.bh !== bodyHash(body)) throw new InternalTokenError('token issued for another call');
      const actor = actorOf(claims, 0);
      await once(claims);
      return { actor, requestId: claims.rid, caller: claims.iss };
    },
  };
}
