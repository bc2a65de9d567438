/**
 * `npm run bench -- [options]`: what a request costs, where every millisecond goes.
 *
 * Runs the gateway and the five subgraphs as six separate processes (as in
 * production: scripts/process-stack.ts), sends one query from this process
 * over loopback, and reports per round: requests per second, latency
 * percentiles, CPU milliseconds per request of the gateway and of each
 * subgraph (from /proc, all six processes together too), and each process's
 * resident memory. Rounds with consent and audit on and off are interleaved
 * (on, off, on, off, ...) so a busy machine affects both alike, and medians
 * are reported. Results can be written as JSON (`--json`) and compared with a
 * previous run (`--compare`).
 *
 *   --query chart|timeline|fhir   the README's longitudinal chart (default), a timeline page of 50 with nodes, or a
 *                            FHIR search (GET /fhir/Observation?patient=…&category=laboratory&_count=50); several,
 *                            comma-separated, are measured in turn within each round
 *   --large                  the PostgreSQL set of `npm run seed:large` (fpr_<subgraph> databases); default: PGlite, 500 patients
 *   --sets fpr_,fpr1m_       large sets side by side (implies --large): each a database prefix seed:large wrote
 *                            (`npm run seed:large -- --patients 1000000 --database-prefix fpr1m_`); one stack per
 *                            set, rounds interleaved across sets, and the difference of each to the first printed
 *   --connections 10         closed loop: concurrent clients, each sending the next request when the last answered
 *   --rate 50                open loop instead: a fixed rate (req/s), latency from the scheduled time;
 *                            --rate half: half of the capacity measured first (closed loop, --connections, on the
 *                            first set and mode) for each query, as the tail-latency target is stated
 *   --seconds 15 --rounds 3  per round; rounds of each mode
 *   --warmup 15              seconds of load before a stack's first round (2 before the others)
 *   --modes on,off           which modes: on (consent and audit, as in production), off (neither),
 *                            shared-guard (on, with the replay guard of internal tokens on Redis, as replicas run:
 *                            REPLAY_GUARD_REDIS_URL or redis://127.0.0.1:6379),
 *                            traced (on, plus OpenTelemetry spans exported to a collector in this
 *                            process and /metrics scraped every 5 s), silent (on, with LOG_LEVEL=silent):
 *                            `--modes on,traced,silent` measures what tracing and logging cost
 *   --compiled               run the compiled JavaScript (npm run build; as the image does) instead of tsx
 *   --json results.json      write the results; --compare previous.json prints the differences
 *   --log-level info         the services' LOG_LEVEL (info, as in production; warn or silent to measure what logging costs)
 *   --profile dir            CPU profiles of the six processes (consent on), summarised by scripts/profile-summary.ts
 *
 * Each round also says where its slowest 1% of requests spent their time against the typical request, from the
 * services' request log lines joined by request id (scripts/bench-slow-requests.ts); the services' logs of a run are
 * kept in .data/bench-logs/<time>/<set>-<mode>/<service>.log.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GATEWAY, SUBGRAPH_NAMES, SUBGRAPHS, type SubgraphName } from '../lib/runtime/services.js';
import { CHART_QUERY, compileProduct, patientsOf } from './bench-chart.js';
import { largeSetUrls, SEED_SERVER } from './large-set.js';
import { diagnose, snapshotMetrics, type ServiceDiagnosis } from './bench-diagnosis.js';
import { describeSlowRequests, logOffsets, logsSince, slowRequests, type ClientSample, type SlowRequestReport } from './bench-slow-requests.js';
import { startProcessStack, type ProcessStack, type ServiceName } from './process-stack.js';

const { values } = parseArgs({
  options: {
    large: { type: 'boolean', default: false },
    sets: { type: 'string' },
    seconds: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '10' },
    rate: { type: 'string' },
    org: { type: 'string', default: 'org-county-north' },
    query: { type: 'string', default: 'chart' },
    modes: { type: 'string', default: 'on,off' },
    compiled: { type: 'boolean', default: false },
    json: { type: 'string' },
    profile: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    compare: { type: 'string' },
    warmup: { type: 'string', default: '15' },
  },
});


export const TIMELINE_QUERY = `query Timeline($id: ID!) { patient(id: $id) { id timeline(first: 50) {
  edges { cursor kind occurredAt node { __typename
    ... on Encounter { class period { start } organization { id } reason { code display } }
    ... on Condition { code { code display } }
    ... on Observation { code { code display } valueQuantity { value unit } }
    ... on DiagnosticReport { code { code display } }
    ... on ImagingStudy { modality { code } }
    ... on Immunization { vaccineCode { code } }
    ... on HomeMeasurement { kind systolic diastolic value } } }
  pageInfo { hasNextPage endCursor } } } }`;
/** What one request of each query is: a GraphQL query for one patient, or a FHIR search. */
const QUERIES: Record<string, { graphql: string } | { fhir: (patient: string) => string }> = {
  chart: { graphql: CHART_QUERY },
  timeline: { graphql: TIMELINE_QUERY },
  fhir: { fhir: (patient) => `/fhir/Observation?patient=${patient}&category=laboratory&_count=50` },
};
const queries = values.query.split(',').map((q) => q.trim());
for (const query of queries) if (!QUERIES[query]) throw new Error(`--query must be one of ${Object.keys(QUERIES).join(', ')}`);
/** Database prefixes of the large sets measured (one unless --sets). */
const sets = values.sets ? values.sets.split(',').map((s) => s.trim()) : values.large ? ['fpr_'] : [''];
const large = values.large || Boolean(values.sets);
for (const set of sets) if (large && !/^[a-z][a-z0-9_]*$/.test(set)) throw new Error(`--sets: ${set} is not a database prefix`);

