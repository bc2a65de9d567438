/**
 * FHIR search and read, translated into the gateway's own GraphQL.
 *
 * Like the export (../collect.ts), search is an ordinary client of the
 * supergraph: every operation runs through the gateway's Apollo pipeline, so
 * the subgraphs apply their consent rules (record and field level) to the
 * caller, the scope ceiling holds, and the audit plugin stores what was
 * disclosed before the result comes back. Nothing here decides who may see
 * what; it only asks, and narrows further:
 *
 * - by resource type, as SMART clients read scopes: a source (a Patient
 *   connection listing records of this resource type, lib/records/record-types.ts)
 *   is queried only when a read scope names the type (or `*`) and covers
 *   its consent category; a granular scope
 *   (`patient/Observation.rs?category=laboratory`) also filters by category;
 * - by the search parameters: the connections' own arguments (the time
 *   window, a LOINC code) narrow the fetch; every parameter is then matched
 *   against the resource the resource module built (match.ts), so what is
 *   returned is exactly what was asked, whatever the subgraphs could filter.
 *
 * Records of several sources (lab results and home measurements are both
 * Observations) are merged newest first, by the (time, id) position of each
 * connection's cursors. A page ends after `_count` matches; the `next` link
 * carries, opaquely, the position reached in each source (never an offset),
 * so following it continues exactly where the page stopped and sees records
 * that arrived since only if they sort later.
 *
 * What the caller may not see is never fetched, so never counted:
 * `Bundle.total` is given when the first page holds every match, and left
 * out otherwise (counting would mean fetching — and disclosing — every
 * match). A patient the caller may not see gives an empty searchset, as one
 * who does not exist does.
 */
import type { ApolloServer } from '@apollo/server';
import type { Actor } from '../../../../lib/trust/actor.js';
import { decodeCursor, isUuid } from '../../../../lib/records/connection.js';
import type { RequestLog } from '../../../../lib/runtime/http.js';
import { ALL_RECORD_TYPES, fhirShapeAs, RECORD_TYPES, type ConnectionName, type FhirShape, type RecordTypeFacts } from '../../../../lib/records/record-types.js';
import { granularCodes, parseScopes, type Category } from '../../../../lib/trust/scopes.js';
import { SYSTEM } from '../../../../lib/records/terminology.js';
import type { GatewayContext } from '../../context.js';
import { interpret, pipelineExecutor, type Collected, type OperationResult } from '../collect.js';
import { prune, toResources, withLastUpdated, type BundleEntry, type LinkOptions, type Resource } from '../mapping.js';
import { fromFhirJson, type GqlMedicationParts } from '../resources/medication.js';
import { Masks } from '../masks.js';
import { errors, FhirError } from '../outcome.js';
import type { ExportPlan } from '../plan.js';
import { exportSelections } from '../resources/index.js';
import { CONSENT_FIELDS, consentToFhir, type GqlConsentDirective } from '../resources/consent.js';
import { PATIENT_FIELDS, type GqlPatient } from '../resources/patient.js';
import { meets, parseCriterion, type Criterion, type DateValue } from './match.js';
import { DEFAULT_COUNT, LAST_UPDATED_PARAMETER, MAX_COUNT, RESULT_PARAMETERS, SEARCH_PARAMETERS, SEARCHABLE_TYPES } from './parameters.js';

export interface SearchContext {
  apollo: ApolloServer<GatewayContext>;
  actor: Actor;
  /** The request id: the Bundle's id and the requestId of every audit event the search leaves. */
  requestId: string;
  log: RequestLog;
  /** Absolute base of the FHIR endpoint, e.g. https://gateway.example.org/fhir. */
  base: string;
}

export interface SearchBundle {
  resourceType: 'Bundle';
  id: string;
  meta: { lastUpdated: string };
  type: 'searchset';
  timestamp: string;
  total?: number;
  link: { relation: string; url: string }[];
  entry: BundleEntry[];
}

/** One Patient connection that lists records of the searched resource type. */
interface Source {
  connection: ConnectionName;
  row: RecordTypeFacts;
  /** The record type is held inside the connection's records (a study's radiology report). */
  nested: boolean;
  /** The record type's shape as the searched resource type (its own, or one it is also exchanged as: a clinical note as a DiagnosticReport). */
  shape: FhirShape;
}

/** Connection arguments a token parameter can be pushed down to (the rest is matched on the resources). */
const TOKEN_ARGUMENTS: Partial<Record<ConnectionName, Record<string, { argument: string; system: string }>>> = {
  observations: { code: { argument: 'code', system: SYSTEM.loinc } },
};

/** A safety stop per page: operations fetched while looking for matches (a page may end short, with a next link). */
const MAX_OPERATIONS_PER_PAGE = 20;

const invalid = (message: string) => new FhirError(400, 'invalid', message);
const notSupported = (message: string) => new FhirError(400, 'not-supported', message);

/* ------------------------------------------------------------ parsing */

export interface ParsedSearch {
  resourceType: string;
  criteria: Criterion[];
  count: number;
  includePatient: boolean;
  includeResults: boolean;
  cursor: Record<string, string | null | false> | null;
  /** The parameters as given (less _cursor and what lenient handling ignored): the self and next links repeat them. */
  kept: [string, string][];
}

