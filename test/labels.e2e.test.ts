/**
 * Sensitivity labels survive every path (issue #25), through the gateway over
 * HTTP, on every backend. A (the producer) and B (an organisation the patient
 * shares everything with, alliance-wide, naming no label):
 *
 * - a radiology report labelled PSY, published in a transaction with an
 *   unlabelled study, stays closed to B on every read path (the study's
 *   list, the lookup, `$everything`, B's system client) and opens under a
 *   permit naming PSY;
 * - `$everything` exports labels as stored, for every type (the report, a
 *   V-labelled immunisation, a referral, an enrolment);
 * - an update that leaves `meta.security` out keeps the stored labels; only
 *   `$meta-delete`, by the producer, removes one: audited (LABELS_REMOVED),
 *   shown to the patient and to administrators, refused like an unknown id
 *   to those who cannot see the record;
 * - the table of sensitive codes labels what arrives unlabelled, FHIR and
 *   HL7 v2 alike, and HL7 v2 confidentiality fields (ORC-28, ARV-3) are
 *   honoured.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender } from './support/publish.js';

type Json = Record<string, any>;
const A = 'org-county-north';
const B = 'org-county-south';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONF = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const LOINC = 'http://loinc.org';
let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36).toUpperCase()}${++sequence}`;
/** The labels of a resource's meta.security (the derived confidentiality R left out). */
const labelsOf = (resource: Json | undefined) => (resource?.meta?.security ?? []).filter((c: Json) => !(c.system === CONF && c.code === 'R')).map((c: Json) => c.code).sort();

