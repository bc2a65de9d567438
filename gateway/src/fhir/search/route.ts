/**
 * The FHIR read and search routes:
 *
 *   GET  /fhir/metadata                 CapabilityStatement (no token needed)
 *   GET  /fhir/{type}/{id}              read
 *   GET  /fhir/{type}?…                 search
 *   POST /fhir/{type}/_search           search, parameters form-encoded in the body
 *
 * A thin HTTP shell over engine.ts, as the export's route is over collect.ts:
 * the token is verified by the /graphql verifier, administrators are refused
 * before any lookup (they never read clinical data), and every answer that
 * is not a resource or a Bundle is an OperationOutcome. Unknown parameters
 * are a 400 unless the client sends `Prefer: handling=lenient`.
 */
import type { ApolloServer } from '@apollo/server';
import type { Actor } from '../../../../lib/trust/actor.js';
import type { HttpRequestInfo, Route } from '../../../../lib/runtime/http.js';
import type { Logger } from '../../../../lib/runtime/logger.js';
import type { TokenVerifier } from '../../auth.js';
import type { GatewayContext } from '../../context.js';
import { errors, FhirError, fhirBase, fhirCaller, fhirReply, operationOutcome } from '../outcome.js';
import { capabilityStatement, type OAuthUris } from './capability.js';
import { HELD_TYPES, parseSearch, read, search, searchHeld, type SearchContext } from './engine.js';
import { SEARCHABLE_TYPES } from './parameters.js';

export interface FhirSearchRouteOptions {
  apollo: ApolloServer<GatewayContext>;
  verifyToken: TokenVerifier;
  logger: Logger;
  /** The SMART authorization server's endpoints, when it runs (for the CapabilityStatement). */
  oauthUris: () => OAuthUris | undefined;
  /** The Bulk Data export runs (its operations are listed in the CapabilityStatement). */
  bulkExport?: boolean;
}

const TYPE_PATH = /^\/fhir\/([A-Z][A-Za-z]+)(?:\/([^/]+))?\/?$/;

const lenient = (request: HttpRequestInfo) => String(request.headers.prefer ?? '').split(/[;,]/).some((p) => p.trim().toLowerCase() === 'handling=lenient');

export function fhirSearchRoute(options: FhirSearchRouteOptions): Route {
  return async (request) => {
    const path = request.url.pathname;
    if (path === '/fhir/metadata') {
      if (request.method !== 'GET') return fhirReply(405, operationOutcome('error', 'not-supported', 'GET /fhir/metadata'));
      return fhirReply(200, capabilityStatement({ base: fhirBase(request), oauth: options.oauthUris(), software: { name: 'federated-patient-record', version: '0.1.0' }, bulkExport: options.bulkExport }),
        { 'access-control-allow-origin': '*' });
    }
    const match = TYPE_PATH.exec(path);
    if (!match) return undefined;
    const [, type, second] = match as unknown as [string, string, string | undefined];
    const isSearchPost = request.method === 'POST' && second === '_search';
    // Writes (POST /fhir/{type}, PUT /fhir/{type}/{id}) are publishing's (../ingest).
    if (!(request.method === 'GET' || isSearchPost) || (second && second.startsWith('$')) || second === '$everything') return undefined;
    try {
      if (request.method === 'GET' && second === '_search') throw new FhirError(405, 'not-supported', 'Search with GET /fhir/{type}?… or POST /fhir/{type}/_search');
      if (!SEARCHABLE_TYPES.includes(type) && !HELD_TYPES.includes(type)) throw new FhirError(404, 'not-supported', `${type} is not served here (served: ${SEARCHABLE_TYPES.join(', ')})`);
      const actor = await fhirCaller(options.verifyToken, request.headers.authorization);
      if (actor.role === 'admin') throw errors.forbidden('Administrators do not read patient data');
      request.log.actor = { role: actor.role, org: actor.org, clientId: actor.clientId };
      const ctx: SearchContext = { apollo: options.apollo, actor, requestId: request.requestId, log: request.log, base: fhirBase(request) };
      if (second && !isSearchPost) {
        request.log.operation = `FHIR read ${type}`;
        return fhirReply(200, await read(ctx, type, decodeURIComponent(second)));
      }
      const pairs: [string, string][] = [...request.url.searchParams.entries()];
      if (isSearchPost) {
        const contentType = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (contentType !== 'application/x-www-form-urlencoded') throw new FhirError(415, 'not-supported', 'POST _search takes application/x-www-form-urlencoded parameters');
        pairs.push(...new URLSearchParams(request.body).entries());
      }
      request.log.operation = `FHIR search ${type}`;
      if (HELD_TYPES.includes(type)) return fhirReply(200, await searchHeld(ctx, type, pairs));
      return fhirReply(200, await search(ctx, parseSearch(type, pairs, lenient(request))));
    } catch (error) {
      if (error instanceof FhirError) {
        request.log.errorCodes.add(`FHIR_${error.issue.toUpperCase()}`);
        if (error.status >= 500) options.logger.error({ rid: request.requestId, trace: request.log.traceId, err: error.cause ?? error }, `FHIR search failed: ${error.message}`);
        return fhirReply(error.status, error.outcome());
      }
      if (error instanceof URIError) return fhirReply(404, operationOutcome('error', 'not-found', 'No resource with this id is visible to you'));
      request.log.errorCodes.add('FHIR_EXCEPTION');
      options.logger.error({ rid: request.requestId, trace: request.log.traceId, err: error }, 'FHIR search failed');
      return fhirReply(500, operationOutcome('error', 'exception', `The search failed (request ${request.requestId}).`));
    }
  };
}
