/**
 * Failure behaviour with the services as separate processes, in production
 * mode, as an operator runs them (scripts/process-stack.ts): a subgraph
 * killed, one frozen, a database dropping its connections, SIGTERM during
 * requests, and a generated corpus of hostile requests. The rest of the chart
 * must survive a missing part, every call must have a deadline, a stop must
 * drain, and no client mistake may earn a 5xx, a stack trace or unbounded
 * memory. Timings are printed; the only ones asserted are deadlines, with a
 * generous slack (DEADLINE_SLACK_MS) so the suite passes on a busy machine and
 * fails only on a hang. It also checks, on real charts, the join of the
 * services' log lines by request id that the benchmark's breakdown of its
 * slowest requests is built on (scripts/bench-slow-requests.ts).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusTokens, hostileCorpus, runCorpus } from '../scripts/hostile-corpus.js';
import { startProcessStack, type ProcessStack } from '../scripts/process-stack.js';
import { slowRequests, type ClientSample } from '../scripts/bench-slow-requests.js';
import type { PatientBundle } from '../lib/synthetic/generator.js';
import { bundles, chartPatient, COUNTY, PATIENTS } from './support/chart.js';
import { PROGRAMS } from '../lib/synthetic/registry.js';

/** The gateway's deadline per subgraph call; the subgraphs' per internal call is shorter, so a frozen owner is named by its caller before the gateway gives up on the caller. */
const SUBGRAPH_TIMEOUT_MS = 3000;

/** The rest of the chart stands when imaging does not answer: 200, demographics, encounters, results, immunisations; imaging null. */
function expectChartWithoutImaging(response: { status: number; data?: any }): void {
  expect(response.status).toBe(200);
  const patient = response.data.patient;
  expect(patient.name[0].text).toBeTruthy();
  expect(patient.encounters.edges.length).toBeGreaterThan(0);
  expect(patient.observations.edges.length).toBeGreaterThan(0);
  expect(patient.immunizations).not.toBeNull();
  expect(patient.imagingStudies).toBeNull();
}
const INTERNAL_API_TIMEOUT_MS = 2000;
/** What a busy machine may add to a deadline: an answer later than deadline + slack is a hang. */
const DEADLINE_SLACK_MS = 12_000;
/** A patient in a programme, and the organisation running it (whose public-health staff reach the patient: consent rule 6). */
const enrolled = bundles.find((b) => b.enrollments.some((e) => e.status === 'active')) as PatientBundle;
const PROGRAMME_ORG = PROGRAMS.find((p) => p.id === enrolled.enrollments.find((e) => e.status === 'active')!.programId)!.organizationId;

const CHART = `query Chart($id: ID!) { patient(id: $id) {
  name { text } birthDate gender
  encounters(first: 10) { edges { node { class period { start } organization { name } } } }
  observations(first: 20) { edges { node { code { display } valueQuantity { value unit } } } }
  imagingStudies { edges { node { studyInstanceUid modality { code } } } }
  immunizations { edges { node { vaccineCode { code } } } } } }`;

