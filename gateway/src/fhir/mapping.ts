/**
 * GraphQL results → FHIR R4 resources and the searchset Bundle. Each
 * resource is built by the module of its FHIR resource type (resources/);
 * this module assembles them and the registry entries they name.
 *
 * Principles (each resource module follows them):
 * - Only what came back is exported. Records the subgraphs left out (consent
 *   at record level) are simply not there; fields withheld at field level
 *   (null with CONSENT_DENIED/FORBIDDEN, see Masks) are omitted. Where FHIR
 *   requires the element, it carries the `masked` data-absent-reason instead
 *   (Observation.dataAbsentReason, or the data-absent-reason extension on a
 *   required CodeableConcept); when a required primitive (a status) is missing
 *   the resource is left out, since it cannot be valid without it. A resource
 *   that lost elements this way is marked REDACTED in meta.security.
 * - Links between patient records point only at resources in this bundle: a
 *   link to a record the actor may not see (an encounter elsewhere, a report
 *   withheld) is dropped, so ids of hidden records never leak through links.
 *   Organisations and practitioners are referenced with their display name
 *   and, for wildcard tokens (plan.ts), included as `include` entries.
 * - Sensitivity labels travel as meta.security (terminology.ts), so a receiver
 *   can keep protecting labelled records.
 * - Codes the subgraphs return as Codings (LOINC, ICD-10, CVX, DICOM, SNOMED
 *   CT) pass through; enum values are mapped to their FHIR code systems.
 */
import { randomUUID } from 'node:crypto';
import { recordTypeOf, type ConnectionName } from '../../../lib/records/record-types.js';
import type { Collected } from './collect.js';
import type { GqlCoding, GqlOrganization, GqlPractitioner } from './graphql-types.js';
import type { Masks } from './masks.js';
import { operationOutcome, type OperationOutcome } from './outcome.js';
import { withinGranularScope, type ExportPlan } from './plan.js';
import { concept, humanName } from './resources/elements.js';
import { exportGroups } from './resources/index.js';
import type { ExportContext, RecordExport, Resource } from './resources/module.js';
import { patientToFhir } from './resources/patient.js';
import { maskedExtension, REDACTED, securityLabels } from './terminology.js';

export type { Resource } from './resources/module.js';

export interface BundleEntry {
  fullUrl: string;
  resource: Resource;
  search: { mode: 'match' | 'include' | 'outcome' };
}

export interface Bundle {
  resourceType: 'Bundle';
  id: string;
  meta: { lastUpdated: string };
  type: 'searchset';
  timestamp: string;
  total: number;
  link: { relation: string; url: string }[];
  entry: BundleEntry[];
}

/**
 * Removes what FHIR JSON forbids: null, undefined, empty strings, empty
 * arrays and empty objects (every element must have a value or children).
 */
export function prune<T>(value: T): T {
  if (Array.isArray(value)) {
    return value.map(prune).filter((v) => !isEmpty(v)) as unknown as T;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const pruned = prune(v);
      if (!isEmpty(pruned)) out[key] = pruned;
    }
    return out as T;
  }
  return value;
}

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/**
 * meta.lastUpdated: when the record the resource was built from last changed, as its owner's database keeps it (the
 * GraphQL `lastUpdated` every record type has, lib/records/record-types.ts LAST_UPDATED_COLUMN). A FHIR instant; left
 * out only when the record did not say (never invented: `_since` and `_lastUpdated` read it).
 */
export function withLastUpdated(resource: Resource, lastUpdated: string | null | undefined): Resource {
  if (!lastUpdated || Number.isNaN(Date.parse(lastUpdated))) return resource;
  const { resourceType, id, meta, ...rest } = resource as Resource & { meta?: Record<string, unknown> };
  return { resourceType, id, meta: { ...(meta ?? {}), lastUpdated: new Date(lastUpdated).toISOString() }, ...rest };
}

/** The record an export builds its resource from: the node, or the part of it the export is of (a study's report). */
function lastUpdatedOfExport(e: RecordExport, node: unknown): string | null {
  const row = e.recordType ? recordTypeOf(e.recordType) : undefined;
  const source = (row?.partOf ? (node as Record<string, unknown> | null)?.[row.partOf.field] : node) as { lastUpdated?: string | null } | null | undefined;
  return source?.lastUpdated ?? null;
}