const SERVICES: ServiceName[] = ['gateway', ...SUBGRAPH_NAMES];
const seconds = Number(values.seconds);
type Mode = 'on' | 'off' | 'traced' | 'silent' | 'shared-guard';
const modes = values.modes.split(',').map((m) => m.trim()) as Mode[];
for (const mode of modes) if (!['on', 'off', 'traced', 'silent', 'shared-guard'].includes(mode)) throw new Error(`--modes: unknown mode ${mode}`);
/** The shared-guard mode's Redis: what replicas share to accept an internal token once (docs/security.md). */
const REPLAY_GUARD_REDIS = process.env.REPLAY_GUARD_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Round {
  /** The data set (database prefix; '' for PGlite) and query measured. */
  set: string;
  query: string;
  mode: Mode;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  /** CPU ms per request, per service and all together. */
  cpuMsPerRequest: Record<ServiceName | 'total', number>;
  /**
   * The rest of the machine per request: the PostgreSQL server's processes
   * (--large), this benchmark's own client, and everything else running; and
   * how busy the machine's CPUs were (100: saturated).
   */
  elsewhere: { postgresMs: number; clientMs: number; otherMs: number; machineBusyPercent: number };
  /** The PostgreSQL server's CPU per request for each subgraph's database (its backends). */
  postgresMsBySubgraph: Record<SubgraphName, number>;
  // otherMs is mostly the kernel's own work for the loopback connections (softirq time no process is charged with).
  rssMb: Record<ServiceName, number>;
  /** What each service's own metrics say it spent on garbage collection, event-loop delay, statements, audit (scripts/bench-diagnosis.ts). */
  diagnosis: Record<string, ServiceDiagnosis>;
  /** Where the slowest 1% of requests spent their time, against the typical request (scripts/bench-slow-requests.ts). */
  slowRequests?: SlowRequestReport;
  /**
   * The machine and the database server during the round: the share of time some task waited for a CPU or for I/O
   * (and every task, for I/O: /proc/pressure), and, on PostgreSQL, checkpoints, buffers written and WAL flushes.
   */
  stalls: {
    cpuSomePercent?: number; ioSomePercent?: number; ioFullPercent?: number; checkpoints?: number; buffersWrittenPerRequest?: number; walFlushesPerRequest?: number;
    /** The share of the CPUs' time the hypervisor gave to something else (steal), and the busiest other processes (CPU ms in the round). */
    stealPercent?: number; otherProcesses?: { name: string; ms: number }[];
    /**
     * The kernel's memory reclaim during the round (/proc/vmstat): MB of file pages it dropped (by kswapd, by
     * processes waiting on it, or proactively, e.g. DAMON's pageout on a VM), MB read back in after being dropped
     * (refaults), and major page faults.
     */
    reclaim?: { droppedMb: number; droppedByWaitingProcessesMb: number; refaultedMb: number; majorFaults: number; damonPagedOutMb?: number };
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const label = (mode: Mode) => ({ on: 'consent on', off: 'consent off', traced: 'consent on, traced', silent: 'consent on, no logs', 'shared-guard': 'consent on, replay guard on Redis' })[mode];
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
};


/**
 * What the traced mode sends spans to: an OTLP/HTTP endpoint that reads and
 * counts them (an OpenTelemetry Collector's receiving end, without the rest),
 * and a scraper reading every service's /metrics as Prometheus would.
 */
async function startTelemetrySink(): Promise<{ url: string; spans: () => number; scrape: (ports: number[]) => () => void; close(): Promise<void> }> {
  let spans = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] };
        for (const r of body.resourceSpans ?? []) for (const scope of r.scopeSpans ?? []) spans += scope.spans?.length ?? 0;
      } catch { /* counted as nothing */ }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => spans,
    scrape: (ports) => {
      const timer = setInterval(() => { for (const port of ports) fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => undefined); }, 5_000);
      return () => clearInterval(timer);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const TICK_MS = 10; // /proc reports clock ticks of 1/100 s

/** CPU ticks so far of every process on the machine (kernel threads included), by pid, with its name. */
function processTicks(): Map<string, { ticks: number; name: string }> {
  const ticks = new Map<string, { ticks: number; name: string }>();
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(') ');
      const fields = stat.slice(close + 2).split(' ');
      ticks.set(pid, { ticks: Number(fields[11]) + Number(fields[12]), name: stat.slice(stat.indexOf('(') + 1, close) });
    } catch { /* the process ended */ }
  }
  return ticks;
}

