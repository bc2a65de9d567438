/**
 * FHIR R4 export end to end: GET /fhir/Patient/{id}/$everything on the
 * gateway, over real HTTP, against the seeded generator data.
 *
 * - every bundle validates against the official R4 JSON schema (and a broken
 *   copy does not, so the validator really looks inside the entries);
 * - the bundle holds exactly what the actor may see: the generator's records
 *   filtered by the consent policy (the patient: everything; staff of the
 *   producing organisation: its records; staff elsewhere: what a permit
 *   opens, labelled results only when the permit names the label; an app:
 *   its scopes' resource types; public health: programme data; break-glass:
 *   everything, flagged); field-level refusals become omissions / REDACTED;
 * - codes are right (LOINC, ICD-10, CVX, DICOM, v3 ActCode…), checked record
 *   by record against the generator; the code systems are written out here
 *   rather than imported, so a wrong constant in the mapping fails;
 * - each export leaves its audit events (request id = Bundle.id), and no
 *   bundle leaves when the audit store fails;
 * - refusals are OperationOutcomes with the right status, and a hidden
 *   patient is indistinguishable from one that does not exist.
 */
import { randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUDIENCE, DEV_ISSUER } from '../lib/trust/keys.js';
import { PROGRAMS, type PatientBundle } from '../lib/synthetic/generator.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { generatedPatients } from './support/generated.js';
import { exportPlan } from '../gateway/src/fhir/plan.js';
import { buildBatchOperation, buildOperation } from '../gateway/src/fhir/queries.js';

const SYS = {
  loinc: 'http://loinc.org',
  icd10: 'http://hl7.org/fhir/sid/icd-10',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  dcm: 'http://dicom.nema.org/resources/ontology/DCM',
  ucum: 'http://unitsofmeasure.org',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  confidentiality: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality',
  redacted: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  v20074: 'http://terminology.hl7.org/CodeSystem/v2-0074',
  v20203: 'http://terminology.hl7.org/CodeSystem/v2-0203',
};

const PATIENTS = 60;
const { bundles, find } = generatedPatients(PATIENTS);
/** Records in every domain, a read imaging study, more than 20 results. */
const rich = find((b) => b.imagingStudies.some((s) => s.report) && b.referrals.length > 0 && b.homeMeasurements.length > 0 && b.immunizations.length > 0
  && b.enrollments.length > 0 && b.followUpTasks.length > 0 && b.observations.length > 20 && b.diagnosticReports.some((r) => r.category !== 'LAB'));
/** An HIV-labelled result (and unlabelled ones). */
const hiv = find((b) => b.observations.some((o) => o.sensitivityLabels.includes('HIV')) && b.observations.some((o) => o.sensitivityLabels.length === 0));
/** A read imaging study, for the field-level test. */
const imaging = find((b) => b.imagingStudies.some((s) => s.report), [rich, hiv]);
/** A patient the paging test adds 230 results to. */
const paged = find((b) => b.observations.length < 30, [rich, hiv, imaging]);
/** An organisation that produced none of a patient's records and never registered them. */
const outsider = (b: PatientBundle) => ['org-county-north', 'org-county-south', 'org-provincial', 'org-mental-health', 'org-thc-baisha', 'org-thc-gaiyang'].find(
  (org) => !b.patient.identifiers.some((i) => i.assignerOrganizationId === org)
    && ![...b.observations, ...b.imagingStudies, ...b.encounters, ...b.diagnosticReports, ...b.conditions].some((r) => r.organizationId === org)
    && !b.referrals.some((r) => r.requesterOrganizationId === org),
)!;

type Entry = { fullUrl: string; resource: Record<string, any>; search?: { mode: string } };
type FhirBundle = { resourceType: string; id: string; type: string; total: number; entry: Entry[]; link: { relation: string; url: string }[] };

const ids = <T extends { id: string }>(items: T[]) => items.map((i) => i.id).sort();
const matches = (bundle: FhirBundle, type: string) => bundle.entry.filter((e) => e.search?.mode === 'match' && e.resource.resourceType === type).map((e) => e.resource);
const idsOf = (bundle: FhirBundle, type: string) => matches(bundle, type).map((r) => r.id as string).sort();
const typesOf = (bundle: FhirBundle, mode = 'match') => [...new Set(bundle.entry.filter((e) => e.search?.mode === mode).map((e) => e.resource.resourceType))].sort();
const byId = (bundle: FhirBundle, type: string, id: string) => matches(bundle, type).find((r) => r.id === id)!;
const hasSecurity = (resource: Record<string, any>, system: string, code: string) =>
  (resource.meta?.security ?? []).some((s: any) => s.system === system && s.code === code);
