/**
 * A small HTTP front for Apollo Server shared by the gateway and subgraphs:
 * `/graphql` (POST), `/health` (liveness: the process answers), `/ready`
 * (readiness: what the service needs answers, and it is not shutting down),
 * and extra routes a service registers (internal APIs, SDL download, FHIR).
 *
 * Every response carries `x-request-id`; every request leaves one log line
 * (lib/runtime/logger.ts) with that id, the trace id, the operation, the actor's
 * role/organisation/app, the status, the duration and the error codes; every
 * server-side failure is logged with its stack. Request bodies are capped
 * before they are parsed.
 *
 * `drain()` stops a service gracefully. First, for a deregistration delay,
 * readiness answers 503 while everything else is served as before (the
 * listener open, keep-alive connections kept): a balancer still sending
 * requests, on new or idle connections, until its health checks take the
 * service out gets them answered instead of closed. Then it stops accepting
 * connections, lets the requests in flight finish within a grace period, and
 * closes what is left.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { context } from '@opentelemetry/api';
import { requestCarriesNul, NUL_MESSAGE } from './control-characters.js';
import { applyCors, type CorsPolicy } from './cors.js';
import { errorBody, ErrorCode } from './errors.js';
import type { Logger } from './logger.js';
import { boundedLabel, endSpan, requestOutcome, serveMetrics, startServerSpan, traceIdOf, validTraceparent, type Telemetry } from './telemetry.js';

/** What one request's log line says; filled as the request goes (actor, operation, errors). */
export interface RequestLog {
  requestId: string;
  traceId?: string;
  /** The caller's W3C `traceparent`, passed on to the services this request calls when tracing is off (lib/runtime/telemetry.ts). */
  traceparent?: string;
  /** The GraphQL operation name, or the route. */
  operation?: string;
  actor?: { role: string; org: string | null; clientId: string | null };
  errorCodes: Set<string>;
  /** Routine background work that found nothing to do (a recovery poll): its line goes out at debug, not info. */
  routine?: boolean;
}

export interface HttpRequestInfo {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body's bytes as received (HL7 v2 declares its own character set, MSH-18). */
  bytes?: Buffer;
  /**
   * The body, unread, for a request the service streams (`streamBody`: the gateway's FHIR Bundles): `body` is empty
   * and the route reads this as it goes, never holding the body whole. Reading past the cap throws BodyTooLarge (the
   * server answers 413 at once); a client that goes away mid-upload, BodyAborted.
   */
  stream?: BodyStream;
  /** The request id (x-request-id of the response, requestId of audit events). */
  requestId: string;
  log: RequestLog;
  /**
   * The Node request and response, for a route that hands them to a
   * framework answering on its own (the SMART authorization server): it
   * writes the response and returns RESPONSE_SENT. The body was read already
   * (`body`; also set as `request.body`).
   */
  raw: { request: http.IncomingMessage & { body?: string }; response: http.ServerResponse };
}

/** What a route returns when it wrote the response itself (through `raw`). */
export const RESPONSE_SENT = Symbol('response sent');

export type Route = (request: HttpRequestInfo) => Promise<{ status: number; body: string | Uint8Array; contentType?: string; headers?: Record<string, string> } | typeof RESPONSE_SENT | undefined>;

export interface Readiness {
  ready: boolean;
  [detail: string]: unknown;
}

