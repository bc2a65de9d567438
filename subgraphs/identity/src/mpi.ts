/**
 * Master patient index, the administrators' side: probable duplicates that
 * publishing found (`patient_match_candidate`), listed and resolved.
 *
 * Administrators never read clinical data, demographics included (policy
 * rule 1): a candidate shows the two patient ids, why they were paired and
 * which organisations registered each, so the administrator can confirm
 * with those organisations before deciding.
 *
 * - DISTINCT: two people; nothing changes but the candidate.
 * - LINK: one person. The newer patient (the one publishing created) is
 *   merged into the existing one, the survivor: its identifiers (each
 *   institution's registration, which keeps showing that institution what
 *   it sent, not the survivor's record) and consent directives move to the survivor,
 *   and its row stays, pointing at the survivor (`merged_into`), so its id
 *   keeps working: identity answers the survivor for it, and references to
 *   it in publications resolve to the survivor. The other owners re-point
 *   the merged-away patient's records to the survivor through their internal
 *   API (`/internal/patient-link`); an owner that cannot be reached is listed
 *   in `pendingOwners`, and resolving the candidate with LINK again retries
 *   it. Until then, that owner's records of the merged-away id are reached
 *   under that id only.
 *
 * Both decisions are audited in the same transaction as the change (one
 * event per patient concerned), like consent changes.
 */
import { INTERNAL_APIS } from '../../../lib/runtime/internal-api.js';
import { isUuid, normalisePageArgs, type PageArgs } from '../../../lib/records/connection.js';
import { badInput, ErrorCode, productError } from '../../../lib/runtime/errors.js';
import { decodeKeyset, encodeKeyset, isIsoInstant } from '../../../lib/trust/keyset.js';
import type { Row } from '../../../lib/records/records.js';
import type { SubgraphName } from '../../../lib/runtime/services.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { appendAuditEventsIn } from './audit.js';
import { requireAdmin } from './consents.js';
import { DEMOGRAPHICS, legacyIdentifiersSql } from './registrations.js';

const REGISTRATION_COLUMNS = DEMOGRAPHICS.join(', ');

/** The owners holding records by patient id, told to re-point a merged-away patient's records. */
const RECORD_OWNERS: SubgraphName[] = ['encounters', 'labs', 'imaging', 'public-health'];

export interface MatchCandidatesArgs extends PageArgs {
  status?: 'PENDING' | 'LINKED' | 'DISTINCT' | null;
}

/** Candidates of one status, newest first, with a keyset cursor. */
export async function matchCandidates(context: SubgraphContext, args: MatchCandidatesArgs) {
  requireAdmin(context.actor);
  const { first } = normalisePageArgs({ first: args.first });
  const after = args.after ? decodeKeyset(args.after, [isIsoInstant, isUuid]) : null;
  const rows = await context.db.query<Row>(
    `SELECT * FROM patient_match_candidate WHERE status = $1
       AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
     ORDER BY created_at DESC, id DESC LIMIT $4`,
    [(args.status ?? 'PENDING').toLowerCase(), after?.[0] ?? null, after?.[1] ?? null, first + 1]);
  const page = rows.slice(0, first);
  const cursor = (row: Row) => encodeKeyset([new Date(row.created_at).toISOString(), String(row.id)]);
  return {
    edges: page.map((node) => ({ cursor: cursor(node), node })),
    pageInfo: { hasNextPage: rows.length > first, endCursor: page.length ? cursor(page.at(-1)!) : null },
  };
}

const notFound = () => productError(ErrorCode.notFound, 'No such match candidate');

