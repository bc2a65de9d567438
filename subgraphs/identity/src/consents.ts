/**
 * Consent directives and the audit trail in the identity subgraph: the
 * mutations that grant and revoke (with their write checks), the patient's
 * directive history and access log, and the administrators' audit search.
 */
import { isStaff, PURPOSES, type Actor } from '../../../lib/actor.js';
import { directiveConcernsStaff, isActive, type ConsentDirective } from '../../../lib/consent/policy.js';
import { appendAuditEventsIn } from './audit.js';
import { isUuid, normalisePageArgs, type PageArgs } from '../../../lib/connection.js';
import type { Queryable } from '../../../lib/db.js';
import { badInput, ErrorCode, forbidden, productError } from '../../../lib/errors.js';
import { type Row } from '../../../lib/records.js';
import { CATEGORIES, categoryFromEnum, categoryToEnum, parseScopes, scopesAllow, type Category } from '../../../lib/scopes.js';
import { SENSITIVITY_LABELS } from '../../../lib/terminology.js';
import type { SubgraphContext } from '../../../lib/subgraph-context.js';


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
}

/** What a consent change's audit event keeps of the directive. */
function changeDetails(row: Row) {
  return {
    directiveId: row.id, decision: row.decision, actorType: row.actor_type, actorId: row.actor_id, categories: row.categories, labels: row.labels,
    purposes: row.purposes, recordedBy: row.recorded_by, recordedByRole: row.recorded_by_role, recordedAtOrganizationId: row.recorded_at_organization_id,
    attestation: row.attestation ?? null,
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

/** Staff name the signed form; patients and apps record for themselves and name none. */
function attestationFor(actor: Actor, attestation: string | null | undefined): string | null {
  const text = attestation?.trim() || null;
  if (!isStaff(actor)) {
    if (text) throw badInput('attestation is for staff recording a consent form the patient signed');
    return null;
  }
  if (!text || text.length < 3 || text.length > 200) {
    throw badInput('Staff recording a consent name the signed consent form: attestation, 3 to 200 characters (e.g. the scanned document\'s id)');
  }
  return text;
}

export async function grantConsent(context: SubgraphContext, input: ConsentProvisionInput): Promise<Row> {
  validateProvision(input);
  await assertMayManageConsent(context, input.patientId);
  const attestation = attestationFor(context.actor, input.attestation);
  return context.db.transaction(async (tx) => {
    if (input.actorType === 'ORGANIZATION') {
      const [organization] = await tx.query('SELECT id FROM organization WHERE id = $1', [input.actorId]);
      if (!organization) throw badInput(`Unknown organisation ${input.actorId}`);
    }
    const [row] = await tx.query<Row>(
      `INSERT INTO consent_directive (patient_id, decision, actor_type, actor_id, categories, labels, purposes, period_start, period_end,
         recorded_by, recorded_by_role, recorded_at_organization_id, attestation)
       VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7::text[], $8, $9, $10, $11, $12, $13) RETURNING *`,
      [input.patientId, input.decision.toLowerCase(), input.actorType.toLowerCase(), input.actorId ?? null,
        (input.categories ?? []).map(categoryFromEnum), input.labels ?? [], input.purposes ?? [],
        input.periodStart?.toISOString() ?? null, input.periodEnd?.toISOString() ?? null,
        context.actor.sub, context.actor.role, isStaff(context.actor) ? context.actor.org : null, attestation],
    );
    // The change and its audit event commit together.
    await appendAuditEventsIn(tx, context.actor, context.requestId, [
      { patientId: input.patientId, recordCounts: { consents: 1 }, breakGlass: false, action: 'consent-granted', details: changeDetails(row!) },
    ]);
    return row!;
  });
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

/** Whether the caller sees the patient's directives (Patient.consents): the consent policy on the Patient record's consents category. */
async function maySeeDirectivesOf(context: SubgraphContext, patientId: string): Promise<boolean> {
  if (!(await context.consent.mayReachPatient(patientId))) return false;
  return (await context.consent.decide({ patientId, category: 'consents', organizationId: null, sensitivityLabels: [] })).allow;
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
  if (refusal) throw (await maySeeDirectivesOf(context, directive.patient_id)) ? forbidden(refusal) : notFound();
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
    return row!;
  });
}

export const consentDirectiveFields = {
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
  // Read now, not at the request's start: a directive revoked by this very request is no longer active.
  active: (row: Row) => {
    const iso = (value: unknown) => (value ? new Date(value as string).toISOString() : null);
    return isActive({ revokedAt: iso(row.revoked_at), periodStart: iso(row.period_start), periodEnd: iso(row.period_end) } as ConsentDirective, new Date());
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
    };
  },
};

/** Staff-recorded consent changes, for the administrators' review. */
export const STAFF_RECORDED_CONSENTS: AuditFilter = { actions: ['consent-granted', 'consent-revoked'], actorRoles: STAFF_ROLES };

export const requireAdmin = (actor: Actor) => {
  if (actor.role !== 'admin') throw forbidden('The audit trail is searched by administrators');
};