/**
 * CPU ticks used so far by each of the PostgreSQL server's processes (the
 * postmaster and its backends), by pid: a round counts what each process used
 * during it (a backend closed meanwhile, e.g. an idle pool connection, would
 * otherwise take its whole past out of the sum).
 */
function postgresTicks(): Map<string, { ticks: number; database: string }> {
  const ticks = new Map<string, { ticks: number; database: string }>();
  for (const [pid, process] of processTicks()) {
    if (process.name !== 'postgres') continue;
    try {
      // A backend's title names its database: "postgres: 15/main: postgres fpr_labs 127.0.0.1(38676) idle".
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const database = /^postgres: (?:\S+: )?\S+ (\S+) \S+\(\d+\)/.exec(title)?.[1] ?? '(server)';
      ticks.set(pid, { ticks: process.ticks, database });
    } catch { /* the process ended */ }
  }
  return ticks;
}

/**
 * CPU ms the PostgreSQL server's processes used since `before` (processes started since count whole): all together,
 * and by database (the server's own processes, the checkpointer, WAL writer and the like, as "(server)").
 */
function postgresCpuMsSince(before: Map<string, { ticks: number }>): { total: number; byDatabase: Record<string, number> } {
  let ticks = 0;
  const byDatabase: Record<string, number> = {};
  for (const [pid, now] of postgresTicks()) {
    const used = Math.max(0, now.ticks - (before.get(pid)?.ticks ?? 0));
    ticks += used;
    byDatabase[now.database] = (byDatabase[now.database] ?? 0) + used * TICK_MS;
  }
  return { total: ticks * TICK_MS, byDatabase };
}

/** The machine's CPU time so far, busy and all, summed over CPUs (/proc/stat). */
function machineCpuMs(): { busy: number; all: number; steal: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const all = fields.slice(0, 8).reduce((sum, n) => sum + n, 0);
  const idle = fields[3]! + fields[4]!;
  // Steal: time the hypervisor ran something else while this machine's virtual CPUs had work (a stall no process sees).
  return { busy: (all - idle) * TICK_MS, all: all * TICK_MS, steal: (fields[7] ?? 0) * TICK_MS };
}

/** The kernel's counters of /proc/vmstat (page counts). */
function vmstat(): Map<string, number> {
  try {
    return new Map(readFileSync('/proc/vmstat', 'utf8').trim().split('\n').map((line) => line.split(' ') as [string, string]).map(([key, value]) => [key, Number(value)]));
  } catch {
    return new Map();
  }
}

const DAMON = '/sys/kernel/mm/damon/admin/kdamonds';

/**
 * Bytes DAMON's schemes have applied their action to so far (on a VM that reclaims memory proactively, the action
 * is pageout), where the kernel runs DAMON and this process may ask it to update its statistics; else undefined.
 */
function damonAppliedBytes(): number | undefined {
  try {
    let bytes = 0;
    for (const kdamond of readdirSync(DAMON).filter((entry) => /^\d+$/.test(entry))) {
      writeFileSync(`${DAMON}/${kdamond}/state`, 'update_schemes_stats');
      for (const context of readdirSync(`${DAMON}/${kdamond}/contexts`).filter((entry) => /^\d+$/.test(entry))) {
        const schemes = `${DAMON}/${kdamond}/contexts/${context}/schemes`;
        for (const scheme of readdirSync(schemes).filter((entry) => /^\d+$/.test(entry))) bytes += Number(readFileSync(`${schemes}/${scheme}/stats/sz_applied`, 'utf8'));
      }
    }
    return bytes;
  } catch {
    return undefined;
  }
}

/** What the kernel's memory reclaim did since `before` (4 KiB pages, in MB). */
function reclaimSince(before: Map<string, number>, damonBefore: number | undefined): NonNullable<Round['stalls']['reclaim']> {
  const after = vmstat();
  const damonAfter = damonAppliedBytes();
  const delta = (...keys: string[]) => keys.reduce((sum, key) => sum + (after.get(key) ?? 0) - (before.get(key) ?? 0), 0);
  const mb = (pages: number) => round1((pages * 4096) / 1048576);
  return {
    droppedMb: mb(delta('pgsteal_kswapd', 'pgsteal_direct', 'pgsteal_khugepaged', 'pgsteal_proactive')),
    droppedByWaitingProcessesMb: mb(delta('pgsteal_direct')),
    refaultedMb: mb(delta('workingset_refault_file', 'workingset_refault_anon')),
    majorFaults: delta('pgmajfault'),
    ...(damonBefore !== undefined && damonAfter !== undefined ? { damonPagedOutMb: round1((damonAfter - damonBefore) / 1048576) } : {}),
  };
}

/**
 * What else ran during a round: the processes that are neither the services, nor PostgreSQL's, nor this benchmark,
 * by name, with their CPU ms (the three busiest).
 */
