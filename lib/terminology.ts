/**
 * The code systems the product speaks, used at run time by every service
 * (resolvers, the consent policy, the FHIR export and ingestion). The
 * synthetic data generator draws its value sets from lib/synthetic/, which
 * only the seeders import; what the running product needs lives here.
 */

/** Canonical URIs of the code and identifier systems (FHIR R4 names). */
export const SYSTEM = {
  loinc: 'http://loinc.org',
  icd10: 'http://hl7.org/fhir/sid/icd-10',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  snomed: 'http://snomed.info/sct',
  dischargeDisposition: 'http://terminology.hl7.org/CodeSystem/discharge-disposition',
  healthCard: 'https://fhir.alliance.example.org/sid/health-card',
  /** One medical record number system per organisation: append the organisation id. */
  mrnPrefix: 'https://fhir.alliance.example.org/sid/mrn/',
} as const;

/** HL7 v3 ActCode confidentiality / sensitivity labels used by the consent policy. */
export const SENSITIVITY_LABELS = ['HIV', 'PSY', 'ETH', 'GDIS', 'SDV', 'SEX', 'STD', 'V'] as const;
export type SensitivityLabel = (typeof SENSITIVITY_LABELS)[number];

/** LOINC codes for home measurements a patient submits. */
export const HOME_MEASUREMENT_CODES = {
  'blood-pressure': { loinc: '85354-9', display: 'Blood pressure panel with all children optional', unit: 'mm[Hg]' },
  glucose: { loinc: '14743-9', display: 'Glucose [Moles/volume] in Capillary blood by Glucometer', unit: 'mmol/L' },
  weight: { loinc: '29463-7', display: 'Body weight', unit: 'kg' },
} as const;
export type HomeMeasurementKind = keyof typeof HOME_MEASUREMENT_CODES;
