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
 * - name and birth date are demographics: they match only patients whose
 *   demographics the caller may see, otherwise the match itself would
 *   disclose them. An identifier matches any patient the caller may reach
 *   (as `patientByIdentifier`).
 * Pages are filled past the candidates the policy leaves out (lib/keyset.ts),
 * so a page is short only at the end. Every patient returned on the strength
 * of their demographics is recorded as disclosed (the audit trail gets one
 * event per patient) whatever fields the caller selects; the Patient fields
 * report themselves as in any lookup.
 */
import { breaksGlass, isStaff } from '../../../lib/actor.js';
import { isUuid, normalisePageArgs, type Page } from '../../../lib/connection.js';
import { badInput, forbidden } from '../../../lib/errors.js';
import { decodeKeyset, fillPage, isText, type KeyPart } from '../../../lib/keyset.js';
import type { SubgraphContext } from '../../../lib/subgraph-context.js';

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

  const fetch = (position: KeyPart[] | null, limit: number) => context.db.query<Row>(
    `SELECT p.* FROM patient p
     WHERE ($1::text IS NULL OR p.family ILIKE $1 OR EXISTS (SELECT 1 FROM unnest(p.given) AS g(name) WHERE g.name ILIKE $1))
       AND ($2::date IS NULL OR p.birth_date = $2::date)
       AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM patient_identifier i WHERE i.patient_id = p.id AND i.value = $3))
       AND ($4::uuid IS NULL OR p.id = $4::uuid)
       AND (NOT $5::boolean
         OR EXISTS (SELECT 1 FROM patient_identifier r WHERE r.patient_id = p.id AND r.type = 'MR' AND r.assigner_organization_id = $6)
         OR EXISTS (SELECT 1 FROM consent_directive d WHERE d.patient_id = p.id AND d.decision = 'permit' AND d.revoked_at IS NULL
              AND (d.actor_type = 'alliance' OR (d.actor_type = 'organization' AND d.actor_id = $6) OR (d.actor_type = 'practitioner' AND d.actor_id = $7))))
       AND ($8::text IS NULL OR (p.family, array_to_string(p.given, ' '), p.id) > ($8::text, $9::text, $10::uuid))
     ORDER BY p.family, array_to_string(p.given, ' '), p.id
     LIMIT $11`,
    [criteria.name ? likePattern(criteria.name) : null, criteria.birthDate, criteria.identifier,
      actor.patient && isUuid(actor.patient) ? actor.patient : actor.patient ? '00000000-0000-0000-0000-000000000000' : null,
      narrowToOwnFacts, actor.org, actor.sub, position?.[0] ?? null, position?.[1] ?? null, position?.[2] ?? null, limit],
  );

  const demographicsOf = (id: string) => consent.decide({ patientId: id, category: 'demographics', organizationId: null, sensitivityLabels: [] });
  // The policy decides for every candidate (facts batched per scan: one call for the batch).
  const keep = (rows: Row[]) => Promise.all(rows.map(async (row) => {
    const id = String(row.id);
    const demographics = await demographicsOf(id);
    return demographicsCriteria ? demographics.allow : demographics.allow || consent.mayReachPatient(id);
  }));

  const page = await fillPage<Row>({
    first,
    after,
    fetch,
    keep,
    key: (row) => [String(row.family), (row.given as string[]).join(' '), String(row.id)],
  });
  // What the page returns is disclosed: a patient matched on (or shown with) demographics the caller may see.
  for (const { node } of page.edges) {
    const demographics = await demographicsOf(String(node.id));
    if (demographics.allow) consent.disclose(String(node.id), 'demographics', String(node.id), demographics.breakGlass);
  }
  return page;
}