function otherProcessesSince(before: Map<string, { ticks: number }>, excluded: Set<string>): { name: string; ms: number }[] {
  const byName = new Map<string, number>();
  for (const [pid, now] of processTicks()) {
    if (excluded.has(pid) || now.name === 'postgres') continue;
    const used = Math.max(0, now.ticks - (before.get(pid)?.ticks ?? 0)) * TICK_MS;
    if (used > 0) byName.set(now.name, (byName.get(now.name) ?? 0) + used);
  }
  return [...byName].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms).slice(0, 3);
}

/**
 * The machine's stall time so far (Linux pressure stall information, microseconds): some task waiting for a CPU, some
 * or every task waiting for I/O. Undefined where the kernel does not report it.
 */
function pressure(): { cpuSome: number; ioSome: number; ioFull: number } | undefined {
  try {
    const total = (file: string, kind: 'some' | 'full') => Number(/total=(\d+)/.exec(readFileSync(file, 'utf8').split('\n').find((line) => line.startsWith(kind)) ?? '')?.[1] ?? NaN);
    return { cpuSome: total('/proc/pressure/cpu', 'some'), ioSome: total('/proc/pressure/io', 'some'), ioFull: total('/proc/pressure/io', 'full') };
  } catch {
    return undefined;
  }
}

/** The PostgreSQL server's checkpoints, buffers written and WAL flushes so far (--large). */
async function serverActivity(): Promise<{ checkpoints: number; buffersWritten: number; walSyncs: number } | undefined> {
  if (!large) return undefined;
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: SEED_SERVER });
  await client.connect();
  try {
    const { rows: [row] } = await client.query<{ checkpoints: string; written: string; syncs: string }>(
      `SELECT (checkpoints_timed + checkpoints_req)::text AS checkpoints, (buffers_checkpoint + buffers_clean + buffers_backend)::text AS written,
              (SELECT wal_sync FROM pg_stat_wal)::text AS syncs FROM pg_stat_bgwriter`);
    return { checkpoints: Number(row!.checkpoints), buffersWritten: Number(row!.written), walSyncs: Number(row!.syncs) };
  } finally {
    await client.end();
  }
}

const warmed = new Set<string>();

/** The fixed rate of each query (open loop), or undefined (closed loop); --rate half sets it once capacity is measured. */
const rates: Record<string, number | undefined> = Object.fromEntries(queries.map((q) => [q, values.rate && values.rate !== 'half' ? Number(values.rate) : undefined]));
if (values.rate && values.rate !== 'half' && !(Number(values.rate) > 0)) throw new Error('--rate must be a number of requests per second, or half');

