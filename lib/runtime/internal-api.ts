/**
 * The internal JSON APIs between services (POST, never exposed by the
 * gateway): one table naming, for each, its path, the subgraphs that serve it
 * and the only services allowed to call it. Owner and caller both read this
 * table, so they cannot disagree, and an owner refuses any other caller (see
 * lib/trust/internal-token.ts for how the caller is proven).
 */
import { GraphQLError } from 'graphql';
import type { Actor } from '../trust/actor.js';
import { ErrorCode, errorBody, productError, type ErrorCodeValue } from './errors.js';
import type { Route } from './http.js';
import { CallFailed, postJson, type JsonAnswer } from './http-client.js';
import { ReplayGuardUnavailable } from '../trust/replay-guard.js';
import { ACTOR_TOKEN_HEADER, CONSENT_FACTS_HEADER, InternalTokenError, type InternalAuth, type ServiceName } from '../trust/internal-token.js';
import type { SubgraphName } from './services.js';
import type { Telemetry } from './telemetry.js';

export interface InternalApi {
  path: string;
  /** The subgraphs serving it. */
  owners: readonly SubgraphName[];
  /** The only services that may call it. */
  callers: readonly ServiceName[];
}

export const INTERNAL_APIS = {
  /** Registrations and directives of the patients a request touches (every subgraph's consent facts). */
  consentFacts: { path: '/internal/consent-facts', owners: ['identity'], callers: ['encounters', 'labs', 'imaging', 'public-health'] },
  /** The registry entries (organisations, practitioners) input names, checked by every subgraph that takes them (lib/records/registry.ts). */
  registry: { path: '/internal/registry', owners: ['identity'], callers: ['encounters', 'labs', 'imaging', 'public-health'] },
  /** Birth dates, for immunisation due dates. */
  birthDates: { path: '/internal/birth-dates', owners: ['identity'], callers: ['public-health'] },
  /** The audit trail: written only by the gateway, which answers callers. */
  auditEvents: { path: '/internal/audit-events', owners: ['identity'], callers: ['gateway'] },
  /** Organisations running a programme each patient is enrolled in (consent rule 6). */
  programmeOrganizations: { path: '/internal/programme-organizations', owners: ['public-health'], callers: ['identity', 'encounters', 'labs', 'imaging'] },
  /** The keys of the timeline entries an actor may see, merged by identity. */
  timeline: { path: '/internal/timeline', owners: ['encounters', 'labs', 'imaging', 'public-health'], callers: ['identity'] },
  /** The follow-up plan of a discharge, asked by the hospital's encounters subgraph. */
  dischargePlan: { path: '/internal/discharge-follow-up', owners: ['public-health'], callers: ['encounters'] },
  /** Confirms the inpatient stay a discharge plan is asked for. */
  inpatientStay: { path: '/internal/inpatient-stay', owners: ['encounters'], callers: ['public-health'] },
  /** Publishing (FHIR writes, HL7 v2), lib/ingest: each owner stages the gateway's entries, invisible until the decision. */
  ingestStage: { path: '/internal/ingest/stage', owners: ['identity', 'encounters', 'labs', 'imaging', 'public-health'], callers: ['gateway'] },
  /** Writes a staged transaction once identity recorded the decision to commit it. */
  ingestCommit: { path: '/internal/ingest/commit', owners: ['encounters', 'labs', 'imaging', 'public-health'], callers: ['gateway'] },
  /** Forgets a staged transaction identity recorded as aborted. */
  ingestAbort: { path: '/internal/ingest/abort', owners: ['encounters', 'labs', 'imaging', 'public-health'], callers: ['gateway'] },
  /** The coordinator's log: records a transaction's decision (with its audit events, and identity's own entries, on commit). */
  ingestDecide: { path: '/internal/ingest/decide', owners: ['identity'], callers: ['gateway'] },
  /** Recovery: decisions some owners have not been told yet (stale pending transactions are aborted first), and their delivery. */
  ingestRecovery: { path: '/internal/ingest/recovery', owners: ['identity'], callers: ['gateway'] },
  /** HL7 v2: the acknowledgement already given to a message (organisation, MSH-10), for replays. */
  hl7v2Ack: { path: '/internal/hl7v2-ack', owners: ['labs'], callers: ['gateway'] },
  /** HL7 v2 ADT^A40: two of the caller's patients a sending system asks to merge, recorded as a match candidate (never merged silently). */
  hl7v2Merge: { path: '/internal/hl7v2-merge', owners: ['identity'], callers: ['gateway'] },
  /** HL7 v2 ADT^A03: the sending hospital discharges its stay of this visit number, with recordDischarge's follow-up plan. */
  hl7v2Discharge: { path: '/internal/hl7v2-discharge', owners: ['encounters'], callers: ['gateway'] },
  /** The SMART authorization server's artifacts (interactions, sessions, codes, grants, refresh tokens), kept for every gateway replica. */
  authorizationStore: { path: '/internal/authorization/store', owners: ['identity'], callers: ['gateway'] },
  /** A registered app (client metadata) for the authorization server. */
  authorizationClient: { path: '/internal/authorization/client', owners: ['identity'], callers: ['gateway'] },
  /** Who signs in at the authorization server: a patient (by id, by health card), a practitioner of the registry. */
  authorizationAccount: { path: '/internal/authorization/account', owners: ['identity'], callers: ['gateway'] },
  /** The patient's approval of an app, recorded as a consent directive under the patient's actor. */
  authorizationApproval: { path: '/internal/authorization/approval', owners: ['identity'], callers: ['gateway'] },
  /** Master patient index: an administrator linked two patients; owners re-point the merged-away patient's records to the survivor. */
  patientLink: { path: '/internal/patient-link', owners: ['encounters', 'labs', 'imaging', 'public-health'], callers: ['identity'] },
} as const satisfies Record<string, InternalApi>;

