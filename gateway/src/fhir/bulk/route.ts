/**
 * FHIR Bulk Data export (Bulk Data Access IG v2), docs/bulk-export.md:
 *
 *   GET  /fhir/Group                        the Groups (programmes' cohorts) the caller may export
 *   GET  /fhir/Group/{id}                   one of them
 *   GET|POST /fhir/Group/{id}/$export       kick-off: a programme's cohort
 *   GET|POST /fhir/Patient/$export          kick-off: every patient of every cohort the caller may export
 *   GET|POST /fhir/$export                  kick-off: system level, what the caller's scopes and consent allow
 *   GET    /fhir/$export-status/{id}        status: 202 while running, 200 + manifest when done
 *   DELETE /fhir/$export-status/{id}        cancel (202; then 404)
 *   GET    /fhir/$export-file/{id}/{n}      one NDJSON file of the manifest
 *
 * Callers: public-health staff and institutions' systems (SMART Backend
 * Services, `system/` scopes). Everything they receive is read by the
 * worker (worker.ts) through the gateway's GraphQL pipeline as them.
 */
import { randomUUID } from 'node:crypto';
import type { ApolloServer } from '@apollo/server';
import type { Actor } from '../../../../lib/trust/actor.js';
import { parseScopes } from '../../../../lib/trust/scopes.js';
import { RESPONSE_SENT, type HttpRequestInfo, type Route } from '../../../../lib/runtime/http.js';
import type { Logger } from '../../../../lib/runtime/logger.js';
import type { TokenVerifier } from '../../auth.js';
import type { GatewayContext } from '../../context.js';
import { errors, FHIR_JSON, FhirError, fhirBase, fhirCaller, fhirReply, operationOutcome } from '../outcome.js';
import type { BulkExportSettings } from './config.js';
import { parametersResource, parseKickoff } from './parameters.js';
import type { ExportStorage } from './storage.js';
import type { ExportJob, ExportLevel, JobStore } from './store.js';
import { pipelineExecutor } from '../collect.js';
import { exportableGroups, type ExportWorker } from './worker.js';

export interface BulkExportRouteOptions {
  apollo: ApolloServer<GatewayContext>;
  verifyToken: TokenVerifier;
  logger: Logger;
  store: JobStore;
  storage: ExportStorage;
  worker: ExportWorker;
  settings: BulkExportSettings;
}

const KICKOFF = /^\/fhir\/(?:(Group)\/([^/]+)\/|(Patient)\/)?(?:\$|%24)export$/;
const STATUS = /^\/fhir\/(?:\$|%24)export-status\/([0-9a-f-]{36})$/;
const FILE = /^\/fhir\/(?:\$|%24)export-file\/([0-9a-f-]{36})\/(\d{1,6})$/;
const GROUP = /^\/fhir\/Group(?:\/([^/]+))?\/?$/;

const preferences = (request: HttpRequestInfo) => String(request.headers.prefer ?? '').split(/[;,]/).map((p) => p.trim().toLowerCase());

/** Who may export: public-health staff and institutions' systems with read scopes (`system/…r…`). */
function mayExport(actor: Actor): void {
  if (actor.role !== 'public_health' && actor.role !== 'system') {
    throw errors.forbidden('Bulk export is for public-health staff and institutions\' systems (SMART Backend Services with system/ read scopes)');
  }
  const reads = parseScopes(actor.scope).clinical.some((s) => s.read);
  if (!reads) throw errors.forbidden('The token has no read scope (system/*.rs or user/*.rs, or per resource type)');
}

/** The caller who started a job: the same subject (and client); anyone else gets the 404 of an unknown job. */
const owns = (job: ExportJob, actor: Actor) => job.ownerSub === actor.sub && (job.ownerClient ?? null) === (actor.clientId ?? null) && job.actor.role === actor.role && job.actor.org === actor.org;

const notFound = () => new FhirError(404, 'not-found', 'No export with this id is visible to you (never started, cancelled, expired, or someone else\'s)');

function groupResource(group: { id: string; name: string; organization: { id: string; name: string | null } | null }) {
  return {
    resourceType: 'Group',
    id: group.id,
    type: 'person',
    actual: true,
    name: group.name,
    ...(group.organization ? { managingEntity: { reference: `Organization/${group.organization.id}`, ...(group.organization.name ? { display: group.organization.name } : {}) } } : {}),
  };
}

