/**
 * What a FHIR resource module is: one file per FHIR resource type
 * (gateway/src/fhir/resources/<type>.ts) holding both directions of its
 * mapping side by side, so a reader compares them element by element and a
 * new record type is one module and one catalogue entry
 * (docs/adding-a-record-type.md):
 *
 * - `exports`: how each record type of the catalogue exchanged as this
 *   resource is read for the export (the GraphQL selection on its Patient
 *   connection) and turned into a resource (`toFhir`);
 * - `fromFhir`: how a published resource becomes its owner's entry (the
 *   owner's column values, checked and coded), with every problem an issue
 *   naming the element.
 *
 * The two share the helpers of elements.ts (codings, references, dates,
 * provenance) and the code systems of ../terminology.ts.
 */
import type { Actor } from '../../../../lib/trust/actor.js';
import type { BusinessIdentifier, EntryRef, IngestIssueType, StageEntry } from '../../../../lib/ingest/types.js';
import type { AnyRecordTypeName, ConnectionName } from '../../../../lib/records/record-types.js';
import type { SubgraphName } from '../../../../lib/runtime/services.js';
import type { Masks } from '../masks.js';
import type { GqlCoding, GqlOrganization, GqlPractitioner } from '../graphql-types.js';
import type { ExportPlan } from '../plan.js';
import type { FhirCoding } from '../terminology.js';

export type Json = Record<string, any>;
export type Resource = { resourceType: string; id?: string } & Record<string, unknown>;

/* ----------------------------------------------------------------- export */

/** What a module's `toFhir` builds with: the bundle being assembled (mapping.ts). */
export interface ExportContext {
  /** `{ reference: Patient/<id> }` of the exported patient. */
  readonly patientRef: { reference: string };
  /** Which fields of the GraphQL results consent withheld (null with CONSENT_DENIED/FORBIDDEN). */
  readonly masks: Masks;
  /** Every record collected, by Patient connection (a report reads the results that point at it). */
  readonly nodes: Readonly<Record<ConnectionName, readonly unknown[]>>;
  /** A reference to an organisation (included as an `include` entry for wildcard tokens). */
  org(organization: GqlOrganization | null | undefined): { reference: string; display?: string } | undefined;
  /** A reference to a practitioner (included like organisations). */
  practitioner(practitioner: GqlPractitioner | null | undefined): { reference: string; display?: string } | undefined;
  /** A reference to another record, only if it is in the bundle (ids of records the caller may not see never leak through links). */
  link(resourceType: string, id: string | null | undefined): { reference: string } | undefined;
  /** meta.security: the record's sensitivity labels, and REDACTED when consent withheld any field of `node` (or of the other objects given). */
  meta(node: object | null | undefined, labels: readonly string[] | null | undefined, ...alsoMasked: (object | null | undefined)[]): { security: FhirCoding[] } | undefined;
  /** A required CodeableConcept: the code, or the `masked` data-absent-reason extension if consent withheld it; undefined if simply absent. */
  requiredConcept(node: object, field: string, value: GqlCoding | null | undefined): Json | undefined;
  /** Leaves a record (or element) out because consent withheld it: the bundle says something was withheld. Returns null for `return x.withheld()`. */
  withheld(): null;
  /** Adds a resource a record references to the bundle, once (a Medication several prescriptions name), as an `include` entry. */
  include(resource: Resource): void;
  /** The resources of a type added so far (a module's `complete` links them once every record is in). */
  resources(resourceType: string): Resource[];
}

/** How one record type of the catalogue is exported as this module's resource. */
export interface RecordExport<Node = any> {
  /** The Patient connection whose nodes it reads (a record held inside another reads its parent's). */
  from: ConnectionName;
  /** The catalogue's record type (lib/records/record-types.ts) it exports: by default the one `from` lists. */
  recordType?: AnyRecordTypeName;
  /** Whether it runs for this export (default: when `from` is exported). */
  runs?: (plan: ExportPlan) => boolean;
  /**
   * The GraphQL fields it needs, per connection: only what it maps (every
   * field asked for is a field disclosed and audited). `from`'s own fields at
   * least; others where it reads links on another connection's nodes.
   */
  select: (plan: ExportPlan) => Partial<Record<ConnectionName, string>>;
  /** The resource, or null when there is none (`return x.withheld()` when consent withheld what it requires). */
  toFhir(node: Node, x: ExportContext): Resource | null;
  /** After every record is in: links that need both ends in the bundle (an Encounter's diagnoses). */
  complete?(x: ExportContext): void;
}

