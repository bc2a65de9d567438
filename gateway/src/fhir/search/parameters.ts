/**
 * The FHIR search parameters the gateway supports, per resource type.
 *
 * Each parameter is data: its name, its FHIR type, the canonical R4
 * SearchParameter it implements (published in the CapabilityStatement) and
 * the element path(s) of the resource it is matched against. The search
 * engine (engine.ts) matches every parameter against the FHIR resources the
 * resource modules built (match.ts), and additionally pushes what the
 * GraphQL connections can filter on (the date window, a LOINC code) down to
 * the subgraphs, so a page costs no more than it must.
 *
 * Derived from the catalogue (lib/records/record-types.ts): every resource type a
 * record type is exchanged as gets `_id` and `patient`, and `category` where
 * the catalogue tells its record types apart by category. What differs per
 * resource type (its date, code and status elements) is one entry of
 * `SPECIFIC` below: a new record type adds one line there
 * (docs/adding-a-record-type.md, docs/fhir.md).
 */
import { ALL_RECORD_TYPES } from '../../../../lib/records/record-types.js';

export type SearchParamType = 'token' | 'date' | 'reference' | 'string';

export interface SearchParam {
  name: string;
  type: SearchParamType;
  /** The canonical SearchParameter of FHIR R4 it implements. */
  definition: string;
  /** Its FHIRPath expression (CapabilityStatement documentation). */
  expression: string;
  /** Element paths in the resource, dot-separated, arrays flattened (e.g. `name.family`). */
  paths: string[];
  /**
   * Dates only: how the connection's own time window (`from`/`to`, on the
   * record type's time column) may be used to narrow the fetch. `instant`:
   * the element is that time (every comparator pushes down); `start`: the
   * element is a period starting then (only upper bounds push down).
   */
  window?: 'instant' | 'start';
}

const SP = 'http://hl7.org/fhir/SearchParameter/';

const param = (resourceType: string, name: string, type: SearchParamType, definition: string, paths: string[], window?: SearchParam['window']): SearchParam => ({
  name, type, definition: SP + definition, expression: paths.map((p) => `${resourceType}.${p}`).join(' | '), paths, ...(window ? { window } : {}),
});

/** What each resource type has besides the parameters every type has: its date, code, status (and more for Patient). */
const SPECIFIC: Record<string, (t: string) => SearchParam[]> = {
  Patient: (t) => [
    param(t, 'identifier', 'token', 'Patient-identifier', ['identifier']),
    param(t, 'name', 'string', 'Patient-name', ['name.family', 'name.given', 'name.text']),
    param(t, 'family', 'string', 'individual-family', ['name.family']),
    param(t, 'given', 'string', 'individual-given', ['name.given']),
    param(t, 'birthdate', 'date', 'individual-birthdate', ['birthDate']),
    param(t, 'gender', 'token', 'individual-gender', ['gender']),
  ],
  Observation: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['effectiveDateTime'], 'instant'),
    param(t, 'code', 'token', 'clinical-code', ['code']),
    param(t, 'status', 'token', 'Observation-status', ['status']),
  ],
  DiagnosticReport: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['effectiveDateTime'], 'instant'),
    param(t, 'code', 'token', 'clinical-code', ['code']),
    param(t, 'status', 'token', 'DiagnosticReport-status', ['status']),
  ],
  Encounter: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['period'], 'start'),
    param(t, 'class', 'token', 'Encounter-class', ['class']),
    param(t, 'status', 'token', 'Encounter-status', ['status']),
  ],
  Condition: (t) => [
    param(t, 'recorded-date', 'date', 'Condition-recorded-date', ['recordedDate'], 'instant'),
    param(t, 'code', 'token', 'clinical-code', ['code']),
    param(t, 'clinical-status', 'token', 'Condition-clinical-status', ['clinicalStatus']),
    param(t, 'category', 'token', 'Condition-category', ['category']),
  ],
  AllergyIntolerance: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['recordedDate'], 'instant'),
    param(t, 'code', 'token', 'clinical-code', ['code']),
    param(t, 'clinical-status', 'token', 'AllergyIntolerance-clinical-status', ['clinicalStatus']),
    param(t, 'category', 'token', 'AllergyIntolerance-category', ['category']),
  ],
  Procedure: (t) => [
    // Filed under performedDateTime or performedPeriod.start: only upper bounds narrow the fetch.
    param(t, 'date', 'date', 'clinical-date', ['performedDateTime', 'performedPeriod'], 'start'),
    param(t, 'code', 'token', 'clinical-code', ['code']),
    param(t, 'status', 'token', 'Procedure-status', ['status']),
  ],
  CarePlan: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['period'], 'start'),
    param(t, 'category', 'token', 'CarePlan-category', ['category']),
    param(t, 'status', 'token', 'CarePlan-status', ['status']),
    param(t, 'intent', 'token', 'CarePlan-intent', ['intent']),
  ],
  CareTeam: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['period'], 'start'),
    param(t, 'status', 'token', 'CareTeam-status', ['status']),
  ],
  ServiceRequest: (t) => [
    param(t, 'authored', 'date', 'ServiceRequest-authored', ['authoredOn'], 'instant'),
    param(t, 'status', 'token', 'ServiceRequest-status', ['status']),
    param(t, 'category', 'token', 'ServiceRequest-category', ['category']),
  ],
  ImagingStudy: (t) => [
    param(t, 'started', 'date', 'ImagingStudy-started', ['started'], 'instant'),
    param(t, 'identifier', 'token', 'clinical-identifier', ['identifier']),
    param(t, 'modality', 'token', 'ImagingStudy-modality', ['modality']),
    param(t, 'status', 'token', 'ImagingStudy-status', ['status']),
  ],
  Immunization: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['occurrenceDateTime'], 'instant'),
    param(t, 'vaccine-code', 'token', 'Immunization-vaccine-code', ['vaccineCode']),
    param(t, 'status', 'token', 'Immunization-status', ['status']),
  ],
  EpisodeOfCare: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['period'], 'start'),
    param(t, 'type', 'token', 'clinical-type', ['type']),
    param(t, 'status', 'token', 'EpisodeOfCare-status', ['status']),
  ],
  Task: (t) => [
    param(t, 'authored-on', 'date', 'Task-authored-on', ['authoredOn'], 'instant'),
    param(t, 'status', 'token', 'Task-status', ['status']),
  ],
  // Medications: `code` matches the medication as a concept or a contained Medication's code (not a Medication entry of its own).
  MedicationRequest: (t) => [
    param(t, 'authoredon', 'date', 'MedicationRequest-authoredon', ['authoredOn'], 'instant'),
    param(t, 'code', 'token', 'medications-code', ['medicationCodeableConcept', 'contained.code']),
    param(t, 'status', 'token', 'medications-status', ['status']),
    param(t, 'intent', 'token', 'MedicationRequest-intent', ['intent']),
  ],
  MedicationAdministration: (t) => [
    param(t, 'effective-time', 'date', 'MedicationAdministration-effective-time', ['effectiveDateTime', 'effectivePeriod'], 'start'),
    param(t, 'code', 'token', 'medications-code', ['medicationCodeableConcept', 'contained.code']),
    param(t, 'status', 'token', 'medications-status', ['status']),
  ],
  MedicationStatement: (t) => [
    param(t, 'effective', 'date', 'MedicationStatement-effective', ['effectiveDateTime', 'effectivePeriod']),
    param(t, 'code', 'token', 'medications-code', ['medicationCodeableConcept', 'contained.code']),
    param(t, 'status', 'token', 'medications-status', ['status']),
  ],
  DocumentReference: (t) => [
    param(t, 'date', 'date', 'DocumentReference-date', ['date'], 'instant'),
    param(t, 'type', 'token', 'clinical-type', ['type']),
    param(t, 'status', 'token', 'DocumentReference-status', ['status']),
    param(t, 'category', 'token', 'DocumentReference-category', ['category']),
  ],
  Consent: (t) => [
    param(t, 'date', 'date', 'clinical-date', ['dateTime'], 'instant'),
    param(t, 'status', 'token', 'Consent-status', ['status']),
    param(t, 'category', 'token', 'Consent-category', ['category']),
  ],
};

