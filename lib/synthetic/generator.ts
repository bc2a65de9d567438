/**
 * Deterministic synthetic patients for the demo, the tests and the benchmark
 * set. `generatePatient(seed, index)` returns one person's whole record across
 * the five domains; each subgraph's seeder stores only its own part.
 *
 * The data is shaped like an alliance's: patients registered at a township
 * health centre and its county hospital (so one person carries several medical
 * record numbers), referrals upwards, lab panels grouped in reports, some
 * results labelled sensitive (HIV, mental health), programme enrolments
 * driven by diagnoses and age, childhood vaccinations on schedule, and home
 * blood-pressure and glucose readings for chronic-disease programmes.
 */
import {
  ALLERGENS, ASSAULT_EXAMINATION, CHILD_DIAGNOSES, CHILD_IMAGING_MODALITIES, CHILD_LAB_PANEL_CODES, CHILDHOOD_SCHEDULE, MAMMOGRAPHY_MIN_AGE, MIN_AGE_OF_DIAGNOSIS, DEPRESSION, DIABETES, DIAGNOSES, ECG_CONCLUSIONS, ECG_REPORT, GENETIC_REPORT, GENETIC_RESULT, HIV_DISEASE, HIV_TEST,
  HOME_MEASUREMENT_CODES, HYPERTENSION, IMAGING_FINDINGS, IMAGING_KINDS, LAB_PANELS, PATHOLOGY_CONCLUSIONS,
  PATHOLOGY_REPORT, REACTIONS, RXNORM, ATC, CHRONIC_DRUGS, INPATIENT_DRUGS, ROUTES, type Drug, STREETS, SYSTEM, VACCINES, type Diagnosis, type HomeMeasurementKind, type SensitivityLabel,
} from './codes.js';
import { ANAESTHETIST, CPT, ICD10_PCS, LOCAL_PROCEDURES, PROCEDURE_KINDS, PROCEDURE_OUTCOMES, SURGEON } from './codes.js';
import { CARE_PLAN_KINDS, CARE_TEAM_ROLES } from './codes.js';
import { Random } from './random.js';
import { ORGANIZATIONS, PROGRAMS, TOWNSHIP_CENTRES, generatePractitioners, type Practitioner } from './registry.js';

/** Default seed: the demo set, the tests and the benchmark set all use it unless told otherwise. */
export const DEFAULT_SEED = 20260630;
const DAY = 86_400_000;

/**
 * The anchor of a data set: the calendar day (UTC, YYYY-MM-DD) every
 * generated date is relative to, as if the data had been exported at its
 * midnight: histories lead up to it (five years of them), open tasks fall due
 * around it. Never the clock: given its anchor, generation is pure. `npm start` anchors the demo
 * set on the day it first seeds (or DEMO_ANCHOR); the tests pin TEST_ANCHOR.
 */
export type Anchor = string;

/** The anchor the test stacks pin, and the generator's default, so `generatePatient(seed, i)` is what a test stack holds. */
export const TEST_ANCHOR: Anchor = '2026-06-30';

/** The instant an anchor stands for (its midnight, UTC); refuses anything but a real YYYY-MM-DD date. */
export function anchorTime(anchor: Anchor): number {
  const time = /^\d{4}-\d{2}-\d{2}$/.test(anchor) ? Date.parse(`${anchor}T00:00:00Z`) : Number.NaN;
  if (Number.isNaN(time) || new Date(time).toISOString().slice(0, 10) !== anchor) throw new Error(`The anchor must be a calendar date, YYYY-MM-DD (got ${JSON.stringify(anchor)})`);
  return time;
}

/** Today's anchor (the UTC date of `now`). */
export const todayAnchor = (now: Date = new Date()): Anchor => now.toISOString().slice(0, 10);

export interface PatientRecord {
  id: string;
  family: string;
  given: string[];
  birthDate: string;
  sex: 'female' | 'male';
  phone: string;
  email: string | null;
  address: { line: string; city: string; postalCode: string };
  identifiers: { system: string; value: string; type: 'MR' | 'HC'; assignerOrganizationId: string | null }[];
}

export interface EncounterRecord {
  id: string; patientId: string; organizationId: string; practitionerId: string;
  class: 'AMB' | 'IMP' | 'EMER' | 'VR'; status: 'finished' | 'in-progress';
  periodStart: Date; periodEnd: Date | null; reasonCode: string; reasonDisplay: string;
  sensitivityLabels: SensitivityLabel[];
}

export interface ConditionRecord {
  id: string; patientId: string; encounterId: string; organizationId: string;
  code: string; display: string; clinicalStatus: 'active' | 'resolved'; recordedDate: Date;
  sensitivityLabels: SensitivityLabel[];
}

export interface ReferralRecord {
  id: string; patientId: string; requesterOrganizationId: string; requesterPractitionerId: string;
  performerOrganizationId: string; status: 'requested' | 'accepted' | 'declined' | 'completed' | 'cancelled';
  reasonCode: string; reasonDisplay: string; note: string; authoredOn: Date; appointmentTime: Date | null;
}

export interface ObservationRecord {
  id: string; patientId: string; organizationId: string; reportId: string | null;
  code: string; display: string; category: 'laboratory';
  valueQuantity: number | null; valueString: string | null; unit: string | null;
  referenceLow: number | null; referenceHigh: number | null; interpretation: 'N' | 'H' | 'L' | 'POS' | 'NEG' | null;
  effective: Date; issued: Date; sensitivityLabels: SensitivityLabel[];
}

export interface DiagnosticReportRecord {
  id: string; patientId: string; organizationId: string; code: string; display: string;
  category: 'LAB' | 'ECG' | 'PATHOLOGY'; status: 'final'; effective: Date; issued: Date;
  conclusion: string | null; performerId: string; sensitivityLabels: SensitivityLabel[];
}

export interface ImagingStudyRecord {
  id: string; patientId: string; organizationId: string; studyInstanceUid: string;
  modality: string; modalityDisplay: string; bodySite: string; bodySiteDisplay: string; description: string;
  numberOfSeries: number; numberOfInstances: number; started: Date; sensitivityLabels: SensitivityLabel[];
  report: { id: string; status: 'final'; findings: string; impression: string; radiologistId: string; issued: Date } | null;
}

export interface EnrollmentRecord {
  id: string; patientId: string; programId: string; organizationId: string;
  status: 'active' | 'finished'; periodStart: string; periodEnd: string | null;
}

export interface ImmunizationRecord {
  id: string; patientId: string; organizationId: string; programId: string | null;
  vaccineCode: string; vaccineDisplay: string; doseNumber: number; lotNumber: string;
  occurrence: Date; status: 'completed';
}

export interface FollowUpTaskRecord {
  id: string; patientId: string; organizationId: string; programId: string | null;
  description: string; dueDate: string; status: 'requested' | 'completed' | 'cancelled';
  assignedRole: 'nurse' | 'clinician'; createdAt: Date;
}

export interface HomeMeasurementRecord {
  id: string; patientId: string; organizationId: string; kind: HomeMeasurementKind; code: string; display: string;
  systolic: number | null; diastolic: number | null; value: number | null; unit: string;
  effective: Date; source: 'patient' | 'app';
}

/** A FHIR CodeableConcept as the product keeps it: every coding with its system, and the text. */
export interface CodeableConceptValue {
  coding: { system: string; code: string; display: string | null }[];
  text: string | null;
}

