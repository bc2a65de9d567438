/**
 * Issue 27: EHR exports such as Synthea name the encounter on every
 * Immunization, CarePlan, CareTeam and ImagingStudy, and write a display
 * beside a Procedure's reasonReference. public-health and imaging keep the
 * encounter (their migrations 008) as labs does (encounter-link.ts: an
 * Encounter of the same transaction through the coordinator, or an existing
 * `Encounter/<id>`); encounters keeps the display (migration 015). Through
 * the gateway over HTTP on every backend: nothing new is disclosed. An
 * organisation permitted immunisations, care plans, imaging and procedures
 * but not encounters or diagnoses gets the records without their encounter
 * and without the diagnosis's display (GraphQL: null with CONSENT_DENIED;
 * `$everything`: no link, no display); with those categories permitted too,
 * it gets them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { newFullUrl as urn, postEntry as entry, transactionBundle as transaction } from './support/publish.js';
import { encounterResource as visit, encountersOf, expectAnotherPatientsEncounterRefused, expectEncounterLinksUnderConsent, recordTypeCalls } from './support/record-consent.js';

type Json = Record<string, any>;
const ORG = 'org-county-north';
const STRANGER = 'org-provincial';

const encounterResource = (subject: string, start: string) => visit(subject, start, ORG, {
  type: [{ coding: [{ system: SYSTEM.snomed, code: '185349003', display: 'Encounter for check up (procedure)' }] }],
});
const immunization = (subject: string, encounter: string) => ({
  resourceType: 'Immunization', status: 'completed', vaccineCode: { coding: [{ system: SYSTEM.cvx, code: '140', display: 'Influenza, seasonal, injectable, preservative free' }] },
  patient: { reference: subject }, encounter: { reference: encounter }, occurrenceDateTime: '2026-02-03T09:30:00+02:00', primarySource: true,
  location: { reference: 'Location?identifier=https://north.example.org/location|VAX-1', display: 'Vaccination room' },
});

const QUERY = `query Links($id: ID!) { patient(id: $id) {
  immunizations(first: 50) { edges { node { id encounter { id } } } }
  carePlans(first: 50) { edges { node { id encounter { id } } } }
  careTeams(first: 50) { edges { node { id encounter { id } } } }
  imagingStudies(first: 50) { edges { node { id encounter { id } } } }
  procedures(first: 50) { edges { node { id reasonReferenceDisplay } } } } }`;
const LISTS = ['immunizations', 'carePlans', 'careTeams', 'imagingStudies'] as const;

describe.each(BACKENDS)('Encounter links of immunisations, care plans and teams, imaging studies, and a procedure\'s diagnosis display, on %s', (backend) => {
  let stack: TestStack;
  const calls = recordTypeCalls(() => stack, { id: () => patientId, token: () => patientToken });
  const { send, system, everything } = calls;

  let patientId = '';
  let encounterId = '';
  let patientToken = '';
  /** Location (Type/id) of each record naming the encounter. */
  const linked: string[] = [];
  let procedureLocation = '';

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 1 });
  });
  afterAll(async () => stack?.close());

  it('keeps the encounter of an immunisation, a care plan, a care team and an imaging study (same transaction or existing), and a procedure\'s diagnosis display', async () => {
    const token = await system(ORG);
    const patient = urn();
    const encounter = urn();
    const condition = urn();
    const team = urn();
    const uid = `1.2.826.0.1.3680043.8.498.${Date.now()}${backend.length}`;
    const first = transaction(
      entry(patient, {
        resourceType: 'Patient', identifier: [{ system: SYSTEM.mrnPrefix + ORG, value: `MRN-SEL-${crypto.randomUUID().slice(0, 8)}` }],
        name: [{ family: 'Zulu', given: ['Ayanda'] }], gender: 'female', birthDate: '1972-03-04',
      }),
      entry(encounter, encounterResource(patient, '2026-02-03T09:00:00+02:00')),
      entry(condition, {
        resourceType: 'Condition', code: { coding: [{ system: SYSTEM.icd10, code: 'I10', display: 'Essential (primary) hypertension' }] }, subject: { reference: patient },
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, encounter: { reference: encounter }, recordedDate: '2026-02-03T09:20:00+02:00',
      }),
      entry(urn(), immunization(patient, encounter)),
      entry(team, {
        resourceType: 'CareTeam', status: 'active', subject: { reference: patient }, encounter: { reference: encounter }, period: { start: '2026-02-03T09:40:00+02:00' },
        participant: [{ role: [{ coding: [{ system: SYSTEM.snomed, code: '224535009', display: 'Registered nurse' }] }], member: { reference: 'Practitioner/prac-county-north-1' } }],
      }),
      entry(urn(), {
        resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: patient }, encounter: { reference: encounter }, period: { start: '2026-02-03T09:40:00+02:00' },
        careTeam: [{ reference: team }], addresses: [{ reference: condition }],
      }),
      entry(urn(), {
        resourceType: 'ImagingStudy', identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${uid}` }], status: 'available', subject: { reference: patient }, encounter: { reference: encounter },
        modality: [{ system: SYSTEM.dicom, code: 'DX', display: 'Digital Radiography' }], started: '2026-02-03T09:50:00+02:00', numberOfSeries: 1, numberOfInstances: 1,
        procedureCode: [{ coding: [{ system: SYSTEM.snomed, code: '399208008', display: 'Plain chest X-ray' }] }],
        series: [{
          uid: `${uid}.1`, number: 1, modality: { system: SYSTEM.dicom, code: 'DX' }, numberOfInstances: 1, started: '2026-02-03T09:50:00+02:00',
          instance: [{ uid: `${uid}.1.1`, sopClass: { system: 'urn:ietf:rfc:3986', code: 'urn:oid:1.2.840.10008.5.1.4.1.1.1.1' }, number: 1, title: 'PA chest' }],
        }],
      }),
      entry(urn(), {
        resourceType: 'Procedure', status: 'completed', code: { coding: [{ system: SYSTEM.snomed, code: '698314001', display: 'Consultation for treatment' }] },
        subject: { reference: patient }, performedDateTime: '2026-02-03T09:45:00+02:00', reasonReference: [{ reference: condition, display: 'Hypertension (disorder)' }],
      }),
    );
    const answer = await send('/fhir', token, first);
    expect(answer.status, answer.text.slice(0, 3000)).toBe(200);
    expect(answer.body.entry.map((e: Json) => e.response.status)).toEqual(Array(first.entry.length).fill('201 Created'));
    const locations = first.entry.map((_e: Json, n: number) => String(answer.body.entry[n].response.location).split('/_history')[0]!);
    patientId = locations[0]!.split('/')[1]!;
    encounterId = locations[1]!.split('/')[1]!;
    linked.push(...locations.slice(3, 7));
    procedureLocation = locations[7]!;
    // A later dose in the same visit, naming the stored Encounter.
    const again = await send('/fhir', token, transaction(entry(urn(), immunization(`Patient/${patientId}`, `Encounter/${encounterId}`))));
    expect(again.status, again.text.slice(0, 2000)).toBe(200);
    linked.push(String(again.body.entry[0].response.location).split('/_history')[0]!);
    patientToken = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId, scope: 'patient/*.cruds' });

    const exported = await everything(patientToken, patientId);
    const byLocation = new Map(exported.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
    for (const location of linked) expect(byLocation.get(location)?.encounter, location).toEqual({ reference: `Encounter/${encounterId}` });
    const conditionId = locations[2]!;
    expect(byLocation.get(procedureLocation)?.reasonReference).toEqual([{ reference: conditionId, display: 'Hypertension (disorder)' }]);
  });

  it('discloses nothing new: without the encounters and diagnoses categories, no encounter link and no diagnosis display; with them, both', async () => {
    const own = await stack.graphql(patientToken, QUERY, { id: patientId });
    expect(own.errors).toBeUndefined();
    const all = encountersOf(own.data, LISTS);
    expect(LISTS.flatMap((list) => Object.values(all[list]!))).toEqual(Array(linked.length).fill(encounterId));
    expect(own.data.patient.procedures.edges.map((e: Json) => e.node.reasonReferenceDisplay)).toEqual(['Hypertension (disorder)']);

    await expectEncounterLinksUnderConsent({
      stack, calls, query: QUERY, lists: LISTS, patientId, encounterId, stranger: STRANGER,
      recordCategories: ['IMMUNIZATIONS', 'CARE_PLANS', 'IMAGING', 'PROCEDURES'], linkCategories: ['ENCOUNTERS', 'DIAGNOSES'], linked, counts: [2, 1, 1, 1],
      // The procedure's diagnosis display is the diagnosis's: withheld with it, in GraphQL and in $everything.
      whileWithheld: (withheld, exported) => {
        expect(withheld.data.patient.procedures.edges.map((e: Json) => e.node.reasonReferenceDisplay)).toEqual([null]);
        expect(withheld.errors?.find((e) => e.path?.join('.') === 'patient.procedures.edges.0.node.reasonReferenceDisplay')?.extensions?.code).toBe('CONSENT_DENIED');
        expect(exported.entry.filter((e) => e.resource.resourceType === 'Condition')).toEqual([]);
        const procedure = exported.entry.find((e) => `${e.resource.resourceType}/${e.resource.id}` === procedureLocation)?.resource;
        expect(procedure).toBeDefined();
        expect(procedure!.reasonReference).toBeUndefined();
        expect(JSON.stringify(exported)).not.toContain('Hypertension (disorder)');
      },
      onceOpened: (opened, exported) => {
        expect(opened.data.patient.procedures.edges.map((e: Json) => e.node.reasonReferenceDisplay)).toEqual(['Hypertension (disorder)']);
        const procedure = exported.entry.find((e) => `${e.resource.resourceType}/${e.resource.id}` === procedureLocation)?.resource as Json | undefined;
        expect(procedure?.reasonReference?.[0]?.display).toBe('Hypertension (disorder)');
      },
    });
  });

  it('refuses, by element, an immunisation\'s encounter of another patient, or one that is not an Encounter', async () => {
    await expectAnotherPatientsEncounterRefused({ calls, org: ORG, patientId, record: immunization });

    const token = await system(ORG);
    const notEncounter = await send('/fhir', token, transaction(entry(urn(), immunization(`Patient/${patientId}`, `Condition/${crypto.randomUUID()}`))));
    expect(notEncounter.status, notEncounter.text).toBe(400);
    expect(notEncounter.body.issue.some((i: Json) => /encounter/.test(i.expression?.[0] ?? ''))).toBe(true);
    // Nothing of either was written: still the two doses.
    const after = encountersOf((await stack.graphql(patientToken, QUERY, { id: patientId })).data, LISTS);
    expect(Object.keys(after.immunizations!)).toHaveLength(2);
  });
});
