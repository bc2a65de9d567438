/**
 * Identity's internal API for patients' birth dates: POST /internal/birth-dates
 * with `{ patientIds }` (at most 1000) and the forwarded actor token answers
 * `{ [patientId]: "YYYY-MM-DD" }`. Public-health uses it to date a
 * programme's immunisation schedule (the due list) without reading identity's
 * tables.
 *
 * A birth date is demographics of the Patient record, so identity applies the
 * consent policy to the actor the token names before answering, with the
 * facts it owns (registrations, directives): the patient's record where the
 * policy opens it, else the birth date the caller's own organisation
 * registered (its registration, docs/consent.md). The one fact it does not own is
 * programme enrolment (consent rule 6, public_health staff): that is checked
 * by the calling public-health subgraph, which owns enrolments and asks only
 * for the children its own record-level check admitted; identity still
 * applies the role's category rule and the token's scopes. Patients left out
 * of the answer have no birth date or may not be seen.
 */
import type { Actor } from '../../../lib/trust/actor.js';
import { identityFactsFromDatabase, patientFacts } from '../../../lib/consent/access.js';
import { patientIdsOf } from '../../../lib/runtime/internal-api.js';
import { decide, type PatientFacts } from '../../../lib/consent/policy.js';
import { isUuid } from '../../../lib/records/connection.js';
import type { Database } from '../../../lib/runtime/db.js';

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
  const record = (organizationId: string | null) => (patientId: string) =>
    decide(actor, { patientId, category: 'demographics', organizationId, sensitivityLabels: [] }, factsOf(patientId), now).allow;
  // The patient's record where the policy opens it; else the birth date the caller's own organisation registered.
  const allowed = ids.filter(record(null));
  const registered = actor.org ? ids.filter((id) => !allowed.includes(id) && factsOf(id).registeredOrganizationIds.includes(actor.org!) && record(actor.org)(id)) : [];
  if (allowed.length + registered.length === 0) return {};
  const rows = await db.query<{ id: string; birth_date: string | null }>(
    `SELECT id, birth_date FROM patient WHERE id = ANY($1::uuid[]) AND birth_date IS NOT NULL
     UNION ALL
     SELECT p.id, CASE WHEN r.patient_id IS NULL THEN p.birth_date ELSE r.birth_date END FROM patient p
       LEFT JOIN patient_registration r ON r.patient_id = p.id AND r.organization_id = $3
     WHERE p.id = ANY($2::uuid[]) AND CASE WHEN r.patient_id IS NULL THEN p.birth_date ELSE r.birth_date END IS NOT NULL`,
    [allowed, registered, actor.org]);
  return Object.fromEntries(rows.map((row) => [row.id, String(row.birth_date).slice(0, 10)]));
}
