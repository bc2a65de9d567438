/**
 * Identity resolvers: patients, identifiers, organisations, practitioners.
 * Every lookup goes through a per-request DataLoader (one statement per type).
 */
import type { GraphQLResolverMap } from '@apollo/subgraph';
import { isUuid } from '../../../lib/connection.js';
import { recordAccess } from '../../../lib/consent/record-access.js';
import { badInput } from '../../../lib/errors.js';
import type { SubgraphContext } from '../../../lib/subgraph-context.js';
import type { PageArgs } from '../../../lib/connection.js';
import { ErrorCode, forbidden, productError } from '../../../lib/errors.js';
import {
  auditEventFields, auditEventPage, consentDirectiveFields, consentsOf, grantConsent, requireAdmin, revokeConsent, STAFF_RECORDED_CONSENTS,
  type AuditFilter, type ConsentProvisionInput,
} from './consents.js';
import { requireRegistryAdmin } from '../../../lib/registry.js';
import {
  deactivateOrganization, deactivatePractitioner, organizationTypeOf, practitionerRoleOf, registryChangeFields, registryChangePage, upsertOrganization,
  upsertPractitioner, type OrganizationInput, type PractitionerInput, type RegistryAuthor, type RegistryChangeFilter,
} from './registry.js';
import { matchCandidateFields, matchCandidates, resolveMatchCandidate, type MatchCandidatesArgs } from './mpi.js';
import { searchPatients, type SearchPatientsArgs } from './search.js';
import { patientTimeline, type TimelineArgs, type TimelinePage } from './timeline.js';

type Row = Record<string, any>;

const MAX_IDS = 100;

/** The Patient record as the policy sees it, on identity's rows, whose id is the patient's (lib/record-types.ts). */
export const PATIENT = recordAccess('Patient');

/**
 * A patient is found when the actor may reach them (see mayReachPatient: the
 * token is bound to them, the Patient record is open to them, or they hold a
 * permit of the patient). The Patient fields are then refused one by one
 * where the demographics stay closed. A patient the actor may not reach is
 * null, exactly like one that does not exist; a token bound to another
 * patient is refused whatever the id (which says nothing about the id).
 */
async function loadPatient(context: SubgraphContext, id: unknown): Promise<Row | null> {
  if (!isUuid(id)) return null;
  if (context.actor.patient && context.actor.patient !== id) throw forbidden('This token is bound to another patient');
  const [row, reachable] = await Promise.all([unfiltered(context, id), context.consent.mayReachPatient(id)]);
  // A merged-away id (master patient index) answers with the survivor, reached by the survivor's facts.
  if (row && row.id !== id) return (await context.consent.mayReachPatient(row.id)) ? row : null;
  return reachable ? row : null;
}

/**
 * The patient a record the caller holds refers to (a referral, an encounter:
 * federation asks identity for it). The reference is not a lookup: the
 * caller already knows the id, so the patient resolves whenever they exist,
 * and each field says for itself, with CONSENT_DENIED or FORBIDDEN and the
 * reason, whether the caller may see it. Never a silent null.
 */
async function referencedPatient(context: SubgraphContext, id: unknown): Promise<Row | null> {
  if (!isUuid(id)) return null;
  if (context.actor.patient && context.actor.patient !== id) throw forbidden('This token is bound to another patient');
  return unfiltered(context, id);
}

function unfiltered(context: SubgraphContext, id: string): Promise<Row | null> {
  return context
    .loader<string, Row | null>('patientUnfiltered', async (ids) => {
      // A patient merged into another (master patient index, mpi.ts) is answered with the survivor.
      const rows = await context.db.query<Row>(
        `SELECT asked.id AS asked_id, p.* FROM patient asked JOIN patient p ON p.id = COALESCE(asked.merged_into, asked.id)
         WHERE asked.id = ANY($1::uuid[])`, [[...ids]]);
      return ids.map((key) => {
        const found = rows.find((row) => row.asked_id === key);
        if (!found) return null;
        const { asked_id: _asked, ...row } = found;
        return row;
      });
    })
    .load(id);
}

function identifiersOf(context: SubgraphContext, patientId: string): Promise<Row[]> {
  return context
    .loader<string, Row[]>('identifiers', async (ids) => {
      const rows = await context.db.query<Row>('SELECT * FROM patient_identifier WHERE patient_id = ANY($1::uuid[]) ORDER BY type DESC, system', [[...ids]]);
      return ids.map((id) => rows.filter((row) => row.patient_id === id));
    })
    .load(patientId);
}

