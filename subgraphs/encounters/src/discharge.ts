/**
 * Recording an inpatient discharge. The stay is this subgraph's; the
 * follow-up plan belongs to public-health, which creates it through its
 * internal API before the stay is closed here: if public-health refuses or
 * cannot be reached, the stay stays open; if closing it fails after the plan
 * was made, a retry gets the same tasks back (public-health keeps one task per
 * plan step and encounter), so the two stores end up agreeing.
 */
import { mayPublish, readsAsStaff, type Actor } from '../../../lib/trust/actor.js';
import { INTERNAL_APIS, type InternalCaller } from '../../../lib/runtime/internal-api.js';
import { isUuid, maySee } from '../../../lib/records/connection.js';
import { badInput, ErrorCode, forbidden, productError } from '../../../lib/runtime/errors.js';
import type { Queryable } from '../../../lib/runtime/db.js';
import { requireRegistered } from '../../../lib/records/registry.js';
import type { Row } from '../../../lib/records/records.js';
import { parseScopes, scopesAllow } from '../../../lib/trust/scopes.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { ENCOUNTER } from './access.js';

/**
 * The facts of an inpatient stay public-health needs to accept a discharge
 * plan: only for a stay of the caller's own organisation, so a plan can be
 * asked only by staff of the hospital where the patient actually stays (or
 * its own system, discharging over HL7 v2 ADT^A03).
 */
export async function inpatientStay(db: Queryable, actor: Actor, body: unknown) {
  const encounterId = (body as { encounterId?: unknown } | null)?.encounterId;
  if (!readsAsStaff(actor) || !actor.org || !isUuid(encounterId)) return { stay: null };
  const [stay] = await db.query<Row>(
    `SELECT id, patient_id, organization_id, class, status FROM encounter WHERE id = $1 AND organization_id = $2 AND class = 'IMP'`, [encounterId, actor.org]);
  return { stay: stay ? { encounterId: stay.id, patientId: stay.patient_id, organizationId: stay.organization_id, status: stay.status } : null };
}

/** FHIR discharge-disposition codes (http://terminology.hl7.org/CodeSystem/discharge-disposition). */
export const DISCHARGE_DISPOSITIONS: Record<string, string> = {
  home: 'Home', 'alt-home': 'Alternative home', 'other-hcf': 'Other healthcare facility', hosp: 'Hospice', long: 'Long-term care',
  aadvice: 'Left against advice', exp: 'Expired', psy: 'Psychiatric hospital', rehab: 'Rehabilitation', snf: 'Skilled nursing facility', oth: 'Other',
};

export interface DischargeInput {
  encounterId: string;
  dischargedAt?: Date | null;
  disposition?: string | null;
  primaryCareOrganizationId?: string | null;
  instructions?: string | null;
}

/**
 * Who may record a discharge: the hospital's clinical staff, or its own
 * registered system (an HL7 v2 ADT^A03 from its ADT system: role `system`,
 * the same provenance rules as every HL7 v2 message), with a write scope
 * for Encounter.
 */
function mayDischarge(actor: Actor): void {
  if (!mayPublish(actor)) throw forbidden('Discharges are recorded by clinical staff or the hospital\'s own system');
  if (!scopesAllow(parseScopes(actor.scope), 'encounters', 'write')) throw forbidden('The token has no write scope for Encounter');
}

/** Checks a discharge's input (disposition, instructions) and returns its disposition. */
function dispositionOf(input: Pick<DischargeInput, 'disposition' | 'instructions'>): string {
  const disposition = input.disposition ?? 'home';
  if (!DISCHARGE_DISPOSITIONS[disposition]) throw badInput('disposition must be a FHIR discharge-disposition code', { allowed: Object.keys(DISCHARGE_DISPOSITIONS) });
  if (input.instructions && input.instructions.length > 1000) throw badInput('instructions is longer than 1000 characters');
  return disposition;
}

export async function recordDischarge(context: SubgraphContext, input: DischargeInput) {
  const { actor } = context;
  mayDischarge(actor);
  if (!isUuid(input.encounterId)) throw productError(ErrorCode.notFound, 'No such encounter');
  dispositionOf(input);
  const [stay] = await context.db.query<Row>('SELECT * FROM encounter WHERE id = $1', [input.encounterId]);
  if (!stay || !(await maySee(context, ENCOUNTER, stay))) throw productError(ErrorCode.notFound, 'No such encounter');
  return dischargeStay(context.db, context.internal, actor, stay, input);
}

/**
 * The discharge of a stay the caller may discharge: checks, the follow-up
 * plan (public-health), then the stay closed. One path for the GraphQL
 * mutation and for HL7 v2 ADT^A03.
 */
