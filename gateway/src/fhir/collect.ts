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
import { buildBatchOperation, buildOperation, CONNECTION_NAMES, MAX_BATCH_PATIENTS, type ConnectionName, type Cursors } from './queries.js';
import type { ApolloServer } from '@apollo/server';
import type { Actor } from '../../../lib/trust/actor.js';
import type { RequestLog } from '../../../lib/runtime/http.js';
import type { GatewayContext } from '../context.js';

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

/** What is known of one patient while its pages are read. */
interface PatientState {
  patient: GqlPatient | null;
  nodes: Record<ConnectionName, unknown[]>;
  masks: Masks;
  seen: Set<string>;
  withheld: boolean;
  emergencyAccess: Collected['emergencyAccess'];
  /** The connections with a page still to read, each from its cursor (null: the first page). */
  cursors: Cursors;
  operations: number;
}

const startState = (plan: ExportPlan): PatientState => ({
  patient: null,
  nodes: Object.fromEntries(CONNECTION_NAMES.map((name) => [name, []])) as unknown as Record<ConnectionName, unknown[]>,
  masks: new Masks(),
  seen: new Set<string>(),
  withheld: false,
  emergencyAccess: null,
  cursors: Object.fromEntries(plan.connections.map((name) => [name, null])),
  operations: 0,
});

/** Takes one answer about the patient (`data.patient`) into its state; throws as `interpret` does, or 404 when the patient is not there. */
function absorb(state: PatientState, result: OperationResult): void {
  state.withheld = interpret(result, state.masks).withheld || state.withheld;
  const page = result.data?.patient as (GqlPatient & Record<string, unknown>) | null | undefined;
  // Not visible (or not there): one answer for both. Also when consent was
  // withdrawn between two pages: the export stops rather than return half.
  if (!page) throw errors.notFound();
  state.patient ??= page;
  const emergency = result.extensions?.emergencyAccess as Collected['emergencyAccess'] | undefined;
  if (emergency) state.emergencyAccess = emergency;

  const next: Cursors = {};
  for (const name of Object.keys(state.cursors) as ConnectionName[]) {
    const connection = page[name] as ConnectionPage | null | undefined;
    if (!connection) throw errors.upstream();
    for (const edge of connection.edges) {
      // Cursor paging never repeats a record; this only guards the bundle's uniqueness.
      const key = `${name}/${edge.node.id}`;
      if (state.seen.has(key)) continue;
      state.seen.add(key);
      state.nodes[name].push(edge.node);
    }
    if (connection.pageInfo.hasNextPage) {
      const cursor = connection.pageInfo.endCursor;
      if (!cursor || cursor === state.cursors[name]) throw errors.upstream();
      next[name] = cursor;
    }
  }
  state.cursors = next;
}

/** Reads the patient's remaining pages, one operation at a time (the first also finds the patient when not yet read). */
async function readRest(execute: Executor, patientId: string, plan: ExportPlan, state: PatientState): Promise<Collected> {
  while (state.patient === null || Object.keys(state.cursors).length > 0) {
    if (++state.operations > MAX_OPERATIONS) throw new FhirError(422, 'too-costly', 'The record is too large to export in one bundle');
    const operation = buildOperation({ patientFields: state.patient === null && plan.patient, plan }, state.cursors);
    absorb(state, await execute({ query: operation.query, variables: { id: patientId, ...operation.variables } }));
  }
  const { patient, nodes, masks, withheld, emergencyAccess, operations } = state;
  return { patient: patient!, nodes, masks, withheld, emergencyAccess, operations };
}

export async function collectPatient(execute: Executor, patientId: string, plan: ExportPlan): Promise<Collected> {
  // The first operation always runs (it finds the patient, or not); later ones only while pages remain.
  return readRest(execute, patientId, plan, startState(plan));
}

/** Codes that stop a whole batch, wherever they appear (interpret's own first checks). */
const BATCH_WIDE_CODES = new Set(['AUDIT_UNAVAILABLE', 'SUBGRAPH_UNAVAILABLE', 'UNAUTHENTICATED']);

/**
 * Cuts the answer of a batch operation (`patients(ids: …)`) into one answer
 * per patient, shaped as the single-patient operation's (`data.patient`,
 * error paths from `patient`), so that each is interpreted exactly as
 * `collectPatient` interprets its own. What concerns the whole operation (no
 * path, the list itself, an unavailable service or audit trail) throws, as
 * `interpret` would for one patient.
 */
