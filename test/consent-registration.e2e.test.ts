/**
 * Knowing an identifier opens nothing (issue #25, docs/consent.md), tried as
 * the privacy officer did, through the gateway over HTTP, on every backend:
 * B registered P; A, which never saw P, publishes a Patient carrying P's
 * health card.
 *
 * - The publish answer tells A no more than a new registration would: the
 *   same status, the same absence of notes, on every way in (transaction,
 *   batch, single create, HL7 v2); a card alone is refused alike; a match
 *   candidate's answer does not say that a person with those names exists.
 * - A's staff see what A sent (name, contact, its own identifiers) and A's
 *   records only; no withheld count, no directives, no finding P by B's
 *   number; B's staff see what B sent; P sees their whole record.
 * - Writes are no oracle either: an update of a record the caller cannot see,
 *   or of a patient it has not registered, answers like an unknown id; a
 *   reference by another organisation's number answers like an unknown one.
 * - A producer element naming another organisation is refused (403, the
 *   element named) in every reference form.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender, type FhirAnswer } from './support/publish.js';

type Json = Record<string, any>;
const A = 'org-county-north';
const B = 'org-county-south';
const C = 'org-provincial';
const LOINC = 'http://loinc.org';
const mrn = (org: string) => SYSTEM.mrnPrefix + org;
let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36).toUpperCase()}${++sequence}`;

const patientResource = (org: string, options: { hc?: string; mr?: string | null; family: string; given: string; phone?: string; birthDate?: string }) => ({
  resourceType: 'Patient', gender: 'female', birthDate: options.birthDate ?? '1980-05-06', name: [{ family: options.family, given: [options.given] }],
  telecom: options.phone ? [{ system: 'phone', value: options.phone }] : undefined,
  identifier: [...(options.hc ? [{ system: SYSTEM.healthCard, value: options.hc }] : []), ...(options.mr === null ? [] : [{ system: mrn(org), value: options.mr ?? unique('MR') }])],
});
const observation = (subject: Json, org: string, extra: Json = {}) => ({
  resourceType: 'Observation', status: 'final', subject, code: { coding: [{ system: LOINC, code: '718-7', display: 'Hemoglobin' }] },
  effectiveDateTime: '2026-02-01T09:10:00Z', valueQuantity: { value: 13.4, unit: 'g/dL' }, identifier: [{ system: `https://${org}.example.org/obs`, value: unique('O') }], ...extra,
});
/** A registration with one result, as a transaction. */
const registration = (org: string, patient: Json) => ({
  resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000001', request: { method: 'POST', url: 'Patient' }, resource: patient },
    { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000002', request: { method: 'POST', url: 'Observation' }, resource: observation({ reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' }, org) },
  ],
});
/** What an answer says beyond the ids it mints: status, and every entry's status and outcome. */
const shape = (answer: FhirAnswer) => ({
  status: answer.status,
  entries: (answer.body?.entry ?? []).map((e: Json) => ({ status: e.response?.status, outcome: e.response?.outcome ?? null, location: String(e.response?.location ?? '').replace(/[0-9a-f-]{36}/, 'ID') })),
  issues: (answer.body?.issue ?? []).map((i: Json) => ({ code: i.code, severity: i.severity, expression: i.expression, diagnostics: String(i.diagnostics ?? '').replace(/[0-9a-f-]{36}/g, 'ID') })),
});