const outcomes = (bundle: FhirBundle) => bundle.entry.filter((e) => e.search?.mode === 'outcome').map((e) => e.resource);

/** Required elements the JSON schema does not enforce (it checks required complex elements only). */
const REQUIRED: Record<string, string[]> = {
  Patient: [], Encounter: ['status', 'class', 'subject'], Condition: ['subject'], ServiceRequest: ['status', 'intent', 'subject'],
  Observation: ['status', 'code', 'subject'], DiagnosticReport: ['status', 'code', 'subject'], ImagingStudy: ['status', 'subject'],
  Immunization: ['status', 'vaccineCode', 'patient', 'occurrenceDateTime'], EpisodeOfCare: ['status', 'patient'], Task: ['status', 'intent'],
  AllergyIntolerance: ['patient'],
  Procedure: ['status', 'subject'],
  CarePlan: ['status', 'intent', 'subject'], CareTeam: [],
  MedicationRequest: ['status', 'intent', 'subject'], MedicationAdministration: ['status', 'subject'], MedicationStatement: ['status', 'subject'], Medication: [],
  DocumentReference: ['status', 'content'],
  Organization: [], Practitioner: [], OperationOutcome: ['issue'],
};

/** A bundle must be valid R4 and internally consistent, whoever asked. */
function expectValidBundle(bundle: FhirBundle) {
  expect(bundle.resourceType).toBe('Bundle');
  expect(bundle.type).toBe('searchset');
  expect(schemaErrors(bundle)).toEqual([]);
  const urls = bundle.entry.map((e) => e.fullUrl);
  expect(new Set(urls).size).toBe(urls.length);
  expect(bundle.total).toBe(bundle.entry.filter((e) => e.search?.mode === 'match').length);
  for (const entry of bundle.entry) {
    const { resource } = entry;
    expect(Object.keys(REQUIRED), `unexpected ${resource.resourceType}`).toContain(resource.resourceType);
    for (const element of REQUIRED[resource.resourceType]!) expect(resource[element], `${resource.resourceType}/${resource.id}.${element}`).toBeDefined();
    if (resource.resourceType !== 'OperationOutcome') expect(entry.fullUrl.endsWith(`/fhir/${resource.resourceType}/${resource.id}`)).toBe(true);
  }
  // Links between the patient's records stay inside the bundle (registry references may point outside).
  const present = new Set(bundle.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      const reference = (value as { reference?: unknown }).reference;
      if (typeof reference === 'string' && !/^(Organization|Practitioner|Patient)\//.test(reference)) expect(present, `dangling ${reference}`).toContain(reference);
      Object.values(value).forEach(walk);
    }
  };
  walk(bundle.entry.map((e) => e.resource));
}

