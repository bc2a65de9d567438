/**
 * Consent directives and the audit trail in the identity subgraph: the
 * mutations that grant and revoke (with their write checks), the patient's
 * directive history and access log, and the administrators' audit search.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { isStaff, PURPOSES, type Actor } from '../../../lib/trust/actor.js';
import { createLogger } from '../../../lib/runtime/logger.js';
import { notifierFromEnvironment, type Contact, type Notifier } from '../../../lib/consent/notifier.js';
import { directiveConcernsStaff, isActive, type ConsentDirective } from '../../../lib/consent/policy.js';
import { appendAuditEventsIn } from './audit.js';
import { endAppGrantsOnRevocation } from './authorization.js';
import { directiveAsSeen, directiveOrganization } from './registrations.js';
import { isUuid, normalisePageArgs, type PageArgs } from '../../../lib/records/connection.js';
import type { Queryable } from '../../../lib/runtime/db.js';
import { badInput, ErrorCode, forbidden, productError } from '../../../lib/runtime/errors.js';
import { lastUpdatedOf, type Row } from '../../../lib/records/records.js';
import { CATEGORIES, categoryFromEnum, categoryToEnum, parseScopes, scopesAllow, type Category } from '../../../lib/trust/scopes.js';
import { SENSITIVITY_LABELS } from '../../../lib/records/terminology.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';


export interface ConsentProvisionInput {
  patientId: string;
  decision: 'PERMIT' | 'DENY';
  actorType: 'ORGANIZATION' | 'PRACTITIONER' | 'APP' | 'ALLIANCE';
  actorId?: string | null;
  categories?: string[] | null;
  labels?: string[] | null;
  purposes?: string[] | null;
  periodStart?: Date | null;
  periodEnd?: Date | null;
  attestation?: string | null;
  /** Staff: how the patient is to confirm (PATIENT_APP, ONE_TIME_CODE, PAPER); absent with an attestation: PAPER. */
  confirmation?: 'PATIENT_APP' | 'ONE_TIME_CODE' | 'PAPER' | null;
}

/** What a consent change's audit event keeps of the directive. */
function changeDetails(row: Row) {
  return {
    directiveId: row.id, decision: row.decision, actorType: row.actor_type, actorId: row.actor_id, categories: row.categories, labels: row.labels,
    purposes: row.purposes, recordedBy: row.recorded_by, recordedByRole: row.recorded_by_role, recordedAtOrganizationId: row.recorded_at_organization_id,
    attestation: row.attestation ?? null, status: row.status ?? 'active', confirmation: row.confirmation ?? null, flaggedForReview: row.flagged_for_review ?? false,
    confirmedBy: row.confirmed_by ?? null, confirmedByRole: row.confirmed_by_role ?? null,
  };
}

const noSuchPatient = () => productError(ErrorCode.notFound, 'No such patient among those you may see');

/**
 * Who may change a patient's consent: the patient, or an app acting for them,
 * with a Consent write scope; or staff of an organisation that registered the
 * patient, recording a consent form signed there. Refusals that depend on the
 * patient answer exactly like a patient who does not exist.
 *
 * Runs before the change's transaction: the consent facts it reads come from
 * this same database, which the embedded engine serves one transaction at a
 * time.
 */
async function assertMayManageConsent(context: SubgraphContext, patientId: string): Promise<'patient' | 'staff'> {
  const { actor, db } = context;
  assertTokenMayManageConsent(actor);
  if (actor.patient && actor.patient !== patientId) throw forbidden('This token is bound to another patient');
  const [patient] = await db.query('SELECT id FROM patient WHERE id = $1', [patientId]);
  if (!patient || !(await context.consent.mayReachPatient(patientId))) throw noSuchPatient();
  if (!isStaff(actor)) return 'patient';
  if (!(await registeredAt(context, patientId))) throw forbidden('Staff record consents only for patients registered at their organisation');
  return 'staff';
}

