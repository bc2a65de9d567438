/**
 * The referral workflow (FHIR ServiceRequest) and remote consultations.
 *
 * Staff act for their own organisation only: the referring organisation
 * creates and cancels a referral, the receiving one accepts (with an
 * appointment), declines (with a reason) and completes it. Status changes
 * follow one table, so a referral cannot be accepted twice or completed after
 * it was cancelled; each change runs in one transaction on a locked row.
 *
 * The receiving organisation sees the referral itself (it is addressed to it,
 * see `addressee_organization_ids`); the rest of the patient's record it
 * reaches only through the patient's consent. A referral can ask for that
 * consent: the patient approves by granting the receiving organisation a
 * permit for the categories asked for (identity's `grantConsent`), and the
 * referral shows the request as APPROVED from the next request on.
 */
import { isStaff, type Actor } from '../../../lib/trust/actor.js';
import { permitsOrganization } from '../../../lib/consent/policy.js';
import { isUuid, maySee, normalisePageArgs, type Page } from '../../../lib/records/connection.js';
import { decodeKeyset, fillPage, isIsoInstant } from '../../../lib/trust/keyset.js';
import { badInput, ErrorCode, forbidden, productError } from '../../../lib/runtime/errors.js';
import type { Queryable } from '../../../lib/runtime/db.js';
import { requireRegistered } from '../../../lib/records/registry.js';
import type { Row } from '../../../lib/records/records.js';
import { categoryFromEnum, categoryToEnum, parseScopes, scopesAllow, type Category } from '../../../lib/trust/scopes.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { REFERRAL } from './access.js';

export type ReferralStatus = 'requested' | 'accepted' | 'declined' | 'completed' | 'cancelled';

/** Which side acts on a referral, and which statuses each action leaves. */
const TRANSITIONS = {
  accept: { by: 'performer', from: ['requested'], to: 'accepted' },
  decline: { by: 'performer', from: ['requested'], to: 'declined' },
  complete: { by: 'performer', from: ['accepted'], to: 'completed' },
  cancel: { by: 'requester', from: ['requested', 'accepted'], to: 'cancelled' },
} as const satisfies Record<string, { by: 'performer' | 'requester'; from: ReferralStatus[]; to: ReferralStatus }>;
export type ReferralAction = keyof typeof TRANSITIONS;

/** ICD-10 code shape: a letter, two digits or digit+letter, optional subdivision (I10, E11.9, O24.4). */
const ICD10 = /^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$/;
const DAY = 86_400_000;

export interface ReferralInput {
  patientId: string;
  performerOrganizationId: string;
  reasonCode: string;
  reasonDisplay?: string | null;
  note?: string | null;
  consentRequestCategories?: string[] | null;
}

export interface RemoteConsultationInput {
  referralId: string;
  start: Date;
  end?: Date | null;
  participants: { practitionerId: string; organizationId: string }[];
}

function requireStaffWriting(actor: Actor): string {
  if (!isStaff(actor) || !actor.org) throw forbidden('Referrals are written by clinical staff for their organisation');
  if (!scopesAllow(parseScopes(actor.scope), 'referrals', 'write')) throw forbidden('The token has no write scope for ServiceRequest');
  return actor.org;
}

const text = (value: string | null | undefined, name: string, max: number) => {
  if (value == null) return null;
  const trimmed = value.trim();
  if (trimmed.length > max) throw badInput(`${name} is longer than ${max} characters`);
  return trimmed || null;
};

export async function createReferral(context: SubgraphContext, input: ReferralInput): Promise<Row> {
  const organizationId = requireStaffWriting(context.actor);
  if (!isUuid(input.patientId)) throw badInput('patientId must be a patient id (UUID)');
  const reasonCode = input.reasonCode.trim().toUpperCase();
  if (!ICD10.test(reasonCode)) throw badInput('reasonCode must be an ICD-10 code such as I10 or E11.9');
  const categories = [...new Set((input.consentRequestCategories ?? []).map(categoryFromEnum))];
  if (input.performerOrganizationId === organizationId) throw badInput('A referral goes to another organisation');
  // Staff refer patients they reach (registered at their organisation, or shared with them).
  if (!(await context.consent.mayReachPatient(input.patientId))) throw productError(ErrorCode.notFound, 'No such patient among those you may see');
  // The receiving organisation: an active organisation of identity's registry, as it stands now.
  await requireRegistered(context.internal, { organizations: [{ id: input.performerOrganizationId, field: 'performerOrganizationId' }] });

  const [referral] = await context.db.query<Row>(
    `INSERT INTO referral (id, patient_id, requester_organization_id, requester_practitioner_id, performer_organization_id, status,
       reason_code, reason_display, note, authored_on, consent_request_categories, status_changed_at)
     VALUES (gen_random_uuid(), $1, $2, $3, $4, 'requested', $5, $6, $7, date_trunc('milliseconds', now()), $8, now()) RETURNING *`,
    [input.patientId, organizationId, context.actor.sub, input.performerOrganizationId, reasonCode,
      text(input.reasonDisplay, 'reasonDisplay', 200), text(input.note, 'note', 2000), categories],
  );
  return referral!;
}

