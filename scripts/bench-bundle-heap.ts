/**
 * `node --max-old-space-size=<MB> --expose-gc --import tsx scripts/bench-bundle-heap.ts <whole|streamed> [--mb 10]`
 *
 * The gateway's own work on one Bundle, in this process, to find the heap it
 * needs (the measure behind GATEWAY_HEAP_PER_BYTE and
 * GATEWAY_STREAM_HEAP_PER_BYTE, lib/ingest/limits.ts): a hospital's record of
 * about --mb MB (lib/synthetic/hospital-record.ts, written once to the temp
 * directory and read back as bytes, off the heap) is parsed and mapped as the
 * gateway does it — `whole`: the body joined, as text, JSON.parse'd, mapped
 * at once (the path of a body read whole); `streamed`: bundle-stream.ts and
 * bundle-reader.ts over 64 kB chunks — then the owners' stage requests are
 * written as JSON text, as the internal calls send them. Prints the live heap
 * at peak (after a full collection at each step) over the baseline, per byte
 * of Bundle. Run it with decreasing --max-old-space-size to find the smallest
 * heap that gets through (an out-of-memory crash otherwise): that, less the
 * baseline printed, over the Bundle's size, is the factor.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import type { Actor } from '../lib/trust/actor.js';
import { DEFAULT_SEED } from '../lib/synthetic/generator.js';
import { hospitalRecord } from '../lib/synthetic/hospital-record.js';
import { BundleReader } from '../gateway/src/fhir/ingest/bundle-reader.js';
import { bundleParts } from '../gateway/src/fhir/ingest/bundle-stream.js';
import { mapEntries, type BundleContext, type Issue, type MappedEntry } from '../gateway/src/fhir/ingest/map.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { mb: { type: 'string', default: '10' } } });
const mode = positionals[0] === 'whole' ? 'whole' : 'streamed';
const ORG = 'org-county-north';
const file = path.join(os.tmpdir(), `fpr-bundle-heap-${values.mb}.json`);
if (!existsSync(file)) {
  const record = hospitalRecord(DEFAULT_SEED, 0, { organizationId: ORG, registrySeed: DEFAULT_SEED, targetBytes: Number(values.mb) * 1_000_000, run: 'heap' });
  writeFileSync(file, JSON.stringify(record.bundle));
  console.log(`wrote ${file}; run again (the record was built in this process's heap)`);
  process.exit(0);
}
const body = readFileSync(file);
const chunks: Buffer[] = [];
for (let at = 0; at < body.length; at += 65_536) chunks.push(body.subarray(at, at + 65_536));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
gc();
const baseline = getHeapStatistics().used_heap_size;
let peak = baseline;
let steps = 0;
/** The live heap now (after a full collection every `every` steps). */
const sample = (every = 1) => {
  if (++steps % every) return;
  gc();
  peak = Math.max(peak, getHeapStatistics().used_heap_size);
};
const caller: Actor = { sub: `${ORG}-his`, role: 'system', org: ORG, scope: 'system/*.cru', patient: null, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: `${ORG}-his` };
let mapped: MappedEntry[];
let issues: Issue[];
if (mode === 'whole') {
  const text = Buffer.concat(chunks).toString('utf8');
  sample();
  const bundle = JSON.parse(text) as { entry: { fullUrl?: string; resource: { resourceType: string }; request: { ifNoneExist?: string } }[] };
  sample();
  const context: BundleContext = { actor: caller, organizationId: ORG, fullUrls: new Map(), independent: false };
  const items = bundle.entry.map((entry, index) => {
    if (typeof entry.fullUrl === 'string') context.fullUrls.set(entry.fullUrl, { index, resourceType: entry.resource.resourceType, resource: entry.resource });
    return { index, base: `Bundle.entry[${index}].resource`, resource: entry.resource, request: { method: 'POST' as const, expression: `Bundle.entry[${index}].request.url`, ifNoneExist: entry.request.ifNoneExist ?? null } };
  });
  issues = [];
  mapped = mapEntries(items, context, issues);
  sample();
} else {
  const reader = new BundleReader(caller, 1_000_000);
  for await (const part of bundleParts((async function* () { yield* chunks; })())) {
    const refused = reader.take(part);
    if (refused) throw new Error(refused.message);
    sample(400);
  }
  const bundle = reader.finish();
  if ('status' in bundle) throw new Error(bundle.message);
  mapped = reader.mapped();
  issues = [...reader.requestIssues, ...reader.mapIssues];
  sample();
}
// The owners' stage requests, one JSON text each, as the internal calls send them.
const byOwner = new Map<string, MappedEntry[]>();
for (const entry of mapped) byOwner.set(entry.owner, [...(byOwner.get(entry.owner) ?? []), entry]);
const requests = [...byOwner.values()].map((entries) => JSON.stringify({ transactionId: 'heap', entries }));
sample();
console.log(`${mode}: ${(body.length / 1e6).toFixed(1)} MB, ${mapped.length} entries mapped, ${issues.length} issues, owners' requests ${(requests.reduce((n, t) => n + t.length, 0) / 1e6).toFixed(0)} MB; `
  + `baseline heap ${(baseline / 1e6).toFixed(0)} MB, live heap at peak +${((peak - baseline) / 1e6).toFixed(0)} MB = ${((peak - baseline) / body.length).toFixed(1)} bytes per byte`);
