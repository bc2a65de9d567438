/**
 * The longitudinal timeline: one patient's records from every subgraph,
 * merged newest first.
 *
 * Each subgraph stays the only store of its records: it answers an internal
 * API (`/internal/timeline`) with the keys (kind, id, time) of the entries the
 * actor may see, a page at most per kind, read with the same consent filter
 * and the same `(patient_id, time DESC, id DESC)` indexes as its own lists.
 * Identity, which owns Patient, merges those keys into one page; the gateway
 * then resolves every node from its owner through federation, where the
 * owner's field rules apply again. Cost follows the page size: each owner
 * runs one indexed statement per kind, whatever the length of the history.
 *
 * The cursor is the (time, id) of the last entry, compared in the same order
 * everywhere (time descending, then id descending: uuids compare as their
 * lowercase hex), so a page never repeats or skips an entry when new ones
 * arrive. Times are kept to the millisecond, the precision of the cursor.
 */
import { isStaff, type Actor } from '../trust/actor.js';
import { decideRow } from '../consent/record-access.js';
import { recordFilterSql } from '../consent/filter.js';
import type { ConsentAccess } from '../consent/access.js';
import { isUuid, normalisePageArgs, patientFiltersParam, patientList, patientPagesFrom, patientPagesParams, type NormalisedPageArgs, type PatientListSpec } from './connection.js';
import type { PatientRecordFilter } from '../consent/filter.js';
import type { Queryable } from '../runtime/db.js';
import { parseScopes, scopesAllow, type Category } from '../trust/scopes.js';
import { RECORD_TYPES, type TimelineKind } from './record-types.js';
import type { SubgraphName } from '../runtime/subgraph-names.js';

/** The kinds of entries, one per record type of the catalogue (lib/records/record-types.ts), in its order. */
export const TIMELINE_KINDS: readonly TimelineKind[] = RECORD_TYPES.map((row) => row.kind);
export type { TimelineKind };

/** Which subgraph owns each kind of entry, and the GraphQL type of its nodes. */
export const TIMELINE_KIND_TYPES = Object.fromEntries(RECORD_TYPES.map((row) => [row.kind, { owner: row.owner, typename: row.graphqlType }])) as
  Record<TimelineKind, { owner: SubgraphName; typename: string }>;

/** One kind of entry a subgraph contributes: a patient list. */
export interface TimelineSource extends Omit<PatientListSpec, 'where' | 'params'> {
  kind: TimelineKind;
}

/** The kinds of entries an owner serves at `/internal/timeline`: the record types it keeps (lib/records/record-types.ts). */
export const timelineSources = (owner: SubgraphName): TimelineSource[] =>
  RECORD_TYPES.filter((row) => row.owner === owner).map((row) => ({ kind: row.kind, ...patientList(row.graphqlType) }));

/** An entry's key, as owners return it and identity merges it. */
export interface TimelineEntryKey {
  kind: TimelineKind;
  id: string;
  /** ISO time, to the millisecond. */
  time: string;
  category: Category;
  /** Whether the actor sees it only by break-glass (flagged in the audit trail). */
  breakGlass: boolean;
}

export interface TimelineRequest {
  patientIds: string[];
  kinds: TimelineKind[];
  first: number;
  after: { time: string; id: string } | null;
  from: string | null;
  to: string | null;
  /** Also count the entries withheld from the actor (see `mayKnowWithheld`). */
  countWithheld?: boolean;
}

export interface PatientTimeline {
  patientId: string;
  /** Up to `first + 1` entries, newest first (one more than a page tells whether another follows). */
  entries: TimelineEntryKey[];
  /** Entries of the requested kinds the actor may not see; null unless asked and allowed. */
  withheld: number | null;
}

export interface TimelineAnswer {
  patients: PatientTimeline[];
}

/** Newest first; ties broken by id, descending, as in SQL. */
export const newestFirst = (a: { time: string; id: string }, b: { time: string; id: string }) =>
  a.time === b.time ? (a.id < b.id ? 1 : a.id > b.id ? -1 : 0) : a.time < b.time ? 1 : -1;

