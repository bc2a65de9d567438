/**
 * AllergyIntolerance, the record type added by following
 * docs/adding-a-record-type.md, end to end through the gateway over HTTP on
 * every backend: read through GraphQL (every coding kept with its system),
 * filtered by consent at record and field level (the recording
 * organisation, a permit for allergies and not for another category,
 * sensitivity labels, break-glass and V), on the timeline (kind ALLERGY),
 * in `$everything` (valid FHIR R4), and published (transaction, batch,
 * create, conditional create, update, provenance, scopes) with a round trip
 * back out through the export.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient, type AllergyIntoleranceRecord, type PatientBundle } from '../lib/synthetic/generator.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type GraphQLResponse, type TestStack } from './support/harness.js';
import { expectLabelsAndBreakGlass, expectOnTimeline, recordTypeCalls, resourcesOfType } from './support/record-consent.js';
import type { FhirBundle } from './support/publish.js';

type Json = Record<string, any>;
const SNOMED = SYSTEM.snomed;
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const CLINICAL = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical';
const VERIFICATION = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const HOSPITALS = ['org-county-north', 'org-county-south', 'org-provincial', 'org-mental-health', 'org-thc-baisha', 'org-thc-gaiyang', 'org-thc-meixi', 'org-thc-qingliang'];

const PATIENTS = 40;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const registrations = (b: PatientBundle) => b.patient.identifiers.filter((i) => i.type === 'MR').map((i) => i.assignerOrganizationId!);
/** A patient with allergies, one a medication coded in SNOMED CT and RxNorm, all recorded at one organisation, registered at another too. */
const allergic = bundles.find((b) => b.allergies.some((a) => a.code.coding.some((c) => c.system === RXNORM))
  && new Set(b.allergies.map((a) => a.organizationId)).size === 1 && registrations(b).length > 1) as PatientBundle;
const RECORDER = allergic.allergies[0]!.organizationId;
/** Another organisation that registered the patient (it may name them in what it publishes). */
const COLLEAGUE = registrations(allergic).find((org) => org !== RECORDER)!;
/** Organisations that recorded none of the patient's allergies. */
const strangers = HOSPITALS.filter((org) => org !== RECORDER);

const ALLERGIES = `query Allergies($id: ID!) { patient(id: $id) { id allergies(first: 100) { edges { node {
  id code { coding { system code display } text } clinicalStatus verificationStatus type category criticality onsetDateTime onsetString recordedDate
  recorder { id } reactions { substance { coding { system code display } text } manifestations { coding { system code display } text } severity onset description }
  organization { id } sensitivityLabels } } } } }`;
const TIMELINE = `query Timeline($id: ID!, $kinds: [TimelineKind!]) { patient(id: $id) { timeline(first: 100, kinds: $kinds) { edges { kind occurredAt node {
  __typename ... on AllergyIntolerance { id code { text } criticality } } } } } }`;

const iso = (value: Date | null) => (value ? value.toISOString() : null);
const ids = (response: GraphQLResponse<any>) => (response.data?.patient?.allergies?.edges ?? []).map((e: { node: { id: string } }) => e.node.id).sort();

/** An AllergyIntolerance as an institution sends it (every element the product keeps). */
function allergyResource(patientReference: string, org: string, options: { labels?: string[]; code?: string; localId?: string } = {}): Json {
  return {
    resourceType: 'AllergyIntolerance',
    identifier: [{ system: `https://${org}.example.org/allergies`, value: options.localId ?? `alg-${crypto.randomUUID()}` }],
    ...(options.labels ? { meta: { security: options.labels.map((code) => (code === 'V' ? { system: CONFIDENTIALITY, code } : { system: ACT_CODE, code })) } } : {}),
    clinicalStatus: { coding: [{ system: CLINICAL, code: 'active' }] },
    verificationStatus: { coding: [{ system: VERIFICATION, code: 'confirmed' }] },
    type: 'allergy',
    category: ['medication'],
    criticality: 'high',
    code: {
      coding: [{ system: SNOMED, code: options.code ?? '372687004', display: 'Amoxicillin (substance)' }, { system: RXNORM, code: '723', display: 'amoxicillin' }],
      text: 'Amoxicillin',
    },
    patient: { reference: patientReference },
    onsetDateTime: '2019-05-02T00:00:00.000Z',
    recordedDate: '2026-02-03T10:15:00.000Z',
    recorder: { reference: 'Practitioner/prac-county-north-1' },
    reaction: [
      {
        substance: { coding: [{ system: SNOMED, code: '372687004', display: 'Amoxicillin (substance)' }] },
        manifestation: [{ coding: [{ system: SNOMED, code: '39579001', display: 'Anaphylaxis (disorder)' }] }, { text: 'Swollen lips' }],
        description: 'Collapsed ten minutes after the first dose',
        onset: '2019-05-02T08:40:00.000Z',
        severity: 'severe',
      },
    ],
  };
}