export function parseSearch(resourceType: string, pairs: [string, string][], lenient: boolean): ParsedSearch {
  const definitions = SEARCH_PARAMETERS[resourceType];
  if (!definitions) throw new FhirError(404, 'not-supported', `${resourceType} is not a resource type this server serves`);
  const parsed: ParsedSearch = { resourceType, criteria: [], count: DEFAULT_COUNT, includePatient: false, includeResults: false, cursor: null, kept: [] };
  const patientElements = new Set([`${resourceType}:patient`, `${resourceType}:${definitions.find((d) => d.name === 'patient')?.paths[0]}`]);
  for (const [rawName, value] of pairs) {
    const keep = () => parsed.kept.push([rawName, value]);
    const ignoreOr = (error: FhirError) => {
      if (!lenient) throw error;
    };
    if ((RESULT_PARAMETERS as readonly string[]).includes(rawName)) {
      switch (rawName) {
        case '_count': {
          const n = Number(value);
          if (!/^\d+$/.test(value) || n < 1) throw invalid('_count must be a positive integer');
          parsed.count = Math.min(n, MAX_COUNT);
          keep();
          break;
        }
        case '_sort': {
          // Newest first is the only order the connections keep (by the record's own time).
          const date = definitions.find((d) => d.type === 'date' && d.window);
          if (!date || (value !== `-${date.name}` && value !== '-date')) ignoreOr(notSupported(`_sort: only -${date?.name ?? 'date'} (newest first) is supported`));
          else keep();
          break;
        }
        case '_include': {
          if (patientElements.has(value)) parsed.includePatient = true;
          else if (resourceType === 'DiagnosticReport' && value === 'DiagnosticReport:result') parsed.includeResults = true;
          else {
            ignoreOr(notSupported(`_include=${value} is not supported (${[...patientElements, ...(resourceType === 'DiagnosticReport' ? ['DiagnosticReport:result'] : [])].join(', ')} are)`));
            break;
          }
          keep();
          break;
        }
        case '_revinclude':
          // Provenance is not served (a record's producer is its organisation element), so nothing can point back at a match.
          ignoreOr(notSupported(`_revinclude=${value} is not supported: this server serves no Provenance`));
          break;
        case '_cursor':
          parsed.cursor = decodeSearchCursor(value);
          break;
        default:
          keep();
      }
      continue;
    }
    const [name, modifier] = rawName.split(':') as [string, string | undefined];
    const definition = definitions.find((d) => d.name === name);
    if (!definition) {
      ignoreOr(invalid(`Unknown search parameter ${rawName} for ${resourceType}; send Prefer: handling=lenient to have unknown parameters ignored`));
      continue;
    }
    if (modifier !== undefined) {
      ignoreOr(notSupported(`The modifier :${modifier} is not supported`));
      continue;
    }
    parsed.criteria.push(parseCriterion(definition, value, resourceType));
    keep();
  }
  return parsed;
}

function decodeSearchCursor(value: string): Record<string, string | null | false> {
  try {
    const decoded = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    if (!decoded || typeof decoded !== 'object' || Array.isArray(decoded)) throw new Error();
    for (const v of Object.values(decoded)) if (!(v === null || v === false || (typeof v === 'string' && v.length < 500))) throw new Error();
    return decoded as Record<string, string | null | false>;
  } catch {
    throw invalid('_cursor is not a cursor this server issued: follow the next link of a search bundle');
  }
}

const encodeSearchCursor = (positions: Record<string, string | null | false>) => Buffer.from(JSON.stringify(positions)).toString('base64url');

/* ---------------------------------------------------- scopes and sources */

/** Every Patient connection that lists records of the resource type, with the catalogue row they are. */
export function sourcesOf(resourceType: string): Source[] {
  const sources: Source[] = [];
  for (const row of ALL_RECORD_TYPES) {
    const shape = fhirShapeAs(row, resourceType);
    if (!shape) continue;
    const listed = RECORD_TYPES.find((r) => r.graphqlType === row.graphqlType);
    if (listed) sources.push({ connection: listed.connection, row, nested: false, shape });
    else if (row.partOf) {
      const parent = RECORD_TYPES.find((r) => r.graphqlType === row.partOf!.graphqlType);
      if (parent) sources.push({ connection: parent.connection, row, nested: true, shape });
    }
  }
  return sources;
}

