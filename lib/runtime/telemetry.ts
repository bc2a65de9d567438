/**
 * Metrics and traces of every service (logs are lib/runtime/logger.ts).
 *
 * Metrics: Prometheus (prom-client), one registry per service, served on a
 * port of its own (`<PREFIX>_METRICS_PORT`, see serveMetrics) so the public
 * endpoint never exposes them. Label values come from small fixed sets
 * (routes, subgraph and API names, outcomes, error codes) or are capped
 * (operation names, see boundedLabel): a hostile client sending endless
 * distinct operation names cannot grow the registry.
 *
 * Traces: OpenTelemetry, off by default. Set `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and every service exports spans
 * over OTLP/HTTP: the request it serves (a W3C `traceparent` continues the
 * caller's trace), every call to a subgraph or an internal API (which carries
 * `traceparent` on), every SQL statement, and Apollo Gateway's own planning
 * and fetch spans. `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
 * keeps it off; `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_SERVICE_NAME` and
 * `OTEL_RESOURCE_ATTRIBUTES` apply as the specification says. Spans carry
 * routes, operation names, roles and organisations, never a patient id, a
 * token or a value from a query.
 *
 * With tracing off no context manager runs (it costs CPU on every promise);
 * a caller's `traceparent` is still passed on as it came (RequestLog), so all
 * services log the caller's trace id.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import client from 'prom-client';
import { ConfigurationError } from '../trust/keys.js';

/** The durations services measure are milliseconds to a few seconds (deadlines are 5–10 s). */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** How a call to another service ended. */
export type CallOutcome = 'ok' | 'error' | 'timeout' | 'unreachable';

export interface ServiceMetrics {
  /** Requests served, by operation (GraphQL operation name or route) and outcome, with their duration. */
  requestDuration: client.Histogram<'operation' | 'outcome'>;
  /** Error codes of the requests served (extensions.code, or the HTTP error's). */
  requestErrors: client.Counter<'code'>;
  inFlight: client.Gauge;
  /** Calls to a subgraph's GraphQL (the gateway) or to an internal API, by target, API and outcome. */
  callDuration: client.Histogram<'target' | 'api' | 'outcome'>;
  /** Decisions of the consent policy function, by category and outcome. */
  consentDecisions: client.Counter<'category' | 'outcome'>;
  /** Audit trail writes (the gateway, before any data leaves), by outcome, and the events written. */
  auditWriteDuration: client.Histogram<'outcome'>;
  auditEvents: client.Counter;
  /** SQL statements, by kind (select, insert, ...) and outcome. */
  dbQueryDuration: client.Histogram<'operation' | 'outcome'>;
}

/** Something a metric's collect hook reads when scraped (a pool's connection counts). */
export interface PoolStats {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

export interface Telemetry {
  readonly service: string;
  readonly registry: client.Registry;
  readonly metrics: ServiceMetrics;
  /** Set when tracing is on. */
  readonly tracer: Tracer | undefined;
  /** Its provider, when tracing is on (the gateway hands it to Apollo Gateway's own spans). */
  readonly tracerProvider: TracerProvider | undefined;
  /** Counts a database pool's connections in `fpr_db_pool_connections` until the returned function is called. */
  trackPool(pool: PoolStats): () => void;
  /** Sends the spans still buffered (tests; shutdown). */
  flush(): Promise<void>;
}

const services = new Map<string, Telemetry>();

/**
 * The telemetry of one service, created on first use. A process running
 * several services (npm start, the tests) holds one per service.
 */
export function telemetryFor(service: string): Telemetry {
  let telemetry = services.get(service);
  if (!telemetry) {
    telemetry = createTelemetry(service);
    services.set(service, telemetry);
  }
  return telemetry;
}

function createTelemetry(service: string): Telemetry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service });
  // Process metrics: CPU, resident memory, heap, event-loop lag (nodejs_eventloop_lag_*), GC.
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  const pools = new Set<PoolStats>();
  const metrics: ServiceMetrics = {
    requestDuration: new client.Histogram({ name: 'fpr_request_duration_seconds', help: 'Requests served, by operation (GraphQL operation name or route) and outcome (ok, partial, client_error, server_error, aborted).', labelNames: ['operation', 'outcome'], buckets: SECONDS_BUCKETS, registers: [registry] }),
    requestErrors: new client.Counter({ name: 'fpr_request_errors_total', help: 'Error codes of the requests served (extensions.code).', labelNames: ['code'], registers: [registry] }),
    inFlight: new client.Gauge({ name: 'fpr_requests_in_flight', help: 'Requests being served.', registers: [registry] }),
    callDuration: new client.Histogram({ name: 'fpr_outgoing_call_duration_seconds', help: 'Calls to another service: the gateway to a subgraph (api "graphql"), any service to an internal API; by target, API and outcome (ok, error, timeout, unreachable).', labelNames: ['target', 'api', 'outcome'], buckets: SECONDS_BUCKETS, registers: [registry] }),
    consentDecisions: new client.Counter({ name: 'fpr_consent_decisions_total', help: 'Decisions of the consent policy, by category and outcome (allow, break_glass, forbidden, consent_denied).', labelNames: ['category', 'outcome'], registers: [registry] }),
    auditWriteDuration: new client.Histogram({ name: 'fpr_audit_write_duration_seconds', help: 'Audit trail writes before a response leaves the gateway, by outcome (ok, error).', labelNames: ['outcome'], buckets: SECONDS_BUCKETS, registers: [registry] }),
    auditEvents: new client.Counter({ name: 'fpr_audit_events_total', help: 'Audit events written (one per patient per request).', registers: [registry] }),
    dbQueryDuration: new client.Histogram({ name: 'fpr_db_query_duration_seconds', help: 'SQL statements, by kind (select, insert, update, delete, other) and outcome (ok, error).', labelNames: ['operation', 'outcome'], buckets: SECONDS_BUCKETS, registers: [registry] }),
  };
  new client.Gauge({
    name: 'fpr_db_pool_connections', help: 'PostgreSQL pool connections, by state (total, idle, waiting: requests queued for a connection).', labelNames: ['state'], registers: [registry],
    collect() {
      const sum = (key: keyof PoolStats) => [...pools].reduce((total, pool) => total + pool[key], 0);
      this.set({ state: 'total' }, sum('totalCount'));
      this.set({ state: 'idle' }, sum('idleCount'));
      this.set({ state: 'waiting' }, sum('waitingCount'));
    },
  });
  const provider = tracingEnabled() ? createTracerProvider(service) : undefined;
  return {
    service,
    registry,
    metrics,
    tracer: provider?.getTracer('federated-patient-record'),
    tracerProvider: provider,
    trackPool(pool) {
      pools.add(pool);
      return () => pools.delete(pool);
    },
    flush: async () => { await provider?.forceFlush(); },
  };
}

