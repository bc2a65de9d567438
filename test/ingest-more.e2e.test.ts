/**
 * Publishing, continued (ingest.e2e.test.ts has the round trip, transactions
 * and recovery): end to end through the gateway over HTTP, on every backend.
 *
 * - staff with `user/` write scopes publish for their organisation; staff
 *   without them are refused and nothing is written;
 * - single `POST /fhir/{type}` and `PUT /fhir/{type}/{id}` for every type
 *   besides Observation and Patient, read back through the export, a retry
 *   creating nothing twice;
 * - codes (ICD-10, CVX, DICOM UID, SNOMED CT) refused with the element
 *   named, nothing written; a `V` label kept and closed to break-glass;
 * - the master patient index links on a second institution's own MRN alone;
 * - HL7 v2: results are the caller's organisation's whatever MSH names, and a
 *   PID naming another organisation's MRN is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender, rowCounts, type FhirBundle } from './support/publish.js';

type Json = Record<string, any>;
const LOINC = SYSTEM.loinc;
const HC = SYSTEM.healthCard;
const ICD10 = SYSTEM.icd10;
const mrn = (org: string) => SYSTEM.mrnPrefix + org;
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const PROGRAM = 'https://fhir.alliance.example.org/CodeSystem/program';

const SEEDED = 12;
const seeded = Array.from({ length: SEEDED }, (_, i) => generatePatient(DEFAULT_SEED, i));
/** A seeded patient registered (MRN) at two organisations or more, with the health card. */
const twice = seeded.find((b) => b.patient.identifiers.filter((i) => i.type === 'MR').length >= 2 && b.patient.identifiers.some((i) => i.type === 'HC'))!;

