/**
 * Operating the product: one request followed through every service by its
 * trace id in exported spans (OTLP/HTTP to a collector in this process) and
 * by its request id in every service's log lines; each service's Prometheus
 * metrics on its own port, parsed as Prometheus text format.
 *
 * Tracing is on in this file (OTEL_EXPORTER_OTLP_ENDPOINT points at the
 * collector below); test/logging.e2e.test.ts covers the default, tracing off.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { telemetryFor } from '../lib/runtime/telemetry.js';
import { postGraphQL, startTestStack, type LogLine, type TestStack } from './support/harness.js';
import { labelValues, parsePrometheusText, total } from '../scripts/prometheus-text.js';
import { CHART_WITH_TIMELINE, chartPatient, clientTraceparent, COUNTY, PATIENTS } from './support/chart.js';

interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

const SERVER = 2;
const CLIENT = 3;

/** OTLP/JSON carries ids as hex (the JavaScript exporter) or base64 (the protobuf JSON mapping). */
const hexId = (id: string | undefined) => (!id ? '' : /^[\da-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex'));
const anyValue = (value: Record<string, unknown>) => value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue;

/** An OTLP/HTTP trace collector: keeps every span POSTed to /v1/traces. */
async function startCollector(): Promise<{ url: string; spans: ExportedSpan[]; requests: { path: string; contentType?: string }[]; close(): Promise<void> }> {
  const spans: ExportedSpan[] = [];
  const requests: { path: string; contentType?: string }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ path: request.url ?? '', contentType: request.headers['content-type'] });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: any[] };
      for (const resourceSpans of body.resourceSpans) {
        const service = anyValue(resourceSpans.resource.attributes.find((a: any) => a.key === 'service.name').value) as string;
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              service, traceId: hexId(span.traceId), spanId: hexId(span.spanId), parentSpanId: hexId(span.parentSpanId), name: span.name, kind: span.kind,
              attributes: Object.fromEntries((span.attributes ?? []).map((a: any) => [a.key, anyValue(a.value)])),
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function scrape(port: number) {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

const SERVICES = ['gateway', ...SUBGRAPH_NAMES] as const;

describe('observability (tracing on)', () => {
  let stack: TestStack;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let token: string;
  const { traceparent, traceId, spanId: clientSpanId } = clientTraceparent();
  let requestId: string;
  let trace: ExportedSpan[];

  beforeAll(async () => {
    collector = await startCollector();
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url;
    stack = await startTestStack('pglite', {
      patients: PATIENTS, logs: true,
      metricsPorts: Object.fromEntries(SERVICES.map((service) => [service, 0])),
    });
    token = await stack.token({ sub: 'dr-observed', role: 'clinician', org: COUNTY });
    const answer = await postGraphQL<any>(stack.url, { authorization: `Bearer ${token}`, traceparent }, { query: CHART_WITH_TIMELINE, variables: { id: chartPatient.patient.id } });
    expect(answer.errors).toBeUndefined();
    expect(answer.data.patient.timeline.edges.length).toBeGreaterThan(0);
    requestId = answer.requestId!;
    await Promise.all(SERVICES.map((service) => telemetryFor(service).flush()));
    trace = collector.spans.filter((span) => span.traceId === traceId);
  });

  afterAll(async () => {
    await stack?.close();
    await collector?.close();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  });

  it('exports the spans over OTLP/HTTP, one resource per service', () => {
    expect(collector.requests.length).toBeGreaterThan(0);
    expect(collector.requests.every((r) => r.path === '/v1/traces' && r.contentType === 'application/json')).toBe(true);
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(SERVICES));
  });

  it('continues the caller\'s trace: the gateway\'s request span is a child of the traceparent sent', () => {
    const root = trace.find((s) => s.service === 'gateway' && s.kind === SERVER);
    expect(root).toMatchObject({ parentSpanId: clientSpanId, name: 'POST /graphql' });
    expect(root!.attributes).toMatchObject({ 'graphql.operation.name': 'ChartWithTimeline', 'fpr.request_id': requestId, 'fpr.actor.role': 'clinician', 'fpr.actor.org': COUNTY, 'http.response.status_code': 200 });
  });

  it('links gateway → subgraph: every subgraph\'s request span is the child of the gateway\'s call to it', () => {
    for (const subgraph of SUBGRAPH_NAMES) {
      const calls = trace.filter((s) => s.service === 'gateway' && s.kind === CLIENT && s.attributes['peer.service'] === subgraph && s.attributes['fpr.api'] === 'graphql');
      expect(calls.length, subgraph).toBeGreaterThan(0);
      const served = trace.filter((s) => s.service === subgraph && s.kind === SERVER && s.name === 'POST /graphql');
      expect(served.length, subgraph).toBeGreaterThan(0);
      for (const span of served) expect(calls.map((c) => c.spanId), subgraph).toContain(span.parentSpanId);
    }
  });

  it('links subgraph → internal API: identity asks each owner for its timeline entries, the gateway writes the audit event', () => {
    const timelineCalls = trace.filter((s) => s.service === 'identity' && s.kind === CLIENT && s.attributes['fpr.api'] === '/internal/timeline');
    expect(timelineCalls.length).toBeGreaterThan(0);
    for (const call of timelineCalls) {
      const served = trace.find((s) => s.parentSpanId === call.spanId);
      expect(served).toMatchObject({ kind: SERVER, name: 'POST /internal/timeline', service: call.attributes['peer.service'] });
    }
    const audit = trace.find((s) => s.service === 'gateway' && s.kind === CLIENT && s.attributes['fpr.api'] === '/internal/audit-events');
    expect(trace.find((s) => s.parentSpanId === audit?.spanId)).toMatchObject({ service: 'identity', kind: SERVER, name: 'POST /internal/audit-events' });
  });

  it('reaches the database: SQL statements are spans under the request that ran them', () => {
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    for (const subgraph of SUBGRAPH_NAMES) {
      const statements = trace.filter((s) => s.service === subgraph && s.name.startsWith('db '));
      expect(statements.length, subgraph).toBeGreaterThan(0);
      for (const statement of statements) {
        expect(statement.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.namespace': subgraph });
        // Walk up to the service's own request span.
        let parent = byId.get(statement.parentSpanId);
        while (parent && !(parent.kind === SERVER && parent.service === subgraph)) parent = byId.get(parent.parentSpanId);
        expect(parent, `${subgraph} ${statement.name}`).toBeDefined();
      }
    }
  });

  it('includes Apollo Gateway\'s own planning and fetch spans', () => {
    const names = new Set(trace.filter((s) => s.service === 'gateway').map((s) => s.name));
    expect(names).toContain('gateway.plan');
    expect(names).toContain('gateway.fetch');
  });

  it('carries no patient id, token or query value in any span', () => {
    const text = JSON.stringify(collector.spans);
    expect(text).not.toContain(chartPatient.patient.id);
    expect(text).not.toContain(token);
    expect(text).not.toContain(chartPatient.patient.family);
    expect(text).not.toContain(chartPatient.patient.birthDate);
  });

  it('logs the request in every service under the same request id and trace id', () => {
    const requestLines = stack.logLines().filter((line) => line.msg === 'request' && line.rid === requestId);
    expect(new Set(requestLines.map((line) => line.service))).toEqual(new Set(SERVICES));
    for (const line of requestLines) expect(line).toMatchObject({ trace: traceId, role: 'clinician', org: COUNTY, level: 'info' });
    const gatewayLine = requestLines.find((line) => line.service === 'gateway') as LogLine;
    expect(gatewayLine).toMatchObject({ op: 'ChartWithTimeline', status: 200, path: '/graphql', method: 'POST' });
    expect(typeof gatewayLine.ms).toBe('number');
    expect(JSON.stringify(stack.logLines())).not.toContain(chartPatient.patient.id);
  });

  describe('metrics', () => {
    it('serves Prometheus text format on each service\'s own port, not on its public port', async () => {
      const ports = { gateway: stack.gateway.metricsPort, ...Object.fromEntries(SUBGRAPH_NAMES.map((n) => [n, stack.subgraphs[n].metricsPort])) } as Record<string, number | undefined>;
      for (const service of SERVICES) {
        expect(ports[service], service).toBeGreaterThan(0);
        const families = await scrape(ports[service]!);
        const names = families.map((f) => f.name);
        for (const name of ['fpr_request_duration_seconds', 'fpr_requests_in_flight', 'fpr_outgoing_call_duration_seconds', 'fpr_db_pool_connections', 'nodejs_eventloop_lag_seconds', 'process_resident_memory_bytes']) {
          expect(names, `${service} ${name}`).toContain(name);
        }
        // Every sample names its service.
        expect(families.every((f) => f.samples.every((sample) => sample.labels.service === service)), service).toBe(true);
        expect(total(families, 'fpr_request_duration_seconds'), service).toBeGreaterThan(0);
      }
      expect((await fetch(stack.url.replace(/\/graphql$/, '/metrics'))).status).toBe(404);
    });

    it('counts requests by operation and outcome, calls to subgraphs and internal APIs, consent decisions, audit writes and SQL', async () => {
      const gateway = await scrape(stack.gateway.metricsPort!);
      expect(total(gateway, 'fpr_request_duration_seconds', { operation: 'ChartWithTimeline', outcome: 'ok' })).toBe(1);
      for (const subgraph of SUBGRAPH_NAMES) expect(total(gateway, 'fpr_outgoing_call_duration_seconds', { target: subgraph, api: 'graphql', outcome: 'ok' }), subgraph).toBeGreaterThan(0);
      expect(total(gateway, 'fpr_outgoing_call_duration_seconds', { target: 'identity', api: '/internal/audit-events', outcome: 'ok' })).toBeGreaterThan(0);
      expect(total(gateway, 'fpr_audit_write_duration_seconds', { outcome: 'ok' })).toBeGreaterThan(0);
      expect(total(gateway, 'fpr_audit_events_total')).toBeGreaterThan(0);

      const identity = await scrape(stack.subgraphs.identity.metricsPort!);
      expect(total(identity, 'fpr_outgoing_call_duration_seconds', { target: 'encounters', api: '/internal/timeline', outcome: 'ok' })).toBeGreaterThan(0);
      expect(total(identity, 'fpr_consent_decisions_total', { category: 'demographics', outcome: 'allow' })).toBeGreaterThan(0);
      const encounters = await scrape(stack.subgraphs.encounters.metricsPort!);
      expect(total(encounters, 'fpr_request_duration_seconds', { operation: '/internal/timeline', outcome: 'ok' })).toBeGreaterThan(0);
      expect(total(encounters, 'fpr_db_query_duration_seconds', { operation: 'select', outcome: 'ok' })).toBeGreaterThan(0);
    });

    it('counts refusals by error code, and client-chosen operation names cannot grow the registry without bound', async () => {
      const refused = await postGraphQL<any>(stack.url, {}, { query: '{ __typename }' });
      expect(refused.status).toBe(401);
      for (let i = 0; i < 260; i++) {
        const answer = await postGraphQL<any>(stack.url, { authorization: `Bearer ${token}` }, { query: `query Probe${i} { __typename }`, operationName: `Probe${i}` });
        expect(answer.status).toBe(200);
      }
      const gateway = await scrape(stack.gateway.metricsPort!);
      expect(total(gateway, 'fpr_request_errors_total', { code: 'UNAUTHENTICATED' })).toBe(1);
      expect(total(gateway, 'fpr_request_duration_seconds', { outcome: 'client_error' })).toBeGreaterThanOrEqual(1);
      const operations = labelValues(gateway, 'fpr_request_duration_seconds', 'operation');
      expect(operations.size).toBeLessThanOrEqual(201);
      expect(operations).toContain('other');
      expect(operations).toContain('ChartWithTimeline');
      expect(total(gateway, 'fpr_request_duration_seconds', { operation: 'other' })).toBeGreaterThan(0);
    });
  });
});
