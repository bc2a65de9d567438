/**
 * Mutual recognition of results across the alliance ("avoid repeated
 * tests"), shared by labs (per LOINC code) and imaging (per DICOM modality).
 *
 * Each owner keeps a table of entries: an organisation, the code its results
 * are recognised for (null: every code) and the period in which they count.
 * A result is recognised alliance-wide when an entry of its producing
 * organisation covers its code at the time it was taken.
 *
 * Administrators keep the tables at run time: they add an entry (for an
 * organisation of identity's registry, checked through `/internal/registry`)
 * and end one; nothing is ever deleted or rewritten (a trigger refuses it),
 * so each table is its own history, every entry naming who recorded it and
 * who ended it.
 */
import type { Queryable } from '../runtime/db.js';
import { badInput, ErrorCode, productError } from '../runtime/errors.js';
import type { Row } from './records.js';
import { REGISTRY_ID, requireRegistered, requireRegistryAdmin } from './registry.js';
import type { SubgraphContext } from '../runtime/subgraph-context.js';

export const MAX_WITHIN_DAYS = 3650;
const DAY = 86_400_000;

/** A recognition table: its name and the column holding the code (LOINC code, DICOM modality). */
export interface RecognitionTable {
  table: string;
  codeColumn: string;
  /** Checks a code of this table (LOINC check digit, DICOM modality), refusing it with BAD_USER_INPUT. */
  checkCode: (value: unknown) => string;
}

/** Whether one of an organisation's entries covers `code` at `at`. */
export function isRecognized(table: RecognitionTable, entries: Row[], code: string, at: Date): boolean {
  const time = new Date(at).getTime();
  return entries.some((entry) =>
    (entry[table.codeColumn] === null || entry[table.codeColumn] === code)
    && new Date(entry.period_start).getTime() <= time
    && (entry.period_end === null || time < new Date(entry.period_end).getTime()));
}

/** The entries of an organisation, one statement per request for every organisation asked. */
export function recognitionOf(context: SubgraphContext, table: RecognitionTable, organizationId: string): Promise<Row[]> {
  return context
    .loader<string, Row[]>(`recognition:${table.table}`, async (organizationIds) => {
      const rows = await context.db.query<Row>(
        `SELECT organization_id, ${table.codeColumn}, period_start, period_end FROM ${table.table} WHERE organization_id = ANY($1::text[])`,
        [[...organizationIds]],
      );
      return organizationIds.map((id) => rows.filter((row) => row.organization_id === id));
    })
    .load(organizationId);
}

/** Whether the result of `row` is recognised: its organisation's entries cover its code at its time. */
export async function recognized(context: SubgraphContext, table: RecognitionTable, organizationId: string, code: string, at: Date): Promise<boolean> {
  return isRecognized(table, await recognitionOf(context, table, organizationId), code, at);
}

/** The start of the look-back window: `withinDays` (1 to 3650, default `fallback`) before `now`. */
export function windowStart(now: Date, withinDays: number | null | undefined, fallback: number): Date {
  const days = withinDays ?? fallback;
  if (!Number.isInteger(days) || days < 1 || days > MAX_WITHIN_DAYS) throw badInput(`withinDays must be between 1 and ${MAX_WITHIN_DAYS}`);
  return new Date(now.getTime() - days * DAY);
}

/** An entry to add: the organisation, the code (null: every code), the period its results count, why. */
export interface RecognitionEntryInput {
  organizationId: string;
  code: string | null;
  /** Default: now. */
  periodStart?: Date | null;
  /** Default: open-ended. */
  periodEnd?: Date | null;
  basis: string;
}

export interface RecognitionEntry {
  organizationId: string;
  code: string | null;
  periodStart: Date;
  periodEnd: Date | null;
  basis: string;
}

/** Checks an entry (all but whether its organisation is registered) and fills in the defaults. */
export function validRecognitionEntry(table: RecognitionTable, input: RecognitionEntryInput, now: Date = new Date()): RecognitionEntry {
  if (typeof input.organizationId !== 'string' || !REGISTRY_ID.test(input.organizationId)) throw badInput('organizationId must be an organisation id of the registry, such as org-county-north');
  const code = input.code === null || input.code === undefined ? null : table.checkCode(input.code);
  const periodStart = input.periodStart ?? now;
  const periodEnd = input.periodEnd ?? null;
  if (Number.isNaN(periodStart.getTime()) || (periodEnd && Number.isNaN(periodEnd.getTime()))) throw badInput('periodStart and periodEnd must be instants');
  if (periodEnd && periodEnd <= periodStart) throw badInput('periodEnd must be after periodStart');
  const basis = typeof input.basis === 'string' ? input.basis.trim().replace(/\s+/g, ' ') : '';
  if (basis.length < 3 || basis.length > 500) throw badInput('basis says why the results are recognised (an accreditation, a quality programme): 3 to 500 characters');
  return { organizationId: input.organizationId, code, periodStart, periodEnd, basis };
}

