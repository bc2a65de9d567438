/**
 * `searchPatients`: staff find patients by name, birth date or identifier.
 *
 * Who is found follows the consent policy, not a rule of its own:
 * - the candidates are narrowed in SQL with the facts identity owns — for
 *   clinicians and nurses, patients registered at their organisation or
 *   holding an unrevoked permit that names their organisation, themselves or
 *   the whole alliance (a superset of whom they may reach);
 * - each candidate is then checked with the policy itself
 *   (`mayReachPatient`, as `patient(id)` does), batched per scan, so public
 *   health's reach (programme enrolments, which public-health owns) and
 *   break-glass come from the consent facts like everywhere else;
 * - each candidate is matched on what the caller may see of them
 *   (registrations.ts): staff of a registering organisation on their own
 *   registration (the name, birth date and identifiers their organisation
 *   sent) unless the patient opened their record to them; everyone else on
 *   the patient's record, and name and birth date then match only where the
 *   demographics are open to the caller (otherwise the match itself would
 *   disclose them). An identifier matches any patient the caller may reach
 *   through a permit (as `patientByIdentifier`); a registration finds its
 *   patient only by the identifiers it carries.
 * Pages are filled past the candidates the policy leaves out (lib/trust/keyset.ts),
 * so a page is short only at the end. Every patient returned on the strength
 * of their demographics is recorded as disclosed (the audit trail gets one
 * event per patient) whatever fields the caller selects; the Patient fields
 * report themselves as in any lookup.
 */
import { breaksGlass, isStaff } from '../../../lib/trust/actor.js';
import { isUuid, normalisePageArgs, type Page } from '../../../lib/records/connection.js';
import { badInput, forbidden } from '../../../lib/runtime/errors.js';
import { decodeKeyset, fillPage, isText, type KeyPart } from '../../../lib/trust/keyset.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { asSeen } from './registrations.js';

type Row = Record<string, any>;

export interface SearchPatientsArgs {
  name?: string | null;
  birthDate?: string | null;
  identifier?: string | null;
  first?: number | null;
  after?: string | null;
}

const SEARCHING_ROLES = new Set(['clinician', 'nurse', 'public_health']);
const NAME_MIN = 2;
const TEXT_MAX = 100;

