/**
 * `npm run bench:ingest -- [--patients 1000] [--concurrency 8] [--database-url postgres://…] [--keep]`
 *
 * Measures publishing: generated patients (lib/synthetic/generator.ts), each
 * turned into one FHIR transaction Bundle per institution that produced
 * their records (lib/synthetic/fhir-bundles.ts: the Patient with the health card
 * and the institution's MRN, its encounters, diagnoses, referrals, lab
 * reports and results, imaging studies and reports, immunisations and
 * programme enrolments, conditional creates on the institution's record
 * ids), POSTed to the gateway's /fhir by each institution's system token,
 * into fresh PostgreSQL databases (`fpr_ingest_<subgraph>` on the server of
 * --database-url, default SEED_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/postgres;
 * dropped afterwards unless --keep).
 *
 * `--history [--bundle-mb 3]`: instead, each patient is a hospital's whole
 * record as one transaction of about --bundle-mb MB
 * (lib/synthetic/hospital-record.ts: years of visits, labs, imaging; about
 * 1,000 entries per MB), published by the three hospitals in turn — the
 * size an integrator migrating a hospital sends (issue 27, docs/records.md).
 *
 * Prints resources per second, Bundles per second, p50/p95/p99 latency per
 * Bundle, failures (by status), the peak memory of the process (resident and
 * V8 heap, sampled every 20 ms: the gateway and the five subgraphs run in
 * this one process, so it is their sum), and checks the rows the owners
 * hold. The services log warnings only (LOG_LEVEL=warn) unless LOG_LEVEL is set.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { mintDevToken } from '../lib/trust/dev-token.js';
import { institutionBundles } from '../lib/synthetic/fhir-bundles.js';
import { generateDevKeys } from '../lib/trust/keys.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { DEFAULT_SEED, generatePatients, todayAnchor } from '../lib/synthetic/generator.js';
import { hospitalRecord } from '../lib/synthetic/hospital-record.js';
import { startStack } from './stack.js';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    'database-url': { type: 'string' },
    keep: { type: 'boolean', default: false },
    history: { type: 'boolean', default: false },
    'bundle-mb': { type: 'string', default: '3' },
  },
});
// One log line per request in every service would drown the figures (and measure the terminal): warnings only, unless LOG_LEVEL says otherwise.
process.env.LOG_LEVEL ??= 'warn';
const patients = Number(values.patients);
const concurrency = Number(values.concurrency);
const server = values['database-url'] ?? process.env.SEED_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const databaseName = (name: SubgraphName) => `fpr_ingest_${name.replace('-', '_')}`;
const databaseUrl = (name: SubgraphName) => {
  const url = new URL(server);
  url.pathname = `/${databaseName(name)}`;
  return url.toString();
};

async function recreateDatabases(drop: boolean): Promise<void> {
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  for (const name of SUBGRAPH_NAMES) {
    await admin.query(`DROP DATABASE IF EXISTS ${databaseName(name)} WITH (FORCE)`);
    if (!drop) await admin.query(`CREATE DATABASE ${databaseName(name)}`);
  }
  await admin.end();
}

await recreateDatabases(false);
const keys = await generateDevKeys('bench-ingest-');
const databaseUrls = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, databaseUrl(name)])) as Record<SubgraphName, string>;
const anchor = todayAnchor();
const stack = await startStack({ databaseUrls, keys, seedPatients: 0, seed: DEFAULT_SEED, anchor, production: true });
const endpoint = stack.gateway.url.replace(/\/graphql$/, '/fhir');

const tokens = new Map<string, string>();
const tokenFor = async (org: string) => {
  if (!tokens.has(org)) {
    tokens.set(org, await mintDevToken(keys.issuerPrivate, { sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope: 'system/*.cu' }, { expiresIn: '2h' }));
  }
  return tokens.get(org)!;
};

// Bundles in patient order; an institution's Bundles for one patient go in sequence (the first registers them).
const work: { organizationId: string; bundle: unknown; resources: number }[][] = [];
const HOSPITALS = ['org-county-north', 'org-county-south', 'org-provincial'];
if (values.history) {
  const targetBytes = Number(values['bundle-mb']) * 1_000_000;
  for (let index = 0; index < patients; index++) {
    const organizationId = HOSPITALS[index % HOSPITALS.length]!;
    const record = hospitalRecord(DEFAULT_SEED, index, { organizationId, registrySeed: DEFAULT_SEED, targetBytes, run: `b${Date.now()}` });
    work.push([{ organizationId, bundle: record.bundle, resources: record.resources }]);
  }
} else {
  for (const patient of generatePatients(DEFAULT_SEED, 0, patients, anchor)) work.push(institutionBundles(patient));
}
const totalBundles = work.reduce((n, w) => n + w.length, 0);
const totalResources = work.reduce((n, w) => n + w.reduce((m, b) => m + b.resources, 0), 0);
console.log(`Publishing ${patients} patients: ${totalBundles} transaction Bundles, ${totalResources} resources, ${concurrency} concurrent clients, PostgreSQL at ${new URL(server).host}`);

// Peak memory of the process (every service of the stack runs in it), sampled while publishing.
const peak = { rss: 0, heap: 0 };
const sampler = setInterval(() => {
  const usage = process.memoryUsage();
  peak.rss = Math.max(peak.rss, usage.rss);
  peak.heap = Math.max(peak.heap, usage.heapUsed);
}, 20);
const latencies: number[] = [];
const failures = new Map<string, number>();
let published = 0;
let next = 0;
const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < work.length) {
    const bundles = work[next++]!;
    for (const { organizationId, bundle, resources } of bundles) {
      const begin = performance.now();
      let status = 0;
      try {
        const response = await fetch(endpoint, {
          method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${await tokenFor(organizationId)}` }, body: JSON.stringify(bundle),
        });
        status = response.status;
        const body = (await response.json()) as { issue?: { diagnostics?: string }[] };
        if (status !== 200) failures.set(`${status} ${body.issue?.[0]?.diagnostics ?? ''}`.slice(0, 160), (failures.get(`${status} ${body.issue?.[0]?.diagnostics ?? ''}`.slice(0, 160)) ?? 0) + 1);
        else published += resources;
      } catch (error) {
        failures.set(`network ${(error as Error).message}`, (failures.get(`network ${(error as Error).message}`) ?? 0) + 1);
      }
      latencies.push(performance.now() - begin);
    }
    if (next % 100 === 0) process.stdout.write(`  ${next}/${work.length} patients\r`);
  }
}));
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
latencies.sort((a, b) => a - b);
const pick = (q: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1));

const rows: Record<string, number> = {};
for (const [owner, table] of [['identity', 'patient'], ['encounters', 'encounter'], ['encounters', 'condition'], ['labs', 'observation'], ['labs', 'diagnostic_report'], ['imaging', 'imaging_study'], ['public-health', 'immunization'],
  ['encounters', 'procedure'], ['public-health', 'care_plan'], ['public-health', 'care_team'],
  ['encounters', 'medication_request'], ['encounters', 'medication_administration'], ['encounters', 'medication_statement']] as [SubgraphName, string][]) {
  rows[`${owner}.${table}`] = Number((await stack.databases[owner].query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n);
}
const failed = [...failures.values()].reduce((a, b) => a + b, 0);
console.log('');
console.table([{
  patients, bundles: totalBundles, resources: totalResources, seconds: Number(seconds.toFixed(1)),
  'resources/s': Number((published / seconds).toFixed(1)), 'bundles/s': Number((totalBundles / seconds).toFixed(1)),
  'p50 ms': pick(0.5), 'p95 ms': pick(0.95), 'p99 ms': pick(0.99), failures: failed,
  'peak RSS MB': Math.round(peak.rss / 1e6), 'peak heap MB': Math.round(peak.heap / 1e6),
}]);
if (failures.size) console.table([...failures].map(([reason, count]) => ({ reason, count })));
console.log('Rows held by the owners:', rows);
await stack.close();
if (!values.keep) await recreateDatabases(true);
process.exit(failed ? 1 : 0);