/** Locks a referral the caller may see, or answers NOT_FOUND without saying whether it exists. */
async function lockVisibleReferral(tx: Queryable, context: SubgraphContext, id: string): Promise<Row> {
  if (!isUuid(id)) throw productError(ErrorCode.notFound, 'No such referral');
  const [referral] = await tx.query<Row>('SELECT * FROM referral WHERE id = $1 FOR UPDATE', [id]);
  if (!referral || !(await maySee(context, REFERRAL, referral))) throw productError(ErrorCode.notFound, 'No such referral');
  return referral;
}

export async function changeReferralStatus(
  context: SubgraphContext, action: ReferralAction, id: string, details: { appointmentTime?: Date; reason?: string | null } = {},
): Promise<Row> {
  const organizationId = requireStaffWriting(context.actor);
  const transition = TRANSITIONS[action];
  if (action === 'accept') {
    const time = details.appointmentTime!.getTime();
    if (time < Date.now() - 60_000 || time > Date.now() + 365 * DAY) throw badInput('appointmentTime must be within the next year');
  }
  const reason = text(details.reason, 'reason', 500);
  if (action === 'decline' && !reason) throw badInput('A declined referral needs a reason');
  return context.db.transaction(async (tx) => {
    const referral = await lockVisibleReferral(tx, context, id);
    const side = transition.by === 'performer' ? referral.performer_organization_id : referral.requester_organization_id;
    if (side !== organizationId) {
      throw forbidden(transition.by === 'performer' ? 'Only the receiving organisation may do this' : 'Only the referring organisation may do this');
    }
    if (!(transition.from as readonly string[]).includes(referral.status)) {
      throw productError(ErrorCode.conflict, `A referral that is ${referral.status} cannot be ${transition.to}`);
    }
    const [updated] = await tx.query<Row>(
      `UPDATE referral SET status = $2, status_changed_at = now(),
         appointment_time = COALESCE($3, appointment_time), status_reason = COALESCE($4, status_reason)
       WHERE id = $1 RETURNING *`,
      [id, transition.to, details.appointmentTime?.toISOString() ?? null, reason],
    );
    return updated!;
  });
}

/**
 * Referrals addressed to the caller's organisation, newest first, as a Relay
 * connection keyed by (authored_on, id). Each is checked by the policy (a
 * patient's deny naming the organisation still hides it); pages are filled
 * past the rows it leaves out.
 */
export async function incomingReferrals(
  context: SubgraphContext, args: { status?: string | null; first?: number | null; after?: string | null },
): Promise<Page<Row>> {
  const { actor } = context;
  if (!isStaff(actor) || !actor.org) throw forbidden('Incoming referrals are listed for clinical staff');
  const { first } = normalisePageArgs({ first: args.first });
  const after = args.after ? decodeKeyset(args.after, [isIsoInstant, isUuid]) : null;
  const statuses = args.status ? [args.status.toLowerCase()] : ['requested', 'accepted'];
  return fillPage<Row>({
    first,
    after,
    key: (row) => [new Date(row.authored_on).toISOString(), String(row.id)],
    fetch: (position, limit) => context.db.query<Row>(
      `SELECT * FROM referral WHERE performer_organization_id = $1 AND status = ANY($2::text[])
         AND ($3::timestamptz IS NULL OR (authored_on, id) < ($3::timestamptz, $4::uuid))
       ORDER BY authored_on DESC, id DESC LIMIT $5`, [actor.org, statuses, position?.[0] ?? null, position?.[1] ?? null, limit]),
    keep: (rows) => Promise.all(rows.map((row) => maySee(context, REFERRAL, row))),
  });
}