describe.each(BACKENDS)('FHIR R4 export on %s', (backend) => {
  let stack: TestStack;
  let base: string;

  const everything = async (token: string | null, id: string, init: { method?: string; headers?: Record<string, string>; path?: string } = {}) => {
    const response = await fetch(`${base}${init.path ?? `/fhir/Patient/${id}/$everything`}`, {
      method: init.method ?? 'GET',
      headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
    });
    const text = await response.text();
    return { status: response.status, contentType: response.headers.get('content-type'), text, body: JSON.parse(text) };
  };
  const exportAs = async (token: string, id: string): Promise<FhirBundle> => {
    const response = await everything(token, id);
    expect(response.status, response.text.slice(0, 500)).toBe(200);
    expect(response.contentType).toMatch(/^application\/fhir\+json/);
    expectValidBundle(response.body);
    return response.body;
  };
  const grant = async (token: string, input: Record<string, unknown>) => {
    const response = await stack.graphql(token, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', { input });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data.grantConsent.id as string;
  };
  const revoke = (token: string, id: string) => stack.graphql(token, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id });
  const auditEvents = (requestId: string) => stack.databases.identity.query<{ patient_id: string; actor_sub: string; record_counts: Record<string, number>; break_glass: boolean; break_glass_reason: string | null }>(
    'SELECT patient_id, actor_sub, record_counts, break_glass, break_glass_reason FROM audit_event WHERE request_id = $1 ORDER BY seq', [requestId]);
  const auditCount = async () => Number((await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event'))[0]!.n);
  const patientToken = (b: PatientBundle) => stack.token({ sub: `patient-${b.patient.id.slice(0, 8)}`, role: 'patient', patient: b.patient.id });

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    base = stack.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => stack?.close());

  it('checks bundles with a validator that looks inside the entries', async () => {
    const bundle = await exportAs(await patientToken(rich), rich.patient.id);
    const broken = structuredClone(bundle);
    const observation = broken.entry.find((e) => e.resource.resourceType === 'Observation')!.resource;
    observation.status = 'done';
    expect(schemaErrors(broken).length).toBeGreaterThan(0);
    const badDate = structuredClone(bundle);
    badDate.entry.find((e) => e.resource.resourceType === 'Encounter')!.resource.period.start = '20/11/2025';
    expect(schemaErrors(badDate).length).toBeGreaterThan(0);
  });

  it('runs its own operation, which a caller sending the same text to /graphql is refused (the public cost limit)', async () => {
    // The export's operation for a patient token (patient/*.rs): the patient and a page of 100 of every record type.
    const actor = { sub: 'p', role: 'patient', org: null, scope: 'patient/*.rs', patient: rich.patient.id, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: null } as const;
    const plan = exportPlan(actor);
    const operation = buildOperation({ patientFields: true, plan }, Object.fromEntries(plan.connections.map((c) => [c, null])));
    const token = await patientToken(rich);
    const before = await auditCount();
    for (const [query, variables] of [[operation.query, { id: rich.patient.id, ...operation.variables }], [buildBatchOperation(plan).query, { ids: [rich.patient.id] }]] as const) {
      const refused = await stack.graphql(token, query, variables);
      expect(refused.status).toBe(400);
      expect(refused.data).toBeUndefined();
      expect(refused.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(refused.errors?.[0]?.message).toMatch(/cost limit of 300000 exceeded/i);
    }
    // Nothing was read, so nothing was disclosed; the same operation run by $everything answers the whole record.
    expect(await auditCount()).toBe(before);
    const bundle = await exportAs(token, rich.patient.id);
    expect(idsOf(bundle, 'Observation').length).toBeGreaterThan(0);
    expect(await auditCount()).toBeGreaterThan(before);
  });

  it('gives the patient their whole record, record for record, with the right codes', async () => {
    const bundle = await exportAs(await patientToken(rich), rich.patient.id);
    const radiologyReports = rich.imagingStudies.filter((s) => s.report).map((s) => s.report!);
    expect(idsOf(bundle, 'Patient')).toEqual([rich.patient.id]);
    expect(idsOf(bundle, 'Encounter')).toEqual(ids(rich.encounters));
    expect(idsOf(bundle, 'Condition')).toEqual(ids(rich.conditions));
    expect(idsOf(bundle, 'ServiceRequest')).toEqual(ids(rich.referrals));
    expect(idsOf(bundle, 'Observation')).toEqual(ids([...rich.observations, ...rich.homeMeasurements, ...rich.clinicalObservations]));
    expect(idsOf(bundle, 'DiagnosticReport')).toEqual(ids([...rich.diagnosticReports, ...radiologyReports]));
    expect(idsOf(bundle, 'ImagingStudy')).toEqual(ids(rich.imagingStudies));
    expect(idsOf(bundle, 'Immunization')).toEqual(ids(rich.immunizations));
    expect(idsOf(bundle, 'EpisodeOfCare')).toEqual(ids(rich.enrollments));
    expect(idsOf(bundle, 'Task')).toEqual(ids(rich.followUpTasks));
    expect(outcomes(bundle)).toEqual([]); // nothing withheld from the patient

    const patient = byId(bundle, 'Patient', rich.patient.id);
    expect(patient).toMatchObject({ gender: rich.patient.sex, birthDate: rich.patient.birthDate, name: [{ family: rich.patient.family, given: rich.patient.given }] });
    expect(patient.identifier.map((i: any) => `${i.type.coding[0].system}|${i.type.coding[0].code}|${i.system}|${i.value}`).sort())
      .toEqual(rich.patient.identifiers.map((i) => `${SYS.v20203}|${i.type}|${i.system}|${i.value}`).sort());

    for (const e of rich.encounters) {
      const resource = byId(bundle, 'Encounter', e.id);
      expect(resource.class).toMatchObject({ system: SYS.actCode, code: e.class });
      expect(resource.status).toBe(e.status);
      expect(resource.period.start).toBe(e.periodStart.toISOString());
      expect(resource.reasonCode[0].coding[0]).toMatchObject({ system: SYS.icd10, code: e.reasonCode });
      expect(resource.serviceProvider.reference).toBe(`Organization/${e.organizationId}`);
      expect(resource.diagnosis.map((d: any) => d.condition.reference)).toEqual(rich.conditions.filter((c) => c.encounterId === e.id).map((c) => `Condition/${c.id}`));
    }
    for (const c of rich.conditions) {
      const resource = byId(bundle, 'Condition', c.id);
      expect(resource.code.coding[0]).toMatchObject({ system: SYS.icd10, code: c.code, display: c.display });
      expect(resource.clinicalStatus.coding[0].code).toBe(c.clinicalStatus);
      expect(resource.encounter.reference).toBe(`Encounter/${c.encounterId}`);
    }
    const referralStatus = { requested: 'active', accepted: 'active', completed: 'completed', declined: 'revoked', cancelled: 'revoked' };
    for (const r of rich.referrals) {
      const resource = byId(bundle, 'ServiceRequest', r.id);
      expect(resource).toMatchObject({ status: referralStatus[r.status], intent: 'order', requester: { reference: `Organization/${r.requesterOrganizationId}` } });
      expect(resource.performer[0].reference).toBe(`Organization/${r.performerOrganizationId}`);
      expect(resource.reasonCode[0].coding[0]).toMatchObject({ system: SYS.icd10, code: r.reasonCode });
    }
    for (const o of rich.observations) {
      const resource = byId(bundle, 'Observation', o.id);
      expect(resource.code.coding[0]).toMatchObject({ system: SYS.loinc, code: o.code });
      expect(resource.category[0].coding[0].code).toBe('laboratory');
      expect(resource.effectiveDateTime).toBe(o.effective.toISOString());
      if (o.valueQuantity !== null) expect(resource.valueQuantity).toEqual({ value: o.valueQuantity, unit: o.unit, system: SYS.ucum, code: o.unit });
      else expect(resource.valueString).toBe(o.valueString);
      expect(resource.interpretation[0].coding[0].code).toBe(o.interpretation);
    }
    const category = { LAB: 'LAB', ECG: 'EC', PATHOLOGY: 'PAT' };
    for (const r of rich.diagnosticReports) {
      const resource = byId(bundle, 'DiagnosticReport', r.id);
      expect(resource.category[0].coding[0]).toMatchObject({ system: SYS.v20074, code: category[r.category] });
      expect(resource.code.coding[0]).toMatchObject({ system: SYS.loinc, code: r.code });
      expect((resource.result ?? []).map((x: any) => x.reference).sort()).toEqual(rich.observations.filter((o) => o.reportId === r.id).map((o) => `Observation/${o.id}`).sort());
      if (r.conclusion) expect(resource.conclusion).toBe(r.conclusion);
    }
    for (const m of rich.homeMeasurements) {
      const resource = byId(bundle, 'Observation', m.id);
      expect(resource.category[0].coding[0].code).toBe('vital-signs');
      expect(resource.code.coding[0]).toMatchObject({ system: SYS.loinc, code: m.code });
      if (m.kind === 'blood-pressure') {
        expect(resource.component.map((c: any) => [c.code.coding[0].system, c.code.coding[0].code, c.valueQuantity.value, c.valueQuantity.code]))
          .toEqual([[SYS.loinc, '8480-6', m.systolic, 'mm[Hg]'], [SYS.loinc, '8462-4', m.diastolic, 'mm[Hg]']]);
      } else {
        expect(resource.valueQuantity).toMatchObject({ value: m.value, system: SYS.ucum, code: m.unit });
      }
    }
    for (const s of rich.imagingStudies) {
      const resource = byId(bundle, 'ImagingStudy', s.id);
      expect(resource.identifier).toEqual([{ system: 'urn:dicom:uid', value: `urn:oid:${s.studyInstanceUid}` }]);
      expect(resource.modality[0]).toMatchObject({ system: SYS.dcm, code: s.modality });
      expect(resource).toMatchObject({ numberOfSeries: s.numberOfSeries, numberOfInstances: s.numberOfInstances, started: s.started.toISOString() });
      if (!s.report) continue;
      const report = byId(bundle, 'DiagnosticReport', s.report.id);
      expect(report.category[0].coding[0]).toMatchObject({ system: SYS.v20074, code: 'RAD' });
      expect(report.code.coding[0]).toMatchObject({ system: SYS.loinc, code: '18748-4' });
      expect(report.imagingStudy).toEqual([{ reference: `ImagingStudy/${s.id}` }]);
      expect(report.conclusion).toBe(s.report.impression);
      expect(Buffer.from(report.presentedForm[0].data, 'base64').toString('utf8')).toBe(s.report.findings);
    }
    for (const i of rich.immunizations) {
      const resource = byId(bundle, 'Immunization', i.id);
      expect(resource.vaccineCode.coding[0]).toMatchObject({ system: SYS.cvx, code: i.vaccineCode });
      expect(resource).toMatchObject({ status: 'completed', lotNumber: i.lotNumber, occurrenceDateTime: i.occurrence.toISOString() });
      expect(resource.protocolApplied[0].doseNumberPositiveInt).toBe(i.doseNumber);
      expect(resource.performer[0].actor.reference).toBe(`Organization/${i.organizationId}`);
    }
    for (const e of rich.enrollments) {
      const resource = byId(bundle, 'EpisodeOfCare', e.id);
      expect(resource.status).toBe(e.status);
      expect(resource.type[0].coding[0].code).toBe(PROGRAMS.find((p) => p.id === e.programId)!.code);
      expect(resource.managingOrganization.reference).toBe(`Organization/${e.organizationId}`);
    }
    for (const t of rich.followUpTasks) {
      const resource = byId(bundle, 'Task', t.id);
      expect(resource).toMatchObject({ status: t.status, intent: 'order', description: t.description, restriction: { period: { end: t.dueDate } } });
      expect(resource.owner.reference).toBe(`Organization/${t.organizationId}`);
    }
    // Registry entries for every organisation referenced.
    const organizations = new Set([...rich.encounters, ...rich.observations, ...rich.immunizations].map((r) => r.organizationId));
    for (const org of organizations) expect(bundle.entry.some((e) => e.search?.mode === 'include' && e.resource.resourceType === 'Organization' && e.resource.id === org)).toBe(true);
  });

  it('audits the export: one event, the bundle id as request id, counts of what the bundle holds', async () => {
    const before = await auditCount();
    const bundle = await exportAs(await patientToken(rich), rich.patient.id);
    const events = await auditEvents(bundle.id);
    expect(await auditCount()).toBe(before + 1);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event!.patient_id).toBe(rich.patient.id);
    expect(event!.actor_sub).toBe(`patient-${rich.patient.id.slice(0, 8)}`);
    expect(event!.record_counts).toMatchObject({
      demographics: 1,
      // A link to a record of another category is a disclosure of that category, counted under the linking record
      // (a procedure's encounter and diagnosis, the diagnoses a care plan addresses, the encounter of a lab result, a
      // report or a clinical observation: their field rules, asked of every record whether or not it names one).
      encounters: rich.encounters.length + rich.procedures.length + rich.observations.length + rich.diagnosticReports.length + rich.clinicalObservations.length
        // (and of an immunization, a care plan, a care team and an imaging study: public-health and imaging migrations 008)
        + rich.immunizations.length + rich.carePlans.length + rich.careTeams.length + rich.imagingStudies.length,
      diagnoses: rich.conditions.length + rich.procedures.length + rich.carePlans.length,
      // (A category with nothing disclosed is not counted at all.)
      ...(rich.procedures.length ? { procedures: rich.procedures.length } : {}),
      ...(rich.carePlans.length + rich.careTeams.length ? { 'care-plans': rich.carePlans.length + rich.careTeams.length } : {}),
      referrals: rich.referrals.length,
      labs: rich.observations.length + rich.diagnosticReports.length,
      imaging: rich.imagingStudies.length,
      'imaging-reports': rich.imagingStudies.filter((s) => s.report).length,
      immunizations: rich.immunizations.length,
      programs: rich.enrollments.length,
      'follow-ups': rich.followUpTasks.length,
      'home-measurements': rich.homeMeasurements.length,
      ...(rich.clinicalObservations.length ? { observations: rich.clinicalObservations.length } : {}),
    });
  });

  it('gives staff of the producing organisation exactly the records it produced', async () => {
    const org = rich.patient.identifiers.find((i) => i.type === 'MR')!.assignerOrganizationId!;
    const clinician = await stack.token({ sub: 'dr-own', role: 'clinician', org });
    const bundle = await exportAs(clinician, rich.patient.id);
    const own = <T extends { id: string; organizationId: string }>(items: T[]) => ids(items.filter((i) => i.organizationId === org));
    expect(idsOf(bundle, 'Patient')).toEqual([rich.patient.id]);
    expect(idsOf(bundle, 'Encounter')).toEqual(own(rich.encounters));
    expect(idsOf(bundle, 'Condition')).toEqual(own(rich.conditions));
    expect(idsOf(bundle, 'ServiceRequest')).toEqual(ids(rich.referrals.filter((r) => r.requesterOrganizationId === org)));
    expect(idsOf(bundle, 'Observation')).toEqual(ids([...rich.observations, ...rich.homeMeasurements, ...rich.clinicalObservations].filter((r) => r.organizationId === org)));
    expect(idsOf(bundle, 'ImagingStudy')).toEqual(own(rich.imagingStudies));
    expect(idsOf(bundle, 'Immunization')).toEqual(own(rich.immunizations));
    expect(idsOf(bundle, 'EpisodeOfCare')).toEqual(own(rich.enrollments));
    expect(idsOf(bundle, 'Task')).toEqual(own(rich.followUpTasks));
  });

  it('shows staff elsewhere nothing without consent, what a permit opens, and a labelled HIV result only under a permit naming HIV', async () => {
    const org = outsider(hiv);
    const clinician = await stack.token({ sub: 'dr-elsewhere', role: 'clinician', org });
    const owner = await patientToken(hiv);
    const hivResult = hiv.observations.find((o) => o.sensitivityLabels.includes('HIV'))!;

    const hidden = await everything(clinician, hiv.patient.id);
    const unknown = await everything(clinician, randomUUID());
    expect(hidden.status).toBe(404);
    expect(hidden.body.resourceType).toBe('OperationOutcome');
    // Nothing tells a patient the caller may not see from one who does not exist.
    expect(unknown.status).toBe(hidden.status);
    expect(unknown.text).toBe(hidden.text);

    const permit = await grant(owner, { patientId: hiv.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: org, categories: ['DEMOGRAPHICS', 'LABS'] });
    const labs = await exportAs(clinician, hiv.patient.id);
    expect(typesOf(labs)).toEqual(['DiagnosticReport', 'Observation', 'Patient']);
    expect(idsOf(labs, 'Observation')).toEqual(ids(hiv.observations.filter((o) => o.sensitivityLabels.length === 0)));
    expect(idsOf(labs, 'DiagnosticReport')).toEqual(ids(hiv.diagnosticReports.filter((r) => r.sensitivityLabels.length === 0)));
    expect(labs.entry.some((e) => JSON.stringify(e.resource).includes('56888-1'))).toBe(false);
    expect(JSON.stringify(labs)).not.toContain(hivResult.id);
    // Identifiers are not covered: withheld, so left out and the Patient marked redacted.
    const patient = byId(labs, 'Patient', hiv.patient.id);
    expect(patient.identifier).toBeUndefined();
    expect(patient.name[0].family).toBe(hiv.patient.family);
    expect(hasSecurity(patient, SYS.redacted, 'REDACTED')).toBe(true);
    expect(outcomes(labs).map((o) => o.issue[0].code)).toEqual(['suppressed']);

    const hivPermit = await grant(owner, { patientId: hiv.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: org, categories: ['LABS'], labels: ['HIV'] });
    const withLabel = await exportAs(clinician, hiv.patient.id);
    expect(idsOf(withLabel, 'Observation')).toEqual(ids(hiv.observations));
    const labelled = byId(withLabel, 'Observation', hivResult.id);
    expect(hasSecurity(labelled, SYS.actCode, 'HIV')).toBe(true);
    expect(hasSecurity(labelled, SYS.confidentiality, 'R')).toBe(true);
    expect(labelled.valueString).toBe(hivResult.valueString);

    await revoke(owner, hivPermit);
    await revoke(owner, permit);
    expect((await everything(clinician, hiv.patient.id)).status).toBe(404);
  });

  it('shows an imaging study but leaves out its report, field by field, when only imaging is permitted', async () => {
    const org = outsider(imaging);
    const clinician = await stack.token({ sub: 'dr-imaging', role: 'clinician', org });
    const owner = await patientToken(imaging);
    const permit = await grant(owner, { patientId: imaging.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: org, categories: ['DEMOGRAPHICS', 'IMAGING'] });
    const bundle = await exportAs(clinician, imaging.patient.id);
    expect(typesOf(bundle)).toEqual(['ImagingStudy', 'Patient']);
    expect(idsOf(bundle, 'ImagingStudy')).toEqual(ids(imaging.imagingStudies));
    for (const study of matches(bundle, 'ImagingStudy')) {
      expect(hasSecurity(study, SYS.redacted, 'REDACTED')).toBe(true);
      expect(study.interpreter).toBeUndefined();
    }
    const reports = imaging.imagingStudies.filter((s) => s.report).map((s) => s.report!);
    for (const report of reports) {
      expect(JSON.stringify(bundle)).not.toContain(report.id);
      expect(JSON.stringify(bundle)).not.toContain(report.impression);
    }
    await revoke(owner, permit);
  });

  it('gives an app with patient/Observation.rs only observations, and a vital-signs app only home measurements', async () => {
    const app = await stack.appToken({ sub: 'app-user', client_id: 'lab-viewer', patient: rich.patient.id, scope: 'patient/Observation.rs' });
    const bundle = await exportAs(app, rich.patient.id);
    expect(typesOf(bundle)).toEqual(['Observation']);
    expect(typesOf(bundle, 'include')).toEqual([]);
    expect(idsOf(bundle, 'Observation')).toEqual(ids([...rich.observations, ...rich.homeMeasurements, ...rich.clinicalObservations]));
    const events = await auditEvents(bundle.id);
    expect(Object.keys(events[0]!.record_counts).sort()).toEqual(['home-measurements', 'labs', ...(rich.clinicalObservations.length ? ['observations'] : [])]);
    expect(events[0]!.record_counts.labs).toBe(rich.observations.length);

    const diary = await stack.appToken({ sub: 'app-user', client_id: 'bp-diary', patient: rich.patient.id, scope: 'patient/Observation.rs?category=vital-signs' });
    const vitals = await exportAs(diary, rich.patient.id);
    expect(typesOf(vitals)).toEqual(['Observation']);
    // Vital signs are the home measurements and the clinics' vital signs (not their social history).
    expect(idsOf(vitals, 'Observation')).toEqual(ids([...rich.homeMeasurements, ...rich.clinicalObservations.filter((o) => o.categoryCode === 'vital-signs')]));
  });

  it('gives public-health staff only programme data of an enrolled patient', async () => {
    const officer = await stack.token({ sub: 'ph-officer', role: 'public_health', org: 'org-cdc' });
    const enrolled = find((b) => b.enrollments.some((e) => PROGRAMS.find((p) => p.id === e.programId)!.organizationId === 'org-cdc') && b.homeMeasurements.length > 0 && b.immunizations.length > 0);
    const bundle = await exportAs(officer, enrolled.patient.id);
    expect(typesOf(bundle)).toEqual(['EpisodeOfCare', 'Immunization', 'Observation', 'Patient', ...(enrolled.followUpTasks.length ? ['Task'] : [])]);
    expect(idsOf(bundle, 'Observation')).toEqual(ids(enrolled.homeMeasurements));
    expect(idsOf(bundle, 'Immunization')).toEqual(ids(enrolled.immunizations));
    expect(idsOf(bundle, 'EpisodeOfCare')).toEqual(ids(enrolled.enrollments));
    expect(byId(bundle, 'Patient', enrolled.patient.id).identifier).toBeUndefined();
  });

  it('opens the record in an emergency, says so in the bundle, and flags the audit event', async () => {
    const org = outsider(hiv);
    const reason = 'Unconscious patient in the emergency room';
    const emergency = await stack.token({ sub: 'dr-er', role: 'clinician', org, purpose_of_use: 'ETREAT', break_glass_reason: reason });
    const bundle = await exportAs(emergency, hiv.patient.id);
    expect(idsOf(bundle, 'Observation')).toEqual(ids([...hiv.observations, ...hiv.homeMeasurements, ...hiv.clinicalObservations]));
    expect(outcomes(bundle).some((o) => o.issue[0].severity === 'warning' && /break-glass/i.test(o.issue[0].diagnostics))).toBe(true);
    const events = await auditEvents(bundle.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ break_glass: true, break_glass_reason: reason, actor_sub: 'dr-er' });
  });

  it('returns no bundle while the audit store fails, and exports again once it is back', async () => {
    const token = await patientToken(rich);
    const before = await auditCount();
    await stack.databases.identity.query('ALTER TABLE audit_event RENAME TO audit_event_offline');
    let failed;
    try {
      failed = await everything(token, rich.patient.id);
    } finally {
      await stack.databases.identity.query('ALTER TABLE audit_event_offline RENAME TO audit_event');
    }
    expect(failed.status).toBe(503);
    expect(failed.contentType).toMatch(/^application\/fhir\+json/);
    expect(failed.body.resourceType).toBe('OperationOutcome');
    expect(failed.body.issue[0].code).toBe('transient');
    expect(schemaErrors(failed.body)).toEqual([]);
    expect(failed.text).not.toContain(rich.patient.family);
    expect(failed.text).not.toContain(rich.observations[0]!.id);
    expect(await auditCount()).toBe(before);
    await exportAs(token, rich.patient.id);
    expect(await auditCount()).toBe(before + 1);
  });

  it('fails the export, rather than return a bundle missing records, when a subgraph fails', async () => {
    const token = await patientToken(rich);
    await stack.databases.imaging.query('ALTER TABLE imaging_study RENAME TO imaging_study_offline');
    let failed;
    try {
      failed = await everything(token, rich.patient.id);
    } finally {
      await stack.databases.imaging.query('ALTER TABLE imaging_study_offline RENAME TO imaging_study');
    }
    expect(failed.status).toBe(502);
    expect(failed.body.resourceType).toBe('OperationOutcome');
    expect(failed.body.issue[0].code).toBe('exception');
    expect(failed.text).not.toContain(rich.patient.family);
    expect(idsOf(await exportAs(token, rich.patient.id), 'ImagingStudy')).toEqual(ids(rich.imagingStudies));
  });

  it('refuses with OperationOutcomes: no or bad token 401, other patients 403, admins 403, bad id 400, and writes no audit event', async () => {
    const before = await auditCount();
    const claims = { sub: 'dr-forger', role: 'clinician', org: 'org-county-north' };
    const forgedKey = await generateKeyPair('ES256', { extractable: true });
    const forged = await new SignJWT({ ...claims, scope: 'user/*.cruds' }).setProtectedHeader({ alg: 'ES256', kid: stack.keys.issuerPublic.kid })
      .setIssuer(DEV_ISSUER).setAudience(DEFAULT_AUDIENCE).setSubject(claims.sub).setExpirationTime('1h').sign(forgedKey.privateKey);
    const other = bundles.find((b) => b !== rich)!;
    const cases: [string, () => Promise<Awaited<ReturnType<typeof everything>>>, number, string][] = [
      ['no token', async () => everything(null, rich.patient.id), 401, 'login'],
      ['a malformed token', async () => everything('not-a-jwt', rich.patient.id), 401, 'login'],
      ['a forged signature', async () => everything(forged, rich.patient.id), 401, 'login'],
      ['an expired token', async () => everything(await stack.token(claims, { expiresIn: -600 }), rich.patient.id), 401, 'login'],
      ['a patient asking for another patient', async () => everything(await patientToken(other), rich.patient.id), 403, 'forbidden'],
      ['an app bound to another patient', async () => everything(await stack.token({ sub: 'a', role: 'app', client_id: 'x', patient: other.patient.id }), rich.patient.id), 403, 'forbidden'],
      ['an administrator', async () => everything(await stack.token({ sub: 'admin', role: 'admin' }), rich.patient.id), 403, 'forbidden'],
      ['an id that is not a UUID', async () => everything(await patientToken(rich), 'not-a-uuid'), 400, 'invalid'],
      ['a patient nobody has', async () => everything(await stack.token(claims), randomUUID()), 404, 'not-found'],
      ['POST', async () => everything(await patientToken(rich), rich.patient.id, { method: 'POST' }), 405, 'not-supported'],
      ['XML', async () => everything(await patientToken(rich), rich.patient.id, { headers: { accept: 'application/fhir+xml' } }), 406, 'not-supported'],
      ['an interaction not served (history)', async () => everything(await patientToken(rich), rich.patient.id, { path: `/fhir/Patient/${rich.patient.id}/_history` }), 404, 'not-supported'],
    ];
    for (const [name, request, status, code] of cases) {
      const response = await request();
      expect(response.status, name).toBe(status);
      expect(response.contentType, name).toMatch(/^application\/fhir\+json/);
      expect(response.body.resourceType, name).toBe('OperationOutcome');
      expect(response.body.issue[0].code, name).toBe(code);
      expect(schemaErrors(response.body), name).toEqual([]);
      expect(response.text, name).not.toContain(rich.patient.family);
    }
    expect(await auditCount()).toBe(before);
    // The percent-encoded form of $everything is the same operation.
    expect((await everything(await patientToken(rich), rich.patient.id, { path: `/fhir/Patient/${rich.patient.id}/%24everything` })).status).toBe(200);
  });

  it('pages through every connection (first: 100 until hasNextPage is false), one audited operation per page', async () => {
    const extra = 230;
    const org = paged.patient.identifiers.find((i) => i.type === 'MR')!.assignerOrganizationId!;
    await stack.databases.labs.query(
      `INSERT INTO observation (id, patient_id, organization_id, code, display, value_quantity, unit, reference_low, reference_high, interpretation, effective, issued)
       SELECT gen_random_uuid(), $1::uuid, $2, '718-7', 'Hemoglobin [Mass/volume] in Blood', 14, 'g/dL', 12, 17.5, 'N',
              timestamptz '2026-06-01T00:00:00Z' - g * interval '1 hour', timestamptz '2026-06-01T00:00:00Z'
       FROM generate_series(1, ${extra}) AS g`, [paged.patient.id, org]);
    const bundle = await exportAs(await patientToken(paged), paged.patient.id);
    const observations = idsOf(bundle, 'Observation');
    expect(observations).toHaveLength(paged.observations.length + paged.homeMeasurements.length + paged.clinicalObservations.length + extra);
    expect(observations).toEqual(expect.arrayContaining(ids([...paged.observations, ...paged.homeMeasurements, ...paged.clinicalObservations])));
    expect(idsOf(bundle, 'Encounter')).toEqual(ids(paged.encounters));
    const events = await auditEvents(bundle.id);
    const pages = Math.ceil((paged.observations.length + extra) / 100);
    expect(events).toHaveLength(pages);
    expect(events.every((e) => e.patient_id === paged.patient.id)).toBe(true);
    // Each page's event counts the results it disclosed (a report linked from two pages counts on both).
    expect(events.reduce((sum, e) => sum + (e.record_counts.labs ?? 0), 0)).toBeGreaterThanOrEqual(paged.observations.length + extra + paged.diagnosticReports.length);
    // Later pages ask only for the connection still paging (and the patient's id): the results and their encounter link.
    for (const event of events.slice(1)) expect(Object.keys(event.record_counts).sort()).toEqual(['demographics', 'encounters', 'labs']);
  });
});
