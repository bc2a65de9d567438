/**
 * Identity's internal API for patients' birth dates: POST /internal/birth-dates
 * with `{ patientIds }` (at most 1000) and the forwarded actor token answers
 * `{ [patientId]: "YYYY-MM-DD" }`. Public-health uses it to date a
 * programme's immunisation schedule (the due list) without reading identity's
 * tables.
 *
 * A birth date is demographics of the Patient record, so identity applies the
 * consent policy to the actor the token names before answering, with the
 * facts it owns (registrations, directives). The one fact it does not own is
 * programme enrolment (consent rule 6, public_health staff): that is checked
 * by the calling public-health subgraph, which owns enrolments and asks only
 * for the children its own record-level check admitted; identity still
 * applies the role's category rule and the token's scopes. Patients left out
 * of the answer have no birth date or may not be seen.
 */
import type { Actor } from '../../../lib/actor.js';
import { identityFactsFromDatabase, patientFacts } from '../../../lib/consent/access.js';
import { patientIdsOf } from '../../../lib/internal-api.js';
import { decide, type PatientFacts } from '../../../lib/consent/policy.js';
import { isUuid } from '../../../lib/connection.js';
import type { Database } from '../../../lib/db.js';

export async function birthDates(db: Database, actor: Actor, body: unknown): Promise<Record<string, string>> {
  const ids = [...new Set(patientIdsOf(body).filter(isUuid).map((id) => id.toLowerCase()))];
  if (ids.length === 0) return {};
  const now = new Date();
  let factsOf: (patientId: string) => PatientFacts;
  if (actor.role === 'public_health') {
    // Enrolment is vouched for by public-health (see above); the rest of rule 6 and the scopes apply here.
    factsOf = (patientId) => ({ patientId, registeredOrganizationIds: [], directives: [], programmeOrganizationIds: actor.org ? [actor.org] : [] });
  } else {
    const facts = new Map(patientFacts(await identityFactsFromDatabase(db, ids), ids).map((f) => [f.patientId, f]));
    factsOf = (patientId) => facts.get(patientId)!;
  }
  const allowed = ids.filter((patientId) =>
    decide(actor, { patientId, category: 'demographics', organizationId: null, sensitivityLabels: [] }, factsOf(patientId), now).allow);
  if (allowed.length === 0) return {};
  const rows = await db.query<{ id: string; birth_date: string | null }>(
    'SELECT id, birth_date FROM patient WHERE id = ANY($1::uuid[]) AND birth_date IS NOT NULL', [allowed]);
  return Object.fromEntries(rows.map((row) => [row.id, String(row.birth_date).slice(0, 10)]));
}
