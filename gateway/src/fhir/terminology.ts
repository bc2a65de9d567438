/**
 * Code systems and value maps of the FHIR R4 export.
 *
 * The subgraphs already return FHIR Codings for clinical codes (LOINC, ICD-10,
 * CVX, DICOM, SNOMED CT: the design's "naming follows FHIR" rule), so those
 * pass through untouched. What lives here are the codes the GraphQL schema
 * expresses as enums or plain strings, and the systems FHIR expects for them:
 * encounter class (v3 ActCode), sensitivity labels (v3 ActCode /
 * Confidentiality), diagnostic service sections (v2-0074), and so on. Keeping
 * them in one table makes the mapping reviewable against the specification.
 */

import { SYSTEM } from '../../../lib/terminology.js';

export const SYSTEMS = {
  // The clinical code systems the subgraphs use, from the one table that names them.
  loinc: SYSTEM.loinc,
  icd10: SYSTEM.icd10,
  cvx: SYSTEM.cvx,
  dicomModality: SYSTEM.dicom,
  snomed: SYSTEM.snomed,
  ucum: 'http://unitsofmeasure.org',
  /** Encounter.class, and the sensitivity labels (InformationSensitivityPolicy codes). */
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  /** Confidentiality levels: R (restricted), V (very restricted). */
  confidentiality: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality',
  /** Security "integrity" observations, here REDACTED: some elements were withheld. */
  securityObservation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  dataAbsentReason: 'http://terminology.hl7.org/CodeSystem/data-absent-reason',
  dataAbsentReasonExtension: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
  identifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  diagnosticServiceSection: SYSTEM.diagnosticServiceSection,
  observationCategory: SYSTEM.observationCategory,
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  practitionerRole: 'http://terminology.hl7.org/CodeSystem/practitioner-role',
  /** DICOM UIDs as identifiers: system urn:dicom:uid, value urn:oid:<uid> (FHIR R4 ImagingStudy). */
  dicomUid: 'urn:dicom:uid',
  /** Product-local code systems (no standard one exists for these). */
  program: 'https://fhir.alliance.example.org/CodeSystem/program',
  programRule: 'https://fhir.alliance.example.org/CodeSystem/program-rule',
} as const;

/** GraphQL EncounterClass → HL7 v3 ActCode (the R4 Encounter.class value set). */
export const ENCOUNTER_CLASS: Record<string, { code: string; display: string }> = {
  OUTPATIENT: { code: 'AMB', display: 'ambulatory' },
  INPATIENT: { code: 'IMP', display: 'inpatient encounter' },
  EMERGENCY: { code: 'EMER', display: 'emergency' },
  VIRTUAL: { code: 'VR', display: 'virtual' },
};

/** R4 encounter-status codes; anything else the store might hold becomes `unknown`. */
export const ENCOUNTER_STATUS = new Set(['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled', 'entered-in-error', 'unknown']);
export const OBSERVATION_STATUS = new Set(['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown']);
export const REPORT_STATUS = new Set(['registered', 'partial', 'preliminary', 'final', 'amended', 'corrected', 'appended', 'cancelled', 'entered-in-error', 'unknown']);
export const IMMUNIZATION_STATUS = new Set(['completed', 'entered-in-error', 'not-done']);
export const EPISODE_STATUS = new Set(['planned', 'waitlist', 'active', 'onhold', 'finished', 'cancelled', 'entered-in-error']);

/**
 * GraphQL ReferralStatus → FHIR request-status (ServiceRequest.status).
 * FHIR has no "declined" for the request itself: the receiver's refusal ends
 * the request, like a withdrawal, so both become `revoked`. Requested and
 * accepted referrals are both still `active` (the appointment time, when set,
 * is the occurrence).
 */
export const REFERRAL_STATUS: Record<string, string> = {
  REQUESTED: 'active',
  ACCEPTED: 'active',
  DECLINED: 'revoked',
  COMPLETED: 'completed',
  CANCELLED: 'revoked',
};

/** GraphQL TaskStatus → FHIR task-status (the product uses a subset with the same names). */
export const TASK_STATUS: Record<string, string> = { REQUESTED: 'requested', COMPLETED: 'completed', CANCELLED: 'cancelled' };