/**
 * Whether the actor may learn how many entries were withheld: clinical staff
 * may (it tells them to ask the patient, or to break the glass in an
 * emergency); patients, apps and programme staff are not told about records
 * outside their reach. Only unlabelled entries are counted: that a sensitive
 * record exists is itself sensitive. Identity, which asks the owners, asks
 * only for staff the patient authorised (authorisedByPatient in
 * consent/policy.ts): a registration alone learns nothing of records elsewhere.
 */
export const mayKnowWithheld = (actor: Actor) => isStaff(actor);

type TimelineArgs = { first?: number | null; after?: string | null; from?: Date | null; to?: Date | null; kinds?: TimelineKind[] | null };

/** Validates and normalises the arguments of `Patient.timeline` into a request (without patients yet). */
export function timelineRequest(args: TimelineArgs): Omit<TimelineRequest, 'patientIds'> {
  const page: NormalisedPageArgs = normalisePageArgs(args);
  const kinds = args.kinds?.length ? [...new Set(args.kinds)] : [...TIMELINE_KINDS];
  return { kinds, first: page.first, after: page.after, from: page.from, to: page.to };
}

/**
 * The columns a timeline entry needs: its key (id, patient, time) and what the
 * consent decision reads (producer, addressees, labels). Not the whole record:
 * the gateway resolves the node from its owner anyway, and a page reads up to
 * 51 rows per kind, so whole rows were most of the bytes an owner parsed.
 */
export function timelineColumns(source: TimelineSource): string[] {
  const organization = source.organizationColumn === undefined ? 'organization_id' : source.organizationColumn;
  return [...new Set(['id', 'patient_id', source.timeColumn, ...(organization ? [organization] : []), ...(source.addresseesColumn ? [source.addresseesColumn] : []), 'sensitivity_labels'])];
}

/** A row of timelineKeysSql: an entry's key and what consent decides on. */
interface TimelineKeyRow {
  kind: TimelineKind;
  id: string;
  patient_id: string;
  time: Date;
  organization: string | null;
  addressees: string[] | null;
  sensitivity_labels: string[];
}

/**
 * One statement for the page of several kinds: per kind, the same page
 * selectPatientPages reads (the kind's own consent filter, its
 * (patient_id, time DESC, id DESC) index, its LIMIT), only the key columns,
 * and the kinds joined by UNION ALL. Kind i's filters are parameter $1 for
 * the first kind and $(6 + i) for the others; $2–$6 are the page's bounds.
 */
export function timelineKeysSql(sources: TimelineSource[]): string {
  return sources.map((source, i) => {
    const organization = source.organizationColumn === undefined ? 'organization_id' : source.organizationColumn;
    return `SELECT '${source.kind}'::text AS kind, r.id, r.patient_id, r.${source.timeColumn} AS time,
       ${organization ? `r.${organization}::text` : 'NULL::text'} AS organization,
       ${source.addresseesColumn ? `r.${source.addresseesColumn}::text[]` : 'NULL::text[]'} AS addressees, r.sensitivity_labels
     ${patientPagesFrom(source, i === 0 ? '$1' : `$${6 + i}`, timelineColumns(source))}`;
  }).join('\n     UNION ALL\n     ');
}

function timelineKeysParams(sources: TimelineSource[], filters: PatientRecordFilter[][], page: NormalisedPageArgs): unknown[] {
  const [first, ...rest] = filters;
  return [...patientPagesParams(sources[0]!, first!, page), ...rest.map(patientFiltersParam)];
}

/** A key row in the shape of the kind's own table, for the consent decision (decideRow). */
function timelineRow(source: TimelineSource, key: TimelineKeyRow): Record<string, unknown> {
  const organization = source.organizationColumn === undefined ? 'organization_id' : source.organizationColumn;
  return {
    id: key.id, patient_id: key.patient_id, [source.timeColumn]: key.time, sensitivity_labels: key.sensitivity_labels,
    ...(organization ? { [organization]: key.organization } : {}),
    ...(source.addresseesColumn ? { [source.addresseesColumn]: key.addressees } : {}),
  };
}

