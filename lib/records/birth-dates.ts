/**
 * Identity's internal birth-date API, shared by its owner (identity serves it)
 * and its callers (public-health dates immunisation schedules with it):
 * POST `/internal/birth-dates` with `{ patientIds }` and the forwarded actor
 * token, answered with `{ [patientId]: "YYYY-MM-DD" }` for the patients the
 * actor may see the demographics of.
 */
import { INTERNAL_APIS, type InternalCaller } from '../runtime/internal-api.js';

/** Most patient ids one call carries (identity reads at most this many). */
export const BIRTH_DATES_BATCH = 1000;

/**
 * Birth dates of `patientIds` from identity, one call per
 * BIRTH_DATES_BATCH patients, in parallel.
 */
export async function fetchBirthDates(internal: InternalCaller, patientIds: readonly string[]): Promise<Map<string, string>> {
  const ids = [...new Set(patientIds)];
  const chunks: string[][] = [];
  for (let start = 0; start < ids.length; start += BIRTH_DATES_BATCH) chunks.push(ids.slice(start, start + BIRTH_DATES_BATCH));
  const answers = await Promise.all(chunks.map((chunk) => internal.call<Record<string, string>>(INTERNAL_APIS.birthDates, { patientIds: chunk })));
  const birthDates = new Map<string, string>();
  for (const answer of answers) {
    for (const [patientId, birthDate] of Object.entries(answer)) if (/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) birthDates.set(patientId, birthDate);
  }
  return birthDates;
}
