/**
 * POST /fhir/{type}/{id}/$meta-delete — removing sensitivity labels is an
 * explicit, audited act (docs/consent.md). Writes keep the labels stored: an
 * update that leaves `meta.security` out changes nothing about them
 * (lib/ingest/participant.ts). Only this operation (FHIR R4's `$meta-delete`,
 * a `Parameters` resource with one `meta` parameter whose `security` lists the
 * labels to remove) takes a label off, for the organisation that produced the
 * record, with an update scope for its type. It runs as a transaction like
 * every write (coordinator.ts): staged at the record's owner, committed with
 * its audit event (LABELS_REMOVED, naming the record and the labels, shown
 * to the patient in `accessLog` and to administrators), then delivered.
 *
 * A record the caller may not see answers exactly like an unknown id (404);
 * a record they see but did not produce, 403. The answer is the record's
 * `meta` afterwards, as a `Parameters` resource (`return`).
 */
import { UNKNOWN_PATIENT, isUuidText } from '../../../../lib/ingest/types.js';
import { ALL_RECORD_TYPES, fhirShapesOf } from '../../../../lib/records/record-types.js';
import type { Route } from '../../../../lib/runtime/http.js';
import type { Logger } from '../../../../lib/runtime/logger.js';
import type { TokenVerifier } from '../../auth.js';
import { parseScopes, scopesAllowWrite, type Category } from '../../../../lib/trust/scopes.js';
import type { SubgraphName } from '../../../../lib/runtime/services.js';
import { sensitivityLabelOf, type SensitivityLabel } from '../../../../lib/records/terminology.js';
import { FHIR_JSON } from '../outcome.js';
import { securityLabels } from '../terminology.js';
import { statusOf, TransactionFailed, type Coordinator } from './coordinator.js';
import type { Issue, MappedEntry } from './map.js';
import { fhirWriteRoute, outcomeOf } from './write-route.js';

/** The owner's kind of record (its publishing handler, lib/ingest/participant.ts) of each labelled record type. */
const HANDLER_KIND: Partial<Record<string, string>> = {
  Encounter: 'encounter', Condition: 'condition', AllergyIntolerance: 'allergy', Referral: 'referral', Observation: 'observation',
  DiagnosticReport: 'diagnostic-report', ImagingReport: 'imaging-report', ImagingStudy: 'imaging-study', Immunization: 'immunization',
  ProgramEnrollment: 'enrollment', ClinicalNote: 'clinical-note',
  MedicationRequest: 'medicationRequest', MedicationAdministration: 'medicationAdministration', MedicationStatement: 'medicationStatement',
};

/**
 * Where each labelled FHIR resource type lives, from the catalogue (lib/records/record-types.ts): every published record
 * type but the Patient (a DiagnosticReport is a lab report at labs, or a radiology report at imaging).
 */
const LABELLED: Record<string, { owner: SubgraphName; kind: string; category: Category }[]> = {};
for (const row of ALL_RECORD_TYPES) {
  const kind = HANDLER_KIND[row.graphqlType];
  if (!row.published || !kind) continue;
  for (const shape of fhirShapesOf(row)) (LABELLED[shape.resourceType] ??= []).push({ owner: row.owner, kind, category: row.category });
}

const PATH = /^\/fhir\/([A-Za-z]+)\/([^/]+)\/\$meta-delete$/;

export interface MetaDeleteOptions {
  coordinator: Coordinator;
  verifyToken: TokenVerifier;
  logger?: Logger;
}

/** The labels a `$meta-delete` Parameters resource names, or the issue with it. */
function labelsToRemove(body: unknown): SensitivityLabel[] | Issue {
  const bad = (message: string, expression = 'Parameters'): Issue => ({ index: -1, status: 400, code: 'invalid', message, expression });
  const parameters = body as { resourceType?: unknown; parameter?: unknown } | null;
  if (parameters?.resourceType !== 'Parameters' || !Array.isArray(parameters.parameter)) return bad('Send a Parameters resource with one meta parameter (FHIR $meta-delete)');
  const meta = parameters.parameter.find((p: { name?: unknown }) => p?.name === 'meta') as { valueMeta?: { security?: unknown } } | undefined;
  const security = meta?.valueMeta?.security;
  if (!Array.isArray(security) || !security.length) return bad('The meta parameter lists the labels to remove in valueMeta.security', 'Parameters.parameter');
  const labels: SensitivityLabel[] = [];
  for (const [n, coding] of security.entries()) {
    const label = coding && typeof coding === 'object' ? sensitivityLabelOf(coding as { system?: unknown; code?: unknown }) : undefined;
    if (!label) return bad('Name sensitivity labels: HL7 v3 ActCode (HIV, PSY, ETH, GDIS, SDV, SEX, STD) or v3-Confidentiality V', `Parameters.parameter.valueMeta.security[${n}]`);
    labels.push(label);
  }
  return [...new Set(labels)];
}

export function metaDeleteRoute(options: MetaDeleteOptions): Route {
  const reply = (status: number, resource: unknown) => ({ status, body: JSON.stringify(resource), contentType: FHIR_JSON, headers: {} });
  const fail = (status: number, code: Issue['code'], message: string, expression = '') => reply(status, outcomeOf([{ index: -1, status, code, message, expression }]));
  return fhirWriteRoute(options, (request) => {
    const match = PATH.exec(request.url.pathname);
    if (!match) return undefined;
    if (request.method !== 'POST') return fail(405, 'not-supported', 'POST a Parameters resource to $meta-delete');
    if (!LABELLED[match[1]!]) return fail(404, 'not-supported', `${match[1]} carries no sensitivity labels here (labelled types: ${Object.keys(LABELLED).join(', ')})`);
    return `FHIR $meta-delete ${match[1]}`;
  }, async ({ request, caller, body }) => {
    const [, type, rawId] = PATH.exec(request.url.pathname) as unknown as [string, string, string];
    const places = LABELLED[type]!;
    const labels = labelsToRemove(body);
    if (!Array.isArray(labels)) return reply(labels.status, outcomeOf([labels]));
    const id = decodeURIComponent(rawId).toLowerCase();
    if (!isUuidText(id)) return fail(400, 'invalid', `${type} ids are UUIDs`, `${type}.id`);
    const scopes = parseScopes(caller.scope);
    const allowed = places.filter((p) => scopesAllowWrite(scopes, 'update', type, p.category));
    if (!allowed.length) return fail(403, 'forbidden', `The token's scopes do not allow update of ${type}`);
    let failure: TransactionFailed | null = null;
    for (const place of allowed) {
      const entry: MappedEntry = {
        index: 0, path: type, resourceType: type, kind: place.kind, owner: place.owner, op: 'relabel', id, category: place.category,
        ifNoneExist: null, identifiers: [], record: { remove: labels }, refs: {}, patient: { id: UNKNOWN_PATIENT }, patientExpression: `${type}.id`,
      };
      try {
        const result = await options.coordinator.run(caller, request.requestId, [entry]);
        const remaining = result.results[0]?.security?.remaining ?? [];
        return reply(200, { resourceType: 'Parameters', parameter: [{ name: 'return', valueMeta: { security: securityLabels(remaining) } }] });
      } catch (error) {
        if (!(error instanceof TransactionFailed)) throw error;
        failure = error;
        // A DiagnosticReport unknown at labs may be a radiology report at imaging.
        if (error.status !== 404) break;
      }
    }
    return reply(failure!.status, outcomeOf(failure!.issues.map((i) => ({ ...i, status: statusOf([i]) }))));
  });
}
