/**
 * Relay connections over time-ordered records, newest first.
 *
 * The cursor is the (time, id) position of the last row seen, so a page never
 * repeats or skips a row when new records arrive: the next page continues
 * strictly after that position. Lists of many patients are loaded in one SQL
 * statement per list (a LATERAL join over the patient ids, each side using the
 * `(patient_id, time DESC, id DESC)` index), so cost follows page size, not
 * history length.
 */
import { filterOpensAnything, recordFilterSql, type PatientRecordFilter } from '../consent/filter.js';
import { accessOfRow, decideRow, type RecordAccess } from '../consent/record-access.js';
import type { Queryable } from '../runtime/db.js';
import { badInput, productError } from '../runtime/errors.js';
import { lastUpdatedColumnOf, listedRecordType, type RecordTypeFacts, type RecordTypeName } from './record-types.js';
import type { SubgraphContext } from '../runtime/subgraph-context.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  from?: Date | null;
  to?: Date | null;
  /** Only records whose last change (the catalogue's last-updated column) is strictly after this instant. */
  updatedSince?: Date | null;
}

export interface Page<Row> {
  edges: { cursor: string; node: Row }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

interface CursorPosition {
  time: string;
  id: string;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

export function encodeCursor(time: Date | string, id: string): string {
  const iso = time instanceof Date ? time.toISOString() : new Date(time).toISOString();
  return Buffer.from(JSON.stringify([iso, id])).toString('base64url');
}

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    if (typeof time !== 'string' || Number.isNaN(Date.parse(time)) || typeof id !== 'string' || id.length > 100) throw new Error();
    return { time, id };
  } catch {
    throw badInput('Invalid cursor: pass an endCursor returned by this field');
  }
}

/** Validates page arguments; returns normalised values. */
export function normalisePageArgs(args: PageArgs) {
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) throw badInput(`first must be between 1 and ${MAX_PAGE_SIZE}`);
  if (args.from && args.to && args.from > args.to) throw badInput('Invalid date range: from is after to');
  const after = args.after ? decodeCursor(args.after) : null;
  return {
    first,
    after,
    from: args.from ? args.from.toISOString() : null,
    to: args.to ? args.to.toISOString() : null,
    updatedSince: args.updatedSince ? args.updatedSince.toISOString() : null,
  };
}

/** Normalised page arguments; `updatedSince` is optional for callers building them by hand (the timeline has none). */
export type NormalisedPageArgs = Omit<ReturnType<typeof normalisePageArgs>, 'updatedSince'> & { updatedSince?: string | null };

export function toPage<Row extends Record<string, unknown>>(rows: Row[], first: number, timeColumn: string): Page<Row> {
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: encodeCursor(node[timeColumn] as Date, String(node.id)), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}

export interface PatientListSpec extends RecordAccess {
  /** Table (or view) holding the records, with `id`, `patient_id`, `sensitivity_labels` and the time column. */
  table: string;
  timeColumn: string;
  /** The last-updated column (`updatedSince`); lists without one refuse the argument. */
  lastUpdatedColumn?: string;
  /** The table is partitioned by patient (the catalogue's partitionedByPatient): the page names its patients as a constant too. */
  partitionedByPatient?: boolean;
  /** Extra SQL condition on alias `r`, with parameters numbered from `$7`. */
  where?: string;
  params?: unknown[];
}

/** The list of a record type of the catalogue (lib/records/record-types.ts): its access, table and time column. */
export function patientList(graphqlType: RecordTypeName): PatientListSpec {
  const row = listedRecordType(graphqlType);
  return { ...accessOfRow(row), table: row.table, timeColumn: row.timeColumn, lastUpdatedColumn: lastUpdatedColumnOf(row), partitionedByPatient: (row as RecordTypeFacts).partitionedByPatient === true };
}

/**
 * Loads one page of `spec.table` for each patient id, in one statement for all
 * patients that ask with the same arguments in this request.
 */