/** What the token alone decides, whatever patient or directive it names: a Consent write scope, and a role that records consents. */
function assertTokenMayManageConsent(actor: Actor): void {
  if (!scopesAllow(parseScopes(actor.scope), 'consents', 'write')) throw forbidden('The token has no write scope for Consent');
  if (actor.role !== 'patient' && actor.role !== 'app' && !isStaff(actor)) throw forbidden(`Role ${actor.role} cannot record consents`);
}

async function registeredAt(context: SubgraphContext, patientId: string): Promise<boolean> {
  const rows = await context.db.query('SELECT 1 FROM patient_identifier WHERE patient_id = $1 AND type = $2 AND assigner_organization_id = $3', [patientId, 'MR', context.actor.org]);
  return rows.length > 0;
}

function validateProvision(input: ConsentProvisionInput): void {
  if (!isUuid(input.patientId)) throw badInput('patientId must be a patient id (UUID)');
  if ((input.actorType === 'ALLIANCE') !== !input.actorId) throw badInput('actorId is required, except for ALLIANCE where it must be omitted');
  if (input.actorId && input.actorId.length > 200) throw badInput('actorId is too long');
  const unknownLabels = (input.labels ?? []).filter((label) => !(SENSITIVITY_LABELS as readonly string[]).includes(label));
  if (unknownLabels.length) throw badInput(`Unknown sensitivity labels: ${unknownLabels.join(', ')} (known: ${SENSITIVITY_LABELS.join(', ')})`);
  const unknownPurposes = (input.purposes ?? []).filter((purpose) => !(PURPOSES as readonly string[]).includes(purpose));
  if (unknownPurposes.length) throw badInput(`Unknown purposes of use: ${unknownPurposes.join(', ')} (known: ${PURPOSES.join(', ')})`);
  if (input.periodStart && input.periodEnd && input.periodEnd <= input.periodStart) throw badInput('periodEnd must be after periodStart');
  const categories = (input.categories ?? []).map(categoryFromEnum);
  if (categories.some((c) => !(CATEGORIES as readonly string[]).includes(c))) throw badInput('Unknown category');
}

/**
 * How a directive is confirmed: the patient (or their app) records their own, in force at once; staff record one
 * on the patient's behalf for the patient to confirm — in their app, with a one-time code sent to the contact they
 * registered, or on a signed paper form (its reference as attestation) that a second staff member of another role
 * countersigns. A staff-recorded directive names no confirmation only when it names the signed form: paper.
 */
function confirmationFor(actor: Actor, input: ConsentProvisionInput): { confirmation: string; attestation: string | null } {
  const text = input.attestation?.trim() || null;
  if (!isStaff(actor)) {
    if (text || input.confirmation) throw badInput('attestation and confirmation are for staff recording a directive on the patient\'s behalf');
    return { confirmation: 'patient', attestation: null };
  }
  const confirmation = input.confirmation ?? (text ? 'PAPER' : null);
  if (!confirmation) {
    throw badInput('Staff record a directive for the patient to confirm: confirmation PATIENT_APP (in their app), ONE_TIME_CODE (sent to their registered contact) or PAPER (with the signed form\'s reference as attestation)');
  }
  if (text && (text.length < 3 || text.length > 200)) throw badInput('attestation is 3 to 200 characters (e.g. the scanned document\'s id)');
  if (confirmation === 'PAPER' && !text) {
    throw badInput('A paper consent names the signed form: attestation, 3 to 200 characters (e.g. the scanned document\'s id)');
  }
  return { confirmation: confirmation.toLowerCase().replace(/_/g, '-'), attestation: text };
}

