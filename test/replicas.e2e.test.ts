/**
 * Two replicas of everything (scripts/replicas.ts): the gateway and each
 * subgraph twice, as separate processes in production mode, behind HAProxy,
 * on PostgreSQL, with the replay guard shared on Redis. Every request below
 * goes to the gateway's balancer, and every call the services make to a
 * subgraph goes through that subgraph's balancer.
 *
 * - A captured actor token, accepted at one replica of labs, is refused at
 *   the other.
 * - A labs replica SIGKILLed during a steady stream of charts: every chart
 *   answered in full is the right chart, an incomplete one says so (errors),
 *   and once HAProxy has the replica out every chart is answered in full.
 * - An encounters replica frozen (SIGSTOP): routed around once its health
 *   check fails, every chart answered in full; then SIGCONT, back in.
 * - The security perimeter at a replica: every subgraph replica's own port,
 *   and each subgraph's balancer, refuses GraphQL without a gateway
 *   signature, with a forged one, or one for another subgraph; identity's
 *   internal APIs refuse unsigned and forged calls at both replicas.
 * - The hostile corpus (scripts/hostile-corpus.ts, 2,400 requests) at the
 *   balancer's front door: no 5xx, no stack trace, a request id each, both
 *   gateways answering.
 * - A gateway replica SIGKILLed, a gateway replica frozen, and an identity
 *   replica SIGKILLed, each during a stream of charts: no chart answered
 *   200 is wrong, an incomplete one says so, and once HAProxy has the
 *   replica out every chart is whole; with identity killed, every chart
 *   answered has exactly its one audit event (appended by the other
 *   replica) and the trail still verifies. Each is then restarted or thawed
 *   and taken back, so the next test has the full stack.
 * - A rolling restart (SIGTERM, started again) of a gateway replica and of a
 *   labs replica during a stream of charts: every chart sent is answered,
 *   whole (each replica serves on, /ready at 503, for its deregistration
 *   delay, SHUTDOWN_DELAY_MS, until HAProxy has it out; then it drains).
 * - Audit under 60 s of load through both gateways and both identity
 *   replicas: the trail verifies as one, with exactly one event per patient
 *   disclosed per request answered: nothing lost, nothing duplicated.
 * - Labs' database drops every connection (pg_terminate_backend, as
 *   resilience.e2e does): both labs replicas recover, the chart is whole
 *   again within a few requests, /ready 200 at both.
 * - Labs' database refuses connections (server-failures.e2e's way): /ready
 *   503 at both labs replicas and HAProxy has both out; both gateways say
 *   labs is not ready yet stay in rotation, and every chart is answered 200
 *   with labs named SUBGRAPH_UNAVAILABLE, no 5xx, for longer than the
 *   gateways' checks take to fail; all back once the database is.
 * - A gateway replica drains on SIGTERM (resilience.e2e's FHIR exports):
 *   exports sent to it just before its deregistration delay ends, held on a
 *   frozen labs while its listener closes, are finished (200 Bundles); it
 *   exits 0 and the other gateway serves the front door.
 * - The fuzzer (test/support/fuzz.ts: GraphQL, FHIR, HL7 v2, OAuth/SMART;
 *   FUZZ_RUNS cases each, 1,000 by default) at the front door: no 5xx, no
 *   stack trace, every answer within its deadline. Last, as its writes may
 *   change a chart.
 *
 * PostgreSQL only (the replicas share their databases). The machine has two
 * cores for ~12 processes: the load is two requests at a time, and nothing
 * is timed; the waits are for HAProxy's own view of its servers.
 */
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusTokens, hostileCorpus, runCorpus } from '../scripts/hostile-corpus.js';
import { deregistrationDelayMs, HEALTH_CHECKS, startReplicas, type Replicas } from '../scripts/replicas.js';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { generateDevKeys } from '../lib/trust/keys.js';
import type { ServiceName } from '../scripts/process-stack.js';
import { openSubgraphDatabase } from '../lib/runtime/subgraph.js';
import { verifyAuditChain } from '../subgraphs/identity/src/audit.js';
import { ACTOR_TOKEN_HEADER } from '../lib/trust/internal-token.js';
import { bundles, chartPatient, COUNTY, PATIENTS } from './support/chart.js';
import { postGraphQL } from './support/harness.js';
import { internalSigners, staffActor } from './support/internal.js';
import { FUZZ_WAYS, fuzz, fuzzTokens } from './support/fuzz.js';