async function measure(stack: ProcessStack, set: string, queryName: string, mode: Mode, patients: string[], metricsPorts: Record<string, number>): Promise<Round> {
  const token = await stack.token({ sub: 'bench-clinician', role: 'clinician', org: values.org });
  const query = QUERIES[queryName]!;
  const base = stack.url.replace(/\/graphql$/, '');
  let next = 0;
  /** Sends one request; answers whether it succeeded and the request id the gateway gave it. */
  const send = async (): Promise<{ ok: boolean; requestId: string | null }> => {
    const id = patients[next++ % patients.length]!;
    if ('fhir' in query) {
      const response = await fetch(base + query.fhir(id), { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
      const body = (await response.json()) as { resourceType?: string; issue?: unknown[] };
      const ok = response.ok && body.resourceType === 'Bundle';
      if (!ok && errorSamples.length < 3) errorSamples.push(`${response.status} ${JSON.stringify(body.issue?.[0] ?? body).slice(0, 200)}`);
      return { ok, requestId: response.headers.get('x-request-id') };
    }
    const response = await fetch(stack.url, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: query.graphql, variables: { id } }),
    });
    const body = (await response.json()) as { errors?: { message?: string; extensions?: { code?: string; service?: string } }[]; data?: { patient: unknown } };
    const ok = response.ok && !body.errors && Boolean(body.data?.patient);
    if (!ok && errorSamples.length < 3) errorSamples.push(`${response.status} ${JSON.stringify(body.errors?.[0] ?? 'no patient').slice(0, 200)}`);
    return { ok, requestId: response.headers.get('x-request-id') };
  };
  const errorSamples: string[] = [];
  // The first round of a stack and query warms it up for --warmup seconds (the JIT compiles the hot paths, pools fill,
  // the pages a query reads come into memory); later ones briefly.
  const warmupKey = `${set}/${queryName}/${mode}`;
  const warmupEnd = Date.now() + (warmed.has(warmupKey) ? 2 : Number(values.warmup)) * 1000;
  warmed.add(warmupKey);
  while (Date.now() < warmupEnd) await Promise.all(Array.from({ length: 4 }, send));

  const metricsBefore = await snapshotMetrics(metricsPorts);
  const serverBefore = await serverActivity();
  const pressureBefore = pressure();
  const cpuBefore = Object.fromEntries(SERVICES.map((s) => [s, stack.cpuMs(s)]));
  const postgresBefore = postgresTicks();
  const processesBefore = processTicks();
  const vmBefore = vmstat();
  const damonBefore = damonAppliedBytes();
  const clientBefore = process.cpuUsage();
  const machineBefore = machineCpuMs();
  const logFiles = Object.fromEntries(SERVICES.flatMap((s) => (stack.services[s].logFile ? [[s, stack.services[s].logFile!]] : [])));
  const offsetsBefore = logOffsets(logFiles);
  const latencies: number[] = [];
  const samples: ClientSample[] = [];
  /** Counts a request's answer: its latency from `due` (performance.now() time). */
  const answered = (due: number) => ({ ok, requestId }: { ok: boolean; requestId: string | null }) => {
    const latencyMs = performance.now() - due;
    latencies.push(latencyMs);
    samples.push({ requestId, scheduledAt: performance.timeOrigin + due, latencyMs });
    if (!ok) errors++;
  };
  let errors = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const rate = rates[queryName];
  if (rate) {
    // Open loop: requests leave on schedule whatever the answers; latency counts from the scheduled time.
    const interval = 1000 / rate;
    const inFlight: Promise<void>[] = [];
    for (let at = started; at < end; at += interval) {
      const wait = at - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const scheduled = at;
      inFlight.push(send().then(answered(scheduled), () => { errors++; }));
    }
    await Promise.all(inFlight);
  } else {
    await Promise.all(Array.from({ length: Number(values.connections) }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        answered(t)(await send().catch(() => ({ ok: false, requestId: null })));
      }
    }));
  }
  const elapsed = (performance.now() - started) / 1000;
  const diagnosis = diagnose(metricsBefore, await snapshotMetrics(metricsPorts), latencies.length);
  const pressureAfter = pressure();
  const serverAfter = await serverActivity();
  // Stall time as a share of the round: 10% of CPU "some" means a task was waiting for a CPU 10% of the time.
  const stalled = (key: 'cpuSome' | 'ioSome' | 'ioFull') => pressureBefore && pressureAfter ? round1((pressureAfter[key] - pressureBefore[key]) / 10 / (elapsed * 1000)) : undefined;
  const stalls: Round['stalls'] = {
    cpuSomePercent: stalled('cpuSome'), ioSomePercent: stalled('ioSome'), ioFullPercent: stalled('ioFull'),
    ...(serverBefore && serverAfter ? {
      checkpoints: serverAfter.checkpoints - serverBefore.checkpoints,
      buffersWrittenPerRequest: round1((serverAfter.buffersWritten - serverBefore.buffersWritten) / latencies.length),
      walFlushesPerRequest: round1((serverAfter.walSyncs - serverBefore.walSyncs) / latencies.length),
    } : {}),
  };
  const cpu = Object.fromEntries(SERVICES.map((s) => [s, (stack.cpuMs(s) - cpuBefore[s]!) / latencies.length])) as Record<ServiceName, number>;
  const postgres = postgresCpuMsSince(postgresBefore);
  const postgresMs = postgres.total / latencies.length;
  // Each subgraph's database (whatever the set's prefix), so the capacity of one primary per subgraph can be read off.
  const postgresBySubgraph = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, round1(Object.entries(postgres.byDatabase)
    .filter(([database]) => database.endsWith(name.replace('-', '_')) && (!large || database === `${set}${name.replace('-', '_')}`))
    .reduce((sum, [, ms]) => sum + ms, 0) / latencies.length)])) as Record<SubgraphName, number>;
  const clientUsage = process.cpuUsage(clientBefore);
  const clientMs = (clientUsage.user + clientUsage.system) / 1000 / latencies.length;
  const machine = machineCpuMs();
  stalls.stealPercent = round1((100 * (machine.steal - machineBefore.steal)) / Math.max(1, machine.all - machineBefore.all));
  stalls.reclaim = reclaimSince(vmBefore, damonBefore);
  stalls.otherProcesses = otherProcessesSince(processesBefore, new Set([String(process.pid), ...SERVICES.map((s) => String(stack.services[s].child.pid))]));
  const machineBusyMs = (machine.busy - machineBefore.busy) / latencies.length;
  const servicesMs = SERVICES.reduce((sum, s) => sum + cpu[s], 0);
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => round1(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  if (errorSamples.length) console.log(`  errors (first ${errorSamples.length}): ${errorSamples.join(' | ')}`);
  // After the round's figures are read: the services log a request when its answer has left, and their lines leave
  // within 250 ms (lib/runtime/logger.ts).
  await new Promise((resolve) => setTimeout(resolve, 500));
  const slow = Object.keys(logFiles).length ? slowRequests(samples, logsSince(logFiles, offsetsBefore)) : undefined;
  return {
    set, query: queryName, mode, requests: latencies.length, errors, rps: round1(latencies.length / elapsed), p50: pick(0.5), p95: pick(0.95), p99: pick(0.99),
    cpuMsPerRequest: { ...Object.fromEntries(SERVICES.map((s) => [s, round1(cpu[s])])), total: round1(SERVICES.reduce((sum, s) => sum + cpu[s], 0)) } as Round['cpuMsPerRequest'],
    rssMb: Object.fromEntries(SERVICES.map((s) => [s, Math.round(stack.rssMb(s))])) as Record<ServiceName, number>,
    diagnosis,
    slowRequests: slow,
    stalls,
    postgresMsBySubgraph: postgresBySubgraph,
    elsewhere: {
      postgresMs: round1(postgresMs), clientMs: round1(clientMs), otherMs: round1(Math.max(0, machineBusyMs - servicesMs - postgresMs - clientMs)),
      machineBusyPercent: Math.round((100 * (machine.busy - machineBefore.busy)) / (machine.all - machineBefore.all)),
    },
  };
}

