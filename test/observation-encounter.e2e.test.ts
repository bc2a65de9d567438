/**
 * Issue 27: EHR exports such as Synthea name the encounter on every
 * Observation and DiagnosticReport. The labs subgraph keeps it (labs
 * migration 007): an Encounter of the same transaction (the encounters
 * subgraph's entry, whose record id the coordinator puts in:
 * Mapped.foreignLinks) or an existing one (`Encounter/<id>`). Through the
 * gateway over HTTP on every backend: published both ways for a laboratory
 * result, a clinical observation (vital signs) and a lab report; read back
 * from `$everything` element by element and from GraphQL; the field under
 * the encounters consent category (an organisation permitted labs and
 * observations but not encounters gets the records without their
 * encounter); and the references that cannot be kept refused by name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { newFullUrl as urn, postEntry as entry, transactionBundle as transaction } from './support/publish.js';
import { encounterResource as visit, encountersOf as encountersIn, expectAnotherPatientsEncounterRefused, expectEncounterLinksUnderConsent, recordTypeCalls } from './support/record-consent.js';
import { lostElements } from './support/round-trip.js';

type Json = Record<string, any>;
const ORG = 'org-county-north';
const STRANGER = 'org-provincial';
const V2_0074 = 'http://terminology.hl7.org/CodeSystem/v2-0074';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const UCUM = 'http://unitsofmeasure.org';


const encounterResource = (subject: string, start: string) => visit(subject, start, ORG);
const labResult = (subject: string, encounter: string) => ({
  resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
  code: { coding: [{ system: SYSTEM.loinc, code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }] }, subject: { reference: subject }, encounter: { reference: encounter },
  effectiveDateTime: '2026-02-03T09:10:00+02:00', issued: '2026-02-03T11:00:00+02:00', performer: [{ reference: `Organization/${ORG}` }],
  valueQuantity: { value: 13.1, unit: 'g/dL', system: UCUM, code: 'g/dL' },
});
const vitalSign = (subject: string, encounter: string) => ({
  resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: CATEGORY, code: 'vital-signs', display: 'Vital Signs' }] }],
  code: { coding: [{ system: SYSTEM.loinc, code: '8867-4', display: 'Heart rate' }] }, subject: { reference: subject }, encounter: { reference: encounter },
  effectiveDateTime: '2026-02-03T09:05:00+02:00', valueQuantity: { value: 72, unit: '/min', system: UCUM, code: '/min' },
});
const labReport = (subject: string, encounter: string, results: string[]) => ({
  resourceType: 'DiagnosticReport', status: 'final', category: [{ coding: [{ system: V2_0074, code: 'LAB' }] }],
  code: { coding: [{ system: SYSTEM.loinc, code: '58410-2', display: 'CBC panel - Blood by Automated count' }] }, subject: { reference: subject }, encounter: { reference: encounter },
  effectiveDateTime: '2026-02-03T09:10:00+02:00', issued: '2026-02-03T11:00:00+02:00', performer: [{ reference: `Organization/${ORG}` }],
  result: results.map((reference) => ({ reference })),
});

const LABS = `query Labs($id: ID!) { patient(id: $id) {
  observations(first: 50) { edges { node { id encounter { id } } } }
  diagnosticReports(first: 50) { edges { node { id encounter { id } } } }
  clinicalObservations(first: 50) { edges { node { id encounter { id } } } } } }`;
const LISTS = ['observations', 'diagnosticReports', 'clinicalObservations'] as const;

describe.each(BACKENDS)('The encounter of lab results, clinical observations and reports on %s', (backend) => {
  let stack: TestStack;
  const calls = recordTypeCalls(() => stack, { id: () => patientId, token: () => patientToken });
  const { send, system, clinician, everything } = calls;
  const encountersOf = (data: Json) => encountersIn(data, LISTS);

  // Published in beforeAll: a new patient with a visit whose records name it (same transaction), and later records naming it as Encounter/<id>.
  let patientId = '';
  let encounterId = '';
  let patientToken = '';
  const sent: { bundle: Json; locations: Map<string, string> }[] = [];
  const expected = new Map<string, string>(); // record location → its encounter id

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 1 });
  });
  afterAll(async () => stack?.close());

  it('keeps an Encounter of the same transaction and an existing one, on a lab result, a clinical observation and a lab report', async () => {
    const token = await system(ORG);
    const patient = urn();
    const encounter = urn();
    const lab = urn();
    const first = transaction(
      entry(patient, {
        resourceType: 'Patient', identifier: [{ system: SYSTEM.mrnPrefix + ORG, value: `MRN-ENC-${crypto.randomUUID().slice(0, 8)}` }],
        name: [{ family: 'Ndlovu', given: ['Sipho'] }], gender: 'male', birthDate: '1961-05-04',
      }),
      entry(encounter, encounterResource(patient, '2026-02-03T09:00:00+02:00')),
      entry(lab, labResult(patient, encounter)),
      entry(urn(), vitalSign(patient, encounter)),
      entry(urn(), labReport(patient, encounter, [lab])),
    );
    const answer = await send('/fhir', token, first);
    expect(answer.status, answer.text.slice(0, 2000)).toBe(200);
    expect(answer.body.entry.map((e: Json) => e.response.status)).toEqual(Array(5).fill('201 Created'));
    const locations = new Map<string, string>(first.entry.map((e: Json, n: number) => [e.fullUrl, answer.body.entry[n].response.location.split('/_history')[0]]));
    patientId = locations.get(patient)!.split('/')[1]!;
    encounterId = locations.get(encounter)!.split('/')[1]!;
    sent.push({ bundle: first, locations });
    for (const n of [2, 3, 4]) expected.set(locations.get(first.entry[n]!.fullUrl)!, encounterId);

    // Later results of the same visit, naming the stored Encounter.
    const lab2 = urn();
    const existing = `Encounter/${encounterId}`;
    const second = transaction(
      entry(lab2, labResult(`Patient/${patientId}`, existing)),
      entry(urn(), vitalSign(`Patient/${patientId}`, existing)),
      entry(urn(), labReport(`Patient/${patientId}`, existing, [lab2])),
    );
    const again = await send('/fhir', token, second);
    expect(again.status, again.text.slice(0, 2000)).toBe(200);
    const locations2 = new Map<string, string>(second.entry.map((e: Json, n: number) => [e.fullUrl, again.body.entry[n].response.location.split('/_history')[0]]));
    sent.push({ bundle: second, locations: locations2 });
    for (const location of locations2.values()) expected.set(location, encounterId);
    expect(expected.size).toBe(6);
    patientToken = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId, scope: 'patient/*.cruds' });
  });

  it('gives the encounter back from $everything, element by element as sent', async () => {
    const exported = await everything(patientToken, patientId);
    const byLocation = new Map(exported.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
    expect(byLocation.has(`Encounter/${encounterId}`)).toBe(true);
    for (const [location, id] of expected) expect(byLocation.get(location)?.encounter, location).toEqual({ reference: `Encounter/${id}` });
    const lost: string[] = [];
    const resolve = (ref: string) => sent.map((s) => s.locations.get(ref)).find(Boolean) ?? (ref.startsWith('Patient/') || ref.startsWith('Encounter/') ? ref : undefined);
    for (const { bundle, locations } of sent) {
      for (const e of bundle.entry as Json[]) {
        const location = locations.get(e.fullUrl)!;
        const back = byLocation.get(location);
        if (!back) lost.push(`${location}: not in $everything`);
        else lost.push(...lostElements(e.resource, back, resolve).map((path) => `${location} ${path}`));
      }
    }
    expect(lost).toEqual([]);
  });

  it('reads the encounter through GraphQL, and withholds it (CONSENT_DENIED) from an organisation permitted labs and observations but not encounters', async () => {
    const own = await stack.graphql(patientToken, LABS, { id: patientId });
    expect(own.errors).toBeUndefined();
    const all = encountersOf(own.data);
    const seen = new Map(LISTS.flatMap((list) => Object.entries(all[list]!).map(([id, enc]) => [id, enc])));
    expect([...expected.keys()].map((location) => seen.get(location.split('/')[1]!))).toEqual(Array(6).fill(encounterId));

    // Without a permit: none of the records.
    const none = encountersOf((await stack.graphql(await clinician(STRANGER), LABS, { id: patientId })).data);
    expect(LISTS.map((list) => Object.keys(none[list]!).length)).toEqual([0, 0, 0]);

    await expectEncounterLinksUnderConsent({
      stack, calls, query: LABS, lists: LISTS, patientId, encounterId, stranger: STRANGER,
      recordCategories: ['LABS', 'OBSERVATIONS'], linkCategories: ['ENCOUNTERS'], linked: [...expected.keys()], counts: [2, 2, 2],
    });
  });

  it('refuses, by element, an encounter that cannot be kept: another patient\'s, not an Encounter, an entry of a batch, on a radiology report', async () => {
    await expectAnotherPatientsEncounterRefused({ calls, org: ORG, patientId, record: labResult });

    const token = await system(ORG);
    const condition = urn();
    const notEncounter = await send('/fhir', token, transaction(
      entry(condition, {
        resourceType: 'Condition', code: { coding: [{ system: SYSTEM.icd10, code: 'I10', display: 'Essential (primary) hypertension' }] }, subject: { reference: `Patient/${patientId}` },
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, recordedDate: '2026-02-03T09:30:00+02:00',
      }),
      entry(urn(), vitalSign(`Patient/${patientId}`, condition)),
    ));
    expect(notEncounter.status, notEncounter.text).toBe(400);
    expect(notEncounter.body.issue.some((i: Json) => /encounter/.test(i.expression?.[0] ?? '') && /Encounter/.test(i.diagnostics ?? ''))).toBe(true);

    const encounter = urn();
    const batch = await send('/fhir', token, {
      resourceType: 'Bundle', type: 'batch', entry: [
        entry(encounter, encounterResource(`Patient/${patientId}`, '2026-02-05T09:00:00+02:00')),
        entry(urn(), labResult(`Patient/${patientId}`, encounter)),
      ],
    });
    expect(batch.status, batch.text).toBe(200);
    expect(batch.body.entry[0].response.status).toBe('201 Created');
    expect(batch.body.entry[1].response.status).toMatch(/^400/);

    const radiology = await send('/fhir/DiagnosticReport', token, {
      resourceType: 'DiagnosticReport', status: 'final', category: [{ coding: [{ system: V2_0074, code: 'RAD' }] }],
      code: { coding: [{ system: SYSTEM.loinc, code: '18748-4', display: 'Diagnostic imaging study' }] }, subject: { reference: `Patient/${patientId}` },
      encounter: { reference: `Encounter/${encounterId}` }, effectiveDateTime: '2026-02-03T12:00:00+02:00', conclusion: 'No acute findings.',
      imagingStudy: [{ reference: `ImagingStudy/${crypto.randomUUID()}` }],
    });
    expect(radiology.status, radiology.text).toBeGreaterThanOrEqual(400);
    expect(radiology.status, radiology.text).toBeLessThan(500);
    expect(radiology.body.issue.some((i: Json) => /encounter$/.test(i.expression?.[0] ?? '') && /radiology report/.test(i.diagnostics ?? ''))).toBe(true);

    // Nothing of the refused transactions was written: still the six records.
    const after = encountersOf((await stack.graphql(patientToken, LABS, { id: patientId })).data);
    expect(LISTS.map((list) => Object.keys(after[list]!).length)).toEqual([2, 2, 2]);
  });
});