export async function grantConsent(context: SubgraphContext, input: ConsentProvisionInput): Promise<Row> {
  validateProvision(input);
  await assertMayManageConsent(context, input.patientId);
  const { confirmation, attestation } = confirmationFor(context.actor, input);
  // The patient's own directive is in force at once; one staff recorded waits for the patient's confirmation.
  const status = confirmation === 'patient' ? 'active' : 'pending';
  const granted = await context.db.transaction(async (tx) => {
    if (input.actorType === 'ORGANIZATION') {
      const [organization] = await tx.query('SELECT id FROM organization WHERE id = $1', [input.actorId]);
      if (!organization) throw badInput(`Unknown organisation ${input.actorId}`);
    }
    const [row] = await tx.query<Row>(
      `INSERT INTO consent_directive (patient_id, decision, actor_type, actor_id, categories, labels, purposes, period_start, period_end,
         recorded_by, recorded_by_role, recorded_at_organization_id, attestation, status, confirmation, flagged_for_review)
       VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7::text[], $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING *`,
      [input.patientId, input.decision.toLowerCase(), input.actorType.toLowerCase(), input.actorId ?? null,
        (input.categories ?? []).map(categoryFromEnum), input.labels ?? [], input.purposes ?? [],
        input.periodStart?.toISOString() ?? null, input.periodEnd?.toISOString() ?? null,
        context.actor.sub, context.actor.role, isStaff(context.actor) ? context.actor.org : null, attestation, status, confirmation, confirmation === 'paper'],
    );
    // The change and its audit event commit together.
    await appendAuditEventsIn(tx, context.actor, context.requestId, [
      { patientId: input.patientId, recordCounts: { consents: 1 }, breakGlass: false, action: status === 'active' ? 'consent-granted' : 'consent-requested', details: changeDetails(row!) },
    ]);
    return row!;
  });
  if (confirmation === 'one-time-code') await sendCode(context, granted);
  return granted;
}

const STAFF_ROLES = ['clinician', 'nurse'];

/**
 * Why the caller may not revoke this directive, or null when they may: the
 * patient (or an app acting for them) revokes any of the patient's
 * directives; staff of an organisation that registered the patient revoke
 * the directives their organisation recorded, except a deny that concerns
 * them. Reads only columns a directive never changes.
 */
async function revocationRefusal(context: SubgraphContext, directive: Row): Promise<string | null> {
  const { actor } = context;
  if (actor.patient && actor.patient !== directive.patient_id) return 'This token is bound to another patient';
  if (!(await context.consent.mayReachPatient(directive.patient_id))) return 'The patient is out of reach';
  if (!isStaff(actor)) return null;
  if (!(await registeredAt(context, directive.patient_id))) return 'Staff revoke consents only for patients registered at their organisation';
  if (directive.decision === 'deny' && directiveConcernsStaff({ actorType: directive.actor_type, actorId: directive.actor_id }, actor)) {
    return 'A refusal that names you, your organisation or the whole alliance is the patient\'s to lift';
  }
  if (!STAFF_ROLES.includes(directive.recorded_by_role) || directive.recorded_at_organization_id !== actor.org) {
    return 'Staff revoke only directives their own organisation recorded; the patient revokes the others';
  }
  return null;
}

/** Whether the caller sees this directive (Patient.consents shows it to them): the consent policy, as registrations.ts presents it. */
async function maySeeDirective(context: SubgraphContext, directive: Row): Promise<boolean> {
  if (!(await context.consent.mayReachPatient(directive.patient_id))) return false;
  const organizationId = directiveOrganization(directiveAsSeen(context.actor, directive));
  return (await context.consent.decide({ patientId: directive.patient_id, category: 'consents', organizationId, sensitivityLabels: [] })).allow;
}

/**
 * Revokes a directive. No existence oracle, on any path:
 *
 * - What the token alone decides (no Consent write scope, a role that records
 *   no consents: admin, public_health, system) is refused with FORBIDDEN
 *   before the id is even read, for every id — real, unknown or malformed —
 *   so the answer says nothing about the id.
 * - A directive the caller may not revoke and may not see either (another
 *   patient's, for a token bound to a patient; a patient staff cannot reach,
 *   or whose directives the policy keeps from them) answers exactly like an
 *   unknown id: NOT_FOUND, same message.
 * - A directive the caller sees (Patient.consents shows it to them: staff of
 *   a registering organisation, or staff a permit covering consents reaches)
 *   but may not revoke answers FORBIDDEN with the reason: it tells them
 *   nothing they cannot read already.
 *
 * The checks run before the change's transaction: the consent facts they read
 * come from this same database, which the embedded engine serves one
 * transaction at a time.
 */
