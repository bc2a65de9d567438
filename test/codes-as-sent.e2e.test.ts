/**
 * Codes as sent and logical references (issue 27), through the gateway over
 * HTTP on every backend:
 *
 * - a Condition coded only in SNOMED CT is accepted under the default coding
 *   policy and comes back from `$everything` and GraphQL with every coding as
 *   sent; a SNOMED CT code with a wrong check digit is still refused; a
 *   policy (CODING_POLICY, configuration) that requires ICD-10 refuses the
 *   SNOMED-only Condition with an issue naming Condition.code and ICD-10, and
 *   accepts one carrying both; a misconfigured policy refuses publishing
 *   (503), never publishes unchecked;
 * - an Encounter's reasonCode likewise: SNOMED CT only (as Synthea sends it)
 *   accepted and given back as sent, every reason and coding; a policy for
 *   Encounter.reasonCode refuses it by name;
 * - an Encounter naming its practitioner by identifier (as most systems send
 *   them) and its Locations is accepted, the references kept as logical ones
 *   and exported back as sent; an organisation other than the publisher is
 *   still refused (403).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender } from './support/publish.js';

type Json = Record<string, any>;
const ORG = 'org-county-north';
const ICD10 = SYSTEM.icd10;
const SNOMED = SYSTEM.snomed;
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const NPI = 'http://hl7.org/fhir/sid/us-npi';

describe.each(BACKENDS)('codes as sent and logical references on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  let patientId: string;
  let patientToken: string;
  const send = fhirSender(() => base);
  const system = () => stack.token({ sub: `${ORG}-his`, role: 'system', org: ORG, client_id: `${ORG}-his`, scope: 'system/*.cru' });
  const everything = async () => {
    const response = await fetch(`${base}/fhir/Patient/${patientId}/$everything`, { headers: { authorization: `Bearer ${patientToken}`, accept: 'application/fhir+json' } });
    expect(response.status).toBe(200);
    return (await response.json()) as { entry: { resource: Json }[] };
  };
  const conditionCount = async () => (await stack.databases.encounters.query<{ n: number }>('SELECT count(*)::int AS n FROM condition'))[0]!.n;
  const condition = (code: Json): Json => ({
    resourceType: 'Condition', identifier: [{ system: `https://${ORG}.example.org/dx`, value: crypto.randomUUID() }],
    clinicalStatus: { coding: [{ system: CLINICAL, code: 'active' }] }, code, subject: { reference: `Patient/${patientId}` }, recordedDate: '2026-03-02T08:00:00.000Z',
  });
  const SNOMED_ONLY = { coding: [{ system: SNOMED, code: '44054006', display: 'Diabetes mellitus type 2' }], text: 'Type 2 diabetes' };

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 2 });
    base = stack.url.replace(/\/graphql$/, '');
    const patient = await send('/fhir/Patient', await system(), {
      resourceType: 'Patient', name: [{ family: 'Gao', given: ['Jun'] }], gender: 'male', birthDate: '1966-04-05',
      identifier: [{ system: SYSTEM.healthCard, value: `HC-${crypto.randomUUID()}` }, { system: SYSTEM.mrnPrefix + ORG, value: `MR-${crypto.randomUUID()}` }],
    });
    expect(patient.status, patient.text).toBe(201);
    patientId = String(patient.headers.get('location')).split('/')[1]!;
    patientToken = await stack.token({ sub: 'patient-gao', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
  }, 600_000);
  afterEach(() => {
    delete process.env.CODING_POLICY;
  });
  afterAll(async () => stack?.close());

  it('accepts a Condition coded only in SNOMED CT and gives it back with every coding as sent', async () => {
    const sent = condition(SNOMED_ONLY);
    const created = await send('/fhir/Condition', await system(), sent);
    expect(created.status, created.text).toBe(201);
    const id = String(created.headers.get('location')).split('/')[1]!;
    const bundle = await everything();
    expect(schemaErrors(bundle)).toEqual([]);
    const back = bundle.entry.find((e) => e.resource.id === id)!.resource;
    expect(back.code).toEqual(SNOMED_ONLY);
    const gql = await stack.graphql(patientToken, 'query($id: ID!) { patient(id: $id) { conditions(first: 50) { edges { node { id code { system code } codeableConcept { coding { system code display } text } } } } } }', { id: patientId });
    expect(gql.errors).toBeUndefined();
    const node = gql.data.patient.conditions.edges.map((e: Json) => e.node).find((n: Json) => n.id === id);
    expect(node).toEqual({ id, code: { system: SNOMED, code: '44054006' }, codeableConcept: SNOMED_ONLY });

    // Both codings, ICD-10 and SNOMED CT and a local one: all kept, in the order sent; ICD-10 is the one listed.
    const several = { coding: [{ system: 'https://county-north.example.org/dx', code: 'DM2' }, { system: SNOMED, code: '44054006' }, { system: ICD10, code: 'E11.9', display: 'Type 2 diabetes mellitus without complications' }] };
    const both = await send('/fhir/Condition', await system(), condition(several));
    expect(both.status, both.text).toBe(201);
    const bothId = String(both.headers.get('location')).split('/')[1]!;
    expect((await everything()).entry.find((e) => e.resource.id === bothId)!.resource.code).toEqual(several);
  });

  it('still checks formats and check digits of recognised systems, and refuses a Condition without a coding the default policy knows', async () => {
    const before = await conditionCount();
    const badDigit = await send('/fhir/Condition', await system(), condition({ coding: [{ system: SNOMED, code: '44054007' }] }));
    expect(badDigit.status, badDigit.text).toBe(400);
    expect(badDigit.body.issue[0].expression).toEqual(['Condition.code.coding[0].code']);
    expect(badDigit.body.issue[0].diagnostics).toMatch(/check digit/);
    const localOnly = await send('/fhir/Condition', await system(), condition({ coding: [{ system: 'https://county-north.example.org/dx', code: 'DM2' }] }));
    expect(localOnly.status, localOnly.text).toBe(422);
    expect(localOnly.body.issue[0].expression).toEqual(['Condition.code']);
    expect(localOnly.body.issue[0].diagnostics).toMatch(/coding policy.*ICD-10.*SNOMED CT/);
    expect(await conditionCount()).toBe(before);
  });

  it('refuses the SNOMED-only Condition under a policy requiring ICD-10, naming the element, and accepts one with both', async () => {
    process.env.CODING_POLICY = JSON.stringify({ 'Condition.code': { anyOf: [ICD10] } });
    const before = await conditionCount();
    const refused = await send('/fhir/Condition', await system(), condition(SNOMED_ONLY));
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    expect(refused.body.issue).toEqual([expect.objectContaining({
      severity: 'error', code: 'business-rule', expression: ['Condition.code'], diagnostics: expect.stringMatching(/coding policy requires Condition\.code to have a coding in ICD-10 \(http:\/\/hl7\.org\/fhir\/sid\/icd-10\)/),
    })]);
    expect(await conditionCount()).toBe(before);
    const withIcd = await send('/fhir/Condition', await system(), condition({ coding: [...SNOMED_ONLY.coding, { system: ICD10, code: 'E11.9' }] }));
    expect(withIcd.status, withIcd.text).toBe(201);
    // A misconfigured policy refuses publishing rather than publish unchecked.
    process.env.CODING_POLICY = '{"Condition.code": "ICD-10"}';
    const broken = await send('/fhir/Condition', await system(), condition(SNOMED_ONLY));
    expect(broken.status, broken.text).toBe(503);
    expect(broken.body.issue[0].diagnostics).toMatch(/CODING_POLICY/);
    expect(await conditionCount()).toBe(before + 1);
  });

  it('accepts an Encounter whose reasonCode is SNOMED CT only and gives every reason back as sent; the coding policy decides what is required', async () => {
    const visit = (reasonCode: Json[]): Json => ({
      resourceType: 'Encounter', identifier: [{ system: `https://${ORG}.example.org/visits`, value: crypto.randomUUID() }], status: 'finished',
      class: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' }, subject: { reference: `Patient/${patientId}` },
      period: { start: '2026-03-04T08:00:00.000Z', end: '2026-03-04T08:30:00.000Z' }, reasonCode,
    });
    // As Synthea sends it: one SNOMED CT reason, no ICD-10.
    const snomedOnly = [{ coding: [{ system: SNOMED, code: '72892002', display: 'Normal pregnancy' }] }];
    const created = await send('/fhir/Encounter', await system(), visit(snomedOnly));
    expect(created.status, created.text).toBe(201);
    const id = String(created.headers.get('location')).split('/')[1]!;
    // Two reasons, a local coding beside ICD-10 and SNOMED CT, and a text: all kept in the order sent; ICD-10 is the one listed.
    const several = [
      { coding: [{ system: 'https://county-north.example.org/reasons', code: 'FU-BP' }, { system: SNOMED, code: '38341003', display: 'Hypertensive disorder' }, { system: ICD10, code: 'I10', display: 'Essential hypertension' }], text: 'BP follow-up' },
      { text: 'Patient asked for a review' },
    ];
    const mixed = await send('/fhir/Encounter', await system(), visit(several));
    expect(mixed.status, mixed.text).toBe(201);
    const mixedId = String(mixed.headers.get('location')).split('/')[1]!;
    const bundle = await everything();
    expect(schemaErrors(bundle)).toEqual([]);
    expect(bundle.entry.find((e) => e.resource.id === id)!.resource.reasonCode).toEqual(snomedOnly);
    expect(bundle.entry.find((e) => e.resource.id === mixedId)!.resource.reasonCode).toEqual(several);
    const gql = await stack.graphql(patientToken, `query($id: ID!) { patient(id: $id) { encounters(first: 50) { edges { node { id reason { system code display }
      reasonCode { coding { system code display } text } } } } } }`, { id: patientId });
    expect(gql.errors).toBeUndefined();
    const nodes = gql.data.patient.encounters.edges.map((e: Json) => e.node);
    expect(nodes.find((n: Json) => n.id === id)).toEqual({ id, reason: { system: SNOMED, code: '72892002', display: 'Normal pregnancy' }, reasonCode: [{ coding: snomedOnly[0]!.coding, text: null }] });
    expect(nodes.find((n: Json) => n.id === mixedId).reason).toEqual({ system: ICD10, code: 'I10', display: 'Essential hypertension' });
    // Recognised systems are still checked: a SNOMED CT code with a wrong check digit is refused, named.
    const broken = await send('/fhir/Encounter', await system(), visit([{ coding: [{ system: SNOMED, code: '72892003' }] }]));
    expect(broken.status, broken.text).toBe(400);
    expect(broken.body.issue[0].expression).toEqual(['Encounter.reasonCode[0].coding[0].code']);
    // An alliance that requires ICD-10 reasons says so in its coding policy: the SNOMED-only reason is refused, naming it; nothing written.
    const count = async () => (await stack.databases.encounters.query<{ n: number }>('SELECT count(*)::int AS n FROM encounter'))[0]!.n;
    const before = await count();
    process.env.CODING_POLICY = JSON.stringify({ 'Encounter.reasonCode': { anyOf: [ICD10] } });
    const refused = await send('/fhir/Encounter', await system(), visit(snomedOnly));
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body.issue.map((i: Json) => i.expression[0])).toEqual(['Encounter.reasonCode[0]']);
    expect(refused.body.issue[0].diagnostics).toMatch(/ICD-10/);
    expect(await count()).toBe(before);
    expect((await send('/fhir/Encounter', await system(), visit([several[0]!]))).status).toBe(201);
  });

  it('keeps a practitioner named by identifier and the Locations as logical references, exported as sent; another organisation is still refused', async () => {
    const encounter = (extra: Json): Json => ({
      resourceType: 'Encounter', identifier: [{ system: `https://${ORG}.example.org/visits`, value: crypto.randomUUID() }], status: 'finished',
      class: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' }, subject: { reference: `Patient/${patientId}` },
      period: { start: '2026-03-02T08:00:00.000Z', end: '2026-03-02T08:30:00.000Z' }, serviceProvider: { reference: `Organization/${ORG}` }, ...extra,
    });
    const participant = [{
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }], text: 'primary performer' }],
      individual: { identifier: { system: NPI, value: '9999963692' }, display: 'Dr. Ana Ruiz' },
    }];
    const location = [{ location: { identifier: { system: `https://${ORG}.example.org/locations`, value: 'OPD-3' }, display: 'Outpatient clinic 3' } }, { location: { reference: 'Location/ward-7', display: 'Ward 7' } }];
    const created = await send('/fhir/Encounter', await system(), encounter({ participant, location }));
    expect(created.status, created.text).toBe(201);
    const id = String(created.headers.get('location')).split('/')[1]!;
    const bundle = await everything();
    expect(schemaErrors(bundle)).toEqual([]);
    const back = bundle.entry.find((e) => e.resource.id === id)!.resource;
    expect(back.participant).toEqual(participant);
    expect(back.location).toEqual(location);
    const gql = await stack.graphql(patientToken, `query($id: ID!) { patient(id: $id) { encounters(first: 50) { edges { node { id practitioner { id }
      practitionerReference { identifier { system value } display reference type } locations { reference identifier { value } display } } } } } }`, { id: patientId });
    expect(gql.errors).toBeUndefined();
    const node = gql.data.patient.encounters.edges.map((e: Json) => e.node).find((n: Json) => n.id === id);
    expect(node).toEqual({
      id, practitioner: null, practitionerReference: { identifier: { system: NPI, value: '9999963692' }, display: 'Dr. Ana Ruiz', reference: null, type: null },
      locations: [{ reference: null, identifier: { value: 'OPD-3' }, display: 'Outpatient clinic 3' }, { reference: 'Location/ward-7', identifier: null, display: 'Ward 7' }],
    });
    // A registry practitioner stays the registry's.
    const registry = await send('/fhir/Encounter', await system(), encounter({ participant: [{ individual: { reference: 'Practitioner/prac-county-north-1' } }] }));
    expect(registry.status, registry.text).toBe(201);

    // Organisations other than the publisher are still refused, named; a Location reference into the Bundle too.
    const other = await send('/fhir/Encounter', await system(), encounter({ participant: [{ individual: { reference: 'Organization/org-county-south' } }] }));
    expect(other.status, other.text).toBe(403);
    expect(other.body.issue[0].expression).toEqual(['Encounter.participant[0].individual']);
    const otherByIdentifier = await send('/fhir/Encounter', await system(), encounter({ location: [{ location: { identifier: { system: SYSTEM.organization, value: 'org-county-south' } } }] }));
    expect(otherByIdentifier.status, otherByIdentifier.text).toBe(403);
    expect(otherByIdentifier.body.issue[0].expression).toEqual(['Encounter.location[0].location']);
    const notALocation = await send('/fhir/Encounter', await system(), encounter({ location: [{ location: { reference: 'Patient/123' } }] }));
    expect(notALocation.status, notALocation.text).toBe(400);
    expect(notALocation.body.issue[0].expression).toEqual(['Encounter.location[0].location.reference']);
  });
});
