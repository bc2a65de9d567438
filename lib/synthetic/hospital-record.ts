/**
 * A hospital's whole record of one patient, as one FHIR transaction of
 * realistic size (issue 27): years of visits, each with its encounter, its
 * diagnosis, a laboratory panel and its report, now and then a CT or MR
 * study with the radiologist's report, a clinical note every third visit
 * (DocumentReference or, as Synthea sends them, DiagnosticReport), a yearly influenza dose, the
 * visit's vital signs (a blood pressure panel and the heart rate; these,
 * the laboratory results and the lab report name the visit's Encounter), the
 * patient's allergies and medications (prescriptions with a Medication entry,
 * a contained one or a coded concept, doses given on the ward, a statement), and the Patient as an EHR export sends it (title,
 * home phone, address with province and country, extensions). A few years
 * of history is 1–5 MB: the size an integrator migrating a hospital sends.
 *
 * Every element is one the product keeps (docs/records.md), so each
 * transaction must be accepted whole and come back element by element from
 * `$everything` (test/records-population.e2e.test.ts), and the publishing
 * benchmark sends these (`npm run bench:ingest -- --history`).
 *
 * Separate from generator.ts on purpose: the demo's generator pins many
 * tests, this one is only for publishing at size. Deterministic per
 * (seed, index); the Study Instance UIDs and identifiers are unique per
 * (seed, index, `run`).
 */
import { IMAGING_FINDINGS, IMAGING_KINDS, LAB_PANELS, VACCINES, ALLERGENS, REACTIONS, DIAGNOSES } from './codes.js';
import { CARE_PLAN_KINDS, CARE_TEAM_ROLES, CPT, ICD10_PCS, PROCEDURE_KINDS, SURGEON } from './codes.js';
import { ATC, CHRONIC_DRUGS, INPATIENT_DRUGS, ROUTES, RXNORM, type Drug } from './codes.js';
import { Random } from './random.js';
import { generatePractitioners } from './registry.js';
import { SYSTEM } from '../records/terminology.js';

type Json = Record<string, any>;

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const V2_0074 = 'http://terminology.hl7.org/CodeSystem/v2-0074';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const UCUM = 'http://unitsofmeasure.org';
/** A stream of its own in Random (the demo generator's streams are patient indexes). */
const STREAM = 7_000_000;
/** The medications' stream (added after the rest: every other element of a record is drawn as before). */
const MEDICATION_STREAM = 7_500_000;
const NOTES_STREAM = 9_000_000;
const DAY = 86_400_000;

export interface HospitalRecordOptions {
  /** The publishing organisation (its MRN system, its practitioners). */
  organizationId: string;
  /** The registry's seed (practitioner ids). */
  registrySeed: number;
  /** Stop adding visits once the Bundle's JSON reaches this many bytes. */
  targetBytes: number;
  /** Makes UIDs and identifiers unique across runs against the same databases. */
  run?: string;
  /** The newest visit's date (default 2026-06-01). */
  until?: Date;
}

export interface HospitalRecord {
  bundle: Json;
  /** The Bundle's entries. */
  resources: number;
  /** Its JSON size in bytes (as sent). */
  bytes: number;
  healthCard: string;
}

