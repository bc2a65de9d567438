/**
 * What staff see of a patient: their organisation's registration, or the
 * patient's record (docs/consent.md, "Knowing an identifier opens nothing").
 *
 * - The patient's record (the patient row, every identifier of the master
 *   patient index, the directives) is nobody's own record: the consent
 *   policy gives it (organizationId null) to the patient, their apps, the
 *   programmes they are enrolled in, and staff only under the patient's
 *   permit (or break-glass).
 * - A registration is what one organisation sent when it registered the
 *   patient (patient_registration): its own record. Staff of a registering
 *   organisation see it where the patient's record is closed to them; so an
 *   institution that registered a patient by the health card sees the name,
 *   contact and numbers it sent, never what another institution recorded.
 *   A registration made before registrations were recorded reads as the
 *   patient row, the organisation's own numbers and the card.
 *
 * A Patient row handed to the schema is one or the other: `registration_org`
 * names the organisation whose registration it shows (the shield rules and
 * the identifier and directive fields read it), absent for the patient's
 * record.
 */
import { readsAsStaff, type Actor } from '../../../lib/trust/actor.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';

type Row = Record<string, any>;

/** The demographics columns a patient row and a registration share. */
export const DEMOGRAPHICS = ['family', 'given', 'birth_date', 'gender', 'phone', 'email', 'address_line', 'address_city', 'address_postal_code',
  // As sent (migration 009): every name, contact point and address, the death, the extensions.
  'names', 'telecoms', 'addresses', 'deceased', 'extensions',
  // As sent (migration 011): the marital status, multiple birth and languages.
  'marital_status', 'multiple_birth', 'communications'];

/**
 * SQL: the identifiers a registration made before registrations were recorded reads as (its organisation's own
 * medical record numbers and the card), as `[{ system, value, type }]`; `patient` and `organization` are SQL
 * expressions.
 */
export const legacyIdentifiersSql = (patient: string, organization: string) =>
  `COALESCE((SELECT jsonb_agg(jsonb_build_object('system', i.system, 'value', i.value, 'type', i.type) ORDER BY i.type DESC, i.system)
     FROM patient_identifier i WHERE i.patient_id = ${patient} AND (i.type = 'HC' OR i.assigner_organization_id = ${organization})), '[]'::jsonb)`;

/** An identifier as the schema's Identifier resolvers read it. */
interface IdentifierRow {
  system: string;
  value: string;
  type: 'HC' | 'MR';
  assigner_organization_id: string | null;
}

/** The caller's organisation's registration of each patient (null where it holds none), one statement per request. */
export function registrationOf(context: SubgraphContext, patientId: string): Promise<Row | null> {
  const organizationId = context.actor.org;
  if (!organizationId) return Promise.resolve(null);
  return context
    .loader<string, Row | null>('registrationOf', async (ids) => {
      const rows = await context.db.query<Row>(
        `SELECT p.id AS patient_id, r.patient_id IS NOT NULL AS recorded,
           ${DEMOGRAPHICS.map((c) => `CASE WHEN r.patient_id IS NULL THEN p.${c} ELSE r.${c} END AS ${c}`).join(', ')},
           COALESCE(r.identifiers, ${legacyIdentifiersSql('p.id', '$2')}) AS identifiers, COALESCE(r.updated_at, p.last_updated) AS last_updated
         FROM patient p LEFT JOIN patient_registration r ON r.patient_id = p.id AND r.organization_id = $2
         WHERE p.id = ANY($1::uuid[])
           AND EXISTS (SELECT 1 FROM patient_identifier m WHERE m.patient_id = p.id AND m.type = 'MR' AND m.assigner_organization_id = $2)`,
        [[...ids], organizationId]);
      return ids.map((id) => rows.find((row) => row.patient_id === id) ?? null);
    })
    .load(patientId);
}

/**
 * The Patient row as the caller may see it: the patient's record where the
 * policy opens it to them, else their organisation's registration where they
 * hold one, else the patient's record (whose fields the shield then refuses).
 */
export async function asSeen(context: SubgraphContext, row: Row | null): Promise<Row | null> {
  if (!row || !readsAsStaff(context.actor) || !context.actor.org) return row;
  const record = await context.consent.decide({ patientId: String(row.id), category: 'demographics', organizationId: null, sensitivityLabels: [] });
  if (record.allow) return row;
  const registration = await registrationOf(context, String(row.id));
  if (!registration) return row;
  const view: Row = { ...row, registration_org: context.actor.org, registration_identifiers: registration.identifiers };
  for (const column of DEMOGRAPHICS) view[column] = registration[column];
  // When this registration changed, not the patient's record (whose changes the caller may not see).
  view.last_updated = registration.last_updated;
  return view;
}

/** The organisation whose registration a Patient row shows; null for the patient's record (for the shield rules). */
export const viewOrganization = (row: Row): string | null => row.registration_org ?? null;

/** The identifiers a registration carries, as Identifier rows (a medical record number's assigner is in its system). */
export function registrationIdentifiers(row: Row): IdentifierRow[] {
  return (row.registration_identifiers as { system: string; value: string; type: 'HC' | 'MR' }[]).map((i) => ({
    ...i, assigner_organization_id: i.type === 'MR' ? row.registration_org : null,
  }));
}

/**
 * A directive as the caller may see it. The patient's directives are the
 * patient's record (null: a permit covering consents opens them); staff see
 * besides, as their own, those their organisation recorded (pending requests
 * included) and those that name them or their organisation (what governs
 * their own access). An alliance-wide directive is about everyone: the
 * patient's record.
 */
export function directiveAsSeen(actor: Actor, row: Row): Row {
  const names = (row.actor_type === 'organization' && row.actor_id === actor.org) || (row.actor_type === 'practitioner' && row.actor_id === actor.sub);
  const own = readsAsStaff(actor) && actor.org && (row.recorded_at_organization_id === actor.org || names);
  return { ...row, producer_organization_id: own ? actor.org : null };
}

/** The producing organisation of a directive as the caller sees it (see directiveAsSeen). */
export const directiveOrganization = (row: Row): string | null => row.producer_organization_id ?? null;
