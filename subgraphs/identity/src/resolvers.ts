/**
 * Identity resolvers: patients, identifiers, organisations, practitioners.
 * Every lookup goes through a per-request DataLoader (one statement per type).
 */
import type { GraphQLResolverMap } from '@apollo/subgraph';
import { isUuid } from '../../../lib/records/connection.js';
import { recordAccess } from '../../../lib/consent/record-access.js';
import { badInput } from '../../../lib/runtime/errors.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import type { PageArgs } from '../../../lib/records/connection.js';
import { lastUpdatedOf } from '../../../lib/records/records.js';
import { ErrorCode, forbidden, productError } from '../../../lib/runtime/errors.js';
import {
  answerConsentRequest, auditEventFields, auditEventPage, confirmConsentWithCode, consentDirectiveFields, consentsOf, countersignConsent, grantConsent,
  requireAdmin, resendConsentCode, revokeConsent, STAFF_RECORDED_CONSENTS,
  type AuditFilter, type ConsentProvisionInput,
} from './consents.js';
import { requireRegistryAdmin } from '../../../lib/records/registry.js';
import {
  deactivateOrganization, deactivatePractitioner, organizationTypeOf, practitionerRoleOf, registryChangeFields, registryChangePage, upsertOrganization,
  upsertPractitioner, type OrganizationInput, type PractitionerInput, type RegistryAuthor, type RegistryChangeFilter,
} from './registry.js';
import { appFields, deactivateApp, rotateAppSecret, upsertApp, type AppInput } from './apps.js';
import { matchCandidateFields, matchCandidates, resolveMatchCandidate, type MatchCandidatesArgs } from './mpi.js';
import { asSeen, directiveAsSeen, directiveOrganization, registrationIdentifiers } from './registrations.js';
import { searchPatients, type SearchPatientsArgs } from './search.js';
import { patientTimeline, type TimelineArgs, type TimelinePage } from './timeline.js';

type Row = Record<string, any>;

const MAX_IDS = 100;

/** The Patient record as the policy sees it, on identity's rows, whose id is the patient's (lib/records/record-types.ts). */
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
  if (row && row.id !== id) return (await context.consent.mayReachPatient(row.id)) ? asSeen(context, row) : null;
  return reachable ? asSeen(context, row) : null;
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
  return asSeen(context, await unfiltered(context, id));
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

const appByClientId = (context: SubgraphContext, clientId: string) =>
  context
    .loader<string, Row | null>('appsByClientId', async (ids) => {
      const rows = await context.db.query<Row>('SELECT * FROM smart_app WHERE client_id = ANY($1::text[])', [[...ids]]);
      return ids.map((key) => rows.find((row) => row.client_id === key) ?? null);
    })
    .load(clientId);

const humanName = (family: string, given: string[]) => ({ family, given, text: `${family} ${given.join(' ')}`, use: 'official' });
/** A name as sent (FHIR HumanName): its own text and use where it gave them. */
const sentName = (n: Row) => ({ ...humanName(n.family ?? '', n.given ?? []), ...n, text: n.text ?? `${n.family ?? ''} ${(n.given ?? []).join(' ')}`.trim(), use: n.use ?? 'official' });

/** The administrator changing the registry in this request (anyone else is refused). */
function registryAuthor(context: SubgraphContext): RegistryAuthor {
  requireRegistryAdmin(context.actor);
  return { sub: context.actor.sub, role: context.actor.role, requestId: context.requestId };
}

