/**
 * Code systems and the value sets the synthetic data generator draws from.
 * Codes are real: LOINC for observations and reports, ICD-10 for diagnoses,
 * CVX for vaccines, DICOM for modalities, SNOMED CT for body sites.
 */
import type { SensitivityLabel } from '../records/terminology.js';

export { SYSTEM, SENSITIVITY_LABELS, HOME_MEASUREMENT_CODES, type SensitivityLabel, type HomeMeasurementKind } from '../records/terminology.js';

export interface LabTest {
  loinc: string;
  display: string;
  unit: string;
  low: number | null;
  high: number | null;
  /** Typical value and spread for a healthy person. */
  mean: number;
  sd: number;
  decimals: number;
}

export interface LabPanel {
  loinc: string;
  display: string;
  tests: LabTest[];
}

const t = (loinc: string, display: string, unit: string, low: number | null, high: number | null, mean: number, sd: number, decimals = 1): LabTest =>
  ({ loinc, display, unit, low, high, mean, sd, decimals });

export const LAB_PANELS: LabPanel[] = [
  {
    loinc: '58410-2', display: 'CBC panel - Blood by Automated count', tests: [
      t('6690-2', 'Leukocytes [#/volume] in Blood by Automated count', '10*3/uL', 4.0, 10.0, 6.8, 1.9),
      t('789-8', 'Erythrocytes [#/volume] in Blood by Automated count', '10*6/uL', 4.2, 5.4, 4.8, 0.4, 2),
      t('718-7', 'Hemoglobin [Mass/volume] in Blood', 'g/dL', 12.0, 17.5, 14.2, 1.4),
      t('4544-3', 'Hematocrit [Volume Fraction] of Blood by Automated count', '%', 36, 50, 42, 3.5),
      t('777-3', 'Platelets [#/volume] in Blood by Automated count', '10*3/uL', 150, 400, 260, 60, 0),
    ],
  },
  {
    loinc: '51990-0', display: 'Basic metabolic panel - Blood', tests: [
      t('14749-6', 'Glucose [Moles/volume] in Serum or Plasma', 'mmol/L', 3.9, 6.1, 5.4, 1.1),
      t('14682-9', 'Creatinine [Moles/volume] in Serum or Plasma', 'umol/L', 53, 115, 82, 18, 0),
      t('2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 'mmol/L', 3.5, 5.1, 4.2, 0.4),
      t('2951-2', 'Sodium [Moles/volume] in Serum or Plasma', 'mmol/L', 135, 145, 140, 2.5, 0),
    ],
  },
  {
    loinc: '57698-3', display: 'Lipid panel with direct LDL - Serum or Plasma', tests: [
      t('14647-2', 'Cholesterol [Moles/volume] in Serum or Plasma', 'mmol/L', null, 5.2, 4.9, 0.9, 2),
      t('14927-8', 'Triglyceride [Moles/volume] in Serum or Plasma', 'mmol/L', null, 1.7, 1.5, 0.6, 2),
      t('14646-4', 'Cholesterol in HDL [Moles/volume] in Serum or Plasma', 'mmol/L', 1.0, null, 1.3, 0.3, 2),
      t('22748-8', 'Cholesterol in LDL [Moles/volume] in Serum or Plasma', 'mmol/L', null, 3.4, 2.9, 0.7, 2),
    ],
  },
  {
    loinc: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', tests: [
      t('4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', '%', 4.0, 6.0, 5.6, 0.8),
    ],
  },
];

/**
 * Very restricted records (confidentiality V): closed even to break-glass.
 * A sexual-assault examination (ICD-10 Z04.4, labelled SDV and V) and a
 * genetic test (HL7 genetic variant reporting panel, GDIS and V).
 */
export const ASSAULT_EXAMINATION = { code: 'Z04.4', display: 'Examination and observation following alleged rape and seduction', labels: ['SDV', 'V'] as SensitivityLabel[] };
export const GENETIC_REPORT = { loinc: '81247-9', display: 'Master HL7 genetic variant reporting panel', labels: ['GDIS', 'V'] as SensitivityLabel[] };
export const GENETIC_RESULT = { loinc: '51968-6', display: 'Discrete variation analysis overall interpretation' };

