/**
 * Mutual recognition of results across the alliance ("avoid repeated
 * tests"), shared by labs (per LOINC code) and imaging (per DICOM modality).
 *
 * Each owner keeps a table of entries: an organisation, the code its results
 * are recognised for (null: every code) and the period in which they count.
 * A result is recognised alliance-wide when an entry of its producing
 * organisation covers its code at the time it was taken.
 */
import { badInput } from './errors.js';
import type { Row } from './records.js';
import type { SubgraphContext } from './subgraph.js';

export const MAX_WITHIN_DAYS = 3650;
const DAY = 86_400_000;

/** A recognition table: its name and the column holding the code (LOINC code, DICOM modality). */
export interface RecognitionTable {
  table: string;
  codeColumn: string;
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
