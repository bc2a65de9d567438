/**
 * Recording an inpatient discharge. The stay is this subgraph's; the
 * follow-up plan belongs to public-health, which creates it through its
 * internal API before the stay is closed here: if public-health refuses or
 * cannot be reached, the stay stays open; if closing it fails after the plan
 * was made, a retry gets the same tasks back (public-health keeps one task per
 * plan step and encounter), so the two stores end up agreeing.
 */
import { isStaff, type Actor } from '../../../lib/trust/actor.js';
import { INTERNAL_APIS } from '../../../lib/runtime/internal-api.js';
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
 * asked only by staff of the hospital where the patient actually stays.
 */
export async function inpatientStay(db: Queryable, actor: Actor, body: unknown) {
  const encounterId = (body as { encounterId?: unknown } | null)?.encounterId;
  if (!isStaff(actor) || !actor.org || !isUuid(encounterId)) return { stay: null };
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

export async function recordDischarge(context: SubgraphContext, input: DischargeInput) {
  const { actor } = context;
  if (!isStaff(actor) || !actor.org) throw forbidden('Discharges are recorded by clinical staff');
  if (!scopesAllow(parseScopes(actor.scope), 'encounters', 'write')) throw forbidden('The token has no write scope for Encounter');
  if (!isUuid(input.encounterId)) throw productError(ErrorCode.notFound, 'No such encounter');
  const disposition = input.disposition ?? 'home';
  if (!DISCHARGE_DISPOSITIONS[disposition]) throw badInput('disposition must be a FHIR discharge-disposition code', { allowed: Object.keys(DISCHARGE_DISPOSITIONS) });
  if (input.instructions && input.instructions.length > 1000) throw badInput('instructions is longer than 1000 characters');

  const [stay] = await context.db.query<Row>('SELECT * FROM encounter WHERE id = $1', [input.encounterId]);
  if (!stay || !(await maySee(context, ENCOUNTER, stay))) throw productError(ErrorCode.notFound, 'No such encounter');
  if (stay.organization_id !== actor.org) throw forbidden('Only staff of the organisation where the patient stayed record the discharge');
  if (stay.class !== 'IMP') throw badInput('Only inpatient stays are discharged');
  if (stay.status === 'finished' || stay.period_end) throw productError(ErrorCode.conflict, 'The stay has already ended');
  const dischargedAt = input.dischargedAt ?? new Date();
  if (dischargedAt.getTime() < new Date(stay.period_start).getTime()) throw badInput('dischargedAt is before the admission');
  if (dischargedAt.getTime() > Date.now() + 5 * 60_000) throw badInput('dischargedAt is in the future');
  if (input.primaryCareOrganizationId) {
    await requireRegistered(context.internal, { organizations: [{ id: input.primaryCareOrganizationId, field: 'primaryCareOrganizationId' }] });
  }
  const diagnoses = await context.db.query<{ code: string; display: string }>('SELECT code, display FROM condition WHERE encounter_id = $1 ORDER BY recorded_date', [stay.id]);
  // The plan first, outside any transaction here: public-health asks this
  // subgraph to confirm the stay, which an open transaction would hold up.
  const plan = await context.internal.call<{ primaryCareOrganizationId: string; taskIds: string[] }>(INTERNAL_APIS.dischargePlan, {
    encounterId: stay.id, patientId: stay.patient_id, dischargedAt: dischargedAt.toISOString(),
    primaryCareOrganizationId: input.primaryCareOrganizationId ?? null, diagnoses, instructions: input.instructions ?? null,
  });
  // Then the discharge, only if the stay is still open: of two concurrent
  // discharges one wins, the other gets CONFLICT, and both found the same plan.
  const [encounter] = await context.db.query<Row>(
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