/** Reads a request body sent to an owner; null when anything is malformed. */
export function parseTimelineRequest(body: unknown): TimelineRequest | null {
  const b = body as Partial<TimelineRequest> | null;
  if (!b || !Array.isArray(b.patientIds) || b.patientIds.length > 500 || !b.patientIds.every((id) => typeof id === 'string')) return null;
  if (!Array.isArray(b.kinds) || !b.kinds.every((k) => (TIMELINE_KINDS as readonly string[]).includes(k))) return null;
  if (!Number.isInteger(b.first) || b.first! < 1 || b.first! > 100) return null;
  const time = (v: unknown) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : null);
  const after = b.after && typeof b.after.id === 'string' && time(b.after.time) ? { time: time(b.after.time)!, id: b.after.id } : null;
  return { patientIds: b.patientIds.filter(isUuid), kinds: b.kinds, first: b.first!, after, from: time(b.from), to: time(b.to), countWithheld: b.countWithheld === true };
}

/**
 * The owner's side: for each patient, the visible entries of the requested
 * kinds and, when asked, the withheld count. One statement for all the kinds
 * an owner serves (timelineKeysSql: each kind's page per patient, the kinds
 * joined by UNION ALL), so a page costs each owner one round trip and one
 * plan whatever the number of its kinds, rather than one per kind.
 */
export async function ownerTimeline(db: Queryable, consent: ConsentAccess, sources: TimelineSource[], request: TimelineRequest): Promise<TimelineAnswer> {
  const wanted = sources.filter((source) => request.kinds.includes(source.kind));
  const page: NormalisedPageArgs = { first: request.first, after: request.after, from: request.from, to: request.to };
  const byPatient = new Map(request.patientIds.map((id) => [id, [] as TimelineEntryKey[]]));
  const filters = await Promise.all(wanted.map((source) => consent.filters(source.category, request.patientIds, source.resourceType)));
  const rows = wanted.length ? await db.query<TimelineKeyRow>(timelineKeysSql(wanted), timelineKeysParams(wanted, filters, page)) : [];
  const byKind = new Map(wanted.map((source) => [source.kind, source]));
  for (const key of rows) {
    const source = byKind.get(key.kind)!;
    const row = timelineRow(source, key);
    const { decision } = await decideRow(consent, source, row, source.category);
    byPatient.get(String(key.patient_id))?.push({
      kind: source.kind, id: String(key.id), time: new Date(key.time).toISOString(),
      category: source.category, breakGlass: decision.allow && decision.breakGlass,
    });
  }
  const withheld = request.countWithheld && mayKnowWithheld(consent.actor) ? await countWithheld(db, consent, wanted, request.patientIds, page) : null;
  return {
    patients: request.patientIds.map((patientId) => ({
      patientId,
      entries: byPatient.get(patientId)!.sort(newestFirst).slice(0, request.first + 1),
      withheld: withheld ? withheld.get(patientId) ?? 0 : null,
    })),
  };
}

/**
 * Unlabelled records in the window that the consent filter leaves out, per
 * patient, over the kinds the actor's scopes cover. This reads the patients'
 * whole history in the window, so it runs only when the caller asks.
 */
async function countWithheld(db: Queryable, consent: ConsentAccess, sources: TimelineSource[], patientIds: string[], page: NormalisedPageArgs): Promise<Map<string, number>> {
  const scopes = parseScopes(consent.actor.scope);
  const totals = new Map<string, number>();
  for (const source of sources.filter((s) => scopesAllow(scopes, s.category, 'read', s.resourceType))) {
    const filters = await consent.filters(source.category, patientIds, source.resourceType);
    const t = source.timeColumn;
    const rows = await db.query<{ id: string; n: number }>(
      `SELECT p.id, count(*)::int AS n FROM jsonb_to_recordset($1::jsonb) AS p(id uuid, orgs text[], pairs text[], bg_orgs text[])
       JOIN ${source.table} r ON r.patient_id = p.id
       WHERE r.sensitivity_labels = '{}'
         AND ($2::timestamptz IS NULL OR r.${t} >= $2::timestamptz)
         AND ($3::timestamptz IS NULL OR r.${t} < $3::timestamptz)
         AND NOT ${recordFilterSql(source.organizationColumn ?? 'organization_id', source.addresseesColumn)}
       GROUP BY p.id`,
      [JSON.stringify(filters), page.from, page.to],
    );
    for (const row of rows) totals.set(String(row.id), (totals.get(String(row.id)) ?? 0) + row.n);
  }
  return totals;
}
