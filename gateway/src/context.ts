/**
 * What the gateway's request pipeline carries for one request: the verified
 * actor, the request id, and what the subgraphs disclosed (for the audit
 * trail) and relayed (identity's consent facts). Built by server.ts, read by
 * the audit plugin and the FHIR export; kept apart from the server so that
 * neither imports the module that starts the gateway.
 */
import type { Actor } from '../../lib/trust/actor.js';
import type { Disclosure } from '../../lib/consent/access.js';
import type { RequestLog } from '../../lib/runtime/http.js';

export interface GatewayContext {
  actor: Actor;
  requestId: string;
  /** This request's log line (lib/runtime/http.ts). */
  log?: RequestLog;
  /** What the subgraphs disclosed during this request (written to the audit trail before responding). */
  disclosures: Disclosure[];
  /** Identity's consent facts for this request (facts tokens it signed), relayed to the subgraphs called next. */
  consentFacts?: string[];
  /**
   * The operation is one the gateway built itself (FHIR `$everything`, search, Bulk Data export: fixed texts,
   * the caller's values only in variables), never a caller's: held to QUERY_LIMITS.maxGeneratedCost instead
   * of maxCost (query-cost.ts). Only those routes set it; /graphql never does.
   */
  generated?: boolean;
}