// ---------------------------------------------------------------------------
// Tracing

/** Whether spans are exported: an OTLP endpoint is configured and the SDK is not disabled. */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

let globalsInstalled = false;

function createTracerProvider(service: string): TracerProvider {
  const protocol = process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? process.env.OTEL_EXPORTER_OTLP_PROTOCOL;
  // OTLP/HTTP receivers take JSON and protobuf alike; a gRPC endpoint would silently receive nothing.
  if (protocol && protocol !== 'http/json' && protocol !== 'http/protobuf') {
    throw new ConfigurationError(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported: spans are exported over OTLP/HTTP (http/json), to the collector's HTTP receiver (port 4318)`);
  }
  if (!globalsInstalled) {
    // One context manager and one propagator per process, shared by its services.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    globalsInstalled = true;
  }
  // OTEL_SERVICE_NAME names a process running one service; npm start runs six, each named after itself.
  const name = singleServiceProcess && process.env.OTEL_SERVICE_NAME ? process.env.OTEL_SERVICE_NAME : service;
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromOtelEnv()).merge(resourceFromAttributes({ 'service.name': name, 'service.namespace': 'federated-patient-record' })),
    sampler: samplerFromEnv(),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
  });
  return provider;
}

let singleServiceProcess = false;
/** scripts/service.ts: this process runs one service, so OTEL_SERVICE_NAME may name it. */
export function markSingleServiceProcess(): void {
  singleServiceProcess = true;
}

function resourceFromOtelEnv() {
  const attributes: Record<string, string> = {};
  for (const pair of (process.env.OTEL_RESOURCE_ATTRIBUTES ?? '').split(',')) {
    const [key, ...value] = pair.split('=');
    if (key?.trim() && value.length) attributes[key.trim()] = decodeURIComponent(value.join('=').trim());
  }
  return resourceFromAttributes(attributes);
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, as the specification names them (default parentbased_always_on). */
export function samplerFromEnv(env: NodeJS.ProcessEnv = process.env): Sampler {
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? 1);
  const traceIdRatio = new TraceIdRatioBasedSampler(Number.isFinite(ratio) && ratio >= 0 && ratio <= 1 ? ratio : 1);
  switch (env.OTEL_TRACES_SAMPLER) {
    case 'always_on': return new AlwaysOnSampler();
    case 'always_off': return new AlwaysOffSampler();
    case 'traceidratio': return traceIdRatio;
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: traceIdRatio });
    default: return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}$/;

/** A well-formed W3C `traceparent` (not all-zero ids), else undefined. */
export function validTraceparent(value: string | string[] | undefined): string | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  const match = TRACEPARENT.exec(header ?? '');
  return match && !/^0+$/.test(match[1]!) && !/^0+$/.test(match[2]!) ? header : undefined;
}

/** The trace id of a well-formed `traceparent` (validTraceparent). */
export const traceIdOf = (traceparent: string | undefined): string | undefined => traceparent?.split('-')[1];

