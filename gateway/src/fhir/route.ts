/**
 * GET /fhir/Patient/{id}/$everything — a FHIR R4 searchset Bundle of
 * everything the caller may see of one patient.
 *
 * The route is a thin HTTP shell over the gateway's own GraphQL pipeline:
 * - the bearer token is verified by the same verifier as /graphql;
 * - the data is read with GraphQL operations executed by the same Apollo
 *   server (`executeOperation`), so query limits, the subgraphs' consent
 *   rules (record and field level) and the audit plugin all apply unchanged.
 *   Every operation of one export shares one request id, which is also the
 *   Bundle's id, so the audit events of an export are found by it;
 * - the bundle is assembled only after every operation came back audited;
 *   when the audit trail cannot store an event the caller gets a 503
 *   OperationOutcome and no bundle.
 *
 * Errors are OperationOutcomes: 401 without a valid token, 400 for an id that
 * is not a UUID, 403 when the token may never read this patient (an
 * administrator, a token bound to another patient), 404 otherwise — the same
 * answer for a patient who does not exist and one the caller may not see.
 */
import type { ApolloServer } from '@apollo/server';
import { isUuid } from '../../../lib/records/connection.js';
import type { Route } from '../../../lib/runtime/http.js';
import type { Logger } from '../../../lib/runtime/logger.js';
import type { TokenVerifier } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { collectPatient, pipelineExecutor } from './collect.js';
import { toBundle } from './mapping.js';
import { exportPlan } from './plan.js';
import { errors, FhirError, fhirBase, fhirCaller, fhirReply, operationOutcome } from './outcome.js';

export interface FhirRouteOptions {
  /** The gateway's Apollo server: the export runs its operations through it. */
  apollo: ApolloServer<GatewayContext>;
  verifyToken: TokenVerifier;
  logger: Logger;
}

const EVERYTHING = /^\/fhir\/Patient\/([^/]+)\/(?:\$|%24)everything$/;
const ACCEPTED_MEDIA = ['application/fhir+json', 'application/json', 'application/*', '*/*', 'application/json+fhir'];

/** Whether the Accept header (if any) takes FHIR JSON. */
function acceptsJson(accept: string | undefined, format: string | null): boolean {
  if (format && !['json', 'application/json', 'application/fhir+json'].includes(format)) return false;
  if (!accept) return true;
  return accept.split(',').some((part) => ACCEPTED_MEDIA.includes(part.split(';')[0]!.trim().toLowerCase()));
}

export function fhirRoute(options: FhirRouteOptions): Route {
  return async (request) => {
    const path = request.url.pathname;
    if (path !== '/fhir' && !path.startsWith('/fhir/')) return undefined;
    try {
      const match = EVERYTHING.exec(path);
      if (!match) throw new FhirError(404, 'not-supported', 'Not an interaction this server supports: GET /fhir/metadata lists them');
      if (request.method !== 'GET') throw new FhirError(405, 'not-supported', 'Use GET for $everything');
      if (!acceptsJson(request.headers.accept, request.url.searchParams.get('_format'))) {
        throw new FhirError(406, 'not-supported', 'Only FHIR JSON (application/fhir+json) is served');
      }
      const actor = await fhirCaller(options.verifyToken, request.headers.authorization);
      const id = decodeURIComponent(match[1]!);
      if (!isUuid(id)) throw errors.badId();
      // Administrators never read clinical data (the policy's rule 1). Refused
      // by role before any lookup, so the answer says nothing about the patient.
      if (actor.role === 'admin') throw errors.forbidden('Administrators do not read patient data');

      const plan = exportPlan(actor);
      // The Bundle's id is the request id: the x-request-id of the response and the requestId of its audit events.
      const requestId = request.requestId;
      request.log.operation = 'FHIR Patient/$everything';
      request.log.actor = { role: actor.role, org: actor.org, clientId: actor.clientId };
      const collected = await collectPatient(pipelineExecutor(options.apollo, actor, requestId, request.log), id, plan);
      return fhirReply(200, toBundle(collected, { requestId, base: fhirBase(request), plan }));
    } catch (error) {
      if (error instanceof FhirError) {
        request.log.errorCodes.add(`FHIR_${error.issue.toUpperCase()}`);
        if (error.status >= 500) options.logger.error({ rid: request.requestId, trace: request.log.traceId, err: error.cause ?? error }, `FHIR export failed: ${error.message}`);
        return fhirReply(error.status, error.outcome());
      }
      if (error instanceof URIError) return fhirReply(400, errors.badId().outcome());
      // Never silent: the failure is logged with the request id the client sees in x-request-id.
      request.log.errorCodes.add('FHIR_EXCEPTION');
      options.logger.error({ rid: request.requestId, trace: request.log.traceId, err: error }, 'FHIR export failed');
      return fhirReply(500, operationOutcome('error', 'exception', `The export failed; no bundle was produced (request ${request.requestId}).`));
    }
  };
}
