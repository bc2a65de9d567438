/**
 * Helpers of the publishing tests: an institution's transaction Bundle made
 * from a `$everything` export (what a hospital migrating its records would
 * send), the clinical content of an export (to compare two exports of the
 * same records made in different stacks, whose ids differ), and row counts
 * of every owner's tables (to prove that nothing was written).
 */
import http from 'node:http';
import { expect } from 'vitest';
import { RESOURCE_OWNERS } from '../../lib/ingest/types.js';
import { ALL_RECORD_TYPES } from '../../lib/records/record-types.js';
import { SYSTEM } from '../../lib/records/terminology.js';
import { recordIdSystem } from '../../lib/synthetic/fhir-bundles.js';
import type { Database } from '../../lib/runtime/db.js';
import type { SubgraphName } from '../../lib/runtime/services.js';

type Json = Record<string, any>;
export interface FhirBundle { resourceType: string; id: string; type: string; entry: { fullUrl: string; resource: Json; search?: { mode: string } }[] }

export interface FhirAnswer {
  status: number;
  body: Json;
  text: string;
  headers: Headers;
}

/**
 * Sends a FHIR write (or any request) to the gateway at `base()` as an
 * institution's client would: FHIR JSON unless told otherwise; the answer's
 * JSON body, or null when it is not JSON.
 */
/**
 * A FHIR read as a client should make it: GET `path` (relative to the
 * gateway, or a link's absolute URL) as `token`, its JSON, which must come
 * with 200. A 503 `transient` (a service behind the gateway missed its
 * deadline on a busy machine) is retried, as its OperationOutcome asks a
 * client to; any other answer counts.
 */
/** A new `urn:uuid:` fullUrl, for an entry other entries of a transaction reference. */
export const newFullUrl = () => `urn:uuid:${crypto.randomUUID()}`;
/** A transaction entry creating `resource` (POST to its type) under `fullUrl`. */
export const postEntry = (fullUrl: string, resource: Json) => ({ fullUrl, resource, request: { method: 'POST', url: resource.resourceType } });
/** A transaction Bundle of these entries. */
export const transactionBundle = (...entries: Json[]) => ({ resourceType: 'Bundle', type: 'transaction', entry: entries });