/** HIV screening: carries the `HIV` sensitivity label. */
export const HIV_TEST = { loinc: '56888-1', display: 'HIV 1+2 Ab+HIV1 p24 Ag [Presence] in Serum or Plasma by Immunoassay' };
export const ECG_REPORT = { loinc: '11524-6', display: 'EKG study' };
export const PATHOLOGY_REPORT = { loinc: '60567-5', display: 'Comprehensive pathology report panel' };

export const ECG_CONCLUSIONS = ['Sinus rhythm, normal ECG', 'Sinus tachycardia', 'Left ventricular hypertrophy by voltage criteria', 'Atrial fibrillation with controlled ventricular response', 'First degree AV block'];
export const PATHOLOGY_CONCLUSIONS = ['Chronic gastritis, Helicobacter pylori negative', 'Benign colonic polyp (tubular adenoma), margins clear', 'Reactive lymph node, no malignancy', 'Adenocarcinoma, moderately differentiated'];

export interface Diagnosis {
  code: string;
  display: string;
  labels: SensitivityLabel[];
  chronic: boolean;
}

const d = (code: string, display: string, chronic = false, labels: SensitivityLabel[] = []): Diagnosis => ({ code, display, chronic, labels });

export const DIAGNOSES: Diagnosis[] = [
  d('J06.9', 'Acute upper respiratory infection, unspecified'),
  d('J18.9', 'Pneumonia, unspecified organism'),
  d('K29.7', 'Gastritis, unspecified'),
  d('M54.5', 'Low back pain'),
  d('N39.0', 'Urinary tract infection, site not specified'),
  d('S52.5', 'Fracture of lower end of radius'),
  d('I25.1', 'Atherosclerotic heart disease', true),
  d('Z00.0', 'General adult medical examination'),
];
/** What brings a young child (the demo's children are 0–6) to a clinic: no back pain, no heart disease. */
export const CHILD_DIAGNOSES: Diagnosis[] = [
  d('J06.9', 'Acute upper respiratory infection, unspecified'),
  d('H66.9', 'Otitis media, unspecified'),
  d('A09', 'Other gastroenteritis and colitis of infectious and unspecified origin'),
  d('L20.9', 'Atopic dermatitis, unspecified'),
  d('J18.9', 'Pneumonia, unspecified organism'),
  d('Z00.1', 'Routine child health examination'),
];
/** Adult diagnoses given only from this age on (coronary disease in a twenty-year-old is not what a clinician expects). */
export const MIN_AGE_OF_DIAGNOSIS: Record<string, number> = { 'I25.1': 40 };
/** Lab panels a child gets (a blood count); metabolic and lipid panels are for adults. */
export const CHILD_LAB_PANEL_CODES = ['58410-2'];
/** Imaging a child gets: plain radiography and ultrasound (no CT, MRI or mammography). */
export const CHILD_IMAGING_MODALITIES = ['DX', 'US'];
/** Screening mammography: women from this age. */
export const MAMMOGRAPHY_MIN_AGE = 40;

export const HYPERTENSION = d('I10', 'Essential (primary) hypertension', true);
export const DIABETES = d('E11.9', 'Type 2 diabetes mellitus without complications', true);
export const DEPRESSION = d('F32.9', 'Depressive episode, unspecified', true, ['PSY']);
export const HIV_DISEASE = d('B20', 'Human immunodeficiency virus [HIV] disease', true, ['HIV']);

export interface Vaccine {
  cvx: string;
  display: string;
}

export const VACCINES: Record<string, Vaccine> = {
  hepB: { cvx: '08', display: 'Hep B, adolescent or pediatric' },
  bcg: { cvx: '19', display: 'BCG' },
  ipv: { cvx: '10', display: 'IPV' },
  dtap: { cvx: '20', display: 'DTaP' },
  mmr: { cvx: '03', display: 'MMR' },
  flu: { cvx: '141', display: 'Influenza, seasonal, injectable' },
  ppsv23: { cvx: '33', display: 'pneumococcal polysaccharide PPV23' },
};

/**
 * Childhood immunisation schedule (the `EPI` programme): which dose of which
 * vaccine is due at what age in months. Used by the generator and by the
 * immunisation due list.
 */
