/**
 * `npm run hostile -- [--requests 10000] [--concurrency 8] [--seed N] [--backend pglite|postgres] [--replicas]`
 *
 * Runs the gateway and the five subgraphs as separate processes in
 * production mode (scripts/process-stack.ts) — or, with `--replicas`, two
 * of each behind HAProxy on PostgreSQL with Redis (scripts/replicas.ts), the
 * corpus sent to the balancer's front door — sends a generated corpus of
 * hostile and malformed requests (scripts/hostile-corpus.ts), and prints:
 * the statuses, the 5xx count (must be 0), responses leaking a stack trace
 * (must be 0), p50/p99, the slowest requests, and every service's resident
 * memory before, right after, and 15 s after the run (each process runs with
 * the image's heap cap, lib/runtime/services.ts NODE_HEAP_OPTIONS).
 * `--heap-snapshots <dir>` also takes heap snapshots of the gateway and
 * identity before and after (scripts/heap-snapshot.ts: an inspector on
 * loopback that only this run opens) and prints what grew. Then it freezes the imaging subgraph (SIGSTOP) and
 * times the README's chart query, which must answer within the subgraph
 * deadline with the rest of the chart (with `--replicas`, both imaging
 * replicas: one frozen is routed around, which the replicas test shows).
 * Exit code 1 if any rule is broken.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { heapGrowth, summarizeHeapSnapshot, takeHeapSnapshot } from './heap-snapshot.js';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { corpusTokens, hostileCorpus, runCorpus, type TokenMinter } from './hostile-corpus.js';
import { startProcessStack, type ServiceName } from './process-stack.js';
import { startReplicas } from './replicas.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '8' },
    seed: { type: 'string', default: '20261129' },
    backend: { type: 'string', default: process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite' },
    timeout: { type: 'string', default: '3000' },
    'heap-snapshots': { type: 'string' },
    replicas: { type: 'boolean', default: false },
  },
});
if (values.replicas && values['heap-snapshots']) throw new Error('--heap-snapshots inspects one process per service; not with --replicas');
if (values.replicas) values.backend = 'postgres'; // the replicas share their databases
const PATIENTS = 30;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const patient = bundles.find((b) => b.imagingStudies.length > 0 && b.patient.identifiers.some((i) => i.assignerOrganizationId?.startsWith('org-county-')))!;
const org = patient.patient.identifiers.find((i) => i.assignerOrganizationId?.startsWith('org-county-'))!.assignerOrganizationId!;

const freePort = () => new Promise<number>((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  });
});
const snapshotDir = values['heap-snapshots'];
const inspected = snapshotDir ? { gateway: await freePort(), identity: await freePort() } : undefined;
if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
const heapInspect: Record<string, string> = inspected ? { HEAP_INSPECT: Object.entries(inspected).map(([name, port]) => `${name}:${port}`).join(',') } : {};

/**
 * What the run needs of the services, one stack or the replicated one: where
 * clients point, the issuer, each process's resident memory, a way to
 * freeze and thaw a service (every replica of it), and stopping.
 */