export interface AllergyIntoleranceRecord {
  id: string; patientId: string; organizationId: string; recorderId: string;
  code: CodeableConceptValue; clinicalStatus: 'active' | 'resolved'; verificationStatus: 'confirmed' | 'unconfirmed';
  type: 'allergy' | 'intolerance'; categories: string[]; criticality: 'low' | 'high' | 'unable-to-assess';
  onsetDateTime: Date | null; onsetString: string | null; recordedDate: Date;
  reactions: { substance: CodeableConceptValue | null; manifestations: CodeableConceptValue[]; severity: 'mild' | 'moderate' | 'severe'; onset: Date | null; description: string | null }[];
  sensitivityLabels: SensitivityLabel[];
}

/** A FHIR Reference kept as sent (a location, a practitioner known by identifier). */
export interface ReferenceValue {
  reference: string | null; type: string | null; identifier: { system: string | null; value: string | null } | null; display: string | null;
}

export interface ProcedureRecord {
  id: string; patientId: string; organizationId: string; encounterId: string;
  status: 'completed' | 'stopped'; code: CodeableConceptValue;
  performedDateTime: Date | null; performedPeriod: { start: Date; end: Date } | null; performedAt: Date;
  reasonCodes: CodeableConceptValue[]; reasonConditionId: string | null; bodySites: CodeableConceptValue[]; outcome: CodeableConceptValue | null;
  performers: { function: CodeableConceptValue | null; actor: ReferenceValue }[]; location: ReferenceValue | null;
  sensitivityLabels: SensitivityLabel[];
}

export interface CareTeamRecord {
  id: string; patientId: string; organizationId: string; status: 'active' | 'inactive';
  periodStart: Date; periodEnd: Date | null;
  participants: { role: CodeableConceptValue[]; member: ReferenceValue }[]; reasonCodes: CodeableConceptValue[]; managedByProducer: boolean;
  sensitivityLabels: SensitivityLabel[];
}

export interface CarePlanRecord {
  id: string; patientId: string; organizationId: string; status: 'active' | 'completed'; intent: 'plan';
  categories: CodeableConceptValue[]; periodStart: Date; periodEnd: Date | null;
  activities: { code: CodeableConceptValue | null; status: string; location: ReferenceValue | null }[];
  addressesConditionIds: string[]; careTeamId: string | null;
  sensitivityLabels: SensitivityLabel[];
}

/** A FHIR element kept in FHIR's own shape (a Dosage). */
export type FhirJson = Record<string, unknown>;

export interface MedicationRequestRecord {
  id: string; patientId: string; organizationId: string; encounterId: string | null; reasonConditionId: string | null; requesterId: string;
  status: 'active' | 'completed'; intent: 'order'; medication: CodeableConceptValue; authoredOn: Date; dosageInstruction: FhirJson[];
  sensitivityLabels: SensitivityLabel[];
}

export interface MedicationAdministrationRecord {
  id: string; patientId: string; organizationId: string; encounterId: string; requestId: string; performerId: string;
  status: 'completed'; medication: CodeableConceptValue; effectiveDateTime: Date; dosage: FhirJson; sensitivityLabels: SensitivityLabel[];
}

export interface MedicationStatementRecord {
  id: string; patientId: string; organizationId: string; informationSourceId: string; reasonConditionId: string | null;
  status: 'active' | 'stopped'; medication: CodeableConceptValue; effectiveStart: Date; effectiveEnd: Date | null; dateAsserted: Date; dosage: FhirJson[];
  sensitivityLabels: SensitivityLabel[];
}

/** A FHIR Quantity as sent. */
export interface QuantityValue { value: number; unit: string; system: string; code: string }

/**
 * A clinical observation an institution recorded (vital signs at a clinic visit, smoking status): FHIR Observation of
 * a category other than laboratory, every coding as sent.
 */
export interface ClinicalObservationRecord {
  id: string; patientId: string; organizationId: string; status: 'final'; categoryCode: 'vital-signs' | 'social-history';
  code: CodeableConceptValue; value: { quantity: QuantityValue } | { codeableConcept: CodeableConceptValue } | null;
  components: { code: CodeableConceptValue; value: { quantity: QuantityValue } }[] | null;
  effective: Date; sensitivityLabels: SensitivityLabel[];
}

/**
 * A clinical note written at an encounter: published as a DocumentReference
 * (category clinical-note) or, as EHR exports such as Synthea send them, as a
 * DiagnosticReport whose category is its LOINC note code; its text is a
 * text/plain attachment.
 */
export interface ClinicalNoteRecord {
  id: string; patientId: string; organizationId: string; authorId: string; encounterId: string;
  resourceType: 'DocumentReference' | 'DiagnosticReport'; status: string;
  type: CodeableConceptValue; categories: CodeableConceptValue[]; date: Date; description: string | null; text: string;
  sensitivityLabels: SensitivityLabel[];
}

export interface PatientBundle {
  patient: PatientRecord;
  encounters: EncounterRecord[];
  conditions: ConditionRecord[];
  allergies: AllergyIntoleranceRecord[];
  procedures: ProcedureRecord[];
  clinicalObservations: ClinicalObservationRecord[];
  referrals: ReferralRecord[];
  observations: ObservationRecord[];
  diagnosticReports: DiagnosticReportRecord[];
  imagingStudies: ImagingStudyRecord[];
  enrollments: EnrollmentRecord[];
  immunizations: ImmunizationRecord[];
  followUpTasks: FollowUpTaskRecord[];
  homeMeasurements: HomeMeasurementRecord[];
  carePlans: CarePlanRecord[];
  careTeams: CareTeamRecord[];
  medicationRequests: MedicationRequestRecord[];
  medicationAdministrations: MedicationAdministrationRecord[];
  medicationStatements: MedicationStatementRecord[];
  clinicalNotes: ClinicalNoteRecord[];
}

const CHILD_LAB_PANELS = LAB_PANELS.filter((panel) => CHILD_LAB_PANEL_CODES.includes(panel.loinc));
const GENERAL_EXAMINATION = DIAGNOSES.find((diagnosis) => diagnosis.code === 'Z00.0')!;

const practitionerCache = new Map<number, Map<string, Practitioner[]>>();
function practitionersOf(seed: number, organizationId: string, role?: Practitioner['role']): Practitioner[] {
  let byOrg = practitionerCache.get(seed);
  if (!byOrg) {
    byOrg = new Map();
    for (const p of generatePractitioners(seed)) byOrg.set(p.organizationId, [...(byOrg.get(p.organizationId) ?? []), p]);
    practitionerCache.set(seed, byOrg);
  }
  const all = byOrg.get(organizationId) ?? [];
  return role ? all.filter((p) => p.role === role) : all;
}

const isoDate = (time: number) => new Date(time).toISOString().slice(0, 10);
const round = (value: number, decimals: number) => Number(value.toFixed(decimals));

/**
 * Generates patient number `index` (0-based) for `seed`, dated relative to
 * `anchor`. Pure: same input, same output. The anchor only moves the dates:
 * two anchors give the same patient, records and values, shifted in time.
 */
