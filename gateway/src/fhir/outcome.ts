/**
 * FHIR errors: an OperationOutcome with the HTTP status that goes with it.
 *
 * Messages say what the caller can do about the error and nothing about the
 * record: in particular "not found" is the same text for a patient who does
 * not exist and for one the caller may not see, so the response does not
 * reveal whether the patient exists.
 */
import type { HttpRequestInfo } from '../../../lib/runtime/http.js';
import type { Actor } from '../../../lib/trust/actor.js';
import type { TokenVerifier } from '../auth.js';

/** FHIR IssueType codes used by the export and by publishing (http://hl7.org/fhir/issue-type). */
export type IssueType = 'login' | 'forbidden' | 'not-found' | 'invalid' | 'not-supported' | 'transient' | 'exception' | 'too-costly' | 'suppressed' | 'informational'
  | 'structure' | 'required' | 'value' | 'code-invalid' | 'conflict' | 'duplicate' | 'multiple-matches' | 'business-rule' | 'processing' | 'security' | 'throttled';
export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  id?: string;
  /** `expression`: FHIRPath of the element the issue is about (publishing), e.g. Bundle.entry[2].resource.code.coding[0].code. */
  issue: { severity: IssueSeverity; code: IssueType; diagnostics: string; expression?: string[] }[];
}

export class FhirError extends Error {
  constructor(readonly status: number, readonly issue: IssueType, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
  }

  outcome(): OperationOutcome {
    return operationOutcome('error', this.issue, this.message);
  }
}

export const operationOutcome = (severity: IssueSeverity, code: IssueType, diagnostics: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity, code, diagnostics }],
});

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** A FHIR JSON answer of a route: the resource, with any headers. */
export const fhirReply = (status: number, resource: unknown, headers?: Record<string, string>) => ({ status, body: JSON.stringify(resource), contentType: FHIR_JSON, ...(headers ? { headers } : {}) });

/**
 * The absolute FHIR base for fullUrl and links, from the request's Host header.
 * Only a syntactically plain host[:port] is used (anything else falls back to
 * localhost), so the header cannot inject text into a bundle.
 */
export function fhirBase(request: HttpRequestInfo): string {
  const host = String(request.headers.host ?? '');
  const safeHost = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host) ? host : 'localhost';
  const proto = String(request.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim() === 'https' ? 'https' : 'http';
  return `${proto}://${safeHost}/fhir`;
}

export const errors = {
  unauthenticated: (message = 'Authentication required: send Authorization: Bearer <token>') => new FhirError(401, 'login', message),
  badId: () => new FhirError(400, 'invalid', 'The patient id must be a UUID'),
  /** One text for "does not exist" and "you may not see it". */
  notFound: () => new FhirError(404, 'not-found', 'No patient with this id is visible to you'),
  forbidden: (message: string) => new FhirError(403, 'forbidden', message),
  auditUnavailable: () => new FhirError(503, 'transient', 'The audit trail could not record this access, so no data is returned. Try again later.'),
  upstream: (cause?: unknown) => new FhirError(502, 'exception', 'A service behind the gateway failed; no bundle was produced. Try again later.', cause),
  /** A service did not answer in time or is down (SUBGRAPH_UNAVAILABLE): try again shortly. */
  unavailable: (service: string) => new FhirError(503, 'transient', `The ${service} service did not answer; no bundle was produced. Try again shortly.`),
  internal: (cause?: unknown) => new FhirError(500, 'exception', 'The export failed; no bundle was produced.', cause),
};

/**
 * The caller of a FHIR read or search, or a 401 OperationOutcome with the
 * verifier's message: the one /graphql gives, which never says which check failed.
 */
export async function fhirCaller(verifyToken: TokenVerifier, authorization: string | undefined): Promise<Actor> {
  try {
    return await verifyToken(authorization);
  } catch (error) {
    const code = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
    throw errors.unauthenticated(code === 'UNAUTHENTICATED' && error instanceof Error ? error.message : 'Invalid or expired token');
  }
}
