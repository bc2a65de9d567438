/**
 * `npm run bench:bulk-export -- [options]`: the FHIR Bulk Data export of a
 * programme's cohort (docs/bulk-export.md), measured while clinicians keep
 * opening charts.
 *
 * Runs the gateway and the five subgraphs as separate processes
 * (scripts/process-stack.ts), the export store in a scratch directory, then:
 *
 *   1. baseline: the README's chart query, closed loop (--connections clients), --seconds long;
 *   2. export: public-health staff of the programme's organisation kick off
 *      GET /fhir/Group/<programme>/$export, poll it to the manifest and
 *      download every file, while the same chart loop runs beside it;
 *
 * and prints the export's rate (resources and patients per second, from
 * kick-off to manifest), every service's peak resident memory during the
 * export (sampled every 200 ms from /proc) and the chart query's latency
 * percentiles with and without the export running.
 *
 *   --large                  the PostgreSQL set of `npm run seed:large` (fpr_<subgraph> databases; --database-prefix names others); default: PGlite, --patients generated patients
 *   --patients 300           PGlite: how many generated patients
 *   --postgres               the generated patients in fresh PostgreSQL databases on TEST_DATABASE_URL's server (dropped after)
 *   --program prog-htn       the programme (FHIR Group) exported; --org org-cdc its public-health organisation
 *   --clinician-org org-county-north   whose patients the chart loop opens
 *   --connections 4 --seconds 10
 *   --tsx                    run the services through tsx instead of the compiled JavaScript the image runs (npm run build
 *                            into .data/bench-build, the default): tsx's compiler and source maps take heap that the
 *                            services' 128 MB cap (NODE_HEAP_OPTIONS) then lacks, and the gateway spends its time collecting garbage
 *   --limit 1000             export only the first N patients of the cohort (by id; a POST kick-off naming them), and
 *                            project the whole cohort's duration from the rate: a shorter measurement of a large cohort
 *   --profile dir            V8 CPU profiles of the six processes during the run (summarise: scripts/profile-summary.ts);
 *                            profiling takes heap: PROFILE_HEAP_OPTIONS=--max-old-space-size=256 lifts the services' cap for it
 *
 * The export's tuning variables of this shell (EXPORT_BATCH_PATIENTS,
 * EXPORT_BATCH_BYTES, EXPORT_BATCHES_IN_FLIGHT, EXPORT_PATIENTS_IN_FLIGHT,
 * EXPORT_CONCURRENCY) are passed to the gateway, and printed, so settings can
 * be compared run against run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { CHART_QUERY, compileProduct, patientsOf } from './bench-chart.js';
import { largeSetUrls } from './large-set.js';
import { startProcessStack, type ProcessStack, type ServiceName } from './process-stack.js';

const { values } = parseArgs({
  options: {
    large: { type: 'boolean', default: false },
    tsx: { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    'database-prefix': { type: 'string', default: 'fpr_' },
    patients: { type: 'string', default: '300' },
    program: { type: 'string', default: 'prog-htn' },
    org: { type: 'string', default: 'org-cdc' },
    'clinician-org': { type: 'string', default: 'org-county-north' },
    connections: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    limit: { type: 'string' },
    profile: { type: 'string' },
  },
});


const SERVICES: ServiceName[] = ['gateway', ...SUBGRAPH_NAMES];
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const round = (x: number) => Math.round(x * 10) / 10;

/**
 * The patients enrolled in the programme now, by id (what programCohort lists, before consent): their number
 * (limit null), or the first `limit` ids.
 */
async function enrolled(stack: ProcessStack, limit: number | null): Promise<number | string[]> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: stack.databaseUrls['public-health'] });
  await client.connect();
  try {
    const inForce = `FROM program_enrollment WHERE program_id = $1 AND period_start <= now() AND (period_end > now() OR (period_end IS NULL AND status = 'active'))`;
    if (limit === null) return Number((await client.query<{ n: string }>(`SELECT count(DISTINCT patient_id) AS n ${inForce}`, [values.program])).rows[0]!.n);
    return (await client.query<{ patient_id: string }>(`SELECT DISTINCT patient_id ${inForce} ORDER BY patient_id LIMIT $2`, [values.program, limit])).rows.map((r) => r.patient_id);
  } finally {
    await client.end();
  }
}

