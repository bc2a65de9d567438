/**
 * Logs with tracing off (the default): a request is still followed through
 * every service's log lines by its request id, and by the trace id of the
 * caller's W3C `traceparent`, which every service passes on as it came; no
 * spans are made and no context manager runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { terminalLine } from '../lib/runtime/logger.js';
import { telemetryFor, tracingEnabled } from '../lib/runtime/telemetry.js';
import { postGraphQL, startTestStack, type TestStack } from './support/harness.js';
import { CHART_WITH_TIMELINE, chartPatient, clientTraceparent, COUNTY, PATIENTS } from './support/chart.js';

const SERVICES = ['gateway', ...SUBGRAPH_NAMES] as const;

describe('request logs (tracing off)', () => {
  let stack: TestStack;
  let token: string;

  beforeAll(async () => {
    expect(tracingEnabled()).toBe(false);
    stack = await startTestStack('pglite', { patients: PATIENTS, logs: true });
    token = await stack.token({ sub: 'dr-logged', role: 'clinician', org: COUNTY, client_id: 'county-timeline-app' });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('makes no spans', () => {
    for (const service of SERVICES) expect(telemetryFor(service).tracer, service).toBeUndefined();
  });

  it('follows a request through every service by its request id, with the caller\'s trace id passed on', async () => {
    const { traceparent, traceId } = clientTraceparent();
    const answer = await postGraphQL<any>(stack.url, { authorization: `Bearer ${token}`, traceparent }, { query: CHART_WITH_TIMELINE, variables: { id: chartPatient.patient.id } });
    expect(answer.errors).toBeUndefined();
    const mine = stack.logLines().filter((line) => line.msg === 'request' && line.rid === answer.requestId);
    expect(new Set(mine.map((line) => line.service))).toEqual(new Set(SERVICES));
    // Internal calls too: identity asked each owner for its timeline entries, the gateway wrote the audit event.
    expect(mine.filter((line) => line.op === '/internal/timeline').map((line) => line.service).sort()).toEqual(['encounters', 'imaging', 'labs', 'public-health']);
    expect(mine.some((line) => line.service === 'identity' && line.op === '/internal/audit-events')).toBe(true);
    for (const line of mine) {
      expect(line).toMatchObject({ trace: traceId, role: 'clinician', org: COUNTY, app: 'county-timeline-app', level: 'info', status: 200 });
      expect(typeof line.ms).toBe('number');
      expect(typeof line.time).toBe('string');
    }
    expect(mine.find((line) => line.service === 'gateway')).toMatchObject({ op: 'ChartWithTimeline', method: 'POST', path: '/graphql' });
    // On a terminal each of these is one short line (lib/runtime/logger.ts terminalLine, pino-pretty's message format).
    const shown = terminalLine(mine.find((line) => line.service === 'gateway')!);
    expect(shown).toMatch(new RegExp(`^gateway POST /graphql ChartWithTimeline → 200 \\d+ ms clinician@${COUNTY} app=county-timeline-app$`));
  });

  it('never logs a token, a patient id, a name or variables', async () => {
    const { traceparent } = clientTraceparent();
    await postGraphQL<any>(stack.url, { authorization: `Bearer ${token}`, traceparent }, { query: CHART_WITH_TIMELINE, variables: { id: chartPatient.patient.id } });
    await postGraphQL<any>(stack.url, { authorization: `Bearer ${token}x` }, { query: CHART_WITH_TIMELINE, variables: { id: chartPatient.patient.id } });
    const text = JSON.stringify(stack.logLines());
    for (const secret of [token, chartPatient.patient.id, chartPatient.patient.family, chartPatient.patient.birthDate]) expect(text).not.toContain(secret);
    // The refused token is logged by its error code only.
    expect(stack.logLines().some((line) => line.service === 'gateway' && line.status === 401 && (line.codes as string[] | undefined)?.includes('UNAUTHENTICATED'))).toBe(true);
  });

  it('logs a recovery poll that found nothing to do at debug only: no info line every 15 s', async () => {
    const before = stack.logLines().length;
    expect(await stack.gateway.ingest.recover()).toEqual({ settled: 0, pending: 0 });
    const lines = stack.logLines().slice(before).filter((line) => line.op === '/internal/ingest/recovery');
    // The harness keeps info and above: the poll answered (200) and left no line.
    expect(lines).toEqual([]);
    // A refused call to the same API is no routine: it is logged.
    const refused = await fetch(stack.subgraphs.identity.url.replace(/\/graphql$/, '/internal/ingest/recovery'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(refused.status).toBe(401);
    expect(stack.logLines().slice(before).some((line) => line.service === 'identity' && line.status === 401 && line.path === '/internal/ingest/recovery')).toBe(true);
  });

  it('ignores a malformed traceparent rather than logging what a client wrote', async () => {
    const answer = await postGraphQL<any>(stack.url, { authorization: `Bearer ${token}`, traceparent: '00-not-a-trace-id-01' }, { query: '{ __typename }' });
    const line = stack.logLines().find((l) => l.msg === 'request' && l.rid === answer.requestId);
    expect(line).toBeDefined();
    expect(line!.trace).toBeUndefined();
  });
});
