/**
 * The catalogue of record types: one row per kind of patient record, saying
 * once what every part of the product needs to know about it. The tables
 * that used to be kept by hand in several places are derived from it:
 *
 * - the SMART scope map (FHIR resource type, granular category → consent
 *   categories: `RESOURCE_CATEGORIES`, lib/trust/scopes.ts);
 * - the timeline's kinds and who owns them (`TIMELINE_KINDS`,
 *   `TIMELINE_KIND_TYPES`, lib/records/timeline.ts);
 * - the owner of each FHIR resource type publishing accepts
 *   (`RESOURCE_OWNERS`, lib/ingest/types.ts);
 * - the Patient connections the FHIR export pages through and what they
 *   become (`CONNECTION_RESOURCES`, gateway/src/fhir/plan.ts);
 * - each owner's record access (how the consent policy sees its rows) and
 *   timeline sources (`recordAccess`, `timelineSource`);
 * - the web client's labels (web/src/labels.ts).
 *
 * test/record-types.test.ts holds it against the SDL: every type with a
 * patient and a consent rule is here, every consent rule names a type that
 * is here, and everything named here exists in its owner's schema.
 *
 * This module runs in the browser too (the web client imports it): it
 * imports only types and Node-free modules.
 *
 * To add a record type, follow docs/adding-a-record-type.md.
 */
import type { Category } from '../consent/categories.js';
import type { SubgraphName } from '../runtime/subgraph-names.js';
import { SYSTEM } from './terminology.js';

/** The FHIR resource a record type is exchanged as. */
export interface FhirShape {
  resourceType: string;
  /**
   * Where one FHIR resource type holds records of several categories
   * (Observation: lab results and home measurements; DiagnosticReport: lab
   * and radiology reports): the category codes that mark this record type,
   * in FHIR's own code system. Granular SMART scopes
   * (`patient/Observation.rs?category=laboratory`) are read with them.
   */
  category?: { system: string; codes: readonly string[] };
}

/** What every record type says about itself. */
export interface RecordTypeFacts {
  /** The GraphQL type its owner serves (an entity keyed by id where it is listed). */
  graphqlType: string;
  /** The one subgraph that stores it. */
  owner: SubgraphName;
  /** Its consent category (the policy decides per category; SMART scopes map to categories). */
  category: Category;
  fhir: FhirShape;
  /** The owner's table. */
  table: string;
  /** A human label, as the web client shows it. */
  label: string;
  /** Column of the producing organisation (default organization_id); null where the record has none (the Patient record: registrations count). */
  organizationColumn?: string | null;
  /** Column (text[]) of organisations the record is addressed to besides its producer, whose staff see it as the producer's do. */
  addresseesColumn?: string;
  /** Column of the patient id (default patient_id). */
  patientColumn?: string;
  /** Institutions publish it through the FHIR writes (and HL7 v2 where a message carries it). */
  published?: boolean;
  /** Other GraphQL types that present these records under another shape, under this type's consent rule (a due-list entry). */
  views?: readonly string[];
  /** Held inside another record type: reached only through that type's field (a radiology report through its study). */
  partOf?: { graphqlType: string; field: string };
  /**
   * Other FHIR shapes the same records are published and exported as, told
   * apart by their category codes (a clinical note sent as a DiagnosticReport
   * whose category is a LOINC note code). Each record keeps the resource type
   * it came as; scopes naming either resource type reach it.
   */
  alsoAs?: readonly FhirShape[];
  /**
   * The column (timestamptz) of the time the record last changed, set by the database on insert and on every update
   * that changes the row (lib/records/last-updated.ts): FHIR meta.lastUpdated, `_lastUpdated`, the export's
   * `_since`, GraphQL `lastUpdated` and the connections' `updatedSince`. Default LAST_UPDATED_COLUMN.
   */
  lastUpdatedColumn?: string;
  /**
   * Where a database upgraded to last-updated times finds the time of the rows it already held: a column of the
   * record's own time (its creation, `created_at`). Without it they get the upgrade's time (lib/records/last-updated.ts).
   */
  lastUpdatedFrom?: string;
  /**
   * Rows of other tables held inside this record (an encounter's participants): each table and its column naming
   * the record. A change to one of them changes the record: its last-updated time moves too (lib/records/last-updated.ts).
   */
  parts?: readonly { table: string; column: string }[];
  /**
   * The table is partitioned by its patient (labs' observation: HASH of patient_id, migration 009). Its lists then
   * also name their patients by a constant PostgreSQL computes while planning (patient_ids_of_filters), so only those
   * patients' partitions are planned and read (lib/records/connection.ts, patientPagesFrom).
   */
  partitionedByPatient?: boolean;
}

