/**
 * FHIR R4 writes at the gateway's perimeter:
 *
 *   POST /fhir                 a `transaction` (all or nothing) or `batch` (each entry on its own) Bundle
 *   POST /fhir/{type}          create one resource (conditional with the If-None-Exist header)
 *   PUT  /fhir/{type}/{id}     update a record the caller's organisation produced
 *
 * Callers are an institution's system (role `system`, SMART backend
 * services) or clinical staff, with write scopes per resource type
 * (`system/Observation.c`, `user/*.cu`). Every request is validated whole at
 * the gateway (map.ts), then run as a transaction across the owners
 * (coordinator.ts). Answers are FHIR: a transaction-response or
 * batch-response Bundle, or an OperationOutcome whose issues name the entry
 * and the element (FHIRPath) with the HTTP status that fits (400 invalid, 401,
 * 403 scope or organisation, 404, 409 conflict, 412 ifNoneExist matched
 * several, 422 business rule, 503 an owner unavailable).
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../../../../lib/trust/actor.js';
import type { EntryResult } from '../../../../lib/ingest/types.js';
import type { HttpRequestInfo, Route } from '../../../../lib/runtime/http.js';
import type { Logger } from '../../../../lib/runtime/logger.js';
import type { TokenVerifier } from '../../auth.js';
import { FHIR_JSON, type IssueType, type OperationOutcome } from '../outcome.js';
import { Coordinator, statusOf, TransactionFailed, type CoordinatorOptions, type TransactionResult } from './coordinator.js';
import { metaDeleteRoute } from './labels.js';
import { failure, fhirWriteRoute, outcomeOf, reply, statusLine } from './write-route.js';
export { publisher } from './write-route.js';
import { maxBundleEntries } from '../../../../lib/ingest/limits.js';
import { mapEntries, SUPPORTED_TYPES, type BundleContext, type EntryRequest, type Issue } from './map.js';
import { BundleBodyError, bundleParts } from './bundle-stream.js';
import { BundleReader } from './bundle-reader.js';
import { medicationEntriesOf } from '../resources/medication.js';

/** Most entries in one Bundle (FHIR_MAX_BUNDLE_ENTRIES; the body's size cap, FHIR_MAX_BUNDLE_BYTES, is the HTTP service's: lib/ingest/limits.ts). */
const MAX_ENTRIES = maxBundleEntries();

/** The 413 of a publishing body past FHIR_MAX_BUNDLE_BYTES: an OperationOutcome, sent before the body is read to the end. */
export const bundleTooLarge = (limit: number) => ({
  contentType: FHIR_JSON,
  body: JSON.stringify(outcomeOf([{ index: -1, status: 413, code: 'too-costly' as Issue['code'], message: `The request body is larger than ${limit} bytes, the most this gateway accepts now (FHIR_MAX_BUNDLE_BYTES, or less while its memory could not hold a larger Bundle: NODE_OPTIONS --max-old-space-size): split the patient's history into several transactions`, expression: '' }])),
});
/** How often recovery delivers decisions owners have missed (RECOVERY_INTERVAL_MS). */
export const RECOVERY_INTERVAL_MS = Number(process.env.INGEST_RECOVERY_INTERVAL_MS ?? 15_000);

/** Notes and delivery warnings of one entry's result, as the entry response's outcome. */
function entryOutcome(result: EntryResult, undelivered: string[], owner: string | undefined): OperationOutcome | undefined {
  const issues: Issue[] = (result.notes ?? []).map((message) => ({ index: result.index, status: 200, code: 'informational', message, expression: '' }));
  const late = owner && undelivered.includes(owner);
  if (late) issues.push({ index: result.index, status: 200, code: 'transient', message: `Committed; the ${owner} service has not confirmed yet and shows the record once it does`, expression: '' });
  if (!issues.length) return undefined;
  return { resourceType: 'OperationOutcome', issue: issues.map((i) => ({ severity: late && i.code === 'transient' ? 'warning' : 'information', code: i.code as IssueType, diagnostics: i.message })) };
}