/** One line per service: GC time per request and long pauses, event-loop delay, slow statements, the audit append. */
function describeDiagnosis(diagnosis: Record<string, ServiceDiagnosis>): string {
  return Object.entries(diagnosis).map(([service, d]) => `${service}: GC ${d.gcMsPerRequest} ms/req (${d.gcPauses10ms} ≥10 ms, ${d.gcPauses100ms} ≥100 ms), loop p99/max ${d.loopDelayP99Ms}/${d.loopDelayMaxMs} ms, SQL ${d.dbMsPerRequest} ms/req (${d.dbStatements50ms} ≥50 ms)`
    + (d.auditP99Ms === undefined ? '' : `, audit p99 ≤${d.auditP99Ms} ms (${d.audit50ms} ≥50 ms)`)).join('\n  ');
}

/** One line: what the machine, its kernel and the database server did during a round. */
function describeStalls(st: Round['stalls']): string {
  return `machine: waiting for a CPU ${st.cpuSomePercent ?? '?'}% of the time, for I/O ${st.ioSomePercent ?? '?'}% (all tasks ${st.ioFullPercent ?? '?'}%), steal ${st.stealPercent ?? '?'}%; `
    + `busiest other processes ${(st.otherProcesses ?? []).map((p) => `${p.name} ${p.ms} ms`).join(', ') || 'none'}`
    + (st.reclaim ? `; memory reclaim: ${st.reclaim.droppedMb} MB of pages dropped (${st.reclaim.droppedByWaitingProcessesMb} MB by processes waiting for memory), ${st.reclaim.refaultedMb} MB read back, ${st.reclaim.majorFaults} major faults`
      + (st.reclaim.damonPagedOutMb === undefined ? '' : `, ${st.reclaim.damonPagedOutMb} MB paged out by DAMON`) : '')
    + (st.checkpoints === undefined ? '' : `; PostgreSQL: ${st.checkpoints} checkpoints, ${st.buffersWrittenPerRequest} buffers written and ${st.walFlushesPerRequest} WAL flushes per request`);
}

const compiledDir = values.compiled ? compileProduct() : undefined;
if (large && !existsSync('/proc/self/stat')) throw new Error('the benchmark reads CPU time from /proc (Linux)');
console.log(`${queries.join(', ')} ${queries.length > 1 ? 'queries' : 'query'}, ${values.rate === 'half' ? 'fixed rate: half of the capacity measured first' : values.rate ? `fixed rate ${values.rate} req/s` : `${values.connections} connections`}, ${seconds} s × ${values.rounds} rounds per mode (${modes.join(', ')}), `
  + `${large ? `PostgreSQL large set${sets.length > 1 ? 's' : ''} ${sets.join(', ')}` : 'PGlite, 500 patients'}, ${values.compiled ? 'compiled JavaScript' : 'tsx'}, clinician at ${values.org}, ${os.cpus().length} CPUs`);