describe('failure behaviour, services as separate processes', () => {
  let stack: ProcessStack;
  let clinician: string;

  const chart = async () => {
    const started = performance.now();
    const response = await fetch(stack.url, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${clinician}` },
      body: JSON.stringify({ query: CHART, variables: { id: chartPatient.patient.id } }), signal: AbortSignal.timeout(60_000),
    });
    const body = await response.json() as { data?: any; errors?: { message: string; path?: unknown[]; extensions?: Record<string, any> }[] };
    return { status: response.status, ms: Math.round(performance.now() - started), requestId: response.headers.get('x-request-id'), ...body };
  };
  const ready = async (name: 'gateway' | 'imaging' | 'labs') => (await fetch(stack.services[name].url.replace(/graphql$/, 'ready'))).status;

  beforeAll(async () => {
    expect(chartPatient).toBeDefined();
    expect(enrolled).toBeDefined();
    stack = await startProcessStack({
      patients: PATIENTS,
      backend: process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite',
      env: { SUBGRAPH_TIMEOUT_MS: String(SUBGRAPH_TIMEOUT_MS), INTERNAL_API_TIMEOUT_MS: String(INTERNAL_API_TIMEOUT_MS) },
    });
    clinician = await stack.token({ sub: 'dr-ops', role: 'clinician', org: COUNTY });
  }, 240_000);
  afterAll(async () => stack?.close(), 60_000);

  it('follows a request by its id through the gateway\'s and every subgraph\'s log, with no patient id in any line', async () => {
    const response = await chart();
    expect(response.errors).toBeUndefined();
    // Log lines are written as responses close, and leave a service's buffer within 250 ms (lib/runtime/logger.ts).
    const linesOf = (name: keyof ProcessStack['services']) => stack.services[name].output().split('\n').filter((line) => line.includes(response.requestId!));
    for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
      if ((['gateway', 'identity', 'encounters', 'labs', 'imaging'] as const).every((name) => linesOf(name).length > 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const name of ['gateway', 'identity', 'encounters', 'labs', 'imaging'] as const) {
      const lines = linesOf(name);
      expect(lines.length, name).toBeGreaterThan(0);
      const line = JSON.parse(lines[0]!);
      expect(line).toMatchObject({ service: name, rid: response.requestId, role: 'clinician', org: COUNTY, status: 200 });
      expect(typeof line.ms).toBe('number');
    }
    for (const name of Object.keys(stack.services) as (keyof ProcessStack['services'])[]) {
      expect(stack.services[name].output(), name).not.toContain(chartPatient.patient.id);
      expect(stack.services[name].output(), name).not.toMatch(/eyJ[\w-]+\.eyJ/); // no token
    }
  });

  it('gives the benchmark, for each request, its time in the gateway and in each subgraph, joined from their log lines by request id', async () => {
    // npm run bench's breakdown of the slowest requests (scripts/bench-slow-requests.ts), on 120 real charts.
    const samples: ClientSample[] = [];
    for (let i = 0; i < 120; i++) {
      const due = Date.now();
      const response = await chart();
      expect(response.errors).toBeUndefined();
      samples.push({ requestId: response.requestId, scheduledAt: due, latencyMs: response.ms });
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // the last lines leave the services' buffers
    const logs = Object.fromEntries((Object.keys(stack.services) as (keyof ProcessStack['services'])[]).map((name) => [name, stack.services[name].output()]));
    const report = slowRequests(samples, logs);
    expect(report).toBeDefined();
    expect(report!.slow).toBe(2); // the slowest 1% of 120, rounded up to whole requests
    for (const breakdown of [report!.typical, report!.slowest]) {
      // Each chart reached identity and the three subgraphs it asks for, and the gateway's time covers theirs.
      for (const name of ['identity', 'encounters', 'labs', 'imaging', 'public-health']) expect(breakdown.services[name], name).toBeGreaterThanOrEqual(0);
      expect(breakdown.services.labs).toBeLessThanOrEqual(breakdown.gatewayMs);
      expect(breakdown.gatewayAloneMs).toBeLessThanOrEqual(breakdown.gatewayMs);
      expect(breakdown.gatewayMs).toBeLessThanOrEqual(breakdown.latencyMs + 2); // log times are whole milliseconds
      expect(breakdown.beforeGatewayMs).toBeGreaterThanOrEqual(-2);
      expect(breakdown.inHand).toBe(0); // one chart at a time
    }
    expect(report!.slowest.latencyMs).toBeGreaterThanOrEqual(report!.typical.latencyMs);
  });

  it('keeps the rest of the chart when imaging is killed, names what is missing, and recovers when it is back', async () => {
    stack.signal('imaging', 'SIGKILL');
    await stack.exited('imaging');
    const response = await chart();
    expectChartWithoutImaging(response);
    const missing = response.errors?.find((e) => e.extensions?.code === 'SUBGRAPH_UNAVAILABLE');
    expect(missing?.extensions?.service).toBe('imaging');
    expect(await ready('gateway')).toBe(503);

    await stack.restart('imaging');
    expect(await ready('gateway')).toBe(200);
    const again = await chart();
    expect(again.errors).toBeUndefined();
    expect(again.data.patient.imagingStudies.edges.length).toBeGreaterThan(0);
  });

  it('answers within the deadline when imaging is frozen, with the rest of the chart', async () => {
    stack.signal('imaging', 'SIGSTOP');
    try {
      const response = await chart();
      console.log(`chart query with imaging frozen: ${response.ms} ms (deadline ${SUBGRAPH_TIMEOUT_MS} ms)`);
      expect(response.ms).toBeLessThan(SUBGRAPH_TIMEOUT_MS + DEADLINE_SLACK_MS);
      expectChartWithoutImaging(response);
      const unavailable = response.errors?.filter((e) => e.extensions?.code === 'SUBGRAPH_UNAVAILABLE') ?? [];
      expect(unavailable.map((e) => e.extensions?.service)).toEqual(['imaging']);
      expect(response.errors?.every((e) => e.extensions?.code === 'SUBGRAPH_UNAVAILABLE'), JSON.stringify(response.errors)).toBe(true);
    } finally {
      stack.signal('imaging', 'SIGCONT');
    }
    expect((await chart()).errors).toBeUndefined();
  });

  it('answers within the internal deadline when public-health is frozen while identity needs its programme organisations, naming public-health', async () => {
    // Public-health staff reach a patient by the programmes their organisation runs: identity asks public-health (/internal/programme-organizations).
    const officer = await stack.token({ sub: 'ph-ops', role: 'public_health', org: PROGRAMME_ORG });
    const lookup = async () => {
      const started = performance.now();
      const response = await fetch(stack.url, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${officer}` },
        body: JSON.stringify({ query: 'query($id: ID!) { patient(id: $id) { id name { text } birthDate } }', variables: { id: enrolled.patient.id } }),
        signal: AbortSignal.timeout(60_000),
      });
      const body = await response.json() as { data?: any; errors?: { message: string; extensions?: Record<string, any> }[] };
      return { status: response.status, ms: Math.round(performance.now() - started), requestId: response.headers.get('x-request-id'), ...body };
    };
    const before = await lookup();
    expect(before.errors, JSON.stringify(before.errors)).toBeUndefined();
    expect(before.data.patient.name[0].text).toBeTruthy();

    stack.signal('public-health', 'SIGSTOP');
    try {
      const response = await lookup();
      console.log(`patient lookup with public-health frozen: ${response.ms} ms (internal deadline ${INTERNAL_API_TIMEOUT_MS} ms)`);
      expect(response.ms).toBeLessThan(INTERNAL_API_TIMEOUT_MS + DEADLINE_SLACK_MS);
      expect(response.status).toBe(200);
      expect(response.requestId).toBeTruthy();
      // Consent cannot be decided: closed, and the service that did not answer is named (not identity, which did).
      expect(response.data).toEqual({ patient: null });
      expect(response.errors?.map((e) => [e.extensions?.code, e.extensions?.service])).toEqual([['SUBGRAPH_UNAVAILABLE', 'public-health']]);
    } finally {
      stack.signal('public-health', 'SIGCONT');
    }
    const after = await lookup();
    expect(after.errors, JSON.stringify(after.errors)).toBeUndefined();
    expect(after.data.patient.id).toBe(enrolled.patient.id);
  });

  it.runIf(process.env.TEST_DATABASE_URL)('recovers when its database drops every connection (a database restart)', async () => {
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    const database = new URL(stack.databaseUrls.labs).pathname.slice(1);
    const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    await admin.end();
    expect(rowCount).toBeGreaterThan(0);
    // The pool replaces the dropped connections: within a few requests the chart is whole again.
    let whole = false;
    for (let attempt = 0; attempt < 5 && !whole; attempt++) {
      const response = await chart();
      expect(response.status).toBe(200);
      expect(response.data.patient.encounters).not.toBeNull();
      whole = response.errors === undefined;
    }
    expect(whole).toBe(true);
    expect(await ready('labs')).toBe(200);
  });

  it('answers a generated corpus of 2,400 hostile requests with no 5xx, no stack trace, a request id each, and bounded memory', async () => {
    const tokens = await corpusTokens(stack.token, COUNTY, chartPatient.patient.id);
    const corpus = hostileCorpus(2400, 20261129, { tokens, patientId: chartPatient.patient.id });
    const base = stack.url.replace(/\/graphql$/, '');
    // Warm up, so what is measured is growth, not first-use allocation.
    await runCorpus(base, corpus.slice(0, 200), 4);
    const before = stack.rssMb('gateway');
    const run = await runCorpus(base, corpus, 6);
    const after = stack.rssMb('gateway');
    console.log(`hostile corpus: ${run.requests} requests, statuses ${JSON.stringify(run.byStatus)}, p50 ${run.p50.toFixed(0)} ms, p99 ${run.p99.toFixed(0)} ms, gateway RSS ${before.toFixed(0)} → ${after.toFixed(0)} MB`);
    expect(run.serverErrors).toEqual([]);
    expect(run.leaks).toEqual([]);
    expect(run.missingRequestId).toBe(0);
    expect(after - before).toBeLessThan(200);
    // Still serving, correctly.
    expect((await chart()).errors).toBeUndefined();
  }, 600_000);

  it('drains on SIGTERM: a subgraph finishes the requests in flight and exits 0', async () => {
    // A lookup served by labs first: with identity frozen it waits in labs for the consent facts.
    const observation = chartPatient.observations.find((o) => o.organizationId === COUNTY)!;
    const lookup = () => fetch(stack.url, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${clinician}` },
      body: JSON.stringify({ query: 'query($id: ID!) { observation(id: $id) { id code { code } } }', variables: { id: observation.id } }),
    }).then(async (response) => ({ status: response.status, ...(await response.json() as { data?: any; errors?: unknown[] }) }));
    stack.signal('identity', 'SIGSTOP');
    const inFlight = Array.from({ length: 3 }, lookup);
    await new Promise((resolve) => setTimeout(resolve, 400));
    stack.signal('labs', 'SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    stack.signal('identity', 'SIGCONT');
    const answers = await Promise.all(inFlight);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.data?.observation?.id, JSON.stringify(answer.errors)).toBe(observation.id);
    }
    expect(await stack.exited('labs')).toBe(0);
    await stack.restart('labs');
  });

  it('drains on SIGTERM: the gateway finishes FHIR exports in flight and exits 0', async () => {
    stack.signal('labs', 'SIGSTOP');
    const url = `${stack.url.replace(/\/graphql$/, '')}/fhir/Patient/${chartPatient.patient.id}/$everything`;
    const exports = Array.from({ length: 4 }, () => fetch(url, { headers: { authorization: `Bearer ${clinician}` }, signal: AbortSignal.timeout(60_000) })
      .then(async (response) => ({ status: response.status, body: await response.json() as { resourceType: string } })));
    await new Promise((resolve) => setTimeout(resolve, 400));
    stack.signal('gateway', 'SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // New connections are refused while it drains.
    await expect(fetch(stack.url.replace(/graphql$/, 'health'), { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    stack.signal('labs', 'SIGCONT');
    const answers = await Promise.all(exports).catch((error: Error) => {
      throw new Error(`${error.message}\n${stack.services.gateway.output().split('\n').slice(-15).join('\n')}`);
    });
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.resourceType).toBe('Bundle');
    }
    expect(await stack.exited('gateway')).toBe(0);
  });
});