export interface HttpServiceOptions<TContext extends BaseContext> {
  apollo: ApolloServer<TContext>;
  /** Builds the GraphQL context; may throw a GraphQLError (e.g. UNAUTHENTICATED). */
  context: (request: HttpRequestInfo, parsedBody: unknown) => Promise<TContext>;
  routes?: Route[];
  /** What `/health` adds to its answer (no dependency checks: liveness only). */
  health: () => Record<string, unknown>;
  /** Whether the service can serve: its database, the services it needs. */
  ready: () => Promise<Readiness>;
  maxBodyBytes: number;
  /** Cross-origin access for browser apps (lib/runtime/cors.ts); none when absent. */
  cors?: CorsPolicy;
  /** Paths whose routes answer cross-origin requests themselves (the authorization server's): the policy above is not applied to them. */
  ownCors?: (url: URL) => boolean;
  /** Routes that refuse a NUL themselves, in their own protocol (the gateway's HL7 v2 answers an AR ACK); the rest get the 400 below. */
  ownNulCheck?: (url: URL) => boolean;
  /** A different body cap for some requests (the gateway's FHIR writes and HL7 v2); maxBodyBytes otherwise. */
  bodyLimit?: (request: { method: string; url: URL }) => number | undefined;
  /**
   * Requests whose body the route reads as a stream (HttpRequestInfo.stream) instead of the server reading it whole
   * first: the gateway's FHIR Bundles, tens of MB (lib/ingest/limits.ts). The cap (bodyLimit) still applies: from
   * Content-Length before the route runs, else counted as the route reads.
   */
  streamBody?: (request: { method: string; url: URL }) => boolean;
  /** The 413 answer of a request whose body passes its cap, where it is not the default error body (FHIR: an OperationOutcome). */
  tooLarge?: (request: { method: string; url: URL }, limit: number) => { body: string; contentType: string } | undefined;
  /** Use the caller's `x-request-id` (subgraphs: the gateway's); otherwise every request gets a fresh one. */
  trustRequestId?: boolean;
  logger: Logger;
  /** Request metrics and server spans (lib/runtime/telemetry.ts). */
  telemetry?: Telemetry;
  /** Serve the telemetry's Prometheus `/metrics` on this port (0: any free one), named by `variable` in start-up errors; none when absent. */
  metrics?: { port: number; variable: string };
  host: string;
  port: number;
}

export interface RunningHttpService {
  url: string;
  port: number;
  /** Where its `/metrics` listens, when it serves them. */
  metricsPort?: number;
  /**
   * Answers `/ready` 503 at once and serves everything else as before for `delayMs` (the deregistration delay: a
   * balancer's checks take it out meanwhile), then stops accepting, lets requests in flight finish within `graceMs`,
   * and closes everything.
   */
  drain(graceMs: number, delayMs?: number): Promise<void>;
  /** The deregistration delay alone: `/ready` answers 503 from now on; resolves after `delayMs`, still serving. */
  deregister(delayMs: number): Promise<void>;
  /** Closes at once (tests). */
  close(): Promise<void>;
}

/** Reading a request's body failed for a reason of the request itself (not the route's): the server answers it. */
export class RequestBodyError extends Error {}

export class BodyTooLarge extends RequestBodyError {
  constructor(readonly limit: number, readonly request: http.IncomingMessage) {
    super('body too large');
  }
}

/** The client went away before its body ended: there is no one to answer, and nothing may be done with half a body. */
export class BodyAborted extends RequestBodyError {
  constructor() {
    super('the client closed the connection before the request body ended');
  }
}

/** A request body read as it arrives (HttpRequestInfo.stream): its chunks, counted against the cap. */
export interface BodyStream extends AsyncIterable<Buffer> {
  /** Bytes read so far. */
  readonly received: number;
}

/**
 * The chunks of a body as the route asks for them (back-pressure: nothing is read ahead of the route), up to `limit`
 * bytes, then BodyTooLarge. Read with read()/'readable' rather than the stream's own async iterator, which destroys
 * the socket when the reader stops early (a parse error, the cap): the server answers and discards the rest instead
 * (discardRest), so the client reads the answer rather than a reset.
 */
function bodyStream(request: http.IncomingMessage, limit: number): BodyStream {
  let received = 0;
  const next = () => new Promise<void>((resolve, reject) => {
    const done = () => {
      cleanup();
      resolve();
    };
    const failed = () => {
      cleanup();
      reject(new BodyAborted());
    };
    const closed = () => (request.readableEnded ? done() : failed());
    const cleanup = () => {
      request.off('readable', done);
      request.off('end', done);
      request.off('error', failed);
      request.off('close', closed);
    };
    request.on('readable', done);
    request.on('end', done);
    request.on('error', failed);
    request.on('close', closed);
  });
  return {
    get received() {
      return received;
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (request.readableAborted || request.errored) throw new BodyAborted();
        const chunk = request.read() as Buffer | null;
        if (chunk !== null) {
          received += chunk.length;
          if (received > limit) throw new BodyTooLarge(limit, request);
          yield chunk;
          continue;
        }
        if (request.readableEnded) return;
        await next();
      }
    },
  };
}