/** Escapes LIKE wildcards so the name is matched as typed. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export function searchCriteria(args: SearchPatientsArgs) {
  const name = args.name?.trim() || null;
  const identifier = args.identifier?.trim() || null;
  const birthDate = args.birthDate ?? null;
  if (!name && !identifier && !birthDate) throw badInput('Give at least one criterion: name, birthDate or identifier');
  if (name && name.length < NAME_MIN) throw badInput(`name needs at least ${NAME_MIN} characters`);
  if ((name?.length ?? 0) > TEXT_MAX || (identifier?.length ?? 0) > TEXT_MAX) throw badInput(`Criteria are at most ${TEXT_MAX} characters`);
  return { name, identifier, birthDate };
}

export async function searchPatients(context: SubgraphContext, args: SearchPatientsArgs): Promise<Page<Row>> {
  const { actor, consent } = context;
  if (!SEARCHING_ROLES.has(actor.role)) throw forbidden('Patient search is for clinical and public-health staff');
  const criteria = searchCriteria(args);
  const { first } = normalisePageArgs({ first: args.first });
  const after = args.after ? decodeKeyset(args.after, [isText(), isText(), isUuid]) : null;
  const breakGlass = breaksGlass(actor);
  // Identity's own facts narrow the candidates where they decide (clinicians and nurses
  // outside an emergency); public health's reach is checked on the consent facts below.
  const narrowToOwnFacts = isStaff(actor) && !breakGlass;
  const demographicsCriteria = Boolean(criteria.name || criteria.birthDate);

  // Each candidate is matched on what the caller may see of them (registrations.ts): staff of a registering
  // organisation whom no permit opens the patient's record to, on their registration (what their organisation
  // sent, its identifiers only); everyone else on the patient's record. The policy confirms the choice below.
  const fetch = (position: KeyPart[] | null, limit: number) => context.db.query<Row>(
    `SELECT p.*, u.use_registration, s.family AS search_family, s.given AS search_given
     FROM patient p
     LEFT JOIN patient_registration r ON r.patient_id = p.id AND r.organization_id = $6
     CROSS JOIN LATERAL (SELECT $5::boolean
         AND EXISTS (SELECT 1 FROM patient_identifier m WHERE m.patient_id = p.id AND m.type = 'MR' AND m.assigner_organization_id = $6)
         AND NOT EXISTS (SELECT 1 FROM consent_directive d WHERE d.patient_id = p.id AND d.status = 'active' AND d.decision = 'permit' AND d.revoked_at IS NULL
           AND (d.categories = '{}' OR 'demographics' = ANY(d.categories))
           AND (d.actor_type = 'alliance' OR (d.actor_type = 'organization' AND d.actor_id = $6) OR (d.actor_type = 'practitioner' AND d.actor_id = $7)))
       AS use_registration) u
     CROSS JOIN LATERAL (SELECT
         CASE WHEN u.use_registration AND r.patient_id IS NOT NULL THEN r.family ELSE p.family END AS family,
         CASE WHEN u.use_registration AND r.patient_id IS NOT NULL THEN r.given ELSE p.given END AS given,
         CASE WHEN u.use_registration AND r.patient_id IS NOT NULL THEN r.birth_date ELSE p.birth_date END AS birth_date) s
     WHERE p.merged_into IS NULL
       AND ($1::text IS NULL OR s.family ILIKE $1 OR EXISTS (SELECT 1 FROM unnest(s.given) AS g(name) WHERE g.name ILIKE $1))
       AND ($2::date IS NULL OR s.birth_date = $2::date)
       AND ($3::text IS NULL OR CASE
         WHEN NOT u.use_registration THEN EXISTS (SELECT 1 FROM patient_identifier i WHERE i.patient_id = p.id AND i.value = $3)
         WHEN r.patient_id IS NOT NULL THEN EXISTS (SELECT 1 FROM jsonb_array_elements(r.identifiers) AS x(i) WHERE x.i->>'value' = $3)
         ELSE EXISTS (SELECT 1 FROM patient_identifier i WHERE i.patient_id = p.id AND i.value = $3 AND (i.type = 'HC' OR i.assigner_organization_id = $6)) END)
       AND ($4::uuid IS NULL OR p.id = $4::uuid)
       AND (NOT $5::boolean
         OR EXISTS (SELECT 1 FROM patient_identifier r WHERE r.patient_id = p.id AND r.type = 'MR' AND r.assigner_organization_id = $6)
         OR EXISTS (SELECT 1 FROM consent_directive d WHERE d.patient_id = p.id AND d.status = 'active' AND d.decision = 'permit' AND d.revoked_at IS NULL
              AND (d.actor_type = 'alliance' OR (d.actor_type = 'organization' AND d.actor_id = $6) OR (d.actor_type = 'practitioner' AND d.actor_id = $7))))
       AND ($8::text IS NULL OR (s.family, array_to_string(s.given, ' '), p.id) > ($8::text, $9::text, $10::uuid))
     ORDER BY s.family, array_to_string(s.given, ' '), p.id
     LIMIT $11`,
    [criteria.name ? likePattern(criteria.name) : null, criteria.birthDate, criteria.identifier,
      actor.patient && isUuid(actor.patient) ? actor.patient : actor.patient ? '00000000-0000-0000-0000-000000000000' : null,
      narrowToOwnFacts, actor.org, actor.sub, position?.[0] ?? null, position?.[1] ?? null, position?.[2] ?? null, limit],
  );

  const recordOf = (id: string) => consent.decide({ patientId: id, category: 'demographics', organizationId: null, sensitivityLabels: [] });
  // The policy decides for every candidate (facts batched per scan: one call for the batch).
  const keep = (rows: Row[]) => Promise.all(rows.map(async (row) => {
    const id = String(row.id);
    const [record, reach] = await Promise.all([recordOf(id), consent.mayReachPatient(id)]);
    // Matched on their own registration: what their organisation sent.
    if (row.use_registration) return reach;
    // Matched on the patient's record: only where the policy opens it (a registration alone does not), except
    // that staff the patient shared something with find them by an identifier, as patientByIdentifier does.
    const registered = Boolean(actor.org) && (await consent.facts(id)).registeredOrganizationIds.includes(actor.org!);
    return record.allow || (!demographicsCriteria && reach && !registered);
  }));

  const page = await fillPage<Row>({
    first,
    after,
    fetch,
    keep,
    key: (row) => [String(row.search_family), (row.search_given as string[]).join(' '), String(row.id)],
  });
  // What the page returns is disclosed (whatever fields the caller selects): the patient's record or the
  // caller's own registration, each shown as the caller may see it.
  const edges = await Promise.all(page.edges.map(async (edge) => {
    const id = String(edge.node.id);
    const record = await recordOf(id);
    if (record.allow) consent.disclose(id, 'demographics', id, record.breakGlass);
    else if (edge.node.use_registration) consent.disclose(id, 'demographics', id, false);
    return { ...edge, node: (await asSeen(context, edge.node))! };
  }));
  return { ...page, edges };
}