interface Target {
  url: string;
  token: TokenMinter;
  rss(): Record<string, number>;
  signal(name: ServiceName, signal: NodeJS.Signals): void;
  close(): Promise<void>;
}
const SERVICES = ['gateway', ...SUBGRAPH_NAMES] as const;
const env = { SUBGRAPH_TIMEOUT_MS: values.timeout!, ...heapInspect };
let target: Target;
if (values.replicas) {
  console.log('Starting two replicas of each of the six services behind HAProxy (postgres, Redis, production mode)...');
  const replicas = await startReplicas({ patients: PATIENTS, env });
  target = {
    url: replicas.url,
    token: replicas.replicas[0].token,
    rss: () => Object.fromEntries(SERVICES.flatMap((name) => replicas.replicas.map((stack, i) => [`${name}-${i + 1}`, stack.rssMb(name)] as const))),
    signal: (name, signal) => { for (const stack of replicas.replicas) stack.signal(name, signal); },
    close: () => replicas.close(),
  };
} else {
  console.log(`Starting six service processes (${values.backend}, production mode)...`);
  const stack = await startProcessStack({ patients: PATIENTS, backend: values.backend as 'pglite' | 'postgres', env });
  target = {
    url: stack.url,
    token: stack.token,
    rss: () => Object.fromEntries(SERVICES.map((name) => [name, stack.rssMb(name)])),
    signal: (name, signal) => stack.signal(name, signal),
    close: () => stack.close(),
  };
}
const rssOfAll = () => target.rss();
const snapshots = async (label: string) => {
  if (!inspected || !snapshotDir) return undefined;
  const files: Record<string, string> = {};
  for (const [name, port] of Object.entries(inspected)) {
    files[name] = path.join(snapshotDir, `${name}-${values.backend}-${label}.heapsnapshot`);
    await takeHeapSnapshot(port, files[name]!);
  }
  return files;
};
let failed = false;
try {
  const tokens = await corpusTokens(target.token, org, patient.patient.id);
  const clinician = tokens.clinician;
  const base = target.url.replace(/\/graphql$/, '');
  const corpus = hostileCorpus(Number(values.requests), Number(values.seed), { tokens, patientId: patient.patient.id });
  // Warm-up (a tenth of the corpus, not counted): what every process loads on its first requests is not growth.
  await runCorpus(base, corpus.slice(0, Math.ceil(corpus.length / 10)), Number(values.concurrency));
  // Resident memory before the snapshot: taking one costs the process memory of its own (RSS figures for a
  // process snapshotted are higher for it; measure RSS in a run without --heap-snapshots).
  const rssBefore = rssOfAll();
  const snapshotsBefore = await snapshots('before');
  const gatewayRss = (rss: Record<string, number>) => Object.entries(rss).filter(([name]) => name.startsWith('gateway')).reduce((sum, [, mb]) => sum + mb, 0);
  const before = gatewayRss(rssBefore);
  const started = performance.now();
  const run = await runCorpus(base, corpus, Number(values.concurrency));
  const seconds = (performance.now() - started) / 1000;
  const rssAfter = rssOfAll();
  const after = gatewayRss(rssAfter);
  await new Promise((resolve) => setTimeout(resolve, 15_000));
  const rssSettled = rssOfAll();
  const snapshotsAfter = await snapshots('after');
  console.log(`
Hostile run: ${run.requests} requests in ${seconds.toFixed(1)} s (${(run.requests / seconds).toFixed(0)} req/s, ${values.concurrency} clients)
  statuses:            ${JSON.stringify(run.byStatus)}
  5xx or no answer:    ${run.serverErrors.length}${run.serverErrors.length ? `  e.g. ${JSON.stringify(run.serverErrors.slice(0, 3))}` : ''}
  stack traces leaked: ${run.leaks.length}${run.leaks.length ? `  e.g. ${JSON.stringify(run.leaks.slice(0, 3))}` : ''}
  without x-request-id: ${run.missingRequestId}
  latency:             p50 ${run.p50.toFixed(1)} ms, p99 ${run.p99.toFixed(1)} ms; slowest ${JSON.stringify(run.slowest)}
  gateway RSS:         ${before.toFixed(0)} MB before, ${after.toFixed(0)} MB after (${(after - before >= 0 ? '+' : '') + (after - before).toFixed(0)} MB)${values.replicas ? ', both replicas' : ''}
  RSS (MB) before / right after / 15 s after, each service (heap capped as in the image):
${Object.keys(rssBefore).map((name) => `    ${name.padEnd(16)} ${rssBefore[name]!.toFixed(0).padStart(4)} / ${rssAfter[name]!.toFixed(0).padStart(4)} / ${rssSettled[name]!.toFixed(0).padStart(4)}`).join('\n')}`);
  if (snapshotsBefore && snapshotsAfter) {
    for (const name of Object.keys(snapshotsBefore)) {
      const growth = heapGrowth(await summarizeHeapSnapshot(snapshotsBefore[name]!), await summarizeHeapSnapshot(snapshotsAfter[name]!));
      console.log(`\n${name} heap snapshots (${snapshotsBefore[name]}, ${snapshotsAfter[name]}):\n  ${growth.join('\n  ')}`);
    }
  }
  failed ||= run.serverErrors.length > 0 || run.leaks.length > 0 || run.missingRequestId > 0;

  const chart = async () => {
    const t = performance.now();
    const response = await fetch(target.url, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${clinician}` },
      body: JSON.stringify({ query: `query Chart($id: ID!) { patient(id: $id) { name { text } birthDate gender
        encounters(first: 10) { edges { node { class period { start end } organization { name } } } }
        observations(first: 20) { edges { node { code { display } valueQuantity { value unit } } } }
        imagingStudies { edges { node { studyInstanceUid modality { code } } } }
        immunizations { edges { node { vaccineCode { code display } } } } } }`, variables: { id: patient.patient.id } }),
    });
    const body = await response.json() as { data?: { patient?: Record<string, unknown> }; errors?: { extensions?: { code?: string; service?: string } }[] };
    return { ms: performance.now() - t, status: response.status, body };
  };
  const whole = await chart();
  target.signal('imaging', 'SIGSTOP');
  const frozen = await chart();
  target.signal('imaging', 'SIGCONT');
  const missing = frozen.body.errors?.find((e) => e.extensions?.code === 'SUBGRAPH_UNAVAILABLE');
  console.log(`
Chart query: ${whole.ms.toFixed(0)} ms with every subgraph up; ${frozen.ms.toFixed(0)} ms with imaging frozen (deadline ${values.timeout} ms):
  status ${frozen.status}, demographics ${frozen.body.data?.patient?.name ? 'present' : 'MISSING'}, encounters ${frozen.body.data?.patient?.encounters ? 'present' : 'MISSING'}, imaging ${frozen.body.data?.patient?.imagingStudies === null ? 'null' : 'present'}, error ${missing ? `${missing.extensions?.code} (${missing.extensions?.service})` : 'NONE'}`);
  failed ||= !missing || !frozen.body.data?.patient?.encounters;
} finally {
  await target.close();
}
process.exit(failed ? 1 : 0);