export function generatePatient(seed: number, index: number, anchor: Anchor = TEST_ANCHOR): PatientBundle {
  const anchoredAt = anchorTime(anchor);
  const r = new Random(seed, index);
  const sex = r.bool(0.51) ? 'female' : 'male';
  const ageYears = r.bool(0.12) ? r.int(0, 6) : r.int(18, 92);
  const birth = anchoredAt - ageYears * 365.25 * DAY - r.int(0, 364) * DAY;
  const name = r.personName(sex);
  const township = TOWNSHIP_CENTRES[index % TOWNSHIP_CENTRES.length]!;
  const county = township.partOf!;
  const patientId = r.uuid();

  const identifiers: PatientRecord['identifiers'] = [
    { system: SYSTEM.healthCard, value: `HC${String(seed % 100).padStart(2, '0')}${String(index).padStart(9, '0')}${r.digits(4)}`, type: 'HC', assignerOrganizationId: null },
  ];
  const registered = new Set<string>();
  const register = (organizationId: string) => {
    if (registered.has(organizationId)) return;
    registered.add(organizationId);
    identifiers.push({ system: SYSTEM.mrnPrefix + organizationId, value: `${organizationId.slice(4).replace(/-/g, '').toUpperCase().slice(0, 8)}-${String(index).padStart(7, '0')}${r.digits(2)}`, type: 'MR', assignerOrganizationId: organizationId });
  };
  register(township.id);

  const bundle: PatientBundle = {
    patient: {
      id: patientId, family: name.family, given: [name.given], birthDate: isoDate(birth), sex,
      phone: `+86 13${r.digits(9)}`, email: r.bool(0.4) ? `${name.given.toLowerCase().replace(/\s/g, '')}.${name.family.toLowerCase()}${index}@mail.example.com` : null,
      address: { line: `${r.int(1, 299)} ${r.pick(STREETS)}`, city: township.city, postalCode: `350${r.digits(3)}` },
      identifiers,
    },
    encounters: [], conditions: [], allergies: [], procedures: [], referrals: [], observations: [], diagnosticReports: [], imagingStudies: [],
    enrollments: [], immunizations: [], followUpTasks: [], homeMeasurements: [], carePlans: [], careTeams: [],
    medicationRequests: [], medicationAdministrations: [], medicationStatements: [], clinicalNotes: [],
    clinicalObservations: [],
  };

  const adult = ageYears >= 18;
  const hypertensive = adult && r.bool(ageYears > 50 ? 0.45 : 0.12);
  const diabetic = adult && r.bool(ageYears > 45 ? 0.18 : 0.04);
  const depressed = adult && r.bool(0.06);
  const hivPositive = adult && r.bool(0.01);
  const hivTested = hivPositive || (adult && r.bool(0.08));
  const historyStart = Math.max(birth, anchoredAt - 5 * 365 * DAY);
  const span = anchoredAt - historyStart;

  // Encounters, each with diagnoses and possibly a lab panel, an ECG or imaging.
  const encounterCount = adult ? r.int(2, 10) : r.int(1, 4);
  for (let n = 0; n < encounterCount; n++) {
    const roll = r.next();
    const organizationId = roll < 0.45 ? township.id : roll < 0.8 ? county : roll < 0.92 ? 'org-provincial' : depressed ? 'org-mental-health' : county;
    register(organizationId);
    const klass: EncounterRecord['class'] = organizationId === township.id ? (r.bool(0.1) ? 'VR' : 'AMB') : r.bool(0.15) ? 'IMP' : r.bool(0.1) ? 'EMER' : 'AMB';
    const start = historyStart + Math.floor(r.next() * span);
    const end = klass === 'IMP' ? start + r.int(2, 12) * DAY : start + r.int(15, 90) * 60_000;
    const practitioner = r.pick(practitionersOf(seed, organizationId, 'clinician'));
    // Diagnoses fit the age (a child's are a child's); the draws stay the same, so adults' records are unchanged.
    let diagnosis: Diagnosis = organizationId === 'org-mental-health' ? DEPRESSION : r.pick(adult ? DIAGNOSES : CHILD_DIAGNOSES);
    if (ageYears < (MIN_AGE_OF_DIAGNOSIS[diagnosis.code] ?? 0)) diagnosis = GENERAL_EXAMINATION;
    if (hypertensive && r.bool(0.4)) diagnosis = HYPERTENSION;
    else if (diabetic && r.bool(0.3)) diagnosis = DIABETES;
    else if (hivPositive && r.bool(0.3)) diagnosis = HIV_DISEASE;
    const encounter: EncounterRecord = {
      id: r.uuid(), patientId, organizationId, practitionerId: practitioner.id, class: klass,
      status: end > anchoredAt ? 'in-progress' : 'finished', periodStart: new Date(start), periodEnd: end > anchoredAt ? null : new Date(end),
      reasonCode: diagnosis.code, reasonDisplay: diagnosis.display, sensitivityLabels: [...diagnosis.labels],
    };
    bundle.encounters.push(encounter);
    bundle.conditions.push({
      id: r.uuid(), patientId, encounterId: encounter.id, organizationId, code: diagnosis.code, display: diagnosis.display,
      clinicalStatus: diagnosis.chronic ? 'active' : 'resolved', recordedDate: new Date(start + 10 * 60_000), sensitivityLabels: [...diagnosis.labels],
    });
    if (klass === 'VR') continue;

    const labCount = klass === 'IMP' ? 3 : r.bool(0.7) ? r.int(1, 2) : 0;
    for (let p = 0; p < labCount; p++) {
      const panel = diabetic && r.bool(0.4) ? LAB_PANELS[3]! : r.pick(adult ? LAB_PANELS.slice(0, 3) : CHILD_LAB_PANELS);
      const effective = start + r.int(20, 120) * 60_000 + p * DAY;
      const issued = effective + r.int(1, 6) * 3_600_000;
      const report: DiagnosticReportRecord = {
        id: r.uuid(), patientId, organizationId, code: panel.loinc, display: panel.display, category: 'LAB', status: 'final',
        effective: new Date(effective), issued: new Date(issued), conclusion: null,
        performerId: r.pick(practitionersOf(seed, organizationId, 'clinician')).id, sensitivityLabels: [],
      };
      bundle.diagnosticReports.push(report);
      for (const test of panel.tests) {
        let mean = test.mean;
        if (test.loinc === '14749-6' && diabetic) mean = 8.5;
        if (test.loinc === '4548-4' && diabetic) mean = 7.6;
        const value = round(r.normal(mean, test.sd), test.decimals);
        const interpretation = test.high !== null && value > test.high ? 'H' : test.low !== null && value < test.low ? 'L' : 'N';
        bundle.observations.push({
          id: r.uuid(), patientId, organizationId, reportId: report.id, code: test.loinc, display: test.display, category: 'laboratory',
          valueQuantity: value, valueString: null, unit: test.unit, referenceLow: test.low, referenceHigh: test.high, interpretation,
          effective: new Date(effective), issued: new Date(issued), sensitivityLabels: [],
        });
      }
    }
    if (adult && r.bool(0.2)) {
      const effective = start + r.int(10, 60) * 60_000;
      bundle.diagnosticReports.push({
        id: r.uuid(), patientId, organizationId, code: ECG_REPORT.loinc, display: ECG_REPORT.display, category: 'ECG', status: 'final',
        effective: new Date(effective), issued: new Date(effective + 1_800_000), conclusion: r.pick(ECG_CONCLUSIONS),
        performerId: practitioner.id, sensitivityLabels: [],
      });
    }
    if (adult && organizationId !== township.id && r.bool(0.05)) {
      const effective = start + r.int(1, 3) * DAY;
      bundle.diagnosticReports.push({
        id: r.uuid(), patientId, organizationId, code: PATHOLOGY_REPORT.loinc, display: PATHOLOGY_REPORT.display, category: 'PATHOLOGY', status: 'final',
        effective: new Date(effective), issued: new Date(effective + 3 * DAY), conclusion: r.pick(PATHOLOGY_CONCLUSIONS),
        performerId: practitioner.id, sensitivityLabels: [],
      });
    }
    if (organizationId !== township.id && r.bool(0.3)) {
      const kind = r.pick(IMAGING_KINDS.filter((k) => (adult || CHILD_IMAGING_MODALITIES.includes(k.modality))
        && (k.modality !== 'MG' || (sex === 'female' && ageYears >= MAMMOGRAPHY_MIN_AGE))));
      const series = r.int(kind.series[0], kind.series[1]);
      const started = start + r.int(30, 240) * 60_000;
      const finding = r.pick(IMAGING_FINDINGS[kind.modality]!);
      const radiologist = practitionersOf(seed, organizationId, 'radiologist')[0];
      bundle.imagingStudies.push({
        id: r.uuid(), patientId, organizationId, studyInstanceUid: dicomUid(r.uuid()), modality: kind.modality, modalityDisplay: kind.modalityDisplay,
        bodySite: kind.bodySite, bodySiteDisplay: kind.bodySiteDisplay, description: kind.description, numberOfSeries: series,
        numberOfInstances: series * r.int(kind.instancesPerSeries[0], kind.instancesPerSeries[1]), started: new Date(started), sensitivityLabels: [],
        report: radiologist && r.bool(0.9)
          ? { id: r.uuid(), status: 'final', findings: finding.findings, impression: finding.impression, radiologistId: radiologist.id, issued: new Date(started + r.int(2, 48) * 3_600_000) }
          : null,
      });
    }
  }
  if (hivTested) {
    const effective = historyStart + Math.floor(r.next() * span);
    const organizationId = county;
    register(organizationId);
    const report: DiagnosticReportRecord = {
      id: r.uuid(), patientId, organizationId, code: HIV_TEST.loinc, display: HIV_TEST.display, category: 'LAB', status: 'final',
      effective: new Date(effective), issued: new Date(effective + DAY), conclusion: hivPositive ? 'Reactive; confirmed by Western blot' : 'Non-reactive',
      performerId: r.pick(practitionersOf(seed, organizationId, 'clinician')).id, sensitivityLabels: ['HIV'],
    };
    bundle.diagnosticReports.push(report);
    bundle.observations.push({
      id: r.uuid(), patientId, organizationId, reportId: report.id, code: HIV_TEST.loinc, display: HIV_TEST.display, category: 'laboratory',
      valueQuantity: null, valueString: hivPositive ? 'Positive' : 'Negative', unit: null, referenceLow: null, referenceHigh: null,
      interpretation: hivPositive ? 'POS' : 'NEG', effective: new Date(effective), issued: new Date(effective + DAY), sensitivityLabels: ['HIV'],
    });
  }

  // Referrals from the township centre up to the county hospital, or county to provincial.
  const referralCount = adult ? (r.bool(0.35) ? r.int(1, 2) : 0) : 0;
  for (let n = 0; n < referralCount; n++) {
    const upward = r.bool(0.7);
    const from = upward ? township.id : county;
    const to = upward ? county : 'org-provincial';
    const authored = historyStart + Math.floor(r.next() * span);
    const status = r.pick(['requested', 'accepted', 'completed', 'completed', 'declined'] as const);
    const drawn = hypertensive ? HYPERTENSION : r.pick(DIAGNOSES);
    const reason = ageYears < (MIN_AGE_OF_DIAGNOSIS[drawn.code] ?? 0) ? GENERAL_EXAMINATION : drawn;
    bundle.referrals.push({
      id: r.uuid(), patientId, requesterOrganizationId: from, requesterPractitionerId: r.pick(practitionersOf(seed, from, 'clinician')).id,
      performerOrganizationId: to, status, reasonCode: reason.code, reasonDisplay: reason.display,
      note: `Referred for specialist assessment of ${reason.display.toLowerCase()}.`, authoredOn: new Date(authored),
      appointmentTime: status === 'accepted' || status === 'completed' ? new Date(authored + r.int(2, 14) * DAY) : null,
    });
  }

  // Programme enrolments, immunisations, follow-up tasks and home measurements.
  const enroll = (code: string, organizationId: string, since: number) => {
    const program = PROGRAMS.find((p) => p.code === code)!;
    const enrollment: EnrollmentRecord = {
      id: r.uuid(), patientId, programId: program.id, organizationId, status: 'active', periodStart: isoDate(Math.max(since, birth)), periodEnd: null,
    };
    bundle.enrollments.push(enrollment);
    return enrollment;
  };
  const nurseTask = (organizationId: string, programId: string, description: string, due: number) => {
    bundle.followUpTasks.push({
      id: r.uuid(), patientId, organizationId, programId, description, dueDate: isoDate(due),
      status: due < anchoredAt - 30 * DAY ? 'completed' : 'requested', assignedRole: 'nurse', createdAt: new Date(due - 14 * DAY),
    });
  };
  if (!adult) {
    const enrollment = enroll('EPI', township.id, birth);
    for (const dose of CHILDHOOD_SCHEDULE) {
      const dueAt = birth + dose.ageMonths * 30.44 * DAY;
      if (dueAt > anchoredAt || r.bool(0.05)) continue;
      const vaccine = VACCINES[dose.vaccine]!;
      bundle.immunizations.push({
        id: r.uuid(), patientId, organizationId: dose.ageMonths === 0 ? 'org-maternal-child' : township.id, programId: enrollment.programId,
        vaccineCode: vaccine.cvx, vaccineDisplay: vaccine.display, doseNumber: dose.dose, lotNumber: `LOT${r.digits(6)}`,
        occurrence: new Date(dueAt + r.int(0, 20) * DAY), status: 'completed',
      });
    }
  } else {
    for (let year = 0; year < 5; year++) {
      if (!r.bool(ageYears >= 60 ? 0.6 : 0.2)) continue;
      const when = anchoredAt - (year * 365 + r.int(200, 300)) * DAY;
      if (when < birth) continue;
      bundle.immunizations.push({
        id: r.uuid(), patientId, organizationId: township.id, programId: null, vaccineCode: VACCINES.flu!.cvx, vaccineDisplay: VACCINES.flu!.display,
        doseNumber: 1, lotNumber: `LOT${r.digits(6)}`, occurrence: new Date(when), status: 'completed',
      });
    }
  }
  if (hypertensive || diabetic) {
    for (const code of [hypertensive ? 'HTN' : null, diabetic ? 'DM' : null].filter(Boolean) as string[]) {
      const since = historyStart + Math.floor(r.next() * span * 0.5);
      const enrollment = enroll(code, township.id, since);
      for (let q = 1; q <= r.int(1, 3); q++) nurseTask(township.id, enrollment.programId, `Quarterly ${code === 'HTN' ? 'blood pressure' : 'glucose'} review`, anchoredAt - r.int(-60, 360) * DAY);
    }
    const readings = r.int(3, 12);
    for (let n = 0; n < readings; n++) {
      const effective = anchoredAt - r.int(1, 180) * DAY - r.int(0, 86_399) * 1000;
      const kind: HomeMeasurementKind = hypertensive && (!diabetic || r.bool(0.5)) ? 'blood-pressure' : 'glucose';
      const code = HOME_MEASUREMENT_CODES[kind];
      bundle.homeMeasurements.push({
        id: r.uuid(), patientId, organizationId: township.id, kind, code: code.loinc, display: code.display,
        systolic: kind === 'blood-pressure' ? Math.round(r.normal(138, 12)) : null,
        diastolic: kind === 'blood-pressure' ? Math.round(r.normal(86, 8)) : null,
        value: kind === 'glucose' ? round(r.normal(7.2, 1.4), 1) : null, unit: code.unit, effective: new Date(effective), source: r.bool(0.7) ? 'patient' : 'app',
      });
    }
  }
  if (ageYears >= 65) {
    const enrollment = enroll('ELD', township.id, anchoredAt - r.int(30, 900) * DAY);
    nurseTask(township.id, enrollment.programId, 'Annual elderly health check-up', anchoredAt + r.int(-300, 60) * DAY);
  }
  if (sex === 'female' && ageYears >= 22 && ageYears <= 38 && r.bool(0.15)) {
    const enrollment = enroll('MCH', 'org-maternal-child', anchoredAt - r.int(30, 250) * DAY);
    nurseTask('org-maternal-child', enrollment.programId, 'Antenatal visit', anchoredAt + r.int(-20, 40) * DAY);
  }
  if (adult) addVeryRestrictedRecords(bundle, seed, index, county, historyStart, span);
  if (adult) addRecentWorkup(bundle, seed, index, county, anchoredAt, ageYears);
  addAllergies(bundle, seed, index, birth, historyStart, span);
  addProcedures(bundle, seed, index);
  addCarePlans(bundle, seed, index, anchoredAt);
  addMedications(bundle, seed, index, anchoredAt);
  if (adult) addClinicalObservations(bundle, seed, index, historyStart, span);
  addClinicalNotes(bundle, seed, index);
  return bundle;
}

