/**
 * Errors the product returns. Every error carries `extensions.code`; messages
 * say what is wrong without echoing internals.
 */
import { GraphQLError } from 'graphql';

export const ErrorCode = {
  unauthenticated: 'UNAUTHENTICATED',
  forbidden: 'FORBIDDEN',
  consentDenied: 'CONSENT_DENIED',
  badUserInput: 'BAD_USER_INPUT',
  notFound: 'NOT_FOUND',
  conflict: 'CONFLICT',
  auditUnavailable: 'AUDIT_UNAVAILABLE',
  /** A service behind this one did not answer (down, frozen past its deadline, failing); `extensions.service` names it. */
  subgraphUnavailable: 'SUBGRAPH_UNAVAILABLE',
  payloadTooLarge: 'PAYLOAD_TOO_LARGE',
  internal: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const HTTP_STATUS: Partial<Record<ErrorCodeValue, number>> = {
  UNAUTHENTICATED: 401,
  PAYLOAD_TOO_LARGE: 413,
};

/** The error a caller gets when `service` did not answer: what is missing and why, never how. */
export const serviceUnavailable = (service: string) =>
  productError(ErrorCode.subgraphUnavailable, `The ${service} service did not answer in time, is down or failed: its part of the answer is missing. Try again shortly.`, { service });

export function productError(code: ErrorCodeValue, message: string, extra: Record<string, unknown> = {}): GraphQLError {
  const status = HTTP_STATUS[code];
  return new GraphQLError(message, { extensions: { code, ...extra, ...(status ? { http: { status } } : {}) } });
}

export const badInput = (message: string, extra: Record<string, unknown> = {}) => productError(ErrorCode.badUserInput, message, extra);
export const unauthenticated = (message = 'Authentication required: send a valid bearer token') => productError(ErrorCode.unauthenticated, message);
export const forbidden = (message: string) => productError(ErrorCode.forbidden, message);

/** The body of an HTTP error response shaped like a GraphQL response. */
export const errorBody = (code: ErrorCodeValue, message: string) => JSON.stringify({ errors: [{ message, extensions: { code } }] });