/** Closed-loop chart queries until `until()` says stop; latencies in ms. */
async function chartLoop(stack: ProcessStack, patients: string[], until: () => boolean): Promise<{ latencies: number[]; errors: number }> {
  const token = await stack.token({ sub: 'bench-clinician', role: 'clinician', org: values['clinician-org'] });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const client = async () => {
    while (!until()) {
      const id = patients[next++ % patients.length]!;
      const started = performance.now();
      const response = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: CHART_QUERY, variables: { id } }) });
      const body = await response.text();
      latencies.push(performance.now() - started);
      if (response.status !== 200 || body.includes('"errors"')) {
        if (errors++ === 0) console.log(`first chart error (${response.status}): ${body.slice(0, 400)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Number(values.connections) }, client));
  return { latencies: latencies.sort((a, b) => a - b), errors };
}

const describe = (label: string, run: { latencies: number[]; errors: number }, seconds: number) =>
  `${label}: ${round(run.latencies.length / seconds)} req/s, p50 ${round(percentile(run.latencies, 50))} ms, p95 ${round(percentile(run.latencies, 95))} ms, `
  + `p99 ${round(percentile(run.latencies, 99))} ms (${run.latencies.length} requests, ${run.errors} errors)`;

const largeUrls = values.large ? largeSetUrls(values['database-prefix']) : undefined;

const TUNING = ['EXPORT_BATCH_PATIENTS', 'EXPORT_BATCH_BYTES', 'EXPORT_BATCHES_IN_FLIGHT', 'EXPORT_PATIENTS_IN_FLIGHT', 'EXPORT_CONCURRENCY'];
const tuning = Object.fromEntries(TUNING.flatMap((name) => (process.env[name] ? [[name, process.env[name]!]] : [])));

const compiledDir = values.tsx ? undefined : compileProduct();

const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-bench-bulk-'));
console.log(`Bulk export of ${values.program}: ${values.large ? 'PostgreSQL large set' : `${values.postgres ? 'PostgreSQL' : 'PGlite'}, ${values.patients} patients`}, six processes, `
  + `chart loop of ${values.connections} connections, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, `
  + `load average ${os.loadavg()[0]!.toFixed(1)}, ${values.tsx ? 'tsx' : 'compiled JavaScript'}; export settings: ${Object.entries(tuning).map(([k, v]) => `${k}=${v}`).join(' ') || 'defaults'}`);
const stack = await startProcessStack({
  patients: values.large ? undefined : Number(values.patients), databaseUrls: largeUrls, backend: values.postgres ? 'postgres' : 'pglite', databasePrefix: 'export_bench', compiledDir,
  env: { ...(values.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(values.profile)} ${process.env.PROFILE_HEAP_OPTIONS ?? ''}`.trim() } : {}), LOG_LEVEL: 'warn', EXPORT_DATABASE_URL: `pglite://${path.join(scratch, 'store')}`, EXPORT_STORAGE_DIR: path.join(scratch, 'files'), EXPORT_MIN_POLL_SECONDS: '1', EXPORT_MAX_RESOURCES_PER_FILE: '50000', ...tuning },
});
try {
  const patients = await patientsOf(stack, values['clinician-org'], { large: values.large, count: Number(values.patients) });
  if (!patients.length) throw new Error(`no patient registered at ${values['clinician-org']}`);
  const seconds = Number(values.seconds);
  // Warm-up, then the baseline.
  let stopAt = Date.now() + 3000;
  await chartLoop(stack, patients, () => Date.now() > stopAt);
  stopAt = Date.now() + seconds * 1000;
  const baseline = await chartLoop(stack, patients, () => Date.now() > stopAt);
  console.log(describe('chart without export', baseline, seconds));
  // Errors in the baseline are the set's or the stack's, not the export's: say what the services said.
  if (baseline.errors) for (const s of SERVICES) console.log(`${s} said:\n${stack.services[s].output().slice(-1500)}`);

  const token = await stack.token({ sub: 'bench-public-health', role: 'public_health', org: values.org });
  // --limit: the first N patients (by id) enrolled in the programme now; the export keeps those of the cohort it lists.
  if (values.limit && !values.large && !values.postgres) throw new Error('--limit applies to PostgreSQL (--large or --postgres)');
  const cohortSize = values.large || values.postgres ? await enrolled(stack, null) as number : null;
  const limited = values.limit ? await enrolled(stack, Number(values.limit)) as string[] : null;
  if (cohortSize !== null) console.log(`${values.program}: ${cohortSize} patients enrolled now${limited ? `; exporting the first ${limited.length} of them (by id)` : ''}`);
  const peak = Object.fromEntries(SERVICES.map((s) => [s, stack.rssMb(s)])) as Record<ServiceName, number>;
  // A service that stopped is reported below (the catch), not by the sampler.
  const sampler = setInterval(() => { for (const s of SERVICES) { try { peak[s] = Math.max(peak[s], stack.rssMb(s)); } catch { /* stopped */ } } }, 200);
  const base = stack.url.replace(/\/graphql$/, '');
  const started = performance.now();
  const cpuBefore = Object.fromEntries(SERVICES.map((s) => [s, stack.cpuMs(s)])) as Record<ServiceName, number>;
  const kicked = limited
    ? await fetch(`${base}/fhir/Group/${values.program}/$export`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, prefer: 'respond-async', accept: 'application/fhir+json', 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Parameters', parameter: limited.map((id) => ({ name: 'patient', valueReference: { reference: `Patient/${id}` } })) }),
    })
    : await fetch(`${base}/fhir/Group/${values.program}/$export`, { headers: { authorization: `Bearer ${token}`, prefer: 'respond-async', accept: 'application/fhir+json' } });
  if (kicked.status !== 202) throw new Error(`kick-off answered ${kicked.status}: ${await kicked.text()}`);
  const statusUrl = kicked.headers.get('content-location')!;
  type Manifest = { output: { type: string; url: string; count: number }[] };
  const state: { manifest: Manifest | null } = { manifest: null };
  let finished = 0;
  const chartBeside = chartLoop(stack, patients, () => state.manifest !== null);
  while (!state.manifest) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const stopped = SERVICES.find((s) => stack.services[s].child.exitCode !== null || stack.services[s].child.signalCode !== null);
    if (stopped) throw new Error(`${stopped} stopped during the export`);
    const response = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
    if (response.status === 200) {
      finished = performance.now();
      state.manifest = await response.json() as Manifest;
    } else if (response.status !== 202 && response.status !== 429) throw new Error(`status answered ${response.status}: ${await response.text()}`);
  }
  const during = await chartBeside;
  const manifest = state.manifest;
  const exportSeconds = (finished - started) / 1000;
  let bytes = 0;
  for (const file of manifest.output) bytes += (await (await fetch(file.url, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer()).byteLength;
  clearInterval(sampler);
  const resources = manifest.output.reduce((n, f) => n + f.count, 0);
  const exportedPatients = manifest.output.filter((f) => f.type === 'Patient').reduce((n, f) => n + f.count, 0);
  console.log(`export: ${resources} resources of ${exportedPatients} patients in ${round(exportSeconds)} s: ${round(resources / exportSeconds)} resources/s, `
    + `${round(exportedPatients / exportSeconds)} patients/s, ${round(bytes / 1024 / 1024)} MB of NDJSON (${manifest.output.map((f) => `${f.type} ${f.count}`).join(', ')})`);
  console.log(describe('chart during export', during, exportSeconds));
  const cpu = SERVICES.map((s) => [s, stack.cpuMs(s) - cpuBefore[s]] as const);
  console.log(`CPU time during the export (ms per 100 resources, chart loop included): ${cpu.map(([s, ms]) => `${s} ${round((100 * ms) / Math.max(1, resources))}`).join(', ')}`);
  if (limited && cohortSize) {
    console.log(`projected for the whole cohort (${cohortSize} patients enrolled) at this rate: ${round((cohortSize / Math.max(1, exportedPatients)) * exportSeconds / 60)} min`);
  }
  console.log(`peak resident memory during the export (MB): ${SERVICES.map((s) => `${s} ${Math.round(peak[s])}`).join(', ')}`);
  console.log(`chart p99: ${round(percentile(during.latencies, 99))} ms during the export, ${round(percentile(baseline.latencies, 99))} ms without it; load average now ${os.loadavg()[0]!.toFixed(1)}`);
  const hwm = (s: ServiceName) => Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${stack.services[s].child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  console.log(`peak resident memory since start (VmHWM, MB): ${SERVICES.map((s) => `${s} ${hwm(s)}`).join(', ')}`);
} catch (error) {
  // A service that stopped says why in its last lines.
  for (const s of SERVICES) if (stack.services[s].child.exitCode !== null || stack.services[s].child.signalCode !== null) console.error(`${s} stopped:\n${stack.services[s].output().slice(-3000)}`);
  throw error;
} finally {
  if (values.profile) {
    // Profiles are written when a process exits normally: stop the services gracefully first.
    for (const name of SERVICES) stack.signal(name, 'SIGTERM');
    await Promise.all(SERVICES.map((name) => stack.exited(name, 30_000)));
    console.log(`CPU profiles in ${values.profile}: npx tsx scripts/profile-summary.ts ${values.profile}`);
  }
  await stack.close();
  rmSync(scratch, { recursive: true, force: true });
}