export async function resolveMatchCandidate(context: SubgraphContext, id: string, decision: 'LINK' | 'DISTINCT'): Promise<Row> {
  requireAdmin(context.actor);
  if (!isUuid(id)) throw notFound();
  if (decision !== 'LINK' && decision !== 'DISTINCT') throw badInput('decision is LINK or DISTINCT');
  const { actor, requestId } = context;
  const candidate = await context.db.transaction(async (tx) => {
    const [row] = await tx.query<Row>('SELECT * FROM patient_match_candidate WHERE id = $1 FOR UPDATE', [id]);
    if (!row) throw notFound();
    const wanted = decision === 'LINK' ? 'linked' : 'distinct';
    if (row.status === wanted) return row; // deciding again: LINK retries the owners still to re-point
    if (row.status !== 'pending') throw productError(ErrorCode.conflict, `This candidate was already resolved (${row.status})`);
    const mergedId = String(row.patient_id);
    const [survivor] = await tx.query<Row>('SELECT COALESCE(merged_into, id) AS id FROM patient WHERE id = $1', [row.candidate_patient_id]);
    const survivorId = String(survivor!.id);
    if (decision === 'LINK') {
      if (survivorId === mergedId) throw productError(ErrorCode.conflict, 'These patients are already one');
      // Links stay one hop deep: whatever pointed at the merged-away patient now points at the survivor.
      await tx.query('UPDATE patient SET merged_into = $2 WHERE id = $1 OR merged_into = $1', [mergedId, survivorId]);
      // Each organisation's registration keeps reading as it sent it (docs/consent.md): the merged-away patient's
      // registrations are written down first where they were not, then join the survivor (as matched ones; an
      // organisation that registered both keeps one registration carrying the identifiers of both).
      await tx.query(
        `INSERT INTO patient_registration (patient_id, organization_id, basis, ${REGISTRATION_COLUMNS}, identifiers)
         SELECT p.id, o.org, 'created', ${REGISTRATION_COLUMNS.split(', ').map((c) => `p.${c}`).join(', ')},
           ${legacyIdentifiersSql('p.id', 'o.org')}
         FROM patient p CROSS JOIN LATERAL (SELECT DISTINCT assigner_organization_id AS org FROM patient_identifier WHERE patient_id = p.id AND type = 'MR') o
         WHERE p.id = $1 ON CONFLICT (patient_id, organization_id) DO NOTHING`, [mergedId]);
      await tx.query(
        `UPDATE patient_registration s SET identifiers = (SELECT jsonb_agg(DISTINCT x) FROM jsonb_array_elements(s.identifiers || m.identifiers) AS x), updated_at = now()
         FROM patient_registration m WHERE m.patient_id = $1 AND s.patient_id = $2 AND s.organization_id = m.organization_id`, [mergedId, survivorId]);
      await tx.query(
        `DELETE FROM patient_registration m WHERE m.patient_id = $1
           AND EXISTS (SELECT 1 FROM patient_registration s WHERE s.patient_id = $2 AND s.organization_id = m.organization_id)`, [mergedId, survivorId]);
      await tx.query(`UPDATE patient_registration SET patient_id = $2, basis = 'matched', updated_at = now() WHERE patient_id = $1`, [mergedId, survivorId]);
      await tx.query('UPDATE patient_identifier SET patient_id = $2 WHERE patient_id = $1', [mergedId, survivorId]);
      await tx.query('UPDATE consent_directive SET patient_id = $2 WHERE patient_id = $1', [mergedId, survivorId]);
    }
    const [updated] = await tx.query<Row>(
      `UPDATE patient_match_candidate SET status = $2, resolved_at = now(), resolved_by = $3, repoint_pending = $4::text[] WHERE id = $1 RETURNING *`,
      [id, wanted, actor.sub, decision === 'LINK' ? RECORD_OWNERS : []]);
    const details = { candidateId: id, decision: wanted, survivorId: decision === 'LINK' ? survivorId : null, mergedId: decision === 'LINK' ? mergedId : null };
    await appendAuditEventsIn(tx, actor, requestId, [mergedId, String(row.candidate_patient_id)].map((patientId) => ({
      patientId, recordCounts: { identifiers: 0 }, breakGlass: false, action: decision === 'LINK' ? 'patient-linked' as const : 'patient-kept-distinct' as const, details,
    })));
    return updated!;
  });
  if (candidate.status !== 'linked' || !(candidate.repoint_pending as string[]).length) return candidate;
  // Outside identity's transaction: each owner re-points its records (idempotent), and identity remembers who is left.
  const [survivor] = await context.db.query<Row>('SELECT merged_into FROM patient WHERE id = $1', [candidate.patient_id]);
  const pending: string[] = [];
  await Promise.all((candidate.repoint_pending as SubgraphName[]).map(async (owner) => {
    try {
      await context.internal.call(INTERNAL_APIS.patientLink, { mergedId: candidate.patient_id, survivorId: survivor!.merged_into }, owner);
    } catch {
      pending.push(owner);
    }
  }));
  const [row] = await context.db.query<Row>('UPDATE patient_match_candidate SET repoint_pending = $2::text[] WHERE id = $1 RETURNING *', [id, pending.sort()]);
  return row!;
}

/** Organisations holding a registration (a medical record number) for a patient, survivor included. */
function registrationsOf(context: SubgraphContext, patientId: string): Promise<Row[]> {
  return context
    .loader<string, Row[]>('registrationsOf', async (ids) => {
      const rows = await context.db.query<Row>(
        `SELECT DISTINCT p.id AS asked, o.* FROM patient p
         JOIN patient_identifier i ON i.patient_id = COALESCE(p.merged_into, p.id) AND i.type = 'MR'
         JOIN organization o ON o.id = i.assigner_organization_id
         WHERE p.id = ANY($1::uuid[]) ORDER BY o.id`, [[...ids]]);
      return ids.map((key) => rows.filter((row) => row.asked === key));
    })
    .load(patientId);
}

export const matchCandidateFields = {
  patientId: (row: Row) => row.patient_id,
  candidatePatientId: (row: Row) => row.candidate_patient_id,
  status: (row: Row) => String(row.status).toUpperCase(),
  createdAt: (row: Row) => row.created_at,
  resolvedAt: (row: Row) => row.resolved_at,
  resolvedBy: (row: Row) => row.resolved_by,
  pendingOwners: (row: Row) => row.repoint_pending ?? [],
  patientRegistrations: (row: Row, _: unknown, context: SubgraphContext) => registrationsOf(context, row.patient_id),
  candidateRegistrations: (row: Row, _: unknown, context: SubgraphContext) => registrationsOf(context, row.candidate_patient_id),
};
