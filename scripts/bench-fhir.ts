/**
 * `npm run bench:fhir -- [options]`: FHIR search next to the equivalent
 * GraphQL query — same caller, same patients, same records, same fields.
 *
 * Runs the gateway and the five subgraphs as separate processes (as
 * scripts/bench.ts does, scripts/process-stack.ts), and alternates rounds of
 *
 *   fhir     GET /fhir/Observation?patient=<id>&category=laboratory&_count=50
 *   graphql  POST /graphql: patient(id) { observations(first: 50) { … } } with the
 *            fields the FHIR search asks the subgraphs for (the resource module's selection)
 *
 * closed loop (--connections clients, each sending the next request when the
 * last answered), patients in turn, and prints per round requests per second
 * and latency percentiles, then the medians. The difference is what the FHIR
 * layer costs: parsing, the cursor, mapping to FHIR resources and JSON.
 *
 *   --large                 the PostgreSQL set of `npm run seed:large` (fpr_<subgraph> databases); default: PGlite, 200 patients
 *   --in-process            the six services in this one process (as the tests run them) instead of six processes:
 *                           starts where a loaded machine keeps the processes from getting ready in time
 *   --patients 200          PGlite: how many generated patients
 *   --connections 8 --seconds 10 --rounds 3 --warmup 5
 *   --org org-county-north  the clinician's organisation (patients registered there)
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { DEFAULT_SEED, generatePatient, TEST_ANCHOR } from '../lib/synthetic/generator.js';
import { exportSelections } from '../gateway/src/fhir/resources/index.js';
import { mintDevToken } from '../lib/trust/dev-token.js';
import { generateDevKeys } from '../lib/trust/keys.js';
import { startProcessStack, type ProcessStack } from './process-stack.js';
import { startStack } from './stack.js';
import { largeSetUrls } from './large-set.js';

const { values } = parseArgs({
  options: {
    large: { type: 'boolean', default: false },
    patients: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '5' },
    org: { type: 'string', default: 'org-county-north' },
    'in-process': { type: 'boolean', default: false },
  },
});

/** What the benchmark needs of a running product: its /graphql URL, tokens, the identity database for --large. */
interface Target { url: string; token: ProcessStack['token']; databaseUrls: Record<SubgraphName, string>; close(): Promise<void> }

async function start(databaseUrls: Record<SubgraphName, string> | undefined): Promise<Target> {
  if (!values['in-process']) return startProcessStack({ patients: values.large ? undefined : Number(values.patients), databaseUrls, env: { LOG_LEVEL: 'warn' } });
  // The services log every request at info; in this process that would be the benchmark's own output.
  process.env.LOG_LEVEL ??= 'warn';
  const keys = await generateDevKeys('bench-');
  const urls = databaseUrls ?? (Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, 'memory://'])) as Record<SubgraphName, string>);
  const stack = await startStack({ databaseUrls: urls, keys, seedPatients: databaseUrls ? 0 : Number(values.patients), seed: DEFAULT_SEED, anchor: TEST_ANCHOR, production: true, corsAllowedOrigins: [], ingestRecoveryIntervalMs: 0 });
  return { url: stack.gateway.url, token: (claims) => mintDevToken(keys.issuerPrivate, claims), databaseUrls: urls, close: () => stack.close() };
}

const PAGE = 50;
const OBSERVATION_FIELDS = exportSelections({ patient: false, connections: ['observations'], radiologyReports: false, reportLinks: false, registry: false }).observations!;
const GRAPHQL_QUERY = `query LabResults($id: ID!) { patient(id: $id) { id observations(first: ${PAGE}) { edges { cursor node { ${OBSERVATION_FIELDS} } } pageInfo { hasNextPage endCursor } } } }`;

type Mode = 'fhir' | 'graphql';
interface Round { mode: Mode; rps: number; p50: number; p95: number; p99: number; requests: number; errors: number }

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function patientsOf(stack: Target): Promise<string[]> {
  if (!values.large) {
    return Array.from({ length: Number(values.patients) }, (_, i) => generatePatient(DEFAULT_SEED, i, TEST_ANCHOR))
      .filter((b) => b.patient.identifiers.some((i) => i.assignerOrganizationId === values.org)).map((b) => b.patient.id);
  }
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: stack.databaseUrls.identity });
  await client.connect();
  const { rows } = await client.query<{ patient_id: string }>('SELECT patient_id FROM patient_identifier WHERE assigner_organization_id = $1 ORDER BY patient_id LIMIT 5000', [values.org]);
  await client.end();
  return rows.map((r) => r.patient_id);
}

async function run(stack: Target, mode: Mode, patients: string[], seconds: number): Promise<Round> {
  const token = await stack.token({ sub: 'bench-clinician', role: 'clinician', org: values.org });
  const base = stack.url.replace(/\/graphql$/, '');
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const deadline = Date.now() + seconds * 1000;
  const one = async () => {
    const id = patients[next++ % patients.length]!;
    const started = performance.now();
    const response = mode === 'fhir'
      ? await fetch(`${base}/fhir/Observation?patient=${id}&category=laboratory&_count=${PAGE}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } })
      : await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: GRAPHQL_QUERY, variables: { id } }) });
    const body = await response.text();
    latencies.push(performance.now() - started);
    if (response.status !== 200 || (mode === 'graphql' && body.includes('"errors"'))) errors++;
  };
  const client = async () => {
    while (Date.now() < deadline) await one();
  };
  const begun = Date.now();
  await Promise.all(Array.from({ length: Number(values.connections) }, client));
  const elapsed = (Date.now() - begun) / 1000;
  latencies.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return { mode, rps: round(latencies.length / elapsed), p50: round(percentile(latencies, 50)), p95: round(percentile(latencies, 95)), p99: round(percentile(latencies, 99)), requests: latencies.length, errors };
}

console.log(`FHIR search vs GraphQL: ${values.large ? 'PostgreSQL large set' : `PGlite, ${values.patients} patients`}, ${values['in-process'] ? 'one process' : 'six processes'}, clinician at ${values.org}, `
  + `${values.connections} connections, ${values.seconds} s x ${values.rounds} rounds per mode, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown CPU'})`);
const largeUrls = values.large ? largeSetUrls() : undefined;
const stack = await start(largeUrls);
try {
  const patients = await patientsOf(stack);
  if (!patients.length) throw new Error(`no patient registered at ${values.org}`);
  // Warm up both paths (JIT, caches, connection pools).
  await run(stack, 'fhir', patients, Number(values.warmup));
  await run(stack, 'graphql', patients, Number(values.warmup));
  const rounds: Round[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const mode of ['fhir', 'graphql'] as Mode[]) {
      const result = await run(stack, mode, patients, Number(values.seconds));
      rounds.push(result);
      console.log(`round ${r + 1} ${mode.padEnd(7)}: ${result.rps} req/s, p50 ${result.p50} ms, p95 ${result.p95} ms, p99 ${result.p99} ms (${result.requests} requests, ${result.errors} errors)`);
    }
  }
  for (const mode of ['fhir', 'graphql'] as Mode[]) {
    const of = rounds.filter((r) => r.mode === mode);
    console.log(`median ${mode.padEnd(7)}: ${median(of.map((r) => r.rps))} req/s, p50 ${median(of.map((r) => r.p50))} ms, p99 ${median(of.map((r) => r.p99))} ms, errors ${of.reduce((n, r) => n + r.errors, 0)}`);
  }
} finally {
  await stack.close();
}