export function bulkExportRoute(options: BulkExportRouteOptions): Route {
  const { store, settings } = options;
  return async (request) => {
    const path = request.url.pathname;
    const kickoff = KICKOFF.exec(path);
    const status = STATUS.exec(path);
    const file = FILE.exec(path);
    const group = !kickoff ? GROUP.exec(path) : null;
    if (!kickoff && !status && !file && !group) return undefined;
    try {
      const actor = await fhirCaller(options.verifyToken, request.headers.authorization);
      request.log.actor = { role: actor.role, org: actor.org, clientId: actor.clientId };
      if (group) {
        if (request.method !== 'GET') throw new FhirError(405, 'not-supported', 'Groups are read only (GET)');
        mayExport(actor);
        request.log.operation = 'FHIR Group';
        const groups = await exportableGroups(pipelineExecutor(options.apollo, actor, request.requestId, request.log));
        if (group[1]) {
          const found = groups.find((g) => g.id === decodeURIComponent(group[1]!));
          if (!found) throw new FhirError(404, 'not-found', 'No Group with this id is visible to you');
          return fhirReply(200, groupResource(found));
        }
        const base = fhirBase(request);
        return fhirReply(200, {
          resourceType: 'Bundle', id: request.requestId, type: 'searchset', total: groups.length,
          link: [{ relation: 'self', url: `${base}/Group` }],
          entry: groups.map((g) => ({ fullUrl: `${base}/Group/${g.id}`, resource: groupResource(g), search: { mode: 'match' } })),
        });
      }
      if (kickoff) return await kickOff(request, actor, kickoff);
      if (status) return await statusOf(request, actor, status[1]!);
      return await download(request, actor, file![1]!, Number(file![2]));
    } catch (error) {
      if (error instanceof FhirError) {
        request.log.errorCodes.add(`FHIR_${error.issue.toUpperCase()}`);
        if (error.status >= 500) options.logger.error({ rid: request.requestId, err: error.cause ?? error }, `bulk export request failed: ${error.message}`);
        return fhirReply(error.status, error.outcome(), error.status === 429 ? { 'retry-after': String(Math.max(1, Math.ceil(settings.minPollSeconds))) } : undefined);
      }
      request.log.errorCodes.add('FHIR_EXCEPTION');
      options.logger.error({ rid: request.requestId, err: error }, 'bulk export request failed');
      return fhirReply(500, operationOutcome('error', 'exception', `The request failed (request ${request.requestId}).`));
    }
  };

  async function kickOff(request: HttpRequestInfo, actor: Actor, match: RegExpExecArray) {
    if (request.method !== 'GET' && request.method !== 'POST') throw new FhirError(405, 'not-supported', 'Start an export with GET or POST');
    mayExport(actor);
    const prefer = preferences(request);
    if (!prefer.includes('respond-async')) throw new FhirError(400, 'invalid', 'A bulk export needs the header Prefer: respond-async');
    const accept = String(request.headers.accept ?? 'application/fhir+json');
    if (!accept.split(',').some((a) => ['application/fhir+json', 'application/json', '*/*', 'application/*'].includes(a.split(';')[0]!.trim().toLowerCase()))) {
      throw new FhirError(406, 'not-supported', 'Accept: application/fhir+json');
    }
    const level: ExportLevel = match[1] ? 'group' : match[3] ? 'patient' : 'system';
    const groupId = match[2] ? decodeURIComponent(match[2]) : null;
    request.log.operation = `FHIR ${level} $export`;
    const pairs: [string, string][] = [...request.url.searchParams.entries()];
    if (request.method === 'POST') {
      const contentType = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (request.body.trim() && !['application/fhir+json', 'application/json'].includes(contentType)) throw new FhirError(415, 'not-supported', 'POST a FHIR Parameters resource (application/fhir+json)');
      pairs.push(...parametersResource(request.body));
    }
    const parameters = parseKickoff(pairs, { lenient: prefer.includes('handling=lenient'), post: request.method === 'POST', level });
    if (groupId) {
      const groups = await exportableGroups(pipelineExecutor(options.apollo, actor, request.requestId, request.log));
      if (!groups.some((g) => g.id === groupId)) throw new FhirError(404, 'not-found', 'No Group with this id is visible to you: GET /fhir/Group lists those you may export');
    }
    const base = fhirBase(request);
    const id = randomUUID();
    const created = await store.create({
      id, ownerSub: actor.sub, ownerClient: actor.clientId, actor, level, groupId,
      types: parameters.types, since: parameters.since, typeFilters: parameters.typeFilters, patients: parameters.patients,
      requestUrl: `${base}${request.url.pathname.slice('/fhir'.length)}${request.url.search}`, baseUrl: base, transactionTime: new Date(),
    }, settings.maxActivePerCaller);
    if (created === 'too-many') {
      throw new FhirError(429, 'too-costly', `You already have ${settings.maxActivePerCaller} exports queued or running: wait for one to finish, or cancel one (DELETE its status URL)`);
    }
    options.worker.nudge();
    return fhirReply(202, operationOutcome('information', 'informational', `Export ${id} accepted: poll the Content-Location URL`), { 'content-location': `${base}/$export-status/${id}` });
  }

  async function statusOf(request: HttpRequestInfo, actor: Actor, id: string) {
    const job = await store.get(id);
    if (!job || !owns(job, actor) || job.status === 'cancelled' || (job.expiresAt && job.expiresAt <= new Date())) throw notFound();
    if (request.method === 'DELETE') {
      request.log.operation = 'FHIR $export cancel';
      if (!(await store.cancel(id))) throw notFound();
      return fhirReply(202, operationOutcome('information', 'informational', `Export ${id} cancelled; its files are deleted`));
    }
    if (request.method !== 'GET') throw new FhirError(405, 'not-supported', 'GET polls an export, DELETE cancels it');
    request.log.operation = 'FHIR $export status';
    if (!(await store.poll(id, settings.minPollSeconds))) {
      throw new FhirError(429, 'throttled', `Polled too often: wait ${settings.minPollSeconds} s between polls (Retry-After)`);
    }
    const retryAfter = String(Math.max(1, Math.ceil(settings.minPollSeconds)));
    if (job.status === 'queued' || job.status === 'running') {
      const progress = job.status === 'queued' ? 'queued' : `${job.patientsDone}${job.patientsTotal ? ` of ${job.patientsTotal}` : ''} patients exported`;
      return { status: 202, body: '', contentType: FHIR_JSON, headers: { 'x-progress': progress, 'retry-after': retryAfter } };
    }
    if (job.status === 'failed') {
      return fhirReply(500, operationOutcome('error', 'exception', `The export failed: ${(job.error ?? 'unknown error').replace(/\.$/, '')}. Start it again.`));
    }
    const files = await store.files(id);
    const fileUrl = (seq: number) => `${job.baseUrl}/$export-file/${id}/${seq}`;
    return fhirReply(200, {
      transactionTime: job.transactionTime.toISOString(),
      request: job.requestUrl,
      requiresAccessToken: true,
      output: files.filter((f) => f.kind === 'output').map((f) => ({ type: f.resourceType, url: fileUrl(f.seq), count: f.count })),
      error: files.filter((f) => f.kind === 'error').map((f) => ({ type: 'OperationOutcome', url: fileUrl(f.seq), count: f.count })),
    }, { expires: job.expiresAt!.toUTCString() });
  }

  async function download(request: HttpRequestInfo, actor: Actor, id: string, seq: number): Promise<typeof RESPONSE_SENT> {
    if (request.method !== 'GET') throw new FhirError(405, 'not-supported', 'GET a file');
    request.log.operation = 'FHIR $export file';
    const job = await store.get(id);
    if (!job || !owns(job, actor) || job.status !== 'complete' || !job.expiresAt || job.expiresAt <= new Date()) throw notFound();
    const entry = (await store.files(id)).find((f) => f.seq === seq);
    if (!entry) throw new FhirError(404, 'not-found', 'No such file in this export');
    const stream = await options.storage.read(entry.storageKey);
    if (!stream) throw new FhirError(404, 'not-found', 'The file is gone (expired)');
    const response = request.raw.response;
    response.writeHead(200, { 'content-type': 'application/fhir+ndjson', 'content-length': String(entry.bytes), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    await new Promise<void>((resolve) => {
      stream.on('error', (error) => {
        options.logger.error({ rid: request.requestId, err: error }, 'bulk export file could not be read');
        response.destroy(error);
        resolve();
      });
      response.on('close', () => resolve());
      stream.pipe(response);
    });
    return RESPONSE_SENT;
  }
}
