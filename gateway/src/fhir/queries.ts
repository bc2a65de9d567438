/**
 * The GraphQL operations the FHIR export sends through the gateway.
 *
 * The export is an ordinary client of the supergraph: it asks only for fields
 * of schema/supergraph.graphql, so every consent rule, scope ceiling and audit
 * report of the subgraphs applies to it exactly as to any other caller.
 *
 * One operation fetches the patient and the first page (100, the maximum) of
 * every connection the export plan includes (plan.ts: what the token's scopes
 * name); the next operations ask only for the connections that
 * still have a next page, each from its own cursor. A typical patient needs a
 * single operation, so a typical export leaves a single audit event.
 *
 * Selections are deliberately minimal: every field asked for is a field
 * disclosed (and counted in the audit trail), so nothing is fetched that the
 * FHIR mapping does not use: each resource module (resources/) names the
 * fields it maps. Links between records (a condition's encounter, an
 * observation's report) are read as ids on one side only.
 */
import { RECORD_TYPES, type ConnectionName } from '../../../lib/records/record-types.js';
import type { ExportPlan } from './plan.js';
import { exportSelections } from './resources/index.js';
import { PATIENT_FIELDS } from './resources/patient.js';

/** Page size: the largest `first` the connections accept. */
export const PAGE_SIZE = 100;

export type { ConnectionName } from '../../../lib/records/record-types.js';

/** The Patient connections, in the catalogue's order. */
export const CONNECTION_NAMES: ConnectionName[] = RECORD_TYPES.map((row) => row.connection);

/** Where each connection resumes: absent for the first page, else the previous page's endCursor. */
export type Cursors = Partial<Record<ConnectionName, string | null>>;

/**
 * Builds one operation: the patient's own fields when `patientFields`, and
 * one page of each connection named in `cursors`, with the fields the
 * resource modules map (resources/index.ts). Cursors travel as variables,
 * never spliced into the text, so the operation text is one of a small fixed
 * set (and the subgraph actor tokens bind to text and variables).
 */
export function buildOperation(options: { patientFields: boolean; plan: ExportPlan }, cursors: Cursors): { query: string; variables: Record<string, unknown> } {
  const fields = exportSelections(options.plan);
  const names = CONNECTION_NAMES.filter((name) => name in cursors);
  const variables: Record<string, unknown> = {};
  const declarations = ['$id: ID!'];
  const selections: string[] = options.patientFields ? [PATIENT_FIELDS] : ['id'];
  // `_since` (bulk export): one variable every connection reads, so the operation text stays one of the fixed set.
  const since = options.plan.updatedSince && names.length ? ', updatedSince: $updatedSince' : '';
  if (since) {
    declarations.push('$updatedSince: DateTime');
    variables.updatedSince = options.plan.updatedSince;
  }
  for (const name of names) {
    const variable = `after_${name}`;
    declarations.push(`$${variable}: String`);
    variables[variable] = cursors[name] ?? null;
    selections.push(`${name}(first: ${PAGE_SIZE}, after: $${variable}${since}) { edges { node { ${fields[name] ?? 'id'} } } pageInfo { hasNextPage endCursor } }`);
  }
  const query = `query FhirPatientEverything(${declarations.join(', ')}) {\n  patient(id: $id) {\n${selections.join('\n')}\n  }\n}`;
  return { query, variables };
}

/** The most patients one batch operation names (the `patients` field's own limit). */
export const MAX_BATCH_PATIENTS = 100;

/**
 * The Bulk Data export's operation for several patients at once: the first
 * page of every connection of the plan, and the patient's own fields, for
 * each of `$ids` (Query.patients, one list field, so the subgraphs resolve
 * each connection for all of them in one statement: lib/records/connection.ts).
 * Later pages are asked per patient with buildOperation. The text depends only
 * on the plan; the ids travel as a variable.
 */
export function buildBatchOperation(plan: ExportPlan): { query: string } {
  const fields = exportSelections(plan);
  const selections: string[] = plan.patient ? [PATIENT_FIELDS] : ['id'];
  for (const name of CONNECTION_NAMES.filter((n) => plan.connections.includes(n))) {
    selections.push(`${name}(first: ${PAGE_SIZE}) { edges { node { ${fields[name] ?? 'id'} } } pageInfo { hasNextPage endCursor } }`);
  }
  return { query: `query FhirPatientsEverything($ids: [ID!]!) {\n  patients(ids: $ids) {\n${selections.join('\n')}\n  }\n}` };
}