/** What a round is labelled with: the set and query when several are measured, and the mode. */
const variant = (set: string, query: string, mode: Mode) => [sets.length > 1 ? set : '', queries.length > 1 ? query : '', label(mode)].filter(Boolean).join(' ');
const stacks: Record<string, ProcessStack> = {};
const stackOf = (set: string, mode: Mode) => stacks[`${set}/${mode}`]!;
const rounds: Round[] = [];
const sink = modes.includes('traced') ? await startTelemetrySink() : undefined;
let stopScraping = () => undefined as void;
// Every stack serves /metrics, as in production, on ports of its own: 9500 + 10 × the stack's index + the service's index.
// The rounds read them for their diagnosis (scripts/bench-diagnosis.ts); the traced mode also has them scraped throughout.
const metricsPortsOf = (stackIndex: number) => Object.fromEntries(SERVICES.map((name, i) => [name, 9500 + 10 * stackIndex + i]));
const metricsEnv = (ports: Record<string, number>) => Object.fromEntries([GATEWAY, ...SUBGRAPH_NAMES.map((n) => SUBGRAPHS[n])].map((service, i) => [`${service.envPrefix}_METRICS_PORT`, String(ports[SERVICES[i]!])]));
const metricsPorts: Record<string, Record<string, number>> = {};
const runLogs = path.resolve('.data', 'bench-logs', new Date().toISOString().replace(/[:.]/g, '-'));
/** A fresh directory for one stack's service logs, under .data/bench-logs/<this run>. */
const logDirectory = (name: string) => {
  const directory = path.join(runLogs, name);
  mkdirSync(directory, { recursive: true });
  return directory;
};
try {
  for (const set of sets) for (const mode of modes) {
    const ports = (metricsPorts[`${set}/${mode}`] = metricsPortsOf(Object.keys(metricsPorts).length));
    console.log(`starting the services (${[large ? set : '', label(mode)].filter(Boolean).join(', ')})...`);
    stacks[`${set}/${mode}`] = await startProcessStack({
      patients: large ? undefined : 500,
      databaseUrls: large ? largeSetUrls(set) : undefined,
      // Consent off: the benchmark's own entry replaces the policy (scripts/bench-service.ts), which only development mode accepts.
      development: mode === 'off',
      serviceScript: mode === 'off' ? 'bench-service' : 'service',
      env: {
        LOG_LEVEL: mode === 'silent' ? 'silent' : values['log-level'],
        ...metricsEnv(ports),
        ...(mode === 'traced' ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink!.url } : {}),
        ...(mode === 'shared-guard' ? { REPLAY_GUARD_REDIS_URL: REPLAY_GUARD_REDIS } : {}),
        ...(values.profile && mode === 'on' ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(values.profile)}` } : {}),
      },
      compiledDir,
      // Each service's log in a file of its own: the rounds read back their requests' lines (where the slowest went).
      output: { directory: logDirectory(`${set || 'pglite'}-${mode}`) },
    });
  }
  if (sink) stopScraping = sink.scrape(Object.entries(metricsPorts).filter(([key]) => key.endsWith('/traced')).flatMap(([, ports]) => Object.values(ports)));
  const patients = Object.fromEntries(await Promise.all(sets.map(async (set) => [set, await patientsOf(stackOf(set, modes[0]!), values.org, { large, count: 500 })] as const)));
  for (const set of sets) if (patients[set]!.length === 0) throw new Error(`no patient registered at ${values.org}${large ? ` in ${set}` : ''}`);
  if (values.rate === 'half') {
    for (const query of queries) {
      const capacity = await measure(stackOf(sets[0]!, modes[0]!), sets[0]!, query, modes[0]!, patients[sets[0]!]!, metricsPorts[`${sets[0]}/${modes[0]}`]!);
      rates[query] = round1(capacity.rps / 2);
      console.log(`capacity ${variant(sets[0]!, query, modes[0]!)} (closed loop, ${values.connections} connections): ${capacity.rps} req/s, CPU ${capacity.cpuMsPerRequest.total} ms/request; the rounds run at ${rates[query]} req/s`);
    }
  }
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const set of sets) for (const query of queries) for (const mode of modes) {
      const result = await measure(stackOf(set, mode), set, query, mode, patients[set]!, metricsPorts[`${set}/${mode}`]!);
      rounds.push(result);
      console.log(`round ${r + 1} ${variant(set, query, mode)}: ${result.rps} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, CPU ${result.cpuMsPerRequest.total} ms/request (gateway ${result.cpuMsPerRequest.gateway}; PostgreSQL ${result.elsewhere.postgresMs}, client ${result.elsewhere.clientMs}, other ${result.elsewhere.otherMs}; machine ${result.elsewhere.machineBusyPercent}% busy), errors ${result.errors}`);
      console.log(`  ${describeDiagnosis(result.diagnosis)}`);
      if (result.slowRequests) console.log(`  ${describeSlowRequests(result.slowRequests)}`);
      console.log(`  ${describeStalls(result.stalls)}`);
    }
  }
} finally {
  const profiled = Object.entries(stacks).filter(([key]) => key.endsWith('/on')).map(([, stack]) => stack);
  if (values.profile && profiled.length) {
    // Profiles are written when a process exits normally: stop the profiled services gracefully first.
    for (const stack of profiled) for (const name of SERVICES) stack.signal(name, 'SIGTERM');
    await Promise.all(profiled.flatMap((stack) => SERVICES.map((name) => stack.exited(name, 30_000))));
    console.log(`CPU profiles in ${values.profile}: npx tsx scripts/profile-summary.ts ${values.profile}`);
  }
  stopScraping();
  await Promise.all(Object.values(stacks).map((stack) => stack?.close()));
  if (sink) console.log(`spans received by the collector: ${sink.spans()}`);
  await sink?.close();
}

/** Every set, query and mode measured, in order, with its label. */
const variants = sets.flatMap((set) => queries.flatMap((query) => modes.map((mode) => ({ set, query, mode, key: variant(set, query, mode) }))));
const summary = Object.fromEntries(variants.map(({ set, query, mode, key }) => {
  const of = rounds.filter((r) => r.set === set && r.query === query && r.mode === mode);
  const med = (f: (r: Round) => number) => round1(median(of.map(f)));
  return [key, {
    rps: med((r) => r.rps), p50: med((r) => r.p50), p95: med((r) => r.p95), p99: med((r) => r.p99), errors: of.reduce((n, r) => n + r.errors, 0),
    cpuMsPerRequest: Object.fromEntries([...SERVICES, 'total'].map((s) => [s, med((r) => r.cpuMsPerRequest[s as ServiceName | 'total'])])),
    rssMb: Object.fromEntries(SERVICES.map((s) => [s, med((r) => r.rssMb[s])])),
    postgresMsBySubgraph: Object.fromEntries(SUBGRAPH_NAMES.map((s) => [s, med((r) => r.postgresMsBySubgraph[s])])),
    elsewhere: {
      postgresMs: med((r) => r.elsewhere.postgresMs), clientMs: med((r) => r.elsewhere.clientMs), otherMs: med((r) => r.elsewhere.otherMs),
      machineBusyPercent: med((r) => r.elsewhere.machineBusyPercent),
    },
  }];
}));
const table = (pick: (s: (typeof summary)[string]) => object) => Object.fromEntries(variants.map(({ key }) => [key, pick(summary[key]!)]));
console.log('\nMedians:');
console.table(table((s) => ({ 'req/s': s.rps, 'p50 ms': s.p50, 'p95 ms': s.p95, 'p99 ms': s.p99, errors: s.errors })));
console.log('CPU ms per request:');
console.table(table((s) => s.cpuMsPerRequest));
console.log('CPU ms per request elsewhere on the machine (PostgreSQL server, this benchmark\'s client, other processes) and how busy the CPUs were:');
console.table(table((s) => s.elsewhere));
if (large) {
  console.log('PostgreSQL CPU ms per request, by subgraph database:');
  console.table(table((s) => s.postgresMsBySubgraph));
}
console.log('Resident memory (MB):');
console.table(table((s) => s.rssMb));
for (const set of sets) for (const query of queries) {
  const on = summary[variant(set, query, 'on')];
  const off = summary[variant(set, query, 'off')];
  const traced = summary[variant(set, query, 'traced')];
  const silent = summary[variant(set, query, 'silent')];
  const sharedGuard = summary[variant(set, query, 'shared-guard')];
  const of = [sets.length > 1 ? set : '', queries.length > 1 ? query : ''].filter(Boolean).join(' ');
  const prefix = of ? `${of}: ` : '';
  if (on && off) console.log(`${prefix}Consent and audit cost ${(100 * (1 - on.rps / off.rps)).toFixed(0)}% of throughput (${on.rps} vs ${off.rps} req/s).`);
  if (on && traced) console.log(`${prefix}Tracing (every request sampled, exported) and scraping cost ${(100 * (1 - traced.rps / on.rps)).toFixed(0)}% of throughput, ${round1(traced.cpuMsPerRequest.total! - on.cpuMsPerRequest.total!)} ms CPU per request.`);
  if (on && sharedGuard) console.log(`${prefix}The replay guard on Redis (every replica's) instead of each process's own costs ${round1(sharedGuard.cpuMsPerRequest.total! - on.cpuMsPerRequest.total!)} ms CPU per request, p50 ${round1(sharedGuard.p50 - on.p50)} ms (${on.rps} vs ${sharedGuard.rps} req/s).`);
  if (on && silent) console.log(`${prefix}Request logging costs ${(100 * (1 - on.rps / silent.rps)).toFixed(0)}% of throughput, ${round1(on.cpuMsPerRequest.total! - silent.cpuMsPerRequest.total!)} ms CPU per request.`);
}
if (sets.length > 1) {
  // The scaling check (issue 23): each set against the first, per query and mode, on CPU per request (services and
  // PostgreSQL together) and on p99; at a fixed rate the two are what a bigger set would change.
  const change = (x: number, y: number) => `${((100 * (y - x)) / (x || 1)).toFixed(0)}%`;
  console.log(`\nEach set against ${sets[0]} (CPU: the six services and PostgreSQL per request):`);
  console.table(Object.fromEntries(sets.slice(1).flatMap((set) => queries.flatMap((query) => modes.map((mode) => {
    const a = summary[variant(sets[0]!, query, mode)]!;
    const b = summary[variant(set, query, mode)]!;
    const cpuA = round1(a.cpuMsPerRequest.total! + a.elsewhere.postgresMs);
    const cpuB = round1(b.cpuMsPerRequest.total! + b.elsewhere.postgresMs);
    return [`${query} ${label(mode)}`, { [`CPU ms ${sets[0]}`]: cpuA, [`CPU ms ${set}`]: cpuB, 'CPU change': change(cpuA, cpuB), [`p99 ms ${sets[0]}`]: a.p99, [`p99 ms ${set}`]: b.p99, 'p99 change': change(a.p99, b.p99) }];
  })))));
}

const result = {
  date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model,
  options: { ...values, json: undefined, compare: undefined }, rates, summary, rounds,
};
if (values.json) {
  writeFileSync(values.json, JSON.stringify(result, null, 2));
  console.log(`wrote ${values.json}`);
}
if (values.compare) {
  const before = JSON.parse(readFileSync(values.compare, 'utf8')) as typeof result;
  console.log(`\nCompared with ${values.compare} (${before.date}):`);
  for (const { key } of variants) {
    const a = before.summary[key];
    const b = summary[key];
    if (!a || !b) continue;
    const change = (x: number, y: number) => `${x} → ${y} (${y >= x ? '+' : ''}${((100 * (y - x)) / (x || 1)).toFixed(0)}%)`;
    console.log(`${key}: req/s ${change(a.rps, b.rps)}, p50 ${change(a.p50, b.p50)}, p99 ${change(a.p99, b.p99)}, CPU/request ${change(a.cpuMsPerRequest.total!, b.cpuMsPerRequest.total!)}`);
  }
}
process.exit(0);
