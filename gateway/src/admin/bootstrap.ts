/**
 * Production bootstrap: `POST /admin/bootstrap` loads the alliance's
 * organisations, practitioners and programmes from a FHIR R4 Bundle
 * (Organization, Practitioner with PractitionerRole, PlanDefinition), for
 * administrators. `npm run bootstrap -- bundle.json` (scripts/bootstrap.ts)
 * posts a file here.
 *
 * Each resource becomes the administrators' own mutation (upsertOrganization,
 * upsertPractitioner, upsertProgram), run through this gateway's GraphQL
 * pipeline with the caller's actor, so the same validation, the same
 * registries' change logs (registryChanges, programChanges: author, request,
 * before and after) and the audit plugin apply. All of one bootstrap share
 * one request id. Organisations go first, each after the one it is part of,
 * then practitioners, then programmes. Every upsert is idempotent: loading
 * the same Bundle again changes and records nothing, so a partly failed load
 * is fixed and loaded again.
 *
 * The answer is a FHIR `batch-response` Bundle: one entry per input entry,
 * in order, `201 Created`, `200 OK` (updated or unchanged) or a 4xx with an
 * OperationOutcome naming the problem. The Bundle as a whole is refused
 * (an OperationOutcome) when it is not a Bundle, is too large, or the caller
 * is not an administrator.
 */
import type { ApolloServer } from '@apollo/server';
import type { Actor } from '../../../lib/trust/actor.js';
import type { Route } from '../../../lib/runtime/http.js';
import type { TokenVerifier } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { FHIR_JSON, operationOutcome } from '../fhir/outcome.js';

type Json = Record<string, any>;

export const BOOTSTRAP_PATH = '/admin/bootstrap';
/** The organisation type code system (Organization.type): OrganizationType values, either spelling (COUNTY_HOSPITAL, county-hospital). */
export const ORGANIZATION_TYPE_SYSTEM = 'https://fhir.alliance.example.org/CodeSystem/organization-type';
/** The practitioner role code system (PractitionerRole.code): PractitionerRole values (CLINICIAN, nurse…). */
export const PRACTITIONER_ROLE_SYSTEM = 'https://fhir.alliance.example.org/CodeSystem/practitioner-role';
/** PlanDefinition extension naming the organisation that runs the programme (valueReference Organization/{id}). */
export const RESPONSIBLE_ORGANIZATION_EXTENSION = 'https://fhir.alliance.example.org/StructureDefinition/responsible-organization';
const MAX_ENTRIES = 5000;

export interface BootstrapOptions {
  apollo: ApolloServer<GatewayContext>;
  verifyToken: TokenVerifier;
}

interface Planned {
  index: number;
  kind: 'organization' | 'practitioner' | 'program';
  id: string;
  mutation: string;
  input: Json;
  partOf?: string | null;
}

const reply = (status: number, resource: unknown) => ({ status, body: JSON.stringify(resource), contentType: FHIR_JSON });
const referenceId = (reference: unknown, type: string): string | null => {
  if (typeof reference !== 'string') return null;
  const match = new RegExp(`^(?:.*/)?${type}/([^/]+)$`).exec(reference);
  return match ? match[1]! : null;
};
const codeOf = (concepts: unknown): string | null => {
  for (const concept of Array.isArray(concepts) ? concepts : [concepts]) {
    for (const coding of (concept as Json | undefined)?.coding ?? []) if (typeof coding?.code === 'string') return coding.code;
  }
  return null;
};
const enumValue = (code: string | null) => (code ? code.trim().toUpperCase().replace(/-/g, '_') : '');

class EntryProblem extends Error {}

const UPSERT = {
  organization: 'mutation($input: OrganizationInput!) { upsertOrganization(input: $input) { id } }',
  practitioner: 'mutation($input: PractitionerInput!) { upsertPractitioner(input: $input) { id } }',
  program: 'mutation($input: ProgramInput!) { upsertProgram(input: $input) { id } }',
};