const CHART = `query Chart($id: ID!) { patient(id: $id) {
  name { text } birthDate gender
  encounters(first: 10) { edges { node { class period { start } organization { name } } } }
  observations(first: 20) { edges { node { code { display } valueQuantity { value unit } } } }
  immunizations { edges { node { vaccineCode { code } } } } } }`;
/** Several patients in one request: one audit event each. */
const PATIENTS_READ = 'query($ids: [ID!]!) { patients(ids: $ids) { id name { text } } }';
const countyPatients = bundles.filter((b) => b.patient.identifiers.some((i) => i.assignerOrganizationId === COUNTY)).map((b) => b.patient.id);

/**
 * Generated cases per way in for the fuzzer at the front door. Through HAProxy and twelve processes on two cores a
 * case costs more than on the one-process PGlite stack (test/fuzz.e2e.test.ts, 2,000 per way by default there), and
 * this file runs in CI: 1,000 per way by default, 17 s for the four together on the shared two-core machine (GraphQL
 * 4.6 s, FHIR 5.6, HL7 v2 4.1, OAuth 2.7), room for a machine several times slower within two minutes.
 */
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
/** Ends every connection to a database but the caller's own (a database restart, as the pools see it). */
const TERMINATE = 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()';
/** How often each string occurs: a long run of the same failure printed once, with its count. */
const countBy = (values: string[]) => values.reduce<Record<string, number>>((counts, value) => ({ ...counts, [value]: (counts[value] ?? 0) + 1 }), {});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer { started: number; status: number; requestId: string | null; data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> }

