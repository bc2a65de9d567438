/**
 * What every resolver of every subgraph is given for one request: the
 * verified actor, the database, the consent policy for that actor, the caller
 * of other services' internal APIs on its behalf, and per-request
 * DataLoaders. The runtime that builds it is lib/runtime/subgraph.ts; this module
 * holds only the shape, so the code that reads a context (resolvers, lists,
 * consent rules) does not import the code that starts the services.
 */
import type DataLoader from 'dataloader';
import type { Actor } from '../trust/actor.js';
import type { ConsentAccess } from '../consent/access.js';
import type { Database } from './db.js';
import type { RequestLog } from './http.js';
import type { InternalCaller } from './internal-api.js';

export interface SubgraphContext {
  actor: Actor;
  requestId: string;
  /** This request's log line (lib/runtime/http.ts). */
  log: RequestLog;
  db: Database;
  /** Other services' internal APIs, called on behalf of this request. */
  internal: InternalCaller;
  /** The consent policy for this request's actor, and what was disclosed. */
  consent: ConsentAccess;
  /** The subgraph that owns identity's consent facts: a facts token of those this request loaded, for the gateway to relay (lib/trust/internal-token.ts). */
  relayFacts?: () => string | undefined;
  /** Per-request DataLoaders, created on first use by name. */
  loader<K, V>(name: string, batch: (keys: readonly K[]) => Promise<(V | Error)[]>, cacheKey?: (key: K) => unknown): DataLoader<K, V>;
}