/** A record type of the patient's history: on the timeline and a Relay connection of Patient. */
export interface ListedRecordType extends RecordTypeFacts {
  /** Its kind of timeline entry (the TimelineKind enum value). */
  kind: string;
  /** The column its time is kept in: the order of its lists and of the timeline. */
  timeColumn: string;
  /** The connection field on Patient. */
  connection: string;
}

const OBSERVATION_CATEGORY = SYSTEM.observationCategory;
const DIAGNOSTIC_SECTION = SYSTEM.diagnosticServiceSection;

/**
 * The LOINC document codes that make a DiagnosticReport a clinical note
 * (its category, as EHR exports such as Synthea send them): the note types
 * of US Core's clinical-notes guidance and the note codes EHRs send besides.
 * One list, read by publishing (which report is a note), scopes and search.
 * A DiagnosticReport with a v2-0074 section (LAB, EC, PAT, RAD) is never a note.
 */
export const NOTE_REPORT_CODES = [
  '34117-2', // History and physical note
  '51847-2', // Evaluation + Plan note
  '11488-4', // Consult note
  '18842-5', // Discharge summary
  '11506-3', // Progress note
  '28570-0', // Procedure note
  '34111-5', // Emergency department note
  '57133-1', // Referral note
  '34746-8', // Nurse note
  '34109-9', // Note
] as const;

/**
 * The patient's clinical history, in the order of the timeline's kinds.
 * Each row is a record type of its own, even where two share a FHIR resource
 * type (lab results and home measurements are both Observations).
 */