export async function revokeConsent(context: SubgraphContext, id: string): Promise<Row> {
  const { actor } = context;
  const notFound = () => productError(ErrorCode.notFound, 'No such consent directive');
  assertTokenMayManageConsent(actor);
  if (!isUuid(id)) throw notFound();
  const [directive] = await context.db.query<Row>('SELECT * FROM consent_directive WHERE id = $1', [id]);
  if (!directive) throw notFound();
  const refusal = await revocationRefusal(context, directive);
  if (refusal) throw (await maySeeDirective(context, directive)) ? forbidden(refusal) : notFound();
  return context.db.transaction(async (tx) => {
    const [existing] = await tx.query<Row>('SELECT * FROM consent_directive WHERE id = $1 FOR UPDATE', [id]);
    if (!existing) throw notFound();
    // Re-pointed to another patient since it was checked (the master patient index linked two records): checked again on a retry.
    if (existing.patient_id !== directive.patient_id) throw productError(ErrorCode.conflict, 'This consent directive changed patient while being revoked: try again');
    if (existing.revoked_at) throw productError(ErrorCode.conflict, 'This consent directive is already revoked');
    const [row] = await tx.query<Row>(
      `UPDATE consent_directive SET revoked_at = now(), revoked_by = $2, revoked_by_role = $3, revoked_at_organization_id = $4
       WHERE id = $1 RETURNING *`,
      [id, actor.sub, actor.role, isStaff(actor) ? actor.org : null]);
    await appendAuditEventsIn(tx, actor, context.requestId, [
      { patientId: existing.patient_id, recordCounts: { consents: 1 }, breakGlass: false, action: 'consent-revoked', details: changeDetails(row!) },
    ]);
    // A permit for an app: the app's grants from this patient end with it (its refresh tokens stop working).
    await endAppGrantsOnRevocation(tx, row!);
    return row!;
  });
}

// ------------------------------------------------------------- the patient's confirmation of staff-recorded directives

/** How long a one-time code stays valid, and how many wrong tries burn it. */
export const CODE_LIFETIME_MINUTES = 10;
export const CODE_TRIES = 5;

const codeHash = (directiveId: string, code: string) => createHash('sha256').update(`${directiveId}:${code}`).digest('hex');

let notifier: { key: string; value: Notifier } | undefined;
/** The notifier the environment configures (lib/consent/notifier.ts), made once per configuration. */
function patientNotifier(): Notifier {
  const key = ['CONSENT_NOTIFIER', 'CONSENT_NOTIFIER_SMTP_URL', 'CONSENT_NOTIFIER_FROM', 'CONSENT_NOTIFIER_SMS_URL', 'CONSENT_NOTIFIER_SMS_TOKEN', 'NODE_ENV'].map((k) => process.env[k] ?? '').join('|');
  if (notifier?.key !== key) notifier = { key, value: notifierFromEnvironment(process.env, createLogger('identity'), process.env.NODE_ENV === 'production') };
  return notifier.value;
}

/**
 * The contacts the patient registered that the code may go to, best first: the patient's record (unless the
 * requesting organisation created it), then other organisations' registrations. Never a contact only the
 * requesting organisation recorded: a code it could read itself would confirm nothing.
 */
async function registeredContacts(context: SubgraphContext, patientId: string, requester: string): Promise<Contact[]> {
  const rows = await context.db.query<Row>(
    `SELECT phone, email, 0 AS rank, NULL::timestamptz AS at FROM patient WHERE id = $1 AND registered_by IS DISTINCT FROM $2
     UNION ALL
     SELECT phone, email, 1, created_at FROM patient_registration WHERE patient_id = $1 AND organization_id <> $2
     ORDER BY rank, at`, [patientId, requester]);
  const own = await context.db.query<Row>('SELECT phone, email FROM patient_registration WHERE patient_id = $1 AND organization_id = $2', [patientId, requester]);
  const mine = new Set(own.flatMap((r) => [r.phone, r.email]).filter(Boolean));
  return rows.flatMap((r): Contact[] => [
    ...(r.phone && !mine.has(r.phone) ? [{ kind: 'sms' as const, address: String(r.phone) }] : []),
    ...(r.email && !mine.has(r.email) ? [{ kind: 'email' as const, address: String(r.email) }] : []),
  ]);
}

