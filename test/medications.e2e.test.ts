/**
 * Medications (MedicationRequest with its Medication, MedicationAdministration,
 * MedicationStatement), added by following docs/adding-a-record-type.md, end
 * to end through the gateway over HTTP on every backend: published as a
 * hospital sends them (a transaction with a Medication entry, a contained
 * Medication, RxNorm, NDC, ATC, SNOMED CT and local codes), read through
 * GraphQL, filtered by consent at record and field level (the prescribing
 * organisation, a permit for medications and not for another category, the
 * encounter and the diagnosis they name under their own categories,
 * sensitivity labels), on the timeline (their three kinds), in `$everything`
 * (valid FHIR R4, every element sent given back), in FHIR search, and
 * refused, named, where they cannot be kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type GraphQLResponse, type TestStack } from './support/harness.js';
import { recordTypeCalls } from './support/record-consent.js';
import { newFullUrl as urn, withoutLastUpdated } from './support/publish.js';
import { generatedPatients } from './support/generated.js';

type Json = Record<string, any>;
const SNOMED = SYSTEM.snomed;
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const NDC = 'http://hl7.org/fhir/sid/ndc';
const ATC = 'http://www.whocc.no/atc';
const LOCAL = 'https://org-county-north.example.org/formulary';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const ICD10 = SYSTEM.icd10;
const UCUM = 'http://unitsofmeasure.org';
const REQUEST_CATEGORY = 'http://terminology.hl7.org/CodeSystem/medicationrequest-category';
const ADMIN_CATEGORY = 'http://terminology.hl7.org/CodeSystem/medication-admin-category';
const STATEMENT_CATEGORY = 'http://terminology.hl7.org/CodeSystem/medication-statement-category';
const ORG = 'org-county-north';
const STRANGERS = ['org-county-south', 'org-provincial', 'org-thc-baisha', 'org-thc-gaiyang'];
const PRESCRIBER = 'Practitioner/prac-county-north-1';

const CC = '{ coding { system code display } text }';
const MEDICATIONS = `query Medications($id: ID!) { patient(id: $id) { id
  medicationRequests(first: 100) { edges { node { id status intent authoredOn medication ${CC} medicationReference { id contained code ${CC} form ${CC}
    ingredient { itemCodeableConcept ${CC} isActive strength { numerator { value unit system code } denominator { value unit } } } batch { lotNumber expirationDate } }
    requester { id } encounter { id } reasonCode ${CC} reasonReference { id } category ${CC} priority
    dosageInstruction { sequence text timing { repeat { frequency period periodUnit boundsPeriod { start end } } code ${CC} } route ${CC} asNeededBoolean
      doseAndRate { doseQuantity { value unit system code } } }
    organization { id } sensitivityLabels } } }
  medicationAdministrations(first: 100) { edges { node { id status effectiveDateTime effectivePeriod { start end } medication ${CC} request { id } encounter { id }
    performer { actor { id } } dosage { text route ${CC} dose { value unit } } } } }
  medicationStatements(first: 100) { edges { node { id status effectiveDateTime effectivePeriod { start end } dateAsserted medication ${CC} informationSource { id }
    dosage { text } } } } } }`;
const TIMELINE = `query Timeline($id: ID!, $kinds: [TimelineKind!]) { patient(id: $id) { timeline(first: 100, kinds: $kinds) { edges { kind occurredAt node {
  __typename ... on MedicationRequest { id status } ... on MedicationAdministration { id status } ... on MedicationStatement { id status } } } } } }`;

const requestIds = (r: GraphQLResponse<any>) => (r.data?.patient?.medicationRequests?.edges ?? []).map((e: Json) => e.node.id).sort();
const allIds = (r: GraphQLResponse<any>) => ['medicationRequests', 'medicationAdministrations', 'medicationStatements']
  .flatMap((c) => (r.data?.patient?.[c]?.edges ?? []).map((e: Json) => e.node.id)).sort();
/** The demo patients the stack is seeded with: one has a prescription, a dose given and a statement. */
const PATIENTS = 16;
const generated = generatedPatients(PATIENTS);
const demo = generated.find((b) => b.medicationRequests.length > 0 && b.medicationAdministrations.length > 0 && b.medicationStatements.length > 0);

