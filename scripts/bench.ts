/**
 * `npm run bench -- [--large] [--seconds 15] [--concurrency 8] [--query chart|timeline]`
 *
 * Measures the cost of consent: the same longitudinal query (a clinician
 * opening a patient registered at their hospital: demographics, 20
 * encounters with diagnoses, 50 lab results, 10 imaging studies with reports,
 * immunisations, home measurements) against the whole stack with consent
 * rules on, then off, side by side. Prints requests per second, latency
 * percentiles and memory.
 *
 * Default: embedded PGlite with 500 demo patients. `--large`: the PostgreSQL
 * databases filled by `npm run seed:large` (fpr_<subgraph>). The load comes
 * from this process (fetch over loopback), the same for both runs.
 *
 * `--query timeline`: a page of 50 timeline entries with their nodes instead
 * (identity merging the keys of four owners, nodes resolved from each).
 */
import { parseArgs } from 'node:util';
import { mintDevToken } from '../lib/dev-token.js';
import { generateDevKeys } from '../lib/keys.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/services.js';
import { DEFAULT_SEED, todayAnchor } from '../lib/synthetic/generator.js';
import { startStack } from './stack.js';

const { values } = parseArgs({
  options: {
    large: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '15' },
    concurrency: { type: 'string', default: '8' },
    org: { type: 'string', default: 'org-county-north' },
    query: { type: 'string', default: 'chart' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const server = process.env.SEED_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const postgresUrl = (name: SubgraphName) => {
  const url = new URL(server);
  url.pathname = `/fpr_${name.replace('-', '_')}`;
  return url.toString();
};

const QUERY = `query Chart($id: ID!) { patient(id: $id) {
  id name { text } birthDate gender identifiers { system value }
  encounters(first: 20) { edges { node { id class period { start end } organization { id } reason { code display } diagnoses { code { code display } } } } }
  observations(first: 50) { edges { node { id code { code display } valueQuantity { value unit } interpretation { code } effectiveDateTime } } }
  imagingStudies(first: 10) { edges { node { id studyInstanceUid modality { code } report { impression } } } }
  immunizations(first: 20) { edges { node { id vaccineCode { code } occurrenceDateTime } } }
  homeMeasurements(first: 20) { edges { node { id kind systolic diastolic value } } }
} }`;

const TIMELINE_QUERY = `query Timeline($id: ID!) { patient(id: $id) { id timeline(first: 50) {
  edges { cursor kind occurredAt node { __typename
    ... on Encounter { class period { start } organization { id } reason { code display } }
    ... on Condition { code { code display } }
    ... on Observation { code { code display } valueQuantity { value unit } }
    ... on DiagnosticReport { code { code display } }
    ... on ImagingStudy { modality { code } }
    ... on Immunization { vaccineCode { code } }
    ... on HomeMeasurement { kind systolic diastolic value } } }
  pageInfo { hasNextPage endCursor } } } }`;
const QUERIES: Record<string, string> = { chart: QUERY, timeline: TIMELINE_QUERY };
if (!QUERIES[values.query]) throw new Error(`--query must be one of ${Object.keys(QUERIES).join(', ')}`);

interface Result {
  label: string;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  rssMb: number;
}

async function run(enforceConsent: boolean, keys: Awaited<ReturnType<typeof generateDevKeys>>): Promise<Result> {
  const databaseUrls = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, values.large ? postgresUrl(name) : 'memory://'])) as Record<SubgraphName, string>;
  const stack = await startStack({ databaseUrls, keys, seedPatients: values.large ? 0 : 500, seed: DEFAULT_SEED, anchor: todayAnchor(), production: false, enforceConsent });
  try {
    const patients = (await stack.databases.identity.query<{ patient_id: string }>(
      `SELECT patient_id FROM patient_identifier WHERE assigner_organization_id = $1 ORDER BY patient_id LIMIT 2000`, [values.org],
    )).map((r) => r.patient_id);
    const token = await mintDevToken(keys.issuerPrivate, { sub: 'bench-clinician', role: 'clinician', org: values.org });
    const send = (id: string) => fetch(stack.gateway.url, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: QUERIES[values.query], variables: { id } }),
    }).then(async (response) => {
      const body = (await response.json()) as { errors?: unknown[]; data?: { patient: unknown } };
      return response.ok && !body.errors && body.data?.patient;
    });
    for (let i = 0; i < 20; i++) await send(patients[i % patients.length]!); // warm-up
    const latencies: number[] = [];
    let errors = 0;
    let next = 0;
    const deadline = Date.now() + seconds * 1000;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const id = patients[next++ % patients.length]!;
        const started = performance.now();
        const ok = await send(id);
        latencies.push(performance.now() - started);
        if (!ok) errors++;
      }
    }));
    latencies.sort((a, b) => a - b);
    const pick = (q: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1));
    return {
      label: enforceConsent ? 'consent rules on' : 'consent rules off',
      requests: latencies.length, errors, rps: Number((latencies.length / seconds).toFixed(1)),
      p50: pick(0.5), p95: pick(0.95), p99: pick(0.99), rssMb: Math.round(process.memoryUsage().rss / 1e6),
    };
  } finally {
    await stack.close();
  }
}

const keys = await generateDevKeys('bench-');
console.log(`${values.query === 'timeline' ? 'Timeline page (50 entries with nodes)' : 'Longitudinal chart query'}, ${concurrency} concurrent clients, ${seconds} s per run, ${values.large ? 'PostgreSQL large set' : 'PGlite, 500 patients'}, clinician at ${values.org}`);
const on = await run(true, keys);
const off = await run(false, keys);
console.table([on, off]);
console.log(`Consent costs ${(100 * (1 - on.rps / off.rps)).toFixed(0)}% of throughput (${on.rps} vs ${off.rps} req/s); p50 ${on.p50} ms vs ${off.p50} ms.`);
process.exit(0);
