/**
 * Clinical notes, the record type added by following
 * docs/adding-a-record-type.md, end to end through the gateway over HTTP on
 * every backend: DocumentReferences (category clinical-note) and
 * DiagnosticReports whose category is a LOINC note code (as Synthea sends
 * them), read through GraphQL (the note's text decoded), filtered by consent
 * (the writing organisation, a permit for notes and not for another
 * category, scopes, a label a permit must name, break-glass, public-health
 * staff never), on the timeline (kind CLINICAL_NOTE), in `$everything`
 * (valid FHIR R4, each note as the resource type it came as), published
 * (transaction, batch, POST, PUT, conditional create, provenance) with a
 * round trip element by element, the attachment size limit, and FHIR search
 * (patient, type, category, date, status, _id).
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient, type ClinicalNoteRecord, type PatientBundle } from '../lib/synthetic/generator.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type GraphQLResponse, type TestStack } from './support/harness.js';
import { expectLabelsAndBreakGlass, recordTypeCalls } from './support/record-consent.js';
import { withoutLastUpdated, type FhirBundle } from './support/publish.js';

type Json = Record<string, any>;
const LOINC = 'http://loinc.org';
const NOTE_CATEGORY = 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const HOSPITALS = ['org-county-north', 'org-county-south', 'org-provincial', 'org-mental-health', 'org-thc-baisha', 'org-thc-gaiyang', 'org-thc-meixi', 'org-thc-qingliang'];
/** NOTE_MAX_ATTACHMENT_BYTES's default: 5 MiB. */
const MAX_ATTACHMENT = 5 * 1024 * 1024;

const PATIENTS = 40;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const registrations = (b: PatientBundle) => b.patient.identifiers.filter((i) => i.type === 'MR').map((i) => i.assignerOrganizationId!);
/** A patient with notes, none labelled, all written at one organisation, registered at another too. */
const noted = bundles.find((b) => b.clinicalNotes.length > 0 && b.clinicalNotes.every((n) => !n.sensitivityLabels.length)
  && new Set(b.clinicalNotes.map((n) => n.organizationId)).size === 1 && registrations(b).length > 1) as PatientBundle;
const WRITER = noted.clinicalNotes[0]!.organizationId;
const strangers = HOSPITALS.filter((org) => org !== WRITER);

const NOTES = `query Notes($id: ID!) { patient(id: $id) { id clinicalNotes(first: 100) { edges { node {
  id resourceType status docStatus type { coding { system code display } text } category { coding { system code display } text } date issued
  description title text attachments { contentType language data url size hash title creation format { system code display } }
  author { id } organization { id } sensitivityLabels } } } } }`;
const TIMELINE = `query Timeline($id: ID!, $kinds: [TimelineKind!]) { patient(id: $id) { timeline(first: 100, kinds: $kinds) { edges { kind occurredAt node {
  __typename ... on ClinicalNote { id title noteText: text } } } } } }`;
const GRANT = 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }';
const REVOKE = 'mutation($id: ID!) { revokeConsent(id: $id) { id } }';

const ids = (response: GraphQLResponse<any>) => (response.data?.patient?.clinicalNotes?.edges ?? []).map((e: { node: { id: string } }) => e.node.id).sort();
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const sha1 = (text: string) => createHash('sha1').update(Buffer.from(text, 'utf8')).digest('base64');
const security = (labels: string[]) => ({ security: labels.map((code) => (code === 'V' ? { system: CONFIDENTIALITY, code } : { system: ACT_CODE, code })) });

const NOTE_TEXT = 'History and physical\nChief complaint: chest pain on exertion for two weeks.\nPlan: exercise ECG; review in one week.';