const textKeyLoader = (context: SubgraphContext, table: string, id: string) =>
  context
    .loader<string, Row | null>(`byId:${table}`, async (ids) => {
      const rows = await context.db.query<Row>(`SELECT * FROM ${table} WHERE id = ANY($1::text[])`, [[...ids]]);
      return ids.map((key) => rows.find((row) => row.id === key) ?? null);
    })
    .load(id);

const humanName = (family: string, given: string[]) => ({ family, given, text: `${family} ${given.join(' ')}`, use: 'official' });

/** The administrator changing the registry in this request (anyone else is refused). */
function registryAuthor(context: SubgraphContext): RegistryAuthor {
  requireRegistryAdmin(context.actor);
  return { sub: context.actor.sub, role: context.actor.role, requestId: context.requestId };
}

export const resolvers: GraphQLResolverMap<SubgraphContext> = {
  Query: {
    patient: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadPatient(context, id),
    // An identifier of a patient the caller may not reach answers like an unknown one (null): no existence oracle.
    patientByIdentifier: async (_: unknown, { system, value }: { system: string; value: string }, context: SubgraphContext) => {
      const rows = await context.db.query<Row>('SELECT patient_id FROM patient_identifier WHERE system = $1 AND value = $2', [system, value]);
      const patientId = rows[0]?.patient_id as string | undefined;
      if (!patientId || (context.actor.patient && context.actor.patient !== patientId)) return null;
      return loadPatient(context, patientId);
    },
    searchPatients: (_: unknown, args: SearchPatientsArgs, context: SubgraphContext) => searchPatients(context, args),
    patients: (_: unknown, { ids }: { ids: string[] }, context: SubgraphContext) => {
      if (ids.length > MAX_IDS) throw badInput(`At most ${MAX_IDS} ids per call`);
      return Promise.all(ids.map((id) => loadPatient(context, id)));
    },
    organizations: (_: unknown, { includeInactive }: { includeInactive?: boolean | null }, context: SubgraphContext) =>
      context.db.query('SELECT * FROM organization WHERE $1::boolean OR active ORDER BY id', [includeInactive === true]),
    organization: (_: unknown, { id }: { id: string }, context: SubgraphContext) => textKeyLoader(context, 'organization', id),
    practitioner: (_: unknown, { id }: { id: string }, context: SubgraphContext) => textKeyLoader(context, 'practitioner', id),
    auditEvents: (_: unknown, args: AuditFilter & PageArgs, context: SubgraphContext) => {
      requireAdmin(context.actor);
      return auditEventPage(context.db, args, args);
    },
    breakGlassAccesses: (_: unknown, args: PageArgs, context: SubgraphContext) => {
      requireAdmin(context.actor);
      return auditEventPage(context.db, { breakGlass: true }, args);
    },
    staffRecordedConsents: (_: unknown, args: PageArgs & { organizationId?: string | null }, context: SubgraphContext) => {
      requireAdmin(context.actor);
      return auditEventPage(context.db, { ...STAFF_RECORDED_CONSENTS, organizationId: args.organizationId }, args);
    },
    registryChanges: (_: unknown, args: RegistryChangeFilter & PageArgs, context: SubgraphContext) => {
      requireRegistryAdmin(context.actor);
      return registryChangePage(context.db, args, args);
    },
    matchCandidates: (_: unknown, args: MatchCandidatesArgs, context: SubgraphContext) => matchCandidates(context, args),
  },
  Mutation: {
    grantConsent: (_: unknown, { input }: { input: ConsentProvisionInput }, context: SubgraphContext) => grantConsent(context, input),
    revokeConsent: (_: unknown, { id }: { id: string }, context: SubgraphContext) => revokeConsent(context, id),
    upsertOrganization: (_: unknown, { input }: { input: OrganizationInput }, context: SubgraphContext) => upsertOrganization(context.db, registryAuthor(context), input),
    upsertPractitioner: (_: unknown, { input }: { input: PractitionerInput }, context: SubgraphContext) => upsertPractitioner(context.db, registryAuthor(context), input),
    deactivateOrganization: (_: unknown, { id }: { id: string }, context: SubgraphContext) => deactivateOrganization(context.db, registryAuthor(context), id),
    deactivatePractitioner: (_: unknown, { id }: { id: string }, context: SubgraphContext) => deactivatePractitioner(context.db, registryAuthor(context), id),
    resolveMatchCandidate: (_: unknown, { id, decision }: { id: string; decision: 'LINK' | 'DISTINCT' }, context: SubgraphContext) =>
      resolveMatchCandidate(context, id, decision),
  },
  RegistryChange: registryChangeFields,
  MatchCandidate: matchCandidateFields,
  ConsentDirective: {
    ...consentDirectiveFields,
    recordedAtOrganization: (row: Row, _: unknown, context: SubgraphContext) =>
      (row.recorded_at_organization_id ? textKeyLoader(context, 'organization', row.recorded_at_organization_id) : null),
  },
  AuditEvent: {
    ...auditEventFields,
    actorOrganization: (row: Row, _: unknown, context: SubgraphContext) => (row.actor_organization_id ? textKeyLoader(context, 'organization', row.actor_organization_id) : null),
  },
  Patient: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => referencedPatient(context, reference.id),
    name: (row: Row) => [humanName(row.family, row.given)],
    birthDate: (row: Row) => row.birth_date,
    gender: (row: Row) => String(row.gender).toUpperCase(),
    telecom: (row: Row) => [
      ...(row.phone ? [{ system: 'phone', value: row.phone, use: 'mobile' }] : []),
      ...(row.email ? [{ system: 'email', value: row.email, use: 'home' }] : []),
    ],
    address: (row: Row) => (row.address_line ? [{ line: [row.address_line], city: row.address_city, postalCode: row.address_postal_code, country: 'CN' }] : []),
    identifiers: (row: Row, _: unknown, context: SubgraphContext) => identifiersOf(context, row.id),
    consents: (row: Row, _: unknown, context: SubgraphContext) => consentsOf(context, row.id),
    // Open field (every entry is checked by its owner), for patients the caller may reach.
    timeline: async (row: Row, args: TimelineArgs, context: SubgraphContext) => {
      if (!(await context.consent.mayReachPatient(row.id))) throw productError(ErrorCode.consentDenied, 'The patient has not shared their record with you', { category: 'demographics' });
      return patientTimeline(context, row.id, args);
    },
    // Only the patient, or an app acting for them, reads who looked at their record.
    accessLog: (row: Row, args: PageArgs, context: SubgraphContext) => {
      if (!(context.actor.role === 'patient' || context.actor.role === 'app') || context.actor.patient !== row.id) {
        throw forbidden('Only the patient reads their access log');
      }
      return auditEventPage(context.db, { patientId: row.id }, args);
    },
  },
  TimelineConnection: {
    withheldCount: (page: TimelinePage) => page.withheld(),
  },
  TimelineNode: {
    __resolveType: (node: { __typename: string }) => node.__typename,
  },
  Identifier: {
    type: (row: Row) => row.type,
    assigner: (row: Row, _: unknown, context: SubgraphContext) => (row.assigner_organization_id ? textKeyLoader(context, 'organization', row.assigner_organization_id) : null),
  },
  Organization: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => textKeyLoader(context, 'organization', reference.id),
    type: (row: Row) => organizationTypeOf(row.type),
    partOf: (row: Row, _: unknown, context: SubgraphContext) => (row.part_of ? textKeyLoader(context, 'organization', row.part_of) : null),
    active: (row: Row) => row.active !== false,
    practitioners: async (row: Row, { includeInactive }: { includeInactive?: boolean | null }, context: SubgraphContext) => {
      const all = await context
        .loader<string, Row[]>('practitionersByOrg', async (ids) => {
          const rows = await context.db.query<Row>('SELECT * FROM practitioner WHERE organization_id = ANY($1::text[]) ORDER BY id', [[...ids]]);
          return ids.map((id) => rows.filter((r) => r.organization_id === id));
        })
        .load(row.id);
      return includeInactive ? all : all.filter((p) => p.active !== false);
    },
  },
  Practitioner: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => textKeyLoader(context, 'practitioner', reference.id),
    name: (row: Row) => humanName(row.family, [row.given]),
    role: (row: Row) => practitionerRoleOf(row.role),
    organization: (row: Row, _: unknown, context: SubgraphContext) => textKeyLoader(context, 'organization', row.organization_id),
    active: (row: Row) => row.active !== false,
  },
};
