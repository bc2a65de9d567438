/**
 * The alliance registry (organisations and practitioners) as the other
 * services see it. Identity owns it and administrators change it at run time
 * (upsertOrganization, upsertPractitioner); every subgraph that takes an
 * organisation or a practitioner in its input checks it here, against
 * identity's registry of the moment, through `/internal/registry` — never
 * against a list of its own, never against the demo data.
 */
import type { Actor } from '../trust/actor.js';
import { badInput, forbidden } from '../runtime/errors.js';
import { INTERNAL_APIS, type InternalCaller } from '../runtime/internal-api.js';

/** An organisation as the registry API answers it. */
export interface RegistryOrganization {
  id: string;
  /** OrganizationType, e.g. COUNTY_HOSPITAL. */
  type: string;
  partOf: string | null;
  active: boolean;
}

/** A practitioner as the registry API answers it. */
export interface RegistryPractitioner {
  id: string;
  organizationId: string;
  /** PractitionerRole, e.g. CLINICIAN. */
  role: string;
  active: boolean;
}

/** What `/internal/registry` is asked: ids, at most MAX_REGISTRY_IDS of each. */
export interface RegistryRequest {
  organizationIds?: string[];
  practitionerIds?: string[];
}

/** Its answer: the entries it holds among those asked (unknown ids are left out). */
export interface RegistryAnswer {
  organizations: RegistryOrganization[];
  practitioners: RegistryPractitioner[];
}

export const MAX_REGISTRY_IDS = 1000;

/** Registry ids are readable slugs: lower-case letters and digits in hyphen-separated words, 3 to 64 characters (org-county-north). */
export const REGISTRY_ID = /^(?=.{3,64}$)[a-z0-9]+(-[a-z0-9]+)*$/;

/** The ids of a registry request body: strings, deduplicated, capped. */
export function registryRequestOf(body: unknown): { organizationIds: string[]; practitionerIds: string[] } {
  const ids = (value: unknown) => (Array.isArray(value) ? [...new Set(value.filter((id): id is string => typeof id === 'string'))].slice(0, MAX_REGISTRY_IDS) : []);
  const request = (body ?? {}) as Record<string, unknown>;
  return { organizationIds: ids(request.organizationIds), practitionerIds: ids(request.practitionerIds) };
}

/** Administrators keep the registries (identity's, and the recognition tables of labs and imaging); nobody else changes them. */
export function requireRegistryAdmin(actor: Actor): void {
  if (actor.role !== 'admin') throw forbidden('Registries are kept by administrators');
  if (actor.patient) throw forbidden('A token bound to a patient does not administer registries');
}

/** An organisation named in input, with the input field that named it (for the error). */
export interface NamedOrganization {
  id: string;
  field: string;
}

/** A practitioner named in input; with `organizationId`, they must work there. */
export interface NamedPractitioner {
  id: string;
  field: string;
  organizationId?: string;
}

/**
 * Refuses, with BAD_USER_INPUT, input naming an organisation or a
 * practitioner that identity's registry does not hold as active (or a
 * practitioner named for an organisation they do not work for). One call to
 * identity for everything named; call it before writing anything.
 */
export async function requireRegistered(
  internal: InternalCaller, named: { organizations?: NamedOrganization[]; practitioners?: NamedPractitioner[] },
): Promise<RegistryAnswer> {
  const organizations = named.organizations ?? [];
  const practitioners = named.practitioners ?? [];
  if (organizations.length === 0 && practitioners.length === 0) return { organizations: [], practitioners: [] };
  if (organizations.length > MAX_REGISTRY_IDS || practitioners.length > MAX_REGISTRY_IDS) throw badInput('Too many organisations or practitioners named');
  const answer = await internal.call<RegistryAnswer>(INTERNAL_APIS.registry, {
    organizationIds: [...new Set(organizations.map((o) => o.id))],
    practitionerIds: [...new Set(practitioners.map((p) => p.id))],
  });
  const organization = new Map(answer.organizations.map((o) => [o.id, o]));
  const practitioner = new Map(answer.practitioners.map((p) => [p.id, p]));
  for (const named of organizations) {
    const entry = organization.get(named.id);
    if (!entry) throw badInput(`${named.field}: ${named.id} is not an organisation of the alliance registry`, { field: named.field });
    if (!entry.active) throw badInput(`${named.field}: ${named.id} is no longer an active organisation of the alliance`, { field: named.field });
  }
  for (const named of practitioners) {
    const entry = practitioner.get(named.id);
    if (!entry) throw badInput(`${named.field}: ${named.id} is not a practitioner of the alliance registry`, { field: named.field });
    if (!entry.active) throw badInput(`${named.field}: ${named.id} is no longer an active practitioner of the alliance`, { field: named.field });
    if (named.organizationId && entry.organizationId !== named.organizationId) {
      throw badInput(`${named.field}: ${named.id} works for ${entry.organizationId}, not ${named.organizationId}`, { field: named.field });
    }
  }
  return answer;
}
