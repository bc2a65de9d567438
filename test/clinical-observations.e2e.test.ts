/**
 * Clinical observations (issue 27): Observations of every category but
 * laboratory — clinic vital signs (a blood pressure panel with its
 * components, heart rate, weight, height, a BMI derived from them), social
 * history (smoking status in SNOMED CT), a survey score, exam findings, and
 * values of every FHIR type — published by an institution and read back
 * through the gateway over HTTP on every backend: `$everything` element by
 * element as sent (valid FHIR R4), FHIR search by category, code, date and
 * patient, GraphQL, the timeline (CLINICAL_OBSERVATION), consent (the
 * `observations` category, granular scopes), and the refusals, each naming
 * the element and writing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { recordTypeCalls } from './support/record-consent.js';
import type { FhirBundle } from './support/publish.js';

type Json = Record<string, any>;
const LOINC = SYSTEM.loinc;
const SNOMED = SYSTEM.snomed;
const UCUM = 'http://unitsofmeasure.org';
const CATEGORY = SYSTEM.observationCategory;
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const ORG = 'org-thc-baisha';
const OTHER = 'org-county-south';
const NPI = 'http://hl7.org/fhir/sid/us-npi';

const category = (code: string, display: string) => [{ coding: [{ system: CATEGORY, code, display }] }];
const quantity = (value: number, unit: string, code = unit) => ({ value, unit, system: UCUM, code });

/** The observations of one clinic visit, as the clinic's system sends them (every element the product keeps). Keys are entry names. */
function visit(patient: string, tag: string): Record<string, Json> {
  const id = (name: string) => [{ system: `https://${ORG}.example.org/obs`, value: `${tag}-${name}` }];
  const base = (name: string, cat: string, display: string, code: Json, effective = '2026-05-04T09:15:00+08:00') => ({
    resourceType: 'Observation', identifier: id(name), status: 'final', category: category(cat, display), code, subject: { reference: patient }, effectiveDateTime: effective,
  });
  return {
    bp: {
      ...base('bp', 'vital-signs', 'Vital Signs', { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel with all children optional' }], text: 'Blood pressure' }),
      issued: '2026-05-04T09:20:00Z',
      performer: [
        { reference: `Organization/${ORG}` },
        { identifier: { system: NPI, value: '1234567893' }, display: 'Dr. Li Wen' },
        { reference: 'Location/triage-2', display: 'Triage room 2' },
      ],
      bodySite: { coding: [{ system: SNOMED, code: '368209003', display: 'Right arm' }] },
      method: { coding: [{ system: SNOMED, code: '37931006', display: 'Auscultation' }] },
      interpretation: [{ coding: [{ system: INTERPRETATION, code: 'H', display: 'High' }], text: 'Stage 1 hypertension' }],
      note: [{ text: 'Seated, after five minutes of rest' }, { text: 'Second reading' }],
      component: [
        { code: { coding: [{ system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }] }, valueQuantity: quantity(142, 'mm[Hg]'),
          interpretation: [{ coding: [{ system: INTERPRETATION, code: 'H' }] }] },
        { code: { coding: [{ system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' }] }, valueQuantity: quantity(91, 'mm[Hg]') },
      ],
    },
    heart: { ...base('heart', 'vital-signs', 'Vital Signs', { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] }), valueQuantity: quantity(78, '/min') },
    weight: { ...base('weight', 'vital-signs', 'Vital Signs', { coding: [{ system: LOINC, code: '29463-7', display: 'Body weight' }] }), valueQuantity: quantity(71.5, 'kg') },
    height: { ...base('height', 'vital-signs', 'Vital Signs', { coding: [{ system: LOINC, code: '8302-2', display: 'Body height' }] }), valueQuantity: quantity(165, 'cm') },
    bmi: {
      ...base('bmi', 'vital-signs', 'Vital Signs', { coding: [{ system: LOINC, code: '39156-5', display: 'Body mass index (BMI) [Ratio]' }] }),
      valueQuantity: quantity(26.3, 'kg/m2', 'kg/m2'), derivedFrom: [{ reference: 'WEIGHT' }, { reference: 'HEIGHT' }],
    },
    panel: {
      ...base('panel', 'vital-signs', 'Vital Signs', { coding: [{ system: LOINC, code: '85353-1', display: 'Vital signs, weight, height, head circumference, oxygen saturation and BMI panel' }] }),
      hasMember: [{ reference: 'BP' }, { reference: 'HEART' }, { reference: 'WEIGHT' }],
    },
    smoking: {
      ...base('smoking', 'social-history', 'Social History', { coding: [{ system: LOINC, code: '72166-2', display: 'Tobacco smoking status' }] }),
      valueCodeableConcept: { coding: [{ system: SNOMED, code: '449868002', display: 'Smokes tobacco daily' }, { system: `https://${ORG}.example.org/smoking`, code: 'D' }], text: 'Daily smoker' },
    },
    phq: { ...base('phq', 'survey', 'Survey', { coding: [{ system: LOINC, code: '44261-6', display: 'PHQ-9 total score' }] }), valueInteger: 7 },
    edema: {
      ...base('edema', 'exam', 'Exam', { coding: [{ system: `https://${ORG}.example.org/exam`, code: 'EDEMA', display: 'Ankle oedema' }], text: 'Ankle oedema' }),
      valueBoolean: false,
    },
    spo2: { ...base('spo2', 'vital-signs', 'Vital Signs', { coding: [{ system: LOINC, code: '59408-5', display: 'Oxygen saturation by pulse oximetry' }] }),
      valueQuantity: { comparator: '>', ...quantity(97, '%') } },
    range: { ...base('range', 'activity', 'Activity', { coding: [{ system: LOINC, code: '55423-8', display: 'Number of steps' }] }),
      valueRange: { low: quantity(4000, '/d'), high: quantity(6000, '/d') } },
    ratio: { ...base('ratio', 'exam', 'Exam', { text: 'Visual acuity' }), valueRatio: { numerator: { value: 6 }, denominator: { value: 9 } } },
    lmp: { ...base('lmp', 'exam', 'Exam', { coding: [{ system: LOINC, code: '8665-2', display: 'Last menstrual period start date' }] }), valueDateTime: '2026-04-20' },
    sleep: {
      ...base('sleep', 'activity', 'Activity', { coding: [{ system: LOINC, code: '93832-4', display: 'Sleep duration' }] }),
      effectiveDateTime: undefined, effectivePeriod: { start: '2026-05-03T23:00:00+08:00', end: '2026-05-04T06:30:00+08:00' },
      valuePeriod: { start: '2026-05-03T23:10:00+08:00', end: '2026-05-04T06:20:00+08:00' },
    },
    diet: { ...base('diet', 'therapy', 'Therapy', { text: 'Diet advice' }), valueString: 'Low-salt diet discussed', method: { text: 'Counselling' } },
    absent: { ...base('absent', 'vital-signs', 'Vital Signs', { coding: [{ system: LOINC, code: '8310-5', display: 'Body temperature' }] }),
      dataAbsentReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-performed' }] } },
  };
}

/** A transaction of a new patient and one visit's observations (fullUrls for the links). */
function transaction(tag: string): { bundle: Json; names: string[]; sent: Record<string, Json> } {
  const patientUrl = `urn:uuid:${crypto.randomUUID()}`;
  const observations = visit(patientUrl, tag);
  const urls = Object.fromEntries(Object.keys(observations).map((name) => [name, `urn:uuid:${crypto.randomUUID()}`]));
  const relink = (list: Json[] | undefined) => list?.map((ref) => ({ reference: urls[ref.reference.toLowerCase()] }));
  for (const o of Object.values(observations)) {
    if (o.hasMember) o.hasMember = relink(o.hasMember);
    if (o.derivedFrom) o.derivedFrom = relink(o.derivedFrom);
    for (const key of Object.keys(o)) if (o[key] === undefined) delete o[key];
  }
  const names = Object.keys(observations);
  return {
    names, sent: observations,
    bundle: {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient' }, resource: {
          resourceType: 'Patient', name: [{ family: 'Zhou', given: ['Lan'] }], gender: 'female', birthDate: '1971-08-09',
          identifier: [{ system: SYSTEM.healthCard, value: `HC-${tag}` }, { system: SYSTEM.mrnPrefix + ORG, value: `MR-${tag}` }],
        } },
        ...names.map((name) => ({ fullUrl: urls[name], request: { method: 'POST', url: 'Observation' }, resource: observations[name] })),
      ],
    },
  };
}

describe.each(BACKENDS)('clinical observations on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  const { send, system, get } = recordTypeCalls(() => stack, { id: () => patientId, token: () => patientToken });
  const observationsOf = (bundle: FhirBundle) => bundle.entry.filter((e) => e.resource.resourceType === 'Observation').map((e) => e.resource);
  let patientId: string;
  let ids: Record<string, string>;
  let sent: Record<string, Json>;
  let patientToken: string;

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 2 });
    base = stack.url.replace(/\/graphql$/, '');
    const tag = crypto.randomUUID();
    const t = transaction(tag);
    sent = t.sent;
    const answer = await send('/fhir', await system(ORG), t.bundle);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body.entry.every((e: Json) => e.response.status === '201 Created')).toBe(true);
    const locations = answer.body.entry.map((e: Json) => String(e.response.location).split('/')[1]!);
    patientId = locations[0];
    ids = Object.fromEntries(t.names.map((name, n) => [name, locations[n + 1]]));
    patientToken = await stack.token({ sub: 'patient-zhou', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
  }, 600_000);
  afterAll(async () => stack?.close());

  it('exports every observation in $everything element by element as sent (valid FHIR R4), links pointing at the stored records', async () => {
    const response = await get(patientToken, `/fhir/Patient/${patientId}/$everything`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(schemaErrors(response.body)).toEqual([]);
    const back = observationsOf(response.body as FhirBundle);
    expect(back.map((o) => o.id).sort()).toEqual(Object.values(ids).sort());
    const instant = (value: string) => new Date(value).toISOString();
    for (const [name, resource] of Object.entries(sent)) {
      const exported = back.find((o) => o.id === ids[name])!;
      const { identifier: _identifier, ...clinical } = resource;
      const expected: Json = {
        ...clinical, id: ids[name], meta: exported.meta, subject: { reference: `Patient/${patientId}` },
        // Instants come back normalised to UTC (the same instant); the producer leads the performers.
        ...(clinical.effectiveDateTime ? { effectiveDateTime: instant(clinical.effectiveDateTime) } : {}),
        ...(clinical.issued ? { issued: instant(clinical.issued) } : {}),
        performer: [{ reference: `Organization/${ORG}`, display: expect.any(String) }, ...(clinical.performer ?? []).slice(1)],
      };
      if (clinical.hasMember) expected.hasMember = ['bp', 'heart', 'weight'].map((n) => ({ reference: `Observation/${ids[n]}` }));
      if (clinical.derivedFrom) expected.derivedFrom = ['weight', 'height'].map((n) => ({ reference: `Observation/${ids[n]}` }));
      if (expected.meta === undefined) delete expected.meta;
      expect(exported, name).toEqual(expected);
    }
  });

  it('searches observations by category, code, date and patient; granular scopes reach only their categories', async () => {
    const token = await stack.token({ sub: 'dr-baisha', role: 'clinician', org: ORG, scope: 'user/*.rs' });
    const idsOf = (bundle: Json) => (bundle.entry ?? []).filter((e: Json) => e.search?.mode === 'match').map((e: Json) => e.resource.id).sort();
    const vital = await get(token, `/fhir/Observation?patient=${patientId}&category=vital-signs&_count=100`);
    expect(vital.status).toBe(200);
    expect(idsOf(vital.body)).toEqual(['bp', 'heart', 'weight', 'height', 'bmi', 'panel', 'spo2', 'absent'].map((n) => ids[n]).sort());
    const social = await get(token, `/fhir/Observation?patient=${patientId}&category=${encodeURIComponent(`${CATEGORY}|social-history`)}`);
    expect(idsOf(social.body)).toEqual([ids.smoking]);
    const systolic = await get(token, `/fhir/Observation?patient=${patientId}&code=${encodeURIComponent(`${LOINC}|85354-9`)}`);
    expect(idsOf(systolic.body)).toEqual([ids.bp]);
    const local = await get(token, `/fhir/Observation?patient=${patientId}&code=${encodeURIComponent(`https://${ORG}.example.org/exam|EDEMA`)}`);
    expect(idsOf(local.body)).toEqual([ids.edema]);
    const dated = await get(token, `/fhir/Observation?patient=${patientId}&date=ge2026-05-04&category=survey`);
    expect(idsOf(dated.body)).toEqual([ids.phq]);
    const none = await get(token, `/fhir/Observation?patient=${patientId}&date=lt2026-05-01&category=survey`);
    expect(idsOf(none.body)).toEqual([]);
    // Read by id.
    const read = await get(token, `/fhir/Observation/${ids.smoking}`);
    expect(read.status).toBe(200);
    expect(read.body.valueCodeableConcept).toEqual(sent.smoking!.valueCodeableConcept);
    // An app allowed lab results only sees none of them; one allowed social history sees only that.
    const labsOnly = await stack.appToken({ sub: 'app-labs', patient: patientId, client_id: 'labs-app', scope: 'patient/Observation.rs?category=laboratory' });
    expect(idsOf((await get(labsOnly, `/fhir/Observation?patient=${patientId}`)).body)).toEqual([]);
    const socialOnly = await stack.appToken({ sub: 'app-social', patient: patientId, client_id: 'social-app', scope: 'patient/Observation.rs?category=social-history' });
    expect(idsOf((await get(socialOnly, `/fhir/Observation?patient=${patientId}`)).body)).toEqual([ids.smoking]);
    const vitalOnly = await stack.appToken({ sub: 'app-vital', patient: patientId, client_id: 'vital-app', scope: 'patient/Observation.rs?category=vital-signs' });
    expect(idsOf((await get(vitalOnly, `/fhir/Observation?patient=${patientId}&_count=100`)).body)).toEqual(idsOf(vital.body));
    // Through GraphQL too: the vital-signs app lists and reads the vital signs only, not the social history of the same consent category.
    const listed = await stack.graphql(vitalOnly, 'query($id: ID!) { patient(id: $id) { clinicalObservations(first: 100) { edges { node { id } } } } }', { id: patientId });
    expect(listed.errors).toBeUndefined();
    expect(listed.data.patient.clinicalObservations.edges.map((e: Json) => e.node.id).sort()).toEqual(idsOf(vital.body));
    const byId = await stack.graphql(vitalOnly, 'query($a: ID!, $b: ID!) { smoking: clinicalObservation(id: $a) { id } bp: clinicalObservation(id: $b) { id } }', { a: ids.smoking, b: ids.bp });
    expect(byId.data).toEqual({ smoking: null, bp: { id: ids.bp } });
    expect((await get(socialOnly, `/fhir/Observation/${ids.bp}`)).status).toBe(404);
  });

  it('reads them through GraphQL and on the timeline, filtered by code and category; another organisation without a permit sees none', async () => {
    const QUERY = `query($id: ID!, $code: String, $category: String) { patient(id: $id) { clinicalObservations(first: 100, code: $code, category: $category) { edges { node {
      id status code { coding { system code display } text } categories { coding { code } } value { quantity { value comparator unit system code } codeableConcept { coding { system code } text } boolean integer }
      components { code { coding { code } } value { quantity { value unit } } } bodySite { coding { code } } performers { identifier { system value } reference display }
      hasMember { id } derivedFrom { id } effectiveDateTime organization { id } } } } } }`;
    const bp = await stack.graphql(patientToken, QUERY, { id: patientId, code: '85354-9' });
    expect(bp.errors).toBeUndefined();
    const [node] = bp.data.patient.clinicalObservations.edges.map((e: Json) => e.node);
    expect(node).toMatchObject({
      id: ids.bp, status: 'final', categories: [{ coding: [{ code: 'vital-signs' }] }], value: null,
      components: [{ code: { coding: [{ code: '8480-6' }] }, value: { quantity: { value: 142, unit: 'mm[Hg]' } } }, { code: { coding: [{ code: '8462-4' }] }, value: { quantity: { value: 91, unit: 'mm[Hg]' } } }],
      bodySite: { coding: [{ code: '368209003' }] }, organization: { id: ORG },
      performers: [{ identifier: { system: NPI, value: '1234567893' }, reference: null, display: 'Dr. Li Wen' }, { reference: 'Location/triage-2', display: 'Triage room 2', identifier: null }],
    });
    const social = await stack.graphql(patientToken, QUERY, { id: patientId, category: 'social-history' });
    expect(social.data.patient.clinicalObservations.edges.map((e: Json) => e.node.value.codeableConcept.coding[0].code)).toEqual(['449868002']);
    const panel = (await stack.graphql(patientToken, QUERY, { id: patientId, code: '85353-1' })).data.patient.clinicalObservations.edges[0].node;
    expect(panel.hasMember.map((m: Json) => m.id)).toEqual([ids.bp, ids.heart, ids.weight]);

    const TIMELINE = `query($id: ID!) { patient(id: $id) { timeline(first: 100, kinds: [CLINICAL_OBSERVATION]) { edges { kind occurredAt node { __typename ... on ClinicalObservation { id } } } } } }`;
    const timeline = await stack.graphql(patientToken, TIMELINE, { id: patientId });
    expect(timeline.errors).toBeUndefined();
    const edges = timeline.data.patient.timeline.edges;
    expect(edges.map((e: Json) => e.node.id).sort()).toEqual(Object.values(ids).sort());
    expect(edges.every((e: Json) => e.kind === 'CLINICAL_OBSERVATION' && e.node.__typename === 'ClinicalObservation')).toBe(true);
    expect(edges.find((e: Json) => e.node.id === ids.sleep).occurredAt).toBe(new Date('2026-05-03T23:00:00+08:00').toISOString());

    const stranger = await stack.token({ sub: 'dr-south', role: 'clinician', org: OTHER, scope: 'user/*.rs' });
    const theirs = await stack.graphql(stranger, QUERY, { id: patientId });
    expect(theirs.data?.patient?.clinicalObservations?.edges ?? []).toEqual([]);
  });

  it('refuses what it cannot keep or check, naming the element, and writes nothing for it', async () => {
    const patient = `Patient/${patientId}`;
    const good = visit(patient, crypto.randomUUID());
    const count = async () => (await stack.databases.labs.query<{ n: number }>('SELECT count(*)::int AS n FROM clinical_observation'))[0]!.n;
    const before = await count();
    const post = (resource: Json) => ({ request: { method: 'POST', url: 'Observation' }, resource });
    const batch = await send('/fhir', await system(ORG), {
      resourceType: 'Bundle', type: 'batch', entry: [
        post(good.heart!),
        post({ ...good.heart, identifier: undefined, category: [{ coding: [{ system: CATEGORY, code: 'vital-signs' }, { system: CATEGORY, code: 'laboratory' }] }] }),
        post({ ...good.heart, identifier: undefined, category: category('nonsense', 'Nonsense') }),
        post({ ...good.heart, identifier: undefined, valueString: 'also' }),
        post({ ...good.heart, identifier: undefined, device: { reference: 'Device/9c3e5a4e-32a3-4cf5-9d55-4bd37a0d9a55' } }),
        post({ ...good.heart, identifier: undefined, performer: [{ reference: `Organization/${OTHER}` }] }),
        post({ ...good.heart, identifier: undefined, code: { coding: [{ system: LOINC, code: '8867-5' }] } }),
        post({ ...good.heart, identifier: undefined, hasMember: [{ reference: `urn:uuid:${crypto.randomUUID()}` }] }),
        post({ ...good.heart, identifier: undefined, valueQuantity: { value: 78, comparator: '~' } }),
      ],
    });
    expect(batch.status, batch.text).toBe(200);
    const answers = batch.body.entry.map((e: Json) => [e.response.status, e.response.outcome?.issue?.[0]?.expression?.[0] ?? null]);
    expect(answers).toEqual([
      ['201 Created', null],
      ['422 Unprocessable Entity', 'Bundle.entry[1].resource.category'],
      ['400 Bad Request', 'Bundle.entry[2].resource.category'],
      ['400 Bad Request', 'Bundle.entry[3].resource.valueString'],
      ['422 Unprocessable Entity', 'Bundle.entry[4].resource.device'],
      ['403 Forbidden', 'Bundle.entry[5].resource.performer[0]'],
      ['400 Bad Request', 'Bundle.entry[6].resource.code.coding[0].code'],
      ['400 Bad Request', 'Bundle.entry[7].resource.hasMember[0]'],
      ['400 Bad Request', 'Bundle.entry[8].resource.valueQuantity.comparator'],
    ]);
    expect(await count()).toBe(before + 1);
    // A system allowed lab results only publishes no vital signs.
    const labsOnly = await send('/fhir/Observation', await system(ORG, 'system/Observation.cru?category=laboratory'), { ...good.weight, identifier: undefined });
    expect(labsOnly.status, labsOnly.text).toBe(403);
    expect(await count()).toBe(before + 1);
  });

  it('updates an observation by its organisation (PUT), and a retry with the same identifier matches', async () => {
    const token = await system(ORG);
    const updated = { ...sent.heart, id: ids.heart, subject: { reference: `Patient/${patientId}` }, valueQuantity: quantity(74, '/min'), status: 'amended' };
    const put = await send(`/fhir/Observation/${ids.heart}`, token, updated, { method: 'PUT' });
    expect(put.status, put.text).toBe(200);
    const read = await get(patientToken, `/fhir/Observation/${ids.heart}`);
    expect(read.body).toMatchObject({ status: 'amended', valueQuantity: quantity(74, '/min') });
    const identifier = sent.weight!.identifier[0];
    const again = await send('/fhir/Observation', token, { ...sent.weight, subject: { reference: `Patient/${patientId}` } }, { headers: { 'if-none-exist': `identifier=${identifier.system}|${identifier.value}` } });
    expect(again.status, again.text).toBe(200);
    expect(again.headers.get('location')).toBe(`Observation/${ids.weight}`);
    // The other organisation cannot update it (as if it did not exist).
    const takeover = await send(`/fhir/Observation/${ids.heart}`, await system(OTHER), { ...updated }, { method: 'PUT' });
    expect(takeover.status, takeover.text).toBe(404);
  });
});