/**
 * Issues a one-time code for a pending directive (the previous one stops working) and sends it to the patient's
 * registered contact. The answer is the same whether a contact exists or the message went out: what the
 * requesting organisation learns must not depend on what other organisations recorded (docs/consent.md).
 */
async function sendCode(context: SubgraphContext, directive: Row): Promise<void> {
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  await context.db.query(
    `INSERT INTO consent_confirmation_code (directive_id, code_hash, expires_at) VALUES ($1, $2, now() + make_interval(mins => $3))
     ON CONFLICT (directive_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, attempts = 0, used_at = NULL, created_at = now()`,
    [directive.id, codeHash(String(directive.id), code), CODE_LIFETIME_MINUTES]);
  let sender: Notifier;
  try {
    sender = patientNotifier();
  } catch (error) {
    createLogger('identity').error({ err: error }, 'no notifier for one-time consent codes');
    return;
  }
  const contact = (await registeredContacts(context, String(directive.patient_id), String(directive.recorded_at_organization_id))).find((c) => sender.reaches.has(c.kind));
  if (!contact) return;
  const [organization] = await context.db.query<Row>('SELECT name FROM organization WHERE id = $1', [directive.recorded_at_organization_id]);
  const what = directive.decision === 'permit' ? 'to share your records' : 'to refuse access to your records';
  try {
    await sender.send({
      to: contact,
      subject: 'Your consent is asked',
      text: `${organization?.name ?? directive.recorded_at_organization_id} asks your consent ${what}. If you agree, give them this code: ${code} `
        + `(valid ${CODE_LIFETIME_MINUTES} minutes). If you did not ask for this, ignore it; you can also answer in your app.`,
    });
  } catch (error) {
    // Logged, and answered like any other request: the patient can still answer in their app, or staff send a new code.
    createLogger('identity').warn({ err: error }, 'a one-time consent code could not be sent');
  }
}

/** A directive staff of the caller's organisation recorded (any other answers exactly like an unknown id). */
async function recordedHere(context: SubgraphContext, id: string): Promise<Row> {
  const { actor } = context;
  const notFound = () => productError(ErrorCode.notFound, 'No such consent request');
  if (!isStaff(actor)) throw forbidden('Staff of the organisation that recorded the request do this');
  if (!scopesAllow(parseScopes(actor.scope), 'consents', 'write')) throw forbidden('The token has no write scope for Consent');
  if (!isUuid(id)) throw notFound();
  const [row] = await context.db.query<Row>('SELECT * FROM consent_directive WHERE id = $1', [id]);
  if (!row || row.recorded_at_organization_id !== actor.org || !STAFF_ROLES.includes(row.recorded_by_role)) throw notFound();
  if (actor.patient && actor.patient !== row.patient_id) throw notFound();
  return row;
}

/** Turns a pending directive active (confirmed) or declined, with its audit event, once. */
async function settle(context: SubgraphContext, id: string, outcome: 'active' | 'declined', details: Record<string, unknown>, check?: (row: Row) => void): Promise<Row> {
  const { actor } = context;
  return context.db.transaction(async (tx) => {
    const [row] = await tx.query<Row>('SELECT * FROM consent_directive WHERE id = $1 FOR UPDATE', [id]);
    if (!row || row.status !== 'pending' || row.revoked_at) throw productError(ErrorCode.conflict, 'This consent request is no longer pending');
    check?.(row);
    const [updated] = await tx.query<Row>(
      outcome === 'active'
        ? `UPDATE consent_directive SET status = 'active', confirmed_at = now(), confirmed_by = $2, confirmed_by_role = $3 WHERE id = $1 RETURNING *`
        : `UPDATE consent_directive SET status = 'declined', declined_at = now(), declined_by = $2 WHERE id = $1 RETURNING *`,
      outcome === 'active' ? [id, actor.sub, actor.role] : [id, actor.sub]);
    await appendAuditEventsIn(tx, actor, context.requestId, [{
      patientId: updated!.patient_id, recordCounts: { consents: 1 }, breakGlass: false,
      action: outcome === 'active' ? 'consent-confirmed' : 'consent-declined', details: { ...changeDetails(updated!), ...details },
    }]);
    return updated!;
  });
}