export type InternalApiName = keyof typeof INTERNAL_APIS;

/** Default deadline of one internal call (INTERNAL_API_TIMEOUT_MS). */
export const DEFAULT_INTERNAL_TIMEOUT_MS = 5_000;

/** Errors of an internal API passed on to the GraphQL caller unchanged. */
const FORWARDED_CODES = new Set<string>([ErrorCode.badUserInput, ErrorCode.forbidden, ErrorCode.notFound, ErrorCode.conflict]);

/** An owner that could not answer (down, frozen, failing): the caller names it. */
export class InternalApiError extends Error {
  constructor(readonly service: SubgraphName, readonly path: string, reason: string) {
    super(`${service} ${path}: ${reason}`);
  }
}

/** Reads `patientIds` from an internal API body, capped at 1000. */
export function patientIdsOf(body: unknown): string[] {
  const ids = (body as { patientIds?: unknown } | null)?.patientIds;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string').slice(0, 1000) : [];
}

/** Calls other services' internal APIs on behalf of the current request. */
export interface InternalCaller {
  call<T>(api: InternalApi, body: unknown, owner?: SubgraphName): Promise<T>;
}

export interface InternalCallerOptions {
  auth: InternalAuth;
  /** A subgraph's GraphQL URL (internal paths sit beside `/graphql`). */
  url: (name: SubgraphName) => string;
  requestId: string;
  /** The gateway: the actor it verified. */
  actor?: Actor;
  /** A subgraph: the token that authorised the work it is doing. */
  via?: string;
  timeoutMs?: number;
  /** Identity's consent facts for this request (facts tokens) to relay to the owner called. */
  consentFacts?: () => string | undefined;
  /** The calling service's metrics and tracer (lib/runtime/telemetry.ts). */
  telemetry?: Telemetry;
  /** The caller's `traceparent`, passed on when tracing is off. */
  traceparent?: string;
}

export function internalCaller(options: InternalCallerOptions): InternalCaller {
  return {
    async call<T>(api: InternalApi, body: unknown, owner: SubgraphName = api.owners[0]!): Promise<T> {
      if (!api.owners.includes(owner)) throw new Error(`${owner} does not serve ${api.path}`);
      const text = JSON.stringify(body);
      const token = options.auth.signCallToken({ audience: owner, path: api.path, body: text, requestId: options.requestId, actor: options.actor, via: options.via });
      let answer: JsonAnswer;
      try {
        const facts = options.consentFacts?.();
        answer = await postJson(options.url(owner).replace(/\/graphql$/, api.path), text,
          { [ACTOR_TOKEN_HEADER]: token, 'x-request-id': options.requestId, ...(facts ? { [CONSENT_FACTS_HEADER]: facts } : {}) }, options.timeoutMs ?? DEFAULT_INTERNAL_TIMEOUT_MS,
          options.telemetry && { telemetry: options.telemetry, target: owner, api: api.path, traceparent: options.traceparent });
      } catch (error) {
        throw new InternalApiError(owner, api.path, error instanceof CallFailed && error.reason === 'timeout' ? 'no answer within the deadline' : 'unreachable');
      }
      const parse = () => { try { return JSON.parse(answer.body) as unknown; } catch { return null; } };
      if (answer.status < 200 || answer.status >= 300) {
        // A product error the owner raised (bad input, a refusal, a conflict) reaches the caller as it is.
        const error = (parse() as { errors?: { message?: string; extensions?: { code?: string } }[] } | null)?.errors?.[0];
        if (error?.message && FORWARDED_CODES.has(error.extensions?.code ?? '')) throw productError(error.extensions!.code as ErrorCodeValue, error.message);
        throw new InternalApiError(owner, api.path, `answered ${answer.status}`);
      }
      const parsed = parse();
      if (parsed === null) throw new InternalApiError(owner, api.path, 'answered something other than JSON');
      return parsed as T;
    },
  };
}

