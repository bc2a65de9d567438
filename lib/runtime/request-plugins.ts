/**
 * Apollo Server plugins every service runs:
 *
 * - `httpStatusPlugin`: the HTTP status of a response follows the
 *   GraphQL-over-HTTP specification. A request that cannot be parsed,
 *   validated or resolved to one operation is the client's mistake: 400;
 *   refused before execution: 401 or 403; 500 only for the server's own
 *   failures. A response with data keeps 200 (partial data with errors
 *   included), whatever its errors.
 * - `requestLogPlugin`: names the operation and the error codes on the
 *   request's log line, and logs every server-side failure with its stack
 *   and the request id.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { ErrorCode } from './errors.js';
import type { RequestLog } from './http.js';
import type { Logger } from './logger.js';

/** Codes of errors that end a request before (or instead of) execution, and their HTTP status. */
export const REQUEST_ERROR_STATUS: Record<string, number> = {
  GRAPHQL_PARSE_FAILED: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  BAD_USER_INPUT: 400,
  BAD_REQUEST: 400,
  OPERATION_RESOLUTION_FAILURE: 400,
  PERSISTED_QUERY_NOT_FOUND: 400,
  PERSISTED_QUERY_NOT_SUPPORTED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  AUDIT_UNAVAILABLE: 503,
  SUBGRAPH_UNAVAILABLE: 503,
};

/** Codes under which the server itself failed: logged with their stack. */
const SERVER_FAILURE_CODES = new Set([ErrorCode.internal, 'DOWNSTREAM_SERVICE_ERROR', undefined]);

/**
 * Errors graphql-js and the gateway raise without a code, or with codes of
 * their own, that are client mistakes: a request with several operations
 * and no operationName, an unknown operationName, a subscription (this API
 * has none), a syntax error found by a limit.
 */
export function requestErrorCode(error: { message: string; extensions?: Record<string, unknown> }): string | undefined {
  const code = error.extensions?.code as string | undefined;
  if (code === 'INVALID_GRAPHQL' || /^(Must provide operation name|Unknown operation named|Must provide an operation)/.test(error.message)) return 'OPERATION_RESOLUTION_FAILURE';
  if (/has no "subscription" root type|subscriptions? (are|is) not supported/i.test(error.message)) return 'OPERATION_RESOLUTION_FAILURE';
  if (!code && /^Syntax Error/.test(error.message)) return 'GRAPHQL_PARSE_FAILED';
  return code;
}

export const httpStatusPlugin: ApolloServerPlugin<BaseContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ response }) {
        if (response.body.kind !== 'single') return;
        const { data, errors } = response.body.singleResult;
        if (!errors?.length || data !== undefined) return;
        const statuses = errors.map((e) => REQUEST_ERROR_STATUS[requestErrorCode(e) ?? ''] ?? 500);
        // A failure of ours decides the status; otherwise the client's mistake does (authentication first).
        const serverSide = statuses.filter((s) => s >= 500);
        response.http.status = serverSide.length ? Math.max(...serverSide) : statuses.includes(401) ? 401 : Math.max(...statuses);
      },
    };
  },
};

/**
 * A request whose operation cannot be picked out of its document (an
 * operationName naming none of its operations, the empty name included;
 * several operations and no name) is refused before execution: 400
 * OPERATION_RESOLUTION_FAILURE. Apollo Server leaves that to execution, and
 * the gateway's executor, which resolves the operation its own way (an empty
 * name picks the only operation), then answers without the errors Apollo
 * expects: a 500.
 */
export const operationResolutionPlugin: ApolloServerPlugin<BaseContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operation, request }) {
        if (operation) return;
        const message = request.operationName != null
          ? `Unknown operation named "${String(request.operationName).slice(0, 100)}".`
          : 'Must provide operation name if query contains multiple operations.';
        throw new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } } });
      },
    };
  },
};

export function requestLogPlugin<TContext extends BaseContext & { log?: RequestLog }>(logger: Logger): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart({ contextValue, request }) {
      const log = contextValue.log;
      if (log && request.operationName) log.operation = request.operationName.slice(0, 100);
      return {
        async didResolveOperation({ operation, operationName }) {
          if (log) log.operation = (operationName ?? operation?.name?.value ?? `anonymous ${operation?.operation ?? 'operation'}`).slice(0, 100);
        },
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            const code = requestErrorCode(error);
            log?.errorCodes.add(code ?? ErrorCode.internal);
            if (SERVER_FAILURE_CODES.has(code as never)) {
              const cause = error.originalError ?? error;
              logger.error({ rid: log?.requestId, trace: log?.traceId, op: log?.operation, path: error.path?.join('.'), err: cause }, 'server failure');
            }
          }
        },
      };
    },
  };
}