const UCUM = 'http://unitsofmeasure.org';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const loincConcept = (code: string, display: string): CodeableConceptValue => ({ coding: [{ system: SYSTEM.loinc, code, display }], text: null });
const ucumQuantity = (value: number, unit: string): QuantityValue => ({ value, unit, system: UCUM, code: unit });

/**
 * Clinic vital signs and smoking status (about half of the adults): one to
 * three visits to an organisation that registered the patient, each with a
 * blood pressure panel (85354-9, systolic 8480-6 and diastolic 8462-4
 * components), heart rate and body weight; the smoking status (SNOMED CT)
 * at the first. Drawn from a stream of their own, so every other record of
 * a patient is unchanged.
 */
function addClinicalObservations(bundle: PatientBundle, seed: number, index: number, historyStart: number, span: number): void {
  const r = new Random(seed, index + 0x3c000000);
  if (!r.bool(0.5)) return;
  const patientId = bundle.patient.id;
  const registrations = bundle.patient.identifiers.filter((i) => i.type === 'MR').map((i) => i.assignerOrganizationId!);
  const hypertensive = r.bool(0.3);
  const visits = r.int(1, 3);
  for (let v = 0; v < visits; v++) {
    const organizationId = r.pick(registrations);
    const effective = new Date(historyStart + Math.floor(r.next() * span));
    const base = { patientId, organizationId, status: 'final' as const, effective, sensitivityLabels: [] as SensitivityLabel[] };
    const systolic = hypertensive ? r.int(135, 175) : r.int(100, 134);
    const diastolic = hypertensive ? r.int(85, 105) : r.int(60, 84);
    bundle.clinicalObservations.push({
      ...base, id: r.uuid(), categoryCode: 'vital-signs', code: loincConcept('85354-9', 'Blood pressure panel with all children optional'), value: null,
      components: [
        { code: loincConcept('8480-6', 'Systolic blood pressure'), value: { quantity: ucumQuantity(systolic, 'mm[Hg]') } },
        { code: loincConcept('8462-4', 'Diastolic blood pressure'), value: { quantity: ucumQuantity(diastolic, 'mm[Hg]') } },
      ],
    });
    bundle.clinicalObservations.push({ ...base, id: r.uuid(), categoryCode: 'vital-signs', code: loincConcept('8867-4', 'Heart rate'), value: { quantity: ucumQuantity(r.int(55, 100), '/min') }, components: null });
    bundle.clinicalObservations.push({ ...base, id: r.uuid(), categoryCode: 'vital-signs', code: loincConcept('29463-7', 'Body weight'), value: { quantity: ucumQuantity(r.int(450, 950) / 10, 'kg') }, components: null });
    if (v === 0) {
      const status = r.pick([
        { code: '266919005', display: 'Never smoked tobacco' }, { code: '8517006', display: 'Ex-smoker' }, { code: '449868002', display: 'Smokes tobacco daily' },
      ]);
      bundle.clinicalObservations.push({
        ...base, id: r.uuid(), categoryCode: 'social-history', code: loincConcept('72166-2', 'Tobacco smoking status'),
        value: { codeableConcept: { coding: [{ system: SYSTEM.snomed, code: status.code, display: status.display }], text: null } }, components: null,
      });
    }
  }
}