/** What an internal API handler knows about the call it answers. */
export interface InternalRequest {
  actor: Actor;
  requestId: string;
  /** The service calling. */
  caller: ServiceName;
  /** Onward calls, authorised by this call. */
  internal: InternalCaller;
  /** Identity's consent facts relayed with this call (facts tokens, verified by whoever uses them). */
  consentFacts?: string;
  /** Marks this call routine work that found nothing to do (a poll): its log line goes out at debug. */
  routine: () => void;
}

export interface InternalRouteDeps {
  auth: InternalAuth;
  url: (name: SubgraphName) => string;
  timeoutMs?: number;
  telemetry?: Telemetry;
}

const INTERNAL_ERROR_STATUS: Partial<Record<ErrorCodeValue, number>> = { BAD_USER_INPUT: 400, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409 };

/** An internal API route: POST `api.path` with a call token from one of `api.callers`. */
export function internalRoute(api: InternalApi, deps: InternalRouteDeps, handle: (body: unknown, request: InternalRequest) => Promise<unknown>): Route {
  return async (request) => {
    if (request.url.pathname !== api.path) return undefined;
    if (request.method !== 'POST') return { status: 405, body: errorBody(ErrorCode.badUserInput, 'POST only') };
    const token = request.headers[ACTOR_TOKEN_HEADER];
    let verified;
    try {
      verified = await deps.auth.verifyCallToken(typeof token === 'string' ? token : undefined, api.path, request.body, api.callers);
    } catch (error) {
      if (error instanceof ReplayGuardUnavailable) {
        request.log.errorCodes.add(ErrorCode.subgraphUnavailable);
        return { status: 503, body: errorBody(ErrorCode.subgraphUnavailable, 'This service cannot check its internal tokens now (replay guard unavailable)') };
      }
      if (!(error instanceof InternalTokenError)) throw error;
      request.log.errorCodes.add(ErrorCode.unauthenticated);
      return { status: 401, body: errorBody(ErrorCode.unauthenticated, 'This API accepts only its own callers, with a token issued for this call') };
    }
    request.log.operation = api.path;
    request.log.requestId = verified.requestId;
    request.log.actor = { role: verified.actor.role, org: verified.actor.org, clientId: verified.actor.clientId };
    let body: unknown;
    try {
      body = JSON.parse(request.body || '{}');
    } catch {
      return { status: 400, body: errorBody(ErrorCode.badUserInput, 'Request body is not valid JSON') };
    }
    const relayed = request.headers[CONSENT_FACTS_HEADER];
    const consentFacts = typeof relayed === 'string' ? relayed : undefined;
    const internal = internalCaller({ auth: deps.auth, url: deps.url, requestId: verified.requestId, via: token as string, timeoutMs: deps.timeoutMs, consentFacts: () => consentFacts,
      telemetry: deps.telemetry, traceparent: request.log.traceparent });
    try {
      return { status: 200, body: JSON.stringify(await handle(body, { ...verified, internal, consentFacts, routine: () => { request.log.routine = true; } })) };
    } catch (error) {
      // Product errors (bad input, refusals, conflicts) go back to the calling service, which passes them on.
      const code = error instanceof GraphQLError ? (error.extensions.code as ErrorCodeValue | undefined) : undefined;
      if (code && INTERNAL_ERROR_STATUS[code]) {
        request.log.errorCodes.add(code);
        return { status: INTERNAL_ERROR_STATUS[code], body: errorBody(code, (error as GraphQLError).message) };
      }
      // An owner this API asked in turn did not answer: say so (the caller names it), rather than fail as a bug.
      if (error instanceof InternalTokenError) {
        request.log.errorCodes.add(ErrorCode.unauthenticated);
        return { status: 401, body: errorBody(ErrorCode.unauthenticated, 'Consent facts not signed by identity for this request') };
      }
      if (error instanceof InternalApiError) {
        request.log.errorCodes.add(ErrorCode.subgraphUnavailable);
        return { status: 503, body: errorBody(ErrorCode.subgraphUnavailable, error.message) };
      }
      throw error;
    }
  };
}