/**
 * The patient (or an app with the Consent write scope for them) approves or declines a request staff recorded on
 * their behalf. Refusals that depend on the token alone come first (FORBIDDEN whatever the id); a request of
 * another patient answers like an unknown one.
 */
export async function answerConsentRequest(context: SubgraphContext, id: string, approve: boolean): Promise<Row> {
  const { actor } = context;
  assertTokenMayManageConsent(actor);
  if (actor.role !== 'patient' && actor.role !== 'app') throw forbidden('The patient, or an app acting for them, answers consent requests');
  const notFound = () => productError(ErrorCode.notFound, 'No such consent request');
  if (!isUuid(id)) throw notFound();
  const [row] = await context.db.query<Row>('SELECT patient_id FROM consent_directive WHERE id = $1', [id]);
  // The token's patient, and one it reaches (an app only while the patient's approval of it stands, where the policy says so).
  if (!row || row.patient_id !== actor.patient || !(await context.consent.mayReachPatient(row.patient_id))) throw notFound();
  return settle(context, id, approve ? 'active' : 'declined', { answeredIn: actor.role === 'app' ? `app ${actor.clientId}` : 'patient app' });
}

/** Staff enter the one-time code the patient gave them; a wrong code counts, and CODE_TRIES of them burn it. */
export async function confirmConsentWithCode(context: SubgraphContext, id: string, code: string): Promise<Row> {
  const row = await recordedHere(context, id);
  if (row.confirmation !== 'one-time-code') throw badInput('This request is confirmed by the patient in their app or by countersignature, not by a code');
  if (row.status !== 'pending' || row.revoked_at) throw productError(ErrorCode.conflict, 'This consent request is no longer pending');
  const entered = String(code ?? '').trim();
  const checked = await context.db.transaction(async (tx) => {
    const [stored] = await tx.query<Row>('SELECT * FROM consent_confirmation_code WHERE directive_id = $1 FOR UPDATE', [id]);
    if (!stored || stored.used_at || new Date(stored.expires_at) <= new Date() || stored.attempts >= CODE_TRIES) return 'expired';
    const expected = Buffer.from(String(stored.code_hash), 'hex');
    const given = Buffer.from(codeHash(id, entered), 'hex');
    if (!/^\d{6}$/.test(entered) || !timingSafeEqual(expected, given)) {
      await tx.query('UPDATE consent_confirmation_code SET attempts = attempts + 1 WHERE directive_id = $1', [id]);
      return 'wrong';
    }
    await tx.query('UPDATE consent_confirmation_code SET used_at = now() WHERE directive_id = $1', [id]);
    return 'ok';
  });
  if (checked === 'expired') throw badInput('The code is no longer valid (expired, used, or too many tries): send a new one with sendConsentCode');
  if (checked === 'wrong') throw badInput('The code does not match');
  return settle(context, id, 'active', { confirmedWith: 'one-time code sent to the patient\'s registered contact' });
}

/** A new one-time code for a pending request (the previous one stops working). */
export async function resendConsentCode(context: SubgraphContext, id: string): Promise<Row> {
  const row = await recordedHere(context, id);
  if (row.confirmation !== 'one-time-code') throw badInput('This request is not confirmed by a code');
  if (row.status !== 'pending' || row.revoked_at) throw productError(ErrorCode.conflict, 'This consent request is no longer pending');
  await sendCode(context, row);
  return row;
}