/** What each entry asks, or the problem with it; PractitionerRole entries complete their Practitioner's. */
function plan(entries: Json[]): { planned: Planned[]; problems: Map<number, string>; roles: Map<number, number> } {
  const planned: Planned[] = [];
  const problems = new Map<number, string>();
  const roles = new Map<number, number>();
  const practitioners = new Map<string, Planned>();
  const active = (resource: Json) => (typeof resource.active === 'boolean' ? resource.active : undefined);
  entries.forEach((entry, index) => {
    const resource = entry?.resource as Json | undefined;
    try {
      if (!resource || typeof resource !== 'object') throw new EntryProblem('The entry has no resource');
      const id = typeof resource.id === 'string' ? resource.id : '';
      if (!id && resource.resourceType !== 'PractitionerRole') throw new EntryProblem(`${resource.resourceType ?? 'The resource'} needs an id: the registry id (a slug such as org-county-north)`);
      switch (resource.resourceType) {
        case 'Organization': {
          const partOf = resource.partOf ? referenceId(resource.partOf.reference, 'Organization') : null;
          if (resource.partOf && !partOf) throw new EntryProblem('Organization.partOf must reference Organization/{id}');
          planned.push({ index, kind: 'organization', id, mutation: UPSERT.organization, partOf, input: {
            id, name: resource.name, type: enumValue(codeOf(resource.type)), partOf, city: resource.address?.[0]?.city ?? null, active: active(resource),
          } });
          break;
        }
        case 'Practitioner': {
          const name = resource.name?.[0] ?? {};
          const item: Planned = { index, kind: 'practitioner', id, mutation: UPSERT.practitioner, input: {
            id, family: name.family, given: Array.isArray(name.given) ? name.given.join(' ') : name.given, organizationId: null, role: null, active: active(resource),
          } };
          practitioners.set(id, item);
          planned.push(item);
          break;
        }
        case 'PlanDefinition': {
          const organization = (resource.extension ?? []).find((e: Json) => e?.url === RESPONSIBLE_ORGANIZATION_EXTENSION)?.valueReference?.reference;
          const organizationId = referenceId(organization, 'Organization');
          if (!organizationId) throw new EntryProblem(`PlanDefinition needs the organisation that runs it: extension ${RESPONSIBLE_ORGANIZATION_EXTENSION} with valueReference Organization/{id}`);
          const code = resource.identifier?.[0]?.value ?? resource.name;
          planned.push({ index, kind: 'program', id, mutation: UPSERT.program, input: {
            id, code, name: resource.title ?? resource.name, organizationId,
            active: resource.status === 'retired' ? false : resource.status === 'active' ? true : undefined,
          } });
          break;
        }
        case 'PractitionerRole':
          break;
        default:
          throw new EntryProblem(`${String(resource.resourceType).slice(0, 40)} is not loaded by the bootstrap: send Organization, Practitioner with PractitionerRole, PlanDefinition`);
      }
    } catch (error) {
      if (!(error instanceof EntryProblem)) throw error;
      problems.set(index, error.message);
    }
  });
  // PractitionerRole: the practitioner's organisation and role.
  entries.forEach((entry, index) => {
    const resource = entry?.resource as Json | undefined;
    if (resource?.resourceType !== 'PractitionerRole') return;
    const practitionerId = referenceId(resource.practitioner?.reference, 'Practitioner');
    const item = practitionerId ? practitioners.get(practitionerId) : undefined;
    if (!item) return problems.set(index, 'PractitionerRole.practitioner must reference a Practitioner of this Bundle');
    roles.set(index, item.index);
    item.input.organizationId = referenceId(resource.organization?.reference, 'Organization');
    item.input.role = enumValue(codeOf(resource.code));
  });
  for (const item of practitioners.values()) {
    if (!item.input.organizationId || !item.input.role) problems.set(item.index, `Practitioner/${item.id} needs a PractitionerRole in the Bundle naming its organization and its code (CLINICIAN, NURSE, RADIOLOGIST or PUBLIC_HEALTH)`);
  }
  return { planned: planned.filter((p) => !problems.has(p.index)), problems, roles };
}

/** Organisations parents first (those of the Bundle), then practitioners, then programmes. */
function ordered(planned: Planned[]): Planned[] {
  const organizations = planned.filter((p) => p.kind === 'organization');
  const byId = new Map(organizations.map((o) => [o.id, o]));
  const done = new Set<string>();
  const out: Planned[] = [];
  const visit = (item: Planned, depth: number) => {
    if (done.has(item.id) || depth > 100) return;
    const parent = item.partOf ? byId.get(item.partOf) : undefined;
    if (parent) visit(parent, depth + 1);
    done.add(item.id);
    out.push(item);
  };
  organizations.forEach((o) => visit(o, 0));
  return [...out, ...planned.filter((p) => p.kind === 'practitioner'), ...planned.filter((p) => p.kind === 'program')];
}