/** Stores a checked entry; `recordedBy` is who added it (token subject, or the demo seed). */
export async function insertRecognitionEntry(db: Queryable, table: RecognitionTable, entry: RecognitionEntry, recordedBy: string, id?: string): Promise<Row> {
  const [row] = await db.query<Row>(
    `INSERT INTO ${table.table} (id, organization_id, ${table.codeColumn}, period_start, period_end, basis, recorded_by)
     VALUES (COALESCE($1, gen_random_uuid()::text), $2, $3, $4, $5, $6, $7) RETURNING *`,
    [id ?? null, entry.organizationId, entry.code, entry.periodStart.toISOString(), entry.periodEnd?.toISOString() ?? null, entry.basis, recordedBy]);
  return row!;
}

/**
 * Administrators: adds an entry. Its organisation must be an active
 * organisation of identity's registry; the code is checked like a query's
 * (LOINC check digit, DICOM modality). Nothing is written when either fails.
 */
export async function addRecognitionEntry(context: SubgraphContext, table: RecognitionTable, input: RecognitionEntryInput): Promise<Row> {
  requireRegistryAdmin(context.actor);
  const entry = validRecognitionEntry(table, input);
  await requireRegistered(context.internal, { organizations: [{ id: entry.organizationId, field: 'organizationId' }] });
  return insertRecognitionEntry(context.db, table, entry, context.actor.sub);
}

/**
 * Administrators: ends an entry at `end` (default now): its period closes
 * there, and who ended it and when are kept. An entry is ended once
 * (CONFLICT after); `end` must fall inside its period.
 */
export async function endRecognitionEntry(context: SubgraphContext, table: RecognitionTable, id: string, end?: Date | null): Promise<Row> {
  requireRegistryAdmin(context.actor);
  const at = end ?? new Date();
  if (Number.isNaN(at.getTime())) throw badInput('end must be an instant');
  return context.db.transaction(async (tx) => {
    const [entry] = await tx.query<Row>(`SELECT * FROM ${table.table} WHERE id = $1 FOR UPDATE`, [id]);
    if (!entry) throw productError(ErrorCode.notFound, 'No such recognition entry');
    if (entry.ended_at) throw productError(ErrorCode.conflict, `This recognition entry was already ended by ${entry.ended_by}`);
    if (at.getTime() <= new Date(entry.period_start).getTime()) throw badInput('end must be after the entry\'s periodStart');
    if (entry.period_end && at.getTime() >= new Date(entry.period_end).getTime()) throw badInput(`The entry already ends at ${new Date(entry.period_end).toISOString()}`);
    const [row] = await tx.query<Row>(
      `UPDATE ${table.table} SET period_end = $2, ended_at = now(), ended_by = $3 WHERE id = $1 RETURNING *`, [id, at.toISOString(), context.actor.sub]);
    return row!;
  });
}

export interface RecognitionFilter {
  organizationId?: string | null;
  /** Entries covering this code: for it, or for every code. */
  code?: string | null;
  /** Entries whose period covers this instant. */
  activeAt?: Date | null;
}

/** The entries of a table matching the filter, ended ones included, by organisation, code (every code first) and start. */
export async function listRecognitionEntries(context: SubgraphContext, table: RecognitionTable, filter: RecognitionFilter): Promise<Row[]> {
  const code = filter.code === null || filter.code === undefined ? null : table.checkCode(filter.code);
  return context.db.query<Row>(
    `SELECT * FROM ${table.table}
     WHERE ($1::text IS NULL OR organization_id = $1) AND ($2::text IS NULL OR ${table.codeColumn} IS NULL OR ${table.codeColumn} = $2)
       AND ($3::timestamptz IS NULL OR (period_start <= $3 AND (period_end IS NULL OR $3 < period_end)))
     ORDER BY organization_id, ${table.codeColumn} NULLS FIRST, period_start, id`,
    [filter.organizationId ?? null, code, filter.activeAt?.toISOString() ?? null]);
}

/** The fields of a recognition entry type (LabResultRecognition, ImagingResultRecognition), but its code. */
export const recognitionEntryFields = {
  organization: (row: Row) => ({ id: row.organization_id }),
  period: (row: Row) => ({ start: row.period_start, end: row.period_end }),
  basis: (row: Row) => row.basis,
  active: (row: Row) => isRecognizedNow(row),
  recordedAt: (row: Row) => row.recorded_at,
  recordedBy: (row: Row) => row.recorded_by,
  endedAt: (row: Row) => row.ended_at,
  endedBy: (row: Row) => row.ended_by,
};

const isRecognizedNow = (row: Row, now = Date.now()) =>
  new Date(row.period_start).getTime() <= now && (row.period_end === null || now < new Date(row.period_end).getTime());
