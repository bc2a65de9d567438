/**
 * What one export asks for, decided from the token's SMART scopes before
 * anything is fetched.
 *
 * Consent and the scope ceiling are enforced by the subgraphs per data
 * category, which is the right grain for GraphQL. FHIR clients, though, read
 * scopes per resource type: `patient/Observation.rs` means Observation
 * resources, while the `labs` category it maps to also covers lab
 * DiagnosticReports. The export therefore narrows further (never widens): a
 * connection is queried only when a read scope names its FHIR resource type
 * (or `*`) and covers its category. What is not asked for is neither
 * disclosed nor audited, and an Observation-only app gets only Observations.
 *
 * Organization and Practitioner resources (registry entries the references
 * point at) are included only for wildcard (`*`) tokens: there is no scope for
 * those types in this product, and references keep their display names anyway.
 */
import type { Actor } from '../../../lib/trust/actor.js';
import { parseScopes, type Category } from '../../../lib/trust/scopes.js';
import { RECORD_TYPES, type ConnectionName } from '../../../lib/records/record-types.js';

export interface ExportPlan {
  /** Ask for the patient's own fields (demographics, identifiers) and emit the Patient resource. */
  patient: boolean;
  /** Connections to page through. */
  connections: ConnectionName[];
  /** Radiology reports (DiagnosticReport, RAD) of the imaging studies. */
  radiologyReports: boolean;
  /** Observation → DiagnosticReport links (only when reports are exported). */
  reportLinks: boolean;
  /** Organization and Practitioner resources as `include` entries. */
  registry: boolean;
  /**
   * The token's scope, where granular scopes (`Observation.rs?category=vital-signs`) must also be checked per
   * resource: one category code may stand for several consent categories, and one consent category hold several
   * codes (clinical observations: vital-signs and social-history), so the export keeps only resources whose
   * category the scope names (`withinGranularScope`).
   */
  scope?: string;
  /**
   * Only records that changed after this instant (the Bulk Data export's `_since`): every connection is read with
   * `updatedSince`, so the subgraphs return only records whose lastUpdated is later.
   */
  updatedSince?: string;
}

/** Whether a resource is within the token's granular read scopes for its type (true when a scope reads the type unrestricted). */
export function withinGranularScope(scope: string, resource: { resourceType: string; category?: unknown }): boolean {
  const codes = new Set<string>();
  for (const token of scope.split(/\s+/)) {
    const m = /^(?:patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$/.exec(token);
    if (!m || (m[1] !== '*' && m[1] !== resource.resourceType)) continue;
    const permissions = m[2]!;
    if (!(permissions === 'read' || permissions === '*' || /r|s/.test(permissions))) continue;
    const category = m[3] ? new URLSearchParams(m[3].slice(1)).get('category') : null;
    if (!category) return true;
    codes.add(category.includes('|') ? category.split('|')[1]! : category);
  }
  if (!codes.size) return true;
  const categories = Array.isArray(resource.category) ? resource.category : resource.category ? [resource.category] : [];
  return categories.some((c: { coding?: { code?: string }[] }) => (c?.coding ?? []).some((k) => k.code !== undefined && codes.has(k.code)));
}

/** Each connection: the FHIR resource type it becomes and its consent category (the catalogue's, lib/records/record-types.ts). */
export const CONNECTION_RESOURCES = Object.fromEntries(RECORD_TYPES.map((row) => [row.connection, { resourceType: row.fhir.resourceType, category: row.category }])) as
  Record<ConnectionName, { resourceType: string; category: Category }>;

export function exportPlan(actor: Actor): ExportPlan {
  const scopes = parseScopes(actor.scope).clinical.filter((s) => s.read);
  const reads = (resourceType: string, category: Category) =>
    scopes.some((s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.categories.includes(category));
  const connections = (Object.keys(CONNECTION_RESOURCES) as ConnectionName[])
    .filter((name) => reads(CONNECTION_RESOURCES[name].resourceType, CONNECTION_RESOURCES[name].category));
  return {
    patient: reads('Patient', 'demographics') || reads('Patient', 'identifiers'),
    connections,
    radiologyReports: connections.includes('imagingStudies') && reads('DiagnosticReport', 'imaging-reports'),
    reportLinks: connections.includes('observations') && connections.includes('diagnosticReports'),
    registry: scopes.some((s) => s.resourceType === '*'),
    scope: actor.scope,
  };
}