export const CHILDHOOD_SCHEDULE: { vaccine: keyof typeof VACCINES; dose: number; ageMonths: number }[] = [
  { vaccine: 'hepB', dose: 1, ageMonths: 0 },
  { vaccine: 'bcg', dose: 1, ageMonths: 0 },
  { vaccine: 'hepB', dose: 2, ageMonths: 1 },
  { vaccine: 'ipv', dose: 1, ageMonths: 2 },
  { vaccine: 'ipv', dose: 2, ageMonths: 3 },
  { vaccine: 'dtap', dose: 1, ageMonths: 3 },
  { vaccine: 'dtap', dose: 2, ageMonths: 4 },
  { vaccine: 'dtap', dose: 3, ageMonths: 5 },
  { vaccine: 'hepB', dose: 3, ageMonths: 6 },
  { vaccine: 'mmr', dose: 1, ageMonths: 8 },
  { vaccine: 'dtap', dose: 4, ageMonths: 18 },
  { vaccine: 'mmr', dose: 2, ageMonths: 18 },
];

export interface ImagingKind {
  modality: string;
  modalityDisplay: string;
  bodySite: string;
  bodySiteDisplay: string;
  description: string;
  series: [number, number];
  instancesPerSeries: [number, number];
}

export const IMAGING_KINDS: ImagingKind[] = [
  { modality: 'CT', modalityDisplay: 'Computed Tomography', bodySite: '51185008', bodySiteDisplay: 'Thoracic structure', description: 'CT chest without contrast', series: [2, 5], instancesPerSeries: [80, 300] },
  { modality: 'CT', modalityDisplay: 'Computed Tomography', bodySite: '69536005', bodySiteDisplay: 'Head structure', description: 'CT head without contrast', series: [2, 4], instancesPerSeries: [40, 120] },
  { modality: 'MR', modalityDisplay: 'Magnetic Resonance', bodySite: '421060004', bodySiteDisplay: 'Structure of vertebral column', description: 'MRI lumbar spine', series: [4, 8], instancesPerSeries: [15, 40] },
  { modality: 'DX', modalityDisplay: 'Digital Radiography', bodySite: '51185008', bodySiteDisplay: 'Thoracic structure', description: 'Chest X-ray PA and lateral', series: [1, 2], instancesPerSeries: [1, 2] },
  { modality: 'US', modalityDisplay: 'Ultrasound', bodySite: '818983003', bodySiteDisplay: 'Abdomen', description: 'Abdominal ultrasound', series: [1, 2], instancesPerSeries: [10, 40] },
  { modality: 'MG', modalityDisplay: 'Mammography', bodySite: '76752008', bodySiteDisplay: 'Breast structure', description: 'Screening mammography, bilateral', series: [1, 1], instancesPerSeries: [4, 4] },
];

export const IMAGING_FINDINGS: Record<string, { findings: string; impression: string }[]> = {
  CT: [
    { findings: 'No focal consolidation, mass or effusion. Mediastinal structures unremarkable.', impression: 'No acute abnormality.' },
    { findings: 'A 6 mm solid nodule in the right upper lobe. No lymphadenopathy.', impression: 'Small pulmonary nodule; follow-up CT in 12 months.' },
  ],
  MR: [
    { findings: 'Disc bulge at L4-L5 with mild narrowing of the left neural foramen.', impression: 'Degenerative disc disease L4-L5.' },
    { findings: 'Normal alignment and signal of the lumbar vertebrae and discs.', impression: 'Normal MRI of the lumbar spine.' },
  ],
  DX: [
    { findings: 'Lungs clear. Heart size normal.', impression: 'Normal chest radiograph.' },
    { findings: 'Patchy opacity in the left lower zone.', impression: 'Findings compatible with left lower lobe pneumonia.' },
  ],
  US: [
    { findings: 'Liver of normal size with increased echogenicity. Gallbladder without stones.', impression: 'Hepatic steatosis.' },
    { findings: 'Liver, gallbladder, pancreas, spleen and kidneys unremarkable.', impression: 'Normal abdominal ultrasound.' },
  ],
  MG: [
    { findings: 'Scattered fibroglandular densities. No suspicious mass or calcification.', impression: 'BI-RADS 1: negative.' },
  ],
};