/** The sources this caller's scopes read, narrowed by `category` criteria and granular scopes. */
function usableSources(actor: Actor, search: ParsedSearch): Source[] {
  const scopes = parseScopes(actor.scope).clinical.filter((s) => s.read);
  const reads = (resourceType: string, category: Category) => scopes.some((s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.categories.includes(category));
  const granular = granularCodes(actor.scope, search.resourceType);
  const categoryCriteria = search.criteria.filter((c) => c.param.name === 'category' && c.type === 'token');
  return sourcesOf(search.resourceType).filter(({ row, nested, shape }) => {
    if (!reads(search.resourceType, row.category)) return false;
    if (nested) {
      // Reached through its parent's records, which the subgraphs disclose under the parent's category.
      const parent = ALL_RECORD_TYPES.find((r) => r.graphqlType === row.partOf!.graphqlType)!;
      if (!reads(parent.fhir.resourceType, parent.category) && !reads(search.resourceType, parent.category)) return false;
    }
    const codes: readonly string[] | undefined = shape.category?.codes;
    if (!codes) return true;
    if (granular && !codes.some((code) => granular.has(code))) return false;
    // Every category criterion must be able to match one of this record type's codes.
    return categoryCriteria.every((criterion) => criterion.type === 'token' && criterion.values.some((q) =>
      (q.system === undefined || q.system === shape.category!.system) && (q.code === undefined || codes.includes(q.code))));
  });
}

/* ------------------------------------------------------------ fetching */

/** The search's operations, through the gateway pipeline as its caller (collect.ts, pipelineExecutor). */
function pipeline(ctx: SearchContext) {
  const execute = pipelineExecutor(ctx.apollo, ctx.actor, ctx.requestId, ctx.log);
  return (query: string, variables: Record<string, unknown>): Promise<OperationResult> => execute({ query, variables });
}

/** The time window the date criteria allow a connection to be narrowed to. */
function windowOf(criteria: Criterion[]): { from?: string; to?: string } {
  let from = -Infinity;
  let to = Infinity;
  for (const c of criteria) {
    if (c.type !== 'date' || !c.param.window || c.values.length !== 1) continue;
    const q: DateValue = c.values[0]!;
    const instant = c.param.window === 'instant';
    const lower = q.prefix === 'eq' || q.prefix === 'ge' ? q.low : q.prefix === 'gt' ? q.high : -Infinity;
    const upper = q.prefix === 'eq' || q.prefix === 'le' ? q.high : q.prefix === 'lt' ? q.low : Infinity;
    // A period's start is below any time the period covers: only an upper bound (and eq's lower: the period lies within) narrows it.
    if (instant || q.prefix === 'eq') from = Math.max(from, lower);
    to = Math.min(to, upper);
  }
  const iso = (ms: number) => new Date(Math.min(Math.max(ms, Date.UTC(1, 0, 1)), Date.UTC(9999, 11, 31))).toISOString();
  return { ...(from > -Infinity ? { from: iso(from) } : {}), ...(to < Infinity ? { to: iso(to) } : {}) };
}

/**
 * The `updatedSince` a connection may be narrowed to: the latest lower bound of the `_lastUpdated` criteria (gt, ge)
 * with one value. `updatedSince` keeps records whose lastUpdated (to the millisecond) is strictly later, so the bound
 * is the last millisecond a match may not have. Undefined: no such bound.
 */
export function updatedSinceOf(criteria: Criterion[]): string | undefined {
  let since = -Infinity;
  for (const c of criteria) {
    if (c.type !== 'date' || c.param.name !== LAST_UPDATED_PARAMETER || c.values.length !== 1) continue;
    const q: DateValue = c.values[0]!;
    if (q.prefix === 'gt') since = Math.max(since, q.high - 1);
    if (q.prefix === 'ge') since = Math.max(since, q.low - 1);
  }
  return since > -Infinity ? new Date(Math.max(since, Date.UTC(1, 0, 1))).toISOString() : undefined;
}

/** The connection arguments a criterion pushes down, per connection. */
function tokenArguments(connection: ConnectionName, criteria: Criterion[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (const [name, target] of Object.entries(TOKEN_ARGUMENTS[connection] ?? {})) {
    const c = criteria.find((x) => x.param.name === name && x.type === 'token' && x.values.length === 1);
    const q = c?.type === 'token' ? c.values[0]! : undefined;
    if (q?.code && (q.system === undefined || q.system === target.system)) args[target.argument] = q.code;
  }
  return args;
}

interface Edge { cursor: string; node: { id: string } & Record<string, unknown> }
interface SourceState { source: Source; after: string | null; buffer: Edge[]; hasNext: boolean; loaded: boolean; done: boolean }

/** (time, id) of an edge, newest first; a cursor the gateway cannot read sorts last. */
function positionOf(edge: Edge): [number, string] {
  try {
    const { time, id } = decodeCursor(edge.cursor);
    return [Date.parse(time), id];
  } catch {
    return [-Infinity, edge.node.id];
  }
}
const newer = (a: Edge, b: Edge) => {
  const [ta, ia] = positionOf(a);
  const [tb, ib] = positionOf(b);
  return ta !== tb ? ta > tb : ia > ib;
};

function planFor(search: ParsedSearch, sources: Source[], patient: boolean): ExportPlan {
  const connections = [...new Set(sources.map((s) => s.connection))];
  if (search.includeResults) connections.push('observations');
  return {
    patient,
    connections,
    radiologyReports: search.resourceType === 'DiagnosticReport' && sources.some((s) => s.nested),
    reportLinks: search.includeResults,
    registry: false,
  };
}

/** Whether the scopes let the caller read the Patient resource (for `_include=…:patient`). */
function readsPatient(actor: Actor): boolean {
  return parseScopes(actor.scope).clinical.some((s) => s.read && (s.resourceType === '*' || s.resourceType === 'Patient') && s.categories.includes('demographics'));
}

/* ------------------------------------------------------------- search */

/** The patient a search of records is about: its `patient` parameter, or the token's patient. */
function searchedPatient(ctx: SearchContext, parsed: ParsedSearch): string {
  const patientCriterion = parsed.criteria.filter((c) => c.param.name === 'patient');
  if (patientCriterion.length > 1 || (patientCriterion[0] && patientCriterion[0].values.length > 1)) throw notSupported('Search one patient at a time (a single patient value)');
  const patientId = (patientCriterion[0]?.type === 'reference' ? patientCriterion[0].values[0] : undefined) ?? ctx.actor.patient;
  if (!patientId) throw invalid(`Searching ${parsed.resourceType} needs the patient parameter (patient=<id> or Patient/<id>)`);
  return patientId;
}

/**
 * The patient is not visible. For anyone else's patient: an empty
 * searchset, as for one who does not exist. For the token's own patient (an
 * app whose approval the patient revoked): a 403, since the caller knows the
 * patient exists and must learn that its access ended.
 */
function invisiblePatient(ctx: SearchContext, parsed: ParsedSearch, patientId: string): SearchBundle {
  if (patientId === ctx.actor.patient && ctx.actor.role === 'app') throw errors.forbidden('The patient\'s approval of this app does not cover this read (revoked, expired or never given)');
  return bundle(ctx, parsed, [], null, !parsed.cursor);
}

export async function search(ctx: SearchContext, parsed: ParsedSearch): Promise<SearchBundle> {
  if (parsed.resourceType === 'Patient') return searchPatients(ctx, parsed);
  const patientId = searchedPatient(ctx, parsed);
  if (parsed.resourceType === 'Consent') return searchConsents(ctx, parsed, patientId);
  const sources = usableSources(ctx.actor, parsed);
  if (!isUuid(patientId) || sources.length === 0) return bundle(ctx, parsed, [], null, true);

  const includePatient = parsed.includePatient && readsPatient(ctx.actor);
  const plan = planFor(parsed, sources, includePatient);
  const selections = exportSelections(plan);
  const execute = pipeline(ctx);
  const masks = new Masks();
  const window: Record<string, string> = windowOf(parsed.criteria);
  const updatedSince = updatedSinceOf(parsed.criteria);
  if (updatedSince) window.updatedSince = updatedSince;
  const granular = granularCodes(ctx.actor.scope, parsed.resourceType);
  const criteria = parsed.criteria.filter((c) => c.param.name !== 'patient');
  // Every criterion not wholly settled by the fetch itself is matched in memory, and pages are then fetched larger.
  const coveredBy = (codes: (q: { system?: string; code?: string }) => boolean) => sources.every((s) => s.shape.category?.codes.every((code) => codes({ system: s.shape.category!.system, code })));
  const settled = (c: Criterion) => (c.type === 'date' && c.param.window === 'instant' && c.values.length === 1)
    || (c.type === 'date' && c.param.name === LAST_UPDATED_PARAMETER && c.values.length === 1 && (c.values[0]!.prefix === 'gt' || c.values[0]!.prefix === 'ge'))
    || (c.param.name === 'category' && c.type === 'token' && coveredBy((k) => c.values.some((q) => (q.system === undefined || q.system === k.system) && q.code === k.code)))
    || sources.every((s) => Object.keys(tokenArguments(s.connection, [c])).length > 0);
  const residual = criteria.some((c) => !settled(c)) || Boolean(granular && !coveredBy((k) => granular.has(k.code!)));
  const connections = [...new Set(sources.map((s) => s.connection))];
  const states: SourceState[] = connections.map((connection) => {
    const position = parsed.cursor ? parsed.cursor[connection] : null;
    return { source: sources.find((s) => s.connection === connection)!, after: typeof position === 'string' ? position : null, buffer: [], hasNext: position !== false, loaded: position === false, done: position === false };
  });
  if (parsed.cursor && connections.some((c) => !(c in parsed.cursor!))) throw invalid('_cursor does not belong to this search: follow the next link as given');

  // A lab report names its results (DiagnosticReport.result) when the caller reads Observations, as in `$everything`.
  const linksResults = parsed.resourceType === 'DiagnosticReport' && !parsed.includeResults && connections.includes('diagnosticReports')
    && usableSources(ctx.actor, { ...parsed, resourceType: 'Observation', criteria: [] }).some((s) => s.connection === 'observations');
  const refusedOrEmpty = () => invisiblePatient(ctx, parsed, patientId);
  let patient: GqlPatient | null = null;
  /** The page's matches: the record read (a study, for its radiology report) and the id of the resource it became. */
  const matched: { connection: ConnectionName; node: Edge['node']; resourceId: string }[] = [];
  let operations = 0;
  let stoppedShort = false;
  /** The id of the resource of the searched type a record becomes, when it meets every criterion. */
  const matching = (connection: ConnectionName, node: Edge['node']): string | null => {
    const resource = buildResources(ctx, { [connection]: [node] }, patientId, masks, { ...plan, patient: false, reportLinks: false })
      .find((e) => e.resource.resourceType === parsed.resourceType)?.resource;
    if (!resource) return null;
    if (granular && !passesGranularScope(ctx, resource)) return null;
    return criteriaHold(resource, criteria) ? resource.id! : null;
  };

  while (matched.length < parsed.count) {
    const toLoad = states.filter((s) => s.buffer.length === 0 && !s.done && (!s.loaded || s.hasNext));
    if (toLoad.length > 0 || (includePatient && patient === null)) {
      if (++operations > MAX_OPERATIONS_PER_PAGE) {
        stoppedShort = true;
        break;
      }
      const remaining = parsed.count - matched.length;
      const first = residual ? MAX_COUNT : Math.min(MAX_COUNT, remaining + 1);
      const declarations = ['$id: ID!'];
      const variables: Record<string, unknown> = { id: patientId };
      const fields: string[] = ['id'];
      if (includePatient && patient === null) fields.push(PATIENT_FIELDS);
      for (const state of toLoad) {
        const name = state.source.connection;
        const args = [`first: ${first}`, `after: $after_${name}`];
        declarations.push(`$after_${name}: String`);
        variables[`after_${name}`] = state.after;
        for (const [key, value] of Object.entries(window)) {
          declarations.push(`$${key}_${name}: DateTime`);
          variables[`${key}_${name}`] = value;
          args.push(`${key}: $${key}_${name}`);
        }
        for (const [argument, value] of Object.entries(tokenArguments(name, criteria))) {
          declarations.push(`$${argument}_${name}: String`);
          variables[`${argument}_${name}`] = value;
          args.push(`${argument}: $${argument}_${name}`);
        }
        let selection = selections[name] ?? 'id';
        if (name === 'diagnosticReports' && parsed.includeResults && selections.observations) selection += ` results { ${selections.observations} }`;
        else if (name === 'diagnosticReports' && linksResults) selection += ' results { id }';
        fields.push(`${name}(${args.join(', ')}) { edges { cursor node { ${selection} } } pageInfo { hasNextPage endCursor } }`);
      }
      const query = `query FhirSearch(${declarations.join(', ')}) {\n  patient(id: $id) {\n${fields.join('\n')}\n  }\n}`;
      const result = await execute(query, variables);
      try {
        interpret(result, masks);
      } catch (error) {
        // A token bound to another patient: the same answer as a patient who does not exist.
        if (error instanceof FhirError && error.status === 403) return refusedOrEmpty();
        throw error;
      }
      const page = result.data?.patient as (Record<string, unknown> & GqlPatient) | null | undefined;
      if (!page) return refusedOrEmpty();
      if (includePatient && patient === null) patient = page;
      for (const state of toLoad) {
        const connection = page[state.source.connection] as { edges: Edge[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } | null | undefined;
        if (!connection) throw errors.upstream();
        state.loaded = true;
        state.buffer.push(...connection.edges);
        state.hasNext = connection.pageInfo.hasNextPage;
        if (!state.hasNext && state.buffer.length === 0) state.done = true;
      }
    }
    // The newest head among the sources (each source with more to come has a non-empty buffer now).
    let pick: SourceState | null = null;
    for (const state of states) if (state.buffer.length && (!pick || newer(state.buffer[0]!, pick.buffer[0]!))) pick = state;
    if (!pick) break;
    const edge = pick.buffer.shift()!;
    pick.after = edge.cursor;
    if (pick.buffer.length === 0 && !pick.hasNext) pick.done = true;
    const resourceId = matching(pick.source.connection, edge.node);
    if (resourceId) matched.push({ connection: pick.source.connection, node: edge.node, resourceId });
  }

  const more = stoppedShort || states.some((s) => !s.done && (s.buffer.length > 0 || s.hasNext));
  const next = more ? encodeSearchCursor(Object.fromEntries(states.map((s) => [s.source.connection, s.done ? false : s.after]))) : null;

  // The page's resources, built together so a report lists the results included with it.
  const nodes: Partial<Record<ConnectionName, unknown[]>> = {};
  for (const m of matched) (nodes[m.connection] ??= []).push(m.node);
  if (parsed.includeResults) {
    nodes.observations = (nodes.diagnosticReports ?? []).flatMap((r) => ((r as { results?: Record<string, unknown>[] | null }).results ?? []).map((o) => ({ ...o, report: { id: (r as { id: string }).id } })));
  }
  if (linksResults) {
    // The reports' results, as `$everything` has them (each Observation names its report): references, found visible below.
    nodes.observations = (nodes.diagnosticReports ?? []).flatMap((r) => ((r as { results?: { id: string }[] | null }).results ?? []).map((o) => ({ id: o.id, report: { id: (r as { id: string }).id } })));
  }
  // Links to records outside the page: those the caller may see (asked of their owners) are made, as in `$everything`.
  const pagePlan = { ...plan, patient: includePatient && patient !== null };
  const missed = new Map<string, Set<string>>();
  let entries = buildResources(ctx, nodes, patientId, masks, pagePlan, patient ?? undefined, { missed });
  if (missed.size > 0) {
    const visible = await visibleLinks(ctx, missed, patientId);
    if (visible.size > 0) entries = buildResources(ctx, nodes, patientId, masks, pagePlan, patient ?? undefined, { visible });
  }
  const order = new Map(matched.map((m, i) => [m.resourceId, i]));
  const matchEntries = entries.filter((e) => e.resource.resourceType === parsed.resourceType && order.has(e.resource.id!))
    .sort((a, b) => order.get(a.resource.id!)! - order.get(b.resource.id!)!);
  const includes = entries.filter((e) => !matchEntries.includes(e) && (e.resource.resourceType === 'Patient' || (parsed.includeResults && e.resource.resourceType === 'Observation')))
    .map((e) => ({ ...e, search: { mode: 'include' as const } }));
  return bundle(ctx, parsed, [...matchEntries, ...includes], next, !parsed.cursor);
}

function criteriaHold(resource: Resource, criteria: Criterion[]): boolean {
  return criteria.every((c) => meets(resource, c));
}

function buildResources(ctx: SearchContext, nodes: Partial<Record<ConnectionName, unknown[]>>, patientId: string, masks: Masks, plan: ExportPlan, patient?: GqlPatient, links?: LinkOptions): BundleEntry[] {
  const all = Object.fromEntries(RECORD_TYPES.map((row) => [row.connection, nodes[row.connection] ?? []])) as Record<ConnectionName, unknown[]>;
  const collected: Collected = { patient: patient ?? { id: patientId }, nodes: all, masks, withheld: false, emergencyAccess: null, operations: 0 };
  return toResources(collected, { base: ctx.base, plan, links });
}

/** Lookups per link operation: within the gateway's alias limit (server.ts QUERY_LIMITS.maxAliases, 30); a page of 100 matches naming 100 encounters takes four. */
const LINK_LOOKUPS_PER_OPERATION = 25;

/**
 * Which of the records a page's matches link to, outside the page, the caller may see: the same question `$everything`
 * answers by holding every record the caller may see in its bundle. Each is asked of its owner by id (the root
 * lookups of a read, BY_ID), so the owner's consent rules decide, record by record; nothing is decided here but the
 * resource-type scopes, as for a read. A lookup asks only for the record's id and patient (that is all a reference
 * discloses, and all the audit event records), unless a granular scope or a record held inside another (a study's
 * report) needs the resource built to know whether it is within reach. A linked record of another patient is not linked.
 */
async function visibleLinks(ctx: SearchContext, missed: Map<string, Set<string>>, patientId: string): Promise<Map<string, Set<string>>> {
  const visible = new Map<string, Set<string>>();
  interface Pending { alias: string; resourceType: string; id: string; source: Source; field: string; argument: string; plan: ExportPlan; full: boolean }
  const pending: Pending[] = [];
  for (const [resourceType, ids] of missed) {
    const probe: ParsedSearch = { resourceType, criteria: [], count: 1, includePatient: false, includeResults: false, cursor: null, kept: [] };
    const sources = usableSources(ctx.actor, probe);
    if (sources.length === 0) continue;
    const plan = planFor(probe, sources, false);
    const granular = granularCodes(ctx.actor.scope, resourceType) !== null;
    for (const id of ids) {
      if (!isUuid(id)) continue;
      for (const source of sources) {
        const lookup = source.nested ? NESTED_BY_ID[source.connection] : { field: BY_ID[source.connection], argument: 'id' };
        if (lookup) pending.push({ alias: `l${pending.length}`, resourceType, id, source, ...lookup, plan, full: granular || source.nested });
      }
    }
  }
  for (let start = 0; start < pending.length; start += LINK_LOOKUPS_PER_OPERATION) {
    const batch = pending.slice(start, start + LINK_LOOKUPS_PER_OPERATION);
    const selections = new Map(batch.map((p) => [p, p.full ? exportSelections(p.plan)[p.source.connection] ?? 'id' : 'id']));
    const query = `query FhirSearchLinks(${batch.map((p) => `$${p.alias}: ID!`).join(', ')}) {\n${batch.map((p) => `  ${p.alias}: ${p.field}(${p.argument}: $${p.alias}) { patient { id } ${selections.get(p)} }`).join('\n')}\n}`;
    const result = await pipeline(ctx)(query, Object.fromEntries(batch.map((p) => [p.alias, p.id])));
    const aliases = new Set(batch.map((p) => p.alias));
    const masks = new Masks();
    // A lookup answers null when the record is not there or not visible; a refusal at its root is the same answer.
    interpret({ ...result, errors: result.errors?.filter((e) => !(e.path?.length === 1 && aliases.has(String(e.path[0])) && ['CONSENT_DENIED', 'FORBIDDEN', 'NOT_FOUND'].includes(String(e.extensions?.code)))) }, masks);
    for (const p of batch) {
      const node = result.data?.[p.alias] as (Edge['node'] & { patient?: { id: string } | null }) | null | undefined;
      if (!node || node.patient?.id !== patientId) continue;
      if (p.full) {
        const resource = buildResources(ctx, { [p.source.connection]: [node] }, patientId, masks, p.plan)
          .find((e) => e.resource.resourceType === p.resourceType && e.resource.id === p.id)?.resource;
        if (!resource || !passesGranularScope(ctx, resource)) continue;
      } else if (node.id !== p.id) continue;
      const ids = visible.get(p.resourceType) ?? new Set<string>();
      ids.add(p.id);
      visible.set(p.resourceType, ids);
    }
  }
  return visible;
}

function bundle(ctx: SearchContext, parsed: ParsedSearch, entries: BundleEntry[], next: string | null, firstPage: boolean): SearchBundle {
  const now = new Date().toISOString();
  const query = (extra: [string, string][]) => {
    const params = new URLSearchParams([...parsed.kept, ...extra]).toString();
    return `${ctx.base}/${parsed.resourceType}${params ? `?${params}` : ''}`;
  };
  const matches = entries.filter((e) => e.search.mode === 'match').length;
  return {
    resourceType: 'Bundle',
    id: ctx.requestId,
    meta: { lastUpdated: now },
    type: 'searchset',
    timestamp: now,
    // Only a count of what was fetched under the caller's rights: known when one page held every match.
    ...(firstPage && next === null ? { total: matches } : {}),
    link: [
      { relation: 'self', url: query(parsed.cursor ? [['_cursor', encodeSearchCursor(parsed.cursor)]] : []) },
      ...(next ? [{ relation: 'next', url: query([['_cursor', next]]) }] : []),
    ],
    entry: entries,
  };
}

/* ------------------------------------------------------------ Consent */

/**
 * Consent search: the patient's consent directives (GraphQL `consents`, a
 * list, newest first), under the same rules as GraphQL (the patient sees
 * theirs; staff those recorded for their organisation; apps with a Consent
 * scope). The list comes whole from identity, so every page discloses (and
 * audits) the directives the caller may see; pages are cut here, the cursor
 * holding the (time, id) of the last directive given.
 */
async function searchConsents(ctx: SearchContext, parsed: ParsedSearch, patientId: string): Promise<SearchBundle> {
  const scopes = parseScopes(ctx.actor.scope).clinical;
  if (!scopes.some((s) => s.read && (s.resourceType === '*' || s.resourceType === 'Consent') && s.categories.includes('consents')) || !isUuid(patientId)) {
    return bundle(ctx, parsed, [], null, true);
  }
  const includePatient = parsed.includePatient && readsPatient(ctx.actor);
  const result = await pipeline(ctx)(`query FhirConsentSearch($id: ID!) { patient(id: $id) { id ${includePatient ? PATIENT_FIELDS : ''} consents { ${CONSENT_FIELDS} } } }`, { id: patientId });
  const masks = new Masks();
  try {
    interpret(result, masks);
  } catch (error) {
    if (error instanceof FhirError && error.status === 403) return invisiblePatient(ctx, parsed, patientId);
    throw error;
  }
  const found = result.data?.patient as (GqlPatient & { consents?: GqlConsentDirective[] | null }) | null | undefined;
  if (!found) return invisiblePatient(ctx, parsed, patientId);
  const key = (c: GqlConsentDirective) => `${c.createdAt ?? ''}|${c.id}`;
  const criteria = parsed.criteria.filter((c) => c.param.name !== 'patient');
  const all = (found.consents ?? []).slice().sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
  const after = parsed.cursor?.consents;
  if (after === false) return bundle(ctx, parsed, [], null, false);
  const matching = all.filter((c) => !after || key(c) < after)
    .map((c) => prune(consentToFhir(c, { reference: `Patient/${patientId}` })))
    .filter((r) => criteriaHold(r, criteria));
  const pageOf = matching.slice(0, parsed.count);
  const last = pageOf[pageOf.length - 1];
  const lastDirective = last ? all.find((c) => c.id === last.id) : undefined;
  const next = matching.length > parsed.count && lastDirective ? encodeSearchCursor({ consents: key(lastDirective) }) : null;
  const entries: BundleEntry[] = pageOf.map((resource) => ({ fullUrl: `${ctx.base}/Consent/${resource.id}`, resource, search: { mode: 'match' } }));
  if (includePatient && pageOf.length) {
    const plan: ExportPlan = { patient: true, connections: [], radiologyReports: false, reportLinks: false, registry: false };
    entries.push(...buildResources(ctx, {}, patientId, masks, plan, found).filter((e) => e.resource.resourceType === 'Patient').map((e) => ({ ...e, search: { mode: 'include' as const } })));
  }
  return bundle(ctx, parsed, entries, next, !parsed.cursor);
}

/* ------------------------------------------------------------ Patient */

/**
 * Patient search. A token bound to a patient (the patient, an app acting for
 * them) finds at most that patient; staff search through `searchPatients`
 * (name, birth date, identifier value), `patientByIdentifier` (system|value)
 * or `patients(ids)` (_id) — the same reach rules as GraphQL, and every
 * patient returned is audited there.
 */
async function searchPatients(ctx: SearchContext, parsed: ParsedSearch): Promise<SearchBundle> {
  if (!readsPatient(ctx.actor)) return bundle(ctx, parsed, [], null, true);
  const criteria = parsed.criteria;
  const execute = pipeline(ctx);
  const masks = new Masks();
  const first = (name: string) => criteria.find((c) => c.param.name === name);
  const ids = first('_id');
  const identifier = first('identifier');
  let candidates: GqlPatient[] = [];
  let next: string | null = null;
  const run = async (query: string, variables: Record<string, unknown>) => {
    const result = await execute(query, variables);
    try {
      interpret(result, masks);
    } catch (error) {
      if (error instanceof FhirError && error.status === 403) return null;
      throw error;
    }
    return result.data ?? null;
  };
  if (ctx.actor.patient) {
    const data = await run(`query FhirPatientSearch($id: ID!) { patient(id: $id) { ${PATIENT_FIELDS} } }`, { id: ctx.actor.patient });
    candidates = data?.patient ? [data.patient as GqlPatient] : [];
  } else if (ids?.type === 'token') {
    const list = ids.values.map((v) => v.code ?? '').filter(isUuid).slice(0, MAX_COUNT);
    const data = list.length ? await run(`query FhirPatientSearch($ids: [ID!]!) { patients(ids: $ids) { ${PATIENT_FIELDS} } }`, { ids: list }) : null;
    candidates = ((data?.patients ?? []) as (GqlPatient | null)[]).filter((p): p is GqlPatient => Boolean(p));
  } else if (identifier?.type === 'token' && identifier.values.length === 1 && identifier.values[0]!.system && identifier.values[0]!.code) {
    const q = identifier.values[0]!;
    const data = await run(`query FhirPatientSearch($system: String!, $value: String!) { patientByIdentifier(system: $system, value: $value) { ${PATIENT_FIELDS} } }`, { system: q.system, value: q.code });
    candidates = data?.patientByIdentifier ? [data.patientByIdentifier as GqlPatient] : [];
  } else {
    const text = ['name', 'family', 'given'].map(first).find((c) => c?.type === 'string' && c.values.length === 1);
    const birth = first('birthdate');
    const birthDate = birth?.type === 'date' && birth.values.length === 1 && birth.values[0]!.prefix === 'eq' && birth.values[0]!.high - birth.values[0]!.low === 86_400_000
      ? new Date(birth.values[0]!.low).toISOString().slice(0, 10) : undefined;
    const bareIdentifier = identifier?.type === 'token' && identifier.values.length === 1 && !identifier.values[0]!.system ? identifier.values[0]!.code : undefined;
    const name = text?.type === 'string' ? text.values[0] : undefined;
    if ((!name || name.length < 2) && !birthDate && !bareIdentifier) {
      throw invalid('A Patient search needs _id, identifier, a name (family or given, at least 2 characters) or an exact birthdate');
    }
    const after = parsed.cursor ? parsed.cursor.searchPatients : null;
    if (after === false) return bundle(ctx, parsed, [], null, false);
    const data = await run(`query FhirPatientSearch($name: String, $birthDate: Date, $identifier: String, $first: Int, $after: String) {
      searchPatients(name: $name, birthDate: $birthDate, identifier: $identifier, first: $first, after: $after) { edges { node { ${PATIENT_FIELDS} } } pageInfo { hasNextPage endCursor } }
    }`, { name, birthDate, identifier: bareIdentifier, first: parsed.count, after: after ?? null });
    const connection = data?.searchPatients as { edges: { node: GqlPatient }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } | null | undefined;
    candidates = connection?.edges.map((e) => e.node) ?? [];
    if (connection?.pageInfo.hasNextPage && connection.pageInfo.endCursor) next = encodeSearchCursor({ searchPatients: connection.pageInfo.endCursor });
  }
  const plan: ExportPlan = { patient: true, connections: [], radiologyReports: false, reportLinks: false, registry: false };
  const entries = candidates.flatMap((p) => buildResources(ctx, {}, p.id, masks, plan, p))
    .filter((e) => e.resource.resourceType === 'Patient' && criteriaHold(e.resource, criteria));
  return bundle(ctx, parsed, entries, next, !parsed.cursor);
}

/* --------------------------------------------------------------- read */

/**
 * Root fields that find one record by id (and its patient), per connection;
 * for a record type held inside another's records (a study's radiology
 * report), the root field finding the parent by the nested record's id.
 * Every source of every served type has one, so any caller who may see a
 * record reads it by id, with or without a patient in context.
 */
const BY_ID: Record<ConnectionName, string> = {
  encounters: 'encounter', conditions: 'condition', allergies: 'allergyIntolerance', referrals: 'referral',
  observations: 'observation', diagnosticReports: 'diagnosticReport', imagingStudies: 'imagingStudy', immunizations: 'immunization',
  programEnrollments: 'programEnrollment', followUpTasks: 'followUpTask', homeMeasurements: 'homeMeasurement',
  clinicalObservations: 'clinicalObservation',
  procedures: 'procedure',
  carePlans: 'carePlan', careTeams: 'careTeam',
  medicationRequests: 'medicationRequest', medicationAdministrations: 'medicationAdministration', medicationStatements: 'medicationStatement',
  clinicalNotes: 'clinicalNote',
};
const NESTED_BY_ID: Partial<Record<ConnectionName, { field: string; argument: string }>> = {
  imagingStudies: { field: 'imagingStudyOfReport', argument: 'reportId' },
};

/**
 * GET /fhir/{type}/{id}: the resource, or 404 — the same 404 whether it does
 * not exist or the caller may not see it. One operation asks every source of
 * the type for the id at once (lab results and home measurements for an
 * Observation; lab and radiology reports for a DiagnosticReport), through
 * the owners' consent-filtered lookups: one audit event, one statement per
 * source in its owner, whoever the caller (a patient, an app, staff).
 */
export async function read(ctx: SearchContext, resourceType: string, id: string): Promise<Resource> {
  if (!SEARCHABLE_TYPES.includes(resourceType) && !HELD_TYPES.includes(resourceType)) throw new FhirError(404, 'not-supported', `${resourceType} is not a resource type this server serves`);
  const notFound = () => new FhirError(404, 'not-found', `No ${resourceType} with this id is visible to you`);
  if (!isUuid(id)) throw notFound();
  if (resourceType === 'Patient') {
    const found = await search(ctx, parseSearch('Patient', [['_id', id]], false));
    const resource = found.entry[0]?.resource;
    if (!resource) throw notFound();
    return resource;
  }
  if (resourceType === 'Consent') return readConsent(ctx, id, notFound);
  if (resourceType === 'Medication') return readMedication(ctx, id, notFound);
  const probe = parseSearch(resourceType, [['_id', id]], false);
  const sources = usableSources(ctx.actor, probe);
  if (sources.length === 0) throw notFound();
  const plan = planFor(probe, sources, false);
  const selections = exportSelections(plan);
  const lookups = sources.flatMap((source) => {
    const lookup = source.nested ? NESTED_BY_ID[source.connection] : { field: BY_ID[source.connection], argument: 'id' };
    return lookup ? [{ source, ...lookup }] : [];
  });
  if (lookups.length === 0) throw notFound();
  const fields = lookups.map((l) => l.field);
  const ownPatient = ownPatientProbe(ctx);
  const query = `query FhirRead($id: ID!${ownPatient.declaration}) {\n${lookups.map((l) => `  ${l.field}(${l.argument}: $id) { patient { id } ${selections[l.source.connection] ?? 'id'} }`).join('\n')}${ownPatient.field}\n}`;
  const result = await pipeline(ctx)(query, { id, ...ownPatient.variables });
  const masks = new Masks();
  try {
    // A lookup answers null when the record is not there or not visible; a refusal at the root is the same answer.
    interpret({ ...result, errors: result.errors?.filter((e) => !(e.path?.length === 1 && [...fields, OWN_PATIENT].includes(String(e.path[0])) && ['CONSENT_DENIED', 'FORBIDDEN', 'NOT_FOUND'].includes(String(e.extensions?.code)))) }, masks);
  } catch (error) {
    if (error instanceof FhirError && error.status === 403) throw notFound();
    throw error;
  }
  ownPatient.check(result.data);
  for (const lookup of lookups) {
    const node = result.data?.[lookup.field] as (Edge['node'] & { patient?: { id: string } | null }) | null | undefined;
    if (!node?.patient?.id) continue;
    const resource = buildResources(ctx, { [lookup.source.connection]: [node] }, node.patient.id, masks, plan)
      .find((e) => e.resource.resourceType === resourceType && e.resource.id === id)?.resource;
    if (resource && (!granularCodes(ctx.actor.scope, resourceType) || passesGranularScope(ctx, resource))) return resource;
  }
  throw notFound();
}

const OWN_PATIENT = 'ownPatient';

/**
 * For an app, the read also asks for its own patient (the patient of its
 * token), in the same operation: when the patient revoked the app's
 * approval, the app learns that its access ended (403, as for a search),
 * rather than a 404 that would read as a missing record.
 */
function ownPatientProbe(ctx: SearchContext) {
  const asks = ctx.actor.role === 'app' && Boolean(ctx.actor.patient);
  return {
    declaration: asks ? ', $ownPatient: ID!' : '',
    field: asks ? `\n  ${OWN_PATIENT}: patient(id: $ownPatient) { id }` : '',
    variables: asks ? { ownPatient: ctx.actor.patient } : {},
    check(data: Record<string, unknown> | null | undefined) {
      if (asks && !data?.[OWN_PATIENT]) throw errors.forbidden('The patient\'s approval of this app does not cover this read (revoked, expired or never given)');
    },
  };
}

/** A Consent by id: identity's `consentDirective` lookup, under the same rule and scope check as the Consent search. */
async function readConsent(ctx: SearchContext, id: string, notFound: () => FhirError): Promise<Resource> {
  const scopes = parseScopes(ctx.actor.scope).clinical;
  if (!scopes.some((s) => s.read && (s.resourceType === '*' || s.resourceType === 'Consent') && s.categories.includes('consents'))) throw notFound();
  const ownPatient = ownPatientProbe(ctx);
  const result = await pipeline(ctx)(`query FhirConsentRead($id: ID!${ownPatient.declaration}) { consentDirective(id: $id) { patientId ${CONSENT_FIELDS} }${ownPatient.field} }`, { id, ...ownPatient.variables });
  try {
    interpret({ ...result, errors: result.errors?.filter((e) => !(e.path?.length === 1 && ['consentDirective', OWN_PATIENT].includes(String(e.path[0])) && ['CONSENT_DENIED', 'FORBIDDEN', 'NOT_FOUND'].includes(String(e.extensions?.code)))) }, new Masks());
  } catch (error) {
    if (error instanceof FhirError && error.status === 403) throw notFound();
    throw error;
  }
  ownPatient.check(result.data);
  const directive = result.data?.consentDirective as (GqlConsentDirective & { patientId?: string | null }) | null | undefined;
  if (!directive?.patientId) throw notFound();
  return prune(consentToFhir(directive, { reference: `Patient/${directive.patientId}` }));
}

/* --------------------------------------------------------- Medication */

/**
 * Resource types that are no records of their own but are held with the records naming them, read by id (and
 * `_id` search) only: a Medication entry of the Bundle a prescription, administration or statement came in
 * (resources/medication.ts). A contained Medication or a concept is part of its record, not addressable.
 */
export const HELD_TYPES: readonly string[] = ['Medication'];

const MEDICATION_USES: Record<string, { list: string; connection: ConnectionName }> = {
  MedicationRequest: { list: 'requests', connection: 'medicationRequests' },
  MedicationAdministration: { list: 'administrations', connection: 'medicationAdministrations' },
  MedicationStatement: { list: 'statements', connection: 'medicationStatements' },
};

/**
 * A Medication by id: found through the records that name it (encounters' `medicationUses`, each record under its
 * own consent rule, as its lookup by id), among the medication record types the caller's scopes read. Visible when
 * the caller may see one of them; otherwise 404, as for an id that names nothing. The operation runs through the
 * pipeline, so the records it reads are audited as any read's; the Medication is as recent as the latest of them.
 */
async function readMedication(ctx: SearchContext, id: string, notFound: () => FhirError): Promise<Resource> {
  const types = Object.keys(MEDICATION_USES).filter((type) =>
    usableSources(ctx.actor, { resourceType: type, criteria: [], count: 1, includePatient: false, includeResults: false, cursor: null, kept: [] })
      .some((s) => s.connection === MEDICATION_USES[type]!.connection));
  if (types.length === 0) throw notFound();
  const ownPatient = ownPatientProbe(ctx);
  const lists = types.map((type) => `${MEDICATION_USES[type]!.list} { id lastUpdated medicationReference { id contained fhirJson } }`).join(' ');
  const result = await pipeline(ctx)(`query FhirMedicationRead($id: ID!${ownPatient.declaration}) { medicationUses(medicationId: $id) { ${lists} }${ownPatient.field} }`, { id, ...ownPatient.variables });
  try {
    interpret({ ...result, errors: result.errors?.filter((e) => !(e.path?.length === 1 && ['medicationUses', OWN_PATIENT].includes(String(e.path[0])) && ['CONSENT_DENIED', 'FORBIDDEN', 'NOT_FOUND'].includes(String(e.extensions?.code)))) }, new Masks());
  } catch (error) {
    if (error instanceof FhirError && error.status === 403) throw notFound();
    throw error;
  }
  ownPatient.check(result.data);
  const uses = result.data?.medicationUses as Record<string, ({ lastUpdated?: string | null } & GqlMedicationParts)[] | undefined> | null | undefined;
  // A record whose medication consent withheld (null) names nothing the caller may see.
  const naming = types.flatMap((type) => uses?.[MEDICATION_USES[type]!.list] ?? [])
    .filter((r) => r.medicationReference?.id === id && !r.medicationReference.contained);
  const first = naming[0];
  if (!first) throw notFound();
  const latest = naming.map((r) => r.lastUpdated).filter((t): t is string => Boolean(t) && !Number.isNaN(Date.parse(t!)))
    .sort((a, b) => Date.parse(b) - Date.parse(a))[0];
  return withLastUpdated(prune({ resourceType: 'Medication', id, ...fromFhirJson(first.medicationReference) }), latest);
}

/**
 * Search of a held type: `_id` only (they have no patient and no other search parameter here). Each id is read as
 * GET /fhir/Medication/{id} reads it; those the caller may not see are simply not in the searchset.
 */
export async function searchHeld(ctx: SearchContext, resourceType: string, pairs: [string, string][]): Promise<SearchBundle> {
  const ids: string[] = [];
  const kept: [string, string][] = [];
  for (const [name, value] of pairs) {
    if (name === '_id') {
      ids.push(...value.split(',').map((v) => v.trim()).filter(Boolean));
      kept.push([name, value]);
    } else if (name === '_count' || name === '_format') kept.push([name, value]);
    else throw invalid(`${resourceType} is searched by _id only (it is held with the records that name it)`);
  }
  if (ids.length === 0) throw invalid(`Searching ${resourceType} needs _id`);
  if (ids.length > MAX_COUNT) throw invalid(`At most ${MAX_COUNT} ids`);
  const entries: BundleEntry[] = [];
  for (const id of [...new Set(ids)]) {
    try {
      const resource = await read(ctx, resourceType, id);
      entries.push({ fullUrl: `${ctx.base}/${resourceType}/${id}`, resource, search: { mode: 'match' } });
    } catch (error) {
      if (!(error instanceof FhirError && error.status === 404)) throw error;
    }
  }
  const parsed: ParsedSearch = { resourceType, criteria: [], count: MAX_COUNT, includePatient: false, includeResults: false, cursor: null, kept };
  return bundle(ctx, parsed, entries, null, true);
}

/** A directly read resource passes the granular scope's category filter. */
function passesGranularScope(ctx: SearchContext, resource: Resource): boolean {
  const granular = granularCodes(ctx.actor.scope, resource.resourceType);
  if (!granular) return true;
  return meets(resource, { param: { name: 'category', type: 'token', definition: '', expression: '', paths: ['category'] }, type: 'token', values: [...granular].map((code) => ({ code })) });
}