/* ------------------------------------------------------------- publishing */

/** One problem with a published request, for the OperationOutcome. */
export interface Issue {
  index: number;
  status: number;
  code: IngestIssueType;
  message: string;
  expression: string;
}

/** How an entry names its patient, resolved by identity before the other owners stage. */
export type PatientLink = { entry: number } | { id: string } | { identifier: BusinessIdentifier };

/** What the request's entries say about each other (fullUrl → entry). */
export interface BundleContext {
  actor: Actor;
  organizationId: string;
  /** fullUrl (urn:uuid:…, or Type/id) → entry index and resource type. */
  fullUrls: Map<string, { index: number; resourceType: string; resource?: unknown }>;
  /** Batch: entries may not refer to one another. */
  independent: boolean;
}

/** Collects issues for one entry, with expressions below its resource. */
export class EntryIssues {
  constructor(readonly list: Issue[], readonly index: number, readonly base: string) {}

  add(status: number, code: IngestIssueType, message: string, element = ''): undefined {
    this.list.push({ index: this.index, status, code, message, expression: element ? `${this.base}.${element}` : this.base });
    return undefined;
  }
}

/** A published resource as its owner will store it (before the request's own checks: scopes, ids, identifiers). */
export interface Mapped {
  /** The catalogue's record type it is (its owner and consent category come from there). */
  recordType: AnyRecordTypeName;
  /** The owner's kind of record: which of its handlers stores it (lib/ingest/participant.ts). */
  kind: string;
  /** The owner's column values. */
  record: Json;
  /** References to resolve: field name → reference. */
  refs: Record<string, EntryRef>;
  /** The patient it is about (a Patient entry: itself). */
  patient: PatientLink | null;
  /** The element naming the patient (for issues). */
  patientElement: string;
  /** A report: the results it lists (each result gets the link to its report). */
  results?: EntryRef[];
  /**
   * Links to entries of this Bundle another subgraph owns (a care plan's Conditions, an observation's or a note's Encounter):
   * `record[column]` is a list, or a single value, in which `entryLink(n)` stands for entry n's record id, put in by the coordinator once that entry's owner has staged
   * it (the id a conditional create matched, or the new one). `expression`: the element, for issues.
   */
  foreignLinks?: { column: string; expression: string }[];
  /** What this entry keeps, where it differs from the module's `keeps` (one resource type, several record types: a clinical Observation keeps more than a lab result, a DiagnosticReport that is a note other elements than a lab report). */
  keeps?: { [element: string]: KeptElements };
}

/** The placeholder of `Mapped.foreignLinks` for the record id of entry `index` of the Bundle. */
export const entryLink = (index: number) => `entry:${index}`;

/** Reads one published resource: its owner's entry, or issues. */
export type FromFhir = (resource: Json, context: BundleContext, issues: EntryIssues, index: number) => Mapped;

/** What a module keeps of a published resource (elements.ts, unkeptElements): `true` the element whole, an object its kept children, `$max` the items of a list kept. */
export type KeptObject = { [element: string]: KeptElements | number | undefined; $max?: number };
export type KeptElements = true | KeptObject;

/** One FHIR resource type: its export and its publishing, side by side. */
export interface FhirResourceModule {
  resourceType: string;
  exports?: RecordExport[];
  /** Absent: the product does not accept this resource type from institutions (a Task is created by programme rules). */
  fromFhir?: FromFhir;
  /**
   * The elements `fromFhir` stores and the export gives back (elements.ts, KeptElements; the bookkeeping every
   * resource may carry is added). Any other element of a published resource is refused, named: nothing accepted is lost.
   */
  keeps?: { [element: string]: KeptElements };
}

/** An entry ready for its owner, but for the patient id. */
export interface MappedEntry extends Omit<StageEntry, 'patientId'> {
  owner: SubgraphName;
  /** Patient entries: themselves; the others: their subject. */
  patient: PatientLink;
  /** Where the patient reference is (for issues). */
  patientExpression: string;
  /** Links to other owners' entries of the Bundle, resolved by the coordinator before this entry is staged. */
  foreignLinks?: { column: string; expression: string }[];
}
