/**
 * Issue 27, "nothing comes out changed": what an institution publishes comes
 * back from `$everything` element by element (test/support/round-trip.ts),
 * for every published resource type, through the gateway over HTTP on every
 * backend; and an element the product would not keep is refused whole, the
 * OperationOutcome naming it, never accepted and dropped.
 *
 * Two sources of resources: one hand-written transaction carrying every
 * element each type keeps (the Patient's prefix, state, country, extensions,
 * a home phone, a death date; an imaging series with its body site), and the
 * synthetic patients' institution bundles (lib/synthetic/fhir-bundles.ts),
 * the shapes the demo and the benchmark publish.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { institutionBundles } from '../lib/synthetic/fhir-bundles.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender, type FhirBundle } from './support/publish.js';
import { lostElements } from './support/round-trip.js';

type Json = Record<string, any>;
const ORG = 'org-county-north';
const OTHER = 'org-provincial';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const V2_0074 = 'http://terminology.hl7.org/CodeSystem/v2-0074';

const entry = (fullUrl: string, resource: Json) => ({ fullUrl, resource, request: { method: 'POST', url: resource.resourceType } });

/** A transaction with every element each published type keeps (the Patient's as an EHR export sends them). */
function everyElement(card: string, mrn: string): Json {
  const patient = 'urn:uuid:6a0c3c0e-0000-4000-8000-000000000001';
  const encounter = 'urn:uuid:6a0c3c0e-0000-4000-8000-000000000002';
  const observation = 'urn:uuid:6a0c3c0e-0000-4000-8000-000000000003';
  const study = 'urn:uuid:6a0c3c0e-0000-4000-8000-000000000004';
  const subject = { reference: patient };
  const uid = `1.2.826.0.1.3680043.8.498.${Date.now()}`;
  return {
    resourceType: 'Bundle', type: 'transaction', entry: [
      entry(patient, {
        resourceType: 'Patient',
        meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'] },
        extension: [
          { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' },
          { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: { city: 'Durban', state: 'KwaZulu-Natal', country: 'ZA' } },
          { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race', extension: [{ url: 'text', valueString: 'Other' }] },
        ],
        identifier: [{ system: SYSTEM.healthCard, value: card }, { system: SYSTEM.mrnPrefix + ORG, value: mrn }],
        name: [
          { use: 'official', family: 'Mkhize', given: ['Thandiwe', 'Nomsa'], prefix: ['Mrs.'], suffix: ['PhD'] },
          { use: 'maiden', family: 'Dlamini', given: ['Thandiwe'] },
        ],
        telecom: [{ system: 'phone', value: '+27 31 555 0101', use: 'home' }, { system: 'email', value: 'thandiwe@example.org', use: 'work' }],
        gender: 'female', birthDate: '1948-02-17', deceasedDateTime: '2026-01-03T04:05:06+02:00',
        address: [{
          use: 'home', type: 'both', line: ['12 Florida Road', 'Flat 3'], city: 'Durban', district: 'eThekwini', state: 'KwaZulu-Natal', postalCode: '4001', country: 'ZA',
          extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/geolocation', extension: [{ url: 'latitude', valueDecimal: -29.8419 }, { url: 'longitude', valueDecimal: 31.0229 }] }],
        }],
        maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'W', display: 'Widowed' }], text: 'Widowed' },
        multipleBirthInteger: 2,
        communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'zu', display: 'Zulu' }], text: 'isiZulu' }, preferred: true }, { language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en' }] } }],
      }),
      entry(encounter, {
        resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' }, subject,
        type: [{ coding: [{ system: SYSTEM.snomed, code: '185349003', display: 'Encounter for check up (procedure)' }], text: 'Check up' }],
        participant: [{ individual: { reference: 'Practitioner/prac-county-north-1' }, period: { start: '2025-12-01T09:00:00+02:00', end: '2025-12-01T09:40:00+02:00' } }],
        period: { start: '2025-12-01T09:00:00+02:00', end: '2025-12-01T09:40:00+02:00' },
        reasonCode: [{ coding: [{ system: SYSTEM.icd10, code: 'I10', display: 'Essential (primary) hypertension' }, { system: SYSTEM.snomed, code: '38341003', display: 'Hypertensive disorder' }], text: 'Hypertension review' }],
        serviceProvider: { reference: `Organization/${ORG}` },
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-000000000005', {
        resourceType: 'Condition', clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
        code: { coding: [{ system: SYSTEM.icd10, code: 'I10', display: 'Essential (primary) hypertension' }] }, subject,
        encounter: { reference: encounter }, recordedDate: '2025-12-01T09:30:00+02:00',
      }),
      entry(observation, {
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }] }, subject, encounter: { reference: encounter },
        effectiveDateTime: '2025-12-01T09:10:00+02:00', issued: '2025-12-01T11:00:00+02:00', performer: [{ reference: `Organization/${ORG}` }],
        valueQuantity: { value: 11.2, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
        interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'L' }] }],
        referenceRange: [{ low: { value: 12, unit: 'g/dL' }, high: { value: 16, unit: 'g/dL' } }],
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-00000000000b', {
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '882-1', display: 'ABO and Rh group [Type] in Blood' }] }, subject,
        effectiveDateTime: '2025-12-01T09:10:00+02:00', issued: '2025-12-01T11:00:00+02:00',
        valueCodeableConcept: { coding: [{ system: SYSTEM.snomed, code: '278149003', display: 'Blood group A Rh(D) positive' }, { system: 'https://lab.county-north.example.org/codes', code: 'A+' }], text: 'A positive' },
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-000000000006', {
        resourceType: 'DiagnosticReport', status: 'final', category: [{ coding: [{ system: V2_0074, code: 'LAB' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '58410-2', display: 'CBC panel - Blood by Automated count' }] }, subject, encounter: { reference: encounter },
        effectiveDateTime: '2025-12-01T09:10:00+02:00', issued: '2025-12-01T11:00:00+02:00', performer: [{ reference: `Organization/${ORG}` }],
        result: [{ reference: observation }], conclusion: 'Mild anaemia.',
      }),
      entry(study, {
        resourceType: 'ImagingStudy', identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${uid}` }], status: 'available',
        modality: [{ system: SYSTEM.dicom, code: 'CT', display: 'Computed Tomography' }], subject, started: '2025-12-01T10:00:00+02:00',
        numberOfSeries: 1, numberOfInstances: 120, description: 'CT chest without contrast', encounter: { reference: encounter },
        procedureCode: [{ coding: [{ system: SYSTEM.snomed, code: '169069000', display: 'Computed tomography of chest' }] }],
        location: { reference: 'Location?identifier=https://county-north.example.org/location|radiology', display: 'Radiology' },
        series: [{
          uid: `${uid}.1`, number: 1, modality: { system: SYSTEM.dicom, code: 'CT' }, bodySite: { system: SYSTEM.snomed, code: '51185008', display: 'Thoracic structure' }, description: 'Axial 1 mm', numberOfInstances: 120,
          started: '2025-12-01T10:01:00+02:00',
          instance: [
            { uid: `${uid}.1.1`, sopClass: { system: 'urn:ietf:rfc:3986', code: 'urn:oid:1.2.840.10008.5.1.4.1.1.2' }, number: 1, title: 'Axial 1' },
            { uid: `${uid}.1.2`, sopClass: { system: 'urn:ietf:rfc:3986', code: 'urn:oid:1.2.840.10008.5.1.4.1.1.2' }, number: 2 },
          ],
        }],
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-000000000007', {
        resourceType: 'DiagnosticReport', status: 'final', category: [{ coding: [{ system: V2_0074, code: 'RAD' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '18748-4', display: 'Diagnostic imaging study' }] }, subject,
        effectiveDateTime: '2025-12-01T10:00:00+02:00', issued: '2025-12-01T12:00:00+02:00', performer: [{ reference: `Organization/${ORG}` }],
        imagingStudy: [{ reference: study }], conclusion: 'No acute abnormality.',
        presentedForm: [{ contentType: 'text/plain', title: 'Findings', data: Buffer.from('Lungs clear.', 'utf8').toString('base64') }],
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-000000000008', {
        resourceType: 'Immunization', status: 'completed', vaccineCode: { coding: [{ system: SYSTEM.cvx, code: '140', display: 'Influenza, seasonal, injectable, preservative free' }] },
        patient: subject, encounter: { reference: encounter }, location: { display: 'Vaccination room 2' }, occurrenceDateTime: '2025-12-01T09:35:00+02:00', primarySource: true, lotNumber: 'FLU-2025-77',
        performer: [{ actor: { reference: `Organization/${ORG}` } }], protocolApplied: [{ doseNumberPositiveInt: 1 }],
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-000000000009', {
        resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject, authoredOn: '2025-12-01T09:38:00+02:00',
        requester: { reference: `Organization/${ORG}` }, performer: [{ reference: `Organization/${OTHER}` }],
        reasonCode: [{ coding: [{ system: SYSTEM.icd10, code: 'I10', display: 'Essential (primary) hypertension' }] }], note: [{ text: 'Please review the antihypertensive regimen.' }],
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-00000000000a', {
        resourceType: 'AllergyIntolerance',
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
        verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }] },
        type: 'allergy', category: ['medication'], criticality: 'high',
        code: { coding: [{ system: SYSTEM.snomed, code: '764146007', display: 'Penicillin (substance)' }], text: 'Penicillin' }, patient: subject,
        onsetDateTime: '1990-05-01T00:00:00Z', recordedDate: '2025-12-01T09:20:00+02:00', recorder: { identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '9999913473' }, display: 'Dr. Li Na' },
        asserter: { reference: 'RelatedPerson/rp-1', display: 'Her mother' },
        reaction: [{ manifestation: [{ coding: [{ system: SYSTEM.snomed, code: '271807003', display: 'Eruption of skin' }] }], severity: 'moderate' }],
      }),
      // Issue 27: clinical observations (a blood pressure panel with components, a coded social history), a Condition
      // coded only in SNOMED CT, an Encounter naming its practitioner by identifier and its Location: all as sent.
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-00000000000c', {
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '85354-9', display: 'Blood pressure panel with all children optional' }], text: 'Blood pressure' }, subject, encounter: { reference: encounter },
        effectiveDateTime: '2025-12-01T09:05:00+02:00', performer: [{ reference: `Organization/${ORG}` }, { identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }, display: 'Nurse Zanele Khumalo' }],
        bodySite: { coding: [{ system: SYSTEM.snomed, code: '368209003', display: 'Right arm' }] },
        interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }] }],
        component: [
          { code: { coding: [{ system: SYSTEM.loinc, code: '8480-6', display: 'Systolic blood pressure' }] }, valueQuantity: { value: 151, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
          { code: { coding: [{ system: SYSTEM.loinc, code: '8462-4', display: 'Diastolic blood pressure' }] }, valueQuantity: { value: 94, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        ],
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-00000000000d', {
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'social-history', display: 'Social History' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '72166-2', display: 'Tobacco smoking status' }] }, subject, effectiveDateTime: '2025-12-01T09:06:00+02:00',
        valueCodeableConcept: { coding: [{ system: SYSTEM.snomed, code: '8517006', display: 'Ex-smoker' }], text: 'Stopped in 2010' },
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-00000000000e', {
        resourceType: 'Condition', clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        code: { coding: [{ system: SYSTEM.snomed, code: '38341003', display: 'Hypertensive disorder' }], text: 'Hypertension' }, subject, recordedDate: '2025-12-01T09:31:00+02:00',
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-00000000000f', {
        resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' }, subject,
        participant: [{ type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] }], individual: { identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '9999963692' }, display: 'Dr. Sipho Ndlovu' } }],
        location: [{ location: { identifier: { system: `https://${ORG}.example.org/locations`, value: 'OPD-2' }, display: 'Outpatient clinic 2' } }],
        period: { start: '2025-12-08T09:00:00+02:00', end: '2025-12-08T09:20:00+02:00' },
        serviceProvider: { reference: `Organization/${ORG}` },
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-000000000271', {
        resourceType: 'Procedure', status: 'completed',
        code: { coding: [{ system: SYSTEM.snomed, code: '73761001', display: 'Colonoscopy (procedure)' }, { system: 'http://www.ama-assn.org/go/cpt', code: '45378' }], text: 'Colonoscopy' },
        subject, encounter: { reference: encounter }, performedPeriod: { start: '2025-12-01T09:05:00+02:00', end: '2025-12-01T09:35:00+02:00' },
        performer: [{ function: { text: 'Endoscopist' }, actor: { reference: 'Practitioner/prac-county-north-1' } }, { actor: { type: 'Practitioner', identifier: { system: 'https://north.example.org/staff', value: 'S1' }, display: 'Dr Lin' } }],
        location: { identifier: { system: 'https://north.example.org/location', value: 'ENDO-1' }, display: 'Endoscopy suite' },
        reasonCode: [{ text: 'Screening' }], reasonReference: [{ reference: 'urn:uuid:6a0c3c0e-0000-4000-8000-000000000005', display: 'Essential hypertension' }],
        bodySite: [{ coding: [{ system: SYSTEM.snomed, code: '71854001', display: 'Colon structure' }] }], outcome: { text: 'No polyps' },
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-000000000272', {
        resourceType: 'CareTeam', status: 'active', subject, encounter: { reference: encounter }, period: { start: '2025-12-02T08:00:00+02:00' },
        participant: [{ role: [{ coding: [{ system: SYSTEM.snomed, code: '224535009', display: 'Registered nurse' }] }], member: { reference: 'Practitioner/prac-county-north-1' } }],
        reasonCode: [{ coding: [{ system: SYSTEM.snomed, code: '38341003' }] }], managingOrganization: [{ reference: `Organization/${ORG}` }],
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-000000000273', {
        resourceType: 'CarePlan', status: 'active', intent: 'plan', subject, encounter: { reference: encounter }, period: { start: '2025-12-02T08:00:00+02:00', end: '2026-06-02T08:00:00+02:00' },
        category: [{ coding: [{ system: SYSTEM.snomed, code: '443402002' }], text: 'Hypertension education' }],
        careTeam: [{ reference: 'urn:uuid:6a0c3c0e-0000-4000-8000-000000000272' }], addresses: [{ reference: 'urn:uuid:6a0c3c0e-0000-4000-8000-000000000005' }],
        activity: [{ detail: { code: { text: 'Home blood pressure twice a week' }, status: 'in-progress', location: { display: 'Home' } } }],
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-0000000000d1', {
        resourceType: 'DocumentReference', status: 'current', docStatus: 'final',
        type: { coding: [{ system: SYSTEM.loinc, code: '11506-3', display: 'Progress note' }], text: 'Progress note' },
        category: [{ coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', code: 'clinical-note', display: 'Clinical Note' }] }],
        subject, date: '2025-12-01T09:50:00+02:00', author: [{ reference: 'Practitioner/prac-county-north-1' }], custodian: { reference: `Organization/${ORG}` },
        description: 'Hypertension follow-up',
        content: [
          { attachment: { contentType: 'text/plain; charset=utf-8', language: 'en', data: Buffer.from('BP 150/95. Increase amlodipine.', 'utf8').toString('base64'), title: 'Progress note', creation: '2025-12-01T09:45:00+02:00' },
            format: { system: 'http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem', code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient', display: 'mimeType Sufficient' } },
          { attachment: { contentType: 'application/pdf', url: 'https://docs.example.org/notes/77.pdf', size: 120000, hash: '2jmj7l5rSw0yVb/vlWAYkK/YBwk=', title: 'Scanned letter' } },
        ],
        context: { period: { start: '2025-12-01T09:30:00+02:00', end: '2025-12-01T10:00:00+02:00' }, encounter: [{ reference: encounter }] },
      }),
      entry('urn:uuid:6a0c3c0e-0000-4000-8000-0000000000d2', {
        // A clinical note as Synthea sends it: a DiagnosticReport whose category and code are LOINC note codes.
        resourceType: 'DiagnosticReport', status: 'final',
        category: [{ coding: [{ system: SYSTEM.loinc, code: '34117-2', display: 'History and physical note' }, { system: SYSTEM.loinc, code: '51847-2', display: 'Evaluation + Plan note' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '34117-2', display: 'History and physical note' }, { system: SYSTEM.loinc, code: '51847-2', display: 'Evaluation + Plan note' }] },
        subject, encounter: { reference: encounter }, effectiveDateTime: '2025-12-01T09:40:00+02:00', issued: '2025-12-01T09:55:00+02:00',
        performer: [{ reference: 'Practitioner/prac-county-north-1' }, { reference: `Organization/${ORG}` }],
        presentedForm: [{ contentType: 'text/plain; charset=utf-8', data: Buffer.from('Hypertension, poorly controlled.', 'utf8').toString('base64') }],
      }),
    ],
  };
}

describe.each(BACKENDS)('What is published comes back unchanged on %s', (backend) => {
  let stack: TestStack;
  let base = '';
  const send = fhirSender(() => base);
  const system = (org: string) => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope: 'system/*.cru' });
  const everything = async (patientId: string): Promise<FhirBundle> => {
    const token = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const response = await fetch(`${base}/fhir/Patient/${patientId}/$everything`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    expect(response.status).toBe(200);
    return response.json() as Promise<FhirBundle>;
  };

  /** Publishes a transaction as `org`; each fullUrl → the location the response gave it. */
  const publish = async (org: string, bundle: Json): Promise<Map<string, string>> => {
    const answer = await send('/fhir', await system(org), bundle);
    expect(answer.status, answer.text.slice(0, 2000)).toBe(200);
    return new Map(bundle.entry.map((e: Json, n: number) => [e.fullUrl as string, answer.body.entry[n].response.location as string]));
  };

  /** Every sent resource (but those `skip` leaves out) against its exported self: the elements lost, by resource. */
  const losses = (bundle: Json, locations: Map<string, string>, exported: FhirBundle, skip: (resource: Json) => boolean = () => false) => {
    const byLocation = new Map(exported.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
    const lost: string[] = [];
    for (const item of bundle.entry as Json[]) {
      if (skip(item.resource)) continue;
      const location = locations.get(item.fullUrl)!;
      const back = byLocation.get(location);
      if (!back) lost.push(`${location}: not in $everything`);
      else lost.push(...lostElements(item.resource, back, (ref) => locations.get(ref)).map((path) => `${location} ${path}`));
    }
    return lost;
  };

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 2 });
    base = stack.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => stack?.close());

  it('compares element by element (the comparison itself finds a changed, a missing and a moved element)', () => {
    const sent = { telecom: [{ system: 'phone', value: '1', use: 'home' }], address: [{ country: 'ZA' }], subject: { reference: 'urn:uuid:a' } };
    expect(lostElements(sent, { telecom: [{ system: 'phone', value: '1', use: 'mobile' }], address: [{ country: 'ZA' }], subject: { reference: 'Patient/1' } }, () => 'Patient/1'))
      .toEqual(['telecom[0].use (sent "home", got "mobile")']);
    expect(lostElements(sent, { telecom: [{ system: 'phone', value: '1', use: 'home' }], address: [{}], subject: { reference: 'Patient/2' } }, () => 'Patient/1')).toHaveLength(2);
    expect(lostElements({ at: '2026-01-03T04:05:06+02:00' }, { at: '2026-01-03T02:05:06.000Z' }, () => undefined)).toEqual([]);
  });

  it('gives back every element of every published type as sent: the Patient\'s prefix, state, country, extensions, home phone and death; a coded result; the series\' body site', async () => {
    const bundle = everyElement(`HC-RT-${backend}`, `MRN-RT-${backend}`);
    const locations = await publish(ORG, bundle);
    const patientId = locations.get(bundle.entry[0].fullUrl)!.split('/')[1]!;
    const exported = await everything(patientId);
    expect(losses(bundle, locations, exported)).toEqual([]);
    // Every published type took part.
    expect(new Set(bundle.entry.map((e: Json) => e.resource.resourceType))).toEqual(new Set(['Patient', 'Encounter', 'Condition', 'Observation', 'DiagnosticReport', 'ImagingStudy', 'Immunization', 'ServiceRequest', 'AllergyIntolerance',
      'Procedure', 'CareTeam', 'CarePlan', 'DocumentReference']));
  });

  it('gives back the synthetic patients\' institution bundles element by element, whichever institution sent them', async () => {
    for (const index of [7, 11]) {
      const bundles = institutionBundles(generatePatient(DEFAULT_SEED, 200 + index));
      const sent: { bundle: Json; locations: Map<string, string> }[] = [];
      for (const { organizationId, bundle } of bundles) sent.push({ bundle, locations: await publish(organizationId, bundle) });
      const patientId = sent[0]!.locations.get(sent[0]!.bundle.entry[0].fullUrl)!.split('/')[1]!;
      const exported = await everything(patientId);
      // The Patient exported is the patient's record: the first registration's demographics (the others are each organisation's own).
      const lost = sent.flatMap(({ bundle, locations }, n) => losses(bundle, locations, exported, (r) => n > 0 && r.resourceType === 'Patient'));
      expect(lost).toEqual([]);
    }
  });

  it('refuses an element it would not keep, naming it, and writes nothing of the transaction', async () => {
    const bundle = everyElement(`HC-RF-${backend}`, `MRN-RF-${backend}`);
    bundle.entry[0].resource.contact = [{ name: { family: 'Mkhize' } }];
    bundle.entry[0].resource.address[0].period = { start: '2020-01-01' };
    bundle.entry[1].resource.priority = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActPriority', code: 'R' }] };
    bundle.entry[3].resource.specimen = { reference: 'Specimen/6a0c3c0e-0000-4000-8000-000000000002' };
    bundle.entry[6].resource.series.push({ ...bundle.entry[6].resource.series[0], uid: `${bundle.entry[6].resource.series[0].uid}9` });
    const answer = await send('/fhir', await system(ORG), bundle);
    expect(answer.status).toBe(422);
    expect(answer.body.resourceType).toBe('OperationOutcome');
    const named = answer.body.issue.flatMap((i: Json) => i.expression ?? []);
    expect(named).toEqual(expect.arrayContaining([
      'Bundle.entry[0].resource.contact', 'Bundle.entry[0].resource.address[0].period', 'Bundle.entry[1].resource.priority',
      'Bundle.entry[3].resource.specimen', 'Bundle.entry[6].resource.series[1]',
    ]));
    // Nothing of it was written: the same transaction without those elements creates every record (a patient or
    // record left behind would come back matched, 200, not created).
    const clean = everyElement(`HC-RF-${backend}`, `MRN-RF-${backend}`);
    const accepted = await send('/fhir', await system(ORG), clean);
    expect(accepted.status, accepted.text.slice(0, 2000)).toBe(200);
    expect(accepted.body.entry.map((e: Json) => e.response.status)).toEqual(clean.entry.map(() => '201 Created'));
  });
});