describe.each(BACKENDS)('knowing an identifier opens nothing, on %s', (backend) => {
  let stack: TestStack;
  const send = fhirSender(() => stack.url.replace(/\/graphql$/, ''));
  const system = (org: string) => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope: 'system/*.cru' });
  const clinician = (org: string) => stack.token({ sub: `dr-${org}`, role: 'clinician', org, scope: 'user/*.cruds' });
  const ok = async (token: string, query: string, variables?: Json) => {
    const response = await stack.graphql(token, query, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data;
  };
  const card = unique('HC');
  const bMrn = unique('B');
  let patientId: string;

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 0 });
    const published = await send('/fhir', await system(B), registration(B, patientResource(B, { hc: card, mr: bMrn, family: 'Guo', given: 'Mei', phone: '+86 138 0000 0001' })));
    expect(published.status, published.text).toBe(200);
    patientId = String(published.body.entry[0].response.location).split('/')[1]!;
  });
  afterAll(async () => stack?.close());

  it('answers a registration by a known card exactly as a new registration, on every way in', async () => {
    const known = await send('/fhir', await system(A), registration(A, patientResource(A, { hc: card, family: 'Kuo', given: 'May', phone: '+86 139 9999 0002' })));
    const fresh = await send('/fhir', await system(A), registration(A, patientResource(A, { hc: unique('HC'), family: 'Kuo', given: 'May' })));
    expect(shape(known)).toEqual(shape(fresh));
    expect(known.body.entry[0].response.status).toBe('201 Created');
    expect(String(known.body.entry[0].response.location)).toBe(`Patient/${patientId}`); // one person, one patient

    // A single create, and a batch entry, from a third organisation.
    const single = async (hc: string) => send('/fhir/Patient', await system(C), patientResource(C, { hc, family: 'Kuo', given: 'May' }));
    expect(shape(await single(card))).toEqual(shape(await single(unique('HC'))));
    const batch = async (hc: string) => send('/fhir', await system('org-thc-baisha'), { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: 'Patient' }, resource: patientResource('org-thc-baisha', { hc, family: 'Kuo', given: 'May' }) }] });
    const [batchKnown, batchFresh] = [await batch(card), await batch(unique('HC'))];
    expect(shape(batchKnown)).toEqual(shape(batchFresh));
    expect(batchKnown.body.entry[0].response.status).toBe('201 Created');
    // A card alone (no own medical record number) is refused alike, whether the alliance knows it or not.
    const cardOnly = async (hc: string) => send('/fhir/Patient', await system('org-thc-meixi'), patientResource('org-thc-meixi', { hc, mr: null, family: 'Kuo', given: 'May' }));
    const [cardOnlyKnown, cardOnlyFresh] = [await cardOnly(card), await cardOnly(unique('HC'))];
    expect(cardOnlyKnown.status).toBe(422);
    expect(shape(cardOnlyKnown)).toEqual(shape(cardOnlyFresh));
    // HL7 v2: the same acknowledgement.
    const oru = (hc: string, control: string) => `MSH|^~\\&|LIS|LAB|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|${control}|P|2.5.1\rPID|1||${hc}^^^^HC~${unique('M')}^^^org-mental-health^MR||Kuo^May||19800506|F\rOBR|1|${control}-P|${control}-F|58410-2^CBC panel^LN|||20260301080000|||||||||||||||20260301083000|||F\rOBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|12.0-17.5|N|||F|||20260301080000`;
    // (each message its own order: a result sent again under an order is a correction, which may not change its patient)
    const v2 = async (hc: string) => {
      const response = await send('/hl7v2', await system('org-mental-health'), oru(hc, unique('CTL')), { contentType: 'x-application/hl7-v2+er7' });
      return { status: response.status, msa: response.text.split('\r').find((l) => l.startsWith('MSA'))!.split('|')[1] };
    };
    expect(await v2(card)).toEqual(await v2(unique('HC')));
  });

  it('does not tell the publisher that a person with the same names, birth date and gender exists elsewhere', async () => {
    const lookalike = await send('/fhir', await system('org-thc-gaiyang'), registration('org-thc-gaiyang', patientResource('org-thc-gaiyang', { family: 'Guo', given: 'Mei' })));
    const stranger = await send('/fhir', await system('org-thc-gaiyang'), registration('org-thc-gaiyang', patientResource('org-thc-gaiyang', { family: unique('Zed'), given: 'Mei' })));
    expect(shape(lookalike)).toEqual(shape(stranger));
    // The administrators see the candidate.
    const admin = await stack.token({ sub: 'admin', role: 'admin' });
    const candidates = await ok(admin, '{ matchCandidates(first: 100) { edges { node { candidatePatientId reason } } } }');
    expect(candidates.matchCandidates.edges.map((e: Json) => e.node.candidatePatientId)).toContain(patientId);
    // A duplicate among the publisher's own patients is worth saying.
    const own = await send('/fhir', await system('org-thc-gaiyang'), registration('org-thc-gaiyang', patientResource('org-thc-gaiyang', { family: 'Guo', given: 'Mei' })));
    expect(own.body.entry[0].response.outcome.issue[0].diagnostics).toMatch(/your organisation registered/);
  });

  it('shows A\'s staff what A sent and A\'s records only, B\'s staff what B sent, and P their whole record', async () => {
    const PATIENT = `query($id: ID!) { patient(id: $id) { id name { family given } telecom { value } identifiers { system value }
      observations(first: 50) { edges { node { id organization { id } } } } timeline(first: 50) { edges { node { __typename } } withheldCount } consents { id } } }`;
    const asA = (await ok(await clinician(A), PATIENT, { id: patientId })).patient;
    expect(asA.name[0]).toEqual({ family: 'Kuo', given: ['May'] });
    expect(asA.telecom.map((t: Json) => t.value)).toEqual(['+86 139 9999 0002']);
    expect(asA.identifiers.map((i: Json) => i.system).sort()).toEqual([SYSTEM.healthCard, mrn(A)].sort());
    expect(asA.observations.edges.map((e: Json) => e.node.organization.id)).toEqual([A]);
    expect(asA.timeline.edges).toHaveLength(1);
    expect(asA.timeline.withheldCount).toBeNull();
    expect(asA.consents).toEqual([]);
    const asB = (await ok(await clinician(B), PATIENT, { id: patientId })).patient;
    expect(asB.name[0]).toEqual({ family: 'Guo', given: ['Mei'] });
    expect(asB.identifiers.map((i: Json) => i.system).sort()).toEqual([SYSTEM.healthCard, mrn(B)].sort());
    expect(asB.observations.edges.map((e: Json) => e.node.organization.id)).toEqual([B]);
    // The patient's own view: the record the organisation that created it keeps, every identifier, every record.
    const patient = await stack.token({ sub: 'p', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const own = (await ok(patient, PATIENT, { id: patientId })).patient;
    expect(own.name[0]).toEqual({ family: 'Guo', given: ['Mei'] });
    // (B's and A's registrations carried a result each; the HL7 v2 message a third organisation sent with the card, another.)
    expect(own.observations.edges.map((e: Json) => e.node.organization.id).sort()).toEqual([A, B, 'org-mental-health'].sort());
    // $everything as A: A's Patient and A's result, nothing of B's.
    const exported = await (await fetch(`${stack.url.replace(/\/graphql$/, '')}/fhir/Patient/${patientId}/$everything`, { headers: { authorization: `Bearer ${await clinician(A)}` } })).json();
    const text = JSON.stringify(exported);
    expect(text).not.toContain('Guo');
    expect(text).not.toContain(bMrn);
    expect(text).not.toContain('+86 138 0000 0001');
    expect(exported.entry.filter((e: Json) => e.resource.resourceType === 'Observation')).toHaveLength(1);
  });

  it('finds P by A\'s own identifiers only: B\'s number, and B\'s name, find nothing', async () => {
    const byIdentifier = 'query($s: String!, $v: String!) { patientByIdentifier(system: $s, value: $v) { id } }';
    const a = await clinician(A);
    expect((await ok(a, byIdentifier, { s: mrn(B), v: bMrn })).patientByIdentifier).toBeNull();
    expect((await ok(a, byIdentifier, { s: SYSTEM.healthCard, v: card })).patientByIdentifier).toEqual({ id: patientId });
    const search = 'query($name: String, $identifier: String) { searchPatients(name: $name, identifier: $identifier) { edges { node { id name { family } } } } }';
    expect((await ok(a, search, { identifier: bMrn })).searchPatients.edges).toEqual([]);
    expect((await ok(a, search, { name: 'Guo' })).searchPatients.edges.map((e: Json) => e.node.id)).not.toContain(patientId);
    expect((await ok(a, search, { name: 'Kuo' })).searchPatients.edges.map((e: Json) => e.node)).toContainEqual({ id: patientId, name: [{ family: 'Kuo' }] });
    // Publishing a result for P by B's number: answered like an unknown number.
    const byNumber = async (value: string) => send('/fhir/Observation', await system(A), observation({ identifier: { system: mrn(B), value } }, A));
    const [theirs, nobody] = [await byNumber(bMrn), await byNumber(unique('B'))];
    expect(theirs.status).toBe(404);
    expect(shape(theirs)).toEqual(shape(nobody));
  });

  it('answers an update of a record or patient the caller cannot see exactly like an unknown id', async () => {
    const a = await system(A);
    const bObservation = (await stack.databases.labs.query<{ id: string }>('SELECT id FROM observation WHERE organization_id = $1 AND patient_id = $2', [B, patientId]))[0]!.id;
    const put = (id: string) => send(`/fhir/Observation/${id}`, a, { ...observation({ reference: `Patient/${patientId}` }, A), id, identifier: undefined }, { method: 'PUT' });
    const unknownId = crypto.randomUUID();
    const [theirs, unknown] = [await put(bObservation), await put(unknownId)];
    expect(theirs.status).toBe(404);
    expect(shape(theirs)).toEqual(shape(unknown));
    // Once P shares labs with A, A sees B's result: refused as what it is, B's record.
    const patient = await stack.token({ sub: 'p', role: 'patient', patient: patientId, scope: 'patient/*.cruds' });
    const permit = await ok(patient, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id status } }',
      { input: { patientId, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: A, categories: ['LABS'] } });
    expect(permit.grantConsent.status).toBe('ACTIVE');
    expect((await put(bObservation)).status).toBe(403);
    await ok(patient, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: permit.grantConsent.id });
    // A patient the organisation has not registered: like no patient at all.
    const patientPut = (id: string) => send(`/fhir/Patient/${id}`, a, { ...patientResource(A, { family: 'X', given: 'Y', mr: null }), id }, { method: 'PUT' });
    const created = await send('/fhir', await system(B), registration(B, patientResource(B, { hc: unique('HC'), family: 'Only', given: 'B' })));
    const onlyB = String(created.body.entry[0].response.location).split('/')[1]!;
    const [notRegistered, noPatient] = [await patientPut(onlyB), await patientPut(crypto.randomUUID())];
    expect(notRegistered.status).toBe(404);
    expect(shape(notRegistered)).toEqual(shape(noPatient));
  });

  it('refuses a producer element naming another organisation in every reference form (403, the element named), and takes its own', async () => {
    const a = await system(A);
    const subject = { reference: `Patient/${patientId}` };
    const base = 'https://gateway.example.org/fhir';
    const forms: [string, Json][] = [
      ['relative', { reference: `Organization/${B}` }],
      ['absolute URL', { reference: `${base}/Organization/${B}` }],
      ['absolute URL with history', { reference: `${base}/Organization/${B}/_history/2` }],
      ['identifier', { identifier: { system: SYSTEM.organization, value: B } }],
      ['identifier of an unknown system', { type: 'Organization', identifier: { system: 'urn:oid:1.2.3', value: 'x' } }],
      ['contained resource', { reference: '#org1' }],
      ['bundled resource', { reference: 'urn:uuid:00000000-0000-4000-8000-0000000000ff' }],
      ['PractitionerRole', { reference: 'PractitionerRole/pr-1' }],
      ['reference and identifier disagreeing', { reference: `Organization/${A}`, identifier: { system: SYSTEM.organization, value: B } }],
    ];
    for (const [form, performer] of forms) {
      const refused = await send('/fhir/Observation', a, observation(subject, A, { performer: [performer] }));
      expect(refused.status, `${form}: ${refused.text}`).toBe(403);
      expect(refused.body.issue[0].expression, form).toEqual(['Observation.performer[0]']);
    }
    const encounter = { resourceType: 'Encounter', status: 'finished', subject, class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, period: { start: '2026-02-01T09:00:00Z' } };
    const absolute = await send('/fhir/Encounter', a, { ...encounter, serviceProvider: { reference: `${base}/Organization/${B}` } });
    expect([absolute.status, absolute.body.issue[0].expression]).toEqual([403, ['Encounter.serviceProvider']]);
    const immunization = { resourceType: 'Immunization', status: 'completed', patient: subject, vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] }, occurrenceDateTime: '2026-01-10T10:00:00Z' };
    const byIdentifier = await send('/fhir/Immunization', a, { ...immunization, performer: [{ actor: { identifier: { system: SYSTEM.organization, value: B } } }] });
    expect([byIdentifier.status, byIdentifier.body.issue[0].expression]).toEqual([403, ['Immunization.performer[0].actor']]);
    // Its own organisation, in any of those forms, and a practitioner as performer: accepted.
    for (const performer of [{ reference: `${base}/Organization/${A}` }, { identifier: { system: SYSTEM.organization, value: A } }, { reference: 'Practitioner/dr-1' }, { display: 'Laboratory' }]) {
      const accepted = await send('/fhir/Observation', a, observation(subject, A, { performer: [performer] }));
      expect(accepted.status, accepted.text).toBe(201);
    }
  });
});