/** DiagnosticReportCategory → v2-0074 diagnostic service section (as in the SMART scope map, lib/scopes.ts). */
export const REPORT_CATEGORY: Record<string, { code: string; display: string }> = {
  LAB: { code: 'LAB', display: 'Laboratory' },
  ECG: { code: 'EC', display: 'Electrocardiac (e.g., EKG, EEC, Holter)' },
  PATHOLOGY: { code: 'PAT', display: 'Pathology (gross & histopath, not surgical)' },
  RAD: { code: 'RAD', display: 'Radiology' },
};

/** LOINC code for a radiology report: the GraphQL ImagingReport carries no code of its own. */
export const IMAGING_REPORT_CODE = { system: SYSTEMS.loinc, code: '18748-4', display: 'Diagnostic imaging study' };

/** SNOMED CT category of a referral (as US Core uses for ServiceRequest). */
export const REFERRAL_CATEGORY = { system: SYSTEMS.snomed, code: '3457005', display: 'Patient referral' };

/** Home blood pressure is a panel (85354-9) with two components, as in the FHIR vital-signs profile. */
export const BLOOD_PRESSURE_COMPONENTS = {
  systolic: { system: SYSTEMS.loinc, code: '8480-6', display: 'Systolic blood pressure' },
  diastolic: { system: SYSTEMS.loinc, code: '8462-4', display: 'Diastolic blood pressure' },
};

/** A task's assigned role → practitioner-role code (the product's "clinician" is FHIR's "doctor"). */
export const PERFORMER_TYPE: Record<string, { code: string; display: string }> = {
  nurse: { code: 'nurse', display: 'Nurse' },
  clinician: { code: 'doctor', display: 'Doctor' },
};

/** Display texts of the HL7 v3 InformationSensitivityPolicy codes the consent policy uses. */
const SENSITIVITY_DISPLAY: Record<string, string> = {
  HIV: 'HIV/AIDS information sensitivity',
  PSY: 'psychiatry disorder information sensitivity',
  ETH: 'substance abuse information sensitivity',
  GDIS: 'genetic disease information sensitivity',
  SDV: 'sexual assault, abuse, or domestic violence information sensitivity',
  SEX: 'sexuality and reproductive health information sensitivity',
  STD: 'sexually transmitted disease information sensitivity',
};

export interface FhirCoding {
  system: string;
  code: string;
  display?: string;
}

/**
 * The record's sensitivity labels as Resource.meta.security. `V` is a
 * confidentiality level (v3-Confidentiality), the others are v3 ActCode
 * sensitivity codes; a labelled record that is not `V` is also marked
 * restricted (`R`), the confidentiality such records carry in the HL7
 * Healthcare Privacy and Security Classification System, so a receiver that
 * only understands confidentiality still treats it with care.
 */
export function securityLabels(labels: readonly string[]): FhirCoding[] {
  const codings: FhirCoding[] = [];
  const veryRestricted = labels.includes('V');
  if (veryRestricted) codings.push({ system: SYSTEMS.confidentiality, code: 'V', display: 'very restricted' });
  else if (labels.length) codings.push({ system: SYSTEMS.confidentiality, code: 'R', display: 'restricted' });
  for (const label of labels) {
    if (label === 'V') continue;
    codings.push({ system: SYSTEMS.actCode, code: label, ...(SENSITIVITY_DISPLAY[label] ? { display: SENSITIVITY_DISPLAY[label] } : {}) });
  }
  return codings;
}

/** meta.security marker for a resource some of whose elements were withheld by consent. */
export const REDACTED: FhirCoding = { system: SYSTEMS.securityObservation, code: 'REDACTED', display: 'redacted' };

/** The `masked` data-absent-reason, as a CodeableConcept (Observation.dataAbsentReason). */
export const MASKED_REASON = { coding: [{ system: SYSTEMS.dataAbsentReason, code: 'masked', display: 'Masked' }] };

/** The `masked` data-absent-reason as an extension, for required complex elements that were withheld. */
export const maskedExtension = () => ({ extension: [{ url: SYSTEMS.dataAbsentReasonExtension, valueCode: 'masked' }] });
