/**
 * Institutions publish records, end to end through the gateway over HTTP:
 * FHIR R4 transaction and batch Bundles, single creates and updates, HL7 v2
 * ORU^R01 results, and the master patient index — on every backend.
 *
 * - a round trip: `$everything` of a patient from a seeded stack, rewritten
 *   as each institution's transaction Bundle and published into an empty
 *   stack, exports again with the same clinical content (codes, values,
 *   times, labels);
 * - a retried Bundle creates nothing; a transaction with one bad entry, and
 *   one whose owner fails while staging, leaves nothing in any owner's
 *   tables; an owner that fails after the decision commits on recovery;
 * - provenance and scopes: an institution cannot write as another;
 * - HL7 v2 results appear on the timeline, and a replay changes nothing;
 * - two institutions publishing one person end with one patient; a probable
 *   duplicate becomes a match candidate that an administrator resolves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../lib/synthetic/generator.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { INTERNAL_APIS, internalCaller } from '../lib/runtime/internal-api.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { internalSigners } from './support/internal.js';
import { clinicalContent, exportToTransaction, fhirSender, rowCounts, type FhirBundle } from './support/publish.js';

const LOINC = 'http://loinc.org';
const HC = SYSTEM.healthCard;
const mrn = (org: string) => SYSTEM.mrnPrefix + org;
type Json = Record<string, any>;

const SOURCE_PATIENTS = 60;
const generated = Array.from({ length: SOURCE_PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
/** A patient with records in most domains, from several organisations, every one of which registered them. */
const rich = generated.find((b) => {
  const registered = new Set(b.patient.identifiers.map((i) => i.assignerOrganizationId));
  const producers = [...b.encounters, ...b.observations, ...b.imagingStudies, ...b.immunizations, ...b.enrollments].map((r) => r.organizationId);
  return b.imagingStudies.some((s) => s.report) && b.referrals.length > 0 && b.immunizations.length > 0 && b.enrollments.length > 0
    && b.observations.length > 10 && producers.every((org) => registered.has(org)) && new Set(producers).size > 1;
}) as PatientBundle;