export function bootstrapRoute(options: BootstrapOptions): Route {
  return async (request) => {
    if (request.url.pathname !== BOOTSTRAP_PATH) return undefined;
    if (request.method !== 'POST') return reply(405, operationOutcome('error', 'not-supported', 'POST a FHIR Bundle'));
    let actor: Actor;
    try {
      actor = await options.verifyToken(request.headers.authorization);
    } catch {
      return reply(401, operationOutcome('error', 'login', 'Authentication required: an administrator\'s token'));
    }
    if (actor.role !== 'admin' || actor.patient) return reply(403, operationOutcome('error', 'forbidden', 'The bootstrap is for administrators'));
    let bundle: Json;
    try {
      bundle = JSON.parse(request.body) as Json;
    } catch {
      return reply(400, operationOutcome('error', 'structure', 'The body is not JSON: send a FHIR Bundle'));
    }
    if (bundle?.resourceType !== 'Bundle' || !Array.isArray(bundle.entry ?? [])) return reply(400, operationOutcome('error', 'structure', 'The body must be a FHIR Bundle with entries'));
    const entries = (bundle.entry ?? []) as Json[];
    if (entries.length > MAX_ENTRIES) return reply(413, operationOutcome('error', 'too-costly', `At most ${MAX_ENTRIES} entries per Bundle: split it`));

    const { planned, problems, roles } = plan(entries);
    const outcomes = new Map<number, { status: string; outcome?: Json; location?: string }>();
    for (const [index, message] of problems) outcomes.set(index, { status: '400 Bad Request', outcome: operationOutcome('error', 'invalid', message) });
    for (const item of ordered(planned)) {
      const contextValue: GatewayContext = { actor, requestId: request.requestId, log: request.log, disclosures: [] };
      // Was it there before? (Created or updated, for the answer.)
      const existed = await options.apollo.executeOperation({
        query: item.kind === 'organization' ? 'query($id: ID!) { found: organization(id: $id) { id } }'
          : item.kind === 'practitioner' ? 'query($id: ID!) { found: practitioner(id: $id) { id } }' : 'query($id: ID!) { found: program(id: $id) { id } }',
        variables: { id: item.id },
      }, { contextValue: { ...contextValue, disclosures: [] } });
      const found = existed.body.kind === 'single' && Boolean((existed.body.singleResult.data as Json | undefined)?.found);
      const response = await options.apollo.executeOperation({ query: item.mutation, variables: { input: Object.fromEntries(Object.entries(item.input).filter(([, v]) => v !== undefined)) } }, { contextValue });
      const result = response.body.kind === 'single' ? response.body.singleResult : null;
      const error = result?.errors?.[0];
      const type = item.kind === 'organization' ? 'Organization' : item.kind === 'practitioner' ? 'Practitioner' : 'PlanDefinition';
      if (!result || error) {
        const code = String(error?.extensions?.code ?? '');
        const status = code === 'BAD_USER_INPUT' ? '400 Bad Request' : code === 'CONFLICT' ? '409 Conflict' : code === 'FORBIDDEN' ? '403 Forbidden' : code === 'NOT_FOUND' ? '404 Not Found' : '503 Service Unavailable';
        outcomes.set(item.index, { status, outcome: operationOutcome('error', status.startsWith('503') ? 'transient' : 'invalid', `${type}/${item.id}: ${error?.message ?? 'not loaded'}`) });
      } else {
        outcomes.set(item.index, { status: found ? '200 OK' : '201 Created', location: `${type}/${item.id}` });
      }
    }
    // A PractitionerRole's answer is its Practitioner's.
    for (const [role, practitioner] of roles) if (!outcomes.has(role)) outcomes.set(role, outcomes.get(practitioner)!);
    const answer = {
      resourceType: 'Bundle', type: 'batch-response', id: request.requestId,
      entry: entries.map((_, index) => {
        const outcome = outcomes.get(index) ?? { status: '200 OK' };
        return { response: { status: outcome.status, ...(outcome.location ? { location: outcome.location } : {}), ...(outcome.outcome ? { outcome: outcome.outcome } : {}) } };
      }),
    };
    return reply(200, answer);
  };
}