/**
 * The body, up to `limit` bytes. Past it (declared by Content-Length, or counted while a chunked upload
 * arrives) BodyTooLarge, at once: the caller answers 413 before the body is read to the end, and the rest is
 * discarded as it arrives (`discardRest`), never buffered, so the client reads the answer instead of a reset.
 */
function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new BodyTooLarge(limit, request));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        chunks.length = 0;
        reject(new BodyTooLarge(limit, request));
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** After a 413: the rest of the body is read and dropped (bounded by the server's request timeout), then the connection closes. */
function discardRest(request: http.IncomingMessage): void {
  request.on('data', () => {});
  request.resume();
}

/** RFC 6750: a 401 tells the client how to authenticate. */
export const WWW_AUTHENTICATE = 'Bearer realm="federated-patient-record"';

const REQUEST_ID = /^[\w.:-]{8,100}$/;

/**
 * The route of a path, for logs: ids (a patient's, a record's) never reach a
 * log line, so FHIR ids and anything id-like become `:id`.
 */
export function routeOf(path: string): string {
  return path
    .replace(/^(\/fhir\/[A-Za-z]+\/)[^/]+/, '$1:id')
    .split('/')
    .map((segment) => (/^[0-9a-f-]{8,}$/i.test(segment) || /\d{4,}/.test(segment) ? ':id' : segment))
    .join('/')
    .slice(0, 120);
}

function send(response: http.ServerResponse, status: number, body: string | Uint8Array, contentType = 'application/json; charset=utf-8', headers: Record<string, string> = {}) {
  response.writeHead(status, {
    'content-type': contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
    ...(status === 401 ? { 'www-authenticate': WWW_AUTHENTICATE } : {}),
    ...headers,
  });
  response.end(body);
}

export async function startHttpService<TContext extends BaseContext>(options: HttpServiceOptions<TContext>): Promise<RunningHttpService> {
  const { apollo, logger } = options;
  await apollo.start();
  // Not ready from the first signal (deregistering); draining once the listener closes.
  let deregistering = false;
  let draining = false;
  let inFlight = 0;

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse, log: RequestLog) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method ?? 'GET';
    if (!options.ownCors?.(url) && applyCors(options.cors, request, response)) return;
    if (url.pathname === '/health' && method === 'GET') {
      log.operation = 'health';
      send(response, 200, JSON.stringify({ status: 'ok', ...options.health() }));
      return;
    }
    if (url.pathname === '/ready' && method === 'GET') {
      log.operation = 'ready';
      const readiness: Readiness = deregistering || draining ? { ready: false, draining: true } : await options.ready().catch(() => ({ ready: false }));
      send(response, readiness.ready ? 200 : 503, JSON.stringify({ status: readiness.ready ? 'ready' : 'unavailable', ...readiness }));
      return;
    }
    let bytes: Buffer | undefined;
    let stream: BodyStream | undefined;
    // PUT carries a body too (FHIR updates).
    if (method === 'POST' || method === 'PUT') {
      const limit = options.bodyLimit?.({ method, url }) ?? options.maxBodyBytes;
      if (options.streamBody?.({ method, url })) {
        // Declared too large: refused before a byte is read, as readBody does.
        if (Number(request.headers['content-length'] ?? 0) > limit) throw new BodyTooLarge(limit, request);
        stream = bodyStream(request, limit);
        // Whatever the route leaves unread (it answered early: a bad token, a parse error) is discarded once the answer is sent.
        response.once('finish', () => {
          if (!request.readableEnded && !request.destroyed) discardRest(request);
        });
      } else {
        bytes = await readBody(request, limit);
      }
    }
    const body = bytes ? bytes.toString('utf8') : '';
    // A NUL anywhere in the URL or the body is refused here, once for every route (docs/hardening.md):
    // PostgreSQL cannot store one, and it is never part of an identifier, a code, a search or a resource.
    // Routes that answer in their own protocol refuse it themselves (ownNulCheck).
    // GraphQL bodies are left to GraphQL, which answers with its own codes: a NUL in the document is a
    // parse error, one in a variable BAD_USER_INPUT (lib/runtime/control-characters.ts controlCharacterGuard).
    const graphqlBody = url.pathname === '/graphql' || url.pathname === '/';
    if (!options.ownNulCheck?.(url) && requestCarriesNul(request.url ?? '', graphqlBody ? '' : body)) {
      log.errorCodes.add(ErrorCode.badUserInput);
      if (url.pathname.startsWith('/fhir')) {
        send(response, 400, JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: NUL_MESSAGE }] }), 'application/fhir+json; charset=utf-8');
      } else {
        send(response, 400, errorBody(ErrorCode.badUserInput, NUL_MESSAGE));
      }
      return;
    }
    (request as http.IncomingMessage & { body?: string }).body = body;
    const info: HttpRequestInfo = { method, url, headers: request.headers, body, bytes, ...(stream ? { stream } : {}), requestId: log.requestId, log, raw: { request, response } };
    for (const route of options.routes ?? []) {
      const handled = await route(info);
      if (handled === RESPONSE_SENT) {
        log.operation ??= routeOf(url.pathname);
        return;
      }
      if (handled) {
        log.operation ??= routeOf(url.pathname);
        send(response, handled.status, handled.body, handled.contentType, handled.headers);
        return;
      }
    }
    if (url.pathname !== '/graphql' && url.pathname !== '/') {
      send(response, 404, errorBody(ErrorCode.notFound, 'Not found'));
      return;
    }
    if (method !== 'POST') {
      send(response, 405, errorBody(ErrorCode.badUserInput, 'Send GraphQL operations as POST application/json'), undefined, { allow: 'POST' });
      return;
    }
    let parsed: unknown;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      send(response, 400, errorBody(ErrorCode.badUserInput, 'Request body is not valid JSON'));
      return;
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(request.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const result = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method, headers, search: url.search, body: parsed },
      context: () => options.context(info, parsed),
    });
    const outHeaders: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    for (const [key, value] of result.headers) outHeaders[key] = value;
    if (result.status === 401) outHeaders['www-authenticate'] = WWW_AUTHENTICATE;
    response.writeHead(result.status ?? 200, outHeaders);
    if (result.body.kind === 'complete') {
      response.end(result.body.string);
    } else {
      for await (const chunk of result.body.asyncIterator) response.write(chunk);
      response.end();
    }
  };

  const { telemetry } = options;
  // Distinct label values kept per service (lib/runtime/telemetry.ts boundedLabel): clients choose operation names.
  const operationNames = new Set<string>();
  const errorCodeNames = new Set<string>();
  const server = http.createServer(async (request, response) => {
    const started = performance.now();
    const incoming = request.headers['x-request-id'];
    const path = routeOf((request.url ?? '').split('?')[0]!);
    const serverSpan = telemetry && startServerSpan(telemetry, `${request.method} ${path}`, request.headers);
    const traceparent = validTraceparent(request.headers.traceparent);
    const log: RequestLog = {
      requestId: options.trustRequestId && typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID(),
      traceId: serverSpan ? serverSpan.span.spanContext().traceId : traceIdOf(traceparent),
      traceparent,
      errorCodes: new Set(),
    };
    inFlight++;
    telemetry?.metrics.inFlight.inc();
    response.setHeader('x-request-id', log.requestId);
    if (draining) response.setHeader('connection', 'close');
    response.once('close', () => {
      inFlight--;
      const seconds = (performance.now() - started) / 1000;
      if (telemetry && path !== '/health' && path !== '/ready') {
        const outcome = requestOutcome(response.statusCode, response.writableFinished, log.errorCodes.size);
        telemetry.metrics.inFlight.dec();
        telemetry.metrics.requestDuration.observe({ operation: boundedLabel(operationNames, log.operation ?? (response.statusCode === 404 ? 'not_found' : path)), outcome }, seconds);
        for (const code of log.errorCodes) telemetry.metrics.requestErrors.inc({ code: boundedLabel(errorCodeNames, code, 50) });
        endSpan(serverSpan?.span, {
          'http.request.method': request.method, 'http.route': path, 'http.response.status_code': response.statusCode,
          'graphql.operation.name': log.operation, 'fpr.request_id': log.requestId, 'fpr.actor.role': log.actor?.role, 'fpr.actor.org': log.actor?.org ?? undefined,
          'fpr.error_codes': log.errorCodes.size ? [...log.errorCodes].join(',') : undefined,
        }, response.statusCode >= 500 || !response.writableFinished);
      } else {
        telemetry?.metrics.inFlight.dec();
        endSpan(serverSpan?.span, {});
      }
      const line = {
        rid: log.requestId, trace: log.traceId, method: request.method, path, op: log.operation,
        role: log.actor?.role, org: log.actor?.org ?? undefined, app: log.actor?.clientId ?? undefined,
        status: response.statusCode, ms: Math.round(seconds * 1000), codes: log.errorCodes.size ? [...log.errorCodes] : undefined,
        ...(response.writableFinished ? {} : { aborted: true }),
      };
      if (line.path === '/health' || line.path === '/ready') logger.debug(line, 'probe');
      else if (log.routine && response.statusCode < 400) logger.debug(line, 'request');
      else logger.info(line, 'request');
    });
    try {
      // With tracing on, everything this request does (subgraph and internal calls, SQL) runs under its span.
      await (serverSpan ? context.with(serverSpan.context, () => handle(request, response, log)) : handle(request, response, log));
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        log.errorCodes.add(ErrorCode.payloadTooLarge);
        if (!response.headersSent) {
          const custom = options.tooLarge?.({ method: request.method ?? 'GET', url: new URL(request.url ?? '/', 'http://localhost') }, error.limit);
          send(response, 413, custom?.body ?? errorBody(ErrorCode.payloadTooLarge, `Request body larger than ${error.limit} bytes`), custom?.contentType);
        }
        discardRest(error.request);
        return;
      }
      if (error instanceof BodyAborted) {
        // Nothing to answer: the connection is gone. Logged as the client's doing, not a server failure.
        log.errorCodes.add('CLIENT_ABORTED');
        if (!response.headersSent && !response.destroyed) send(response, 400, errorBody(ErrorCode.badUserInput, error.message));
        return;
      }
      log.errorCodes.add(ErrorCode.internal);
      logger.error({ rid: log.requestId, trace: log.traceId, err: error }, 'request failed');
      if (!response.headersSent) send(response, 500, errorBody(ErrorCode.internal, 'Internal server error'));
      else response.end();
    }
  });
  server.keepAliveTimeout = 5_000;
  // A slow or silent client cannot hold a connection and its memory forever.
  server.headersTimeout = 15_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  server.on('error', (error) => logger.error({ err: error }, 'server error'));
  const port = (server.address() as AddressInfo).port;
  const closeServer = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await apollo.stop();
  };
  const metrics = telemetry && options.metrics
    ? await serveMetrics(telemetry, options.host, options.metrics.port, options.metrics.variable).catch(async (error: unknown) => {
      await closeServer();
      throw error;
    })
    : undefined;
  // After the service port: the metrics server goes, and spans still buffered are sent.
  const stopTelemetry = async () => {
    await metrics?.close();
    await telemetry?.flush();
  };
  // Once: a second call (drain after deregister) does not wait again.
  let deregistered: Promise<void> | undefined;
  const deregister = (delayMs: number) => {
    deregistering = true;
    if (!deregistered) {
      if (delayMs > 0) logger.info({ delayMs }, 'deregistering: /ready answers 503, still serving until the balancer has taken this replica out');
      deregistered = new Promise<void>((resolve) => setTimeout(resolve, delayMs));
    }
    return deregistered;
  };
  return {
    url: `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}/graphql`,
    port,
    metricsPort: metrics?.port,
    deregister,
    drain: async (graceMs: number, delayMs = 0) => {
      await deregister(delayMs);
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const deadline = Date.now() + graceMs;
      // Idle keep-alive connections go now; busy ones when their response is sent (connection: close).
      while (inFlight > 0 && Date.now() < deadline) {
        server.closeIdleConnections();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      if (inFlight > 0) logger.warn({ inFlight }, 'grace period over: closing the requests still in flight');
      server.closeAllConnections();
      await closed;
      await apollo.stop();
      await stopTelemetry();
    },
    close: async () => {
      await closeServer();
      await stopTelemetry();
    },
  };
}

/** Milliseconds from a `<NAME>` environment variable, or the default; 0 only where `allowZero` (a delay that may be off). */
export function millisecondsFromEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env, allowZero = false): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !allowZero)) throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds`);
  return ms;
}
