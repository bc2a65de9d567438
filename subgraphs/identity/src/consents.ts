/**
 * Consent directives and the audit trail in the identity subgraph: the
 * mutations that grant and revoke (with their write checks), the patient's
 * directive history and access log, and the administrators' audit search.
 */
import type { Actor } from '../../../lib/actor.js';
import { PURPOSES } from '../../../lib/actor.js';
import { isActive, type ConsentDirective } from '../../../lib/consent/policy.js';
import { isUuid, normalisePageArgs, type PageArgs } from '../../../lib/connection.js';
import type { Queryable } from '../../../lib/db.js';
import { badInput, ErrorCode, forbidden, productError } from '../../../lib/errors.js';
import { type Row } from '../../../lib/records.js';
import { CATEGORIES, categoryFromEnum, categoryToEnum, parseScopes, scopesAllow, type Category } from '../../../lib/scopes.js';
import { SENSITIVITY_LABELS } from '../../../lib/terminology.js';
import type { SubgraphContext } from '../../../lib/subgraph.js';


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
}

/**
 * Who may record or revoke a patient's consent: the patient (or an app acting
 * for them) with a Consent write scope, or staff of an organisation that
 * registered the patient, recording a consent signed there.
 */
async function assertMayManageConsent(db: Queryable, actor: Actor, patientId: string): Promise<void> {
  if (!scopesAllow(parseScopes(actor.scope), 'consents', 'write')) throw forbidden('The token has no write scope for Consent');
  if (actor.role === 'patient' || actor.role === 'app') {
    if (actor.patient !== patientId) throw forbidden('A patient-bound token manages only its own patient\'s consent');
    return;
  }
  if (actor.role === 'clinician' || actor.role === 'nurse') {
    const [registered] = await db.query('SELECT 1 FROM patient_identifier WHERE patient_id = $1 AND type = $2 AND assigner_organization_id = $3', [patientId, 'MR', actor.org]);
    if (!registered) throw forbidden('Staff record consents only for patients registered at their organisation');
    return;
  }
  throw forbidden(`Role ${actor.role} cannot record consents`);
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

export async function grantConsent(context: SubgraphContext, input: ConsentProvisionInput): Promise<Row> {
  validateProvision(input);
  return context.db.transaction(async (tx) => {
    const [patient] = await tx.query('SELECT id FROM patient WHERE id = $1', [input.patientId]);
    if (!patient) throw productError(ErrorCode.notFound, 'No such patient');
    await assertMayManageConsent(tx, context.actor, input.patientId);
    if (input.actorType === 'ORGANIZATION') {
      const [organization] = await tx.query('SELECT id FROM organization WHERE id = $1', [input.actorId]);
      if (!organization) throw badInput(`Unknown organisation ${input.actorId}`);
    }
    const [row] = await tx.query<Row>(
      `INSERT INTO consent_directive (patient_id, decision, actor_type, actor_id, categories, labels, purposes, period_start, period_end,
         recorded_by, recorded_by_role, recorded_at_organization_id)
       VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7::text[], $8, $9, $10, $11, $12) RETURNING *`,
      [input.patientId, input.decision.toLowerCase(), input.actorType.toLowerCase(), input.actorId ?? null,
        (input.categories ?? []).map(categoryFromEnum), input.labels ?? [], input.purposes ?? [],
        input.periodStart?.toISOString() ?? null, input.periodEnd?.toISOString() ?? null,
        context.actor.sub, context.actor.role, context.actor.org],
    );
    return row!;
  });
}

export async function revokeConsent(context: SubgraphContext, id: string): Promise<Row> {
  if (!isUuid(id)) throw productError(ErrorCode.notFound, 'No such consent directive');
  return context.db.transaction(async (tx) => {
    const [existing] = await tx.query<Row>('SELECT * FROM consent_directive WHERE id = $1 FOR UPDATE', [id]);
    if (!existing) throw productError(ErrorCode.notFound, 'No such consent directive');
    await assertMayManageConsent(tx, context.actor, existing.patient_id);
    if (existing.revoked_at) throw productError(ErrorCode.conflict, 'This consent directive is already revoked');
    const [row] = await tx.query<Row>('UPDATE consent_directive SET revoked_at = now(), revoked_by = $2 WHERE id = $1 RETURNING *', [id, context.actor.sub]);
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
  revokedAt: (row: Row) => row.revoked_at,
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
     ORDER BY seq DESC LIMIT $8`,
    [filter.patientId ?? null, filter.actorSub ?? null, filter.organizationId ?? null, filter.breakGlass ?? null,
      filter.from?.toISOString() ?? null, filter.to?.toISOString() ?? null, args.after ? decodeSeq(args.after) : null, first + 1],
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
};

export const requireAdmin = (actor: Actor) => {
  if (actor.role !== 'admin') throw forbidden('The audit trail is searched by administrators');
};