/**
 * Builds every resource of one export with the resource modules
 * (resources/), and keeps the registry entries their references need: the
 * modules' ExportContext.
 */
class BundleBuilder implements ExportContext {
  private readonly entries: BundleEntry[] = [];
  private readonly organizations = new Map<string, GqlOrganization>();
  private readonly practitioners = new Map<string, GqlPractitioner>();
  /** ids per resource type in the bundle, to keep references inside it. */
  private readonly present = new Map<string, Set<string>>();
  /** A record or element was left out because consent withheld it. */
  withheldAny: boolean;
  /** The last-updated time of the record being built (a Medication it includes is as recent as the latest record naming it). */
  private current: string | null = null;
  readonly masks: Masks;
  readonly nodes: Readonly<Record<ConnectionName, readonly unknown[]>>;

  constructor(private readonly base: string, private readonly data: Collected, private readonly plan: ExportPlan, private readonly links: LinkOptions = {}) {
    this.masks = data.masks;
    this.withheldAny = data.withheld;
    this.nodes = data.nodes;
  }

  get patientRef() {
    return { reference: `Patient/${this.data.patient.id}` };
  }

  org(o: GqlOrganization | null | undefined) {
    if (!o) return undefined;
    if (!this.organizations.has(o.id)) this.organizations.set(o.id, o);
    return { reference: `Organization/${o.id}`, ...(o.name ? { display: o.name } : {}) };
  }

  practitioner(p: GqlPractitioner | null | undefined) {
    if (!p) return undefined;
    if (!this.practitioners.has(p.id)) this.practitioners.set(p.id, p);
    return { reference: `Practitioner/${p.id}`, ...(p.name?.text ? { display: p.name.text } : {}) };
  }

  link(type: string, id: string | null | undefined) {
    if (!id) return undefined;
    if (this.present.get(type)?.has(id) || this.links.visible?.get(type)?.has(id)) return { reference: `${type}/${id}` };
    // Asked for, and not known to be visible: left out, and noted for a caller who can find out (FHIR search).
    if (this.links.missed) {
      const ids = this.links.missed.get(type) ?? new Set<string>();
      ids.add(id);
      this.links.missed.set(type, ids);
    }
    return undefined;
  }

  meta(node: object | null | undefined, labels: readonly string[] | null | undefined, ...alsoMasked: (object | null | undefined)[]) {
    const redacted = this.masks.any(node) || alsoMasked.some((o) => this.masks.any(o));
    const security = [...securityLabels(labels ?? []), ...(redacted ? [REDACTED] : [])];
    return security.length ? { security } : undefined;
  }

  requiredConcept(node: object, field: string, value: GqlCoding | null | undefined) {
    if (value) return concept(value);
    return this.masks.has(node, field) ? maskedExtension() : undefined;
  }

  withheld(): null {
    this.withheldAny = true;
    return null;
  }

  include(resource: Resource): void {
    if (!this.present.get(resource.resourceType)?.has(resource.id!)) {
      this.add(withLastUpdated(resource, this.current), 'include');
      return;
    }
    const held = this.entries.find((e) => e.resource.resourceType === resource.resourceType && e.resource.id === resource.id);
    const heldAt = (held?.resource.meta as { lastUpdated?: string } | undefined)?.lastUpdated;
    if (held && this.current && (!heldAt || Date.parse(heldAt) < Date.parse(this.current))) held.resource = withLastUpdated(held.resource, this.current);
  }

  resources(resourceType: string): Resource[] {
    return this.entries.filter((e) => e.resource.resourceType === resourceType).map((e) => e.resource);
  }

  private add(resource: Resource, mode: BundleEntry['search']['mode'] = 'match'): void {
    const pruned = prune(resource);
    this.entries.push({ fullUrl: `${this.base}/${pruned.resourceType}/${pruned.id}`, resource: pruned, search: { mode } });
    const ids = this.present.get(pruned.resourceType) ?? new Set<string>();
    ids.add(pruned.id!);
    this.present.set(pruned.resourceType, ids);
  }