/** A hospital's medication record of one stay: every element the product keeps, codes of every kind. */
function hospitalRecord(org: string) {
  const url = { patient: urn(), encounter: urn(), condition: urn(), medication: urn(), request: urn(), contained: urn(), administration: urn(), statement: urn() };
  const subject = { reference: url.patient };
  const identifier = (kind: string) => [{ system: `https://${org}.example.org/${kind}`, value: `${kind}-${crypto.randomUUID()}` }];
  const resources = {
    patient: {
      resourceType: 'Patient', name: [{ family: 'Lin', given: ['Hua'] }], gender: 'female', birthDate: '1961-07-08',
      identifier: [{ system: SYSTEM.healthCard, value: `HC-${crypto.randomUUID()}` }, { system: SYSTEM.mrnPrefix + org, value: `MR-${crypto.randomUUID()}` }],
    },
    encounter: { resourceType: 'Encounter', status: 'finished', class: { system: ACT, code: 'IMP' }, subject, period: { start: '2026-02-01T09:00:00.000Z', end: '2026-02-04T11:00:00.000Z' } },
    condition: {
      resourceType: 'Condition', subject, encounter: { reference: url.encounter }, code: { coding: [{ system: ICD10, code: 'J18.9', display: 'Pneumonia, unspecified organism' }] },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, recordedDate: '2026-02-01T09:30:00.000Z',
    },
    medication: {
      resourceType: 'Medication',
      code: {
        coding: [
          { system: RXNORM, code: '308191', display: 'amoxicillin 500 MG Oral Capsule' },
          { system: NDC, code: '0093-3109-01', display: 'Amoxicillin 500mg capsule' },
          { system: LOCAL, code: 'AMOX500' },
        ],
        text: 'Amoxicillin 500 mg capsule',
      },
      status: 'active',
      form: { coding: [{ system: SNOMED, code: '385049006', display: 'Capsule (basic dose form)' }] },
      ingredient: [{
        itemCodeableConcept: { coding: [{ system: RXNORM, code: '723', display: 'amoxicillin' }] }, isActive: true,
        strength: { numerator: { value: 500, unit: 'mg', system: UCUM, code: 'mg' }, denominator: { value: 1, unit: 'capsule', system: 'http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm', code: 'CAP' } },
      }],
      batch: { lotNumber: 'B2026-117', expirationDate: '2027-06-30' },
    },
    request: {
      resourceType: 'MedicationRequest', identifier: identifier('rx'), status: 'active', intent: 'order',
      category: [{ coding: [{ system: REQUEST_CATEGORY, code: 'inpatient', display: 'Inpatient' }] }], priority: 'routine',
      medicationReference: { reference: url.medication }, subject, encounter: { reference: url.encounter }, authoredOn: '2026-02-01T10:00:00.000Z',
      requester: { reference: PRESCRIBER }, reasonCode: [{ coding: [{ system: SNOMED, code: '233604007', display: 'Pneumonia (disorder)' }] }],
      reasonReference: [{ reference: url.condition }],
      dosageInstruction: [{
        sequence: 1, text: '500 mg by mouth three times a day for 7 days',
        additionalInstruction: [{ coding: [{ system: SNOMED, code: '311504000', display: 'With or after food' }] }],
        timing: { repeat: { boundsPeriod: { start: '2026-02-01', end: '2026-02-08' }, frequency: 3, period: 1, periodUnit: 'd' }, code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation', code: 'TID' }] } },
        asNeededBoolean: false,
        route: { coding: [{ system: SNOMED, code: '26643006', display: 'Oral route' }] },
        doseAndRate: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/dose-rate-type', code: 'ordered' }] }, doseQuantity: { value: 500, unit: 'mg', system: UCUM, code: 'mg' } }],
      }],
    },
    contained: {
      resourceType: 'MedicationRequest', identifier: identifier('rx'), status: 'active', intent: 'order',
      contained: [{ resourceType: 'Medication', id: 'med1', code: { coding: [{ system: ATC, code: 'N02BE01', display: 'paracetamol' }, { system: RXNORM, code: '313782', display: 'acetaminophen 325 MG Oral Tablet' }] } }],
      medicationReference: { reference: '#med1' }, subject, encounter: { reference: url.encounter }, authoredOn: '2026-02-01T10:05:00.000Z', requester: { reference: PRESCRIBER },
      dosageInstruction: [{ text: '1 g when needed for fever, at most 4 g a day', asNeededBoolean: true, timing: { repeat: { frequencyMax: 4, period: 1, periodUnit: 'd' } },
        doseAndRate: [{ doseQuantity: { value: 1, unit: 'g', system: UCUM, code: 'g' } }] }],
    },
    administration: {
      resourceType: 'MedicationAdministration', identifier: identifier('mar'), status: 'completed',
      category: { coding: [{ system: ADMIN_CATEGORY, code: 'inpatient' }] },
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '308191', display: 'amoxicillin 500 MG Oral Capsule' }, { system: LOCAL, code: 'AMOX500' }], text: 'Amoxicillin 500 mg' },
      subject, context: { reference: url.encounter }, effectivePeriod: { start: '2026-02-01T14:00:00.000Z', end: '2026-02-01T14:05:00.000Z' },
      performer: [{ actor: { reference: 'Practitioner/prac-county-north-2' } }], reasonReference: [{ reference: url.condition }], request: { reference: url.request },
      dosage: { text: 'One capsule with water', route: { coding: [{ system: SNOMED, code: '26643006', display: 'Oral route' }] }, dose: { value: 500, unit: 'mg', system: UCUM, code: 'mg' } },
    },
    statement: {
      resourceType: 'MedicationStatement', identifier: identifier('medhist'), status: 'active',
      category: { coding: [{ system: STATEMENT_CATEGORY, code: 'community' }] },
      medicationCodeableConcept: { coding: [{ system: ATC, code: 'C09AA02', display: 'enalapril' }, { system: NDC, code: '0093-0027-01' }] },
      subject, context: { reference: url.encounter }, effectivePeriod: { start: '2024-05-01T00:00:00.000Z' }, dateAsserted: '2026-02-01T09:15:00.000Z',
      informationSource: { reference: PRESCRIBER }, reasonCode: [{ coding: [{ system: ICD10, code: 'I10', display: 'Essential (primary) hypertension' }] }],
      dosage: [{ text: '10 mg once a day', timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd', when: ['MORN'] } }, route: { coding: [{ system: SNOMED, code: '26643006' }] },
        doseAndRate: [{ doseQuantity: { value: 10, unit: 'mg', system: UCUM, code: 'mg' } }] }],
    },
  };
  const entry = (key: keyof typeof url) => ({ fullUrl: url[key], request: { method: 'POST', url: (resources[key] as Json).resourceType }, resource: resources[key] });
  return {
    url, resources,
    bundle: { resourceType: 'Bundle', type: 'transaction', entry: (['patient', 'encounter', 'condition', 'medication', 'request', 'contained', 'administration', 'statement'] as const).map(entry) },
  };
}