describe.runIf(process.env.TEST_DATABASE_URL)('two replicas of everything behind HAProxy (PostgreSQL, Redis)', () => {
  let replicas: Replicas;
  let clinician: string;
  let baseline: unknown;

  const post = async (query: string, variables: Record<string, unknown>): Promise<Answer> => {
    const started = Date.now();
    try {
      const response = await fetch(replicas.url, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${clinician}` },
        body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(60_000),
      });
      const text = await response.text();
      let body: Omit<Answer, 'started' | 'status' | 'requestId'> = {};
      try { body = JSON.parse(text); } catch { body = { errors: [{ message: text.slice(0, 200) }] }; }
      return { started, status: response.status, requestId: response.headers.get('x-request-id'), ...body };
    } catch (error) {
      return { started, status: 0, requestId: null, errors: [{ message: String(error) }] };
    }
  };
  const chart = () => post(CHART, { id: chartPatient.patient.id });
  const complete = (answer: Answer) => answer.status === 200 && !answer.errors && isDeepStrictEqual(answer.data, baseline);

  /** Two clients sending charts one after another until stopped. */
  const stream = () => {
    const answers: Answer[] = [];
    let running = true;
    const clients = Promise.all([0, 1].map(async () => { while (running) answers.push(await chart()); }));
    return { answers, stop: async () => { running = false; await clients; return answers; } };
  };
  const waitFor = async (service: ServiceName, replica: 1 | 2, state: RegExp) => {
    for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
      if (state.test(await replicas.serverStatus(service, replica))) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`${service}-${replica} never became ${state} in HAProxy's view:\n${replicas.haproxyOutput()}`);
  };
  /** The first `count` answers to requests sent after `since` (ms epoch). */
  const next = async (answers: Answer[], count: number, since = Date.now()) => {
    const sentSince = () => answers.filter((a) => a.started >= since);
    while (sentSince().length < count) await new Promise((resolve) => setTimeout(resolve, 100));
    return sentSince().slice(0, count);
  };
  /** Every chart answered 200 without errors is the right chart; one answered 200 with errors names what is missing (a code each). */
  const expectNoneWrong = (answers: Answer[]) => {
    for (const answer of answers) {
      if (answer.status === 200 && !answer.errors) expect(answer.data).toEqual(baseline);
      if (answer.status === 200 && answer.errors) expect(answer.errors.every((e) => e.extensions?.code), JSON.stringify(answer.errors)).toBe(true);
    }
  };
  const summary = (answers: Answer[]) => `${answers.length} charts, ${answers.filter(complete).length} in full, ${answers.filter((a) => a.status === 200 && a.errors).length} partial (${[...new Set(answers.flatMap((a) => (a.status === 200 && a.errors ? a.errors.map((e) => `${e.extensions?.code} ${(e.extensions as { service?: string } | undefined)?.service ?? ''}`) : [])))].join(', ')}), not 200: ${JSON.stringify(countBy(answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.errors?.[0]?.extensions?.code ?? a.errors?.[0]?.message.slice(0, 80) ?? ''}`)))}`;
  /** Charts sent two at a time, `count` in all, after the caller's fault is in HAProxy's view. */
  const charts = async (count: number) => (await Promise.all([0, 1].map(async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < count / 2; i++) answers.push(await chart());
    return answers;
  }))).flat();

  /**
   * Kills replica `replica` of `service` during a stream of charts and checks what every such test checks: no chart
   * answered wrongly, and every chart sent once HAProxy has it out answered in full. `examine` checks more of the same
   * answers. Whatever happened, the replica is started again and back in rotation: the tests after need it.
   */
  const killDuringStream = async (service: ServiceName, replica: 1 | 2, examine?: (answers: Answer[], after: Answer[]) => Promise<void>) => {
    const load = stream();
    try {
      await next(load.answers, 6);
      replicas.replicas[replica - 1].signal(service, 'SIGKILL');
      await waitFor(service, replica, /DOWN/);
      const after = await next(load.answers, 12);
      const answers = await load.stop();
      expectNoneWrong(answers);
      expect(after.filter((a) => !complete(a))).toEqual([]);
      console.log(`${service}-${replica} killed: ${summary(answers)}`);
      await examine?.(answers, after);
    } finally {
      await load.stop();
      await replicas.replicas[replica - 1].restart(service);
      await waitFor(service, replica, /^UP/);
    }
  };

  beforeAll(async () => {
    expect(chartPatient).toBeDefined();
    replicas = await startReplicas({ patients: PATIENTS, env: { SUBGRAPH_TIMEOUT_MS: '3000', INTERNAL_API_TIMEOUT_MS: '2000' } });
    clinician = await replicas.replicas[0].token({ sub: 'dr-replicas', role: 'clinician', org: COUNTY });
    const first = await chart();
    expect(first.errors).toBeUndefined();
    expect(first.data.patient.observations.edges.length).toBeGreaterThan(0);
    baseline = first.data;
  }, 600_000);
  afterAll(async () => replicas?.close(), 120_000);

  it('runs every service twice behind the balancer, and every subgraph URL a service uses is the balancer\'s', async () => {
    for (const name of ['gateway', 'identity', 'encounters', 'labs', 'imaging', 'public-health'] as ServiceName[]) {
      expect([await replicas.serverStatus(name, 1), await replicas.serverStatus(name, 2)]).toEqual(['UP', 'UP']);
    }
    // Both gateways answer the same chart through the balancer.
    const answers = await Promise.all(Array.from({ length: 6 }, chart));
    expect(answers.every(complete)).toBe(true);
    expect(replicas.haproxyConfig).toMatch(/retry-on conn-failure/);
  }, 120_000);

  it('refuses at the other replica of a subgraph an actor token one replica accepted (the replay guard on Redis)', async () => {
    const query = 'query { __typename }';
    const token = internalSigners(replicas.replicas[0].keys).actorToken('labs', staffActor(COUNTY), query);
    const send = async (url: string) => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [ACTOR_TOKEN_HEADER]: token }, body: JSON.stringify({ query }) });
      return { status: response.status, body: await response.json() as { data?: unknown; errors?: Array<{ extensions: { code: string } }> } };
    };
    const [one, other] = replicas.replicas.map((stack) => stack.services.labs.url);
    expect(await send(one!)).toMatchObject({ status: 200, body: { data: { __typename: 'Query' } } });
    const replayed = await send(other!);
    expect(replayed.status).toBe(401);
    expect(replayed.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    // And through the balancer, whichever replica it picks.
    expect((await send(replicas.balancers.labs)).status).toBe(401);
  }, 60_000);

  it('refuses direct calls at every subgraph replica, and at each subgraph\'s balancer, without a genuine gateway signature for it', async () => {
    const signers = internalSigners(replicas.replicas[0].keys);
    const forged = internalSigners({ ...replicas.replicas[0].keys, internal: { ...replicas.replicas[0].keys.internal, gateway: (await generateDevKeys('forged-')).internal.gateway } });
    const probes = ['{ _service { sdl } }', '{ _entities(representations: [{ __typename: "Patient", id: "00000000-0000-4000-8000-000000000000" }]) { __typename } }', '{ __typename }'];
    const actor = staffActor(COUNTY);
    for (const name of SUBGRAPH_NAMES) {
      const other = SUBGRAPH_NAMES.find((n) => n !== name)!;
      for (const url of [...replicas.replicas.map((stack) => stack.services[name].url), replicas.balancers[name]]) {
        for (const query of probes) {
          const unsigned = await postGraphQL<unknown>(url, {}, { query });
          expect([unsigned.status, unsigned.errors?.[0]?.extensions?.code, unsigned.data], `${url} ${query}`).toEqual([401, 'UNAUTHENTICATED', undefined]);
        }
        const query = probes[0]!;
        // Signed with another key under the gateway's name; genuine, but for another subgraph.
        for (const token of [forged.actorToken(name, actor, query), signers.actorToken(other, actor, query)]) {
          const refused = await postGraphQL<unknown>(url, { [ACTOR_TOKEN_HEADER]: token }, { query });
          expect([refused.status, refused.errors?.[0]?.extensions?.code, refused.data], url).toEqual([401, 'UNAUTHENTICATED', undefined]);
        }
      }
    }
    // Identity's internal APIs at both replicas: unsigned or forged, refused, and the trail is untouched.
    const identity = await openSubgraphDatabase('identity', replicas.replicas[0].databaseUrls.identity);
    try {
      const count = async () => (await identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event'))[0]!.n;
      const before = await count();
      const body = JSON.stringify({ patientIds: [chartPatient.patient.id], requests: [{ requestId: 'direct', actor: { sub: 'x', role: 'clinician', org: COUNTY, clientId: null, purposeOfUse: 'TREAT', breakGlassReason: null }, patients: [{ patientId: chartPatient.patient.id, recordCounts: { labs: 1 }, breakGlass: false }] }] });
      for (const stack of replicas.replicas) {
        for (const path of ['/internal/audit-events', '/internal/consent-facts']) {
          for (const headers of [{}, { [ACTOR_TOKEN_HEADER]: 'forged.token.value' }] as Record<string, string>[]) {
            const response = await fetch(stack.services.identity.url.replace(/\/graphql$/, path), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
            expect(response.status, `${stack.services.identity.url} ${path}`).toBe(401);
            expect(await response.text()).not.toContain(chartPatient.patient.id);
          }
        }
      }
      expect(await count()).toBe(before);
    } finally {
      await identity.close();
    }
  }, 120_000);

  it('answers the hostile corpus (2,400 requests) at the balancer\'s front door with no 5xx, no stack trace and a request id each, through both gateways', async () => {
    const tokens = await corpusTokens(replicas.replicas[0].token, COUNTY, chartPatient.patient.id);
    const corpus = hostileCorpus(2400, 20261129, { tokens, patientId: chartPatient.patient.id });
    const logLines = () => replicas.replicas.map((stack) => stack.services.gateway.output().split('\n').length);
    const linesBefore = logLines();
    const run = await runCorpus(replicas.url.replace(/\/graphql$/, ''), corpus, 6);
    console.log(`hostile corpus through HAProxy: ${run.requests} requests, statuses ${JSON.stringify(run.byStatus)}, p50 ${run.p50.toFixed(0)} ms, p99 ${run.p99.toFixed(0)} ms`);
    expect(run.serverErrors).toEqual([]);
    expect(run.leaks).toEqual([]);
    expect(run.missingRequestId).toBe(0);
    // The balancer spread the corpus over both gateways (each logs the requests it answers).
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && !logLines().every((n, i) => n > linesBefore[i]! + 100);) await new Promise((resolve) => setTimeout(resolve, 250));
    expect(logLines().map((n, i) => n - linesBefore[i]! > 100)).toEqual([true, true]);
    // Still serving, correctly.
    expect(complete(await chart())).toBe(true);
  }, 600_000);

  it('a labs replica killed during a stream of charts: no chart answered wrongly, and all answered in full once it is out', async () => {
    await killDuringStream('labs', 2);
  }, 300_000);

  it('a frozen encounters replica is routed around once its health check fails, and taken back after SIGCONT', async () => {
    const load = stream();
    await next(load.answers, 6);
    replicas.replicas[0].signal('encounters', 'SIGSTOP');
    try {
      await waitFor('encounters', 1, /DOWN/);
      // Requests already sent to it wait for the gateway's deadline; those sent from here on are whole.
      const after = await next(load.answers, 12);
      expect(after.filter((a) => !complete(a))).toEqual([]);
    } finally {
      replicas.replicas[0].signal('encounters', 'SIGCONT');
    }
    await waitFor('encounters', 1, /^UP/);
    const answers = await load.stop();
    for (const answer of answers) if (answer.status === 200 && !answer.errors) expect(answer.data).toEqual(baseline);
    console.log(`encounters-1 frozen: ${answers.length} charts, ${answers.filter(complete).length} in full, ${answers.filter((a) => !complete(a)).length} not`);
    // Back in rotation and answering.
    expect((await Promise.all(Array.from({ length: 4 }, chart))).every(complete)).toBe(true);
  }, 300_000);

  it('a gateway replica killed during a stream of charts: no chart answered wrongly, and all answered in full once it is out', async () => {
    // A chart in flight at the killed gateway gets no answer (HAProxy closes the connection or answers 502), never a 200.
    await killDuringStream('gateway', 2);
  }, 300_000);

  it('a frozen gateway replica is routed around once its health check fails, and taken back after SIGCONT', async () => {
    const load = stream();
    try {
      await next(load.answers, 6);
      replicas.replicas[0].signal('gateway', 'SIGSTOP');
      await waitFor('gateway', 1, /DOWN/);
      // A stream client may be waiting on the frozen gateway; fresh charts from here on go to the other and are whole.
      const after = await charts(12);
      expect(after.filter((a) => !complete(a)).map((a) => ({ status: a.status, errors: a.errors }))).toEqual([]);
    } finally {
      replicas.replicas[0].signal('gateway', 'SIGCONT');
      await load.stop();
    }
    await waitFor('gateway', 1, /^UP/);
    const answers = load.answers;
    expectNoneWrong(answers);
    console.log(`gateway-1 frozen: ${summary(answers)}`);
    expect((await charts(4)).every(complete)).toBe(true);
  }, 300_000);

  it('an identity replica killed during a stream of charts: audit appends and consent go to the other, every chart answered has its one audit event, and the trail verifies', async () => {
    const identity = await openSubgraphDatabase('identity', replicas.replicas[0].databaseUrls.identity);
    try {
      // Consent decided and the patient served by the other identity replica: every chart after the kill whole.
      await killDuringStream('identity', 1, async (answers, after) => {
        // No disclosure without its event: a chart answered with the patient has exactly one; none has more
        // (a 503 AUDIT_UNAVAILABLE from an append cut off by the kill withholds the data).
        const requestIds = answers.flatMap((a) => (a.requestId ? [a.requestId] : []));
        const rows = await identity.query<{ request_id: string; n: number }>('SELECT request_id, count(*)::int AS n FROM audit_event WHERE request_id = ANY($1::text[]) GROUP BY request_id', [requestIds]);
        const events = new Map(rows.map((r) => [r.request_id, r.n]));
        for (const answer of answers) {
          if (answer.status === 200 && answer.data?.patient) expect(events.get(answer.requestId!), JSON.stringify(answer.errors)).toBe(1);
          else expect(events.get(answer.requestId ?? '') ?? 0).toBeLessThanOrEqual(1);
        }
        for (const answer of after) expect(events.get(answer.requestId!)).toBe(1);
        const report = await verifyAuditChain(identity);
        expect(report.firstBroken).toBeNull();
      });
    } finally {
      await identity.close();
    }
    expect((await charts(4)).every(complete)).toBe(true);
  }, 300_000);

  it('a rolling restart (SIGTERM, then started again) of a gateway replica and of a labs replica during a stream of charts: every chart sent is answered, whole', async () => {
    const load = stream();
    const afterEach: Answer[] = [];
    try {
      await next(load.answers, 6);
      for (const [service, replica] of [['gateway', 2], ['labs', 1]] as const) {
        const stack = replicas.replicas[replica - 1];
        // The replica answers /ready 503 and serves on until HAProxy has it out (SHUTDOWN_DELAY_MS), then closes its listener and finishes its own.
        stack.signal(service, 'SIGTERM');
        await waitFor(service, replica, /^(DOWN|NOLB|MAINT)/);
        expect(await stack.exited(service, 60_000)).toBe(0);
        await stack.restart(service);
        await waitFor(service, replica, /^UP/);
        afterEach.push(...await next(load.answers, 4));
      }
    } finally {
      await load.stop();
    }
    console.log(`rolling restart of gateway-2 and labs-1: ${summary(load.answers)}`);
    // Every chart sent is answered, whole: no connection reaches a replica as its listener closes (HAProxy has it out by
    // then), and what it has in flight is finished. Before the deregistration delay, rarely one got no answer (status 0).
    expect(load.answers.filter((a) => !complete(a)).map((a) => ({ status: a.status, errors: a.errors }))).toEqual([]);
    expect(load.answers.length).toBeGreaterThan(20);
    expect(afterEach.filter((a) => !complete(a))).toEqual([]);
  }, 300_000);

  it('audit events written through both gateways and both identity replicas under 60 s of load verify as one trail, none lost or duplicated', async () => {
    const identity = await openSubgraphDatabase('identity', replicas.replicas[0].databaseUrls.identity);
    try {
      const [before] = await identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event');
      // Each identity replica logs every internal call it answers, by path.
      const appendsLogged = () => replicas.replicas.map((stack) => stack.services.identity.output().split('\n').filter((line) => line.includes('"/internal/audit-events"')).length);
      const appendsBefore = appendsLogged();
      const ids = countyPatients.slice(0, 3);
      expect(ids).toHaveLength(3);
      const sent: Array<{ answer: Answer; patients: number }> = [];
      const until = Date.now() + 60_000; // the issue's figure
      await Promise.all([0, 1].map(async (client) => {
        for (let i = 0; Date.now() < until; i++) {
          // Alternately a chart (one patient disclosed) and three patients at once.
          const many = (client + i) % 2 === 1;
          sent.push({ answer: await (many ? post(PATIENTS_READ, { ids }) : chart()), patients: many ? 3 : 1 });
        }
      }));
      const failed = sent.filter(({ answer }) => answer.status !== 200 || answer.errors);
      expect(failed.map(({ answer }) => ({ status: answer.status, errors: answer.errors }))).toEqual([]);
      const requestIds = sent.map(({ answer }) => answer.requestId!);
      expect(new Set(requestIds).size).toBe(sent.length);
      const rows = await identity.query<{ request_id: string; n: number; patients: number }>(
        'SELECT request_id, count(*)::int AS n, count(DISTINCT patient_id)::int AS patients FROM audit_event WHERE request_id = ANY($1::text[]) GROUP BY request_id', [requestIds]);
      const byRequest = new Map(rows.map((r) => [r.request_id, r]));
      // Exactly one event per patient disclosed per request: none lost, none duplicated.
      for (const { answer, patients } of sent) expect(byRequest.get(answer.requestId!)).toMatchObject({ n: patients, patients });
      const [after] = await identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event');
      expect(after!.n - before!.n).toBe(sent.reduce((sum, s) => sum + s.patients, 0));
      const report = await verifyAuditChain(identity);
      expect(report.firstBroken).toBeNull();
      // Both identity replicas appended (log lines leave a service's buffer within 250 ms: lib/runtime/logger.ts).
      for (const deadline = Date.now() + 10_000; Date.now() < deadline && !appendsLogged().every((n, i) => n > appendsBefore[i]!);) await new Promise((resolve) => setTimeout(resolve, 250));
      const appends = appendsLogged().map((n, i) => n - appendsBefore[i]!);
      expect(appends.every((n) => n > 0)).toBe(true);
      console.log(`audit under load: ${sent.length} requests, ${after!.n - before!.n} events (appends: ${appends.join(' and ')} calls at the two identity replicas), trail of ${report.events} events in ${Object.keys(report.chains ?? {}).length} chains verified`);
    } finally {
      await identity.close();
    }
  }, 300_000);

  /** `/ready` at a service's URL (…/graphql): its status and what it says. */
  const readiness = async (url: string) => {
    const response = await fetch(url.replace(/\/graphql$/, '/ready'), { signal: AbortSignal.timeout(15_000) });
    return { status: response.status, body: await response.json() as { status: string; ready?: boolean; subgraphs?: Record<string, string> } };
  };
  /** Each labs replica's own URL, not the balancer's. */
  const labsReplicas = () => replicas.replicas.map((stack) => stack.services.labs.url);
  const labsDatabase = () => new URL(replicas.replicas[0].databaseUrls.labs).pathname.slice(1);
  const withAdmin = async <T>(use: (admin: pg.Client) => Promise<T>): Promise<T> => {
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    try {
      return await use(admin);
    } finally {
      await admin.end();
    }
  };

  it('labs\' database drops every connection (a database restart): both labs replicas recover, charts are whole again within a few requests, /ready 200 at both', async () => {
    const terminated = await withAdmin(async (admin) => (await admin.query(TERMINATE, [labsDatabase()])).rowCount);
    expect(terminated).toBeGreaterThan(0);
    // Each replica's pool replaces the connections it lost: a chart or two may meet a cut one (labs named in its
    // errors), none is wrong, and then four in a row, through either replica, are whole.
    const answers: Answer[] = [];
    let wholeInARow = 0;
    for (let attempt = 0; attempt < 12 && wholeInARow < 4; attempt++) {
      const answer = await chart();
      answers.push(answer);
      wholeInARow = complete(answer) ? wholeInARow + 1 : 0;
    }
    console.log(`labs' connections terminated (${terminated}): ${summary(answers)}`);
    expect(answers.map((a) => a.status).filter((status) => status !== 200)).toEqual([]);
    expectNoneWrong(answers);
    expect(wholeInARow).toBe(4);
    expect((await Promise.all(labsReplicas().map(readiness))).map((r) => r.status)).toEqual([200, 200]);
    await waitFor('labs', 1, /^UP$/);
    await waitFor('labs', 2, /^UP$/);
  }, 120_000);

  it('while labs\' database refuses connections: /ready 503 at both labs replicas, HAProxy has both out, every chart is answered 200 naming labs unavailable; all back once it is', async () => {
    const database = labsDatabase();
    await withAdmin(async (admin) => {
      try {
        // The database goes away (server-failures.e2e's way): no new connections, and those the pools hold are cut.
        await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
        expect((await admin.query(TERMINATE, [database])).rowCount).toBeGreaterThan(0);
        for (const url of labsReplicas()) expect(await readiness(url), url).toMatchObject({ status: 503, body: { status: 'unavailable', ready: false } });
        // Liveness is not readiness: both processes still run.
        for (const url of labsReplicas()) expect((await fetch(url.replace(/\/graphql$/, '/health'))).status, url).toBe(200);
        await waitFor('labs', 1, /DOWN/);
        await waitFor('labs', 2, /DOWN/);
        // Charts for longer than the gateways' health checks need to take a gateway out (three failures): the front
        // door must keep answering, the rest of the chart with labs named as what is missing, never a 5xx.
        const check = HEALTH_CHECKS.gateway;
        const answers: Answer[] = [];
        for (const until = Date.now() + check.inter + check.fall * (check.fastinter + 1000) + 2000; Date.now() < until;) answers.push(await chart());
        console.log(`labs' database refusing connections: ${summary(answers)}; HAProxy: gateway-1 ${await replicas.serverStatus('gateway', 1)}, gateway-2 ${await replicas.serverStatus('gateway', 2)}`);
        expect(answers.filter((a) => a.status !== 200).map((a) => ({ status: a.status, errors: a.errors }))).toEqual([]);
        // Each gateway says labs is not ready, yet HAProxy keeps both: they see labs through the same balancer, and
        // taking them out would not bring it back (scripts/replicas.ts, haproxyConfig).
        for (const stack of replicas.replicas) {
          expect(await readiness(stack.services.gateway.url)).toMatchObject({ status: 503, body: { subgraphs: { identity: 'ready', encounters: 'ready', labs: 'status 503', imaging: 'ready', 'public-health': 'ready' } } });
        }
        expect([await replicas.serverStatus('gateway', 1), await replicas.serverStatus('gateway', 2)]).toEqual(['UP', 'UP']);
        for (const answer of answers) {
          expect(answer.data.patient.encounters.edges.length, JSON.stringify(answer.errors)).toBeGreaterThan(0);
          expect(answer.data.patient.observations).toBeNull();
          expect(answer.errors?.map((e) => [e.extensions?.code, (e.extensions as { service?: string } | undefined)?.service])).toContainEqual(['SUBGRAPH_UNAVAILABLE', 'labs']);
        }
      } finally {
        await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      }
    });
    // Back: each replica's pool opens new connections, its checks pass, and HAProxy takes it back.
    await waitFor('labs', 1, /^UP$/);
    await waitFor('labs', 2, /^UP$/);
    expect((await Promise.all(labsReplicas().map(readiness))).map((r) => r.status)).toEqual([200, 200]);
    expect((await Promise.all(replicas.replicas.map((stack) => readiness(stack.services.gateway.url)))).map((r) => r.status)).toEqual([200, 200]);
    expect((await charts(4)).every(complete)).toBe(true);
  }, 180_000);

  it('drains on SIGTERM at one gateway replica of two: FHIR exports in flight when its listener closes are finished, the other serves on, and it exits 0', async () => {
    const stack = replicas.replicas[0];
    const gateway = stack.services.gateway;
    const exportUrl = `${gateway.url.replace(/\/graphql$/, '')}/fhir/Patient/${chartPatient.patient.id}/$everything`;
    /** Whether the gateway replica accepts a new connection (a fresh socket: no kept-alive one from an earlier request). */
    const accepting = () => new Promise<boolean>((resolve) => {
      const socket = connect(gateway.port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    const signalled = Date.now();
    stack.signal('gateway', 'SIGTERM');
    // It serves on, /ready 503, for its deregistration delay. Shortly before that ends, both labs replicas are frozen
    // and the exports sent to this replica's own port: they wait on labs while its listener closes. Frozen for as
    // little as that takes (about 0.7 s), at most two seconds: within the deadlines of the calls that wait on labs (the
    // gateway's per subgraph call, 3 s here; other subgraphs' internal calls to labs, 2 s; with a frozen labs for
    // 1.2 s on a machine at load 9, public-health's once did not answer in time), and before HAProxy's checks of labs
    // fail twice (2.5 s at the earliest).
    await sleep(signalled + deregistrationDelayMs('gateway') - 600 - Date.now());
    expect(await accepting()).toBe(true);
    const frozen = Date.now();
    for (const replica of replicas.replicas) replica.signal('labs', 'SIGSTOP');
    let closedInFlight = false;
    let exports: Promise<Array<{ status: number; body: { resourceType?: string; issue?: Array<{ diagnostics?: string }> } }>>;
    try {
      // Each on a connection of its own (agent: false): fetch could reuse one kept alive from an earlier request to
      // this replica, which its server may close as idle at the moment the export is written to it (a reset that is
      // the keep-alive race, not the drain).
      exports = Promise.all(Array.from({ length: 4 }, () => new Promise<{ status: number; body: { resourceType?: string; issue?: Array<{ diagnostics?: string }> } }>((resolve, reject) => {
        const request = httpGet(exportUrl, { agent: false, headers: { authorization: `Bearer ${clinician}` }, timeout: 60_000 }, (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; }).on('error', reject)
            .on('end', () => { try { resolve({ status: response.statusCode!, body: JSON.parse(text) }); } catch (error) { reject(error); } });
        });
        request.on('error', reject).on('timeout', () => request.destroy(new Error('no answer within 60 s')));
      })));
      exports.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      while (Date.now() - frozen < 2000 && !closedInFlight) {
        closedInFlight = !(await accepting());
        if (!closedInFlight) await sleep(50);
      }
    } finally {
      for (const replica of replicas.replicas) replica.signal('labs', 'SIGCONT');
    }
    console.log(`gateway-1 draining: labs frozen ${Date.now() - frozen} ms from ${frozen - signalled} ms after SIGTERM; listener ${closedInFlight ? 'closed' : 'still open'} by then`);
    expect(closedInFlight, `the listener still accepted ${Date.now() - signalled} ms after SIGTERM`).toBe(true);
    const answers = await exports!.catch((error: Error) => {
      throw new Error(`${error.message}\n${gateway.output().split('\n').slice(-15).join('\n')}`);
    });
    // Each export in flight is answered whole: its Bundle, or, when a call waiting on the frozen labs met its deadline
    // first on a loaded machine (seen once in about 12 runs), a 503 OperationOutcome that says so. What the drain must
    // never do is cut one off (a reset or a truncated body rejects above).
    const whole = answers.map((a) => (a.status === 200 && a.body.resourceType === 'Bundle') || (a.status === 503 && a.body.resourceType === 'OperationOutcome'));
    expect(whole, `${JSON.stringify(answers.map((a) => [a.status, a.body.resourceType, a.body.issue]))}\n${gateway.output().split('\n').filter((line) => /"level":"(warn|error)"|"status":5/.test(line)).slice(-10).join('\n')}`)
      .toEqual(Array(4).fill(true));
    console.log(`gateway-1 draining: exports answered ${JSON.stringify(answers.map((a) => a.status))}`);
    expect(await stack.exited('gateway', 60_000)).toBe(0);
    // Out of HAProxy's rotation by now; the front door is the other gateway.
    expect(await replicas.serverStatus('gateway', 1)).toMatch(/^(DOWN|NOLB|MAINT)/);
    expect((await charts(4)).every(complete)).toBe(true);
    await stack.restart('gateway');
    await waitFor('gateway', 1, /^UP$/);
  }, 180_000);

  // Last: the FHIR and HL7 v2 ways write (as the system client), which may change what a chart holds.
  for (const way of FUZZ_WAYS) {
    it(`fuzzes at the front door (${FUZZ_RUNS} cases): ${way.name}`, async () => {
      const organizationId = COUNTY;
      const seeds = { patientId: chartPatient.patient.id, organizationId };
      const tokens = await fuzzTokens(replicas.replicas[0].token, organizationId, seeds.patientId);
      const started = Date.now();
      await fuzz(replicas.url.replace(/\/graphql$/, ''), way.requests(seeds, tokens), FUZZ_RUNS);
      console.log(`fuzz through HAProxy, ${way.name.split(':')[0]}: ${FUZZ_RUNS} cases in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }, 600_000);
  }
});
