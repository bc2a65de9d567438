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
 *   --program prog-htn       the programme (FHIR Group) exported; --org org-cdc its public-health organisation
 *   --clinician-org org-county-north   whose patients the chart loop opens
 *   --connections 4 --seconds 10
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
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { CHART_QUERY, patientsOf } from './bench-chart.js';
import { startProcessStack, type ProcessStack, type ServiceName } from './process-stack.js';

const { values } = parseArgs({
  options: {
    large: { type: 'boolean', default: false },
    'database-prefix': { type: 'string', default: 'fpr_' },
    patients: { type: 'string', default: '300' },
    program: { type: 'string', default: 'prog-htn' },
    org: { type: 'string', default: 'org-cdc' },
    'clinician-org': { type: 'string', default: 'org-county-north' },
    connections: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
  },
});


const SERVICES: ServiceName[] = ['gateway', ...SUBGRAPH_NAMES];
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const round = (x: number) => Math.round(x * 10) / 10;

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
      if (response.status !== 200 || body.includes('"errors"')) errors++;
    }
  };
  await Promise.all(Array.from({ length: Number(values.connections) }, client));
  return { latencies: latencies.sort((a, b) => a - b), errors };
}

const describe = (label: string, run: { latencies: number[]; errors: number }, seconds: number) =>
  `${label}: ${round(run.latencies.length / seconds)} req/s, p50 ${round(percentile(run.latencies, 50))} ms, p95 ${round(percentile(run.latencies, 95))} ms, `
  + `p99 ${round(percentile(run.latencies, 99))} ms (${run.latencies.length} requests, ${run.errors} errors)`;

const largeUrls = values.large ? Object.fromEntries(SUBGRAPH_NAMES.map((name) => {
  const url = new URL(process.env.SEED_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/${values['database-prefix']}${name.replace('-', '_')}`;
  return [name, url.toString()];
})) as Record<SubgraphName, string> : undefined;

const TUNING = ['EXPORT_BATCH_PATIENTS', 'EXPORT_BATCH_BYTES', 'EXPORT_BATCHES_IN_FLIGHT', 'EXPORT_PATIENTS_IN_FLIGHT', 'EXPORT_CONCURRENCY'];
const tuning = Object.fromEntries(TUNING.flatMap((name) => (process.env[name] ? [[name, process.env[name]!]] : [])));

const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-bench-bulk-'));
console.log(`Bulk export of ${values.program}: ${values.large ? 'PostgreSQL large set' : `PGlite, ${values.patients} patients`}, six processes, `
  + `chart loop of ${values.connections} connections, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, `
  + `load average ${os.loadavg()[0]!.toFixed(1)}; export settings: ${Object.entries(tuning).map(([k, v]) => `${k}=${v}`).join(' ') || 'defaults'}`);
const stack = await startProcessStack({
  patients: values.large ? undefined : Number(values.patients), databaseUrls: largeUrls,
  env: { LOG_LEVEL: 'warn', EXPORT_DATABASE_URL: `pglite://${path.join(scratch, 'store')}`, EXPORT_STORAGE_DIR: path.join(scratch, 'files'), EXPORT_MIN_POLL_SECONDS: '1', EXPORT_MAX_RESOURCES_PER_FILE: '50000', ...tuning },
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

  const token = await stack.token({ sub: 'bench-public-health', role: 'public_health', org: values.org });
  const peak = Object.fromEntries(SERVICES.map((s) => [s, stack.rssMb(s)])) as Record<ServiceName, number>;
  const sampler = setInterval(() => { for (const s of SERVICES) peak[s] = Math.max(peak[s], stack.rssMb(s)); }, 200);
  const base = stack.url.replace(/\/graphql$/, '');
  const started = performance.now();
  const kicked = await fetch(`${base}/fhir/Group/${values.program}/$export`, { headers: { authorization: `Bearer ${token}`, prefer: 'respond-async', accept: 'application/fhir+json' } });
  if (kicked.status !== 202) throw new Error(`kick-off answered ${kicked.status}: ${await kicked.text()}`);
  const statusUrl = kicked.headers.get('content-location')!;
  type Manifest = { output: { type: string; url: string; count: number }[] };
  const state: { manifest: Manifest | null } = { manifest: null };
  let finished = 0;
  const chartBeside = chartLoop(stack, patients, () => state.manifest !== null);
  while (!state.manifest) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
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
  console.log(`peak resident memory during the export (MB): ${SERVICES.map((s) => `${s} ${Math.round(peak[s])}`).join(', ')}`);
  console.log(`chart p99: ${round(percentile(during.latencies, 99))} ms during the export, ${round(percentile(baseline.latencies, 99))} ms without it; load average now ${os.loadavg()[0]!.toFixed(1)}`);
  const hwm = (s: ServiceName) => Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${stack.services[s].child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  console.log(`peak resident memory since start (VmHWM, MB): ${SERVICES.map((s) => `${s} ${hwm(s)}`).join(', ')}`);
} catch (error) {
  // A service that stopped says why in its last lines.
  for (const s of SERVICES) if (stack.services[s].child.exitCode !== null || stack.services[s].child.signalCode !== null) console.error(`${s} stopped:\n${stack.services[s].output().slice(-3000)}`);
  throw error;
} finally {
  await stack.close();
  rmSync(scratch, { recursive: true, force: true });
}