export const RECORD_TYPES = [
  {
    kind: 'ENCOUNTER', graphqlType: 'Encounter', label: 'Encounters', fhir: { resourceType: 'Encounter' }, category: 'encounters',
    owner: 'encounters', table: 'encounter', timeColumn: 'period_start', connection: 'encounters', published: true,
    // Remote consultations are addressed to every organisation taking part.
    addresseesColumn: 'addressee_organization_ids',
    // Its participants are elements of its Encounter resource.
    parts: [{ table: 'encounter_participant', column: 'encounter_id' }],
  },
  {
    kind: 'DIAGNOSIS', graphqlType: 'Condition', label: 'Diagnoses', fhir: { resourceType: 'Condition' }, category: 'diagnoses',
    owner: 'encounters', table: 'condition', timeColumn: 'recorded_date', connection: 'conditions', published: true,
  },
  {
    kind: 'ALLERGY', graphqlType: 'AllergyIntolerance', label: 'Allergies', fhir: { resourceType: 'AllergyIntolerance' }, category: 'allergies',
    owner: 'encounters', table: 'allergy_intolerance', timeColumn: 'recorded_date', connection: 'allergies', published: true,
  },
  // Medications: prescribed, given and reported by clinicians during encounters, so the encounters subgraph owns them.
  {
    kind: 'MEDICATION_REQUEST', graphqlType: 'MedicationRequest', label: 'Prescriptions', fhir: { resourceType: 'MedicationRequest' }, category: 'medications',
    owner: 'encounters', table: 'medication_request', timeColumn: 'authored_on', connection: 'medicationRequests', published: true,
  },
  {
    kind: 'MEDICATION_ADMINISTRATION', graphqlType: 'MedicationAdministration', label: 'Medications given', fhir: { resourceType: 'MedicationAdministration' },
    category: 'medications', owner: 'encounters', table: 'medication_administration', timeColumn: 'effective_start', connection: 'medicationAdministrations', published: true,
  },
  {
    kind: 'MEDICATION_STATEMENT', graphqlType: 'MedicationStatement', label: 'Medications taken', fhir: { resourceType: 'MedicationStatement' },
    category: 'medications', owner: 'encounters', table: 'medication_statement', timeColumn: 'effective_start', connection: 'medicationStatements', published: true,
  },
  {
    // Performed and recorded during an encounter, by its clinicians: the encounter's owner keeps it.
    kind: 'PROCEDURE', graphqlType: 'Procedure', label: 'Procedures', fhir: { resourceType: 'Procedure' }, category: 'procedures',
    owner: 'encounters', table: 'procedure', timeColumn: 'performed_at', connection: 'procedures', published: true,
  },
  {
    kind: 'REFERRAL', graphqlType: 'Referral', label: 'Referrals', fhir: { resourceType: 'ServiceRequest' }, category: 'referrals',
    owner: 'encounters', table: 'referral', timeColumn: 'authored_on', connection: 'referrals', published: true,
    // Produced by the referring organisation, addressed to the receiving one.
    organizationColumn: 'requester_organization_id', addresseesColumn: 'addressee_organization_ids',
  },
  {
    kind: 'LAB_RESULT', graphqlType: 'Observation', label: 'Lab results', fhir: { resourceType: 'Observation', category: { system: OBSERVATION_CATEGORY, codes: ['laboratory'] } },
    category: 'labs', owner: 'labs', table: 'observation', timeColumn: 'effective', connection: 'observations', published: true,
    partitionedByPatient: true,
  },
  {
    kind: 'DIAGNOSTIC_REPORT', graphqlType: 'DiagnosticReport', label: 'Reports',
    fhir: { resourceType: 'DiagnosticReport', category: { system: DIAGNOSTIC_SECTION, codes: ['LAB', 'EC', 'PAT'] } },
    category: 'labs', owner: 'labs', table: 'diagnostic_report', timeColumn: 'effective', connection: 'diagnosticReports', published: true,
  },
  {
    kind: 'IMAGING_STUDY', graphqlType: 'ImagingStudy', label: 'Imaging', fhir: { resourceType: 'ImagingStudy' }, category: 'imaging',
    owner: 'imaging', table: 'imaging_study', timeColumn: 'started', connection: 'imagingStudies', published: true,
    // Its radiology report is read through it (ImagingStudy.report): a corrected report moves the study's time, so
    // `updatedSince` on the studies finds it. The report keeps a time of its own besides (ImagingReport below).
    parts: [{ table: 'imaging_report', column: 'study_id' }],
  },
  {
    kind: 'IMMUNIZATION', graphqlType: 'Immunization', label: 'Immunisations', fhir: { resourceType: 'Immunization' }, category: 'immunizations',
    owner: 'public-health', table: 'immunization', timeColumn: 'occurrence', connection: 'immunizations', published: true,
    // An entry of a programme's immunisation due list: the child's enrolment, about their immunisations.
    views: ['ImmunizationDue'],
  },
  {
    kind: 'PROGRAM_ENROLLMENT', graphqlType: 'ProgramEnrollment', label: 'Programmes', fhir: { resourceType: 'EpisodeOfCare' }, category: 'programs',
    owner: 'public-health', table: 'program_enrollment', timeColumn: 'period_start', connection: 'programEnrollments', published: true,
  },
  {
    kind: 'FOLLOW_UP_TASK', graphqlType: 'FollowUpTask', label: 'Follow-up tasks', fhir: { resourceType: 'Task' }, category: 'follow-ups',
    owner: 'public-health', table: 'follow_up_task', timeColumn: 'authored_on', connection: 'followUpTasks',
  },
  {
    // Care and follow-up plans are public-health's domain (its programmes, its follow-up tasks): it keeps the plans
    // institutions publish, and the teams that carry them out.
    kind: 'CARE_PLAN', graphqlType: 'CarePlan', label: 'Care plans', fhir: { resourceType: 'CarePlan' }, category: 'care-plans',
    owner: 'public-health', table: 'care_plan', timeColumn: 'period_start', connection: 'carePlans', published: true,
  },
  {
    kind: 'CARE_TEAM', graphqlType: 'CareTeam', label: 'Care teams', fhir: { resourceType: 'CareTeam' }, category: 'care-plans',
    owner: 'public-health', table: 'care_team', timeColumn: 'period_start', connection: 'careTeams', published: true,
  },
  {
    kind: 'HOME_MEASUREMENT', graphqlType: 'HomeMeasurement', label: 'Home measurements',
    fhir: { resourceType: 'Observation', category: { system: OBSERVATION_CATEGORY, codes: ['vital-signs'] } },
    category: 'home-measurements', owner: 'public-health', table: 'home_measurement', timeColumn: 'effective', connection: 'homeMeasurements',
  },
  {
    // Clinical observations of every category but laboratory: clinic vital signs (blood pressure panels with their
    // components, heart rate, BMI…), exams, surveys, social history (smoking, alcohol), imaging, procedure, therapy,
    // activity. Owned by labs, which owns observations; a consent category of their own, so a patient can share lab
    // results without their social history. `vital-signs` is also the home measurements' code: a granular scope
    // `Observation.rs?category=vital-signs` covers both categories.
    kind: 'CLINICAL_OBSERVATION', graphqlType: 'ClinicalObservation', label: 'Observations',
    fhir: { resourceType: 'Observation', category: { system: OBSERVATION_CATEGORY, codes: ['vital-signs', 'social-history', 'survey', 'exam', 'imaging', 'procedure', 'therapy', 'activity'] } },
    category: 'observations', owner: 'labs', table: 'clinical_observation', timeColumn: 'effective', connection: 'clinicalObservations', published: true,
  },
  {
    // Owned by imaging: the subgraph that already holds narrative reports (radiology findings) and references to large binaries
    // (DICOM studies held elsewhere); a note is narrative with attachments stored or referenced, the same storage concerns.
    kind: 'CLINICAL_NOTE', graphqlType: 'ClinicalNote', label: 'Clinical notes',
    fhir: { resourceType: 'DocumentReference', category: { system: SYSTEM.documentReferenceCategory, codes: ['clinical-note'] } },
    // Notes sent as DiagnosticReports (Synthea, many EHR exports), kept as such and exported back as DiagnosticReports.
    alsoAs: [{ resourceType: 'DiagnosticReport', category: { system: SYSTEM.loinc, codes: NOTE_REPORT_CODES } }],
    category: 'notes', owner: 'imaging', table: 'clinical_note', timeColumn: 'date', connection: 'clinicalNotes', published: true,
  },
] as const satisfies readonly ListedRecordType[];