let sequence = 0;
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++sequence}`;
/** A DICOM UID under 2.25 (UUID-derived root), unique per call. */
const dicomUid = () => `2.25.${BigInt(`0x${crypto.randomUUID().replace(/-/g, '')}`).toString()}`;

describe.each(BACKENDS)('publishing, continued, on %s', (backend) => {
  let stack: TestStack;
  let base: string;

  const systemToken = (org: string, scope = 'system/*.cru') => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope });
  const clinicianToken = (org: string, claims: Json = {}) => stack.token({ sub: `dr-${org}`, role: 'clinician', org, ...claims });
  const send = fhirSender(() => base);
  const exportAs = async (token: string, id: string): Promise<FhirBundle> => {
    const response = await fetch(`${base}/fhir/Patient/${id}/$everything`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    expect(response.status).toBe(200);
    return (await response.json()) as FhirBundle;
  };
  const idOf = (location: string | null) => String(location).split('/')[1]!;
  const auditCount = async () => (await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event'))[0]!.n;
  /** Registers a new patient at `org` (health card and the organisation's MRN); their id. */
  const register = async (org: string, hc = unique('HC')) => {
    const response = await send('/fhir/Patient', await systemToken(org), {
      resourceType: 'Patient', gender: 'female', birthDate: '1980-05-06', name: [{ family: unique('Lin'), given: ['Mei'] }],
      identifier: [{ system: HC, value: hc }, { system: mrn(org), value: unique('MR') }],
    });
    expect([200, 201], response.text).toContain(response.status);
    return idOf(response.headers.get('location'));
  };
  const observation = (patientId: string, extra: Json = {}) => ({
    resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patientId}` },
    code: { coding: [{ system: LOINC, code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }] },
    effectiveDateTime: '2026-02-03T08:00:00Z', valueQuantity: { value: 14.1, unit: 'g/dL' }, ...extra,
  });

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: SEEDED });
    base = stack.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => {
    await stack?.close();
  });

  describe('staff with user/ write scopes', () => {
    it('lets a clinician with user/Observation.cu publish a result for a patient of their organisation, as their organisation', async () => {
      const org = 'org-county-north';
      const patientId = await register(org);
      const clinician = await clinicianToken(org, { sub: 'dr-writer', scope: 'user/Observation.cu user/*.rs' });
      const identifier = { system: 'https://lis.county-north.example.org/bedside', value: unique('poc') };
      const created = await send('/fhir/Observation', clinician, observation(patientId, { identifier: [identifier] }), { headers: { 'if-none-exist': `identifier=${identifier.system}|${identifier.value}` } });
      expect(created.status, created.text).toBe(201);
      const id = idOf(created.headers.get('location'));
      // The producer is the clinician's organisation (the payload names none), and the audit trail names the clinician.
      expect(await stack.databases.labs.query('SELECT organization_id, patient_id FROM observation WHERE id = $1', [id])).toEqual([{ organization_id: org, patient_id: patientId }]);
      const [event] = await stack.databases.identity.query<Json>('SELECT action, actor_sub, actor_role, actor_organization_id, patient_id FROM audit_event WHERE request_id = $1', [created.headers.get('x-request-id')]);
      expect(event).toEqual({ action: 'create', actor_sub: 'dr-writer', actor_role: 'clinician', actor_organization_id: org, patient_id: patientId });
      const read = await stack.graphql(clinician, 'query($id: ID!) { observation(id: $id) { id organization { id } valueQuantity { value } } }', { id });
      expect(read.errors).toBeUndefined();
      expect(read.data.observation).toEqual({ id, organization: { id: org }, valueQuantity: { value: 14.1 } });
      // A retry with the same identifier finds it; an update by the same clinician changes it.
      const retried = await send('/fhir/Observation', clinician, observation(patientId, { identifier: [identifier] }), { headers: { 'if-none-exist': `identifier=${identifier.system}|${identifier.value}` } });
      expect(retried.status).toBe(200);
      expect(idOf(retried.headers.get('location'))).toBe(id);
      const put = await send(`/fhir/Observation/${id}`, clinician, observation(patientId, { id, status: 'corrected', valueQuantity: { value: 13.9, unit: 'g/dL' } }), { method: 'PUT' });
      expect(put.status, put.text).toBe(200);
      expect(await stack.databases.labs.query('SELECT status, value_quantity, organization_id FROM observation WHERE id = $1', [id])).toEqual([{ status: 'corrected', value_quantity: 13.9, organization_id: org }]);

      // Naming another organisation as the performer is refused, as for an institution's system.
      const elsewhere = await register('org-thc-meixi');
      const before = await rowCounts(stack.databases);
      const asAnother = await send('/fhir/Observation', clinician, observation(patientId, { performer: [{ reference: 'Organization/org-county-south' }] }));
      expect(asAnother.status).toBe(403);
      expect(asAnother.body.issue[0].expression).toEqual(['Observation.performer[0]']);
      // A patient the clinician's organisation does not hold is not found.
      expect((await send('/fhir/Observation', clinician, observation(elsewhere))).status).toBe(404);
      expect(await rowCounts(stack.databases)).toEqual(before);
    });

    it('refuses clinicians and nurses without a write scope for the type (403, OperationOutcome), and writes nothing', async () => {
      const org = 'org-county-north';
      const patientId = await register(org);
      const before = await rowCounts(stack.databases);
      const auditBefore = await auditCount();
      const cases: [string, Json, string][] = [
        ['clinician, read scopes only', { scope: 'user/*.rs' }, 'Observation'],
        ['clinician, write scope for another type', { scope: 'user/Encounter.cu user/*.rs' }, 'Observation'],
        ['clinician, update only', { scope: 'user/Observation.u user/*.rs' }, 'Observation'],
        ['nurse, read scopes only', { role: 'nurse', scope: 'user/*.rs' }, 'Observation'],
      ];
      for (const [what, claims, expression] of cases) {
        const response = await send('/fhir/Observation', await clinicianToken(org, claims), observation(patientId));
        expect(response.status, what).toBe(403);
        expect(response.body.resourceType, what).toBe('OperationOutcome');
        expect(response.body.issue[0], what).toMatchObject({ severity: 'error', code: 'forbidden', expression: [expression] });
      }
      // A clinician bound to a patient does not publish at all.
      const bound = await send('/fhir/Observation', await clinicianToken(org, { patient: patientId }), observation(patientId));
      expect(bound.status).toBe(403);
      expect(bound.body.resourceType).toBe('OperationOutcome');
      expect(await rowCounts(stack.databases)).toEqual(before);
      expect(await auditCount()).toBe(auditBefore);
    });
  });

  describe('single creates and updates of every type', () => {
    const ORG = 'org-county-north';
    const RECEIVER = 'org-provincial';
    /** Per type: the resource to create, the change an update makes, and where the export shows it. */
    const TYPES: { type: string; owner: string; table: string; create: (patientId: string) => Json; update: (r: Json) => Json; updated: (exported: Json) => unknown; expected: unknown }[] = [
      {
        type: 'Encounter', owner: 'encounters', table: 'encounter',
        create: (patientId) => ({
          resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'AMB' }, subject: { reference: `Patient/${patientId}` },
          period: { start: '2026-02-01T09:00:00Z', end: '2026-02-01T09:30:00Z' }, reasonCode: [{ coding: [{ system: ICD10, code: 'I10', display: 'Essential (primary) hypertension' }] }],
          serviceProvider: { reference: `Organization/${ORG}` },
        }),
        update: (r) => ({ ...r, reasonCode: [{ coding: [{ system: ICD10, code: 'E11.9', display: 'Type 2 diabetes mellitus without complications' }] }] }),
        updated: (e) => e.reasonCode?.[0]?.coding?.[0]?.code, expected: 'E11.9',
      },
      {
        type: 'Condition', owner: 'encounters', table: 'condition',
        create: (patientId) => ({
          resourceType: 'Condition', subject: { reference: `Patient/${patientId}` }, code: { coding: [{ system: ICD10, code: 'J45.9', display: 'Asthma, unspecified' }] },
          clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, recordedDate: '2026-02-01T09:20:00Z',
        }),
        update: (r) => ({ ...r, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' }] } }),
        updated: (c) => c.clinicalStatus?.coding?.[0]?.code, expected: 'resolved',
      },
      {
        type: 'DiagnosticReport', owner: 'labs', table: 'diagnostic_report',
        create: (patientId) => ({
          resourceType: 'DiagnosticReport', status: 'preliminary', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }],
          code: { coding: [{ system: LOINC, code: '58410-2', display: 'CBC panel - Blood by Automated count' }] }, subject: { reference: `Patient/${patientId}` },
          effectiveDateTime: '2026-02-01T08:00:00Z', performer: [{ reference: `Organization/${ORG}` }],
        }),
        update: (r) => ({ ...r, status: 'final', conclusion: 'No abnormality' }),
        updated: (d) => [d.status, d.conclusion], expected: ['final', 'No abnormality'],
      },
      {
        type: 'ImagingStudy', owner: 'imaging', table: 'imaging_study',
        create: (patientId) => ({
          resourceType: 'ImagingStudy', status: 'available', subject: { reference: `Patient/${patientId}` }, identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${dicomUid()}` }],
          modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }], started: '2026-02-01T10:00:00Z', numberOfSeries: 1, numberOfInstances: 120,
          description: 'CT head', series: [{ uid: dicomUid(), modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }, bodySite: { system: SYSTEM.snomed, code: '69536005', display: 'Head' } }],
        }),
        update: (r) => ({ ...r, description: 'CT head without contrast', numberOfInstances: 180 }),
        updated: (s) => [s.description, s.numberOfInstances], expected: ['CT head without contrast', 180],
      },
      {
        type: 'Immunization', owner: 'public-health', table: 'immunization',
        create: (patientId) => ({
          resourceType: 'Immunization', status: 'completed', vaccineCode: { coding: [{ system: SYSTEM.cvx, code: '141', display: 'Influenza, seasonal, injectable' }] },
          patient: { reference: `Patient/${patientId}` }, occurrenceDateTime: '2026-01-10T10:00:00Z', lotNumber: 'LOT-1', performer: [{ actor: { reference: `Organization/${ORG}` } }],
          protocolApplied: [{ doseNumberPositiveInt: 1 }],
        }),
        update: (r) => ({ ...r, lotNumber: 'LOT-2' }),
        updated: (i) => i.lotNumber, expected: 'LOT-2',
      },
      {
        type: 'EpisodeOfCare', owner: 'public-health', table: 'program_enrollment',
        create: (patientId) => ({
          resourceType: 'EpisodeOfCare', status: 'active', type: [{ coding: [{ system: PROGRAM, code: 'HTN', display: 'Hypertension management' }] }],
          patient: { reference: `Patient/${patientId}` }, managingOrganization: { reference: `Organization/${ORG}` }, period: { start: '2026-01-01T00:00:00Z' },
        }),
        update: (r) => ({ ...r, status: 'finished', period: { start: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' } }),
        updated: (e) => [e.status, e.period?.end?.slice(0, 10)], expected: ['finished', '2026-02-01'],
      },
      {
        type: 'ServiceRequest', owner: 'encounters', table: 'referral',
        create: (patientId) => ({
          resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: `Patient/${patientId}` }, requester: { reference: `Organization/${ORG}` },
          performer: [{ reference: `Organization/${RECEIVER}` }], authoredOn: '2026-02-01T09:25:00Z', reasonCode: [{ coding: [{ system: ICD10, code: 'I10' }] }],
          note: [{ text: 'Please assess' }],
        }),
        update: (r) => ({ ...r, status: 'revoked' }),
        updated: (s) => s.status, expected: 'revoked',
      },
    ];

    it.each(TYPES.map((t) => [t.type, t] as const))('creates a %s with POST (a retry creates nothing), updates it with PUT, and exports it', async (type, spec) => {
      const hc = unique('HC');
      const patientId = await register(ORG, hc);
      const token = await systemToken(ORG);
      const identifier = { system: `https://his.county-north.example.org/${type.toLowerCase()}`, value: unique(type) };
      const initial = spec.create(patientId);
      const resource: Json = { ...initial, identifier: [...(initial.identifier ?? []), identifier] };
      const conditional = { 'if-none-exist': `identifier=${identifier.system}|${identifier.value}` };

      const created = await send(`/fhir/${type}`, token, resource, { headers: conditional });
      expect(created.status, created.text).toBe(201);
      expect(created.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'information' }] });
      const location = created.headers.get('location')!;
      expect(location).toMatch(new RegExp(`^${type}/[0-9a-f-]{36}$`));
      const id = idOf(location);
      const rows = async () => (await stack.databases[spec.owner as 'encounters'].query<{ n: number }>(`SELECT count(*)::int AS n FROM ${spec.table} WHERE patient_id = $1`, [patientId]))[0]!.n;
      expect(await rows()).toBe(1);

      // The same business identifier again: the record found, nothing created (with or without ifNoneExist, never twice).
      const counts = await rowCounts(stack.databases);
      const retried = await send(`/fhir/${type}`, token, resource, { headers: conditional });
      expect(retried.status, retried.text).toBe(200);
      expect(retried.headers.get('location')).toBe(location);
      const plain = await send(`/fhir/${type}`, token, resource);
      expect(plain.status).toBe(409);
      expect(await rowCounts(stack.databases)).toEqual(counts);
      expect(await rows()).toBe(1);

      const put = await send(`/fhir/${type}/${id}`, token, { ...spec.update(resource), id }, { method: 'PUT' });
      expect(put.status, put.text).toBe(200);
      expect(put.headers.get('location')).toBe(location);
      expect(await rows()).toBe(1);
      // Another organisation that registered the same person (by the card) cannot update it: not seeing it, it is
      // answered exactly as for an unknown id (no existence oracle).
      expect(await register('org-county-south', hc)).toBe(patientId);
      // (without the elements naming the producer, which south may not name: the record itself is refused)
      const { serviceProvider: _s, performer: _p, requester: _r, managingOrganization: _m, ...unattributed } = spec.update(resource);
      const foreign = await send(`/fhir/${type}/${id}`, await systemToken('org-county-south'), { ...unattributed, ...(type === 'ServiceRequest' ? { performer: resource.performer } : {}), id }, { method: 'PUT' });
      expect(foreign.status, foreign.text).toBe(404);
      expect(foreign.body.issue[0].expression).toEqual([`${type}.id`]);
      expect(foreign.body.issue[0].diagnostics).toBe(`No ${type} with id ${id}`);

      const exported = await exportAs(await clinicianToken(ORG), patientId);
      const found = exported.entry.find((e) => e.resource.resourceType === type && e.resource.id === id)?.resource;
      expect(found, `${type}/${id} in the export`).toBeDefined();
      expect(spec.updated(found!)).toEqual(spec.expected);
      expect(exported.entry.filter((e) => e.resource.resourceType === type)).toHaveLength(1);
    });
  });

  describe('codes and labels', () => {
    const ORG = 'org-county-north';

    it('refuses an unknown or malformed ICD-10, CVX, DICOM UID or SNOMED CT code with the element named, and writes nothing', async () => {
      const patientId = await register(ORG);
      const token = await systemToken(ORG);
      const subject = { reference: `Patient/${patientId}` };
      const study = (uid: string, bodySite: string) => ({
        resourceType: 'ImagingStudy', status: 'available', subject, identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${uid}` }],
        modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' }], started: '2026-02-01T10:00:00Z',
        series: [{ bodySite: { system: SYSTEM.snomed, code: bodySite } }],
      });
      const cases: { what: string; type: string; resource: Json; expression: string; diagnostics?: RegExp }[] = [
        {
          what: 'ICD-10 (not the shape of a code: a digit first)', type: 'Condition', expression: 'Condition.code.coding[0].code',
          resource: { resourceType: 'Condition', subject, code: { coding: [{ system: ICD10, code: '110' }] }, clinicalStatus: { coding: [{ code: 'active' }] }, recordedDate: '2026-02-01T09:00:00Z' },
        },
        {
          what: 'ICD-10 on an encounter\'s reason', type: 'Encounter', expression: 'Encounter.reasonCode[0].coding[1].code',
          resource: {
            resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'AMB' }, subject, period: { start: '2026-02-01T09:00:00Z' },
            reasonCode: [{ coding: [{ system: 'urn:local', code: 'x' }, { system: ICD10, code: 'hypertension' }] }],
          },
        },
        {
          what: 'CVX', type: 'Immunization', expression: 'Immunization.vaccineCode.coding[0].code',
          resource: { resourceType: 'Immunization', status: 'completed', patient: subject, vaccineCode: { coding: [{ system: SYSTEM.cvx, code: 'FLU-1' }] }, occurrenceDateTime: '2026-01-10T10:00:00Z' },
        },
        { what: 'DICOM Study Instance UID', type: 'ImagingStudy', expression: 'ImagingStudy.identifier[0].value', resource: study('1.2.840.abc.7', '69536005') },
        { what: 'DICOM UID with a leading zero component', type: 'ImagingStudy', expression: 'ImagingStudy.identifier[0].value', resource: study('1.2.840.01', '69536005') },
        { what: 'SNOMED CT check digit', type: 'ImagingStudy', expression: 'ImagingStudy.series[0].bodySite.code', resource: study(dicomUid(), '69536006'), diagnostics: /check digit/ },
        { what: 'SNOMED CT shape', type: 'ImagingStudy', expression: 'ImagingStudy.series[0].bodySite.code', resource: study(dicomUid(), 'head'), diagnostics: /not a SNOMED CT code/ },
      ];
      const before = await rowCounts(stack.databases);
      const auditBefore = await auditCount();
      for (const { what, type, resource, expression, diagnostics } of cases) {
        const response = await send(`/fhir/${type}`, token, resource);
        // The product answers an invalid code 400 (README: "400 invalid (structure, value, unknown code or label)").
        expect(response.status, `${what}: ${response.text}`).toBe(400);
        expect(response.body.resourceType, what).toBe('OperationOutcome');
        expect(response.body.issue.map((i: Json) => i.expression), what).toEqual([[expression]]);
        expect(response.body.issue[0].severity).toBe('error');
        if (diagnostics) expect(response.body.issue[0].diagnostics, what).toMatch(diagnostics);
      }
      // Inside a transaction, the entry is named too, and the valid entries are not written either.
      const transaction = await send('/fhir', token, {
        resourceType: 'Bundle', type: 'transaction', entry: [
          { request: { method: 'POST', url: 'Observation' }, resource: observation(patientId) },
          { request: { method: 'POST', url: 'ImagingStudy' }, resource: study(dicomUid(), '69536006') },
        ],
      });
      expect(transaction.status).toBe(400);
      expect(transaction.body.issue[0].expression).toEqual(['Bundle.entry[1].resource.series[0].bodySite.code']);
      expect(await rowCounts(stack.databases)).toEqual(before);
      expect(await auditCount()).toBe(auditBefore);
      // The valid codes go through (the cases above fail on the code alone).
      expect((await send('/fhir/ImagingStudy', token, study(dicomUid(), '69536005'))).status).toBe(201);
    });

    it('keeps a V (very restricted) label as sent, and break-glass elsewhere does not open the record', async () => {
      const hc = unique('HCV');
      const patientId = await register(ORG, hc);
      const token = await systemToken(ORG);
      const encounter = (labels: Json[]) => ({
        resourceType: 'Encounter', status: 'finished', class: { system: ACT_CODE, code: 'AMB' }, subject: { reference: `Patient/${patientId}` },
        period: { start: '2026-02-05T09:00:00Z', end: '2026-02-05T10:00:00Z' }, ...(labels.length ? { meta: { security: labels } } : {}),
      });
      const restricted = await send('/fhir/Encounter', token, encounter([{ system: CONFIDENTIALITY, code: 'V' }, { system: ACT_CODE, code: 'SDV' }]));
      expect(restricted.status, restricted.text).toBe(201);
      const ordinary = await send('/fhir/Encounter', token, encounter([]));
      expect(ordinary.status).toBe(201);
      const [vId, ordinaryId] = [idOf(restricted.headers.get('location')), idOf(ordinary.headers.get('location'))];
      expect(await stack.databases.encounters.query('SELECT sensitivity_labels FROM encounter WHERE id = $1', [vId])).toEqual([{ sensitivity_labels: expect.arrayContaining(['V', 'SDV']) }]);
      expect((await stack.databases.encounters.query<Json>('SELECT sensitivity_labels FROM encounter WHERE id = $1', [vId]))[0]!.sensitivity_labels).toHaveLength(2);

      const ENCOUNTERS = 'query($id: ID!) { patient(id: $id) { encounters(first: 100) { edges { node { id sensitivityLabels } } } } }';
      const encountersOf = async (t: string) => ((await stack.graphql(t, ENCOUNTERS, { id: patientId })).data?.patient?.encounters?.edges ?? []).map((e: Json) => e.node);
      // The producer sees it with its labels, and exports them as sent.
      const producer = await clinicianToken(ORG);
      expect(await encountersOf(producer)).toContainEqual({ id: vId, sensitivityLabels: expect.arrayContaining(['V', 'SDV']) });
      const exported = (await exportAs(producer, patientId)).entry.find((e) => e.resource.id === vId)!.resource;
      expect(exported.meta.security.find((s: Json) => s.code === 'V')?.system).toBe(CONFIDENTIALITY);
      expect(exported.meta.security.map((s: Json) => s.code)).toEqual(expect.arrayContaining(['V', 'SDV']));

      // An emergency clinician at another hospital reaches the patient and the ordinary visit, never the V one.
      const emergency = await clinicianToken('org-county-south', { sub: 'dr-er', purpose_of_use: 'ETREAT', break_glass_reason: 'Unconscious patient in the emergency room' });
      const seen = (await encountersOf(emergency)).map((e: Json) => e.id);
      expect(seen).toContain(ordinaryId);
      expect(seen).not.toContain(vId);
      expect((await stack.graphql(emergency, 'query($id: ID!) { encounter(id: $id) { id } }', { id: vId })).data?.encounter ?? null).toBeNull();
      const timeline = await stack.graphql(emergency, 'query($id: ID!) { patient(id: $id) { timeline(first: 100, kinds: [ENCOUNTER]) { edges { node { ... on Encounter { id } } } } } }', { id: patientId });
      const onTimeline = timeline.data.patient.timeline.edges.map((e: Json) => e.node?.id);
      expect(onTimeline).toContain(ordinaryId);
      expect(onTimeline).not.toContain(vId);
      const emergencyExport = await exportAs(emergency, patientId);
      expect(JSON.stringify(emergencyExport)).not.toContain(vId);
      // Without break-glass the other hospital sees neither.
      expect((await encountersOf(await clinicianToken('org-county-south'))).map((e: Json) => e.id)).not.toContain(ordinaryId);
    });
  });

  describe('master patient index', () => {
    it('links a Patient a second institution publishes with its own MRN alone (no health card) to the existing patient', async () => {
      const registrations = twice.patient.identifiers.filter((i) => i.type === 'MR');
      const second = registrations[1]!;
      const org = second.assignerOrganizationId!;
      const patientsBefore = (await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM patient'))[0]!.n;
      const [demographicsBefore] = await stack.databases.identity.query<Json>('SELECT family, given, birth_date, gender FROM patient WHERE id = $1', [twice.patient.id]);
      const patient = `urn:uuid:${crypto.randomUUID()}`;
      const response = await send('/fhir', await systemToken(org), {
        resourceType: 'Bundle', type: 'transaction', entry: [
          {
            fullUrl: patient, request: { method: 'POST', url: 'Patient' },
            // Spelled differently, another birth date: the MRN alone decides.
            resource: {
              resourceType: 'Patient', gender: 'unknown', birthDate: '1901-01-01', name: [{ family: 'Misspelt', given: ['Someone'] }],
              identifier: [{ system: mrn(org), value: second.value, assigner: { reference: `Organization/${org}` } }],
            },
          },
          {
            fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'Observation' },
            resource: { ...observation('x'), subject: { reference: patient }, identifier: [{ system: 'urn:mpi-test', value: unique('o') }] },
          },
        ],
      });
      expect(response.status, response.text).toBe(200);
      expect(response.body.entry[0].response).toMatchObject({ status: '200 OK', location: `Patient/${twice.patient.id}` });
      expect((await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM patient'))[0]!.n).toBe(patientsBefore);
      expect(await stack.databases.identity.query('SELECT family, given, birth_date, gender FROM patient WHERE id = $1', [twice.patient.id])).toEqual([demographicsBefore]);
      expect(await stack.databases.identity.query('SELECT count(*)::int AS n FROM patient_match_candidate WHERE patient_id = $1 OR candidate_patient_id = $1', [twice.patient.id])).toEqual([{ n: 0 }]);
      const observationId = idOf(response.body.entry[1].response.location);
      expect(await stack.databases.labs.query('SELECT patient_id, organization_id FROM observation WHERE id = $1', [observationId])).toEqual([{ patient_id: twice.patient.id, organization_id: org }]);

      // The same MRN value under an organisation that does not hold it matches nothing: it would be a new patient.
      const third = ['org-county-north', 'org-county-south', 'org-provincial', 'org-thc-baisha', 'org-thc-meixi'].find((o) => !registrations.some((r) => r.assignerOrganizationId === o))!;
      const other = await send('/fhir/Patient', await systemToken(third), {
        resourceType: 'Patient', gender: 'female', birthDate: '1990-01-01', name: [{ family: unique('Other'), given: ['Person'] }], identifier: [{ system: mrn(third), value: second.value }],
      });
      expect(other.status, other.text).toBe(201);
      expect(idOf(other.headers.get('location'))).not.toBe(twice.patient.id);
    });
  });

  describe('HL7 v2 provenance', () => {
    const ORG = 'org-county-north';
    const message = (msh4: string, pid3: string, controlId = unique('LAB')) => [
      `MSH|^~\\&|LIS|${msh4}|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|${controlId}|P|2.5.1`,
      `PID|1||${pid3}||Wu^Fang||19750203|F`,
      ['OBR', '1', 'PL1', 'FL1', '58410-2^CBC panel - Blood by Automated count^LN', '', '', '20260301080000', ...Array(14).fill(''), '20260301083000', '', '', 'F'].join('|'),
      'OBX|1|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||12.8|g/dL^^UCUM|12.0-17.5|N|||F|||20260301080000',
    ].join('\r');

    it('attributes results to the caller\'s organisation whatever MSH-4 names as the sending facility', async () => {
      const hc = unique('HC7');
      const mr = unique('MR7');
      // The sending facility names another organisation (and another organisation's laboratory).
      const response = await send('/hl7v2', await systemToken(ORG), message('org-county-south', `${hc}^^^^HC~${mr}^^^${ORG}^MR`), { contentType: 'x-application/hl7-v2+er7' });
      expect(response.status, response.text).toBe(200);
      expect(response.text.split('\r')[1]).toMatch(/^MSA\|AA\|/);
      const [patient] = await stack.databases.identity.query<Json>('SELECT patient_id FROM patient_identifier WHERE system = $1 AND value = $2', [HC, hc]);
      const patientId = String(patient!.patient_id);
      expect(await stack.databases.identity.query('SELECT system, assigner_organization_id FROM patient_identifier WHERE patient_id = $1 AND type = $2', [patientId, 'MR']))
        .toEqual([{ system: mrn(ORG), assigner_organization_id: ORG }]);
      expect(await stack.databases.labs.query('SELECT DISTINCT organization_id FROM observation WHERE patient_id = $1', [patientId])).toEqual([{ organization_id: ORG }]);
      expect(await stack.databases.labs.query('SELECT DISTINCT organization_id FROM diagnostic_report WHERE patient_id = $1', [patientId])).toEqual([{ organization_id: ORG }]);
      // Through the API: the results are the caller's organisation's, and the organisation MSH-4 named sees none of them.
      const read = await stack.graphql(await clinicianToken(ORG), 'query($id: ID!) { patient(id: $id) { observations { edges { node { organization { id } } } } } }', { id: patientId });
      expect(read.data.patient.observations.edges.map((e: Json) => e.node.organization.id)).toEqual([ORG]);
      expect(await stack.databases.labs.query('SELECT count(*)::int AS n FROM observation WHERE patient_id = $1 AND organization_id = $2', [patientId, 'org-county-south'])).toEqual([{ n: 0 }]);
    });

    it('refuses (AE, 403) a PID naming another organisation\'s medical record number, and stores nothing', async () => {
      const before = await rowCounts(stack.databases);
      const response = await send('/hl7v2', await systemToken(ORG), message('NORTH-LAB', `${unique('HC7')}^^^^HC~${unique('S')}^^^org-county-south^MR`), { contentType: 'x-application/hl7-v2+er7' });
      expect(response.status).toBe(403);
      const lines = response.text.split('\r');
      expect(lines[1]).toMatch(/^MSA\|AE\|/);
      expect(lines.slice(2).every((l) => l.startsWith('ERR||PID^1^3|'))).toBe(true);
      expect(lines.slice(2).join('\r')).toMatch(/identifier\[1\]/);
      expect(await rowCounts(stack.databases)).toEqual(before);
    });
  });
});