export function fhirReader(base: () => string) {
  return async (token: string, path: string): Promise<Json> => {
    let response: Response;
    let body: string;
    for (let attempt = 1; ; attempt++) {
      response = await fetch(path.startsWith('http') ? path : `${base()}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
      body = await response.text();
      if (response.status !== 503 || !body.includes('"transient"') || attempt === 4) break;
      await new Promise((resolve) => setTimeout(resolve, 2000 * attempt));
    }
    expect(response.status, `${path}: ${body.slice(0, 2000)}`).toBe(200);
    return JSON.parse(body) as Json;
  };
}

export function fhirSender(base: () => string) {
  return async (path: string, token: string | null, body: unknown, init: { method?: string; headers?: Record<string, string>; contentType?: string } = {}): Promise<FhirAnswer> => {
    const response = await fetch(`${base()}${path}`, {
      method: init.method ?? 'POST',
      headers: { 'content-type': init.contentType ?? 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let json: Json | null = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: response.status, body: json as Json, text, headers: response.headers };
  };
}

const REGISTRY = /^(Organization|Practitioner)\//;

/** Types an institution publishes (the catalogue's: home measurements and follow-up tasks are not its publications). */
export const PUBLISHED_TYPES = Object.keys(RESOURCE_OWNERS);

/** Whether an exported resource is one `organizationId` produced and may publish. */
function publishable(resource: Json, organizationId: string): boolean {
  if (!PUBLISHED_TYPES.includes(resource.resourceType)) return false;
  if (resource.resourceType === 'Observation' && resource.category?.[0]?.coding?.[0]?.code === 'vital-signs') return false;
  // A referral the organisation received is the referring organisation's record.
  if (resource.resourceType === 'ServiceRequest') return resource.requester?.reference === `Organization/${organizationId}`;
  return true;
}

/**
 * An export (as staff of `organizationId`) rewritten as that institution's
 * transaction: every resource POSTed with its original id as a business
 * identifier and ifNoneExist on it, references between entries as urn:uuid,
 * the Patient with the health card and the organisation's own MRN only.
 */
export function exportToTransaction(exported: FhirBundle, organizationId: string): Json {
  const resources = exported.entry.filter((e) => e.search?.mode === 'match' && publishable(e.resource, organizationId)).map((e) => e.resource);
  const present = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value && typeof value === 'object') {
      const out: Json = {};
      for (const [key, v] of Object.entries(value)) {
        if (key === 'reference' && typeof v === 'string' && present.has(v)) out[key] = `urn:uuid:${v.split('/')[1]}`;
        else out[key] = rewrite(v);
      }
      return out;
    }
    return value;
  };
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((original) => {
      const { id, ...resource } = rewrite(original) as Json;
      if (resource.resourceType === 'Patient') {
        resource.identifier = (resource.identifier ?? []).filter((i: Json) => i.system === SYSTEM.healthCard || i.system === SYSTEM.mrnPrefix + organizationId);
        return { fullUrl: `urn:uuid:${id}`, resource, request: { method: 'POST', url: 'Patient' } };
      }
      const identifier = { system: recordIdSystem(organizationId), value: id };
      resource.identifier = [...(resource.identifier ?? []), identifier];
      return { fullUrl: `urn:uuid:${id}`, resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist: `identifier=${identifier.system}|${identifier.value}` } };
    }),
  };
}

const sortedKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sortedKeys(v)]));
  return value;
};

/**
 * The clinical content of an export, per resource type: each resource
 * without its id, with references to the patient's records reduced to their
 * type (ids differ between stacks; registry references stay), as sorted JSON.
 */
/**
 * A resource as sent, for comparing with what was stored: without
 * `meta.lastUpdated`, which the store sets (docs/last-updated.md); `meta`
 * goes too when nothing else was in it.
 */
export function withoutLastUpdated<T extends Json | undefined>(resource: T): T {
  if (!resource?.meta) return resource;
  const { lastUpdated: _lastUpdated, ...meta } = resource.meta as Json;
  const { meta: _meta, ...rest } = resource as Json;
  return (Object.keys(meta).length ? { ...rest, meta } : rest) as T;
}

export function clinicalContent(exported: FhirBundle, types = PUBLISHED_TYPES, keep: (resource: Json) => boolean = () => true): Record<string, string[]> {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value && typeof value === 'object') {
      const out: Json = {};
      for (const [key, v] of Object.entries(value)) {
        if (key === 'reference' && typeof v === 'string' && !REGISTRY.test(v)) out[key] = v.split('/')[0];
        else if (key === 'meta' && v && typeof v === 'object' && !Array.isArray(v)) {
          // meta.lastUpdated is the store's (when this copy was written), not clinical content.
          const { lastUpdated: _lastUpdated, ...meta } = v as Json;
          if (Object.keys(meta).length) out[key] = strip(meta);
        } else out[key] = strip(v);
      }
      return out;
    }
    return value;
  };
  const content: Record<string, string[]> = {};
  for (const entry of exported.entry) {
    if (entry.search?.mode !== 'match' || !types.includes(entry.resource.resourceType) || !keep(entry.resource)) continue;
    const { id: _id, ...resource } = entry.resource;
    (content[resource.resourceType] ??= []).push(JSON.stringify(sortedKeys(strip(resource))));
  }
  for (const list of Object.values(content)) list.sort();
  return content;
}

/** The tables of every owner that publishing writes (its published record types' and a few of its own), with the staging tables. */
const published = (owner: SubgraphName, ...others: string[]) => [
  ...ALL_RECORD_TYPES.filter((row) => row.owner === owner && row.published).map((row) => row.table), ...others,
  ...(owner === 'identity' ? [] : ['record_identifier']), 'ingest_staged', 'ingest_reservation',
];
export const OWNER_TABLES: Record<SubgraphName, string[]> = {
  identity: published('identity', 'patient_identifier', 'patient_registration', 'patient_match_candidate'),
  encounters: published('encounters'),
  labs: published('labs', 'hl7v2_message'),
  imaging: published('imaging'),
  'public-health': published('public-health'),
};

/** Row counts of every owner's tables, `owner.table` → rows. */
export async function rowCounts(databases: Record<SubgraphName, Database>, owners: readonly SubgraphName[] = Object.keys(OWNER_TABLES) as SubgraphName[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [owner, tables] of (Object.entries(OWNER_TABLES) as [SubgraphName, string[]][]).filter(([owner]) => owners.includes(owner))) {
    for (const table of tables) {
      const [row] = await databases[owner].query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      counts[`${owner}.${table}`] = row!.n;
    }
  }
  return counts;
}

export interface Upload { status: number; body: string; sent: number; sentWhenAnswered: number; error?: string }

/**
 * POSTs a body to /fhir in pieces of at most 64 kB as a client streaming its upload would: chunked (no
 * Content-Length) unless `declare` says otherwise, stopping when the answer arrives; `cutAfter` bytes: the client goes
 * away there. The body is a string, or pieces made as they are sent (a body larger than the test wants to hold).
 */
export function uploadBundle(base: string, token: string, body: string | Iterable<string>, options: { declare?: number; cutAfter?: number } = {}): Promise<Upload> {
  const url = new URL(`${base}/fhir`);
  const pieces = (function* () {
    for (const part of typeof body === 'string' ? [body] : body) {
      const bytes = Buffer.from(part);
      for (let at = 0; at < bytes.length; at += 65_536) yield bytes.subarray(at, at + 65_536);
    }
  })();
  // A keep-alive connection of its own, as browsers and HTTP libraries upload: with `Connection: close` (agent: false)
  // the server closes the socket once its early 413 is sent, and Node's client reports the EPIPE of its next write
  // instead of the answer that arrived first (a race the CI machine lost on both backends). The server reads and drops
  // the rest of a refused body on a keep-alive connection (lib/runtime/http.ts discardRest), so the answer is read.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<Upload>((resolve) => {
    let sent = 0;
    let answered = false;
    let cut = false;
    const headers: Record<string, string | number> = { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` };
    if (options.declare === undefined) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = options.declare;
    const request = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers, agent }, (response) => {
      answered = true;
      const at = sent;
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('end', () => {
        request.destroy();
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), sent, sentWhenAnswered: at });
      });
    });
    request.on('error', (error) => (answered || cut ? undefined : resolve({ status: 0, body: '', sent, sentWhenAnswered: sent, error: error.message })));
    const end = options.cutAfter ?? Infinity;
    const pump = () => {
      while (!answered && sent < end) {
        const next = pieces.next();
        if (next.done) break;
        const piece = next.value.subarray(0, end - sent);
        sent += piece.length;
        if (!request.write(piece)) return void request.once('drain', pump);
      }
      if (answered) return;
      // Cut: the client goes away with the body half sent (its socket closed, no terminating chunk).
      if (options.cutAfter !== undefined) {
        cut = true;
        request.destroy();
        setTimeout(() => resolve({ status: 0, body: '', sent, sentWhenAnswered: sent, error: 'cut' }), 500);
      } else request.end();
    };
    pump();
  }).finally(() => agent.destroy());
}