/** The FHIR resource of a generated clinical observation, as its institution publishes it (fhir-bundles.ts), and the row labs keeps. */
export function clinicalObservationCategory(o: ClinicalObservationRecord): CodeableConceptValue {
  return { coding: [{ system: OBSERVATION_CATEGORY, code: o.categoryCode, display: o.categoryCode === 'vital-signs' ? 'Vital Signs' : 'Social History' }], text: null };
}

/** A medicine as a CodeableConcept: RxNorm and ATC, and its name as the prescriber wrote it. */
const drugConcept = (drug: Drug): CodeableConceptValue => ({
  coding: [{ system: RXNORM, code: drug.rxnorm.code, display: drug.rxnorm.display }, { system: ATC, code: drug.atc.code, display: drug.atc.display }],
  text: drug.text,
});

/** A Dosage (FHIR's shape): the instruction in words, how often, the route in SNOMED CT, the dose in UCUM. */
function dosageOf(drug: Drug, sequence: number): FhirJson {
  const route = ROUTES[drug.route];
  return {
    sequence,
    text: `${drug.dose.value} ${drug.dose.unit} ${drug.route === 'oral' ? 'by mouth' : 'intravenously'} ${drug.timesADay === 1 ? 'once' : drug.timesADay === 2 ? 'twice' : `${drug.timesADay} times`} a day`,
    timing: { repeat: { frequency: drug.timesADay, period: 1, periodUnit: 'd' } },
    route: { coding: [{ system: SYSTEM.snomed, code: route.code, display: route.display }], text: null },
    doseAndRate: [{ doseQuantity: { value: drug.dose.value, unit: drug.dose.unit, system: 'http://unitsofmeasure.org', code: drug.dose.unit } }],
  };
}

/**
 * Medications: a prescription for each chronic diagnosis (hypertension,
 * diabetes, depression) when it is first recorded, in that encounter, and
 * often a statement later that the patient takes it; on inpatient stays, a
 * ward order and the dose given. RxNorm and ATC coded, with their dosages.
 * Drawn from a stream of their own, so adding them left every other record of
 * a patient unchanged. A record takes the labels of the diagnosis it treats.
 */