/** A DocumentReference as an EHR sends a clinical note (every element the product keeps). */
function documentReference(patientReference: string, org: string, options: { labels?: string[]; localId?: string; data?: string; code?: string } = {}): Json {
  return {
    resourceType: 'DocumentReference',
    identifier: [{ system: `https://${org}.example.org/notes`, value: options.localId ?? `note-${crypto.randomUUID()}` }],
    ...(options.labels ? { meta: security(options.labels) } : {}),
    status: 'current',
    docStatus: 'final',
    type: { coding: [{ system: LOINC, code: options.code ?? '34117-2', display: 'History and physical note' }, { system: LOINC, code: '51847-2', display: 'Evaluation + Plan note' }], text: 'History and physical' },
    category: [{ coding: [{ system: NOTE_CATEGORY, code: 'clinical-note', display: 'Clinical Note' }] }],
    subject: { reference: patientReference },
    date: '2026-02-03T10:15:00.000Z',
    author: [{ reference: 'Practitioner/prac-county-north-1' }],
    custodian: { reference: `Organization/${org}` },
    description: 'Admission history and physical',
    content: [
      {
        attachment: { contentType: 'text/plain; charset=utf-8', language: 'en', data: options.data ?? b64(NOTE_TEXT), size: Buffer.byteLength(NOTE_TEXT), hash: sha1(NOTE_TEXT), title: 'H&P', creation: '2026-02-03T10:00:00.000Z' },
        format: { system: 'http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem', code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient', display: 'mimeType Sufficient' },
      },
      // A scanned copy held elsewhere: kept as a reference, with its size and hash.
      { attachment: { contentType: 'application/pdf', url: 'https://docs.county-north.example.org/notes/8812.pdf', size: 48_211_000, hash: 'L0c6oJ1f7Yl9v3Xxqz6m0Jm3h5E=', title: 'Scanned H&P' } },
    ],
    context: { period: { start: '2026-02-03T09:00:00.000Z', end: '2026-02-03T11:00:00.000Z' } },
  };
}

/** A clinical note as Synthea sends it: a DiagnosticReport whose category and code are LOINC note codes, its text in presentedForm. */
function noteReport(patientReference: string, org: string, localId = `dr-${crypto.randomUUID()}`): Json {
  const codes = [{ system: LOINC, code: '34117-2', display: 'History and physical note' }, { system: LOINC, code: '51847-2', display: 'Evaluation + Plan note' }];
  return {
    resourceType: 'DiagnosticReport',
    identifier: [{ system: `https://${org}.example.org/reports`, value: localId }],
    status: 'final',
    category: [{ coding: codes }],
    code: { coding: codes },
    subject: { reference: patientReference },
    effectiveDateTime: '2026-02-04T08:30:00.000Z',
    issued: '2026-02-04T08:45:00.000Z',
    performer: [{ reference: 'Practitioner/prac-county-north-1' }, { reference: `Organization/${org}` }],
    presentedForm: [{ contentType: 'text/plain; charset=utf-8', data: b64('Evaluation and plan\nStable angina. Start aspirin.') }],
  };
}

describe.each(BACKENDS)('clinical notes on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  let patientToken: string;
  const { send, clinician, system, get, everything, grant, revoke } = recordTypeCalls(() => stack, { id: () => noted.patient.id, token: () => patientToken });
  /** The notes of an export: DocumentReferences, and DiagnosticReports whose category is a LOINC note code. */
  const notesOf = (bundle: FhirBundle) => bundle.entry.map((e) => e.resource).filter((r) => r.resourceType === 'DocumentReference'
    || (r.resourceType === 'DiagnosticReport' && (r.category ?? []).some((c: Json) => c.coding?.some((k: Json) => k.system === LOINC))));
  const publish = async (org: string, options: { labels?: string[] } = {}) => {
    const created = await send('/fhir/DocumentReference', await system(org), documentReference(`Patient/${noted.patient.id}`, org, options));
    expect(created.status, created.text).toBe(201);
    return String(created.headers.get('location')).split('/')[1]!;
  };
  const count = async () => (await stack.databases.imaging.query<{ n: number }>('SELECT count(*)::int AS n FROM clinical_note'))[0]!.n;

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    base = stack.url.replace(/\/graphql$/, '');
    patientToken = await stack.token({ sub: 'patient-noted', role: 'patient', patient: noted.patient.id, scope: 'patient/*.cruds' });
  }, 600_000);
  afterAll(async () => stack?.close());

  it('reads the patient\'s notes through GraphQL: type and categories as sent, the text decoded, newest first', async () => {
    const response = await stack.graphql(patientToken, NOTES, { id: noted.patient.id });
    expect(response.errors).toBeUndefined();
    const nodes = response.data.patient.clinicalNotes.edges.map((e: { node: Json }) => e.node);
    const expected = [...noted.clinicalNotes].sort((a, b) => b.date.getTime() - a.date.getTime() || (b.id < a.id ? -1 : 1));
    expect(nodes.map((n: Json) => n.id)).toEqual(expected.map((n) => n.id));
    const shape = (n: ClinicalNoteRecord) => ({
      id: n.id, resourceType: n.resourceType, status: n.status, docStatus: null, type: n.type, category: n.categories, date: n.date.toISOString(),
      issued: n.resourceType === 'DiagnosticReport' ? n.date.toISOString() : null, description: n.description,
      title: n.description ?? n.type.coding[0]!.display, text: n.text,
      attachments: [{ contentType: 'text/plain; charset=utf-8', language: null, data: b64(n.text), url: null, size: null, hash: null, title: null, creation: null, format: null }],
      author: { id: n.authorId }, organization: { id: n.organizationId }, sensitivityLabels: [],
    });
    expect(nodes).toEqual(expected.map(shape));
  });

  it('shows the writing organisation\'s staff its notes, nobody else without a permit; a permit for notes (not for allergies) opens them; public-health staff never', async () => {
    const mine = noted.clinicalNotes.map((n) => n.id).sort();
    expect(ids(await stack.graphql(await clinician(WRITER), NOTES, { id: noted.patient.id }))).toEqual(mine);
    const stranger = strangers[0]!;
    const token = await clinician(stranger);
    expect(ids(await stack.graphql(token, NOTES, { id: noted.patient.id }))).toEqual([]);
    const allergies = await grant({ actorId: stranger, categories: ['ALLERGIES'] });
    expect(ids(await stack.graphql(token, NOTES, { id: noted.patient.id }))).toEqual([]);
    const notes = await grant({ actorId: stranger, categories: ['NOTES'] });
    const opened = await stack.graphql(token, NOTES, { id: noted.patient.id });
    expect(ids(opened)).toEqual(mine);
    expect(opened.data.patient.clinicalNotes.edges.every((e: Json) => typeof e.node.text === 'string' && e.node.text.length > 0)).toBe(true);
    // What the notes disclosed (their text with them) is audited under the notes category, once per note, for this request.
    const [event] = await stack.databases.identity.query<{ record_counts: Record<string, number> }>('SELECT record_counts FROM audit_event WHERE request_id = $1', [opened.requestId]);
    expect(event!.record_counts).toMatchObject({ notes: mine.length });
    // A scope that names neither DocumentReference nor DiagnosticReport reaches none, permit or not.
    const conditionsOnly = await clinician(stranger, { scope: 'user/Condition.rs' });
    expect(ids(await stack.graphql(conditionsOnly, NOTES, { id: noted.patient.id }))).toEqual([]);
    // A note read by id: the same rule, field by field (the text is withheld with the record).
    const one = await stack.graphql(await clinician(strangers[1]!), 'query($id: ID!) { clinicalNote(id: $id) { id text } }', { id: mine[0] });
    expect(one.data?.clinicalNote ?? null).toBeNull();
    // Public-health staff never read notes, whatever the patient permits (they are not a public-health category).
    const alliance = await grant({ actorType: 'ALLIANCE', actorId: null, categories: ['NOTES'] });
    const officer = await stack.token({ sub: 'ph-officer', role: 'public_health', org: 'org-cdc' });
    expect(ids(await stack.graphql(officer, NOTES, { id: noted.patient.id }))).toEqual([]);
    await revoke(alliance);
    await revoke(allergies);
    await revoke(notes);
    expect(ids(await stack.graphql(token, NOTES, { id: noted.patient.id }))).toEqual([]);
  });

  it('keeps a labelled note from a permit that does not name the label, and a V one even from break-glass, which opens the others and is flagged', async () => {
    await expectLabelsAndBreakGlass({
      stack, query: NOTES, patientId: noted.patient.id, unlabelled: noted.clinicalNotes.map((n) => n.id),
      category: 'NOTES', label: 'PSY', producer: WRITER, strangers: [strangers[2]!, strangers[3]!],
      emergencyReason: 'Unconscious on arrival, history needed', publish, clinician, grant, revoke, ids,
    });
  });

  it('puts notes on the timeline as CLINICAL_NOTE entries, filtered by kind and by consent', async () => {
    const only = await stack.graphql(patientToken, TIMELINE, { id: noted.patient.id, kinds: ['CLINICAL_NOTE'] });
    expect(only.errors).toBeUndefined();
    const edges = only.data.patient.timeline.edges;
    expect(edges.every((e: Json) => e.kind === 'CLINICAL_NOTE' && e.node.__typename === 'ClinicalNote')).toBe(true);
    for (const note of noted.clinicalNotes) {
      const edge = edges.find((e: Json) => e.node.id === note.id);
      expect(edge.occurredAt).toBe(note.date.toISOString());
      expect(edge.node.noteText).toBe(note.text);
    }
    const all = await stack.graphql(patientToken, TIMELINE, { id: noted.patient.id, kinds: null });
    expect(all.data.patient.timeline.edges.filter((e: Json) => e.kind === 'CLINICAL_NOTE').length).toBe(edges.length);
    const stranger = await stack.graphql(await clinician(strangers[4]!), TIMELINE, { id: noted.patient.id, kinds: ['CLINICAL_NOTE'] });
    expect(stranger.data?.patient?.timeline?.edges ?? []).toEqual([]);
  });

  it('exports notes in $everything as valid FHIR R4, each as the resource type it came as, its text as sent', async () => {
    const bundle = await everything(patientToken, noted.patient.id);
    expect(schemaErrors(bundle)).toEqual([]);
    const resources = notesOf(bundle);
    for (const note of noted.clinicalNotes) {
      const resource = resources.find((r) => r.id === note.id)!;
      expect(resource.resourceType).toBe(note.resourceType);
      const attachment = note.resourceType === 'DocumentReference' ? resource.content[0].attachment : resource.presentedForm[0];
      expect(Buffer.from(attachment.data, 'base64').toString('utf8')).toBe(note.text);
      expect(resource.subject).toEqual({ reference: `Patient/${noted.patient.id}` });
    }
    // Lab reports stay lab reports (v2-0074 LAB), none of them a note.
    expect(bundle.entry.filter((e) => e.resource.resourceType === 'DiagnosticReport' && !resources.includes(e.resource))
      .every((e) => e.resource.category?.[0]?.coding?.[0]?.system === SYSTEM.diagnosticServiceSection)).toBe(true);
    // An app reading only Conditions gets no note.
    const app = await stack.appToken({ sub: 'app', patient: noted.patient.id, client_id: 'diary', scope: 'patient/Condition.rs' });
    expect(notesOf(await everything(app, noted.patient.id))).toEqual([]);
  });

  it('publishes notes: a transaction of a DocumentReference and a Synthea-style DiagnosticReport, exported back element by element', async () => {
    const org = 'org-county-north';
    const patientUrl = `urn:uuid:${crypto.randomUUID()}`;
    const encounterUrl = `urn:uuid:${crypto.randomUUID()}`;
    // Each note names the Encounter it was written in, an entry of the same transaction (encounters' record).
    const plainDoc = documentReference(patientUrl, org, { labels: ['ETH'] });
    const doc: Json = { ...plainDoc, context: { ...plainDoc.context, encounter: [{ reference: encounterUrl }] } };
    const report: Json = { ...noteReport(patientUrl, org), encounter: { reference: encounterUrl } };
    const transaction = await send('/fhir', await system(org), {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient' }, resource: {
          resourceType: 'Patient', name: [{ family: 'Lin', given: ['Hua'] }], gender: 'female', birthDate: '1975-04-05',
          identifier: [{ system: SYSTEM.healthCard, value: `HC-${crypto.randomUUID()}` }, { system: SYSTEM.mrnPrefix + org, value: `MR-${crypto.randomUUID()}` }],
        } },
        { fullUrl: encounterUrl, request: { method: 'POST', url: 'Encounter' }, resource: {
          resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'AMB' }, subject: { reference: patientUrl }, period: { start: '2026-02-03T09:00:00.000Z' },
        } },
        { fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'DocumentReference', ifNoneExist: `identifier=${doc.identifier[0].system}|${doc.identifier[0].value}` }, resource: doc },
        { fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'DiagnosticReport' }, resource: report },
      ],
    });
    expect(transaction.status, transaction.text).toBe(200);
    expect(transaction.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created', '201 Created']);
    const [patientId, encounterId, docId, reportId] = transaction.body.entry.map((e: Json) => String(e.response.location).split('/')[1]!);
    // Imaging keeps the record id encounters gave the Encounter entry.
    const stored = await stack.databases.imaging.query<{ id: string; encounter_id: string }>('SELECT id, encounter_id FROM clinical_note WHERE id = ANY($1::uuid[])', [[docId, reportId]]);
    expect(stored.map((r) => r.encounter_id)).toEqual([encounterId, encounterId]);
    const token = await stack.token({ sub: 'patient-lin', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const bundle = await everything(token, patientId!);
    expect(schemaErrors(bundle)).toEqual([]);
    const back = notesOf(bundle);
    expect(back.map((r) => `${r.resourceType}/${r.id}`).sort()).toEqual([`DiagnosticReport/${reportId}`, `DocumentReference/${docId}`].sort());
    const registryDisplay = { display: expect.any(String) };
    // Every element as sent; the references the export writes (patient, registry displays) and the labels beside.
    const { identifier: _i1, meta: _m1, ...sentDoc } = doc;
    const encounterRef = { reference: `Encounter/${encounterId}` };
    expect({ ...back.find((r) => r.id === docId), meta: undefined }).toEqual({
      ...sentDoc, id: docId, meta: undefined, subject: { reference: `Patient/${patientId}` }, context: { ...sentDoc.context, encounter: [encounterRef] },
      author: [{ ...sentDoc.author[0], ...registryDisplay }], custodian: { ...sentDoc.custodian, ...registryDisplay },
    });
    expect(back.find((r) => r.id === docId)!.meta.security).toEqual(expect.arrayContaining([{ system: ACT_CODE, code: 'ETH', display: expect.any(String) }]));
    const { identifier: _i2, ...sentReport } = report;
    expect(withoutLastUpdated(back.find((r) => r.id === reportId))).toEqual({
      ...sentReport, id: reportId, subject: { reference: `Patient/${patientId}` }, encounter: encounterRef,
      performer: [{ ...sentReport.performer[0], ...registryDisplay }, { ...sentReport.performer[1], ...registryDisplay }],
    });

    // GraphQL: the note's encounter, resolved by encounters.
    const graph = await stack.graphql(token, 'query($id: ID!) { clinicalNote(id: $id) { encounter { id status } } }', { id: docId });
    expect(graph.errors).toBeUndefined();
    expect(graph.data.clinicalNote.encounter).toEqual({ id: encounterId, status: 'finished' });
    // The encounter is a visit (consent category encounters): a permit for notes alone opens the note, not its encounter.
    const stranger = HOSPITALS.find((o) => o !== org)!;
    const lin = await stack.token({ sub: 'patient-lin', role: 'patient', patient: patientId, scope: 'patient/*.cruds' });
    const permit = await stack.graphql(lin, GRANT, { input: { patientId, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: stranger, categories: ['NOTES'] } });
    expect(permit.errors).toBeUndefined();
    // (The report: the DocumentReference is labelled ETH, which a permit must name.)
    const seen = await stack.graphql(await clinician(stranger), 'query($id: ID!) { clinicalNote(id: $id) { id encounter { id } } }', { id: reportId });
    expect(seen.data.clinicalNote, JSON.stringify(seen)).toEqual({ id: reportId, encounter: null });
    expect(seen.errors?.map((e) => [e.path?.join('.'), e.extensions?.code])).toEqual([['clinicalNote.encounter', 'CONSENT_DENIED']]);
    await stack.graphql(lin, REVOKE, { id: permit.data.grantConsent.id });

    // Published again (a retry, naming the Encounter that now exists): the conditional create matches, nothing twice.
    const single = { ...doc, subject: { reference: `Patient/${patientId}` }, context: { ...doc.context, encounter: [encounterRef] } };
    const again = await send('/fhir/DocumentReference', await system(org), single, { headers: { 'if-none-exist': `identifier=${doc.identifier[0].system}|${doc.identifier[0].value}` } });
    expect(again.status, again.text).toBe(200);
    expect(again.headers.get('location')).toBe(`DocumentReference/${docId}`);

    // Updated by its organisation (PUT): superseded.
    const superseded = { ...single, id: docId, status: 'superseded' };
    const update = await send(`/fhir/DocumentReference/${docId}`, await system(org), superseded, { method: 'PUT' });
    expect(update.status, update.text).toBe(200);
    expect(notesOf(await everything(token, patientId!)).find((r) => r.id === docId)!.status).toBe('superseded');
    // A note keeps the resource type it came as: the report is not rewritten as a DocumentReference.
    const retyped = await send(`/fhir/DocumentReference/${reportId}`, await system(org), { ...superseded, id: reportId }, { method: 'PUT' });
    expect(retyped.status, retyped.text).toBe(409);
    expect(retyped.body.issue[0].expression).toEqual(['DocumentReference.resourceType']);
    // Updated as a DiagnosticReport, it stays one.
    const amended = await send(`/fhir/DiagnosticReport/${reportId}`, await system(org), { ...report, id: reportId, subject: { reference: `Patient/${patientId}` }, encounter: encounterRef, status: 'amended' }, { method: 'PUT' });
    expect(amended.status, amended.text).toBe(200);
    const afterUpdates = notesOf(await everything(token, patientId!));
    expect(afterUpdates.find((r) => r.id === reportId)).toMatchObject({ resourceType: 'DiagnosticReport', status: 'amended', encounter: encounterRef });
    expect(afterUpdates.find((r) => r.id === docId)!.context.encounter).toEqual([encounterRef]);

    // An Encounter of another patient in the same transaction is refused by name, nothing written.
    const before = await count();
    const otherPatient = `urn:uuid:${crypto.randomUUID()}`;
    const crossed = await send('/fhir', await system(org), {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: otherPatient, request: { method: 'POST', url: 'Patient' }, resource: {
          resourceType: 'Patient', name: [{ family: 'Other', given: ['One'] }], gender: 'male', birthDate: '1980-01-01',
          identifier: [{ system: SYSTEM.healthCard, value: `HC-${crypto.randomUUID()}` }, { system: SYSTEM.mrnPrefix + org, value: `MR-${crypto.randomUUID()}` }],
        } },
        { fullUrl: encounterUrl, request: { method: 'POST', url: 'Encounter' }, resource: {
          resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'AMB' }, subject: { reference: otherPatient }, period: { start: '2026-02-03T09:00:00.000Z' },
        } },
        { request: { method: 'POST', url: 'DiagnosticReport' }, resource: { ...report, subject: { reference: `Patient/${patientId}` } } },
      ],
    });
    expect(crossed.status, crossed.text).toBe(422);
    expect(crossed.body.issue.map((i: Json) => i.expression?.[0])).toContain('Bundle.entry[2].resource.encounter');
    expect(await count()).toBe(before);
  });

  it('refuses what it cannot keep, naming the element, entry by entry in a batch, and writes nothing for it', async () => {
    const org = WRITER;
    const token = await system(org);
    const patient = `Patient/${noted.patient.id}`;
    const before = await count();
    const plain = documentReference(patient, org);
    const firstUrl = `urn:uuid:${crypto.randomUUID()}`;
    const batch = await send('/fhir', token, {
      resourceType: 'Bundle', type: 'batch', entry: [
        { fullUrl: firstUrl, request: { method: 'POST', url: 'DocumentReference' }, resource: plain },
        { request: { method: 'POST', url: 'DocumentReference' }, resource: documentReference(patient, org, { code: '34117-3' }) },
        { request: { method: 'POST', url: 'DocumentReference' }, resource: { ...plain, identifier: undefined, category: [{ coding: [{ system: 'http://loinc.org', code: '47420-5' }] }] } },
        { request: { method: 'POST', url: 'DocumentReference' }, resource: { ...plain, identifier: undefined, context: { ...plain.context, encounter: [{ reference: firstUrl }] } } },
        { request: { method: 'POST', url: 'DocumentReference' }, resource: { ...plain, identifier: undefined, content: [{ attachment: { ...plain.content[0].attachment, hash: sha1('something else') } }] } },
        { request: { method: 'POST', url: 'DocumentReference' }, resource: { ...plain, identifier: undefined, content: [{ attachment: { contentType: 'text/plain' } }] } },
        { request: { method: 'POST', url: 'DocumentReference' }, resource: { ...plain, identifier: undefined, custodian: { reference: 'Organization/org-provincial' } } },
      ],
    });
    expect(batch.status, batch.text).toBe(200);
    const answers = batch.body.entry.map((e: Json) => [e.response.status, e.response.outcome?.issue?.[0]?.expression?.[0] ?? null]);
    expect(answers).toEqual([
      ['201 Created', null],
      ['400 Bad Request', 'Bundle.entry[1].resource.type.coding[0].code'],
      ['422 Unprocessable Entity', 'Bundle.entry[2].resource.category'],
      // Entries of a batch are independent: a note's encounter is an existing one.
      ['400 Bad Request', 'Bundle.entry[3].resource.context.encounter[0]'],
      ['400 Bad Request', 'Bundle.entry[4].resource.content[0].attachment.hash'],
      ['400 Bad Request', 'Bundle.entry[5].resource.content[0].attachment'],
      ['403 Forbidden', 'Bundle.entry[6].resource.custodian'],
    ]);
    expect(await count()).toBe(before + 1);
    // Only the organisation that wrote a note updates it: another's answers as one that does not exist.
    const theirs = noted.clinicalNotes[0]!;
    const other = registrations(noted).find((o) => o !== WRITER)!;
    const takeover = await send(`/fhir/${theirs.resourceType}/${theirs.id}`, await system(other),
      theirs.resourceType === 'DocumentReference' ? { ...documentReference(patient, other), id: theirs.id } : { ...noteReport(patient, other), id: theirs.id }, { method: 'PUT' });
    expect(takeover.status, takeover.text).toBe(404);
    // Scopes are checked per resource type: a system allowed Conditions only publishes no note, of either shape.
    expect((await send('/fhir/DocumentReference', await system(org, 'system/Condition.cru'), documentReference(patient, org))).status).toBe(403);
    expect((await send('/fhir/DiagnosticReport', await system(org, 'system/Condition.cru'), noteReport(patient, org))).status).toBe(403);
    expect(await count()).toBe(before + 1);
  });

  it('stores an attachment up to NOTE_MAX_ATTACHMENT_BYTES and refuses a larger one, naming it; a reference (url) of any size is kept', async () => {
    const org = WRITER;
    const token = await system(org);
    const patient = `Patient/${noted.patient.id}`;
    const before = await count();
    const atLimit = Buffer.alloc(MAX_ATTACHMENT, 'a').toString('base64');
    const fits = await send('/fhir/DocumentReference', token, { ...documentReference(patient, org), content: [{ attachment: { contentType: 'text/plain', data: atLimit } }] });
    expect(fits.status, fits.text.slice(0, 500)).toBe(201);
    const fitsId = String(fits.headers.get('location')).split('/')[1]!;
    const over = Buffer.alloc(MAX_ATTACHMENT + 1, 'a').toString('base64');
    const tooLarge = await send('/fhir/DocumentReference', token, { ...documentReference(patient, org), content: [{ attachment: { contentType: 'text/plain', data: over } }] });
    expect(tooLarge.status).toBe(422);
    expect(tooLarge.body.resourceType).toBe('OperationOutcome');
    expect(tooLarge.body.issue[0].expression).toEqual(['DocumentReference.content[0].attachment.data']);
    expect(tooLarge.body.issue[0].diagnostics ?? tooLarge.body.issue[0].details?.text).toMatch(/NOTE_MAX_ATTACHMENT_BYTES/);
    // The same note sent as a DiagnosticReport: the same limit, named where it is.
    const reportTooLarge = await send('/fhir/DiagnosticReport', token, { ...noteReport(patient, org), presentedForm: [{ contentType: 'text/plain', data: over }] });
    expect(reportTooLarge.status).toBe(422);
    expect(reportTooLarge.body.issue[0].expression).toEqual(['DiagnosticReport.presentedForm[0].data']);
    const referenced = await send('/fhir/DocumentReference', token, {
      ...documentReference(patient, org), content: [{ attachment: { contentType: 'application/pdf', url: 'https://pacs.example.org/notes/1.pdf', size: 80_000_000, hash: sha1('pdf') } }],
    });
    expect(referenced.status, referenced.text).toBe(201);
    expect(await count()).toBe(before + 2);
    // What was stored comes back whole (the writer reads it).
    const response = await stack.graphql(await clinician(WRITER), 'query($id: ID!) { clinicalNote(id: $id) { attachments { data } } }', { id: fitsId });
    expect(response.data.clinicalNote.attachments[0].data).toBe(atLimit);
  });

  it('searches notes with FHIR search: patient, type, category, date, status and _id; notes sent as DiagnosticReports by their LOINC category', async () => {
    const token = await clinician(WRITER);
    const search = async (path: string) => {
      const response = await get(token, path);
      expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
      return (response.body.entry ?? []).filter((e: Json) => e.search?.mode === 'match').map((e: Json) => e.resource);
    };
    const patient = `Patient/${noted.patient.id}`;
    const published = await send('/fhir', await system(WRITER), { resourceType: 'Bundle', type: 'batch', entry: [
      { request: { method: 'POST', url: 'DocumentReference' }, resource: { ...documentReference(patient, WRITER, { code: '11506-3' }), date: '2025-11-20T09:00:00.000Z' } },
      { request: { method: 'POST', url: 'DiagnosticReport' }, resource: noteReport(patient, WRITER) },
    ] });
    expect(published.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created']);
    const [progressNote, reportNote] = published.body.entry.map((e: Json) => String(e.response.location).split('/')[1]!);
    // Every note of the patient, as stored (the writing organisation sees all of them).
    const stored = async (type: string) => (await stack.databases.imaging.query<{ id: string }>('SELECT id FROM clinical_note WHERE patient_id = $1 AND resource_type = $2', [noted.patient.id, type]))
      .map((r) => r.id).sort();
    const docs = [...noted.clinicalNotes.filter((n) => n.resourceType === 'DocumentReference'), { id: progressNote, type: { coding: [{ code: '11506-3' }, { code: '51847-2' }] } }];
    const reports = [...noted.clinicalNotes.filter((n) => n.resourceType === 'DiagnosticReport'), { id: reportNote, categories: noteReport(patient, WRITER).category }];
    const all = (await search(`/fhir/DocumentReference?patient=${noted.patient.id}&_count=100`)).map((r: Json) => r.id).sort();
    expect(all).toEqual(await stored('DocumentReference'));
    expect(all).toEqual(expect.arrayContaining(docs.map((n) => n.id)));
    expect((await search(`/fhir/DocumentReference?patient=${noted.patient.id}&date=ge2025-11-20&date=lt2025-11-21&_count=100`)).map((r: Json) => r.id))
      .toEqual([...docs.filter((n) => !('date' in n) || (n as ClinicalNoteRecord).date.toISOString().startsWith('2025-11-20')).map((n) => n.id)]);
    expect((await search(`/fhir/DocumentReference?patient=${noted.patient.id}&category=${encodeURIComponent(`${NOTE_CATEGORY}|clinical-note`)}&_count=100`)).map((r: Json) => r.id).sort()).toEqual(all);
    expect(await search(`/fhir/DocumentReference?patient=${noted.patient.id}&status=entered-in-error`)).toEqual([]);
    if (docs.length) {
      const first = docs[0]!;
      const code = first.type.coding[0]!.code;
      const byType = (await search(`/fhir/DocumentReference?patient=${noted.patient.id}&type=${encodeURIComponent(`${LOINC}|${code}`)}&_count=100`)).map((r: Json) => r.id);
      expect(byType).toContain(first.id);
      const otherTypes = docs.filter((n) => !n.type.coding.some((c) => c.code === code)).map((n) => n.id);
      expect(byType.filter((id: string) => otherTypes.includes(id))).toEqual([]);
      expect((await search(`/fhir/DocumentReference?patient=${noted.patient.id}&_id=${first.id}`)).map((r: Json) => r.id)).toEqual([first.id]);
      expect((await search(`/fhir/DocumentReference?patient=${noted.patient.id}&status=current&_count=100`)).map((r: Json) => r.id)).toContain(first.id);
    }
    // DiagnosticReports: the notes among them by their LOINC category, none with LAB.
    const noteReports = await search(`/fhir/DiagnosticReport?patient=${noted.patient.id}&category=${encodeURIComponent(`${LOINC}|34117-2`)}&_count=100`);
    expect(noteReports.map((r: Json) => r.id).sort()).toEqual(reports.filter((n) => n.categories.some((c: Json) => c.coding.some((k: Json) => k.code === '34117-2'))).map((n) => n.id).sort());
    expect(noteReports.map((r: Json) => r.id)).toContain(reportNote);

    const labs = await search(`/fhir/DiagnosticReport?patient=${noted.patient.id}&category=LAB&_count=100`);
    expect(labs.filter((r: Json) => reports.some((n) => n.id === r.id))).toEqual([]);
    expect(labs.every((r: Json) => r.category[0].coding[0].code === 'LAB')).toBe(true);
    // Without a category: lab reports and every note sent as a DiagnosticReport.
    const every = (await search(`/fhir/DiagnosticReport?patient=${noted.patient.id}&_count=100`)).map((r: Json) => r.id);
    expect(every).toEqual(expect.arrayContaining(await stored('DiagnosticReport')));
    expect(every).toEqual(expect.arrayContaining(labs.map((r: Json) => r.id)));
    // A stranger finds none.
    const stranger = await get(await clinician(strangers[5]!), `/fhir/DocumentReference?patient=${noted.patient.id}`);
    expect(stranger.body.entry ?? []).toEqual([]);
  });
});
