/**
 * Procedure, added by following docs/adding-a-record-type.md, end to end
 * through the gateway over HTTP on every backend: read through GraphQL
 * (every coding kept with its system: SNOMED CT, ICD-10-PCS, CPT, local),
 * filtered by consent at record and field level (the recording
 * organisation, a permit for procedures and not for another category, the
 * encounter and the diagnosis it names under their own categories,
 * sensitivity labels, break-glass and V), on the timeline (kind PROCEDURE),
 * in `$everything` (valid FHIR R4), in FHIR search (patient, code, status,
 * date, _id) and published (transaction, batch, create, conditional create,
 * update, provenance, scopes) with a round trip back out through the export
 * compared element by element.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient, type PatientBundle, type ProcedureRecord } from '../lib/synthetic/generator.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type GraphQLResponse, type TestStack } from './support/harness.js';
import { expectLabelsAndBreakGlass, expectOnTimeline, recordTypeCalls, resourcesOfType } from './support/record-consent.js';
import type { FhirBundle } from './support/publish.js';
import { lostElements } from './support/round-trip.js';

type Json = Record<string, any>;
const SNOMED = SYSTEM.snomed;
const PCS = 'http://www.cms.gov/Medicare/Coding/ICD10';
const CPT = 'http://www.ama-assn.org/go/cpt';
const LOCAL = 'https://org-county-north.example.org/CodeSystem/procedures';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const HOSPITALS = ['org-county-north', 'org-county-south', 'org-provincial', 'org-mental-health', 'org-thc-baisha', 'org-thc-gaiyang', 'org-thc-meixi', 'org-thc-qingliang'];

const PATIENTS = 40;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const registrations = (b: PatientBundle) => b.patient.identifiers.filter((i) => i.type === 'MR').map((i) => i.assignerOrganizationId!);
/** A patient with procedures, one for a diagnosis of theirs and one in an operating room, all at one organisation, registered at another too. */
const operated = bundles.find((b) => b.procedures.some((p) => p.reasonConditionId) && b.procedures.some((p) => p.location)
  && new Set(b.procedures.map((p) => p.organizationId)).size === 1 && registrations(b).length > 1) as PatientBundle;
const RECORDER = operated.procedures[0]!.organizationId;
const COLLEAGUE = registrations(operated).find((org) => org !== RECORDER)!;
const strangers = HOSPITALS.filter((org) => org !== RECORDER);

const CONCEPT = '{ coding { system code display } text }';
const REFERENCE = '{ reference type identifier { system value } display }';
const PROCEDURES = `query Procedures($id: ID!) { patient(id: $id) { id procedures(first: 100) { edges { node {
  id status code ${CONCEPT} performedDateTime performedPeriod { start end } performedAt reasonCode ${CONCEPT} bodySite ${CONCEPT} outcome ${CONCEPT}
  performer { function ${CONCEPT} actor ${REFERENCE} } location ${REFERENCE} organization { id } sensitivityLabels } } } } }`;
const LINKS = `query ProcedureLinks($id: ID!) { patient(id: $id) { procedures(first: 100) { edges { node { id encounter { id } reasonReference { id } } } } } }`;
const TIMELINE = `query Timeline($id: ID!, $kinds: [TimelineKind!]) { patient(id: $id) { timeline(first: 100, kinds: $kinds) { edges { kind occurredAt node {
  __typename ... on Procedure { id procedureCode: code { text } } } } } } }`;

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);
const ids = (response: GraphQLResponse<any>) => (response.data?.patient?.procedures?.edges ?? []).map((e: { node: { id: string } }) => e.node.id).sort();