/**
 * What else the consent policy governs: the Patient record itself and its
 * identifiers, the patient's consent directives, and records held inside
 * another (a radiology report inside its imaging study).
 */
export const OTHER_RECORD_TYPES = [
  {
    graphqlType: 'Patient', label: 'Patient record', fhir: { resourceType: 'Patient' }, category: 'demographics', owner: 'identity', table: 'patient',
    // The patient's own record: no producer, the organisations that registered the patient count instead.
    organizationColumn: null, patientColumn: 'id', published: true,
    lastUpdatedFrom: 'created_at',
    // The Patient resource holds the patient's identifiers and what the registering organisations sent.
    parts: [{ table: 'patient_identifier', column: 'patient_id' }, { table: 'patient_registration', column: 'patient_id' }],
  },
  {
    graphqlType: 'Identifier', label: 'Record numbers', fhir: { resourceType: 'Patient' }, category: 'identifiers', owner: 'identity', table: 'patient_identifier',
    partOf: { graphqlType: 'Patient', field: 'identifiers' },
  },
  {
    graphqlType: 'ConsentDirective', label: 'Consents', fhir: { resourceType: 'Consent' }, category: 'consents', owner: 'identity', table: 'consent_directive',
    // Staff of an organisation that registered the patient see the directives recorded for them.
    organizationColumn: null, lastUpdatedFrom: 'created_at',
  },
  {
    graphqlType: 'ImagingReport', label: 'Radiology reports', fhir: { resourceType: 'DiagnosticReport', category: { system: DIAGNOSTIC_SECTION, codes: ['RAD'] } },
    category: 'imaging-reports', owner: 'imaging', table: 'imaging_report', partOf: { graphqlType: 'ImagingStudy', field: 'report' }, published: true,
  },
] as const satisfies readonly RecordTypeFacts[];