function addMedications(bundle: PatientBundle, seed: number, index: number, anchoredAt: number): void {
  const r = new Random(seed, index + 0x4d454400);
  const patientId = bundle.patient.id;
  const registrations = bundle.patient.identifiers.filter((i) => i.type === 'MR').map((i) => i.assignerOrganizationId!);
  const MINUTE = 60_000;
  for (const [code, drug] of Object.entries(CHRONIC_DRUGS)) {
    const condition = bundle.conditions.filter((c) => c.code === code).sort((a, b) => a.recordedDate.getTime() - b.recordedDate.getTime())[0];
    if (!condition || !r.bool(0.85)) continue;
    const authoredOn = new Date(condition.recordedDate.getTime() + r.int(5, 30) * MINUTE);
    const dosage = [dosageOf(drug, 1)];
    bundle.medicationRequests.push({
      id: r.uuid(), patientId, organizationId: condition.organizationId, encounterId: condition.encounterId, reasonConditionId: condition.id,
      requesterId: r.pick(practitionersOf(seed, condition.organizationId, 'clinician')).id, status: 'active', intent: 'order',
      medication: drugConcept(drug), authoredOn, dosageInstruction: dosage, sensitivityLabels: [...condition.sensitivityLabels],
    });
    if (!r.bool(0.6)) continue;
    const organizationId = r.pick(registrations);
    const asserted = Math.min(anchoredAt - DAY, authoredOn.getTime() + r.int(30, 400) * DAY);
    if (asserted <= authoredOn.getTime()) continue;
    const stopped = r.bool(0.15);
    bundle.medicationStatements.push({
      id: r.uuid(), patientId, organizationId, informationSourceId: r.pick(practitionersOf(seed, organizationId, 'clinician')).id,
      // A statement recorded where the diagnosis was made names it; elsewhere the diagnosis may be out of reach.
      reasonConditionId: organizationId === condition.organizationId ? condition.id : null,
      status: stopped ? 'stopped' : 'active', medication: drugConcept(drug), effectiveStart: authoredOn,
      effectiveEnd: stopped ? new Date(asserted - r.int(1, 20) * DAY) : null, dateAsserted: new Date(asserted), dosage, sensitivityLabels: [...condition.sensitivityLabels],
    });
  }
  for (const encounter of bundle.encounters.filter((e) => e.class === 'IMP')) {
    if (!r.bool(0.7)) continue;
    const drug = r.pick(INPATIENT_DRUGS);
    const organizationId = encounter.organizationId;
    const requestId = r.uuid();
    const authoredOn = new Date(encounter.periodStart.getTime() + r.int(30, 120) * MINUTE);
    const dosage = dosageOf(drug, 1);
    bundle.medicationRequests.push({
      id: requestId, patientId, organizationId, encounterId: encounter.id, reasonConditionId: null, requesterId: encounter.practitionerId,
      status: encounter.status === 'finished' ? 'completed' : 'active', intent: 'order', medication: drugConcept(drug), authoredOn, dosageInstruction: [dosage],
      sensitivityLabels: [...encounter.sensitivityLabels],
    });
    const nurses = practitionersOf(seed, organizationId, 'nurse');
    bundle.medicationAdministrations.push({
      id: r.uuid(), patientId, organizationId, encounterId: encounter.id, requestId, performerId: r.pick(nurses.length ? nurses : practitionersOf(seed, organizationId)).id,
      status: 'completed', medication: drugConcept(drug), effectiveDateTime: new Date(authoredOn.getTime() + r.int(15, 90) * MINUTE),
      dosage: { text: `${drug.dose.value} ${drug.dose.unit}`, route: dosage.route, dose: { value: drug.dose.value, unit: drug.dose.unit, system: 'http://unitsofmeasure.org', code: drug.dose.unit } },
      sensitivityLabels: [...encounter.sensitivityLabels],
    });
  }
}

/** The note kinds the demo writes (LOINC document codes; the catalogue's NOTE_REPORT_CODES). */
const NOTE_KINDS = [
  { code: '34117-2', display: 'History and physical note' },
  { code: '11506-3', display: 'Progress note' },
  { code: '51847-2', display: 'Evaluation + Plan note' },
  { code: '11488-4', display: 'Consult note' },
] as const;

/**
 * Clinical notes (about two patients in five): the clinician's note of one or
 * two of the patient's visits, written half an hour after the visit began,
 * under the visit's sensitivity labels (a psychiatric visit's note is PSY; V
 * visits get none). Published as DocumentReferences, a third as
 * DiagnosticReports (the Synthea way). Drawn from a stream of their own, so
 * adding them left every other record of a patient unchanged.
 */
function addClinicalNotes(bundle: PatientBundle, seed: number, index: number): void {
  const r = new Random(seed, index + 0x7a000000);
  if (!r.bool(0.4)) return;
  const visits = bundle.encounters.filter((e) => !e.sensitivityLabels.includes('V') && e.status === 'finished');
  if (!visits.length) return;
  const chosen = new Set<EncounterRecord>();
  for (let n = r.int(1, 2); n > 0; n--) chosen.add(r.pick(visits));
  for (const visit of chosen) {
    const kind = r.pick(NOTE_KINDS);
    const asReport = r.bool(0.33);
    const type = { coding: [{ system: SYSTEM.loinc, code: kind.code, display: kind.display }], text: null };
    const plan = r.pick(['Review in two weeks.', 'Continue current treatment; review in one month.', 'Refer for specialist opinion.', 'Repeat laboratory tests before next visit.']);
    bundle.clinicalNotes.push({
      id: r.uuid(), patientId: bundle.patient.id, organizationId: visit.organizationId, authorId: visit.practitionerId, encounterId: visit.id,
      resourceType: asReport ? 'DiagnosticReport' : 'DocumentReference', status: asReport ? 'final' : 'current',
      type,
      // As published: clinical-note (US Core), or a DiagnosticReport's LOINC note code.
      categories: asReport ? [type] : [{ coding: [{ system: SYSTEM.documentReferenceCategory, code: 'clinical-note', display: 'Clinical Note' }], text: null }],
      date: new Date(visit.periodStart.getTime() + 30 * 60_000), description: asReport ? null : `${kind.display}: ${visit.reasonDisplay}`,
      text: `${kind.display}\nReason for visit: ${visit.reasonDisplay} (ICD-10 ${visit.reasonCode}).\nAssessment: ${r.pick(['stable', 'improving', 'symptoms persist', 'new findings'])}.\nPlan: ${plan}`,
      sensitivityLabels: [...visit.sensitivityLabels],
    });
  }
}

/**
 * Care plans for a chronic disease (about half of the patients diagnosed
 * with hypertension or type 2 diabetes): the plan (SNOMED CT category,
 * activities, the diagnosis it addresses) and the care team that carries it
 * out (the diagnosing clinician from the registry, a nurse known only by the
 * organisation's staff identifier, the organisation itself), recorded by
 * the organisation that made the diagnosis. Drawn from a stream of their
 * own, so adding them left every other record of a patient unchanged.
 */
function addCarePlans(bundle: PatientBundle, seed: number, index: number, anchoredAt: number): void {
  const r = new Random(seed, index + 0x38000000);
  const chronic = bundle.conditions.filter((c) => !c.sensitivityLabels.length && CARE_PLAN_KINDS.some((k) => k.diagnosis === c.code));
  if (!chronic.length || !r.bool(0.5)) return;
  const diagnosis = chronic[0]!;
  const kind = CARE_PLAN_KINDS.find((k) => k.diagnosis === diagnosis.code)!;
  const encounter = bundle.encounters.find((e) => e.id === diagnosis.encounterId);
  const org = diagnosis.organizationId;
  const snomed = (c: { code: string; display: string }): CodeableConceptValue => ({ coding: [{ system: SYSTEM.snomed, code: c.code, display: c.display }], text: null });
  const start = diagnosis.recordedDate.getTime() + r.int(1, 14) * DAY;
  const finished = r.bool(0.2) && start + 180 * DAY < anchoredAt;
  const end = finished ? new Date(start + r.int(90, 180) * DAY) : null;
  const team: CareTeamRecord = {
    id: r.uuid(), patientId: bundle.patient.id, organizationId: org, status: finished ? 'inactive' : 'active',
    periodStart: new Date(start), periodEnd: end,
    participants: [
      ...(encounter ? [{ role: [snomed(CARE_TEAM_ROLES.physician)], member: { reference: `Practitioner/${encounter.practitionerId}`, type: null, identifier: null, display: null } }] : []),
      { role: [snomed(CARE_TEAM_ROLES.nurse)], member: { reference: null, type: 'Practitioner', identifier: { system: `https://${org}.example.org/sid/staff`, value: `N${r.digits(5)}` }, display: `Nurse ${r.personName('female').family}` } },
      { role: [snomed(CARE_TEAM_ROLES.professional)], member: { reference: `Organization/${org}`, type: null, identifier: null, display: null } },
    ],
    reasonCodes: [snomed(kind.reason)], managedByProducer: true, sensitivityLabels: [],
  };
  bundle.careTeams.push(team);
  bundle.carePlans.push({
    id: r.uuid(), patientId: bundle.patient.id, organizationId: org, status: finished ? 'completed' : 'active', intent: 'plan',
    categories: [snomed(kind.category)], periodStart: new Date(start), periodEnd: end,
    activities: kind.activities.map((activity) => ({
      code: snomed(activity), status: finished ? 'completed' : r.pick(['scheduled', 'in-progress']),
      location: r.bool(0.5) ? { reference: null, type: 'Location', identifier: { system: `https://${org}.example.org/sid/location`, value: 'CLINIC-1' }, display: 'Chronic disease clinic' } : null,
    })),
    addressesConditionIds: [diagnosis.id], careTeamId: team.id, sensitivityLabels: [],
  });
}

