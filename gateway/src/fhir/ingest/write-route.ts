/**
 * What every FHIR write route shares (route.ts: Bundles and single resources;
 * labels.ts: `$meta-delete`): the preamble — who publishes, the body's
 * content type and JSON, the request log — and OperationOutcome answers.
 */
import { mayPublish, type Actor } from '../../../../lib/trust/actor.js';
import { RequestBodyError, type HttpRequestInfo, type Route } from '../../../../lib/runtime/http.js';
import type { Logger } from '../../../../lib/runtime/logger.js';
import type { TokenVerifier } from '../../auth.js';
import { FHIR_JSON, FhirError, fhirCaller, type IssueType, type OperationOutcome } from '../outcome.js';
import type { Issue } from './map.js';

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 412: 'Precondition Failed', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 503: 'Service Unavailable',
};
export const statusLine = (status: number) => `${status} ${STATUS_TEXT[status] ?? ''}`.trim();

export function outcomeOf(issues: Issue[], severity: 'error' | 'warning' | 'information' = 'error'): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity, code: i.code as IssueType,
      diagnostics: i.index >= 0 && i.expression.startsWith('Bundle.') ? `Entry ${i.index}: ${i.message}` : i.message,
      ...(i.expression ? { expression: [i.expression] } : {}),
    })),
  };
}

export const reply = (status: number, resource: unknown, headers: Record<string, string> = {}) => ({ status, body: JSON.stringify(resource), contentType: FHIR_JSON, headers });
export const failure = (status: number, code: IssueType, message: string, expression = '') => reply(status, outcomeOf([{ index: -1, status, code: code as Issue['code'], message, expression }]));

const isJson = (contentType: unknown) => {
  const type = String(contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/fhir+json' || type === 'application/json' || type === 'application/json+fhir';
};

/** The caller, if they may publish: a reply to send otherwise. */
export async function publisher(verifyToken: TokenVerifier, request: HttpRequestInfo): Promise<Actor | { status: number; code: IssueType; message: string }> {
  let actor: Actor;
  try {
    actor = await fhirCaller(verifyToken, request.headers.authorization);
  } catch (error) {
    if (!(error instanceof FhirError)) throw error;
    return { status: error.status, code: error.issue, message: error.message };
  }
  if (!mayPublish(actor)) return { status: 403, code: 'forbidden', message: 'Records are published by an institution\'s system (role system) or its clinical staff, for their organisation' };
  return actor;
}

type Reply = ReturnType<typeof reply>;

/** A FHIR write that passed the preamble: who publishes, and the parsed body (undefined where the route reads `request.stream` itself). */
export interface FhirWrite {
  request: HttpRequestInfo;
  caller: Actor;
  body: unknown;
}

/**
 * A FHIR write route. `accept` says whether a request is the route's
 * (undefined: not this route's; a reply: refused as it stands, a wrong method
 * say) and names the operation for the request log. Then the preamble every
 * write shares, once: the caller may publish (401, 403), the body is FHIR
 * JSON (415) and parses (400), and the request log names the operation and
 * the caller; an unexpected failure is an OperationOutcome naming the
 * request (500, logged), never a bare error.
 */
export function fhirWriteRoute(
  options: { verifyToken: TokenVerifier; logger?: Logger },
  accept: (request: HttpRequestInfo) => string | Reply | undefined,
  write: (w: FhirWrite) => Promise<Reply>,
): Route {
  return async (request) => {
    const operation = accept(request);
    if (operation === undefined || typeof operation !== 'string') return operation;
    try {
      const caller = await publisher(options.verifyToken, request);
      if (!('sub' in caller)) return failure(caller.status, caller.code, caller.message);
      if (!isJson(request.headers['content-type'])) return failure(415, 'not-supported', 'Send FHIR JSON (Content-Type: application/fhir+json)');
      request.log.operation = operation;
      request.log.actor = { role: caller.role, org: caller.org, clientId: caller.clientId };
      // A streamed body (the server's streamBody: POST /fhir) is the route's to read as it arrives.
      if (request.stream) return await write({ request, caller, body: undefined });
      let body: unknown;
      try {
        body = JSON.parse(request.body);
      } catch {
        return failure(400, 'structure', 'The body is not JSON');
      }
      return await write({ request, caller, body });
    } catch (error) {
      // Past the cap while streaming, or the client gone: the HTTP service answers (413 OperationOutcome, or nothing).
      if (error instanceof RequestBodyError) throw error;
      request.log.errorCodes.add('FHIR_EXCEPTION');
      options.logger?.error({ rid: request.requestId, trace: request.log.traceId, err: error }, 'FHIR write failed');
      return failure(500, 'exception', `The write failed (request ${request.requestId}); if it was a transaction, nothing was committed unless its response said so.`);
    }
  };
}