describe.each(BACKENDS)('AllergyIntolerance on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  let patientToken: string;
  const { send, clinician, system, create, everything, grant, revoke } = recordTypeCalls(() => stack, { id: () => allergic.patient.id, token: () => patientToken });
  const exported = (bundle: FhirBundle) => resourcesOfType(bundle, 'AllergyIntolerance');
  /** Publishes one AllergyIntolerance for the patient as `org`'s system; its id. */
  const publish = (org: string, options: { labels?: string[] } = {}) => create(org, allergyResource(`Patient/${allergic.patient.id}`, org, options));

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    base = stack.url.replace(/\/graphql$/, '');
    patientToken = await stack.token({ sub: 'patient-allergic', role: 'patient', patient: allergic.patient.id, scope: 'patient/*.cruds' });
  });
  afterAll(async () => stack?.close());

  it('reads the patient\'s allergies through GraphQL, every coding kept with its system, newest recorded first', async () => {
    const response = await stack.graphql(patientToken, ALLERGIES, { id: allergic.patient.id });
    expect(response.errors).toBeUndefined();
    const nodes = response.data.patient.allergies.edges.map((e: { node: Json }) => e.node);
    const expected = [...allergic.allergies].sort((a, b) => b.recordedDate.getTime() - a.recordedDate.getTime());
    expect(nodes.map((n: Json) => n.id)).toEqual(expected.map((a) => a.id));
    const shape = (a: AllergyIntoleranceRecord) => ({
      id: a.id, code: a.code, clinicalStatus: a.clinicalStatus, verificationStatus: a.verificationStatus, type: a.type, category: a.categories,
      criticality: a.criticality, onsetDateTime: iso(a.onsetDateTime), onsetString: a.onsetString, recordedDate: iso(a.recordedDate), recorder: { id: a.recorderId },
      reactions: a.reactions.map((r) => ({ ...r, onset: iso(r.onset) })), organization: { id: a.organizationId }, sensitivityLabels: [],
    });
    expect(nodes).toEqual(expected.map(shape));
    expect(nodes.flatMap((n: Json) => n.code.coding.map((c: Json) => c.system))).toContain(RXNORM);
  });

  it('shows the recording organisation\'s staff its allergies, others none without a permit, a permit for allergies (not for diagnoses) opens them', async () => {
    expect(ids(await stack.graphql(await clinician(RECORDER), ALLERGIES, { id: allergic.patient.id }))).toEqual(allergic.allergies.map((a) => a.id).sort());
    const stranger = strangers[0]!;
    const token = await clinician(stranger);
    expect(ids(await stack.graphql(token, ALLERGIES, { id: allergic.patient.id }))).toEqual([]);
    const diagnoses = await grant({ actorId: stranger, categories: ['DIAGNOSES'] });
    expect(ids(await stack.graphql(token, ALLERGIES, { id: allergic.patient.id }))).toEqual([]);
    const allergies = await grant({ actorId: stranger, categories: ['ALLERGIES'] });
    expect(ids(await stack.graphql(token, ALLERGIES, { id: allergic.patient.id }))).toEqual(allergic.allergies.map((a) => a.id).sort());
    // A scope that does not name AllergyIntolerance reaches none, permit or not.
    const conditionsOnly = await clinician(stranger, { scope: 'user/Condition.rs' });
    expect(ids(await stack.graphql(conditionsOnly, ALLERGIES, { id: allergic.patient.id }))).toEqual([]);
    await revoke(diagnoses);
    await revoke(allergies);
    expect(ids(await stack.graphql(token, ALLERGIES, { id: allergic.patient.id }))).toEqual([]);
  });

  it('keeps a labelled allergy from a permit that does not name the label, and a V one even from break-glass, which opens the others and is flagged', async () => {
    await expectLabelsAndBreakGlass({
      stack, query: ALLERGIES, patientId: allergic.patient.id, unlabelled: allergic.allergies.map((a) => a.id),
      category: 'ALLERGIES', label: 'ETH', producer: RECORDER, strangers: [strangers[1]!, strangers[2]!],
      emergencyReason: 'Anaphylaxis in the emergency room', publish, clinician, grant, revoke, ids,
    });
  });

  it('puts allergies on the timeline as ALLERGY entries, filtered by kind and by consent', async () => {
    await expectOnTimeline({
      stack, query: TIMELINE, patientId: allergic.patient.id, patientToken, strangerToken: await clinician(strangers[3]!), kind: 'ALLERGY',
      typename: 'AllergyIntolerance', records: allergic.allergies.map((a) => ({ id: a.id, at: a.recordedDate, text: a.code.text! })), text: (node) => node.code.text,
    });
  });

  it('exports allergies in $everything as valid FHIR R4 AllergyIntolerance resources, codings and reactions as recorded', async () => {
    const bundle = await everything(patientToken, allergic.patient.id);
    expect(schemaErrors(bundle)).toEqual([]);
    const resources = exported(bundle);
    for (const allergy of allergic.allergies) {
      const resource = resources.find((r) => r.id === allergy.id)!;
      expect(resource).toMatchObject({
        patient: { reference: `Patient/${allergic.patient.id}` },
        clinicalStatus: { coding: [{ system: CLINICAL, code: allergy.clinicalStatus }] },
        verificationStatus: { coding: [{ system: VERIFICATION, code: allergy.verificationStatus }] },
        type: allergy.type, category: allergy.categories, criticality: allergy.criticality, recordedDate: allergy.recordedDate.toISOString(),
        recorder: { reference: `Practitioner/${allergy.recorderId}` },
      });
      expect(resource.code.coding).toEqual(allergy.code.coding.map((c) => ({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) })));
      expect(resource.reaction.map((r: Json) => r.manifestation[0].coding[0].code)).toEqual(allergy.reactions.map((r) => r.manifestations[0]!.coding[0]!.code));
    }
    // A stranger's export holds none; an app reading only Condition gets none either.
    const app = await stack.appToken({ sub: 'app', patient: allergic.patient.id, client_id: 'diary', scope: 'patient/Condition.rs' });
    expect(exported(await everything(app, allergic.patient.id))).toEqual([]);
  });

  it('publishes allergies: a transaction round trip exported back element by element', async () => {
    const org = 'org-county-north';
    const patientUrl = `urn:uuid:${crypto.randomUUID()}`;
    const sent = allergyResource(patientUrl, org, { labels: ['ETH'] });
    const transaction = await send('/fhir', await system(org), {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient' }, resource: {
          resourceType: 'Patient', name: [{ family: 'Jiang', given: ['Mei'] }], gender: 'female', birthDate: '1980-01-02',
          identifier: [{ system: SYSTEM.healthCard, value: `HC-${crypto.randomUUID()}` }, { system: SYSTEM.mrnPrefix + org, value: `MR-${crypto.randomUUID()}` }],
        } },
        { fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'AllergyIntolerance', ifNoneExist: `identifier=${sent.identifier[0].system}|${sent.identifier[0].value}` }, resource: sent },
      ],
    });
    expect(transaction.status, transaction.text).toBe(200);
    expect(transaction.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created']);
    const patientId = String(transaction.body.entry[0].response.location).split('/')[1]!;
    const allergyId = String(transaction.body.entry[1].response.location).split('/')[1]!;
    const token = await stack.token({ sub: 'patient-jiang', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const bundle = await everything(token, patientId);
    expect(schemaErrors(bundle)).toEqual([]);
    const [back] = exported(bundle);
    const { identifier: _identifier, meta: _meta, ...clinical } = sent;
    // As sent, the registry's display name added to the recorder's reference.
    expect({ ...back, meta: undefined }).toEqual({
      ...clinical, id: allergyId, meta: undefined, patient: { reference: `Patient/${patientId}` }, recorder: { ...clinical.recorder, display: expect.any(String) },
    });
    expect(back.meta.security).toEqual(expect.arrayContaining([{ system: ACT_CODE, code: 'ETH', display: expect.any(String) }]));

    // Published again (a retry): the conditional create matches, nothing twice.
    const again = await send('/fhir/AllergyIntolerance', await system(org), { ...sent, patient: { reference: `Patient/${patientId}` } }, { headers: { 'if-none-exist': `identifier=${sent.identifier[0].system}|${sent.identifier[0].value}` } });
    expect(again.status, again.text).toBe(200);
    expect(again.headers.get('location')).toBe(`AllergyIntolerance/${allergyId}`);

    // Updated by its organisation.
    const resolved = { ...sent, id: allergyId, patient: { reference: `Patient/${patientId}` }, clinicalStatus: { coding: [{ system: CLINICAL, code: 'resolved' }] } };
    const update = await send(`/fhir/AllergyIntolerance/${allergyId}`, await system(org), resolved, { method: 'PUT' });
    expect(update.status, update.text).toBe(200);
    expect(exported(await everything(token, patientId))[0]!.clinicalStatus).toEqual({ coding: [{ system: CLINICAL, code: 'resolved' }] });
  });

  it('keeps a recorder named by identifier and the asserter as logical references, exported and read as sent', async () => {
    const org = RECORDER;
    const NPI = 'http://hl7.org/fhir/sid/us-npi';
    const recorder = { identifier: { system: NPI, value: '9999913473' }, display: 'Dr. Li Na' };
    const asserter = { reference: 'RelatedPerson/mother-of-jiang', type: 'RelatedPerson', display: 'Her mother' };
    const sent = { ...allergyResource(`Patient/${allergic.patient.id}`, org), recorder, asserter };
    const created = await send('/fhir/AllergyIntolerance', await system(org), sent);
    expect(created.status, created.text).toBe(201);
    const id = String(created.headers.get('location')).split('/')[1]!;
    const [row] = await stack.databases.encounters.query<{ recorder_id: string | null; recorder_reference: Json; asserter: Json }>(
      'SELECT recorder_id, recorder_reference, asserter FROM allergy_intolerance WHERE id = $1', [id]);
    expect(row).toEqual({ recorder_id: null, recorder_reference: recorder, asserter });
    const bundle = await everything(patientToken, allergic.patient.id);
    expect(schemaErrors(bundle)).toEqual([]);
    const back = exported(bundle).find((r) => r.id === id)!;
    expect({ recorder: back.recorder, asserter: back.asserter }).toEqual({ recorder, asserter });
    const gql = await stack.graphql(patientToken, `query($id: ID!) { allergyIntolerance(id: $id) { recorder { id }
      recorderReference { reference type identifier { system value } display } asserter { reference type identifier { system value } display } } }`, { id });
    expect(gql.errors).toBeUndefined();
    expect(gql.data.allergyIntolerance).toEqual({
      recorder: null, recorderReference: { reference: null, type: null, identifier: { system: NPI, value: '9999913473' }, display: 'Dr. Li Na' },
      asserter: { ...asserter, identifier: null },
    });
    // A registry practitioner stays the registry's (its display added), and the patient may assert it.
    const registry = await send('/fhir/AllergyIntolerance', await system(org), { ...sent, identifier: undefined, recorder: { reference: 'Practitioner/prac-county-north-1' }, asserter: { reference: `Patient/${allergic.patient.id}` } });
    expect(registry.status, registry.text).toBe(201);
    const registryId = String(registry.headers.get('location')).split('/')[1]!;
    const again = exported(await everything(patientToken, allergic.patient.id)).find((r) => r.id === registryId)!;
    expect(again.recorder).toEqual({ reference: 'Practitioner/prac-county-north-1', display: expect.any(String) });
    expect(again.asserter).toEqual({ reference: `Patient/${allergic.patient.id}` });
    // An organisation is not a recorder or an asserter (refused, named, not dropped); nor is a reference into the Bundle.
    const orgAsserter = await send('/fhir/AllergyIntolerance', await system(org), { ...sent, identifier: undefined, asserter: { reference: `Organization/${org}` } });
    expect(orgAsserter.status, orgAsserter.text).toBe(400);
    expect(orgAsserter.body.issue[0].expression).toEqual(['AllergyIntolerance.asserter']);
    const byIdentifier = await send('/fhir/AllergyIntolerance', await system(org), { ...sent, identifier: undefined, recorder: { identifier: { system: SYSTEM.organization, value: org } } });
    expect(byIdentifier.status, byIdentifier.text).toBe(400);
    expect(byIdentifier.body.issue[0].expression).toEqual(['AllergyIntolerance.recorder']);
    const empty = await send('/fhir/AllergyIntolerance', await system(org), { ...sent, identifier: undefined, recorder: { identifier: { system: NPI } } });
    expect(empty.status, empty.text).toBe(400);
    expect(empty.body.issue[0].expression).toEqual(['AllergyIntolerance.recorder.identifier.value']);
  });

  it('refuses what it cannot keep, naming the element, entry by entry in a batch, and writes nothing for it', async () => {
    const org = RECORDER;
    const token = await system(org);
    const patient = `Patient/${allergic.patient.id}`;
    const count = async () => (await stack.databases.encounters.query<{ n: number }>('SELECT count(*)::int AS n FROM allergy_intolerance'))[0]!.n;
    const before = await count();
    const batch = await send('/fhir', token, {
      resourceType: 'Bundle', type: 'batch', entry: [
        { request: { method: 'POST', url: 'AllergyIntolerance' }, resource: allergyResource(patient, org) },
        { request: { method: 'POST', url: 'AllergyIntolerance' }, resource: allergyResource(patient, org, { code: '372687005' }) },
        { request: { method: 'POST', url: 'AllergyIntolerance' }, resource: { ...allergyResource(patient, org), onsetDateTime: undefined, onsetAge: { value: 4, unit: 'a' } } },
        { request: { method: 'POST', url: 'AllergyIntolerance' }, resource: { ...allergyResource(patient, org), clinicalStatus: undefined } },
        { request: { method: 'POST', url: 'AllergyIntolerance' }, resource: { ...allergyResource(patient, org), recorder: { reference: 'Organization/org-county-north' } } },
        { request: { method: 'POST', url: 'AllergyIntolerance' }, resource: { ...allergyResource(patient, org), code: { coding: [{ system: RXNORM, code: '723' }] } } },
      ],
    });
    expect(batch.status, batch.text).toBe(200);
    const answers = batch.body.entry.map((e: Json) => [e.response.status, e.response.outcome?.issue?.[0]?.expression?.[0] ?? null]);
    expect(answers).toEqual([
      ['201 Created', null],
      ['400 Bad Request', 'Bundle.entry[1].resource.code.coding[0].code'],
      ['422 Unprocessable Entity', 'Bundle.entry[2].resource.onsetAge'],
      ['400 Bad Request', 'Bundle.entry[3].resource.clinicalStatus'],
      ['400 Bad Request', 'Bundle.entry[4].resource.recorder'],
      ['400 Bad Request', 'Bundle.entry[5].resource.code'],
    ]);
    expect(await count()).toBe(before + 1);
    // Only the organisation that recorded an allergy updates it, even one that registered the patient too:
    // another organisation's record answers as one that does not exist (it learns nothing of it).
    const theirs = allergic.allergies[0]!;
    const takeover = await send(`/fhir/AllergyIntolerance/${theirs.id}`, await system(COLLEAGUE), { ...allergyResource(patient, COLLEAGUE), id: theirs.id }, { method: 'PUT' });
    expect(takeover.status, takeover.text).toBe(404);
    expect(takeover.body.issue[0].expression).toEqual(['AllergyIntolerance.id']);
    // Scopes are checked per resource type: a system allowed Conditions only publishes no allergy.
    const conditionsOnly = await send('/fhir/AllergyIntolerance', await system(org, 'system/Condition.cru'), allergyResource(patient, org));
    expect(conditionsOnly.status).toBe(403);
    expect(await count()).toBe(before + 1);
  });
});