/**
 * The consent request of a referral: APPROVED once an active permit for the
 * receiving organisation covers every category asked for (for treatment).
 */
export async function consentRequestOf(context: SubgraphContext, referral: Row) {
  const categories: Category[] = referral.consent_request_categories ?? [];
  if (categories.length === 0) return null;
  const facts = await context.consent.facts(referral.patient_id);
  const covered = categories.every((category) => permitsOrganization(facts, referral.performer_organization_id, category, 'TREAT', context.consent.now));
  return { categories: categories.map(categoryToEnum), status: covered ? 'APPROVED' : 'PENDING' };
}

export async function scheduleRemoteConsultation(context: SubgraphContext, input: RemoteConsultationInput): Promise<Row> {
  const organizationId = requireStaffWriting(context.actor);
  if (!scopesAllow(parseScopes(context.actor.scope), 'encounters', 'write')) throw forbidden('The token has no write scope for Encounter');
  const start = input.start.getTime();
  if (start < Date.now() - DAY || start > Date.now() + 365 * DAY) throw badInput('start must be within the next year');
  if (input.end && input.end.getTime() <= start) throw badInput('end must be after start');
  if (input.participants.length === 0 || input.participants.length > 20) throw badInput('A consultation has 1 to 20 participants');
  for (const p of input.participants) {
    if (!p.practitionerId.trim() || p.practitionerId.length > 100) throw badInput('practitionerId must be a practitioner id');
  }
  // Every participant: an active practitioner of identity's registry, taking part for the active organisation they work for.
  await requireRegistered(context.internal, {
    organizations: input.participants.map((p, i) => ({ id: p.organizationId, field: `participants[${i}].organizationId` })),
    practitioners: input.participants.map((p, i) => ({ id: p.practitionerId, organizationId: p.organizationId, field: `participants[${i}].practitionerId` })),
  });
  return context.db.transaction(async (tx) => {
    const referral = await lockVisibleReferral(tx, context, input.referralId);
    const sides = [referral.requester_organization_id, referral.performer_organization_id];
    if (!sides.includes(organizationId)) throw forbidden('Only the referring or the receiving organisation schedules its consultations');
    if (referral.status !== 'accepted') throw productError(ErrorCode.conflict, `A referral that is ${referral.status} cannot get a consultation`);
    const participants = new Map<string, { organizationId: string; type: string }>([[context.actor.sub, { organizationId, type: 'PPRF' }]]);
    for (const p of input.participants) {
      if (!participants.has(p.practitionerId)) participants.set(p.practitionerId, { organizationId: p.organizationId, type: 'CON' });
    }
    // Both sides of the referral and every participating organisation see the consultation.
    const addressees = [...new Set([...sides, ...[...participants.values()].map((p) => p.organizationId)])].filter((org) => org !== organizationId);
    const [encounter] = await tx.query<Row>(
      `INSERT INTO encounter (id, patient_id, organization_id, practitioner_id, class, status, period_start, period_end, reason_code, reason_display,
         sensitivity_labels, referral_id, addressee_organization_ids)
       VALUES (gen_random_uuid(), $1, $2, $3, 'VR', 'planned', $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
      [referral.patient_id, organizationId, context.actor.sub, input.start.toISOString(), input.end?.toISOString() ?? null,
        referral.reason_code, referral.reason_display, referral.sensitivity_labels, referral.id, addressees],
    );
    await tx.query(
      `INSERT INTO encounter_participant (encounter_id, practitioner_id, organization_id, type_code)
       SELECT $1, p.practitioner_id, p.organization_id, p.type_code FROM jsonb_to_recordset($2::jsonb) AS p(practitioner_id text, organization_id text, type_code text)`,
      [encounter!.id, JSON.stringify([...participants].map(([practitionerId, p]) => ({ practitioner_id: practitionerId, organization_id: p.organizationId, type_code: p.type })))]);
    return encounter!;
  });
}

/** Participants of encounters, one statement per request. */
export function participantsOf(context: SubgraphContext, encounterId: string): Promise<Row[]> {
  return context
    .loader<string, Row[]>('encounterParticipants', async (ids) => {
      const rows = await context.db.query<Row>('SELECT * FROM encounter_participant WHERE encounter_id = ANY($1::uuid[]) ORDER BY type_code DESC, practitioner_id', [[...ids]]);
      return ids.map((id) => rows.filter((row) => row.encounter_id === id));
    })
    .load(encounterId);
}
