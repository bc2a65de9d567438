/**
 * Code systems of the FHIR R4 export and publishing, and the security labels.
 *
 * The subgraphs already return FHIR Codings for clinical codes (LOINC, ICD-10,
 * CVX, DICOM, SNOMED CT: the design's "naming follows FHIR" rule), so those
 * pass through untouched. What lives here are the codes the GraphQL schema
 * expresses as enums or plain strings, and the systems FHIR expects for them:
 * encounter class (v3 ActCode), sensitivity labels (v3 ActCode /
 * Confidentiality), diagnostic service sections (v2-0074), and so on. Keeping
 * them in one table makes the mapping reviewable against the specification;
 * the value sets of one resource (its statuses, its classes) live in its
 * module (resources/).
 */

import { SYSTEM } from '../../../lib/records/terminology.js';

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
  allergyClinical: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
  allergyVerification: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification',
  practitionerRole: 'http://terminology.hl7.org/CodeSystem/practitioner-role',
  /** DICOM UIDs as identifiers: system urn:dicom:uid, value urn:oid:<uid> (FHIR R4 ImagingStudy). */
  dicomUid: 'urn:dicom:uid',
  /** Product-local code systems (no standard one exists for these). */
  program: 'https://fhir.alliance.example.org/CodeSystem/program',
  programRule: 'https://fhir.alliance.example.org/CodeSystem/program-rule',
} as const;

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
