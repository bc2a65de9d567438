/**
 * `npx tsx scripts/bench-bundle-memory.ts [--mb 40] [--heap 1024] [--backend postgres|pglite] [--chunked] [--ready-timeout 600]`
 *
 * The peak memory of each service while one large Bundle is published
 * (issue 27: bundles up to FHIR_MAX_BUNDLE_BYTES, default 50 MiB, read with
 * bounded memory). Runs the product as an operator does — the gateway and
 * the five subgraphs as six processes (scripts/process-stack.ts) — and
 * POSTs one hospital's whole record of about --mb MB as a transaction
 * (lib/synthetic/hospital-record.ts), sampling every service's resident
 * memory (/proc VmRSS) every 25 ms. Prints the status, the time, resources
 * per second and each service's baseline and peak resident memory.
 *
 * --heap sets every service's --max-old-space-size (MB) for the run: the
 * images' default (128) is what a Bundle of tens of MB needs raised
 * (docs/records.md, Size). FHIR_MAX_BUNDLE_ENTRIES is raised to fit the
 * Bundle (about 1,000 entries per MB).
 *
 * Also printed: the gateway's growth per MB of Bundle (the measure behind
 * GATEWAY_HEAP_PER_BYTE, lib/ingest/limits.ts) and every service's peak
 * resident memory. --chunked sends the body without Content-Length, as a
 * stream (the gateway cannot know its size before reading it);
 * --ready-timeout (seconds) is how long the services may take to start on a
 * loaded machine.
 */
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DEFAULT_SEED } from '../lib/synthetic/generator.js';
import { hospitalRecord } from '../lib/synthetic/hospital-record.js';
import { startProcessStack, type ServiceName } from './process-stack.js';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '40' },
    heap: { type: 'string', default: '1024' },
    backend: { type: 'string', default: process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite' },
    chunked: { type: 'boolean', default: false },
    'ready-timeout': { type: 'string', default: '600' },
  },
});
const ORG = 'org-county-north';
const megabytes = Number(values.mb);

const record = hospitalRecord(DEFAULT_SEED, 0, { organizationId: ORG, registrySeed: DEFAULT_SEED, targetBytes: megabytes * 1_000_000, run: `m${Date.now()}` });
const body = JSON.stringify(record.bundle);
const bodyMb = Buffer.byteLength(body) / 1e6;
console.log(`Bundle: ${record.resources} entries, ${bodyMb.toFixed(1)} MB${values.chunked ? ' (chunked, no Content-Length)' : ''}; services with --max-old-space-size=${values.heap}, ${values.backend}`);

const stack = await startProcessStack({
  backend: values.backend as 'pglite' | 'postgres', patients: 0, output: 'keep', readyTimeoutMs: Number(values['ready-timeout']) * 1000,
  env: { NODE_OPTIONS: `--max-old-space-size=${values.heap}`, FHIR_MAX_BUNDLE_ENTRIES: String(Math.max(20_000, record.resources + 100)), LOG_LEVEL: 'warn' },
});
const names = Object.keys(stack.services) as ServiceName[];
const baseline = Object.fromEntries(names.map((name) => [name, stack.rssMb(name)]));
const peak = { ...baseline };
const sampler = setInterval(() => {
  for (const name of names) {
    try {
      peak[name] = Math.max(peak[name]!, stack.rssMb(name));
    } catch { /* the process ended: its exit is reported below */ }
  }
}, 25);
try {
  const token = await stack.token({ sub: `${ORG}-his`, role: 'system', org: ORG, client_id: `${ORG}-his`, scope: 'system/*.cru' });
  const started = performance.now();
  // Chunked: the body as a stream of 64 kB pieces, without Content-Length.
  const payload = values.chunked ? Readable.from((function* () {
    for (let at = 0; at < body.length; at += 65_536) yield body.slice(at, at + 65_536);
  })()) : body;
  const response = await fetch(stack.url.replace(/\/graphql$/, '/fhir'), {
    method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` }, body: payload as BodyInit, ...(values.chunked ? { duplex: 'half' } : {}),
  } as RequestInit).catch((error: Error) => ({ status: 0, text: async () => String(error) }));
  const text = await response.text();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  console.log(`status ${response.status} in ${seconds.toFixed(1)} s${response.status === 200 ? `, ${Math.round(record.resources / seconds)} resources/s` : `: ${text.slice(0, 300)}`}`);
  if (response.status === 0) console.log(`gateway exit ${stack.services.gateway.child.exitCode ?? stack.services.gateway.child.signalCode}; its last output: ${stack.services.gateway.output().slice(-1500)}`);
  console.table(Object.fromEntries(names.map((name) => [name, {
    'baseline RSS MB': Math.round(baseline[name]!), 'peak RSS MB': Math.round(peak[name]!), 'growth MB': Math.round(peak[name]! - baseline[name]!),
    'growth per MB of Bundle': Number(((peak[name]! - baseline[name]!) / bodyMb).toFixed(1)),
  }])));
  const gatewayGrowth = (peak.gateway! - baseline.gateway!) / bodyMb;
  console.log(`gateway: ${gatewayGrowth.toFixed(1)} MB of resident memory per MB of Bundle (GATEWAY_HEAP_PER_BYTE is the heap's share of this, with margin: lib/ingest/limits.ts)`);
} finally {
  clearInterval(sampler);
  await stack.close();
}