/**
 * Procedures (about a quarter of adults): performed during one of the
 * patient's unlabelled encounters by its organisation, coded in SNOMED CT
 * with ICD-10-PCS and CPT beside it (or in a clinic's local code system
 * only), for a reason (ICD-10, and the encounter's diagnosis where it has
 * one), with the surgeon from the registry, now and then an anaesthetist
 * known only by the hospital's staff identifier, and the room as a logical
 * Location reference. Drawn from a stream of their own, so adding them left
 * every other record of a patient unchanged.
 */
function addProcedures(bundle: PatientBundle, seed: number, index: number): void {
  const r = new Random(seed, index + 0x30000000);
  const candidates = bundle.encounters.filter((e) => !e.sensitivityLabels.length && e.class !== 'VR' && e.periodEnd);
  if (!candidates.length || !r.bool(0.25)) return;
  const snomed = (c: { code: string; display: string }): CodeableConceptValue => ({ coding: [{ system: SYSTEM.snomed, code: c.code, display: c.display }], text: null });
  for (let n = r.int(1, 2); n > 0; n--) {
    const encounter = r.pick(candidates);
    const kind = r.pick(PROCEDURE_KINDS);
    const org = encounter.organizationId;
    const start = encounter.periodStart.getTime() + r.int(5, 30) * 60_000;
    const long = kind.minutes > 30;
    const diagnosis = bundle.conditions.find((c) => c.encounterId === encounter.id && !c.sensitivityLabels.length);
    const room = r.int(1, 6);
    const performers: ProcedureRecord['performers'] = [{
      function: snomed(SURGEON), actor: { reference: `Practitioner/${encounter.practitionerId}`, type: null, identifier: null, display: null },
    }];
    if (long && r.bool(0.5)) {
      performers.push({
        function: snomed(ANAESTHETIST),
        actor: { reference: null, type: 'Practitioner', identifier: { system: `https://${org}.example.org/sid/staff`, value: `S${r.digits(5)}` }, display: `Dr ${r.personName(r.bool(0.5) ? 'female' : 'male').family}` },
      });
    }
    bundle.procedures.push({
      id: r.uuid(), patientId: bundle.patient.id, organizationId: org, encounterId: encounter.id,
      status: r.bool(0.95) ? 'completed' : 'stopped',
      code: {
        coding: [
          ...(kind.snomed ? [{ system: SYSTEM.snomed, code: kind.snomed.code, display: kind.snomed.display }] : []),
          ...(kind.pcs ? [{ system: ICD10_PCS, code: kind.pcs.code, display: kind.pcs.display }] : []),
          ...(kind.cpt ? [{ system: CPT, code: kind.cpt.code, display: kind.cpt.display }] : []),
          ...(kind.local ? [{ system: LOCAL_PROCEDURES, code: kind.local.code, display: kind.local.display }] : []),
        ],
        text: kind.text,
      },
      performedDateTime: long ? null : new Date(start),
      performedPeriod: long ? { start: new Date(start), end: new Date(start + kind.minutes * 60_000) } : null,
      performedAt: new Date(start),
      reasonCodes: [{ coding: [{ system: SYSTEM.icd10, code: kind.reason.code, display: kind.reason.display }], text: null }],
      reasonConditionId: diagnosis && r.bool(0.5) ? diagnosis.id : null,
      bodySites: kind.bodySite ? [snomed(kind.bodySite)] : [],
      outcome: r.bool(0.7) ? snomed(r.bool(0.95) ? PROCEDURE_OUTCOMES[0]! : PROCEDURE_OUTCOMES[1]!) : null,
      performers,
      location: long ? { reference: null, type: 'Location', identifier: { system: `https://${org}.example.org/sid/location`, value: `OR-${room}` }, display: `Operating room ${room}` } : null,
      sensitivityLabels: [],
    });
  }
}

/**
 * Allergies and intolerances (about a third of patients): medication, food
 * and environmental substances in SNOMED CT (medications also in RxNorm),
 * now and then one written as free text, with their reactions. Drawn from a
 * stream of their own, so adding them left every other record of a patient
 * unchanged. Recorded by a clinician of an organisation that registered the
 * patient (the township centre, or the county hospital).
 */
function addAllergies(bundle: PatientBundle, seed: number, index: number, birth: number, historyStart: number, span: number): void {
  const r = new Random(seed, index + 0x20000000);
  if (!r.bool(0.33)) return;
  const patientId = bundle.patient.id;
  const registrations = bundle.patient.identifiers.filter((i) => i.type === 'MR').map((i) => i.assignerOrganizationId!);
  const concept = (code: { code: string; display: string }): CodeableConceptValue => ({ coding: [{ system: SYSTEM.snomed, code: code.code, display: code.display }], text: null });
  const chosen = new Set<number>();
  for (let n = r.int(1, 2); n > 0; n--) {
    const which = r.int(0, ALLERGENS.length - 1);
    if (chosen.has(which)) continue;
    chosen.add(which);
    const allergen = ALLERGENS[which]!;
    const organizationId = r.pick(registrations);
    const recorded = historyStart + Math.floor(r.next() * span);
    const reactions = Array.from({ length: r.int(1, 2) }, () => r.pick(REACTIONS));
    const severest = reactions.some((x) => x.severity === 'severe') ? 'severe' : reactions.some((x) => x.severity === 'moderate') ? 'moderate' : 'mild';
    const onsetKnown = r.bool(0.6);
    const onset = Math.max(birth, recorded - r.int(0, 10 * 365) * DAY);
    bundle.allergies.push({
      id: r.uuid(), patientId, organizationId, recorderId: r.pick(practitionersOf(seed, organizationId, 'clinician')).id,
      code: {
        coding: [
          ...(allergen.snomed ? [{ system: SYSTEM.snomed, code: allergen.snomed.code, display: allergen.snomed.display }] : []),
          ...(allergen.rxnorm ? [{ system: RXNORM, code: allergen.rxnorm.code, display: allergen.rxnorm.display }] : []),
        ],
        text: allergen.text,
      },
      clinicalStatus: r.bool(0.9) ? 'active' : 'resolved', verificationStatus: r.bool(0.8) ? 'confirmed' : 'unconfirmed',
      type: allergen.type, categories: [allergen.category], criticality: severest === 'severe' ? 'high' : r.bool(0.1) ? 'unable-to-assess' : 'low',
      onsetDateTime: onsetKnown ? new Date(onset) : null, onsetString: onsetKnown ? null : r.pick(['In childhood', 'Several years ago', 'Since adolescence']),
      recordedDate: new Date(recorded),
      reactions: reactions.map((reaction) => ({
        substance: allergen.snomed ? concept(allergen.snomed) : null, manifestations: [concept(reaction)], severity: reaction.severity,
        onset: onsetKnown ? new Date(onset) : null, description: `${allergen.text}: ${reaction.display.replace(/ \((disorder|finding)\)$/, '').toLowerCase()}`,
      })),
      sensitivityLabels: [],
    });
  }
}

/**
 * Very restricted (V) records, which break-glass never opens: a
 * sexual-assault examination in a county hospital's emergency department,
 * and a genetic test at the provincial hospital. Drawn from a stream of
 * their own, so adding them left every other record of a patient unchanged.
 */