let sequence = 0;
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++sequence}`;

/** A small transaction: a Patient (health card, the organisation's MRN) with an encounter and a lab result. */
function smallBundle(org: string, options: { hc?: string; mr?: string; family?: string; given?: string; birthDate?: string; loinc?: string; performer?: string } = {}) {
  const patient = `urn:uuid:${crypto.randomUUID()}`;
  const recordSystem = `https://${org}.example.org/records`;
  const encounterId = unique('enc');
  const observationId = unique('obs');
  return {
    resourceType: 'Bundle', type: 'transaction', entry: [
      {
        fullUrl: patient, request: { method: 'POST', url: 'Patient' },
        resource: {
          resourceType: 'Patient', gender: 'female', birthDate: options.birthDate ?? '1971-03-04', name: [{ family: options.family ?? 'Ouyang', given: [options.given ?? 'Lan'] }],
          identifier: [...(options.hc === '' ? [] : [{ system: HC, value: options.hc ?? unique('HC') }]), { system: mrn(org), value: options.mr ?? unique('MR') }],
        },
      },
      {
        fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'Encounter', ifNoneExist: `identifier=${recordSystem}|${encounterId}` },
        resource: {
          resourceType: 'Encounter', identifier: [{ system: recordSystem, value: encounterId }], status: 'finished', subject: { reference: patient },
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, period: { start: '2026-02-01T09:00:00Z', end: '2026-02-01T09:30:00Z' },
          reasonCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'I10', display: 'Essential (primary) hypertension' }] }],
          serviceProvider: { reference: `Organization/${org}` },
        },
      },
      {
        fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${recordSystem}|${observationId}` },
        resource: {
          resourceType: 'Observation', identifier: [{ system: recordSystem, value: observationId }], status: 'final', subject: { reference: patient },
          code: { coding: [{ system: LOINC, code: options.loinc ?? '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }] },
          effectiveDateTime: '2026-02-01T09:10:00Z', valueQuantity: { value: 13.4, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
          referenceRange: [{ low: { value: 12, unit: 'g/dL' }, high: { value: 17.5, unit: 'g/dL' } }], performer: [{ reference: `Organization/${options.performer ?? org}` }],
          meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HIV' }, { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
        },
      },
    ],
  };
}

describe.each(BACKENDS)('publishing records on %s', (backend) => {
  let source: TestStack;
  let target: TestStack;
  let base: string;

  const systemToken = (stack: TestStack, org: string, scope = 'system/*.cru') => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope });
  const send = fhirSender(() => base);
  const exportAs = async (stack: TestStack, token: string, id: string): Promise<FhirBundle> => {
    const response = await fetch(`${stack.url.replace(/\/graphql$/, '')}/fhir/Patient/${id}/$everything`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    expect(response.status).toBe(200);
    return (await response.json()) as FhirBundle;
  };
  const patientOf = async (response: { body: Json }) => String(response.body.entry[0].response.location).split('/')[1]!;
  const auditCount = async () => (await target.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event'))[0]!.n;

  beforeAll(async () => {
    [source, target] = await Promise.all([startTestStack(backend, { patients: SOURCE_PATIENTS }), startTestStack(backend, { patients: 0 })]);
    base = target.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => {
    await Promise.all([source?.close(), target?.close()]);
  });

  it('round-trips a patient: exported from one stack, published by each institution into an empty one, exported again with the same clinical content', async () => {
    const organizations = [...new Set(rich.patient.identifiers.flatMap((i) => (i.assignerOrganizationId ? [i.assignerOrganizationId] : [])))];
    let patientId: string | null = null;
    for (const org of organizations) {
      const clinician = await source.token({ sub: `dr-${org}`, role: 'clinician', org });
      const exported = await exportAs(source, clinician, rich.patient.id);
      const transaction = exportToTransaction(exported, org);
      expect(transaction.entry.every((e: Json) => e.request.method === 'POST' && e.fullUrl.startsWith('urn:uuid:'))).toBe(true);
      const published = await send('/fhir', await systemToken(target, org), transaction);
      expect(published.status, published.text.slice(0, 800)).toBe(200);
      expect(published.body.type).toBe('transaction-response');
      expect(published.body.entry.slice(1).every((e: Json) => e.response.status === '201 Created')).toBe(true);
      const id = await patientOf(published);
      // Every institution's Patient entry finds the same person (health card): one patient.
      patientId ??= id;
      expect(id).toBe(patientId);

      const again = await exportAs(target, await target.token({ sub: `dr-${org}`, role: 'clinician', org }), patientId);
      const own = (r: Json) => (r.resourceType !== 'ServiceRequest' || r.requester?.reference === `Organization/${org}`)
        && !(r.resourceType === 'Observation' && r.category?.[0]?.coding?.[0]?.code === 'vital-signs');
      const before = clinicalContent(exported, undefined, own);
      const after = clinicalContent(again, undefined, own);
      // The Patient's identifiers grow as each institution registers; compare them once all have published.
      delete before.Patient;
      delete after.Patient;
      expect(after).toEqual(before);
    }
    // The whole record, as the patient reads it: everything the institutions published.
    const original = await exportAs(source, await source.token({ sub: 'patient', role: 'patient', patient: rich.patient.id }), rich.patient.id);
    const republished = await exportAs(target, await target.token({ sub: 'patient', role: 'patient', patient: patientId! }), patientId!);
    const clinical = (r: Json) => !(r.resourceType === 'Observation' && r.category?.[0]?.coding?.[0]?.code === 'vital-signs');
    expect(clinicalContent(republished, undefined, clinical)).toEqual(clinicalContent(original, undefined, clinical));
    const labelled = republished.entry.filter((e) => e.resource.meta?.security?.some((s: Json) => s.code === 'HIV' || s.code === 'V'));
    expect(labelled.length).toBe(original.entry.filter((e) => e.resource.meta?.security?.some((s: Json) => s.code === 'HIV' || s.code === 'V')).length);
  });

  it('creates nothing twice when a Bundle is retried, and audits each write with counts per category', async () => {
    const org = 'org-county-north';
    const bundle = smallBundle(org);
    const auditBefore = await auditCount();
    const first = await send('/fhir', await systemToken(target, org), bundle);
    expect(first.status, first.text).toBe(200);
    expect(first.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const counts = await rowCounts(target.databases);
    const retried = await send('/fhir', await systemToken(target, org), bundle);
    expect(retried.status).toBe(200);
    expect(retried.body.entry.map((e: Json) => e.response.status)).toEqual(['200 OK', '200 OK', '200 OK']);
    expect(retried.body.entry.map((e: Json) => e.response.location)).toEqual(first.body.entry.map((e: Json) => e.response.location));
    expect(await rowCounts(target.databases)).toEqual(counts);
    // One audit event for the write (nothing written by the retry), with the request id of the response.
    expect(await auditCount()).toBe(auditBefore + 1);
    const [event] = await target.databases.identity.query<Json>('SELECT * FROM audit_event WHERE request_id = $1', [first.headers.get('x-request-id')]);
    expect(event).toMatchObject({ action: 'create', actor_role: 'system', actor_organization_id: org, patient_id: await patientOf(first) });
    expect(event!.record_counts).toEqual({ demographics: 1, encounters: 1, labs: 1 });
    // Labels are kept as sent (R is derived, and comes back on export).
    const [observation] = await target.databases.labs.query<Json>('SELECT sensitivity_labels, organization_id FROM observation WHERE id = $1', [first.body.entry[2].response.location.split('/')[1]]);
    expect(observation).toEqual({ sensitivity_labels: ['HIV'], organization_id: org });
  });

  it('writes nothing from a transaction with one bad entry, and names the entry and the element', async () => {
    const before = await rowCounts(target.databases);
    const auditBefore = await auditCount();
    const response = await send('/fhir', await systemToken(target, 'org-county-north'), smallBundle('org-county-north', { loinc: '718-8' }));
    expect(response.status).toBe(400);
    expect(response.body.resourceType).toBe('OperationOutcome');
    expect(response.body.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'code-invalid', expression: ['Bundle.entry[2].resource.code.coding[0].code'] })]);
    expect(response.body.issue[0].diagnostics).toMatch(/check digit/);
    expect(await rowCounts(target.databases)).toEqual(before);
    expect(await auditCount()).toBe(auditBefore);
  });

  it('answers each failure with its status: 401, 403 (role, scope, another organisation), 409, 412, 422', async () => {
    const org = 'org-county-north';
    const before = await rowCounts(target.databases);
    const token = await systemToken(target, org);
    expect((await send('/fhir', null, smallBundle(org))).status).toBe(401);
    const patient = await send('/fhir', await target.token({ sub: 'p', role: 'patient', patient: crypto.randomUUID() }), smallBundle(org));
    expect(patient.status).toBe(403);
    const observationsOnly = await send('/fhir', await systemToken(target, org, 'system/Observation.c system/Patient.c'), smallBundle(org));
    expect(observationsOnly.status).toBe(403);
    expect(observationsOnly.body.issue[0].expression).toEqual(['Bundle.entry[1].resource']);
    const asAnother = await send('/fhir', token, smallBundle(org, { performer: 'org-county-south' }));
    expect(asAnother.status).toBe(403);
    expect(asAnother.body.issue[0].expression).toEqual(['Bundle.entry[2].resource.performer[0]']);
    const othersMrn = smallBundle(org);
    othersMrn.entry[0]!.resource.identifier!.push({ system: mrn('org-county-south'), value: 'S-1' });
    const foreign = await send('/fhir', token, othersMrn);
    expect(foreign.status).toBe(403);
    expect(foreign.body.issue[0].expression).toEqual(['Bundle.entry[0].resource.identifier[2].system']);
    const vitals = smallBundle(org);
    // A category mixing laboratory with another code is refused (422): a vital-signs observation alone is now a clinical observation, kept with its reference range.
    (vitals.entry[2]!.resource as Json).category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }, { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }];
    expect((await send('/fhir', token, vitals)).status).toBe(422);
    expect(await rowCounts(target.databases)).toEqual(before);

    // 409: a plain create with an identifier the organisation already used; 412: ifNoneExist matching two records.
    const first = smallBundle(org);
    const second = smallBundle(org);
    expect((await send('/fhir', token, first)).status).toBe(200);
    expect((await send('/fhir', token, second)).status).toBe(200);
    const patientId = await patientOf(await send('/fhir', token, first));
    const observation = (b: ReturnType<typeof smallBundle>) => b.entry[2]!.resource as Json;
    const plain = { ...observation(first), subject: { reference: `Patient/${patientId}` } };
    const duplicate = await send('/fhir/Observation', token, plain);
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.issue[0].code).toBe('duplicate');
    const [a, b] = [observation(first).identifier[0], observation(second).identifier[0]];
    const ambiguous = await send('/fhir/Observation', token, plain, { headers: { 'if-none-exist': `identifier=${a.system}|${a.value},${b.system}|${b.value}` } });
    expect(ambiguous.status).toBe(412);
    const matched = await send('/fhir/Observation', token, plain, { headers: { 'if-none-exist': `identifier=${a.system}|${a.value}` } });
    expect(matched.status).toBe(200);
    // A patient the organisation never registered is not found.
    const stranger = await send('/fhir/Observation', await systemToken(target, 'org-thc-meixi'), { ...plain, identifier: [{ system: 'urn:x', value: unique('x') }], performer: undefined });
    expect(stranger.status).toBe(404);
  });

  it('updates only records the caller\'s organisation produced (PUT), and answers a batch entry by entry', async () => {
    const org = 'org-county-north';
    const token = await systemToken(target, org);
    const hc = unique('HC');
    const created = await send('/fhir', token, smallBundle(org, { hc }));
    const observationId = created.body.entry[2].response.location.split('/')[1];
    const patientId = await patientOf(created);
    const updated = { resourceType: 'Observation', id: observationId, status: 'amended', subject: { reference: `Patient/${patientId}` }, code: { coding: [{ system: LOINC, code: '718-7', display: 'Hemoglobin' }] }, effectiveDateTime: '2026-02-01T09:10:00Z', valueQuantity: { value: 12.9, unit: 'g/dL' } };
    const put = await send(`/fhir/Observation/${observationId}`, token, updated, { method: 'PUT' });
    expect(put.status, put.text).toBe(200);
    const [row] = await target.databases.labs.query<Json>('SELECT status, value_quantity FROM observation WHERE id = $1', [observationId]);
    expect(row).toEqual({ status: 'amended', value_quantity: 12.9 });
    const [event] = await target.databases.identity.query<Json>('SELECT action, record_counts FROM audit_event WHERE request_id = $1', [put.headers.get('x-request-id')]);
    expect(event).toEqual({ action: 'update', record_counts: { labs: 1 } });
    // Another institution holding a registration of the same patient (by the card) still cannot change this one's
    // record, and, not seeing it, is answered exactly as for an unknown id (no existence oracle).
    expect((await send('/fhir', await systemToken(target, 'org-county-south'), smallBundle('org-county-south', { hc }))).status).toBe(200);
    const foreign = await send(`/fhir/Observation/${observationId}`, await systemToken(target, 'org-county-south'), updated, { method: 'PUT' });
    const unknownId = crypto.randomUUID();
    const unknown = await send(`/fhir/Observation/${unknownId}`, await systemToken(target, 'org-county-south'), { ...updated, id: unknownId }, { method: 'PUT' });
    expect(foreign.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(foreign.body.issue.map((i: Json) => [i.code, i.expression, i.diagnostics.replace(observationId, 'ID')]))
      .toEqual(unknown.body.issue.map((i: Json) => [i.code, i.expression, i.diagnostics.replace(unknownId, 'ID')]));
    expect(foreign.body.issue[0].expression).toEqual(['Observation.id']);
    expect((await send(`/fhir/Observation/${crypto.randomUUID()}`, token, { ...updated, id: undefined }, { method: 'PUT' })).status).toBe(404);
    // Demographics: an organisation that registered the patient replaces its own registration (what its staff see);
    // the patient's record follows the organisation that created the patient; an organisation that did not register
    // the patient is answered as for an unknown one.
    const demographics = { resourceType: 'Patient', id: patientId, gender: 'female', birthDate: '1971-03-04', name: [{ family: 'Ouyang-Chen', given: ['Lan'] }] };
    const renamed = await send(`/fhir/Patient/${patientId}`, await systemToken(target, 'org-county-south'), demographics, { method: 'PUT' });
    expect(renamed.status, renamed.text).toBe(200);
    expect(await target.databases.identity.query('SELECT family FROM patient WHERE id = $1', [patientId])).toEqual([{ family: 'Ouyang' }]);
    expect(await target.databases.identity.query('SELECT family FROM patient_registration WHERE patient_id = $1 AND organization_id = $2', [patientId, 'org-county-south'])).toEqual([{ family: 'Ouyang-Chen' }]);
    const nameFor = async (org: string) => (await target.graphql(await target.token({ sub: `dr-${org}`, role: 'clinician', org }), 'query($id: ID!) { patient(id: $id) { name { family } } }', { id: patientId })).data.patient.name[0].family;
    expect(await nameFor('org-county-south')).toBe('Ouyang-Chen');
    expect(await nameFor('org-county-north')).toBe('Ouyang');
    const byCreator = await send(`/fhir/Patient/${patientId}`, token, { ...demographics, name: [{ family: 'Ouyang-Lin', given: ['Lan'] }] }, { method: 'PUT' });
    expect(byCreator.status, byCreator.text).toBe(200);
    expect(await target.databases.identity.query('SELECT family FROM patient WHERE id = $1', [patientId])).toEqual([{ family: 'Ouyang-Lin' }]);
    expect(await nameFor('org-county-south')).toBe('Ouyang-Chen');
    expect((await send(`/fhir/Patient/${patientId}`, await systemToken(target, 'org-thc-meixi'), demographics, { method: 'PUT' })).status).toBe(404);

    const good = { ...updated, id: undefined, status: 'final', identifier: [{ system: 'urn:batch', value: unique('b') }] };
    const batch = await send('/fhir', token, {
      resourceType: 'Bundle', type: 'batch', entry: [
        { request: { method: 'POST', url: 'Observation' }, resource: good },
        { request: { method: 'POST', url: 'Observation' }, resource: { ...good, identifier: undefined, code: { coding: [{ system: LOINC, code: 'nope' }] } } },
      ],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.type).toBe('batch-response');
    expect(batch.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '400 Bad Request']);
    expect(batch.body.entry[1].response.outcome.issue[0].expression).toEqual(['Bundle.entry[1].resource.code.coding[0].code']);
  });

  it('leaves nothing anywhere when an owner fails while staging, and releases what the others staged', async () => {
    const org = 'org-county-north';
    const bundle = smallBundle(org);
    bundle.entry.push({
      fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'Immunization' } as Json,
      resource: { resourceType: 'Immunization', status: 'completed', patient: { reference: bundle.entry[0]!.fullUrl }, vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '141' }] }, occurrenceDateTime: '2026-01-10T10:00:00Z' } as Json,
    } as never);
    const before = await rowCounts(target.databases);
    const auditBefore = await auditCount();
    await target.databases['public-health'].query('ALTER TABLE ingest_staged RENAME TO ingest_staged_offline');
    let response;
    try {
      response = await send('/fhir', await systemToken(target, org), bundle);
    } finally {
      await target.databases['public-health'].query('ALTER TABLE ingest_staged_offline RENAME TO ingest_staged');
    }
    expect(response.status).toBe(503);
    expect(response.body.issue[0].code).toBe('transient');
    expect(await rowCounts(target.databases)).toEqual(before);
    expect(await auditCount()).toBe(auditBefore);
    const [decision] = await target.databases.identity.query<Json>('SELECT state, delivered FROM ingest_decision ORDER BY created_at DESC LIMIT 1');
    // Public health could not be told either (its staging table was gone): recovery tells it once it is back.
    expect(decision).toEqual({ state: 'aborted', delivered: false });
    await target.gateway.ingest.recover();
    expect((await target.databases.identity.query<Json>('SELECT count(*)::int AS n FROM ingest_decision WHERE NOT delivered'))[0]).toEqual({ n: 0 });
    // The same Bundle goes through once the owner is back.
    expect((await send('/fhir', await systemToken(target, org), bundle)).status).toBe(200);
  });

  it('commits at an owner that failed after the decision when recovery delivers it', async () => {
    const org = 'org-county-north';
    const bundle = smallBundle(org);
    const before = await rowCounts(target.databases);
    await target.databases.labs.query('ALTER TABLE observation RENAME TO observation_offline');
    let response;
    try {
      response = await send('/fhir', await systemToken(target, org), bundle);
    } finally {
      await target.databases.labs.query('ALTER TABLE observation_offline RENAME TO observation');
    }
    expect(response.status, response.text).toBe(200);
    expect(response.body.entry[2].response.outcome.issue[0]).toMatchObject({ severity: 'warning', code: 'transient' });
    const observationId = response.body.entry[2].response.location.split('/')[1];
    expect(await target.databases.labs.query('SELECT id FROM observation WHERE id = $1', [observationId])).toEqual([]);
    expect((await rowCounts(target.databases))['encounters.encounter']).toBe(before['encounters.encounter']! + 1);
    expect(await target.gateway.ingest.recover()).toMatchObject({ pending: 0 });
    expect(await target.databases.labs.query('SELECT id FROM observation WHERE id = $1', [observationId])).toEqual([{ id: observationId }]);
    const after = await rowCounts(target.databases);
    expect(after['labs.ingest_staged']).toBe(0);
    expect(after['labs.ingest_reservation']).toBe(0);
  });

  it('turns an ORU^R01 message into results on the timeline, acknowledges it, and answers a replay with the same ACK', async () => {
    const org = 'org-county-north';
    const hc = unique('HC7');
    const segments = [
      'MSH|^~\\&|LIS|NORTH-LAB|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|' + unique('LAB') + '|P|2.5.1',
      `PID|1||${hc}^^^^HC~${unique('LABMR')}^^^${org}^MR||Zhang^San||19650412|M`,
      ['OBR', '1', 'PL1', 'FL1', '58410-2^CBC panel - Blood by Automated count^LN', '', '', '20260301080000', ...Array(14).fill(''), '20260301083000', '', '', 'F'].join('|'),
      'OBX|1|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||13.2|g/dL^^UCUM|12.0-17.5|N|||F|||20260301080000',
      'OBX|2|NM|6690-2^Leukocytes [#/volume] in Blood by Automated count^LN||11.4|10*3/uL^^UCUM|4.0-10.0|H|||F|||20260301080000',
      'OBX|3|ST|56888-1^HIV 1+2 Ab+HIV1 p24 Ag^LN||Negative||||||F|||20260301080000',
    ];
    const message = segments.join('\r');
    const token = await systemToken(target, org);
    const first = await send('/hl7v2', token, message, { contentType: 'x-application/hl7-v2+er7' });
    expect(first.status, first.text).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/hl7-v2/);
    const ack = first.text.split('\r');
    expect(ack[0]).toMatch(/^MSH\|\^~\\&\|FPR\|ALLIANCE\|LIS\|NORTH-LAB\|/);
    expect(ack[1]).toMatch(new RegExp(`^MSA\\|AA\\|${segments[0]!.split('|')[9]}(\\||$)`));
    const counts = await rowCounts(target.databases);
    const replay = await send('/hl7v2', token, message, { contentType: 'text/plain' });
    expect(replay.text).toBe(first.text);
    expect(await rowCounts(target.databases)).toEqual(counts);

    const clinician = await target.token({ sub: 'dr-north', role: 'clinician', org });
    const found = await target.graphql(clinician, `query($hc: String!) { patientByIdentifier(system: "${HC}", value: $hc) { id
      timeline(kinds: [LAB_RESULT, DIAGNOSTIC_REPORT]) { edges { kind node { ... on Observation { code { code } valueQuantity { value unit } valueString interpretation { code } referenceRange { low high }
        effectiveDateTime report { code { code } } } ... on DiagnosticReport { code { code } status } } } } } }`, { hc });
    expect(found.errors).toBeUndefined();
    const edges = found.data.patientByIdentifier.timeline.edges as Json[];
    const results = edges.filter((e) => e.kind === 'LAB_RESULT').map((e) => e.node);
    expect(results.map((r) => r.code.code).sort()).toEqual(['56888-1', '6690-2', '718-7']);
    expect(results.find((r) => r.code.code === '718-7')).toMatchObject({
      valueQuantity: { value: 13.2, unit: 'g/dL' }, interpretation: { code: 'N' }, referenceRange: { low: 12, high: 17.5 }, effectiveDateTime: '2026-03-01T08:00:00.000Z', report: { code: { code: '58410-2' } },
    });
    expect(results.find((r) => r.code.code === '6690-2').interpretation.code).toBe('H');
    expect(results.find((r) => r.code.code === '56888-1').valueString).toBe('Negative');
    expect(edges.filter((e) => e.kind === 'DIAGNOSTIC_REPORT').map((e) => e.node)).toEqual([{ code: { code: '58410-2' }, status: 'final' }]);

    // A bad code: AE, the ERR segment names the segment, the field and the FHIRPath; nothing stored.
    const bad = message.replace('718-7^', '718-8^').replace(/\|LAB-[^|]+\|P\|/, `|${unique('LAB')}|P|`);
    const refused = await send('/hl7v2', token, bad, { contentType: 'x-application/hl7-v2+er7' });
    expect(refused.status).toBe(400);
    const lines = refused.text.split('\r');
    expect(lines[1]).toMatch(/^MSA\|AE\|/);
    expect(lines[2]).toMatch(/^ERR\|\|OBX\^1\^3\|103\^Table value not found\^HL70357\|E\|/);
    expect(await rowCounts(target.databases)).toEqual(counts);
    // A message type the product does not take (a transfer): AR.
    const adt = await send('/hl7v2', token, message.replace('ORU^R01^ORU_R01', 'ADT^A02^ADT_A02'), { contentType: 'x-application/hl7-v2+er7' });
    expect(adt.text.split('\r')[1]).toMatch(/^MSA\|AR\|/);
    expect((await send('/hl7v2', null, message, { contentType: 'x-application/hl7-v2+er7' })).status).toBe(401);
  });

  it('gives one patient to one person two institutions publish with the same health card', async () => {
    const hc = unique('HC');
    const baisha = await send('/fhir', await systemToken(target, 'org-thc-baisha'), smallBundle('org-thc-baisha', { hc }));
    const north = await send('/fhir', await systemToken(target, 'org-county-north'), smallBundle('org-county-north', { hc }));
    expect(baisha.status).toBe(200);
    expect(north.status).toBe(200);
    const patientId = await patientOf(baisha);
    expect(await patientOf(north)).toBe(patientId);
    // A first registration at county-north: 201, like any new registration (docs/consent.md).
    expect(north.body.entry[0].response.status).toBe('201 Created');
    const identifiers = await target.databases.identity.query<Json>('SELECT system, type, assigner_organization_id FROM patient_identifier WHERE patient_id = $1 ORDER BY system', [patientId]);
    expect(identifiers.map((i) => i.assigner_organization_id ?? i.type).sort()).toEqual(['HC', 'org-county-north', 'org-thc-baisha']);
    // Both institutions' staff now reach the patient, each seeing its own records.
    for (const org of ['org-thc-baisha', 'org-county-north']) {
      const response = await target.graphql(await target.token({ sub: `dr-${org}`, role: 'clinician', org }), 'query($id: ID!) { patient(id: $id) { id encounters { edges { node { organization { id } } } } } }', { id: patientId });
      expect(response.data.patient.encounters.edges.map((e: Json) => e.node.organization.id)).toEqual([org]);
    }
  });

  it('keeps a probable duplicate apart as a match candidate, which an administrator links or keeps distinct', async () => {
    const family = unique('Qiu');
    const existing = await send('/fhir', await systemToken(target, 'org-thc-baisha'), smallBundle('org-thc-baisha', { family, birthDate: '1958-07-08' }));
    const duplicate = await send('/fhir', await systemToken(target, 'org-county-south'), smallBundle('org-county-south', { family, birthDate: '1958-07-08', hc: '' }));
    expect(duplicate.status, duplicate.text).toBe(200);
    const survivorId = await patientOf(existing);
    const mergedId = await patientOf(duplicate);
    expect(mergedId).not.toBe(survivorId);
    // The answer does not reveal that a person with these names and birth date is registered elsewhere.
    expect(duplicate.body.entry[0].response.outcome).toBeUndefined();

    const admin = await target.token({ sub: 'admin-1', role: 'admin' });
    const list = await target.graphql(admin, `{ matchCandidates { edges { node { id patientId candidatePatientId status reason
      patientRegistrations { id } candidateRegistrations { id } } } } }`);
    expect(list.errors).toBeUndefined();
    const candidate = list.data.matchCandidates.edges.map((e: Json) => e.node).find((c: Json) => c.patientId === mergedId);
    expect(candidate).toMatchObject({ candidatePatientId: survivorId, status: 'PENDING', patientRegistrations: [{ id: 'org-county-south' }], candidateRegistrations: [{ id: 'org-thc-baisha' }] });
    const clinician = await target.token({ sub: 'dr', role: 'clinician', org: 'org-thc-baisha' });
    expect((await target.graphql(clinician, '{ matchCandidates { edges { node { id } } } }')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const linked = await target.graphql(admin, 'mutation($id: ID!) { resolveMatchCandidate(id: $id, decision: LINK) { status pendingOwners patientRegistrations { id } } }', { id: candidate.id });
    expect(linked.errors).toBeUndefined();
    expect(linked.data.resolveMatchCandidate).toEqual({ status: 'LINKED', pendingOwners: [], patientRegistrations: [{ id: 'org-county-south' }, { id: 'org-thc-baisha' }] });
    // The survivor holds both registrations; the merged-away id answers with the survivor; the records moved.
    const south = await target.token({ sub: 'dr-south', role: 'clinician', org: 'org-county-south' });
    const merged = await target.graphql(south, 'query($id: ID!) { patient(id: $id) { id identifiers { assigner { id } } observations { edges { node { organization { id } } } } } }', { id: mergedId });
    expect(merged.data.patient.id).toBe(survivorId);
    // County-south's registration moved with it, and still shows it what it sent: its own number, not baisha's.
    expect(merged.data.patient.identifiers.map((i: Json) => i.assigner?.id ?? 'HC').sort()).toEqual(['org-county-south']);
    expect((await target.databases.identity.query<Json>('SELECT value FROM patient_identifier WHERE patient_id = $1', [survivorId])).length).toBe(3);
    expect(merged.data.patient.observations.edges.map((e: Json) => e.node.organization.id)).toEqual(['org-county-south']);
    expect(await target.databases.labs.query('SELECT count(*)::int AS n FROM observation WHERE patient_id = $1', [mergedId])).toEqual([{ n: 0 }]);
    const events = await target.databases.identity.query<Json>(`SELECT patient_id FROM audit_event WHERE action = 'patient-linked' AND details->>'candidateId' = $1`, [candidate.id]);
    expect(events.map((e) => e.patient_id).sort()).toEqual([mergedId, survivorId].sort());
    // Publishing again for the merged-away id lands on the survivor.
    const later = await send('/fhir/Observation', await systemToken(target, 'org-county-south'), {
      resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${mergedId}` }, code: { coding: [{ system: LOINC, code: '4548-4' }] }, effectiveDateTime: '2026-03-01T00:00:00Z', valueQuantity: { value: 6.1, unit: '%' },
    });
    expect(later.status, later.text).toBe(201);
    expect(await target.databases.labs.query('SELECT patient_id FROM observation WHERE id = $1', [later.headers.get('location')!.split('/')[1]])).toEqual([{ patient_id: survivorId }]);

    // Another pair kept distinct.
    const other = unique('Tan');
    await send('/fhir', await systemToken(target, 'org-thc-baisha'), smallBundle('org-thc-baisha', { family: other }));
    const second = await send('/fhir', await systemToken(target, 'org-county-south'), smallBundle('org-county-south', { family: other, hc: '' }));
    const pending = await target.graphql(admin, '{ matchCandidates(status: PENDING) { edges { node { id patientId } } } }');
    const candidate2 = pending.data.matchCandidates.edges.map((e: Json) => e.node).find((c: Json) => c.patientId === String(second.body.entry[0].response.location).split('/')[1]);
    const distinct = await target.graphql(admin, 'mutation($id: ID!) { resolveMatchCandidate(id: $id, decision: DISTINCT) { status } }', { id: candidate2.id });
    expect(distinct.data.resolveMatchCandidate.status).toBe('DISTINCT');
  });

  it('aborts a transaction its gateway abandoned between stage and decision, at every owner that staged it', async () => {
    const org = 'org-county-north';
    const published = await send('/fhir', await systemToken(target, org), smallBundle(org));
    const patientId = await patientOf(published);
    // A gateway that stages at identity and labs, then stops before deciding.
    const actor = { sub: `${org}-his`, role: 'system' as const, org, scope: 'system/*.cru', patient: null, purposeOfUse: 'TREAT' as const, breakGlassReason: null, clientId: `${org}-his` };
    const gateway = internalCaller({ auth: internalSigners(target.keys).as('gateway'), url: (name) => target.subgraphs[name].url, requestId: crypto.randomUUID(), actor });
    const transactionId = crypto.randomUUID();
    const refs = await gateway.call<Json>(INTERNAL_APIS.ingestStage, { transactionId, participants: ['labs'], entries: [], patientRefs: [{ key: 'p', index: 0, expression: 'Observation.subject', id: patientId }] }, 'identity');
    expect(refs).toMatchObject({ ok: true, patients: { p: patientId } });
    const observationId = crypto.randomUUID();
    const staged = await gateway.call<Json>(INTERNAL_APIS.ingestStage, {
      transactionId, entries: [{
        index: 0, path: 'Observation', resourceType: 'Observation', kind: 'observation', op: 'create', id: observationId, patientId, category: 'labs', ifNoneExist: null,
        identifiers: [{ system: 'urn:abandoned', value: transactionId }], refs: {},
        record: { code: '718-7', display: 'Hemoglobin', category: 'laboratory', status: 'final', value_quantity: 1, effective: '2026-01-01T00:00:00Z', sensitivity_labels: [] },
      }],
    }, 'labs');
    expect(staged.ok).toBe(true);
    expect((await rowCounts(target.databases, ['labs']))['labs.ingest_staged']).toBe(1);
    // Recovery (here with no grace period) aborts it and tells labs; nothing was ever visible.
    await target.gateway.ingest.recover({ staleSeconds: 0 });
    expect(await target.databases.identity.query('SELECT state, delivered FROM ingest_decision WHERE transaction_id = $1', [transactionId])).toEqual([{ state: 'aborted', delivered: true }]);
    expect(await rowCounts(target.databases, ['labs'])).toMatchObject({ 'labs.ingest_staged': 0, 'labs.ingest_reservation': 0 });
    expect(await target.databases.labs.query('SELECT id FROM observation WHERE id = $1', [observationId])).toEqual([]);
    // A late commit for it is refused by the owner: the decision stands.
    await expect(gateway.call(INTERNAL_APIS.ingestCommit, { transactionId }, 'labs')).rejects.toThrow();
  });

  it('writes nothing when an owner is down (a subgraph stopped), with 503', async () => {
    const org = 'org-county-north';
    const bundle = smallBundle(org);
    bundle.entry.push({
      fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'ImagingStudy' } as Json,
      resource: {
        resourceType: 'ImagingStudy', status: 'available', subject: { reference: bundle.entry[0]!.fullUrl }, identifier: [{ system: 'urn:dicom:uid', value: 'urn:oid:2.25.1234567' }],
        modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }], started: '2026-02-01T10:00:00Z', numberOfSeries: 1, numberOfInstances: 10,
      } as Json,
    } as never);
    await target.subgraphs.imaging.close();
    target.subgraphs.imaging.close = async () => undefined; // closed once, here
    const others = ['identity', 'encounters', 'labs', 'public-health'] as const;
    const before = await rowCounts(target.databases, others);
    const response = await send('/fhir', await systemToken(target, org), bundle);
    expect(response.status).toBe(503);
    expect(response.body.issue[0].diagnostics).toMatch(/imaging/);
    expect(await rowCounts(target.databases, others)).toEqual(before);
  });
});