export const resolvers: GraphQLResolverMap<SubgraphContext> = {
  Query: {
    patient: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadPatient(context, id),
    // As Patient.consents sees it: the patient reachable, then the policy decides the directive (null otherwise, no oracle).
    consentDirective: async (_: unknown, { id }: { id: string }, context: SubgraphContext) => {
      if (!isUuid(id)) return null;
      const [row] = await context.db.query<Row>('SELECT * FROM consent_directive WHERE id = $1', [id]);
      if (!row || !(await context.consent.mayReachPatient(String(row.patient_id)))) return null;
      const directive = directiveAsSeen(context.actor, row);
      const { allow } = await context.consent.decide({ patientId: String(row.patient_id), category: 'consents', organizationId: directiveOrganization(directive), sensitivityLabels: [] });
      return allow ? directive : null;
    },
    // An identifier of a patient the caller may not reach answers like an unknown one (null): no existence oracle.
    // Staff who see only their registration find the patient by the identifiers it carries, never by another's.
    patientByIdentifier: async (_: unknown, { system, value }: { system: string; value: string }, context: SubgraphContext) => {
      const rows = await context.db.query<Row>('SELECT patient_id FROM patient_identifier WHERE system = $1 AND value = $2', [system, value]);
      const patientId = rows[0]?.patient_id as string | undefined;
      if (!patientId || (context.actor.patient && context.actor.patient !== patientId)) return null;
      const patient = await loadPatient(context, patientId);
      if (patient?.registration_org && !registrationIdentifiers(patient).some((i) => i.system === system && i.value === value)) return null;
      return patient;
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
    labelRemovals: (_: unknown, args: PageArgs & { organizationId?: string | null }, context: SubgraphContext) => {
      requireAdmin(context.actor);
      return auditEventPage(context.db, { actions: ['labels-removed'], organizationId: args.organizationId }, args);
    },
    registryChanges: (_: unknown, args: RegistryChangeFilter & PageArgs, context: SubgraphContext) => {
      requireRegistryAdmin(context.actor);
      return registryChangePage(context.db, args, args);
    },
    matchCandidates: (_: unknown, args: MatchCandidatesArgs, context: SubgraphContext) => matchCandidates(context, args),
    apps: (_: unknown, { includeInactive }: { includeInactive?: boolean | null }, context: SubgraphContext) => {
      requireRegistryAdmin(context.actor);
      return context.db.query('SELECT * FROM smart_app WHERE $1::boolean OR active ORDER BY client_id', [includeInactive === true]);
    },
    app: (_: unknown, { clientId }: { clientId: string }, context: SubgraphContext) => {
      requireRegistryAdmin(context.actor);
      return appByClientId(context, clientId);
    },
  },
  Mutation: {
    grantConsent: async (_: unknown, { input }: { input: ConsentProvisionInput }, context: SubgraphContext) => directiveAsSeen(context.actor, await grantConsent(context, input)),
    revokeConsent: async (_: unknown, { id }: { id: string }, context: SubgraphContext) => directiveAsSeen(context.actor, await revokeConsent(context, id)),
    approveConsentRequest: async (_: unknown, { id }: { id: string }, context: SubgraphContext) => directiveAsSeen(context.actor, await answerConsentRequest(context, id, true)),
    declineConsentRequest: async (_: unknown, { id }: { id: string }, context: SubgraphContext) => directiveAsSeen(context.actor, await answerConsentRequest(context, id, false)),
    confirmConsentRequest: async (_: unknown, { id, code }: { id: string; code: string }, context: SubgraphContext) =>
      directiveAsSeen(context.actor, await confirmConsentWithCode(context, id, code)),
    sendConsentCode: async (_: unknown, { id }: { id: string }, context: SubgraphContext) => directiveAsSeen(context.actor, await resendConsentCode(context, id)),
    countersignConsentRequest: async (_: unknown, { id }: { id: string }, context: SubgraphContext) => directiveAsSeen(context.actor, await countersignConsent(context, id)),
    upsertOrganization: (_: unknown, { input }: { input: OrganizationInput }, context: SubgraphContext) => upsertOrganization(context.db, registryAuthor(context), input),
    upsertPractitioner: (_: unknown, { input }: { input: PractitionerInput }, context: SubgraphContext) => upsertPractitioner(context.db, registryAuthor(context), input),
    deactivateOrganization: (_: unknown, { id }: { id: string }, context: SubgraphContext) => deactivateOrganization(context.db, registryAuthor(context), id),
    deactivatePractitioner: (_: unknown, { id }: { id: string }, context: SubgraphContext) => deactivatePractitioner(context.db, registryAuthor(context), id),
    resolveMatchCandidate: (_: unknown, { id, decision }: { id: string; decision: 'LINK' | 'DISTINCT' }, context: SubgraphContext) =>
      resolveMatchCandidate(context, id, decision),
    upsertApp: async (_: unknown, { input }: { input: AppInput }, context: SubgraphContext) => {
      const { row, clientSecret } = await upsertApp(context.db, registryAuthor(context), input);
      return { app: row, clientSecret };
    },
    deactivateApp: (_: unknown, { clientId }: { clientId: string }, context: SubgraphContext) => deactivateApp(context.db, registryAuthor(context), clientId),
    rotateAppSecret: async (_: unknown, { clientId }: { clientId: string }, context: SubgraphContext) => {
      const { row, clientSecret } = await rotateAppSecret(context.db, registryAuthor(context), clientId);
      return { app: row, clientSecret };
    },
  },
  App: {
    ...appFields,
    organization: (row: Row, _: unknown, context: SubgraphContext) => textKeyLoader(context, 'organization', row.organization_id),
  },
  RegistryChange: registryChangeFields,
  MatchCandidate: matchCandidateFields,
  ConsentDirective: {
    ...consentDirectiveFields,
    recordedAtOrganization: (row: Row, _: unknown, context: SubgraphContext) =>
      (row.recorded_at_organization_id ? textKeyLoader(context, 'organization', row.recorded_at_organization_id) : null),
    app: (row: Row, _: unknown, context: SubgraphContext) => (row.actor_type === 'app' && row.actor_id ? appByClientId(context, row.actor_id) : null),
    approvedScope: async (row: Row, _: unknown, context: SubgraphContext) => {
      if (row.actor_type !== 'app') return null;
      const approval = await context
        .loader<string, Row | null>('appApprovals', async (ids) => {
          const rows = await context.db.query<Row>('SELECT directive_id, scope FROM smart_app_approval WHERE directive_id = ANY($1::uuid[])', [[...ids]]);
          return ids.map((id) => rows.find((r) => r.directive_id === id) ?? null);
        })
        .load(row.id);
      return approval?.scope ?? null;
    },
  },
  AuditEvent: {
    ...auditEventFields,
    actorOrganization: (row: Row, _: unknown, context: SubgraphContext) => (row.actor_organization_id ? textKeyLoader(context, 'organization', row.actor_organization_id) : null),
  },
  Patient: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => referencedPatient(context, reference.id),
    // The lists as the institution sent them (migration 009); rows recorded before read from the first name, phone, e-mail and address.
    name: (row: Row) => (Array.isArray(row.names) ? row.names.map(sentName) : [humanName(row.family, row.given)]),
    birthDate: (row: Row) => row.birth_date,
    // The patient's record: its row's time (moved too by its identifiers and registrations); a registration: that registration's.
    lastUpdated: lastUpdatedOf,
    gender: (row: Row) => String(row.gender).toUpperCase(),
    telecom: (row: Row) => (Array.isArray(row.telecoms) ? row.telecoms : [
      ...(row.phone ? [{ system: 'phone', value: row.phone, use: null }] : []),
      ...(row.email ? [{ system: 'email', value: row.email, use: null }] : []),
    ]),
    address: (row: Row) => (Array.isArray(row.addresses) ? row.addresses.map((a: Row) => ({ ...a, line: a.line ?? [], extensionJson: Array.isArray(a.extension) ? JSON.stringify(a.extension) : null }))
      : row.address_line ? [{ line: [row.address_line], city: row.address_city, postalCode: row.address_postal_code, country: null }] : []),
    deceasedDateTime: (row: Row) => (typeof row.deceased?.dateTime === 'string' ? row.deceased.dateTime : null),
    deceasedBoolean: (row: Row) => (typeof row.deceased?.boolean === 'boolean' ? row.deceased.boolean : null),
    extensionJson: (row: Row) => (Array.isArray(row.extensions) ? JSON.stringify(row.extensions) : null),
    // As sent (migration 011); null where none was sent.
    maritalStatus: (row: Row) => row.marital_status ?? null,
    multipleBirthBoolean: (row: Row) => (typeof row.multiple_birth?.boolean === 'boolean' ? row.multiple_birth.boolean : null),
    multipleBirthInteger: (row: Row) => (Number.isInteger(row.multiple_birth?.integer) ? row.multiple_birth.integer : null),
    communication: (row: Row) => row.communications ?? null,
    // A registration shows the identifiers its organisation sent; the patient's record, every one.
    identifiers: (row: Row, _: unknown, context: SubgraphContext) => (row.registration_org ? registrationIdentifiers(row) : identifiersOf(context, row.id)),
    // The directives the caller may see (see directiveAsSeen): the policy decides each.
    consents: async (row: Row, _: unknown, context: SubgraphContext) => {
      const rows = (await consentsOf(context, row.id)).map((d) => directiveAsSeen(context.actor, d));
      const visible = await Promise.all(rows.map(async (d) =>
        (await context.consent.decide({ patientId: row.id, category: 'consents', organizationId: directiveOrganization(d), sensitivityLabels: [] })).allow));
      return rows.filter((_, i) => visible[i]);
    },
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
    // Kept by the registry's writes (registry.ts sets updated_at on every upsert).
    lastUpdated: (row: Row) => row.updated_at ?? null,
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
    lastUpdated: (row: Row) => row.updated_at ?? null,
  },
};