function addVeryRestrictedRecords(bundle: PatientBundle, seed: number, index: number, county: string, historyStart: number, span: number): void {
  const r = new Random(seed, index + 0x40000000);
  const patientId = bundle.patient.id;
  const registered = (organizationId: string) => bundle.patient.identifiers.some((i) => i.assignerOrganizationId === organizationId);
  if (r.bool(0.04) && registered(county)) {
    const start = historyStart + Math.floor(r.next() * span);
    const encounter: EncounterRecord = {
      id: r.uuid(), patientId, organizationId: county, practitionerId: r.pick(practitionersOf(seed, county, 'clinician')).id, class: 'EMER',
      status: 'finished', periodStart: new Date(start), periodEnd: new Date(start + r.int(60, 240) * 60_000),
      reasonCode: ASSAULT_EXAMINATION.code, reasonDisplay: ASSAULT_EXAMINATION.display, sensitivityLabels: [...ASSAULT_EXAMINATION.labels],
    };
    bundle.encounters.push(encounter);
    bundle.conditions.push({
      id: r.uuid(), patientId, encounterId: encounter.id, organizationId: county, code: ASSAULT_EXAMINATION.code, display: ASSAULT_EXAMINATION.display,
      clinicalStatus: 'resolved', recordedDate: new Date(start + 10 * 60_000), sensitivityLabels: [...ASSAULT_EXAMINATION.labels],
    });
  }
  if (r.bool(0.05) && registered('org-provincial')) {
    const effective = historyStart + Math.floor(r.next() * span);
    const positive = r.bool(0.2);
    const report: DiagnosticReportRecord = {
      id: r.uuid(), patientId, organizationId: 'org-provincial', code: GENETIC_REPORT.loinc, display: GENETIC_REPORT.display, category: 'LAB', status: 'final',
      effective: new Date(effective), issued: new Date(effective + 14 * DAY),
      conclusion: positive ? 'Pathogenic variant detected; genetic counselling recommended' : 'No pathogenic variant detected',
      performerId: r.pick(practitionersOf(seed, 'org-provincial', 'clinician')).id, sensitivityLabels: [...GENETIC_REPORT.labels],
    };
    bundle.diagnosticReports.push(report);
    bundle.observations.push({
      id: r.uuid(), patientId, organizationId: 'org-provincial', reportId: report.id, code: GENETIC_RESULT.loinc, display: GENETIC_RESULT.display, category: 'laboratory',
      valueQuantity: null, valueString: positive ? 'Positive' : 'Negative', unit: null, referenceLow: null, referenceHigh: null,
      interpretation: positive ? 'POS' : 'NEG', effective: new Date(effective), issued: new Date(effective + 14 * DAY), sensitivityLabels: [...GENETIC_REPORT.labels],
    });
  }
}

/**
 * A recent work-up at the county hospital (about one adult in ten): an
 * outpatient visit for a chest complaint in the last two months, with a
 * blood count and a chest CT, the kind of recent history the README's
 * examples (a haemoglobin within 90 days, a chest CT within 180) show and a
 * clinician recognises. Drawn from a stream of its own, so adding it left
 * every other record of a patient unchanged.
 */
function addRecentWorkup(bundle: PatientBundle, seed: number, index: number, county: string, anchoredAt: number, ageYears: number): void {
  const r = new Random(seed, index + 0x60000000);
  if (!r.bool(0.1)) return;
  const patientId = bundle.patient.id;
  if (!bundle.patient.identifiers.some((i) => i.assignerOrganizationId === county)) {
    bundle.patient.identifiers.push({ system: SYSTEM.mrnPrefix + county, value: `${county.slice(4).replace(/-/g, '').toUpperCase().slice(0, 8)}-${String(index).padStart(7, '0')}${r.digits(2)}`, type: 'MR', assignerOrganizationId: county });
  }
  const start = anchoredAt - r.int(3, 60) * DAY - r.int(8 * 3600, 16 * 3600) * 1000;
  const practitioner = r.pick(practitionersOf(seed, county, 'clinician'));
  const diagnosis = r.pick(DIAGNOSES.filter((d) => ['J18.9', 'J06.9'].includes(d.code) || (d.code === 'I25.1' && ageYears >= 40)));
  const encounter: EncounterRecord = {
    id: r.uuid(), patientId, organizationId: county, practitionerId: practitioner.id, class: 'AMB', status: 'finished',
    periodStart: new Date(start), periodEnd: new Date(start + r.int(20, 60) * 60_000), reasonCode: diagnosis.code, reasonDisplay: diagnosis.display, sensitivityLabels: [],
  };
  bundle.encounters.push(encounter);
  bundle.conditions.push({
    id: r.uuid(), patientId, encounterId: encounter.id, organizationId: county, code: diagnosis.code, display: diagnosis.display,
    clinicalStatus: diagnosis.chronic ? 'active' : 'resolved', recordedDate: new Date(start + 10 * 60_000), sensitivityLabels: [],
  });
  const panel = LAB_PANELS[0]!;
  const effective = start + r.int(20, 60) * 60_000;
  const issued = effective + r.int(1, 4) * 3_600_000;
  const report: DiagnosticReportRecord = {
    id: r.uuid(), patientId, organizationId: county, code: panel.loinc, display: panel.display, category: 'LAB', status: 'final',
    effective: new Date(effective), issued: new Date(issued), conclusion: null, performerId: practitioner.id, sensitivityLabels: [],
  };
  bundle.diagnosticReports.push(report);
  for (const test of panel.tests) {
    const value = round(r.normal(test.mean, test.sd), test.decimals);
    bundle.observations.push({
      id: r.uuid(), patientId, organizationId: county, reportId: report.id, code: test.loinc, display: test.display, category: 'laboratory',
      valueQuantity: value, valueString: null, unit: test.unit, referenceLow: test.low, referenceHigh: test.high,
      interpretation: test.high !== null && value > test.high ? 'H' : test.low !== null && value < test.low ? 'L' : 'N',
      effective: new Date(effective), issued: new Date(issued), sensitivityLabels: [],
    });
  }
  const kind = IMAGING_KINDS.find((k) => k.modality === 'CT' && k.bodySite === '51185008')!;
  const series = r.int(kind.series[0], kind.series[1]);
  const started = start + r.int(30, 120) * 60_000;
  const finding = r.pick(IMAGING_FINDINGS.CT!);
  const radiologist = practitionersOf(seed, county, 'radiologist')[0];
  bundle.imagingStudies.push({
    id: r.uuid(), patientId, organizationId: county, studyInstanceUid: dicomUid(r.uuid()), modality: kind.modality, modalityDisplay: kind.modalityDisplay,
    bodySite: kind.bodySite, bodySiteDisplay: kind.bodySiteDisplay, description: kind.description, numberOfSeries: series,
    numberOfInstances: series * r.int(kind.instancesPerSeries[0], kind.instancesPerSeries[1]), started: new Date(started), sensitivityLabels: [],
    report: radiologist ? { id: r.uuid(), status: 'final', findings: finding.findings, impression: finding.impression, radiologistId: radiologist.id, issued: new Date(started + r.int(2, 24) * 3_600_000) } : null,
  });
}

/** A DICOM UID derived from a UUID (the `2.25.` root, DICOM PS3.5 B.2). */
export function dicomUid(uuid: string): string {
  return '2.25.' + BigInt('0x' + uuid.replace(/-/g, '')).toString(10);
}

/** Generates patients [from, to), dated relative to `anchor`. */
export function* generatePatients(seed: number, from: number, to: number, anchor: Anchor = TEST_ANCHOR): Generator<PatientBundle> {
  for (let index = from; index < to; index++) yield generatePatient(seed, index, anchor);
}

export { ORGANIZATIONS, PROGRAMS, generatePractitioners };