describe.each(BACKENDS)('labels on every path, on %s', (backend) => {
  let stack: TestStack;
  const base = () => stack.url.replace(/\/graphql$/, '');
  const send = fhirSender(base);
  const system = (org: string) => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope: 'system/*.cru' });
  const clinician = (org: string) => stack.token({ sub: `dr-${org}`, role: 'clinician', org });
  const exportAs = async (token: string, id: string) => (await fetch(`${base()}/fhir/Patient/${id}/$everything`, { headers: { authorization: `Bearer ${token}` } })).json();
  const grant = async (patientId: string, input: Json) => {
    const token = await stack.token({ sub: 'p', role: 'patient', patient: patientId, scope: 'patient/*.cruds' });
    const response = await stack.graphql(token, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id status } }', { input: { patientId, decision: 'PERMIT', ...input } });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data.grantConsent.id as string;
  };
  let patientId: string;
  let reportId: string;
  let studyId: string;

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 0 });
    const uid = `1.2.826.0.1.3680043.8.498.${Date.now()}`;
    const bundle = {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000001', request: { method: 'POST', url: 'Patient' },
          resource: { resourceType: 'Patient', gender: 'male', birthDate: '1990-01-02', name: [{ family: 'Lin', given: ['Tao'] }], identifier: [{ system: SYSTEM.healthCard, value: unique('HC') }, { system: SYSTEM.mrnPrefix + A, value: unique('A') }] } },
        { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000002', request: { method: 'POST', url: 'ImagingStudy' },
          resource: { resourceType: 'ImagingStudy', status: 'available', subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' }, started: '2026-02-01T10:00:00Z',
            identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${uid}` }], modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }], numberOfSeries: 1, numberOfInstances: 40 } },
        { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000003', request: { method: 'POST', url: 'DiagnosticReport' },
          resource: { resourceType: 'DiagnosticReport', status: 'final', meta: { security: [{ system: ACT, code: 'PSY' }] }, subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' },
            category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD' }] }], code: { coding: [{ system: LOINC, code: '18748-4' }] },
            effectiveDateTime: '2026-02-01T10:00:00Z', imagingStudy: [{ reference: 'urn:uuid:00000000-0000-4000-8000-000000000002' }],
            conclusion: 'Findings consistent with self-harm injury (PSY)' } },
        { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000004', request: { method: 'POST', url: 'Immunization' },
          resource: { resourceType: 'Immunization', status: 'completed', meta: { security: [{ system: CONF, code: 'V' }] }, patient: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' },
            vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '62' }] }, occurrenceDateTime: '2026-01-10T10:00:00Z' } },
        { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000005', request: { method: 'POST', url: 'ServiceRequest' },
          resource: { resourceType: 'ServiceRequest', status: 'active', intent: 'order', meta: { security: [{ system: ACT, code: 'SEX' }] }, subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' },
            performer: [{ reference: `Organization/${B}` }], authoredOn: '2026-02-01T09:25:00Z', reasonCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'N97' }] }] } },
      ],
    };
    const published = await send('/fhir', await system(A), bundle);
    expect(published.status, published.text).toBe(200);
    patientId = String(published.body.entry[0].response.location).split('/')[1]!;
    studyId = String(published.body.entry[1].response.location).split('/')[1]!;
    reportId = String(published.body.entry[2].response.location).split('/')[1]!;
    // The patient shares everything with the whole alliance, naming no label.
    await grant(patientId, { actorType: 'ALLIANCE' });
    // B registers the patient too (by the card it is given), so its staff reach them.
  });
  afterAll(async () => stack?.close());

  it('keeps a radiology report labelled PSY closed to another organisation on every read path, until a permit names PSY', async () => {
    const STUDIES = 'query($id: ID!) { patient(id: $id) { imagingStudies(first: 10) { edges { node { id report { impression sensitivityLabels } } } } } }';
    const LOOKUP = 'query($id: ID!) { imagingStudy(id: $id) { id report { impression } } }';
    for (const token of [await clinician(B), await system(B)]) {
      const listed = await stack.graphql(token, STUDIES, { id: patientId });
      expect(listed.data.patient.imagingStudies.edges.map((e: Json) => e.node.id)).toEqual([studyId]);
      expect(listed.data.patient.imagingStudies.edges[0].node.report).toBeNull();
      expect(listed.errors?.[0]?.extensions?.code).toBe('CONSENT_DENIED');
      const looked = await stack.graphql(token, LOOKUP, { id: studyId });
      expect(looked.data.imagingStudy).toMatchObject({ id: studyId, report: null });
      const exported = await exportAs(token, patientId);
      expect(JSON.stringify(exported)).not.toContain('self-harm');
      expect(exported.entry.some((e: Json) => e.resource.id === reportId)).toBe(false);
    }
    // The producer and the patient read it, labelled as stored.
    const own = await stack.graphql(await clinician(A), STUDIES, { id: patientId });
    expect(own.data.patient.imagingStudies.edges[0].node.report).toEqual({ impression: 'Findings consistent with self-harm injury (PSY)', sensitivityLabels: ['PSY'] });
    // A permit naming PSY opens it.
    const psy = await grant(patientId, { actorType: 'ORGANIZATION', actorId: B, labels: ['PSY'] });
    const opened = await stack.graphql(await clinician(B), LOOKUP, { id: studyId });
    expect(opened.data.imagingStudy.report.impression).toMatch(/self-harm/);
    const patient = await stack.token({ sub: 'p', role: 'patient', patient: patientId, scope: 'patient/*.cruds' });
    await stack.graphql(patient, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: psy });
  });

  it('keeps a labelled immunisation closed to public-health staff of the programme, until a permit for their organisation names the label', async () => {
    const PROGRAM = 'https://fhir.alliance.example.org/CodeSystem/program';
    const enrol = await send('/fhir/EpisodeOfCare', await system(A), {
      resourceType: 'EpisodeOfCare', status: 'active', type: [{ coding: [{ system: PROGRAM, code: 'HTN', display: 'Hypertension management' }] }],
      patient: { reference: `Patient/${patientId}` }, managingOrganization: { reference: `Organization/${A}` }, period: { start: '2026-01-01T00:00:00Z' },
    });
    expect(enrol.status, enrol.text).toBe(201);
    const plain = await send('/fhir/Immunization', await system(A), {
      resourceType: 'Immunization', status: 'completed', patient: { reference: `Patient/${patientId}` },
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '141' }] }, occurrenceDateTime: '2026-01-12T10:00:00Z',
    });
    expect(plain.status, plain.text).toBe(201);
    const plainId = plain.headers.get('location')!.split('/')[1]!;
    // org-cdc runs the hypertension programme: its staff see the enrolled patient's immunisations, not the one labelled V.
    const cdc = await stack.token({ sub: 'ph-labels', role: 'public_health', org: 'org-cdc' });
    const IMMUNIZATIONS = 'query($id: ID!) { patient(id: $id) { immunizations(first: 20) { edges { node { id sensitivityLabels } } } } }';
    const seen = await stack.graphql(cdc, IMMUNIZATIONS, { id: patientId });
    expect(seen.errors, JSON.stringify(seen.errors)).toBeUndefined();
    expect(seen.data.patient.immunizations.edges.map((e: Json) => e.node.id)).toEqual([plainId]);
    const searched = await (await fetch(`${base()}/fhir/Immunization?patient=${patientId}`, { headers: { authorization: `Bearer ${cdc}` } })).json();
    expect(searched.entry.map((e: Json) => e.resource.id)).toEqual([plainId]);
    // A permit for the organisation naming V opens it.
    const named = await grant(patientId, { actorType: 'ORGANIZATION', actorId: 'org-cdc', labels: ['V'] });
    const opened = await stack.graphql(cdc, IMMUNIZATIONS, { id: patientId });
    expect(opened.data.patient.immunizations.edges).toHaveLength(2);
    const patient = await stack.token({ sub: 'p', role: 'patient', patient: patientId, scope: 'patient/*.cruds' });
    await stack.graphql(patient, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: named });
  });

  it('exports labels as stored, for every type', async () => {
    const patient = await stack.token({ sub: 'p', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const exported = await exportAs(patient, patientId);
    const byId = new Map<string, Json>(exported.entry.map((e: Json) => [e.resource.id, e.resource]));
    expect(labelsOf(byId.get(reportId))).toEqual(['PSY']);
    expect(labelsOf(byId.get(studyId))).toEqual([]);
    const immunization = exported.entry.find((e: Json) => e.resource.resourceType === 'Immunization' && e.resource.vaccineCode.coding[0].code === '62').resource;
    expect(labelsOf(immunization)).toEqual(['V']);
    const referral = exported.entry.find((e: Json) => e.resource.resourceType === 'ServiceRequest').resource;
    expect(labelsOf(referral)).toEqual(['SEX']);
  });

  it('keeps stored labels through an update that leaves them out, and removes one only by $meta-delete, audited', async () => {
    const a = await system(A);
    const subject = { reference: `Patient/${patientId}` };
    const result = { resourceType: 'Observation', status: 'final', subject, code: { coding: [{ system: LOINC, code: '718-7' }] }, effectiveDateTime: '2026-02-02T08:00:00Z', valueQuantity: { value: 12.1, unit: 'g/dL' } };
    const created = await send('/fhir/Observation', a, { ...result, meta: { security: [{ system: ACT, code: 'HIV' }] } });
    expect(created.status, created.text).toBe(201);
    const id = created.headers.get('location')!.split('/')[1]!;
    const updated = await send(`/fhir/Observation/${id}`, a, { ...result, id, status: 'amended' }, { method: 'PUT' });
    expect(updated.status, updated.text).toBe(200);
    const stored = async () => (await stack.databases.labs.query<{ sensitivity_labels: string[]; status: string }>('SELECT sensitivity_labels, status FROM observation WHERE id = $1', [id]))[0];
    expect(await stored()).toEqual({ sensitivity_labels: ['HIV'], status: 'amended' });
    const OBSERVATION = 'query($id: ID!) { observation(id: $id) { id sensitivityLabels } }';
    expect((await stack.graphql(await clinician(B), OBSERVATION, { id })).data.observation).toBeNull();
    // An update may add a label, never drop one.
    await send(`/fhir/Observation/${id}`, a, { ...result, id, meta: { security: [{ system: ACT, code: 'STD' }] } }, { method: 'PUT' });
    expect((await stored())!.sensitivity_labels).toEqual(['HIV', 'STD']);

    const remove = (token: string, target: string, code = 'HIV') => send(`/fhir/Observation/${target}/$meta-delete`, token,
      { resourceType: 'Parameters', parameter: [{ name: 'meta', valueMeta: { security: [{ system: ACT, code }] } }] });
    // Someone who cannot see it: as an unknown id.
    const [blind, unknown] = [await remove(await system(B), id), await remove(await system(B), crypto.randomUUID())];
    expect(blind.status).toBe(404);
    expect(blind.body.issue.map((i: Json) => i.code)).toEqual(unknown.body.issue.map((i: Json) => i.code));
    expect((await stored())!.sensitivity_labels).toEqual(['HIV', 'STD']);
    // The producer, explicitly.
    const removed = await remove(a, id);
    expect(removed.status, removed.text).toBe(200);
    expect(removed.body).toMatchObject({ resourceType: 'Parameters', parameter: [{ name: 'return', valueMeta: { security: expect.arrayContaining([expect.objectContaining({ code: 'STD' })]) } }] });
    expect((await stored())!.sensitivity_labels).toEqual(['STD']);
    // Shown to the patient and to administrators.
    const patient = await stack.token({ sub: 'p', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const log = await stack.graphql(patient, 'query($id: ID!) { patient(id: $id) { accessLog(first: 50) { edges { node { action actorOrganization { id } labelsRemoved { resourceType recordId labels } } } } } }', { id: patientId });
    expect(log.data.patient.accessLog.edges.map((e: Json) => e.node)).toContainEqual({ action: 'LABELS_REMOVED', actorOrganization: { id: A }, labelsRemoved: [{ resourceType: 'Observation', recordId: id, labels: ['HIV'] }] });
    const admin = await stack.token({ sub: 'admin', role: 'admin' });
    const review = await stack.graphql(admin, '{ labelRemovals(first: 10) { edges { node { patientId labelsRemoved { recordId labels } } } } }');
    expect(review.data.labelRemovals.edges.map((e: Json) => e.node)).toContainEqual({ patientId, labelsRemoved: [{ recordId: id, labels: ['HIV'] }] });
    // Still STD: B's alliance-wide permit names no label.
    expect((await stack.graphql(await clinician(B), OBSERVATION, { id })).data.observation).toBeNull();
    expect((await remove(a, id, 'STD')).status).toBe(200);
    expect((await stack.graphql(await clinician(B), OBSERVATION, { id })).data.observation).toEqual({ id, sensitivityLabels: [] });
  });

  it('labels what arrives unlabelled by the table of sensitive codes, FHIR and HL7 v2 alike, and honours HL7 v2 confidentiality fields', async () => {
    const a = await system(A);
    const subject = { reference: `Patient/${patientId}` };
    const hiv = await send('/fhir/Observation', a, { resourceType: 'Observation', status: 'final', subject, code: { coding: [{ system: LOINC, code: '56888-1' }] }, effectiveDateTime: '2026-02-03T08:00:00Z', valueString: 'Negative' });
    expect(hiv.status, hiv.text).toBe(201);
    const depression = await send('/fhir/Condition', a, { resourceType: 'Condition', subject, code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'F32.1' }] },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, recordedDate: '2026-02-03T08:00:00Z' });
    expect(depression.status, depression.text).toBe(201);
    const labelsIn = async (db: 'labs' | 'encounters', table: string, id: string) =>
      (await stack.databases[db].query<{ sensitivity_labels: string[] }>(`SELECT sensitivity_labels FROM ${table} WHERE id = $1`, [id]))[0]!.sensitivity_labels;
    expect(await labelsIn('labs', 'observation', hiv.headers.get('location')!.split('/')[1]!)).toEqual(['HIV']);
    expect(await labelsIn('encounters', 'condition', depression.headers.get('location')!.split('/')[1]!)).toEqual(['PSY']);

    const card = (await stack.databases.identity.query<{ value: string }>(`SELECT value FROM patient_identifier WHERE patient_id = $1 AND type = 'HC'`, [patientId]))[0]!.value;
    const v2 = (control: string, segments: string) => `MSH|^~\\&|LIS|LAB|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|${control}|P|2.5.1\rPID|1||${card}^^^^HC~${unique('L')}^^^${A}^MR||Lin^Tao||19900102|M\r${segments}`;
    const obr = 'OBR|1|P1|F1|58410-2^CBC panel^LN|||20260301080000|||||||||||||||20260301083000|||F';
    const obx = (code: string, value: string) => `OBX|1|ST|${code}^Test^LN||${value}||||||F|||20260301080000`;
    const post = async (message: string) => {
      const response = await send('/hl7v2', a, message, { contentType: 'x-application/hl7-v2+er7' });
      expect(response.text.split('\r')[1], response.text).toMatch(/^MSA\|AA\|/);
    };
    const latest = async (code: string) => (await stack.databases.labs.query<{ sensitivity_labels: string[] }>(
      'SELECT sensitivity_labels FROM observation WHERE patient_id = $1 AND code = $2 ORDER BY issued DESC NULLS LAST, effective DESC LIMIT 1', [patientId, code]))[0]!.sensitivity_labels;
    await post(v2(unique('C'), `${obr}\r${obx('56888-1', 'Reactive')}`));
    expect(await latest('56888-1')).toEqual(['HIV']);
    // B, under its alliance-wide permit naming no label, does not read it.
    const B_LABS = 'query($id: ID!) { patient(id: $id) { observations(first: 50) { edges { node { code { code } } } } } }';
    const seenByB = await stack.graphql(await clinician(B), B_LABS, { id: patientId });
    expect(seenByB.data.patient.observations.edges.map((e: Json) => e.node.code.code)).not.toContain('56888-1');
    // ORC-28 (table 0177) and ARV-3 (table 0717), where the sender fills them.
    const orc = ['ORC', 'RE', 'P2', 'F2', ...Array<string>(24).fill(''), 'PSY^psychiatric patient^HL70177'].join('|'); // ORC-28
    await post(v2(unique('C'), `${orc}\r${obr}\r${obx('2345-7', '5.4')}`));
    expect(await latest('2345-7')).toEqual(['PSY']);
    await post(v2(unique('C'), `ARV|1|A|STD^sexually transmitted disease^HL70717\r${obr}\r${obx('6690-2', '7.1')}`));
    expect(await latest('6690-2')).toEqual(['STD']);
  });
});
