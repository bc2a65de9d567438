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
import { fhirSender, newFullUrl as urn, postEntry as entry, transactionBundle as transaction, type FhirBundle } from './support/publish.js';

type Json = Record<string, any>;
const ORG = 'org-county-north';
const STRANGER = 'org-provincial';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';


const encounterResource = (subject: string, start: string) => ({
  resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' }, subject: { reference: subject },
  type: [{ coding: [{ system: SYSTEM.snomed, code: '185349003', display: 'Encounter for check up (procedure)' }] }],
  period: { start, end: start.replace('T09:', 'T10:') }, serviceProvider: { reference: `Organization/${ORG}` },
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
const GRANT = 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }';
const REVOKE = 'mutation($id: ID!) { revokeConsent(id: $id) { id } }';

describe.each(BACKENDS)('Encounter links of immunisations, care plans and teams, imaging studies, and a procedure\'s diagnosis display, on %s', (backend) => {
  let stack: TestStack;
  let base = '';
  const send = fhirSender(() => base);
  const system = (org: string) => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope: 'system/*.cru' });
  const everything = async (token: string, id: string): Promise<FhirBundle> => {
    const response = await fetch(`${base}/fhir/Patient/${id}/$everything`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    expect(response.status).toBe(200);
    return (await response.json()) as FhirBundle;
  };
  /** Each list's node ids → their encounter (null where withheld or none). */
  const encountersOf = (data: Json) => Object.fromEntries(LISTS.map((list) => [list,
    Object.fromEntries((data?.patient?.[list]?.edges ?? []).map((e: Json) => [e.node.id, e.node.encounter?.id ?? null]))]));

  let patientId = '';
  let encounterId = '';
  let patientToken = '';
  /** Location (Type/id) of each record naming the encounter. */
  const linked: string[] = [];
  let procedureLocation = '';

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 1 });
    base = stack.url.replace(/\/graphql$/, '');
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
    const all = encountersOf(own.data);
    expect(LISTS.flatMap((list) => Object.values(all[list]!))).toEqual(Array(linked.length).fill(encounterId));
    expect(own.data.patient.procedures.edges.map((e: Json) => e.node.reasonReferenceDisplay)).toEqual(['Hypertension (disorder)']);

    const stranger = await stack.token({ sub: `dr-${STRANGER}`, role: 'clinician', org: STRANGER, scope: 'user/*.rs' });
    const grant = async (categories: string[]) => {
      const response = await stack.graphql(patientToken, GRANT, { input: { patientId, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: STRANGER, categories } });
      expect(response.errors).toBeUndefined();
      return response.data.grantConsent.id as string;
    };
    const revoke = async (id: string) => expect((await stack.graphql(patientToken, REVOKE, { id })).errors).toBeUndefined();

    const records = await grant(['IMMUNIZATIONS', 'CARE_PLANS', 'IMAGING', 'PROCEDURES']);
    const withheld = await stack.graphql(stranger, QUERY, { id: patientId });
    const partial = encountersOf(withheld.data);
    expect(LISTS.map((list) => Object.keys(partial[list]!).length)).toEqual([2, 1, 1, 1]);
    expect(LISTS.flatMap((list) => Object.values(partial[list]!))).toEqual(Array(linked.length).fill(null));
    for (const list of LISTS) {
      expect(withheld.errors?.find((e) => e.path?.join('.') === `patient.${list}.edges.0.node.encounter`)?.extensions?.code, list).toBe('CONSENT_DENIED');
    }
    expect(withheld.data.patient.procedures.edges.map((e: Json) => e.node.reasonReferenceDisplay)).toEqual([null]);
    expect(withheld.errors?.find((e) => e.path?.join('.') === 'patient.procedures.edges.0.node.reasonReferenceDisplay')?.extensions?.code).toBe('CONSENT_DENIED');
    // $everything for that organisation: the records, no Encounter, no reference to one, no diagnosis display.
    const exported = await everything(stranger, patientId);
    const byLocation = new Map(exported.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
    for (const location of linked) {
      expect(byLocation.has(location), location).toBe(true);
      expect(byLocation.get(location)!.encounter, location).toBeUndefined();
    }
    expect(exported.entry.filter((e) => e.resource.resourceType === 'Encounter' || e.resource.resourceType === 'Condition')).toEqual([]);
    expect(byLocation.get(procedureLocation)).toBeDefined();
    expect(byLocation.get(procedureLocation)!.reasonReference).toBeUndefined();
    expect(JSON.stringify(exported)).not.toContain('Hypertension (disorder)');

    const more = await grant(['ENCOUNTERS', 'DIAGNOSES']);
    const opened = await stack.graphql(stranger, QUERY, { id: patientId });
    expect(LISTS.flatMap((list) => Object.values(encountersOf(opened.data)[list]!))).toEqual(Array(linked.length).fill(encounterId));
    expect(opened.data.patient.procedures.edges.map((e: Json) => e.node.reasonReferenceDisplay)).toEqual(['Hypertension (disorder)']);
    const exportedAgain = await everything(stranger, patientId);
    const again = new Map(exportedAgain.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
    for (const location of linked) expect(again.get(location)?.encounter, location).toEqual({ reference: `Encounter/${encounterId}` });
    expect(again.get(procedureLocation)?.reasonReference?.[0]?.display).toBe('Hypertension (disorder)');
    await revoke(more);
    await revoke(records);
  });

  it('refuses, by element, an immunisation\'s encounter of another patient, or one that is not an Encounter', async () => {
    const token = await system(ORG);
    const otherPatient = urn();
    const otherEncounter = urn();
    const foreign = await send('/fhir', token, transaction(
      entry(otherPatient, { resourceType: 'Patient', identifier: [{ system: SYSTEM.mrnPrefix + ORG, value: `MRN-SEL-${crypto.randomUUID().slice(0, 8)}` }], name: [{ family: 'Other', given: ['Zodwa'] }], gender: 'female', birthDate: '1970-01-01' }),
      entry(otherEncounter, encounterResource(otherPatient, '2026-02-04T09:00:00+02:00')),
      entry(urn(), immunization(`Patient/${patientId}`, otherEncounter)),
    ));
    expect(foreign.status, foreign.text).toBe(422);
    expect(foreign.body.resourceType).toBe('OperationOutcome');
    expect(foreign.body.issue.map((i: Json) => i.expression?.[0]).join(' ')).toContain('Bundle.entry[2].resource.encounter');

    const notEncounter = await send('/fhir', token, transaction(entry(urn(), immunization(`Patient/${patientId}`, `Condition/${crypto.randomUUID()}`))));
    expect(notEncounter.status, notEncounter.text).toBe(400);
    expect(notEncounter.body.issue.some((i: Json) => /encounter/.test(i.expression?.[0] ?? ''))).toBe(true);
    // Nothing of either was written: still the two doses.
    const after = encountersOf((await stack.graphql(patientToken, QUERY, { id: patientId })).data);
    expect(Object.keys(after.immunizations!)).toHaveLength(2);
  });
});