export function loadPatientPage<Row extends Record<string, unknown>>(
  context: SubgraphContext,
  name: string,
  spec: PatientListSpec,
  patientId: string,
  rawArgs: PageArgs,
): Promise<Page<Row>> {
  const args = normalisePageArgs(rawArgs);
  if (!isUuid(patientId)) return Promise.resolve({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  const argsKey = JSON.stringify([args, spec.where ?? '', spec.params ?? []]);
  const loader = context.loader<string, Page<Row>>(`${name}:${argsKey}`, async (patientIds) => {
    const filters = await context.consent.filters(spec.category, patientIds, spec.resourceType);
    const rows = await selectPatientPages<Row>(context.db, spec, filters, args);
    const byPatient = new Map<string, Row[]>();
    for (const row of rows) {
      const key = String(row.patient_id);
      byPatient.set(key, [...(byPatient.get(key) ?? []), row]);
    }
    return patientIds.map((id) => toPage(byPatient.get(id) ?? [], args.first, spec.timeColumn));
  });
  return loader.load(patientId);
}

/**
 * One statement for every patient's page: each patient's consent filter (the
 * organisations and organisation|label pairs the actor may see) travels as a
 * JSON row, so the page holds only records the actor may see and is full.
 */
export async function selectPatientPages<Row>(db: Queryable, spec: PatientListSpec, filters: PatientRecordFilter[], args: NormalisedPageArgs): Promise<Row[]> {
  const updated = args.updatedSince ?? null;
  if (updated && !spec.lastUpdatedColumn) throw badInput('updatedSince is not available on this list');
  const updatedParam = updated ? `$${7 + (spec.params?.length ?? 0)}` : undefined;
  return db.query<Row>(`SELECT r.* ${patientPagesFrom(spec, '$1', undefined, updatedParam)}`, [...patientPagesParams(spec, filters, args), ...(updated ? [updated] : [])]);
}

/**
 * The FROM clause of selectPatientPages: each patient's page of `spec`'s
 * records, with the patients' filters in parameter `filtersParam` and the
 * page's bounds in $2–$6 (patientPagesParams). `columns`: only those (the
 * timeline reads keys and what consent decides on, not whole records).
 * `updatedSinceParam`: the parameter holding updatedSince, when the page is
 * narrowed to records updated after it. A table partitioned by patient gets
 * its patients a second time, from patient_ids_of_filters (an immutable
 * function of the filters, labs migration 009): PostgreSQL evaluates it while
 * planning, so it plans and reads only those patients' partitions; from
 * `p.id` alone it planned all of them and pruned at run time (planning a
 * chart's list took about 1 ms instead of 0.2 ms, every time: PostgreSQL kept
 * custom plans for it).
 */
export function patientPagesFrom(spec: PatientListSpec, filtersParam: string, columns?: string[], updatedSinceParam?: string): string {
  const t = spec.timeColumn;
  // Last updated: kept to the microsecond, read (and shown: lastUpdated, meta.lastUpdated) to the millisecond. A record
  // shown as updated at T is not "after T", so the bound is T + 1 ms on the column itself (its index stays usable).
  return `FROM jsonb_to_recordset(${filtersParam}::jsonb) AS p(id uuid, orgs text[], pairs text[], bg_orgs text[])
     CROSS JOIN LATERAL (
       SELECT ${columns ? columns.map((c) => `r.${c}`).join(', ') : '*'} FROM ${spec.table} r
       WHERE r.patient_id = p.id${spec.partitionedByPatient ? `
         AND r.patient_id = ANY(patient_ids_of_filters(${filtersParam}::jsonb))` : ''}
         AND ${recordFilterSql(spec.organizationColumn ?? 'organization_id', spec.addresseesColumn)}
         AND ($2::timestamptz IS NULL OR r.${t} >= $2::timestamptz)
         AND ($3::timestamptz IS NULL OR r.${t} < $3::timestamptz)
         AND ($4::timestamptz IS NULL OR (r.${t}, r.id) < ($4::timestamptz, $5::uuid))
         ${spec.where ? `AND (${spec.where})` : ''}
         ${updatedSinceParam ? `AND r.${spec.lastUpdatedColumn} >= ${updatedSinceParam}::timestamptz + interval '1 millisecond'` : ''}
       ORDER BY r.${t} DESC, r.id DESC
       LIMIT $6
     ) r`;
}

/** The filters parameter ($1) of the patients who may see anything, and the page's bounds ($2–$6), then spec.params ($7…). */
export function patientPagesParams(spec: PatientListSpec, filters: PatientRecordFilter[], args: NormalisedPageArgs): unknown[] {
  return [patientFiltersParam(filters), args.from, args.to, args.after?.time ?? null, args.after && isUuid(args.after.id) ? args.after.id : args.after ? '00000000-0000-0000-0000-000000000000' : null, args.first + 1, ...(spec.params ?? [])];
}

/** Patients' consent filters as the JSON parameter patientPagesFrom reads (those who may see nothing left out). */
export const patientFiltersParam = (filters: PatientRecordFilter[]) => JSON.stringify(filters.filter(filterOpensAnything));

/** Whether the actor may see this row at all (record level). */
export async function maySee(context: SubgraphContext, access: RecordAccess, row: Record<string, unknown>): Promise<boolean> {
  return (await decideRow(context.consent, access, row, access.category)).decision.allow;
}

/** The key of a record known with its patient, for the loaders that read by (patient_id, …): `<patient>|<id>`. */
const patientKey = (patientId: string, id: string) => `${patientId.toLowerCase()}|${id.toLowerCase()}`;
const splitPatientKey = (key: string) => ({ patientId: key.slice(0, key.indexOf('|')), id: key.slice(key.indexOf('|') + 1) });

/**
 * Rows by id, one statement per request and table, before any consent check. `patientId`: the record's patient,
 * when the caller knows it (a timeline node): the statement names the patients too, so a table partitioned by
 * patient (labs' observation) is read in their partitions by its (patient_id, id) key; by id alone, every
 * partition's id index is probed.
 */
function rowById<Row extends Record<string, unknown>>(context: SubgraphContext, table: string, id: string, patientId?: string): Promise<Row | null> {
  if (patientId !== undefined && isUuid(patientId)) {
    const loader = context.loader<string, Row | null>(`byPatientAndId:${table}`, async (keys) => {
      const pairs = keys.map(splitPatientKey);
      const rows = await context.db.query<Row>(`SELECT * FROM ${table} WHERE patient_id = ANY($2::uuid[]) AND id = ANY($1::uuid[])`,
        [[...new Set(pairs.map((pair) => pair.id))], [...new Set(pairs.map((pair) => pair.patientId))]]);
      const byKey = new Map(rows.map((row) => [patientKey(String(row.patient_id), String(row.id)), row]));
      return keys.map((key) => byKey.get(key) ?? null);
    });
    return loader.load(patientKey(patientId, id));
  }
  const loader = context.loader<string, Row | null>(`byId:${table}`, async (ids) => {
    const rows = await context.db.query<Row>(`SELECT * FROM ${table} WHERE id = ANY($1::uuid[])`, [[...ids]]);
    const byId = new Map(rows.map((row) => [String(row.id), row]));
    return ids.map((key) => byId.get(key) ?? null);
  });
  return loader.load(id);
}

/**
 * Looks a record up by id (a root query such as `encounter(id)`): null when
 * the actor may not see it, exactly as when it does not exist, so a lookup
 * is no oracle of what exists.
 */
export async function loadById<Row extends Record<string, unknown>>(context: SubgraphContext, table: string, id: unknown, access: RecordAccess): Promise<Row | null> {
  if (!isUuid(id)) return null;
  const row = await rowById<Row>(context, table, id);
  return row && (await maySee(context, access, row)) ? row : null;
}

/**
 * Follows a reference the caller already holds (a condition's encounter, an
 * entity federation resolves for a record another subgraph returned): null
 * when the record does not exist; when the actor may not see it, an error
 * with the policy's code, so the field is null *with* a reason, never
 * silently. The message names no detail of the record (its labels, say).
 * `patientId`: the record's patient, when the reference carries it (rowById).
 */
export async function loadReference<Row extends Record<string, unknown>>(
  context: SubgraphContext, table: string, id: unknown, access: RecordAccess, patientId?: string,
): Promise<Row | null> {
  if (!isUuid(id)) return null;
  const row = await rowById<Row>(context, table, id, patientId);
  if (!row) return null;
  const { decision } = await decideRow(context.consent, access, row, access.category);
  if (decision.allow) return row;
  throw productError(decision.code, decision.code === 'FORBIDDEN' ? 'Your token does not reach this record' : 'The patient has not shared this record with you', { category: access.category });
}

/**
 * Loads child rows grouped by a foreign key in one statement per request, leaving out rows the actor may not see.
 * `patientId`: the parent's patient, when the children are the same patient's records (a report's results): the
 * statement then names the patients too, so a table partitioned by patient (labs' observation) reads only their
 * partitions instead of probing the foreign key's index in every one.
 */
export function loadChildren<Row extends Record<string, unknown>>(
  context: SubgraphContext, table: string, foreignKey: string, parentId: string, orderBy: string, access: RecordAccess, patientId?: string,
): Promise<Row[]> {
  const byPatient = patientId !== undefined;
  const loader = context.loader<string, Row[]>(`children:${table}:${foreignKey}${byPatient ? ':patient' : ''}`, async (keys) => {
    const pairs = keys.map((key) => (byPatient ? splitPatientKey(key) : { patientId: '', id: key }));
    const ids = pairs.map((pair) => pair.id);
    const rows = byPatient
      ? await context.db.query<Row>(`SELECT * FROM ${table} WHERE patient_id = ANY($2::uuid[]) AND ${foreignKey} = ANY($1::uuid[]) ORDER BY ${orderBy}`,
        [ids, [...new Set(pairs.map((pair) => pair.patientId))]])
      : await context.db.query<Row>(`SELECT * FROM ${table} WHERE ${foreignKey} = ANY($1::uuid[]) ORDER BY ${orderBy}`, [ids]);
    const visible = await Promise.all(rows.map((row) => maySee(context, access, row)));
    const grouped = new Map<string, Row[]>();
    rows.forEach((row, i) => {
      if (visible[i]) grouped.set(String(row[foreignKey]), [...(grouped.get(String(row[foreignKey])) ?? []), row]);
    });
    return ids.map((key) => grouped.get(key) ?? []);
  });
  return loader.load(byPatient ? patientKey(patientId, parentId) : parentId);
}