export const FAMILY_NAMES = ['Wang', 'Li', 'Zhang', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Zhou', 'Xu', 'Sun', 'Ma', 'Zhu', 'Hu', 'Guo', 'He', 'Lin', 'Gao', 'Luo'];
export const GIVEN_NAMES_FEMALE = ['Fang', 'Min', 'Jing', 'Li', 'Xiu Ying', 'Yan', 'Hui', 'Ling', 'Na', 'Mei', 'Xia', 'Juan'];
export const GIVEN_NAMES_MALE = ['Wei', 'Qiang', 'Lei', 'Jun', 'Yong', 'Jie', 'Tao', 'Ming', 'Chao', 'Hao', 'Peng', 'Bin'];
export const STREETS = ['Renmin Road', 'Jiefang Street', 'Zhongshan Road', 'Xinhua Street', 'Heping Lane', 'Chaoyang Road'];

/** RxNorm (a medication allergen's second coding, as hospital systems send it beside SNOMED CT). */
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

export interface Allergen {
  /** SNOMED CT substance; null for a substance the clinician wrote as free text. */
  snomed: { code: string; display: string } | null;
  rxnorm?: { code: string; display: string };
  text: string;
  category: 'food' | 'medication' | 'environment' | 'biologic';
  type: 'allergy' | 'intolerance';
}

/** Substances patients react to (SNOMED CT substances, Verhoeff check digits valid). */
export const ALLERGENS: Allergen[] = [
  { snomed: { code: '764146007', display: 'Penicillin (substance)' }, text: 'Penicillin', category: 'medication', type: 'allergy' },
  { snomed: { code: '372687004', display: 'Amoxicillin (substance)' }, rxnorm: { code: '723', display: 'amoxicillin' }, text: 'Amoxicillin', category: 'medication', type: 'allergy' },
  { snomed: { code: '387458008', display: 'Aspirin (substance)' }, rxnorm: { code: '1191', display: 'aspirin' }, text: 'Aspirin', category: 'medication', type: 'intolerance' },
  { snomed: { code: '387207008', display: 'Ibuprofen (substance)' }, rxnorm: { code: '5640', display: 'ibuprofen' }, text: 'Ibuprofen', category: 'medication', type: 'intolerance' },
  { snomed: { code: '762952008', display: 'Peanut (substance)' }, text: 'Peanuts', category: 'food', type: 'allergy' },
  { snomed: { code: '227493005', display: 'Cashew nut (substance)' }, text: 'Cashew nuts', category: 'food', type: 'allergy' },
  { snomed: { code: '102263004', display: 'Eggs (edible) (substance)' }, text: 'Eggs', category: 'food', type: 'allergy' },
  { snomed: { code: '3718001', display: 'Cow\'s milk (substance)' }, text: 'Cow\'s milk', category: 'food', type: 'intolerance' },
  { snomed: { code: '256259004', display: 'Pollen (substance)' }, text: 'Pollen', category: 'environment', type: 'allergy' },
  { snomed: { code: '264287008', display: 'Animal dander (substance)' }, text: 'Animal dander', category: 'environment', type: 'allergy' },
  { snomed: { code: '111088007', display: 'Latex (substance)' }, text: 'Latex', category: 'environment', type: 'allergy' },
  // Written as the clinician heard it: no code for it.
  { snomed: null, text: 'Herbal decoction (unnamed, from a township clinic)', category: 'medication', type: 'intolerance' },
];

/** What is seen on exposure (SNOMED CT clinical findings), and how severe it usually is. */
export const REACTIONS: { code: string; display: string; severity: 'mild' | 'moderate' | 'severe' }[] = [
  { code: '126485001', display: 'Urticaria (disorder)', severity: 'mild' },
  { code: '418290006', display: 'Itching (finding)', severity: 'mild' },
  { code: '271807003', display: 'Eruption of skin (disorder)', severity: 'moderate' },
  { code: '422587007', display: 'Nausea (finding)', severity: 'mild' },
  { code: '62315008', display: 'Diarrhea (finding)', severity: 'moderate' },
  { code: '267036007', display: 'Dyspnea (finding)', severity: 'severe' },
  { code: '39579001', display: 'Anaphylaxis (disorder)', severity: 'severe' },
];

/** Procedure code systems besides SNOMED CT: ICD-10-PCS and CPT (as hospital systems send them beside SNOMED CT), and a local one. */
export const ICD10_PCS = 'http://www.cms.gov/Medicare/Coding/ICD10';
export const CPT = 'http://www.ama-assn.org/go/cpt';
export const LOCAL_PROCEDURES = 'https://fhir.alliance.example.org/CodeSystem/tcm-procedure';

export interface ProcedureKind {
  /** SNOMED CT procedure; null for a procedure only the local code system names. */
  snomed: { code: string; display: string } | null;
  pcs?: { code: string; display: string };
  cpt?: { code: string; display: string };
  local?: { code: string; display: string };
  text: string;
  bodySite: { code: string; display: string } | null;
  /** Why it is done (ICD-10). */
  reason: { code: string; display: string };
  /** Minutes it takes: more than 30, and it is recorded as a period. */
  minutes: number;
}

/** Procedures performed during encounters (SNOMED CT codes, Verhoeff check digits valid). */
export const PROCEDURE_KINDS: ProcedureKind[] = [
  {
    snomed: { code: '80146002', display: 'Appendectomy (procedure)' }, pcs: { code: '0DTJ4ZZ', display: 'Resection of Appendix, Percutaneous Endoscopic Approach' },
    cpt: { code: '44970', display: 'Laparoscopy, surgical, appendectomy' }, text: 'Laparoscopic appendectomy',
    bodySite: { code: '66754008', display: 'Appendix structure (body structure)' }, reason: { code: 'K35.8', display: 'Acute appendicitis, other and unspecified' }, minutes: 70,
  },
  {
    snomed: { code: '45595009', display: 'Laparoscopic cholecystectomy (procedure)' }, pcs: { code: '0FT44ZZ', display: 'Resection of Gallbladder, Percutaneous Endoscopic Approach' },
    cpt: { code: '47562', display: 'Laparoscopy, surgical; cholecystectomy' }, text: 'Laparoscopic cholecystectomy',
    bodySite: { code: '28231008', display: 'Gallbladder structure (body structure)' }, reason: { code: 'K80.2', display: 'Calculus of gallbladder without cholecystitis' }, minutes: 90,
  },
  {
    snomed: { code: '73761001', display: 'Colonoscopy (procedure)' }, pcs: { code: '0DJD8ZZ', display: 'Inspection of Lower Intestinal Tract, Via Natural or Artificial Opening Endoscopic' },
    cpt: { code: '45378', display: 'Colonoscopy, flexible; diagnostic' }, text: 'Colonoscopy',
    bodySite: { code: '71854001', display: 'Colon structure (body structure)' }, reason: { code: 'Z12.1', display: 'Encounter for screening for malignant neoplasm of intestinal tract' }, minutes: 40,
  },
  {
    snomed: { code: '302497006', display: 'Hemodialysis (procedure)' }, pcs: { code: '5A1D70Z', display: 'Performance of Urinary Filtration, Intermittent, Less than 6 Hours Per Day' },
    cpt: { code: '90935', display: 'Hemodialysis procedure with single evaluation' }, text: 'Haemodialysis session',
    bodySite: null, reason: { code: 'N18.5', display: 'Chronic kidney disease, stage 5' }, minutes: 240,
  },
  {
    snomed: { code: '399208008', display: 'Plain chest X-ray (procedure)' }, cpt: { code: '71045', display: 'Radiologic examination, chest; single view' }, text: 'Chest X-ray',
    bodySite: { code: '39607008', display: 'Lung structure (body structure)' }, reason: { code: 'R05', display: 'Cough' }, minutes: 10,
  },
  {
    // Traditional Chinese medicine in a township clinic: the clinic's own code system only.
    snomed: null, local: { code: 'TCM-ACU-01', display: 'Acupuncture, body points' }, text: 'Acupuncture',
    bodySite: null, reason: { code: 'M54.5', display: 'Low back pain' }, minutes: 25,
  },
];

/** SNOMED CT: what the performer did (occupations) and the outcome. */
export const SURGEON = { code: '304292004', display: 'Surgeon (occupation)' };
export const ANAESTHETIST = { code: '158970007', display: 'Anesthetist (occupation)' };
export const PROCEDURE_OUTCOMES = [
  { code: '385669000', display: 'Successful (qualifier value)' },
  { code: '385671000', display: 'Unsuccessful (qualifier value)' },
];

/** Care plans for a chronic disease (SNOMED CT, Verhoeff check digits valid): the plan's category, its activities, the team's roles. */
export const CARE_PLAN_KINDS: { diagnosis: string; reason: { code: string; display: string }; category: { code: string; display: string }; activities: { code: string; display: string }[] }[] = [
  {
    diagnosis: 'I10', reason: { code: '38341003', display: 'Hypertensive disorder, systemic arterial (disorder)' },
    category: { code: '443402002', display: 'Lifestyle education regarding hypertension (procedure)' },
    activities: [{ code: '386463000', display: 'Prescribed activity/exercise education (procedure)' }, { code: '229065009', display: 'Exercise therapy (regime/therapy)' }],
  },
  {
    diagnosis: 'E11.9', reason: { code: '44054006', display: 'Diabetes mellitus type 2 (disorder)' },
    category: { code: '698360004', display: 'Diabetes self management plan (record artifact)' },
    activities: [{ code: '160670007', display: 'Diabetic diet (finding)' }, { code: '229065009', display: 'Exercise therapy (regime/therapy)' }],
  },
];
export const CARE_TEAM_ROLES = {
  physician: { code: '158965000', display: 'Medical practitioner (occupation)' },
  nurse: { code: '224535009', display: 'Registered nurse (occupation)' },
  professional: { code: '223366009', display: 'Healthcare professional (occupation)' },
};

/** ATC (the WHO's Anatomical Therapeutic Chemical classification), a medication's second coding beside RxNorm. */
export const ATC = 'http://www.whocc.no/atc';

/** A medicine as prescribed: RxNorm (clinical drug) and ATC codings, its dose and how often a day. */
export interface Drug {
  rxnorm: { code: string; display: string };
  atc: { code: string; display: string };
  text: string;
  dose: { value: number; unit: string };
  timesADay: number;
  route: 'oral' | 'intravenous';
}

/** Routes in SNOMED CT (Verhoeff check digits valid). */
export const ROUTES = {
  oral: { code: '26643006', display: 'Oral route' },
  intravenous: { code: '47625008', display: 'Intravenous route' },
} as const;

/** What a chronic diagnosis (ICD-10) is treated with, prescribed when it is first recorded. */
export const CHRONIC_DRUGS: Record<string, Drug> = {
  I10: { rxnorm: { code: '197361', display: 'amlodipine 5 MG Oral Tablet' }, atc: { code: 'C08CA01', display: 'amlodipine' }, text: 'Amlodipine 5 mg tablet', dose: { value: 5, unit: 'mg' }, timesADay: 1, route: 'oral' },
  'E11.9': {
    rxnorm: { code: '860975', display: '24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet' }, atc: { code: 'A10BA02', display: 'metformin' },
    text: 'Metformin 500 mg extended-release tablet', dose: { value: 500, unit: 'mg' }, timesADay: 2, route: 'oral',
  },
  'F32.9': { rxnorm: { code: '312938', display: 'sertraline 50 MG Oral Tablet' }, atc: { code: 'N06AB06', display: 'sertraline' }, text: 'Sertraline 50 mg tablet', dose: { value: 50, unit: 'mg' }, timesADay: 1, route: 'oral' },
};

/** Medicines given on the ward during an inpatient stay. */
export const INPATIENT_DRUGS: Drug[] = [
  { rxnorm: { code: '1665021', display: 'ceftriaxone 1000 MG Injection' }, atc: { code: 'J01DD04', display: 'ceftriaxone' }, text: 'Ceftriaxone 1 g injection', dose: { value: 1, unit: 'g' }, timesADay: 1, route: 'intravenous' },
  { rxnorm: { code: '313782', display: 'acetaminophen 325 MG Oral Tablet' }, atc: { code: 'N02BE01', display: 'paracetamol' }, text: 'Paracetamol 325 mg tablet', dose: { value: 650, unit: 'mg' }, timesADay: 4, route: 'oral' },
];