export function hospitalRecord(seed: number, index: number, options: HospitalRecordOptions): HospitalRecord {
  const r = new Random(seed, STREAM + index);
  /** The vital signs' own stream. */
  const vitals = new Random(seed, STREAM + 500_000 + index);
  const org = options.organizationId;
  const run = options.run ?? 'r0';
  const tag = `${seed}-${index}-${run}`;
  const pick = <T>(list: readonly T[]): T => list[r.int(0, list.length - 1)]!;
  const practitioners = generatePractitioners(options.registrySeed).filter((p) => p.organizationId === org).map((p) => p.id);
  if (!practitioners.length) throw new Error(`No practitioners of ${org} in the registry of seed ${options.registrySeed}`);
  const entries: Json[] = [];
  let bytes = 0;
  let serial = 0;
  const add = (resource: Json): string => {
    const fullUrl = `urn:uuid:${uuidOf(tag, serial++)}`;
    // A Medication has no business identifier of its own here: it is kept with the records that reference it.
    const identified = resource.resourceType === 'Medication' ? resource
      : { ...resource, identifier: resource.identifier ?? [{ system: `https://${org}.example.org/sid/${resource.resourceType.toLowerCase()}`, value: `${tag}-${serial}` }] };
    const entry = { fullUrl, resource: identified, request: { method: 'POST', url: resource.resourceType } };
    entries.push(entry);
    bytes += JSON.stringify(entry).length + 1;
    return fullUrl;
  };

  const healthCard = `HC-H-${tag}`;
  const female = r.bool(0.5);
  const patient = add({
    resourceType: 'Patient',
    extension: [
      { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: { city: pick(['Fuzhou', 'Minqing', 'Yongtai']), state: 'Fujian', country: 'CN' } },
      { url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: pick(['Chen', 'Lin', 'Huang', 'Zheng']) },
    ],
    identifier: [{ system: SYSTEM.healthCard, value: healthCard }, { system: SYSTEM.mrnPrefix + org, value: `H-${tag}` }],
    name: [{ use: 'official', family: pick(['Wang', 'Li', 'Zhang', 'Liu', 'Chen']), given: [pick(female ? ['Fang', 'Min', 'Jing'] : ['Wei', 'Qiang', 'Lei'])], prefix: [female ? 'Ms.' : 'Mr.'] }],
    telecom: [{ system: 'phone', value: `+86 591 ${r.int(1000, 9999)} ${r.int(1000, 9999)}`, use: 'home' }, { system: 'phone', value: `+86 138 ${r.int(1000, 9999)} ${r.int(1000, 9999)}`, use: 'mobile' }],
    gender: female ? 'female' : 'male', birthDate: `19${r.int(40, 89)}-0${r.int(1, 9)}-1${r.int(0, 9)}`,
    address: [{ use: 'home', line: [`${r.int(1, 300)} Renmin Road`], city: 'Fuzhou', district: 'Gulou', state: 'Fujian', postalCode: '350001', country: 'CN' }],
  });
  const subject = { reference: patient };

  for (let a = 0; a < r.int(1, 2); a++) {
    const allergen = pick(ALLERGENS.filter((x) => x.snomed));
    const reaction = pick(REACTIONS);
    add({
      resourceType: 'AllergyIntolerance',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }] },
      type: allergen.type, category: [allergen.category], criticality: 'low',
      code: { coding: [{ system: SYSTEM.snomed, code: allergen.snomed!.code, display: allergen.snomed!.display }], text: allergen.text }, patient: subject,
      recordedDate: '2019-03-04T02:00:00Z', recorder: { reference: `Practitioner/${pick(practitioners)}` },
      reaction: [{ manifestation: [{ coding: [{ system: SYSTEM.snomed, code: reaction.code, display: reaction.display }] }], severity: reaction.severity }],
    });
  }

  // The chronic-disease care plan and the team that carries it out.
  const plan = pick(CARE_PLAN_KINDS);
  const snomed = (c: { code: string; display: string }) => ({ coding: [{ system: SYSTEM.snomed, code: c.code, display: c.display }] });
  const team = add({
    resourceType: 'CareTeam', status: 'active', subject, period: { start: '2020-01-06T01:00:00Z' },
    participant: [
      { role: [snomed(CARE_TEAM_ROLES.physician)], member: { reference: `Practitioner/${pick(practitioners)}` } },
      { role: [snomed(CARE_TEAM_ROLES.nurse)], member: { type: 'Practitioner', identifier: { system: `https://${org}.example.org/sid/staff`, value: `N${r.int(10000, 99999)}` }, display: 'Nurse Lin' } },
    ],
    reasonCode: [snomed(plan.reason)], managingOrganization: [{ reference: `Organization/${org}` }],
  });
  const planEntry = entries.length;
  add({
    resourceType: 'CarePlan', status: 'active', intent: 'plan', category: [snomed(plan.category)], subject, period: { start: '2020-01-06T01:00:00Z' },
    careTeam: [{ reference: team }],
    activity: plan.activities.map((a) => ({ detail: { code: snomed(a), status: 'in-progress', location: { identifier: { system: `https://${org}.example.org/sid/location`, value: 'CLINIC-1' }, display: 'Chronic disease clinic' } } })),
  });

  // Medications from a stream of their own (the other records of a record drawn before them are unchanged).
  const rm = new Random(seed, MEDICATION_STREAM + index);
  const drugs = [...Object.values(CHRONIC_DRUGS), ...INPATIENT_DRUGS];
  const drugConcept = (drug: Drug) => ({
    coding: [{ system: RXNORM, code: drug.rxnorm.code, display: drug.rxnorm.display }, { system: ATC, code: drug.atc.code, display: drug.atc.display }], text: drug.text,
  });
  const dosageOf = (drug: Drug) => ({
    sequence: 1, text: `${drug.dose.value} ${drug.dose.unit} ${drug.timesADay} times a day`,
    timing: { repeat: { frequency: drug.timesADay, period: 1, periodUnit: 'd' } },
    route: { coding: [{ system: SYSTEM.snomed, code: ROUTES[drug.route].code, display: ROUTES[drug.route].display }] },
    doseAndRate: [{ doseQuantity: { value: drug.dose.value, unit: drug.dose.unit, system: UCUM, code: drug.dose.unit } }],
  });
  {
    const drug = drugs[rm.int(0, drugs.length - 1)]!;
    add({
      resourceType: 'MedicationStatement', status: 'active', medicationCodeableConcept: drugConcept(drug), subject,
      effectivePeriod: { start: '2018-04-01T00:00:00Z' }, dateAsserted: '2019-03-04T02:00:00Z', informationSource: { reference: `Practitioner/${pick(practitioners)}` },
      dosage: [dosageOf(drug)],
    });
  }

  // Visits, newest last, every 3–10 days back from `until`, until the Bundle is large enough.
  // The notes draw from a stream of their own: adding them left every other resource of a record unchanged.
  const notes = new Random(seed, NOTES_STREAM + index);
  const until = (options.until ?? new Date('2026-06-01T00:00:00Z')).getTime();
  const diagnosis = pick(DIAGNOSES.filter((d) => !d.labels.length));
  let firstCondition: string | undefined;
  let visit = 0;
  for (let t = until; bytes < options.targetBytes; t -= r.int(3, 10) * DAY, visit++) {
    const start = new Date(t + r.int(7, 16) * 3_600_000);
    const at = (minutes: number) => new Date(start.getTime() + minutes * 60_000).toISOString();
    const inpatient = r.bool(0.05);
    const encounter = add({
      resourceType: 'Encounter', status: 'finished', class: inpatient ? { system: ACT_CODE, code: 'IMP', display: 'inpatient encounter' } : { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
      subject, participant: [{ individual: { reference: `Practitioner/${pick(practitioners)}` } }],
      period: { start: at(0), end: inpatient ? new Date(start.getTime() + r.int(2, 9) * DAY).toISOString() : at(r.int(15, 50)) },
      reasonCode: [{ coding: [{ system: SYSTEM.icd10, code: diagnosis.code, display: diagnosis.display }] }],
      serviceProvider: { reference: `Organization/${org}` },
    });
    const condition = add({
      resourceType: 'Condition', clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
      code: { coding: [{ system: SYSTEM.icd10, code: diagnosis.code, display: diagnosis.display }] }, subject, encounter: { reference: encounter }, recordedDate: at(10),
    });
    firstCondition ??= condition;
    // The visit's vital signs, from a stream of their own (the other records of a hospital record are unchanged).
    const bp = vitals.int(0, 1) ? [vitals.int(105, 165), vitals.int(65, 100)] : [vitals.int(110, 139), vitals.int(70, 89)];
    const vitalSigns = [{ system: SYSTEM.observationCategory, code: 'vital-signs', display: 'Vital Signs' }];
    add({
      resourceType: 'Observation', status: 'final', category: [{ coding: vitalSigns }],
      code: { coding: [{ system: SYSTEM.loinc, code: '85354-9', display: 'Blood pressure panel with all children optional' }], text: 'Blood pressure' }, subject, encounter: { reference: encounter },
      effectiveDateTime: at(5), performer: [{ reference: `Organization/${org}` }],
      bodySite: { coding: [{ system: SYSTEM.snomed, code: '368209003', display: 'Right arm' }] },
      component: [
        { code: { coding: [{ system: SYSTEM.loinc, code: '8480-6', display: 'Systolic blood pressure' }] }, valueQuantity: { value: bp[0], unit: 'mm[Hg]', system: UCUM, code: 'mm[Hg]' } },
        { code: { coding: [{ system: SYSTEM.loinc, code: '8462-4', display: 'Diastolic blood pressure' }] }, valueQuantity: { value: bp[1], unit: 'mm[Hg]', system: UCUM, code: 'mm[Hg]' } },
      ],
    });
    add({
      resourceType: 'Observation', status: 'final', category: [{ coding: vitalSigns }],
      code: { coding: [{ system: SYSTEM.loinc, code: '8867-4', display: 'Heart rate' }] }, subject, encounter: { reference: encounter }, effectiveDateTime: at(5),
      valueQuantity: { value: vitals.int(55, 100), unit: '/min', system: UCUM, code: '/min' },
    });
    const panel = pick(LAB_PANELS);
    const results = panel.tests.map((test) => {
      const value = Number(r.normal(test.mean, test.sd).toFixed(test.decimals));
      const flag = test.low !== null && value < test.low ? 'L' : test.high !== null && value > test.high ? 'H' : 'N';
      return add({
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: SYSTEM.observationCategory, code: 'laboratory' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: test.loinc, display: test.display }] }, subject, encounter: { reference: encounter },
        effectiveDateTime: at(20), issued: at(140), performer: [{ reference: `Organization/${org}` }],
        valueQuantity: { value, unit: test.unit, system: UCUM, code: test.unit },
        interpretation: [{ coding: [{ system: INTERPRETATION, code: flag }] }],
        ...(test.low !== null || test.high !== null ? { referenceRange: [{
          ...(test.low !== null ? { low: { value: test.low, unit: test.unit, system: UCUM, code: test.unit } } : {}),
          ...(test.high !== null ? { high: { value: test.high, unit: test.unit, system: UCUM, code: test.unit } } : {}),
        }] } : {}),
      });
    });
    add({
      resourceType: 'DiagnosticReport', status: 'final', category: [{ coding: [{ system: V2_0074, code: 'LAB' }] }],
      code: { coding: [{ system: SYSTEM.loinc, code: panel.loinc, display: panel.display }] }, subject, encounter: { reference: encounter },
      effectiveDateTime: at(20), issued: at(140), performer: [{ reference: `Practitioner/${pick(practitioners)}` }, { reference: `Organization/${org}` }],
      result: results.map((reference) => ({ reference })),
    });
    if (visit % 9 === 4) {
      const kind = pick(IMAGING_KINDS);
      const finding = pick(IMAGING_FINDINGS[kind.modality] ?? IMAGING_FINDINGS.CT!);
      const uid = `1.2.826.0.1.3680043.8.498.${seed}.${index}.${visit}.${run.replace(/\D/g, '') || '0'}`;
      const instances = r.int(kind.instancesPerSeries[0], kind.instancesPerSeries[1]);
      const study = add({
        resourceType: 'ImagingStudy', identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${uid}` }], status: 'available',
        modality: [{ system: SYSTEM.dicom, code: kind.modality, display: kind.modalityDisplay }], subject, started: at(60),
        numberOfSeries: 1, numberOfInstances: instances, description: kind.description,
        series: [{ uid: `${uid}.1`, number: 1, modality: { system: SYSTEM.dicom, code: kind.modality }, bodySite: { system: SYSTEM.snomed, code: kind.bodySite, display: kind.bodySiteDisplay }, numberOfInstances: instances }],
      });
      add({
        resourceType: 'DiagnosticReport', status: 'final', category: [{ coding: [{ system: V2_0074, code: 'RAD' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '18748-4', display: 'Diagnostic imaging study' }] }, subject,
        effectiveDateTime: at(60), issued: at(240), performer: [{ reference: `Organization/${org}` }],
        resultsInterpreter: [{ reference: `Practitioner/${pick(practitioners)}` }], imagingStudy: [{ reference: study }],
        conclusion: finding.impression, presentedForm: [{ contentType: 'text/plain', title: 'Findings', data: Buffer.from(finding.findings, 'utf8').toString('base64') }],
      });
    }
    if (visit % 12 === 5) {
      // A procedure during the visit: SNOMED CT with ICD-10-PCS and CPT beside it, the surgeon, the room as a logical reference.
      const kind = pick(PROCEDURE_KINDS.filter((k) => k.snomed));
      add({
        resourceType: 'Procedure', status: 'completed',
        code: { coding: [
          { system: SYSTEM.snomed, code: kind.snomed!.code, display: kind.snomed!.display },
          ...(kind.pcs ? [{ system: ICD10_PCS, code: kind.pcs.code, display: kind.pcs.display }] : []),
          ...(kind.cpt ? [{ system: CPT, code: kind.cpt.code, display: kind.cpt.display }] : []),
        ], text: kind.text },
        subject, encounter: { reference: encounter }, performedPeriod: { start: at(15), end: at(15 + kind.minutes) },
        performer: [{ function: { coding: [{ system: SYSTEM.snomed, code: SURGEON.code, display: SURGEON.display }] }, actor: { reference: `Practitioner/${pick(practitioners)}` } }],
        location: { identifier: { system: `https://${org}.example.org/sid/location`, value: 'OR-1' }, display: 'Operating room 1' },
        reasonCode: [{ coding: [{ system: SYSTEM.icd10, code: kind.reason.code, display: kind.reason.display }] }],
        ...(kind.bodySite ? { bodySite: [{ coding: [{ system: SYSTEM.snomed, code: kind.bodySite.code, display: kind.bodySite.display }] }] } : {}),
      });
    }
    if (rm.bool(0.3)) {
      // A prescription: as a concept, or (one in four) a Medication entry of the Bundle, or (one in four) a contained one.
      const drug = drugs[rm.int(0, drugs.length - 1)]!;
      const how = rm.int(0, 3);
      const medication = { code: drugConcept(drug), form: { coding: [{ system: SYSTEM.snomed, code: '385055001', display: 'Tablet (basic dose form)' }] } };
      const prescription = add({
        resourceType: 'MedicationRequest', status: 'completed', intent: 'order', subject, encounter: { reference: encounter }, authoredOn: at(25),
        ...(how === 0 ? { medicationReference: { reference: add({ resourceType: 'Medication', ...medication }) } }
          : how === 1 ? { contained: [{ resourceType: 'Medication', id: 'med', ...medication }], medicationReference: { reference: '#med' } }
            : { medicationCodeableConcept: drugConcept(drug) }),
        requester: { reference: `Practitioner/${pick(practitioners)}` }, reasonReference: [{ reference: condition }], dosageInstruction: [dosageOf(drug)],
      });
      if (inpatient) {
        add({
          resourceType: 'MedicationAdministration', status: 'completed', medicationCodeableConcept: drugConcept(drug), subject, context: { reference: encounter },
          effectiveDateTime: at(90), performer: [{ actor: { reference: `Practitioner/${pick(practitioners)}` } }], request: { reference: prescription },
          dosage: { route: dosageOf(drug).route, dose: { value: drug.dose.value, unit: drug.dose.unit, system: UCUM, code: drug.dose.unit } },
        });
      }
    }
    if (visit % 3 === 1) {
      // The clinician's note of the visit: every third one, alternately a DocumentReference (clinical-note) and, the Synthea way, a DiagnosticReport with its LOINC note category.
      const note = { system: SYSTEM.loinc, code: visit % 2 ? '34117-2' : '11506-3', display: visit % 2 ? 'History and physical note' : 'Progress note' };
      const words = `${note.display}\nReason for visit: ${diagnosis.display} (ICD-10 ${diagnosis.code}).\nAssessment: stable.\nPlan: review in ${notes.int(1, 6)} weeks.`;
      const attachment = { contentType: 'text/plain; charset=utf-8', data: Buffer.from(words, 'utf8').toString('base64') };
      add(visit % 2 ? {
        resourceType: 'DocumentReference', status: 'current', type: { coding: [note] },
        category: [{ coding: [{ system: SYSTEM.documentReferenceCategory, code: 'clinical-note', display: 'Clinical Note' }] }], subject, date: at(30),
        author: [{ reference: `Practitioner/${notes.pick(practitioners)}` }], custodian: { reference: `Organization/${org}` }, content: [{ attachment }],
      } : {
        resourceType: 'DiagnosticReport', status: 'final', category: [{ coding: [note] }], code: { coding: [note] }, subject, effectiveDateTime: at(30), issued: at(45),
        performer: [{ reference: `Practitioner/${notes.pick(practitioners)}` }, { reference: `Organization/${org}` }], presentedForm: [attachment],
      });
    }
    if (visit % 40 === 7) {
      add({
        resourceType: 'Immunization', status: 'completed', vaccineCode: { coding: [{ system: SYSTEM.cvx, code: VACCINES.flu!.cvx, display: VACCINES.flu!.display }] },
        patient: subject, occurrenceDateTime: at(30), primarySource: true, lotNumber: `FLU-${r.int(1000, 9999)}`,
        performer: [{ actor: { reference: `Organization/${org}` } }], protocolApplied: [{ doseNumberPositiveInt: 1 }],
      });
    }
  }
  // The plan addresses the diagnosis of the first visit: a Condition of this Bundle, another service's entry.
  if (firstCondition) entries[planEntry].resource.addresses = [{ reference: firstCondition }];
  const bundle = { resourceType: 'Bundle', type: 'transaction', entry: entries };
  return { bundle, resources: entries.length, bytes: JSON.stringify(bundle).length, healthCard };
}

/** A UUID (version 4 layout) derived from a tag and a serial: the same Bundle each time for the same inputs. */
export function uuidOf(tag: string, serial: number): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (const c of `${tag}:${serial}`) {
    h1 = Math.imul(h1 ^ c.charCodeAt(0), 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c.charCodeAt(0), 0x5bd1e995) >>> 0;
  }
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const s = hex(h1) + hex(h2) + hex(serial >>> 0) + hex((h1 ^ h2 ^ 0x9e3779b9) >>> 0);
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-8${s.slice(17, 20)}-${s.slice(20, 32)}`;
}