/** A Procedure as an institution sends it (every element the product keeps). */
function procedureResource(patientReference: string, org: string, options: { labels?: string[]; snomed?: string; localId?: string; encounter?: string; condition?: string } = {}): Json {
  return {
    resourceType: 'Procedure',
    identifier: [{ system: `https://${org}.example.org/procedures`, value: options.localId ?? `proc-${crypto.randomUUID()}` }],
    ...(options.labels ? { meta: { security: options.labels.map((code) => (code === 'V' ? { system: CONFIDENTIALITY, code } : { system: ACT_CODE, code })) } } : {}),
    status: 'completed',
    code: {
      coding: [
        { system: SNOMED, code: options.snomed ?? '45595009', display: 'Laparoscopic cholecystectomy (procedure)' },
        { system: PCS, code: '0FT44ZZ', display: 'Resection of Gallbladder, Percutaneous Endoscopic Approach' },
        { system: CPT, code: '47562' },
        { system: LOCAL, code: 'GS-114', display: 'Lap chole' },
      ],
      text: 'Laparoscopic cholecystectomy',
    },
    subject: { reference: patientReference },
    ...(options.encounter ? { encounter: { reference: options.encounter } } : {}),
    performedPeriod: { start: '2026-02-03T09:15:00.000Z', end: '2026-02-03T10:45:00.000Z' },
    performer: [
      { function: { coding: [{ system: SNOMED, code: '304292004', display: 'Surgeon (occupation)' }] }, actor: { reference: 'Practitioner/prac-county-north-1' } },
      { function: { text: 'Anaesthetist' }, actor: { type: 'Practitioner', identifier: { system: `https://${org}.example.org/sid/staff`, value: 'S40213' }, display: 'Dr Lin' } },
      { actor: { reference: `Organization/${org}` } },
    ],
    location: { reference: 'Location?identifier=https://hospital.example.org/location|OR-2', display: 'Operating room 2' },
    reasonCode: [{ coding: [{ system: SYSTEM.icd10, code: 'K80.2', display: 'Calculus of gallbladder without cholecystitis' }] }, { text: 'Recurrent biliary colic' }],
    ...(options.condition ? { reasonReference: [{ reference: options.condition }] } : {}),
    bodySite: [{ coding: [{ system: SNOMED, code: '28231008', display: 'Gallbladder structure (body structure)' }] }],
    outcome: { coding: [{ system: SNOMED, code: '385669000', display: 'Successful (qualifier value)' }] },
  };
}