export type RecordType = (typeof RECORD_TYPES)[number];
/** A kind of timeline entry (the TimelineKind enum). */
export type TimelineKind = RecordType['kind'];
/** A record type's GraphQL type. */
export type RecordTypeName = RecordType['graphqlType'];
/** Any row's GraphQL type, listed or not. */
export type AnyRecordTypeName = RecordTypeName | (typeof OTHER_RECORD_TYPES)[number]['graphqlType'];
/** A connection field of Patient listing a record type. */
export type ConnectionName = RecordType['connection'];

/** Every row, the history's record types first. */
export const ALL_RECORD_TYPES: readonly RecordTypeFacts[] = [...RECORD_TYPES, ...OTHER_RECORD_TYPES];

/** The row of a GraphQL type (a view finds the row it is a view of). */
export function recordTypeOf(graphqlType: string): RecordTypeFacts | undefined {
  return ALL_RECORD_TYPES.find((row) => row.graphqlType === graphqlType || (row.views as readonly string[] | undefined)?.includes(graphqlType));
}

/** The listed record type of a GraphQL type (throws for an unknown one: a typo in code, not input). */
export function listedRecordType(graphqlType: RecordTypeName): RecordType {
  const row = RECORD_TYPES.find((r) => r.graphqlType === graphqlType);
  if (!row) throw new Error(`${graphqlType} is not in the catalogue of record types`);
  return row;
}

/** Every FHIR shape a record type is exchanged as: its own, then the others it is also published as. */
export const fhirShapesOf = (row: RecordTypeFacts): readonly FhirShape[] => [row.fhir, ...(row.alsoAs ?? [])];

/** The shape of a record type as a resource type (undefined: not exchanged as it). */
export const fhirShapeAs = (row: RecordTypeFacts, resourceType: string): FhirShape | undefined => fhirShapesOf(row).find((shape) => shape.resourceType === resourceType);

/** The tables of the record types an owner keeps in its history (a merge of two patients re-points their rows). */
export const historyTablesOf = (owner: SubgraphName): string[] => RECORD_TYPES.filter((row) => row.owner === owner).map((row) => row.table);

/**
 * The SMART scope map: which consent categories a FHIR resource type stands
 * for, in all and per granular category code.
 */
export function resourceCategories(): Record<string, { all: Category[]; granular?: Record<string, Category[]> }> {
  const map: Record<string, { all: Category[]; granular?: Record<string, Category[]> }> = {};
  for (const row of ALL_RECORD_TYPES) {
    for (const shape of fhirShapesOf(row)) {
      const entry = (map[shape.resourceType] ??= { all: [] });
      if (!entry.all.includes(row.category)) entry.all.push(row.category);
      for (const code of shape.category?.codes ?? []) {
        const granular = (entry.granular ??= {});
        const categories = (granular[code] ??= []);
        if (!categories.includes(row.category)) categories.push(row.category);
      }
    }
  }
  return map;
}

/** The column every record table keeps its last-updated time in, unless its row names another (docs/last-updated.md). */
export const LAST_UPDATED_COLUMN = 'last_updated';

/** A record type's last-updated column. */
export const lastUpdatedColumnOf = (row: RecordTypeFacts): string => row.lastUpdatedColumn ?? LAST_UPDATED_COLUMN;