/** An entry's response; `owner` is the subgraph that stores it (the catalogue's, as mapping found it: a radiology report is its study's, in imaging). */
const responseOf = (result: EntryResult, transaction: TransactionResult, owner: string | undefined) => {
  const outcome = entryOutcome(result, transaction.undelivered, owner);
  return { status: statusLine(result.outcome === 'created' ? 201 : 200), location: `${result.resourceType}/${result.id}`, ...(outcome ? { outcome } : {}) };
};

export interface IngestService {
  routes: Route[];
  coordinator: Coordinator;
  /** Delivers decisions owners have missed now (recovery runs on its own every RECOVERY_INTERVAL_MS). */
  recover(options?: { staleSeconds?: number }): Promise<{ settled: number; pending: number }>;
  stop(): void;
}

export interface IngestOptions extends CoordinatorOptions {
  verifyToken: TokenVerifier;
  logger?: Logger;
  /** 0 disables the periodic recovery (it can still be run with `recover`). */
  recoveryIntervalMs?: number;
}

export function ingestService(options: IngestOptions): IngestService {
  const coordinator = new Coordinator(options);
  const interval = options.recoveryIntervalMs ?? RECOVERY_INTERVAL_MS;
  let running = false;
  const recover = async (recoverOptions?: { staleSeconds?: number }) => coordinator.recover(recoverOptions);
  const timer = interval > 0 ? setInterval(() => {
    if (running) return;
    running = true;
    recover().catch((error) => options.logger?.warn({ err: error }, 'publishing recovery could not run')).finally(() => { running = false; });
  }, interval) : null;
  timer?.unref();

  /** One transaction over the given entries; the reply when it failed. */
  const transaction = async (actor: Actor, requestId: string, items: Parameters<typeof mapEntries>[0], context: BundleContext) => {
    const issues: Issue[] = [];
    const mapped = mapEntries(items, context, issues);
    if (issues.length) throw new TransactionFailed(statusOf(issues), issues);
    return { mapped, result: await coordinator.run(actor, requestId, mapped) };
  };

  const bundleRoute = fhirWriteRoute(options, (request) => {
    if (request.url.pathname !== '/fhir' && request.url.pathname !== '/fhir/') return undefined;
    return request.method === 'POST' ? 'FHIR Bundle' : failure(405, 'not-supported', 'POST a transaction or batch Bundle to /fhir');
  }, async ({ request, caller }) => {
    // The request id of the response (x-request-id) is the requestId of the write's audit events.
    const requestId = request.requestId;
    const headers = {};
    // Read as it arrives (the HTTP service's streamBody): the body is never held whole (bundle-stream.ts, reader below).
    const reader = new BundleReader(caller, MAX_ENTRIES);
    try {
      for await (const part of bundleParts(request.stream ?? [Buffer.from(request.body)])) {
        const refused = reader.take(part);
        if (refused) return reply(refused.status, outcomeOf([refused]), headers);
      }
    } catch (error) {
      if (error instanceof BundleBodyError) return failure(error.status, error.code, error.message, error.expression);
      throw error;
    }
    const bundle = reader.finish();
    if ('status' in bundle) return reply(bundle.status, outcomeOf([bundle]), headers);
    const { context, count, items } = bundle;

    if (bundle.type === 'transaction') {
      const issues = reader.requestIssues;
      if (issues.length) return reply(statusOf(issues), outcomeOf(issues), headers);
      try {
        const mapped = reader.mapped();
        if (reader.mapIssues.length) throw new TransactionFailed(statusOf(reader.mapIssues), reader.mapIssues);
        const result = await coordinator.run(caller, requestId, mapped);
        if (result.undelivered.length) request.log.errorCodes.add('INGEST_UNDELIVERED');
        const owners = new Map(mapped.map((m) => [m.index, m.owner]));
        const byIndex = new Map(result.results.map((r) => [r.index, r]));
        // A Medication entry is stored with the records that reference it, under the id given here.
        const medications = medicationEntriesOf(context);
        return reply(200, {
          resourceType: 'Bundle', id: result.transactionId, type: 'transaction-response', timestamp: new Date().toISOString(),
          entry: Array.from({ length: count }, (_, index) => {
            const medication = medications.get(index);
            if (medication) return { fullUrl: `urn:uuid:${medication.id}`, response: { status: statusLine(201), location: `Medication/${medication.id}` } };
            const r = byIndex.get(index)!;
            return { fullUrl: `urn:uuid:${r.id}`, response: responseOf(r, result, owners.get(index)) };
          }),
        }, headers);
      } catch (error) {
        if (error instanceof TransactionFailed) return reply(error.status, outcomeOf(error.issues), headers);
        throw error;
      }
    }
    const issues = reader.requestIssues;

    // batch: every entry on its own, in order.
    const responses = [];
    for (const item of items) {
      const own = issues.filter((i) => i.index === item.index);
      if (own.length) {
        responses.push({ response: { status: statusLine(statusOf(own)), outcome: outcomeOf(own) } });
        continue;
      }
      try {
        const { mapped, result } = await transaction(caller, requestId, [item], context);
        const r = result.results[0]!;
        responses.push({ fullUrl: `urn:uuid:${r.id}`, response: responseOf(r, result, mapped[0]?.owner) });
      } catch (error) {
        if (!(error instanceof TransactionFailed)) throw error;
        responses.push({ response: { status: statusLine(error.status), outcome: outcomeOf(error.issues) } });
      }
    }
    return reply(200, { resourceType: 'Bundle', id: randomUUID(), type: 'batch-response', timestamp: new Date().toISOString(), entry: responses }, headers);
  });

  const TYPE_PATH = /^\/fhir\/([A-Za-z]+)(?:\/([^/]+))?$/;
  const resourceRoute = fhirWriteRoute(options, (request) => {
    const match = TYPE_PATH.exec(request.url.pathname);
    if (!match || !(request.method === 'POST' || request.method === 'PUT')) return undefined;
    const [, type, id] = match as unknown as [string, string, string | undefined];
    if ((request.method === 'POST') !== (id === undefined)) {
      return failure(405, 'not-supported', request.method === 'POST' ? 'Create with POST /fhir/{type}' : 'Update with PUT /fhir/{type}/{id}');
    }
    if (!SUPPORTED_TYPES.includes(type)) return failure(404, 'not-supported', `${type} cannot be published here (supported: ${SUPPORTED_TYPES.join(', ')})`);
    return `FHIR ${request.method === 'PUT' ? 'update' : 'create'} ${type}`;
  }, async ({ request, caller, body }) => {
    const [, type, id] = TYPE_PATH.exec(request.url.pathname) as unknown as [string, string, string | undefined];
    const resource = body as { resourceType?: unknown } | null;
    if (resource?.resourceType !== type) return failure(400, 'invalid', `The body must be a ${type}`, `${type}.resourceType`);
    // The request id of the response (x-request-id) is the requestId of the write's audit events.
    const requestId = request.requestId;
    const headers = {};
    const ifNoneExist = request.headers['if-none-exist'];
    const entryRequest: EntryRequest = request.method === 'PUT'
      ? { method: 'PUT', id: decodeURIComponent(id!), expression: `${type}.id` }
      : { method: 'POST', ifNoneExist: typeof ifNoneExist === 'string' ? ifNoneExist : null, expression: 'If-None-Exist' };
    const context: BundleContext = { actor: caller, organizationId: caller.org!, fullUrls: new Map(), independent: true };
    try {
      const { mapped, result } = await transaction(caller, requestId, [{ index: 0, base: type, resource, request: entryRequest }], context);
      const r = result.results[0]!;
      const status = r.outcome === 'created' ? 201 : 200;
      const notes = entryOutcome(r, result.undelivered, mapped[0]?.owner);
      const message = `${r.outcome === 'created' ? 'Created' : r.outcome === 'updated' ? 'Updated' : 'Matched an existing record (If-None-Exist); nothing created:'} ${type}/${r.id}`;
      return reply(status, { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: message }, ...(notes?.issue ?? [])] }, {
        ...headers, location: `${type}/${r.id}`,
      });
    } catch (error) {
      if (error instanceof TransactionFailed) return reply(error.status, outcomeOf(error.issues), headers);
      throw error;
    }
  });

  // Removing sensitivity labels: an explicit, audited act of the producing organisation (labels.ts).
  const metaDelete = metaDeleteRoute({ coordinator, verifyToken: options.verifyToken, logger: options.logger });

  return {
    routes: [bundleRoute, resourceRoute, metaDelete],
    coordinator,
    recover,
    stop: () => {
      if (timer) clearInterval(timer);
    },
  };
}