/** A paper consent takes effect when a second staff member of the recording organisation, of another role, countersigns it. */
export async function countersignConsent(context: SubgraphContext, id: string): Promise<Row> {
  const row = await recordedHere(context, id);
  if (row.confirmation !== 'paper') throw badInput('Only a paper consent is countersigned');
  if (row.recorded_by === context.actor.sub || row.recorded_by_role === context.actor.role) {
    throw forbidden('A paper consent is countersigned by a second staff member of another role than the one who recorded it');
  }
  return settle(context, id, 'active', { countersignedBy: context.actor.sub, countersignedByRole: context.actor.role });
}

export const consentDirectiveFields = {
  patientId: (row: Row) => row.patient_id,
  lastUpdated: lastUpdatedOf,
  decision: (row: Row) => String(row.decision).toUpperCase(),
  actorType: (row: Row) => String(row.actor_type).toUpperCase(),
  actorId: (row: Row) => row.actor_id,
  categories: (row: Row) => (row.categories as string[]).map(categoryToEnum),
  periodStart: (row: Row) => row.period_start,
  periodEnd: (row: Row) => row.period_end,
  createdAt: (row: Row) => row.created_at,
  recordedBy: (row: Row) => row.recorded_by,
  recordedByRole: (row: Row) => row.recorded_by_role,
  recordedAtOrganization: (row: Row) => (row.recorded_at_organization_id ? { id: row.recorded_at_organization_id } : null),
  attestation: (row: Row) => row.attestation,
  revokedAt: (row: Row) => row.revoked_at,
  revokedBy: (row: Row) => row.revoked_by,
  status: (row: Row) => String(row.status ?? 'active').toUpperCase(),
  confirmation: (row: Row) => String(row.confirmation ?? (STAFF_ROLES.includes(row.recorded_by_role) ? 'paper' : 'patient')).toUpperCase().replace(/-/g, '_'),
  confirmedAt: (row: Row) => row.confirmed_at,
  confirmedBy: (row: Row) => row.confirmed_by,
  confirmedByRole: (row: Row) => row.confirmed_by_role,
  declinedAt: (row: Row) => row.declined_at,
  flaggedForReview: (row: Row) => row.flagged_for_review === true,
  // Read now, not at the request's start: a directive revoked by this very request is no longer active; a pending
  // or declined one never applies.
  active: (row: Row) => {
    const iso = (value: unknown) => (value ? new Date(value as string).toISOString() : null);
    return (row.status ?? 'active') === 'active'
      && isActive({ revokedAt: iso(row.revoked_at), periodStart: iso(row.period_start), periodEnd: iso(row.period_end) } as ConsentDirective, new Date());
  },
};

export function consentsOf(context: SubgraphContext, patientId: string): Promise<Row[]> {
  return context
    .loader<string, Row[]>('consentsByPatient', async (ids) => {
      const rows = await context.db.query<Row>('SELECT * FROM consent_directive WHERE patient_id = ANY($1::uuid[]) ORDER BY created_at DESC, id', [[...ids]]);
      return ids.map((id) => rows.filter((row) => row.patient_id === id));
    })
    .load(patientId);
}

export interface AuditFilter {
  patientId?: string | null;
  actorSub?: string | null;
  organizationId?: string | null;
  breakGlass?: boolean | null;
  from?: Date | null;
  to?: Date | null;
  /** Only these actions (lower-kebab, as stored). */
  actions?: string[] | null;
  /** Only events of actors with these roles. */
  actorRoles?: string[] | null;
}

const encodeSeq = (seq: string | number) => Buffer.from(`seq:${seq}`).toString('base64url');
function decodeSeq(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^seq:\d{1,18}$/.test(text)) throw badInput('Invalid cursor: pass an endCursor returned by this field');
  return text.slice(4);
}