  build(): BundleEntry[] {
    if (this.plan.patient) this.add(withLastUpdated(patientToFhir(this.data.patient, this), this.data.patient.lastUpdated));
    // Module by module (resources/index.ts): link targets are added before the resources pointing at them.
    const groups = exportGroups(this.plan);
    for (const { connection, exports } of groups) {
      for (const node of this.nodes[connection]) {
        for (const e of exports) {
          this.current = lastUpdatedOfExport(e, node);
          const resource = e.toFhir(node, this);
          // A granular scope reaches only the category codes it names (a vital-signs app: not the social history of the same consent category).
          if (resource && (!this.plan.scope || withinGranularScope(this.plan.scope, resource))) this.add(withLastUpdated(resource, this.current));
        }
        this.current = null;
      }
    }
    for (const { exports } of groups) for (const e of exports) e.complete?.(this);
    if (this.plan.registry) {
      // Whether the registry still holds the entry as active (records keep naming deactivated ones).
      for (const o of this.organizations.values()) this.add(withLastUpdated({ resourceType: 'Organization', id: o.id, active: o.active !== false, name: o.name }, o.lastUpdated), 'include');
      for (const p of this.practitioners.values()) {
        this.add(withLastUpdated({ resourceType: 'Practitioner', id: p.id, ...(typeof p.active === 'boolean' ? { active: p.active } : {}), name: p.name ? [humanName(p.name)] : undefined }, p.lastUpdated), 'include');
      }
    }
    return this.entries;
  }
}

/**
 * Links beyond the bundle, for FHIR search (search/engine.ts): a searchset holds
 * only the page's matches, while `$everything` links a record to any other the
 * caller may see. Search notes the links it could not make (`missed`), asks the
 * owners which of those records the caller may see, and builds again with them
 * (`visible`); the export itself passes neither.
 */
export interface LinkOptions {
  /** Records, by resource type, known to be visible to the caller though not in the bundle. */
  visible?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Filled with the links left out because their record was neither in the bundle nor in `visible`. */
  missed?: Map<string, Set<string>>;
}

/**
 * The resources some collected records become, built by the same modules as
 * the export (FHIR search and read, search/): the entries, without a Bundle.
 */
export function toResources(data: Collected, options: { base: string; plan: ExportPlan; links?: LinkOptions }): BundleEntry[] {
  return new BundleBuilder(options.base, data, options.plan, options.links).build();
}

export interface BundleOptions {
  /** The export's request id: the bundle's id and the audit events' requestId. */
  requestId: string;
  /** Absolute base of the FHIR endpoint, e.g. https://gateway.example.org/fhir. */
  base: string;
  plan: ExportPlan;
  now?: Date;
}

export function toBundle(data: Collected, options: BundleOptions): Bundle {
  const builder = new BundleBuilder(options.base, data, options.plan);
  const entries = builder.build();
  const now = (options.now ?? new Date()).toISOString();
  const outcomes: OperationOutcome[] = [];
  if (data.emergencyAccess) {
    outcomes.push(operationOutcome('warning', 'informational', `Emergency access (break-glass): ${data.emergencyAccess.notice ?? 'recorded and flagged for review'}`));
  }
  // Says that something was withheld, never what or how much.
  if (builder.withheldAny) outcomes.push(operationOutcome('information', 'suppressed', 'Some information was withheld under the patient\'s consent or the token\'s scopes'));
  const total = entries.filter((e) => e.search.mode === 'match').length;
  return {
    resourceType: 'Bundle',
    id: options.requestId,
    meta: { lastUpdated: now },
    type: 'searchset',
    timestamp: now,
    total,
    link: [{ relation: 'self', url: `${options.base}/Patient/${data.patient.id}/$everything` }],
    entry: [
      ...entries,
      ...outcomes.map((resource) => ({ fullUrl: `urn:uuid:${randomUUID()}`, resource: resource as unknown as Resource, search: { mode: 'outcome' as const } })),
    ],
  };
}