describe.each(BACKENDS)('Procedure on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  let patientToken: string;
  const { send, clinician, system, create, get, everything, grant, revoke } = recordTypeCalls(() => stack, { id: () => operated.patient.id, token: () => patientToken });
  const exported = (bundle: FhirBundle) => resourcesOfType(bundle, 'Procedure');
  /** Publishes one Procedure for the patient as `org`'s system; its id. */
  const publish = (org: string, options: { labels?: string[] } = {}) => create(org, procedureResource(`Patient/${operated.patient.id}`, org, options));

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    base = stack.url.replace(/\/graphql$/, '');
    patientToken = await stack.token({ sub: 'patient-operated', role: 'patient', patient: operated.patient.id, scope: 'patient/*.cruds' });
  });
  afterAll(async () => stack?.close());

  it('reads the patient\'s procedures through GraphQL, every coding kept with its system, newest performed first', async () => {
    const response = await stack.graphql(patientToken, PROCEDURES, { id: operated.patient.id });
    expect(response.errors).toBeUndefined();
    const nodes = response.data.patient.procedures.edges.map((e: { node: Json }) => e.node);
    const expected = [...operated.procedures].sort((a, b) => b.performedAt.getTime() - a.performedAt.getTime());
    const shape = (p: ProcedureRecord) => ({
      id: p.id, status: p.status, code: p.code, performedDateTime: iso(p.performedDateTime),
      performedPeriod: p.performedPeriod ? { start: iso(p.performedPeriod.start), end: iso(p.performedPeriod.end) } : null, performedAt: iso(p.performedAt),
      reasonCode: p.reasonCodes, bodySite: p.bodySites, outcome: p.outcome, performer: p.performers, location: p.location,
      organization: { id: p.organizationId }, sensitivityLabels: [],
    });
    expect(nodes).toEqual(expected.map(shape));
    const links = await stack.graphql(patientToken, LINKS, { id: operated.patient.id });
    expect(links.errors).toBeUndefined();
    for (const p of operated.procedures) {
      const node = links.data.patient.procedures.edges.find((e: Json) => e.node.id === p.id).node;
      expect(node.encounter).toEqual({ id: p.encounterId });
      expect(node.reasonReference).toEqual(p.reasonConditionId ? [{ id: p.reasonConditionId }] : []);
    }
  });

  it('shows the recording organisation\'s staff its procedures, others none without a permit; a permit for procedures opens them, not the diagnosis they name', async () => {
    const all = operated.procedures.map((p) => p.id).sort();
    expect(ids(await stack.graphql(await clinician(RECORDER), PROCEDURES, { id: operated.patient.id }))).toEqual(all);
    const stranger = strangers[0]!;
    const token = await clinician(stranger);
    expect(ids(await stack.graphql(token, PROCEDURES, { id: operated.patient.id }))).toEqual([]);
    const diagnoses = await grant({ actorId: stranger, categories: ['DIAGNOSES'] });
    expect(ids(await stack.graphql(token, PROCEDURES, { id: operated.patient.id }))).toEqual([]);
    await revoke(diagnoses);
    const procedures = await grant({ actorId: stranger, categories: ['PROCEDURES'] });
    expect(ids(await stack.graphql(token, PROCEDURES, { id: operated.patient.id }))).toEqual(all);
    // Field level: the encounter and the diagnosis are records of their own categories, not permitted here.
    const links = await stack.graphql(token, LINKS, { id: operated.patient.id });
    const withReason = operated.procedures.findIndex((p) => p.reasonConditionId);
    const edges = links.data.patient.procedures.edges as Json[];
    const at = edges.findIndex((e) => e.node.id === operated.procedures[withReason]!.id);
    expect(edges[at]!.node.reasonReference).toBeNull();
    expect(edges[at]!.node.encounter).toBeNull();
    const denied = (field: string) => links.errors?.find((e) => e.path?.join('.') === `patient.procedures.edges.${at}.node.${field}`);
    expect(denied('reasonReference')?.extensions?.code).toBe('CONSENT_DENIED');
    expect(denied('encounter')?.extensions?.code).toBe('CONSENT_DENIED');
    // A scope that does not name Procedure reaches none, permit or not.
    const conditionsOnly = await clinician(stranger, { scope: 'user/Condition.rs' });
    expect(ids(await stack.graphql(conditionsOnly, PROCEDURES, { id: operated.patient.id }))).toEqual([]);
    await revoke(procedures);
    expect(ids(await stack.graphql(token, PROCEDURES, { id: operated.patient.id }))).toEqual([]);
  });

  it('keeps a labelled procedure from a permit that does not name the label, and a V one even from break-glass, which opens the others and is flagged', async () => {
    await expectLabelsAndBreakGlass({
      stack, query: PROCEDURES, patientId: operated.patient.id, unlabelled: operated.procedures.map((p) => p.id),
      category: 'PROCEDURES', label: 'SEX', producer: RECORDER, strangers: [strangers[1]!, strangers[2]!],
      emergencyReason: 'Post-operative bleeding in the emergency room', publish, clinician, grant, revoke, ids,
    });
  });

  it('puts procedures on the timeline as PROCEDURE entries at their performed time, filtered by kind and by consent', async () => {
    await expectOnTimeline({
      stack, query: TIMELINE, patientId: operated.patient.id, patientToken, strangerToken: await clinician(strangers[3]!), kind: 'PROCEDURE',
      typename: 'Procedure', records: operated.procedures.map((p) => ({ id: p.id, at: p.performedAt, text: p.code.text! })), text: (node) => node.procedureCode.text,
    });
  });

  it('exports procedures in $everything as valid FHIR R4, codings, performers and links as recorded', async () => {
    const bundle = await everything(patientToken, operated.patient.id);
    expect(schemaErrors(bundle)).toEqual([]);
    const resources = exported(bundle);
    for (const p of operated.procedures) {
      const resource = resources.find((r) => r.id === p.id)!;
      expect(resource).toMatchObject({
        status: p.status, subject: { reference: `Patient/${operated.patient.id}` }, encounter: { reference: `Encounter/${p.encounterId}` },
      });
      expect(resource.code.coding).toEqual(p.code.coding.map((c) => ({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) })));
      if (p.performedPeriod) expect(resource.performedPeriod).toEqual({ start: iso(p.performedPeriod.start), end: iso(p.performedPeriod.end) });
      else expect(resource.performedDateTime).toBe(iso(p.performedDateTime));
      expect(resource.performer.map((f: Json) => f.actor.reference ?? f.actor.identifier.value))
        .toEqual(p.performers.map((f) => f.actor.reference ?? f.actor.identifier!.value));
      expect(resource.reasonReference).toEqual(p.reasonConditionId ? [{ reference: `Condition/${p.reasonConditionId}` }] : undefined);
      expect(resource.location?.identifier?.value).toBe(p.location?.identifier?.value);
    }
    const app = await stack.appToken({ sub: 'app', patient: operated.patient.id, client_id: 'diary', scope: 'patient/Condition.rs' });
    expect(exported(await everything(app, operated.patient.id))).toEqual([]);
  });

  it('finds procedures with FHIR search by patient, code (any of its systems), status, date and _id, within consent', async () => {
    const token = await clinician(RECORDER);
    const search = async (query: string, who = token) => {
      const answer = await get(who, `/fhir/Procedure?${query}`);
      expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(200);
      return ((answer.body.entry ?? []) as Json[]).filter((e) => e.search?.mode === 'match').map((e) => e.resource.id as string).sort();
    };
    const patient = `patient=${operated.patient.id}`;
    const mine = operated.procedures.map((p) => p.id).sort();
    expect(await search(patient)).toEqual(expect.arrayContaining(mine));
    const first = operated.procedures[0]!;
    const coding = first.code.coding[first.code.coding.length - 1]!;
    const sameCode = (p: ProcedureRecord) => p.code.coding.some((c) => c.system === coding.system && c.code === coding.code);
    // (Procedures published by the tests above are the patient's too: the generated ones are judged.)
    const byCode = await search(`${patient}&code=${encodeURIComponent(`${coding.system}|${coding.code}`)}`);
    expect(byCode).toEqual(expect.arrayContaining(operated.procedures.filter(sameCode).map((p) => p.id)));
    for (const other of operated.procedures.filter((p) => !sameCode(p))) expect(byCode).not.toContain(other.id);
    expect(await search(`${patient}&code=${encodeURIComponent(`${coding.system}|no-such-code`)}`)).toEqual([]);
    const completed = await search(`${patient}&status=completed`);
    expect(completed).toEqual(expect.arrayContaining(operated.procedures.filter((p) => p.status === 'completed').map((p) => p.id)));
    for (const other of operated.procedures.filter((p) => p.status !== 'completed')) expect(completed).not.toContain(other.id);
    expect(await search(`${patient}&status=preparation`)).toEqual([]);
    const day = first.performedAt.toISOString().slice(0, 10);
    const onDay = (p: ProcedureRecord) => p.performedAt.toISOString().slice(0, 10) === day;
    expect(await search(`${patient}&date=${day}`)).toEqual(expect.arrayContaining(operated.procedures.filter(onDay).map((p) => p.id)));
    expect(await search(`${patient}&date=lt1990-01-01`)).toEqual([]);
    expect(await search(`${patient}&_id=${first.id}`)).toEqual([first.id]);
    const read = await get(token, `/fhir/Procedure/${first.id}`);
    expect(read.status).toBe(200);
    expect(read.body.id).toBe(first.id);
    // A stranger finds none of them, and reads none by id.
    const stranger = await clinician(strangers[4]!);
    expect(await search(patient, stranger)).toEqual([]);
    expect((await get(stranger, `/fhir/Procedure/${first.id}`)).status).toBe(404);
  });

  it('publishes procedures: a transaction round trip exported back element by element, a retry matched, an update by its organisation', async () => {
    const org = 'org-county-north';
    const patientUrl = `urn:uuid:${crypto.randomUUID()}`;
    const encounterUrl = `urn:uuid:${crypto.randomUUID()}`;
    const conditionUrl = `urn:uuid:${crypto.randomUUID()}`;
    const sent = procedureResource(patientUrl, org, { labels: ['ETH'], encounter: encounterUrl, condition: conditionUrl });
    const entries = [
      { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient' }, resource: {
        resourceType: 'Patient', name: [{ family: 'Guo', given: ['Lan'] }], gender: 'female', birthDate: '1971-04-05',
        identifier: [{ system: SYSTEM.healthCard, value: `HC-${crypto.randomUUID()}` }, { system: SYSTEM.mrnPrefix + org, value: `MR-${crypto.randomUUID()}` }],
      } },
      { fullUrl: encounterUrl, request: { method: 'POST', url: 'Encounter' }, resource: {
        resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'IMP', display: 'inpatient encounter' }, subject: { reference: patientUrl },
        period: { start: '2026-02-03T07:00:00.000Z', end: '2026-02-05T10:00:00.000Z' }, serviceProvider: { reference: `Organization/${org}` },
      } },
      { fullUrl: conditionUrl, request: { method: 'POST', url: 'Condition' }, resource: {
        resourceType: 'Condition', clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        code: { coding: [{ system: SYSTEM.icd10, code: 'K80.2', display: 'Calculus of gallbladder without cholecystitis' }] }, subject: { reference: patientUrl },
        encounter: { reference: encounterUrl }, recordedDate: '2026-02-03T08:00:00.000Z',
      } },
      { fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'Procedure', ifNoneExist: `identifier=${sent.identifier[0].system}|${sent.identifier[0].value}` }, resource: sent },
    ];
    const transaction = await send('/fhir', await system(org), { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(transaction.status, transaction.text).toBe(200);
    expect(transaction.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created', '201 Created']);
    const locations = new Map<string, string>(entries.map((e, n) => [e.fullUrl, String(transaction.body.entry[n].response.location)]));
    const patientId = locations.get(patientUrl)!.split('/')[1]!;
    const procedureId = String(transaction.body.entry[3].response.location).split('/')[1]!;
    const token = await stack.token({ sub: 'patient-guo', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const bundle = await everything(token, patientId);
    expect(schemaErrors(bundle)).toEqual([]);
    const [back] = exported(bundle);
    expect(back!.id).toBe(procedureId);
    // Element by element: every element sent comes back as sent.
    expect(lostElements(sent, back, (ref) => locations.get(ref))).toEqual([]);
    expect(back!.meta.security).toEqual(expect.arrayContaining([{ system: ACT_CODE, code: 'ETH', display: expect.any(String) }]));

    const again = await send('/fhir/Procedure', await system(org), { ...sent, subject: { reference: `Patient/${patientId}` }, encounter: undefined, reasonReference: undefined },
      { headers: { 'if-none-exist': `identifier=${sent.identifier[0].system}|${sent.identifier[0].value}` } });
    expect(again.status, again.text).toBe(200);
    expect(again.headers.get('location')).toBe(`Procedure/${procedureId}`);

    const stopped = { ...sent, id: procedureId, subject: { reference: `Patient/${patientId}` }, encounter: { reference: locations.get(encounterUrl) }, reasonReference: undefined, status: 'stopped' };
    const update = await send(`/fhir/Procedure/${procedureId}`, await system(org), stopped, { method: 'PUT' });
    expect(update.status, update.text).toBe(200);
    const updated = exported(await everything(token, patientId))[0]!;
    expect(updated.status).toBe('stopped');
    expect(updated.reasonReference).toBeUndefined();
    expect(lostElements({ ...stopped, reasonReference: undefined }, updated, (ref) => ref)).toEqual([]);
  });

  it('refuses what it cannot keep, naming the element, entry by entry in a batch, and writes nothing for it', async () => {
    const org = RECORDER;
    const token = await system(org);
    const patient = `Patient/${operated.patient.id}`;
    const count = async () => (await stack.databases.encounters.query<{ n: number }>('SELECT count(*)::int AS n FROM procedure'))[0]!.n;
    const before = await count();
    const base = () => procedureResource(patient, org);
    const batch = await send('/fhir', token, {
      resourceType: 'Bundle', type: 'batch', entry: [
        { request: { method: 'POST', url: 'Procedure' }, resource: base() },
        { request: { method: 'POST', url: 'Procedure' }, resource: procedureResource(patient, org, { snomed: '45595008' }) },
        { request: { method: 'POST', url: 'Procedure' }, resource: { ...base(), performedString: 'last spring' } },
        { request: { method: 'POST', url: 'Procedure' }, resource: { ...base(), status: undefined } },
        { request: { method: 'POST', url: 'Procedure' }, resource: { ...base(), performer: [{ actor: { reference: `Organization/${COLLEAGUE}` } }] } },
        { request: { method: 'POST', url: 'Procedure' }, resource: { ...base(), code: { coding: [{ system: CPT, code: '4756' }] } } },
        { request: { method: 'POST', url: 'Procedure' }, resource: { ...base(), reasonReference: [{ reference: 'Condition/8f1c1c1e-0000-4000-8000-000000000001' }, { reference: 'Condition/8f1c1c1e-0000-4000-8000-000000000002' }] } },
        { request: { method: 'POST', url: 'Procedure' }, resource: { ...base(), location: { reference: 'Organization/org-provincial' } } },
        { request: { method: 'POST', url: 'Procedure' }, resource: { ...base(), usedCode: [{ text: 'Clips' }] } },
        { request: { method: 'POST', url: 'Procedure' }, resource: { ...base(), performedPeriod: undefined } },
      ],
    });
    expect(batch.status, batch.text).toBe(200);
    const answers = batch.body.entry.map((e: Json) => [e.response.status, e.response.outcome?.issue?.[0]?.expression?.[0] ?? null]);
    expect(answers).toEqual([
      ['201 Created', null],
      ['400 Bad Request', 'Bundle.entry[1].resource.code.coding[0].code'],
      ['400 Bad Request', 'Bundle.entry[2].resource.performedString'],
      ['400 Bad Request', 'Bundle.entry[3].resource.status'],
      ['403 Forbidden', 'Bundle.entry[4].resource.performer[0].actor'],
      ['400 Bad Request', 'Bundle.entry[5].resource.code.coding[0].code'],
      ['422 Unprocessable Entity', 'Bundle.entry[6].resource.reasonReference[1]'],
      ['400 Bad Request', 'Bundle.entry[7].resource.location.reference'],
      ['422 Unprocessable Entity', 'Bundle.entry[8].resource.usedCode'],
      ['400 Bad Request', 'Bundle.entry[9].resource.performedDateTime'],
    ]);
    expect(await count()).toBe(before + 1);
    // Only the organisation that recorded a procedure updates it: another's answers as one that does not exist.
    const theirs = operated.procedures[0]!;
    const takeover = await send(`/fhir/Procedure/${theirs.id}`, await system(COLLEAGUE), { ...procedureResource(patient, COLLEAGUE), id: theirs.id }, { method: 'PUT' });
    expect(takeover.status, takeover.text).toBe(404);
    expect(takeover.body.issue[0].expression).toEqual(['Procedure.id']);
    const conditionsOnly = await send('/fhir/Procedure', await system(org, 'system/Condition.cru'), procedureResource(patient, org));
    expect(conditionsOnly.status).toBe(403);
    expect(await count()).toBe(before + 1);
  });
});