/** A page of audit events matching the filter, newest first (by chain position). */
export async function auditEventPage(db: Queryable, filter: AuditFilter, args: PageArgs) {
  const { first } = normalisePageArgs({ first: args.first, from: filter.from, to: filter.to });
  if (filter.patientId && !isUuid(filter.patientId)) return { edges: [], pageInfo: { hasNextPage: false, endCursor: null } };
  const rows = await db.query<Row>(
    `SELECT * FROM audit_event
     WHERE ($1::uuid IS NULL OR patient_id = $1) AND ($2::text IS NULL OR actor_sub = $2) AND ($3::text IS NULL OR actor_organization_id = $3)
       AND ($4::boolean IS NULL OR break_glass = $4) AND ($5::timestamptz IS NULL OR occurred_at >= $5) AND ($6::timestamptz IS NULL OR occurred_at < $6)
       AND ($7::bigint IS NULL OR seq < $7)
       AND ($9::text[] IS NULL OR action = ANY($9::text[])) AND ($10::text[] IS NULL OR actor_role = ANY($10::text[]))
     ORDER BY seq DESC LIMIT $8`,
    [filter.patientId ?? null, filter.actorSub ?? null, filter.organizationId ?? null, filter.breakGlass ?? null,
      filter.from?.toISOString() ?? null, filter.to?.toISOString() ?? null, args.after ? decodeSeq(args.after) : null, first + 1,
      filter.actions ?? null, filter.actorRoles ?? null],
  );
  const page = rows.slice(0, first);
  return {
    edges: page.map((node) => ({ cursor: encodeSeq(node.seq), node })),
    pageInfo: { hasNextPage: rows.length > first, endCursor: page.length ? encodeSeq(page.at(-1)!.seq) : null },
  };
}

export const auditEventFields = {
  sequence: (row: Row) => String(row.seq),
  occurredAt: (row: Row) => row.occurred_at,
  requestId: (row: Row) => row.request_id,
  actorSub: (row: Row) => row.actor_sub,
  actorRole: (row: Row) => row.actor_role,
  actorOrganization: (row: Row) => (row.actor_organization_id ? { id: row.actor_organization_id } : null),
  clientId: (row: Row) => row.client_id,
  patientId: (row: Row) => row.patient_id,
  categories: (row: Row) => (row.categories as string[]).map(categoryToEnum),
  recordCounts: (row: Row) => JSON.stringify(row.record_counts),
  purposeOfUse: (row: Row) => row.purpose_of_use,
  breakGlass: (row: Row) => row.break_glass,
  breakGlassReason: (row: Row) => row.break_glass_reason,
  action: (row: Row) => String(row.action ?? 'disclosure').toUpperCase().replace(/-/g, '_'),
  consentChange: (row: Row) => {
    const d = row.details as Record<string, any> | null;
    if (!d || !String(row.action ?? '').startsWith('consent-')) return null;
    return {
      directiveId: d.directiveId, decision: String(d.decision).toUpperCase(), actorType: String(d.actorType).toUpperCase(), actorId: d.actorId ?? null,
      categories: (d.categories as string[] ?? []).map(categoryToEnum), labels: d.labels ?? [], recordedByRole: d.recordedByRole, attestation: d.attestation ?? null,
      status: String(d.status ?? 'active').toUpperCase(), confirmation: d.confirmation ? String(d.confirmation).toUpperCase().replace(/-/g, '_') : null,
      flaggedForReview: d.flaggedForReview === true,
    };
  },
  labelsRemoved: (row: Row) => {
    const removed = (row.details as { labelsRemoved?: { resourceType: string; id: string; labels: string[] }[] } | null)?.labelsRemoved;
    return row.action === 'labels-removed' && removed ? removed.map((r) => ({ resourceType: r.resourceType, recordId: r.id, labels: r.labels })) : null;
  },
};

/** Staff-recorded consent changes, for the administrators' review. */
export const STAFF_RECORDED_CONSENTS: AuditFilter = { actions: ['consent-granted', 'consent-requested', 'consent-confirmed', 'consent-revoked'], actorRoles: STAFF_ROLES };

export const requireAdmin = (actor: Actor) => {
  if (actor.role !== 'admin') throw forbidden('The audit trail is searched by administrators');
};