async function dischargeStay(db: Queryable, internal: InternalCaller, actor: Actor, stay: Row, input: Omit<DischargeInput, 'encounterId'>) {
  const disposition = dispositionOf(input);
  if (stay.organization_id !== actor.org) throw forbidden('Only staff of the organisation where the patient stayed record the discharge');
  if (stay.class !== 'IMP') throw badInput('Only inpatient stays are discharged');
  if (stay.status === 'finished' || stay.period_end) throw productError(ErrorCode.conflict, 'The stay has already ended');
  const dischargedAt = input.dischargedAt ?? new Date();
  if (dischargedAt.getTime() < new Date(stay.period_start).getTime()) throw badInput('dischargedAt is before the admission');
  if (dischargedAt.getTime() > Date.now() + 5 * 60_000) throw badInput('dischargedAt is in the future');
  if (input.primaryCareOrganizationId) {
    await requireRegistered(internal, { organizations: [{ id: input.primaryCareOrganizationId, field: 'primaryCareOrganizationId' }] });
  }
  const diagnoses = await db.query<{ code: string; display: string }>('SELECT code, display FROM condition WHERE encounter_id = $1 ORDER BY recorded_date', [stay.id]);
  // The plan first, outside any transaction here: public-health asks this
  // subgraph to confirm the stay, which an open transaction would hold up.
  const plan = await internal.call<{ primaryCareOrganizationId: string; taskIds: string[] }>(INTERNAL_APIS.dischargePlan, {
    encounterId: stay.id, patientId: stay.patient_id, dischargedAt: dischargedAt.toISOString(),
    primaryCareOrganizationId: input.primaryCareOrganizationId ?? null, diagnoses, instructions: input.instructions ?? null,
  });
  // Then the discharge, only if the stay is still open: of two concurrent
  // discharges one wins, the other gets CONFLICT, and both found the same plan.
  const [encounter] = await db.query<Row>(
    `UPDATE encounter SET status = 'finished', period_end = $2, discharge_disposition = $3
     WHERE id = $1 AND status <> 'finished' AND period_end IS NULL RETURNING *`,
    [stay.id, dischargedAt.toISOString(), disposition]);
  if (!encounter) throw productError(ErrorCode.conflict, 'The stay has already ended');
  return {
    encounter,
    primaryCareOrganization: { id: plan.primaryCareOrganizationId },
    followUpTasks: plan.taskIds.map((id) => ({ id })),
  };
}

/** What an HL7 v2 ADT^A03 asks (gateway/src/hl7v2/adt.ts): the visit by its PV1-19 identifier, the patient of PID-3. */
interface Hl7v2DischargeRequest {
  visit: { system: string; value: string };
  patientId: string | null;
  dischargedAt: string;
  disposition?: string | null;
  primaryCareOrganizationId?: string | null;
}

/**
 * HL7 v2 ADT^A03 from the hospital's own system: the stay its organisation
 * published under this visit number (PV1-19), of the patient PID-3 names,
 * discharged exactly as recordDischarge does. A resend of the same discharge
 * (same time) answers what was recorded; `outcome` says which.
 */
export async function hl7v2Discharge(db: Queryable, internal: InternalCaller, actor: Actor, body: unknown) {
  mayDischarge(actor);
  const request = (body ?? {}) as Partial<Hl7v2DischargeRequest>;
  const visit = request.visit;
  if (!visit || typeof visit.system !== 'string' || typeof visit.value !== 'string' || visit.value.length > 200 || visit.system.length > 500
    || typeof request.dischargedAt !== 'string' || Number.isNaN(Date.parse(request.dischargedAt))
    || (request.patientId !== null && request.patientId !== undefined && !isUuid(request.patientId))) {
    throw badInput('Malformed discharge request');
  }
  const [stay] = await db.query<Row>(
    `SELECT e.* FROM record_identifier r JOIN encounter e ON e.id = r.record_id
     WHERE r.resource_type = 'Encounter' AND r.organization_id = $1 AND r.system = $2 AND r.value = $3`, [actor.org, visit.system, visit.value]);
  if (!stay) return { outcome: 'unknown-visit' };
  if (!request.patientId || stay.patient_id !== request.patientId) return { outcome: 'other-patient' };
  const dischargedAt = new Date(request.dischargedAt);
  if (stay.status === 'finished' && stay.period_end && new Date(stay.period_end).getTime() === dischargedAt.getTime()) {
    return { outcome: 'already-discharged', encounterId: stay.id };
  }
  const discharge = await dischargeStay(db, internal, actor, stay, {
    dischargedAt, disposition: request.disposition ?? null, primaryCareOrganizationId: request.primaryCareOrganizationId ?? null,
  });
  return { outcome: 'discharged', encounterId: discharge.encounter.id, primaryCareOrganizationId: discharge.primaryCareOrganization.id, taskIds: discharge.followUpTasks.map((t) => t.id) };
}
