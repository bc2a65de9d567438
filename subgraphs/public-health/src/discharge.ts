/**
 * The follow-up plan of an inpatient discharge. The encounters subgraph owns
 * the stay and records the discharge; inside its transaction it calls this
 * internal API, which creates the plan's tasks for the patient's primary-care
 * organisation. If the call fails the discharge is rolled back; if the
 * discharge fails after the plan was made, a retry finds the same tasks (one
 * per step and encounter), so nothing is created twice.
 *
 * The primary-care organisation is the one the discharging clinician names,
 * or else the organisation responsible for the patient's active chronic
 * disease or elderly care enrolment (the township health centre that follows
 * them at home).
 */
import { mayPublish } from '../../../lib/trust/actor.js';
import { INTERNAL_APIS, type InternalCaller, type InternalRequest } from '../../../lib/runtime/internal-api.js';
import { isUuid } from '../../../lib/records/connection.js';
import { badInput, ErrorCode, forbidden } from '../../../lib/runtime/errors.js';
import type { Database } from '../../../lib/runtime/db.js';
import type { Row } from '../../../lib/records/records.js';
import { requireRegistered } from '../../../lib/records/registry.js';


export interface DischargePlanRequest {
  encounterId: string;
  patientId: string;
  dischargedAt: string;
  primaryCareOrganizationId?: string | null;
  /** Diagnoses of the stay (ICD-10 code and meaning), for the task descriptions. */
  diagnoses: { code: string; display: string }[];
  instructions?: string | null;
}

export interface DischargePlan {
  primaryCareOrganizationId: string;
  taskIds: string[];
}

/** The steps of the plan: who does what, how many days after discharge. */
const PLAN_STEPS = [
  { code: 'DISCHARGE-VISIT', role: 'nurse', dueInDays: 7, what: 'Post-discharge visit (home or clinic) within 7 days' },
  { code: 'DISCHARGE-MEDREC', role: 'clinician', dueInDays: 14, what: 'Medication reconciliation and review of the discharge summary' },
] as const;

/** Programmes whose responsible organisation is the patient's primary care. */
const PRIMARY_CARE_PROGRAMMES = ['HTN', 'DM', 'ELD'];

/**
 * The actor token is forwarded, not bound to this call's body, so the plan is
 * not taken on the caller's word: the stay's owner confirms that the encounter
 * is an inpatient stay of the caller's organisation, of this patient, still
 * open (its discharge is being recorded in the same transaction).
 */
async function confirmStay(internal: InternalCaller, request: DischargePlanRequest): Promise<void> {
  const { stay } = await internal.call<{ stay: { patientId: string; status: string } | null }>(INTERNAL_APIS.inpatientStay, { encounterId: request.encounterId });
  if (!stay || stay.patientId !== request.patientId || stay.status === 'finished') throw forbidden('No open inpatient stay of your organisation matches this discharge');
}

export async function createDischargePlan(db: Database, call: InternalRequest, body: unknown): Promise<DischargePlan> {
  const { actor } = call;
  // The discharging clinician's own token (or the hospital system's, HL7 v2 ADT^A03), as the gateway signed it.
  if (!mayPublish(actor)) throw forbidden('Discharges are recorded by clinical staff or the hospital\'s own system');
  const request = body as Partial<DischargePlanRequest>;
  if (!isUuid(request.encounterId) || !isUuid(request.patientId) || typeof request.dischargedAt !== 'string' || Number.isNaN(Date.parse(request.dischargedAt))) {
    throw badInput('Malformed discharge plan request');
  }
  await confirmStay(call.internal, request as DischargePlanRequest);
  const diagnoses = Array.isArray(request.diagnoses) ? request.diagnoses.slice(0, 20) : [];
  const about = diagnoses.length ? ` (${diagnoses.map((d) => `${d.code} ${d.display}`).join('; ')})` : '';
  const instructions = typeof request.instructions === 'string' && request.instructions.trim() ? ` Instructions: ${request.instructions.trim().slice(0, 1000)}` : '';

  const [enrolment] = await db.query<Row>(
    `SELECT e.organization_id, e.program_id FROM program_enrollment e JOIN program p ON p.id = e.program_id
     WHERE e.patient_id = $1 AND e.status = 'active' AND p.code = ANY($2::text[]) ORDER BY e.period_start DESC LIMIT 1`,
    [request.patientId, PRIMARY_CARE_PROGRAMMES]);
  const primaryCare: string | undefined = request.primaryCareOrganizationId ?? enrolment?.organization_id;
  if (!primaryCare) throw badInput('The patient has no primary-care organisation on record: name one (primaryCareOrganizationId)');
  if (primaryCare === actor.org) throw badInput('The follow-up plan goes to the primary-care organisation, not the discharging one');
  // Named or the programme's, the plan goes only to an active organisation of identity's registry (not one deactivated since the enrolment).
  try {
    await requireRegistered(call.internal, { organizations: [{ id: primaryCare, field: 'primaryCareOrganizationId' }] });
  } catch (error) {
    const refused = (error as { extensions?: { code?: string } }).extensions?.code === ErrorCode.badUserInput;
    if (!refused || request.primaryCareOrganizationId) throw error;
    throw badInput(`The organisation responsible for the patient's programme, ${primaryCare}, is no longer active in the registry: name one (primaryCareOrganizationId)`);
  }
  const programId = enrolment && enrolment.organization_id === primaryCare ? enrolment.program_id : null;

  return db.transaction(async (tx) => {
    const taskIds: string[] = [];
    for (const step of PLAN_STEPS) {
      const [task] = await tx.query<{ id: string }>(
        `INSERT INTO follow_up_task (id, patient_id, organization_id, program_id, description, due_date, status, assigned_role, authored_on, rule_code, based_on_encounter_id)
         VALUES (gen_random_uuid(), $1, $2, $3, $4, ($5::timestamptz + make_interval(days => $6))::date, 'requested', $7, date_trunc('milliseconds', now()), $8, $9)
         ON CONFLICT (based_on_encounter_id, rule_code) WHERE based_on_encounter_id IS NOT NULL DO UPDATE SET rule_code = EXCLUDED.rule_code
         RETURNING id`,
        [request.patientId, primaryCare, programId, `${step.what} after discharge from ${actor.org}${about}.${instructions}`, request.dischargedAt,
          step.dueInDays, step.role, step.code, request.encounterId]);
      taskIds.push(task!.id);
    }
    return { primaryCareOrganizationId: primaryCare, taskIds };
  });
}
