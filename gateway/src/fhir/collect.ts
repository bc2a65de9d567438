/**
 * Gathers everything one actor may see of one patient by running GraphQL
 * operations through the gateway's own request pipeline, page by page.
 *
 * Why through the pipeline and not by calling the subgraphs: the pipeline is
 * where the guarantees live. The same operation executor as POST /graphql
 * runs the query limits, the introspection guard, the actor-signing data
 * sources (so every subgraph applies its consent rules to this actor) and the
 * audit plugin, which stores the audit event *before* each operation's result
 * is handed back — and replaces the result with AUDIT_UNAVAILABLE when it
 * cannot. The export only assembles a bundle once every operation has come
 * back audited, so no bundle leaves without its audit events stored.
 *
 * What comes back is interpreted strictly:
 * - AUDIT_UNAVAILABLE anywhere: the whole export fails (503), no bundle;
 * - the patient null, or refused: 403/404, never a partial bundle;
 * - a CONSENT_DENIED or FORBIDDEN error below the patient: that field was
 *   withheld; it is remembered (Masks) so the mapping omits it or marks it
 *   `masked`, never confusing it with a value that was simply not recorded;
 * - any other error (a subgraph down, a bug): the export fails (502/500)
 *   rather than return a bundle that silently lacks records.
 */
import type { GraphQLFormattedError } from 'graphql';
import type { GqlPatient } from './resources/patient.js';
import { Masks } from './masks.js';
import { errors, FhirError } from './outcome.js';
import type { ExportPlan } from './plan.js';
import { buildOperation, CONNECTION_NAMES, type ConnectionName, type Cursors } from './queries.js';

/** One executed operation, as the pipeline answered it. */
export interface OperationResult {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: readonly GraphQLFormattedError[];
  extensions?: Record<string, unknown>;
}

export type Executor = (operation: { query: string; variables: Record<string, unknown> }) => Promise<OperationResult>;

const WITHHELD_CODES = new Set(['CONSENT_DENIED', 'FORBIDDEN']);
/** A safety stop: 1,000 operations of 100 records per connection. */
const MAX_OPERATIONS = 1000;

export interface Collected {
  patient: GqlPatient;
  /** The records of each exported connection, as the resource modules' selections read them. */
  nodes: Record<ConnectionName, unknown[]>;
  masks: Masks;
  /** Some element or record was withheld by consent somewhere in the export. */
  withheld: boolean;
  /** Break-glass: the gateway flagged the disclosure as emergency access. */
  emergencyAccess: { reason?: string; notice?: string } | null;
  operations: number;
}

const codeOf = (error: GraphQLFormattedError) => String(error.extensions?.code ?? '');

/**
 * Turns one operation's errors into an export failure, or into masks.
 * Throws FhirError when the export must stop.
 */
export function interpret(result: OperationResult, masks: Masks): { withheld: boolean } {
  const errorList = result.errors ?? [];
  if (errorList.some((e) => codeOf(e) === 'AUDIT_UNAVAILABLE')) throw errors.auditUnavailable();
  // A service that did not answer: no partial bundle, a retry later.
  const unavailable = errorList.find((e) => codeOf(e) === 'SUBGRAPH_UNAVAILABLE');
  if (unavailable) throw errors.unavailable(String(unavailable.extensions?.service ?? 'a'));
  if (errorList.some((e) => codeOf(e) === 'UNAUTHENTICATED')) throw errors.unauthenticated('Invalid or expired token');

  // An error on `patient` itself: the token is bound to another patient (a
  // refusal that does not depend on whether this patient exists).
  const onPatient = errorList.find((e) => e.path?.length === 1 && e.path[0] === 'patient');
  if (onPatient) {
    if (WITHHELD_CODES.has(codeOf(onPatient))) throw errors.forbidden(onPatient.message);
    if (codeOf(onPatient) === 'BAD_USER_INPUT') throw errors.badId();
    throw errors.upstream(errorList);
  }
  let withheld = false;
  for (const error of errorList) {
    const path = error.path;
    if (!path || path.length < 2 || !WITHHELD_CODES.has(codeOf(error))) {
      // Operation-level errors (no path) are ours: validation, limits. Others come from a subgraph.
      throw path ? errors.upstream(errorList) : errors.internal(errorList);
    }
    withheld = true;
    let parent: unknown = result.data;
    for (const key of path.slice(0, -1)) parent = parent && typeof parent === 'object' ? (parent as Record<string | number, unknown>)[key] : undefined;
    if (parent && typeof parent === 'object') masks.mark(parent, String(path[path.length - 1]));
  }
  return { withheld };
}

interface ConnectionPage {
  edges: { node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export async function collectPatient(execute: Executor, patientId: string, plan: ExportPlan): Promise<Collected> {
  const masks = new Masks();
  const nodes = Object.fromEntries(CONNECTION_NAMES.map((name) => [name, []])) as unknown as Record<ConnectionName, unknown[]>;
  const seen = new Set<string>();
  let patient: GqlPatient | null = null;
  let withheld = false;
  let emergencyAccess: Collected['emergencyAccess'] = null;
  let cursors: Cursors = Object.fromEntries(plan.connections.map((name) => [name, null]));
  let operations = 0;

  // The first operation always runs (it finds the patient, or not); later ones only while pages remain.
  while (patient === null || Object.keys(cursors).length > 0) {
    if (++operations > MAX_OPERATIONS) throw new FhirError(422, 'too-costly', 'The record is too large to export in one bundle');
    const operation = buildOperation({ patientFields: patient === null && plan.patient, plan }, cursors);
    const result = await execute({ query: operation.query, variables: { id: patientId, ...operation.variables } });
    withheld = interpret(result, masks).withheld || withheld;
    const page = result.data?.patient as (GqlPatient & Record<string, unknown>) | null | undefined;
    // Not visible (or not there): one answer for both. Also when consent was
    // withdrawn between two pages: the export stops rather than return half.
    if (!page) throw errors.notFound();
    patient ??= page;
    const emergency = result.extensions?.emergencyAccess as Collected['emergencyAccess'] | undefined;
    if (emergency) emergencyAccess = emergency;

    const next: Cursors = {};
    for (const name of Object.keys(cursors) as ConnectionName[]) {
      const connection = page[name] as ConnectionPage | null | undefined;
      if (!connection) throw errors.upstream();
      for (const edge of connection.edges) {
        // Cursor paging never repeats a record; this only guards the bundle's uniqueness.
        const key = `${name}/${edge.node.id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        nodes[name].push(edge.node);
      }
      if (connection.pageInfo.hasNextPage) {
        const cursor = connection.pageInfo.endCursor;
        if (!cursor || cursor === cursors[name]) throw errors.upstream();
        next[name] = cursor;
      }
    }
    cursors = next;
  }
  return { patient: patient!, nodes, masks, withheld, emergencyAccess, operations };
}