/** Where a resource names its patient (Patient itself: no such parameter). */
const PATIENT_ELEMENT: Record<string, string> = { Immunization: 'patient', EpisodeOfCare: 'patient', AllergyIntolerance: 'patient', Consent: 'patient', Task: 'for' };

/** `_lastUpdated`: matched on meta.lastUpdated; its lower bounds (gt, ge) narrow the fetch (the connections' `updatedSince`). */
export const LAST_UPDATED_PARAMETER = '_lastUpdated';

/** The categories-by-code the catalogue gives (Observation, DiagnosticReport): searched with `category`. */
const CATEGORISED = new Set(ALL_RECORD_TYPES.filter((row) => row.fhir.category).map((row) => row.fhir.resourceType));

function parametersOf(resourceType: string): SearchParam[] {
  const list: SearchParam[] = [param(resourceType, '_id', 'token', 'Resource-id', ['id'])];
  // When the record last changed (meta.lastUpdated, its owner's last-updated column): every type has it.
  list.push(param(resourceType, LAST_UPDATED_PARAMETER, 'date', 'Resource-lastUpdated', ['meta.lastUpdated']));
  if (resourceType !== 'Patient') {
    const element = PATIENT_ELEMENT[resourceType] ?? 'subject';
    list.push(param(resourceType, 'patient', 'reference', resourceType === 'Task' ? 'Task-patient' : 'clinical-patient', [element]));
  }
  const specific = SPECIFIC[resourceType]?.(resourceType) ?? [];
  list.push(...specific);
  if (CATEGORISED.has(resourceType) && !list.some((p) => p.name === 'category')) list.push(param(resourceType, 'category', 'token', `${resourceType}-category`, ['category']));
  return list;
}

/** The resource types searched and read: every one a record type of the catalogue is exchanged as. */
export const SEARCHABLE_TYPES: readonly string[] = [...new Set(ALL_RECORD_TYPES.map((row) => row.fhir.resourceType))];

/** The search parameters of each searchable resource type. */
export const SEARCH_PARAMETERS: Readonly<Record<string, readonly SearchParam[]>> = Object.fromEntries(SEARCHABLE_TYPES.map((type) => [type, parametersOf(type)]));

/** The result parameters every search takes (not matched against resources). */
export const RESULT_PARAMETERS = ['_count', '_sort', '_include', '_revinclude', '_cursor', '_format', '_total'] as const;

/** The largest page (the GraphQL connections' own maximum). */
export const MAX_COUNT = 100;
export const DEFAULT_COUNT = 20;