export function splitBatch(result: OperationResult, ids: readonly string[]): OperationResult[] {
  const errorList = result.errors ?? [];
  const ofPatient = (e: GraphQLFormattedError) => e.path !== undefined && e.path.length >= 2 && e.path[0] === 'patients' && typeof e.path[1] === 'number';
  const batchWide = errorList.filter((e) => !ofPatient(e) || BATCH_WIDE_CODES.has(codeOf(e)));
  if (batchWide.length) interpret({ ...result, errors: batchWide }, new Masks());
  const list = result.data?.patients;
  if (batchWide.length || !Array.isArray(list) || list.length !== ids.length) throw errors.upstream(errorList);
  const emergency = result.extensions?.emergencyAccess as { patients?: string[] } | undefined;
  return ids.map((id, i) => ({
    status: result.status,
    data: { patient: (list[i] ?? null) as unknown },
    errors: errorList.filter((e) => e.path![1] === i).map((e) => ({ ...e, path: ['patient', ...e.path!.slice(2)] })),
    extensions: emergency?.patients?.includes(id) ? { emergencyAccess: emergency } : undefined,
  }));
}

/**
 * Everything the actor may see of several patients: one operation for all of
 * them (the first page of every connection, buildBatchOperation), then, only
 * for a patient with more than a page of some record type, its remaining
 * pages with its own operations (at most `inFlight` at once). Each patient's
 * outcome is its own, as `collectPatient` would give it: its records, or the
 * FhirError that would have stopped its export (404 not visible, 403, …).
 * A failure of the batch operation as a whole throws. `planOf`: the plan of
 * one patient's further pages, when it is not `plan` (a Bulk Data `_since`
 * that does not apply to a patient added to the Group since: worker.ts); the
 * batch operation itself never narrows by `updatedSince`.
 */
export async function collectPatients(execute: Executor, ids: readonly string[], plan: ExportPlan, inFlight = 4, planOf: (patientId: string) => ExportPlan = () => plan): Promise<(Collected | FhirError)[]> {
  if (ids.length > MAX_BATCH_PATIENTS) throw new RangeError(`at most ${MAX_BATCH_PATIENTS} patients per batch`);
  const answers = splitBatch(await execute({ query: buildBatchOperation(plan).query, variables: { ids } }), ids);
  const states = answers.map(() => startState(plan));
  const outcomes: (Collected | FhirError)[] = new Array(ids.length);
  const rest: number[] = [];
  answers.forEach((answer, i) => {
    try {
      states[i]!.operations = 1;
      absorb(states[i]!, answer);
      rest.push(i);
    } catch (error) {
      if (!(error instanceof FhirError)) throw error;
      outcomes[i] = error;
    }
  });
  // Patients whose first page was all there is finish at once; the others read on, a few at a time.
  let next = 0;
  const worker = async () => {
    while (next < rest.length) {
      const i = rest[next++]!;
      try {
        outcomes[i] = await readRest(execute, ids[i]!, planOf(ids[i]!), states[i]!);
      } catch (error) {
        if (!(error instanceof FhirError)) throw error;
        outcomes[i] = error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inFlight) }, worker));
  return outcomes;
}

/**
 * Runs each operation through the gateway's own pipeline (consent, audit) as `actor`: what `$everything`, search and
 * the Bulk Data export execute with.
 */
export function pipelineExecutor(apollo: ApolloServer<GatewayContext>, actor: Actor, requestId: string, log: RequestLog): Executor {
  return async ({ query, variables }) => {
    // A fresh context per operation: the audit plugin stores the disclosures
    // collected during that operation, once; the request id ties them together.
    const contextValue: GatewayContext = { actor, requestId, log, disclosures: [], generated: true };
    const response = await apollo.executeOperation({ query, variables }, { contextValue });
    if (response.body.kind !== 'single') throw errors.internal();
    const { data, errors: gqlErrors, extensions } = response.body.singleResult;
    const result: OperationResult = { status: response.http.status ?? 200, data: data as Record<string, unknown> | null | undefined, errors: gqlErrors, extensions };
    return result;
  };
}