/** The server span of one request, when tracing is on. */
export interface ServerSpan {
  span: Span;
  context: Context;
}

/** Starts the span of a request a service serves, continuing the caller's trace. */
export function startServerSpan(telemetry: Telemetry, name: string, headers: http.IncomingHttpHeaders): ServerSpan | undefined {
  if (!telemetry.tracer) return undefined;
  const parent = propagation.extract(context.active(), headers);
  const span = telemetry.tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends a span, marking it failed when `failed` says so. */
export function endSpan(span: Span | undefined, attributes: Record<string, string | number | boolean | undefined>, failed = false): void {
  if (!span) return;
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) span.setAttribute(key, value);
  if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** What an outgoing call to another service is (metrics labels, span name). */
export interface OutgoingCall {
  telemetry: Telemetry;
  /** The service called. */
  target: string;
  /** `graphql` (a subgraph's GraphQL endpoint) or the internal API's path. */
  api: string;
  /** The caller's `traceparent`, passed on as it came when tracing is off. */
  traceparent?: string;
}

/**
 * Measures one outgoing call and, when tracing is on, wraps it in a client
 * span whose `traceparent` goes into `headers`.
 */
export function startOutgoingCall(call: OutgoingCall, headers: Record<string, string>): (outcome: CallOutcome, status?: number) => void {
  const started = performance.now();
  let span: Span | undefined;
  if (call.telemetry.tracer) {
    span = call.telemetry.tracer.startSpan(`POST ${call.api === 'graphql' ? `${call.target} /graphql` : call.api}`, {
      kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'POST', 'peer.service': call.target, 'fpr.api': call.api },
    });
    propagation.inject(trace.setSpan(context.active(), span), headers);
  } else if (call.traceparent) {
    headers.traceparent = call.traceparent;
  }
  return (outcome, status) => {
    call.telemetry.metrics.callDuration.observe({ target: call.target, api: call.api, outcome }, (performance.now() - started) / 1000);
    endSpan(span, { 'http.response.status_code': status, 'fpr.outcome': outcome }, outcome !== 'ok');
  };
}

/** The kind of an SQL statement, for the metric's label: its first keyword. */
function statementKind(sql: string): string {
  const keyword = /^\s*(?:WITH\b[\s\S]*?\)\s*)?([A-Za-z]+)/.exec(sql)?.[1]?.toLowerCase();
  return keyword && ['select', 'insert', 'update', 'delete'].includes(keyword) ? keyword : 'other';
}

/**
 * Wraps one SQL statement: its duration in `fpr_db_query_duration_seconds`
 * and, when tracing is on, a client span (the statement's kind, never its
 * text or parameters).
 */
export async function observeQuery<T>(telemetry: Telemetry, sql: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const operation = statementKind(sql);
  const span = telemetry.tracer?.startSpan(`db ${operation}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', 'db.operation.name': operation.toUpperCase(), 'db.namespace': telemetry.service } });
  let outcome: 'ok' | 'error' = 'error';
  try {
    const result = await run();
    outcome = 'ok';
    return result;
  } finally {
    telemetry.metrics.dbQueryDuration.observe({ operation, outcome }, (performance.now() - started) / 1000);
    endSpan(span, {}, outcome === 'error');
  }
}

// ---------------------------------------------------------------------------
// Metrics helpers

/**
 * Caps the distinct values of a label: the first `max` well-formed values
 * are kept, anything else is `other`. Operation names come from clients.
 */
export function boundedLabel(seen: Set<string>, value: string | undefined, max = 200): string {
  if (!value) return 'none';
  if (seen.has(value)) return value;
  if (seen.size >= max || !/^[\w./:$ -]{1,100}$/.test(value)) return 'other';
  seen.add(value);
  return value;
}

/** The outcome label of a served request. */
export function requestOutcome(status: number, finished: boolean, errorCodes: number): string {
  if (!finished) return 'aborted';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  return errorCodes > 0 ? 'partial' : 'ok';
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format) on its own port, apart from
 * the service's public port: in a deployment only the monitoring namespace
 * reaches it (deploy/kubernetes NetworkPolicies).
 */
export async function serveMetrics(telemetry: Telemetry, host: string, port: number, variable = `the ${telemetry.service} metrics port`): Promise<MetricsServer> {
  const server = http.createServer(async (request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: GET /metrics');
      return;
    }
    try {
      const body = await telemetry.registry.metrics();
      response.writeHead(200, { 'content-type': telemetry.registry.contentType }).end(body);
    } catch {
      response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE'
      ? new ConfigurationError(`metrics port ${port} is already in use: stop the process using it, or set ${variable} to a free port`)
      : error));
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

/** `<PREFIX>_METRICS_PORT`: a port number (0: any free port), or unset for no metrics endpoint. */
export function metricsPortFromEnv(envPrefix: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env[`${envPrefix}_METRICS_PORT`];
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigurationError(`${envPrefix}_METRICS_PORT must be a port number`);
  return port;
}
