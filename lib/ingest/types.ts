/**
 * What the gateway sends the owners of published records, and what they
 * answer (the internal ingest APIs of lib/runtime/internal-api.ts). The gateway turns
 * each FHIR resource (or HL7 v2 result) into one entry for its owner: the
 * owner's own column values, already validated and coded, with references
 * to other entries of the same request kept symbolic until the owner knows
 * which records they are (a retried Bundle finds records it created before).
 */
import type { Category } from '../consent/categories.js';
import { OTHER_RECORD_TYPES, RECORD_TYPES, type RecordTypeFacts } from '../records/record-types.js';
import type { SubgraphName } from '../runtime/subgraph-names.js';

/** A business identifier (FHIR Identifier.system and value). */
export interface BusinessIdentifier {
  system: string;
  value: string;
}

/** A reference inside a request: another entry of the same owner, or a record that exists already. */
export type EntryRef = { entry: number } | { id: string };

export interface StageEntry {
  /** Position of the resource in the Bundle (Bundle.entry[index]); FHIRPath expressions of issues start from it. */
  index: number;
  /** FHIRPath of the resource, e.g. `Bundle.entry[2].resource`, or `Patient` for a single resource. */
  path: string;
  /** The FHIR resource type, e.g. Observation. */
  resourceType: string;
  /** The owner's kind of record (encounter, condition, observation, imaging-report, patient, …). */
  kind: string;
  /**
   * create (conditional when ifNoneExist is given), update of an existing record, or relabel: the explicit,
   * audited removal of sensitivity labels (`$meta-delete`; `record.remove` lists them; the patient is the record's).
   */
  op: 'create' | 'update' | 'relabel';
  /** create: the id the record gets if it is created; update: the record's id. */
  id: string;
  /** The patient (resolved by identity before the other owners are asked); identity's own entries: their patient id. */
  patientId: string;
  /** The element naming the patient, below the resource (`subject`, or `patient` for an Immunization or an AllergyIntolerance), for issues. */
  patientElement?: string;
  /** The consent category of the record (the audit event counts per category). */
  category: Category;
  /** Conditional create: the record is not created when one of the organisation's records of this type has one of these identifiers. */
  ifNoneExist: BusinessIdentifier[] | null;
  /** Business identifiers to record with the record (the institution's own ids). */
  identifiers: BusinessIdentifier[];
  /** Column values, as the owner stores them. */
  record: Record<string, unknown>;
  /** References to resolve: field name → reference. */
  refs: Record<string, EntryRef>;
}

export interface StageRequest {
  transactionId: string;
  entries: StageEntry[];
}

/** Identity's stage request also opens the transaction's log and resolves patient references. */
export interface IdentityStageRequest extends StageRequest {
  /** The owners that will be asked to stage (identity records them, so recovery knows whom to tell). */
  participants: SubgraphName[];
  /** References to patients that exist already (`Patient/{id}`, or by identifier). */
  patientRefs: PatientRef[];
}

export interface PatientRef {
  /** Key the gateway uses to find the answer. */
  key: string;
  /** Where the reference is, for the issue (e.g. Bundle.entry[3].resource.subject). */
  expression: string;
  /** Bundle.entry index of the resource holding the reference. */
  index: number;
  id?: string;
  identifier?: BusinessIdentifier;
}

export type EntryOutcome = 'created' | 'updated' | 'matched' | 'relabelled';

export interface EntryResult {
  index: number;
  /** The record's id: new, updated, or the existing one a conditional create matched. */
  id: string;
  outcome: EntryOutcome;
  patientId: string;
  category: Category;
  resourceType: string;
  /** Informational notes for the entry's response (a probable duplicate, identifiers ignored…). */
  notes?: string[];
  /** relabel: the labels removed, and those the record keeps. */
  security?: { removed: string[]; remaining: string[] };
}

/** FHIR IssueType codes the ingest paths use. */
export type IngestIssueType = 'invalid' | 'structure' | 'required' | 'value' | 'code-invalid' | 'forbidden' | 'not-found' | 'conflict'
  | 'duplicate' | 'multiple-matches' | 'business-rule' | 'processing' | 'transient' | 'security' | 'not-supported' | 'login' | 'exception' | 'informational';

export interface EntryIssue {
  /** Bundle.entry index (−1 for the whole request). */
  index: number;
  /** HTTP status this issue calls for (400, 403, 404, 409, 412, 422, 503). */
  status: number;
  code: IngestIssueType;
  message: string;
  /** FHIRPath of the offending element, e.g. Bundle.entry[2].resource.code.coding[0].code. */
  expression: string;
}

export type StageAnswer = { ok: true; results: EntryResult[] } | { ok: false; issues: EntryIssue[] };

export interface IdentityStageAnswer {
  ok: boolean;
  results?: EntryResult[];
  issues?: EntryIssue[];
  /** key → patient id, for the patientRefs. */
  patients?: Record<string, string>;
}

/** One audit event the decision stores: a patient, what was done, how many records per category. */
export interface WriteAudit {
  patientId: string;
  /** relabel: sensitivity labels removed (`$meta-delete`), an event of its own with what was removed. */
  action: 'create' | 'update' | 'relabel';
  recordCounts: Record<string, number>;
  /** relabel: which record lost which labels. */
  labelsRemoved?: { resourceType: string; id: string; labels: string[] }[];
}

export interface DecideRequest {
  transactionId: string;
  decision: 'commit' | 'abort';
  /** commit: the audit events, stored in the same transaction as the decision. */
  audit?: WriteAudit[];
}

/** What recovery finds in identity's log: decided transactions some owners have not been told, and stale pending ones (now aborted). */
export interface UndeliveredDecision {
  transactionId: string;
  state: 'committed' | 'aborted';
  participants: SubgraphName[];
  actor: unknown;
}

/**
 * The owner of each FHIR resource type the product accepts, from the
 * catalogue's published record types (lib/records/record-types.ts); a record held
 * inside another goes to its parent's owner (DiagnosticReport: labs, a RAD
 * report its study's, imaging).
 */
export const RESOURCE_OWNERS: Record<string, SubgraphName> = Object.fromEntries([...OTHER_RECORD_TYPES, ...RECORD_TYPES]
  .filter((row: RecordTypeFacts) => row.published && !row.partOf).map((row) => [row.fhir.resourceType, row.owner]));

/** The patient id a relabel entry carries before its owner names the record's own (a relabel names no patient). */
export const UNKNOWN_PATIENT = '00000000-0000-0000-0000-000000000000';

/** Patient ids, record ids: UUIDs. */
export const isUuidText = (value: unknown): value is string => typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