describe.each(BACKENDS)('Medications on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  let patientToken: string;
  let record: ReturnType<typeof hospitalRecord>;
  /** fullUrl key → the id the transaction gave. */
  let id: Record<string, string>;
  /** Prescriptions published for the patient after the transaction (a labelled one). */
  const later: string[] = [];
  const { send, clinician, system, everything, grant, revoke } = recordTypeCalls(() => stack, { id: () => id.patient, token: () => patientToken });
  const search = async (token: string, path: string) => {
    const response = await fetch(`${base}/fhir/${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    return { status: response.status, body: await response.json() as Json };
  };
  const counts = async () => Object.fromEntries(await Promise.all(['medication_request', 'medication_administration', 'medication_statement'].map(async (table) =>
    [table, (await stack.databases.encounters.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n])));

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    base = stack.url.replace(/\/graphql$/, '');
    record = hospitalRecord(ORG);
    const response = await send('/fhir', await system(ORG), record.bundle);
    expect(response.status, response.text).toBe(200);
    const keys = ['patient', 'encounter', 'condition', 'medication', 'request', 'contained', 'administration', 'statement'];
    expect(response.body.entry.map((e: Json) => e.response.status)).toEqual(keys.map(() => '201 Created'));
    id = Object.fromEntries(keys.map((key, n) => [key, String(response.body.entry[n].response.location).split('/')[1]!]));
    expect(response.body.entry[3].response.location).toBe(`Medication/${id.medication}`);
    patientToken = await stack.token({ sub: 'patient-lin', role: 'patient', patient: id.patient, scope: 'patient/*.cruds' });
  }, 300_000);
  afterAll(async () => stack?.close());

  it('reads the three types through GraphQL, every coding kept with its system, the Medication as sent', async () => {
    const response = await stack.graphql(patientToken, MEDICATIONS, { id: id.patient });
    expect(response.errors).toBeUndefined();
    const requests = response.data.patient.medicationRequests.edges.map((e: Json) => e.node);
    // Newest authored first.
    expect(requests.map((r: Json) => r.id)).toEqual([id.contained, id.request]);
    const [contained, prescription] = requests;
    expect(prescription).toMatchObject({
      status: 'active', intent: 'order', authoredOn: '2026-02-01T10:00:00.000Z', medication: null, requester: { id: 'prac-county-north-1' },
      encounter: { id: id.encounter }, reasonReference: { id: id.condition }, priority: 'routine', organization: { id: ORG }, sensitivityLabels: [],
      medicationReference: {
        id: id.medication, contained: false,
        code: { coding: record.resources.medication.code.coding.map((c) => ({ display: null, ...c })), text: 'Amoxicillin 500 mg capsule' },
        batch: { lotNumber: 'B2026-117', expirationDate: '2027-06-30' },
      },
    });
    expect(prescription.medicationReference.ingredient[0].strength.numerator).toEqual({ value: 500, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' });
    expect(prescription.dosageInstruction[0]).toMatchObject({
      sequence: 1, text: '500 mg by mouth three times a day for 7 days', asNeededBoolean: false,
      timing: { repeat: { frequency: 3, period: 1, periodUnit: 'd', boundsPeriod: { start: '2026-02-01', end: '2026-02-08' } } },
      route: { coding: [{ system: SNOMED, code: '26643006', display: 'Oral route' }] }, doseAndRate: [{ doseQuantity: { value: 500, unit: 'mg' } }],
    });
    expect(contained.medicationReference).toMatchObject({ id: 'med1', contained: true, code: { coding: [{ system: ATC, code: 'N02BE01' }, { system: RXNORM, code: '313782' }] } });
    const [administration] = response.data.patient.medicationAdministrations.edges.map((e: Json) => e.node);
    expect(administration).toMatchObject({
      id: id.administration, status: 'completed', effectiveDateTime: null, effectivePeriod: { start: '2026-02-01T14:00:00.000Z', end: '2026-02-01T14:05:00.000Z' },
      request: { id: id.request }, encounter: { id: id.encounter }, performer: [{ actor: { id: 'prac-county-north-2' } }], dosage: { text: 'One capsule with water', dose: { value: 500, unit: 'mg' } },
    });
    expect(administration.medication.coding.map((c: Json) => c.system)).toEqual([RXNORM, LOCAL]);
    const [statement] = response.data.patient.medicationStatements.edges.map((e: Json) => e.node);
    expect(statement).toMatchObject({
      id: id.statement, status: 'active', effectivePeriod: { start: '2024-05-01T00:00:00.000Z', end: null }, dateAsserted: '2026-02-01T09:15:00.000Z',
      informationSource: { id: 'prac-county-north-1' }, medication: { coding: [{ system: ATC, code: 'C09AA02' }, { system: NDC, code: '0093-0027-01' }] },
    });
  });

  it('reads a demo patient\'s seeded medications as generated, and exports them as valid FHIR', async () => {
    const token = await stack.token({ sub: 'patient-demo', role: 'patient', patient: demo.patient.id, scope: 'patient/*.rs' });
    const response = await stack.graphql(token, MEDICATIONS, { id: demo.patient.id });
    expect(response.errors).toBeUndefined();
    const nodes = (connection: string) => response.data.patient[connection].edges.map((e: Json) => e.node);
    const newest = <T extends { id: string }>(list: T[], time: (r: T) => Date) => [...list].sort((a, b) => time(b).getTime() - time(a).getTime() || (b.id < a.id ? -1 : 1));
    const concept = (c: { coding: Json[]; text: string | null }) => ({ coding: c.coding, text: c.text });
    expect(nodes('medicationRequests').map((n: Json) => ({
      id: n.id, status: n.status, intent: n.intent, authoredOn: n.authoredOn, medication: n.medication, encounter: n.encounter?.id ?? null,
      reason: n.reasonReference?.id ?? null, requester: n.requester.id, dosage: n.dosageInstruction.map((d: Json) => [d.text, d.route.coding[0].code, d.doseAndRate[0].doseQuantity.value]),
    }))).toEqual(newest(demo.medicationRequests, (m) => m.authoredOn).map((m) => ({
      id: m.id, status: m.status, intent: m.intent, authoredOn: m.authoredOn.toISOString(), medication: concept(m.medication), encounter: m.encounterId,
      reason: m.reasonConditionId, requester: m.requesterId, dosage: m.dosageInstruction.map((d: Json) => [d.text, d.route.coding[0].code, d.doseAndRate[0].doseQuantity.value]),
    })));
    expect(nodes('medicationAdministrations').map((n: Json) => [n.id, n.status, n.effectiveDateTime, n.request.id, n.performer[0].actor.id, n.dosage.dose.value]))
      .toEqual(newest(demo.medicationAdministrations, (m) => m.effectiveDateTime).map((m) => [m.id, m.status, m.effectiveDateTime.toISOString(), m.requestId, m.performerId, (m.dosage.dose as Json).value]));
    expect(nodes('medicationStatements').map((n: Json) => [n.id, n.status, n.effectivePeriod.start, n.effectivePeriod.end, n.dateAsserted, n.informationSource.id]))
      .toEqual(newest(demo.medicationStatements, (m) => m.effectiveStart).map((m) => [m.id, m.status, m.effectiveStart.toISOString(), m.effectiveEnd?.toISOString() ?? null, m.dateAsserted.toISOString(), m.informationSourceId]));
    const bundle = await everything(token, demo.patient.id);
    expect(schemaErrors(bundle)).toEqual([]);
    const exported = new Map(bundle.entry.map((e) => [e.resource.id, e.resource]));
    for (const m of [...demo.medicationRequests, ...demo.medicationAdministrations, ...demo.medicationStatements]) {
      expect(exported.get(m.id)?.medicationCodeableConcept?.coding).toEqual(m.medication.coding);
    }
  });

  it('shows the prescribing organisation\'s staff its medications, others none without a permit; a permit for medications opens them, not the encounter or diagnosis they name', async () => {
    const mine = await stack.graphql(await clinician(ORG), MEDICATIONS, { id: id.patient });
    expect(allIds(mine)).toEqual([id.request, id.contained, id.administration, id.statement].sort());
    const stranger = STRANGERS[0]!;
    const token = await clinician(stranger);
    expect(allIds(await stack.graphql(token, MEDICATIONS, { id: id.patient }))).toEqual([]);
    const diagnoses = await grant({ actorId: stranger, categories: ['DIAGNOSES'] });
    expect(allIds(await stack.graphql(token, MEDICATIONS, { id: id.patient }))).toEqual([]);
    const medications = await grant({ actorId: stranger, categories: ['MEDICATIONS'] });
    const opened = await stack.graphql(token, MEDICATIONS, { id: id.patient });
    expect(allIds(opened)).toEqual([id.request, id.contained, id.administration, id.statement].sort());
    const prescription = opened.data.patient.medicationRequests.edges.map((e: Json) => e.node).find((n: Json) => n.id === id.request);
    // Field level: the encounter is under its own category (not permitted); the diagnosis is (diagnoses were).
    expect(prescription.encounter).toBeNull();
    expect(prescription.reasonReference).toEqual({ id: id.condition });
    expect(prescription.medicationReference.code.text).toBe('Amoxicillin 500 mg capsule');
    await revoke(diagnoses);
    const withoutDiagnoses = await stack.graphql(token, MEDICATIONS, { id: id.patient });
    expect(withoutDiagnoses.data.patient.medicationRequests.edges.find((e: Json) => e.node.id === id.request).node.reasonReference).toBeNull();
    // A scope that does not name the medication resources reaches none, permit or not.
    const conditionsOnly = await clinician(stranger, { scope: 'user/Condition.rs' });
    expect(allIds(await stack.graphql(conditionsOnly, MEDICATIONS, { id: id.patient }))).toEqual([]);
    await revoke(medications);
    expect(allIds(await stack.graphql(token, MEDICATIONS, { id: id.patient }))).toEqual([]);
  });

  it('keeps a labelled prescription from a permit that does not name the label', async () => {
    const labelled = await send('/fhir/MedicationRequest', await system(ORG), {
      ...record.resources.contained, identifier: [{ system: 'https://org-county-north.example.org/rx', value: `rx-${crypto.randomUUID()}` }],
      meta: { security: [{ system: ACT_CODE, code: 'PSY' }] }, subject: { reference: `Patient/${id.patient}` }, encounter: { reference: `Encounter/${id.encounter}` },
    });
    expect(labelled.status, labelled.text).toBe(201);
    const labelledId = String(labelled.headers.get('location')).split('/')[1]!;
    later.push(labelledId);
    const stranger = STRANGERS[1]!;
    const token = await clinician(stranger);
    const plain = await grant({ actorId: stranger, categories: ['MEDICATIONS'] });
    expect(requestIds(await stack.graphql(token, MEDICATIONS, { id: id.patient }))).toEqual([id.request, id.contained].sort());
    const naming = await grant({ actorId: stranger, categories: ['MEDICATIONS'], labels: ['PSY'] });
    expect(requestIds(await stack.graphql(token, MEDICATIONS, { id: id.patient }))).toEqual([id.request, id.contained, labelledId].sort());
    await revoke(plain);
    await revoke(naming);
    expect(requestIds(await stack.graphql(await clinician(ORG), MEDICATIONS, { id: id.patient }))).toContain(labelledId);
  });

  it('puts them on the timeline as MEDICATION_REQUEST, MEDICATION_ADMINISTRATION and MEDICATION_STATEMENT entries, filtered by kind and by consent', async () => {
    const all = await stack.graphql(patientToken, TIMELINE, { id: id.patient, kinds: null });
    expect(all.errors).toBeUndefined();
    const at = (kind: string) => all.data.patient.timeline.edges.filter((e: Json) => e.kind === kind).map((e: Json) => [e.node.id, e.occurredAt, e.node.__typename]);
    expect(at('MEDICATION_REQUEST')).toEqual(expect.arrayContaining([[id.request, '2026-02-01T10:00:00.000Z', 'MedicationRequest'], [id.contained, '2026-02-01T10:05:00.000Z', 'MedicationRequest']]));
    expect(at('MEDICATION_ADMINISTRATION')).toEqual([[id.administration, '2026-02-01T14:00:00.000Z', 'MedicationAdministration']]);
    expect(at('MEDICATION_STATEMENT')).toEqual([[id.statement, '2024-05-01T00:00:00.000Z', 'MedicationStatement']]);
    const only = await stack.graphql(patientToken, TIMELINE, { id: id.patient, kinds: ['MEDICATION_ADMINISTRATION'] });
    expect(only.data.patient.timeline.edges.map((e: Json) => e.kind)).toEqual(['MEDICATION_ADMINISTRATION']);
    const stranger = await stack.graphql(await clinician(STRANGERS[2]!), TIMELINE, { id: id.patient, kinds: ['MEDICATION_REQUEST', 'MEDICATION_ADMINISTRATION', 'MEDICATION_STATEMENT'] });
    expect(stranger.data?.patient?.timeline?.edges ?? []).toEqual([]);
  });

  it('gives back in $everything, as valid FHIR R4, every element sent, the Medication entry and the contained one the way they came', async () => {
    const bundle = await everything(patientToken, id.patient);
    expect(schemaErrors(bundle)).toEqual([]);
    // Each as sent, with the time the store wrote it (meta.lastUpdated) besides.
    const byId = (type: string, value: string) => {
      const resource = bundle.entry.find((e) => e.resource.resourceType === type && e.resource.id === value)?.resource;
      expect(Date.parse(resource?.meta?.lastUpdated)).not.toBeNaN();
      return withoutLastUpdated(resource);
    };
    const sent = record.resources;
    const practitioner = (reference: Json) => ({ ...reference, display: expect.any(String) });
    const strip = ({ identifier: _identifier, ...rest }: Json) => rest;
    const subject = { reference: `Patient/${id.patient}` };
    const encounter = { reference: `Encounter/${id.encounter}` };
    expect(byId('Medication', id.medication)).toEqual({ ...sent.medication, id: id.medication });
    expect(byId('MedicationRequest', id.request)).toEqual({
      ...strip(sent.request), id: id.request, subject, encounter, medicationReference: { reference: `Medication/${id.medication}` },
      requester: practitioner(sent.request.requester), reasonReference: [{ reference: `Condition/${id.condition}` }],
    });
    expect(byId('MedicationRequest', id.contained)).toEqual({ ...strip(sent.contained), id: id.contained, subject, encounter, requester: practitioner(sent.contained.requester) });
    expect(byId('MedicationAdministration', id.administration)).toEqual({
      ...strip(sent.administration), id: id.administration, subject, context: encounter, request: { reference: `MedicationRequest/${id.request}` },
      reasonReference: [{ reference: `Condition/${id.condition}` }], performer: [{ actor: practitioner(sent.administration.performer[0]!.actor) }],
    });
    expect(byId('MedicationStatement', id.statement)).toEqual({
      ...strip(sent.statement), id: id.statement, subject, context: encounter, informationSource: practitioner(sent.statement.informationSource),
    });
    // The Medication once, however many records name it; an app reading Conditions only gets none of them.
    expect(bundle.entry.filter((e) => e.resource.resourceType === 'Medication')).toHaveLength(1);
    const app = await stack.appToken({ sub: 'app', patient: id.patient, client_id: 'diary', scope: 'patient/Condition.rs' });
    const narrow = await everything(app, id.patient);
    expect(narrow.entry.filter((e) => /^Medication/.test(e.resource.resourceType))).toEqual([]);
  });

  it('finds them through FHIR search by patient, status, code, date and _id', async () => {
    const token = await clinician(ORG);
    const found = async (path: string) => {
      const response = await search(token, path);
      expect(response.status, JSON.stringify(response.body).slice(0, 400)).toBe(200);
      expect(schemaErrors(response.body)).toEqual([]);
      return (response.body.entry ?? []).filter((e: Json) => e.search?.mode === 'match').map((e: Json) => e.resource.id).sort();
    };
    const patient = `patient=Patient/${id.patient}`;
    // The labelled prescription (contained paracetamol, authored with the second) is its organisation's to see too.
    expect(await found(`MedicationRequest?${patient}`)).toEqual([id.request, id.contained, ...later].sort());
    expect(await found(`MedicationRequest?${patient}&status=active&intent=order`)).toEqual([id.request, id.contained, ...later].sort());
    expect(await found(`MedicationRequest?${patient}&status=stopped`)).toEqual([]);
    expect(await found(`MedicationRequest?${patient}&code=${ATC}|N02BE01`)).toEqual([id.contained, ...later].sort());
    expect(await found(`MedicationRequest?${patient}&code=${RXNORM}|308191`)).toEqual([]);
    expect(await found(`MedicationRequest?${patient}&authoredon=lt2026-02-01T10:01:00Z`)).toEqual([id.request]);
    expect(await found(`MedicationRequest?${patient}&_id=${id.request}`)).toEqual([id.request]);
    expect(await found(`MedicationAdministration?${patient}&code=${RXNORM}|308191&status=completed`)).toEqual([id.administration]);
    expect(await found(`MedicationAdministration?${patient}&effective-time=lt2026-01-01`)).toEqual([]);
    expect(await found(`MedicationStatement?${patient}&code=C09AA02&effective=ge2025-01-01`)).toEqual([id.statement]);
    // Read by id; a stranger reads nothing.
    const read = await search(token, `MedicationStatement/${id.statement}`);
    expect([read.status, read.body.id]).toEqual([200, id.statement]);
    expect((await search(await clinician(STRANGERS[3]!), `MedicationStatement/${id.statement}`)).status).toBe(404);
  });

  it('links search results to records outside the searchset exactly as $everything links them, never naming one the caller may not see', async () => {
    // A lab result taken in the encounter: a search for Observations holds no Encounter, yet names it as $everything does.
    const lab = await send('/fhir/Observation', await system(ORG), {
      resourceType: 'Observation', status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma' }] },
      subject: { reference: `Patient/${id.patient}` }, encounter: { reference: `Encounter/${id.encounter}` }, effectiveDateTime: '2026-02-02T08:00:00.000Z',
      valueQuantity: { value: 5.4, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
    });
    expect(lab.status, lab.text).toBe(201);
    const labId = String(lab.headers.get('location')).split('/')[1]!;
    const encounter = { reference: `Encounter/${id.encounter}` };
    const matches = async (token: string, path: string) => {
      const response = await search(token, path);
      expect(response.status, JSON.stringify(response.body).slice(0, 400)).toBe(200);
      expect(schemaErrors(response.body)).toEqual([]);
      const entries = (response.body.entry ?? []) as Json[];
      expect(entries.filter((e) => e.resource.resourceType === 'Encounter' || e.resource.resourceType === 'Condition')).toEqual([]);
      return entries.filter((e) => e.search?.mode === 'match').map((e) => e.resource);
    };
    /** Each searched resource is the one $everything gives the same caller, links included. */
    const asEverything = async (token: string, found: Json[]) => {
      const bundle = await everything(token, id.patient);
      for (const resource of found) {
        expect(resource, `${resource.resourceType}/${resource.id}`).toEqual(bundle.entry.find((e) => e.resource.resourceType === resource.resourceType && e.resource.id === resource.id)?.resource);
      }
    };
    const staff = await clinician(ORG);
    const [observation] = await matches(staff, `Observation?patient=${id.patient}&_id=${labId}`);
    expect(observation!.encounter).toEqual(encounter);
    const requests = await matches(staff, `MedicationRequest?patient=${id.patient}&_id=${id.request}`);
    expect(requests[0]).toMatchObject({ encounter, reasonReference: [{ reference: `Condition/${id.condition}` }] });
    const administrations = await matches(staff, `MedicationAdministration?patient=${id.patient}`);
    expect(administrations[0]).toMatchObject({ context: encounter, request: { reference: `MedicationRequest/${id.request}` } });
    await asEverything(staff, [observation!, ...requests, ...administrations]);

    // Staff of another organisation permitted labs and medications, not encounters nor diagnoses: no link names those records.
    const stranger = STRANGERS[2]!;
    const token = await clinician(stranger);
    const permits = [await grant({ actorId: stranger, categories: ['LABS', 'MEDICATIONS'] })];
    try {
      const found = [
        ...await matches(token, `Observation?patient=${id.patient}&_id=${labId}`),
        ...await matches(token, `MedicationRequest?patient=${id.patient}&_id=${id.request}`),
        ...await matches(token, `MedicationAdministration?patient=${id.patient}`),
      ];
      expect(found.map((r) => r.id).sort()).toEqual([labId, id.request, id.administration].sort());
      for (const resource of found) {
        expect(JSON.stringify(resource)).not.toContain(id.encounter);
        expect(JSON.stringify(resource)).not.toContain(id.condition);
      }
      // The administration still names the prescription, which this caller may see.
      expect(found.find((r) => r.id === id.administration)!.request).toEqual({ reference: `MedicationRequest/${id.request}` });
      await asEverything(token, found);
      // Encounters permitted too: the links come back.
      permits.push(await grant({ actorId: stranger, categories: ['ENCOUNTERS'] }));
      const [linked] = await matches(token, `Observation?patient=${id.patient}&_id=${labId}`);
      expect(linked!.encounter).toEqual(encounter);
      await asEverything(token, [linked!]);
    } finally {
      for (const permit of permits) await revoke(permit);
    }
    // An app the patient approved for lab results only: the encounter is beyond its scopes, in search as in $everything.
    const app = await stack.appToken({ sub: 'app', patient: id.patient, client_id: 'diary', scope: 'patient/Observation.rs' });
    const [own] = await matches(app, `Observation?_id=${labId}`);
    expect(own!.encounter).toBeUndefined();
    await asEverything(app, [own!]);
  });

  it('reads the Medication entry by id and by _id search, under the consent of the records naming it, audited; 404 where none of them is visible', async () => {
    const staff = await clinician(ORG);
    const exported = (await everything(staff, id.patient)).entry.find((e) => e.resource.resourceType === 'Medication' && e.resource.id === id.medication)!.resource;
    const read = await search(staff, `Medication/${id.medication}`);
    expect(read.status, JSON.stringify(read.body).slice(0, 400)).toBe(200);
    expect(schemaErrors(read.body)).toEqual([]);
    // As $everything gives it, and as it was sent.
    expect(read.body).toEqual(exported);
    const { meta: _meta, ...sent } = read.body;
    expect(sent).toEqual({ ...record.resources.medication, id: id.medication });
    // Audited like every read, for the patient whose records named it.
    const response = await fetch(`${base}/fhir/Medication/${id.medication}`, { headers: { authorization: `Bearer ${staff}` } });
    expect(response.status).toBe(200);
    const events = await stack.databases.identity.query<{ patient_id: string; actor_sub: string }>(
      'SELECT patient_id, actor_sub FROM audit_event WHERE request_id = $1', [response.headers.get('x-request-id')]);
    expect(events).toEqual([{ patient_id: id.patient, actor_sub: `dr-${ORG}` }]);
    const searched = await search(staff, `Medication?_id=${id.medication}`);
    expect(searched.status).toBe(200);
    expect(searched.body.entry.map((e: Json) => e.resource)).toEqual([exported]);
    expect(searched.body.total).toBe(1);

    // Nobody else's: the answer for an id that names nothing.
    const absent = await search(staff, `Medication/${crypto.randomUUID()}`);
    expect(absent.status).toBe(404);
    const stranger = STRANGERS[1]!;
    const token = await clinician(stranger);
    const hidden = await search(token, `Medication/${id.medication}`);
    expect([hidden.status, hidden.body]).toEqual([404, absent.body]);
    expect((await search(token, `Medication?_id=${id.medication}`)).body.entry ?? []).toEqual([]);
    // A permit for medications opens it, as it opens the records naming it; revoked, it is gone again.
    const permit = await grant({ actorId: stranger, categories: ['MEDICATIONS'] });
    expect((await search(token, `Medication/${id.medication}`)).body).toEqual(exported);
    await revoke(permit);
    expect((await search(token, `Medication/${id.medication}`)).status).toBe(404);
    // Scopes that name no medication record type reach none; the patient reads their own.
    const conditionsOnly = await clinician(ORG, { scope: 'user/Condition.rs' });
    expect((await search(conditionsOnly, `Medication/${id.medication}`)).status).toBe(404);
    expect((await search(patientToken, `Medication/${id.medication}`)).status).toBe(200);
    // A contained Medication is part of its record: no resource of its own.
    const containedId = record.resources.contained.contained[0].id as string;
    expect((await search(staff, `Medication/${containedId}`)).status).toBe(404);
  });

  it('refuses what it cannot keep, naming the element, and writes nothing for it', async () => {
    const token = await system(ORG);
    const subject = { reference: `Patient/${id.patient}` };
    const before = await counts();
    const request = (extra: Json) => ({ ...record.resources.contained, identifier: undefined, subject, encounter: undefined, ...extra });
    const batch = await send('/fhir', token, {
      resourceType: 'Bundle', type: 'batch', entry: [
        { request: { method: 'POST', url: 'MedicationRequest' }, resource: request({}) },
        { request: { method: 'POST', url: 'MedicationRequest' }, resource: request({ contained: undefined, medicationReference: undefined, medicationCodeableConcept: { coding: [{ system: RXNORM, code: 'amoxicillin' }] } }) },
        { request: { method: 'POST', url: 'MedicationRequest' }, resource: request({ contained: undefined, medicationReference: undefined }) },
        { request: { method: 'POST', url: 'MedicationRequest' }, resource: request({ dispenseRequest: { numberOfRepeatsAllowed: 2 } }) },
        { request: { method: 'POST', url: 'MedicationRequest' }, resource: request({ contained: undefined, medicationReference: { reference: `Medication/${id.medication}` } }) },
        { request: { method: 'POST', url: 'MedicationRequest' }, resource: request({ dosageInstruction: [{ timing: { repeat: { frequency: 2, period: 1, periodUnit: 'day' } } }] }) },
        { request: { method: 'POST', url: 'MedicationAdministration' }, resource: { ...record.resources.administration, identifier: undefined, subject, context: undefined, request: undefined, reasonReference: undefined, effectivePeriod: undefined } },
        { request: { method: 'POST', url: 'MedicationStatement' }, resource: { ...record.resources.statement, identifier: undefined, subject, context: undefined, status: 'taking' } },
        { request: { method: 'POST', url: 'Medication' }, resource: record.resources.medication },
      ],
    });
    expect(batch.status, batch.text).toBe(200);
    const answers = batch.body.entry.map((e: Json) => [e.response.status, e.response.outcome?.issue?.[0]?.expression?.[0] ?? null]);
    expect(answers).toEqual([
      ['201 Created', null],
      ['400 Bad Request', 'Bundle.entry[1].resource.medicationCodeableConcept.coding[0].code'],
      ['400 Bad Request', 'Bundle.entry[2].resource.medication[x]'],
      ['422 Unprocessable Entity', 'Bundle.entry[3].resource.dispenseRequest'],
      ['400 Bad Request', 'Bundle.entry[4].resource.medicationReference.reference'],
      ['400 Bad Request', 'Bundle.entry[5].resource.dosageInstruction[0].timing.repeat.periodUnit'],
      ['400 Bad Request', 'Bundle.entry[6].resource.effectiveDateTime'],
      ['400 Bad Request', 'Bundle.entry[7].resource.status'],
      ['422 Unprocessable Entity', 'Bundle.entry[8].resource'],
    ]);
    expect(await counts()).toEqual({ ...before, medication_request: before.medication_request! + 1 });

    // A transaction is refused whole: a Medication with an element it would lose, or one no record names.
    const again = hospitalRecord(ORG);
    (again.bundle.entry[3]!.resource as Json).manufacturer = { display: 'Generic Pharma' };
    const lossy = await send('/fhir', token, again.bundle);
    expect([lossy.status, lossy.body.issue?.[0]?.expression]).toEqual([422, ['Bundle.entry[3].resource.manufacturer']]);
    const orphan = hospitalRecord(ORG);
    (orphan.bundle.entry[4]!.resource as Json).medicationReference = undefined;
    (orphan.bundle.entry[4]!.resource as Json).medicationCodeableConcept = { text: 'Amoxicillin' };
    (orphan.bundle.entry[6]!.resource as Json).request = undefined;
    const unnamed = await send('/fhir', token, orphan.bundle);
    expect([unnamed.status, unnamed.body.issue?.map((i: Json) => i.expression[0])]).toEqual([422, ['Bundle.entry[3].resource']]);
    expect(await counts()).toEqual({ ...before, medication_request: before.medication_request! + 1 });
  });

  it('updates a prescription by its organisation only (PUT), a retry with its identifier creates nothing twice, and labels follow the sensitive-code table', async () => {
    const token = await system(ORG);
    const subject = { reference: `Patient/${id.patient}` };
    const { identifier } = record.resources.contained;
    const stopped = { ...record.resources.contained, id: id.contained, subject, encounter: { reference: `Encounter/${id.encounter}` }, status: 'stopped', statusReason: { text: 'Fever gone' } };
    const update = await send(`/fhir/MedicationRequest/${id.contained}`, token, stopped, { method: 'PUT' });
    expect(update.status, update.text).toBe(200);
    const back = (await everything(patientToken, id.patient)).entry.find((e) => e.resource.id === id.contained)!.resource;
    expect([back.status, back.statusReason]).toEqual(['stopped', { text: 'Fever gone' }]);
    expect(back.contained).toEqual(record.resources.contained.contained);
    const retry = await send('/fhir/MedicationRequest', token, { ...record.resources.contained, subject, encounter: { reference: `Encounter/${id.encounter}` } }, { headers: { 'if-none-exist': `identifier=${identifier[0]!.system}|${identifier[0]!.value}` } });
    expect(retry.status, retry.text).toBe(200);
    expect(retry.headers.get('location')).toBe(`MedicationRequest/${id.contained}`);
    const takeover = await send(`/fhir/MedicationRequest/${id.contained}`, await system(STRANGERS[0]!), { ...stopped, status: 'active' }, { method: 'PUT' });
    expect(takeover.status, takeover.text).toBe(404);
    // The alliance's table of sensitive codes labels a medication record by its reason as any other record: HIV disease (B20) → HIV.
    const treated = await send('/fhir/MedicationStatement', await system(ORG), {
      ...record.resources.statement, identifier: undefined, subject: { reference: `Patient/${id.patient}` }, context: undefined,
      reasonCode: [{ coding: [{ system: ICD10, code: 'B20', display: 'Human immunodeficiency virus [HIV] disease' }] }],
    });
    expect(treated.status, treated.text).toBe(201);
    const treatedId = String(treated.headers.get('location')).split('/')[1]!;
    const labels = await stack.graphql(await clinician(ORG), 'query($id: ID!) { medicationStatement(id: $id) { sensitivityLabels } }', { id: treatedId });
    expect(labels.data.medicationStatement.sensitivityLabels).toEqual(['HIV']);
  });
});
