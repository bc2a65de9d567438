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
  /** Observation.category (laboratory, vital-signs…). */
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  /** HL7 v2 table 0074, diagnostic service sections: DiagnosticReport.category (LAB, RAD, EC, PAT…). */
  diagnosticServiceSection: 'http://terminology.hl7.org/CodeSystem/v2-0074',
  healthCard: 'https://fhir.alliance.example.org/sid/health-card',
  /** One medical record number system per organisation: append the organisation id. */
  mrnPrefix: 'https://fhir.alliance.example.org/sid/mrn/',
  /** The alliance's organisations by their registry id (a logical Organization reference by identifier). */
  organization: 'https://fhir.alliance.example.org/sid/organization',
  /** US Core DocumentReference.category (clinical-note). */
  documentReferenceCategory: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
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

/*
 * Code validators shared by every service that accepts codes from outside
 * (result recognition arguments, FHIR and HL7 v2 ingestion). They check what
 * can be checked without a terminology server: the shape of each code
 * system's codes and, where the system defines one, the check digit. Each
 * returns whether the code is acceptable; callers decide how to refuse.
 */

/** A LOINC code: 1 to 7 digits, a hyphen and the mod-10 check digit (e.g. 718-7). */
export function isLoincCode(value: unknown): value is string {
  const match = typeof value === 'string' ? /^(\d{1,7})-(\d)$/.exec(value) : null;
  if (!match) return false;
  let sum = 0;
  [...match[1]!].reverse().forEach((digit, i) => {
    const n = Number(digit) * (i % 2 === 0 ? 2 : 1);
    sum += Math.floor(n / 10) + (n % 10);
  });
  return (10 - (sum % 10)) % 10 === Number(match[2]);
}

/** The shape of a LOINC code, without the check digit, to tell a code that is not LOINC at all apart from one whose check digit is wrong. */
export const looksLikeLoinc = (value: unknown): boolean => typeof value === 'string' && /^\d{1,7}-\d$/.test(value);

/**
 * An ICD-10 code (WHO): a letter, two digits (the third position may be a
 * letter in some chapters, e.g. C4A), optionally a dot and up to four
 * characters (e.g. I10, E11.9, Z04.4). U is reserved for special purposes and
 * accepted.
 */
export const isIcd10Code = (value: unknown): value is string => typeof value === 'string' && /^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$/.test(value);

/** A CVX vaccine code (CDC): one to three digits (e.g. 08, 141). */
export const isCvxCode = (value: unknown): value is string => typeof value === 'string' && /^\d{1,3}$/.test(value);

/** A DICOM modality (a code string of CID 29 / CID 33, e.g. CT, MR, DX, US, MG): capitals, digits and underscore. */
export const isDicomModality = (value: unknown): value is string => typeof value === 'string' && /^[A-Z][A-Z0-9_]{1,15}$/.test(value);

// Verhoeff tables: SNOMED CT identifiers end in a Verhoeff check digit.
const VERHOEFF_D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1], [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1], [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/** The shape of a SNOMED CT identifier (6 to 18 digits, no leading zero), without the check digit. */
export const looksLikeSnomedCt = (value: unknown): boolean => typeof value === 'string' && /^[1-9]\d{5,17}$/.test(value);

/** A SNOMED CT identifier: 6 to 18 digits ending in a Verhoeff check digit (e.g. 51185008). */
export function isSnomedCtId(value: unknown): value is string {
  if (!looksLikeSnomedCt(value)) return false;
  let check = 0;
  [...(value as string)].reverse().forEach((digit, i) => {
    check = VERHOEFF_D[check]![VERHOEFF_P[i % 8]![Number(digit)]!]!;
  });
  return check === 0;
}

/** HL7 v3 code systems of the labels in Resource.meta.security. */
export const SECURITY_LABEL_SYSTEMS = {
  /** Sensitivity (InformationSensitivityPolicy) codes: HIV, PSY, ETH, GDIS, SDV, SEX, STD. */
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  /** Confidentiality levels: V (very restricted) is a label; R, N, M, L, U are levels the product derives. */
  confidentiality: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality',
} as const;

/** Confidentiality codes (v3-Confidentiality) other than V: accepted on input, not stored (R is derived from the labels). */
export const DERIVED_CONFIDENTIALITY = ['U', 'L', 'M', 'N', 'R'] as const;

/**
 * The sensitivity label a `meta.security` coding stands for: a label the
 * consent policy knows (V under v3-Confidentiality, the others under
 * v3-ActCode), `null` for a confidentiality level the product derives itself
 * (R, N…), or `undefined` for a coding the product does not know.
 */
export function sensitivityLabelOf(coding: { system?: unknown; code?: unknown }): SensitivityLabel | null | undefined {
  const code = typeof coding.code === 'string' ? coding.code : '';
  if (coding.system === SECURITY_LABEL_SYSTEMS.confidentiality) {
    if (code === 'V') return 'V';
    return (DERIVED_CONFIDENTIALITY as readonly string[]).includes(code) ? null : undefined;
  }
  if (coding.system === SECURITY_LABEL_SYSTEMS.actCode && code !== 'V' && (SENSITIVITY_LABELS as readonly string[]).includes(code)) return code as SensitivityLabel;
  return undefined;
}
