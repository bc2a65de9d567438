/**
 * FHIR R4 read and search end to end: GET /fhir/{type}/{id},
 * GET /fhir/{type}?…, POST /fhir/{type}/_search and GET /fhir/metadata on
 * the gateway, over real HTTP, against the seeded generator data — the
 * checks conformance suites make:
 *
 * - every search parameter, matched against an oracle computed here from the
 *   generator's records (the code systems and the comparisons written out
 *   independently of the server's), each date comparator;
 * - paging only through the `next` links, several pages, never an offset,
 *   no record twice, none missing;
 * - GET and POST _search give the same results; patient=<id> and
 *   patient=Patient/<id> the same;
 * - granular scopes narrow, consent hides, hidden answers like absent (404,
 *   empty searchset), errors are OperationOutcomes, unknown parameters a 400
 *   unless the client asks for lenient handling;
 * - every bundle and resource validates under the official R4 JSON schema;
 * - each search leaves its audit events (request id = Bundle.id);
 * - a page costs the same number of SQL statements whatever its size (no N+1).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PatientBundle } from '../lib/synthetic/generator.js';
import { SUBGRAPH_NAMES } from '../lib/runtime/subgraph-names.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { generatedPatients } from './support/generated.js';

const LOINC = 'http://loinc.org';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const ICD10 = 'http://hl7.org/fhir/sid/icd-10';

const PATIENTS = 60;
const { bundles, find } = generatedPatients(PATIENTS);
/** Many results (several pages), home measurements, reports with results, conditions, encounters. */
const rich = find((b) => b.observations.length > 25 && b.homeMeasurements.length > 0 && b.diagnosticReports.some((r) => b.observations.some((o) => o.reportId === r.id))
  && b.conditions.length > 1 && b.encounters.length > 2 && b.immunizations.length > 0);
const other = find((b) => b.observations.length > 0, [rich]);

type Entry = { fullUrl: string; resource: Record<string, any>; search?: { mode: string } };
type FhirBundle = { resourceType: string; id: string; type: string; total?: number; entry?: Entry[]; link: { relation: string; url: string }[] };

const matchIds = (bundle: FhirBundle) => (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource.id as string);
const sorted = (ids: string[]) => [...ids].sort();
const day = (d: Date) => d.toISOString().slice(0, 10);

describe.each(BACKENDS)('FHIR read and search on %s', (backend) => {
  let stack: TestStack;
  let base: string;

  const get = async (token: string | null, path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, { headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
    const text = await response.text();
    return { status: response.status, contentType: response.headers.get('content-type'), requestId: response.headers.get('x-request-id'), body: JSON.parse(text) };
  };
  const post = async (token: string, path: string, form: string) => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST', body: form,
      headers: { accept: 'application/fhir+json', authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    return { status: response.status, body: JSON.parse(await response.text()) };
  };
  /** One search page, checked: 200, FHIR JSON, a valid searchset. */
  const page = async (token: string, path: string): Promise<FhirBundle> => {
    const response = await get(token, path);
    expect(response.status, JSON.stringify(response.body).slice(0, 400)).toBe(200);
    expect(response.contentType).toMatch(/^application\/fhir\+json/);
    expect(response.body.type).toBe('searchset');
    expect(schemaErrors(response.body)).toEqual([]);
    return response.body;
  };
  /** Every match of a search, following only the next links; checks no page repeats a record. */
  const all = async (token: string, path: string): Promise<{ ids: string[]; pages: FhirBundle[] }> => {
    const pages: FhirBundle[] = [];
    let url: string | undefined = path;
    while (url) {
      const bundle = await page(token, url);
      pages.push(bundle);
      const next = bundle.link.find((l) => l.relation === 'next')?.url;
      if (next) {
        // Directly fetchable, and an opaque position: never an offset.
        expect(next.startsWith(`${base}/fhir/`)).toBe(true);
        expect(next).not.toMatch(/[?&](_offset|offset|_page|page|_skip)=/);
      }
      url = next?.slice(base.length);
      expect(pages.length).toBeLessThan(50);
    }
    const ids = pages.flatMap(matchIds);
    expect(new Set(ids).size, 'a record on two pages').toBe(ids.length);
    return { ids, pages };
  };
  const patientToken = (b: PatientBundle) => stack.token({ sub: `patient-${b.patient.id.slice(0, 8)}`, role: 'patient', patient: b.patient.id });
  /** Staff of the organisation that registered the patient and produced most of the records. */
  const registrar = (b: PatientBundle) => b.patient.identifiers.find((i) => i.type === 'MR')!.assignerOrganizationId!;

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    base = stack.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => stack?.close());

  it('describes itself in a CapabilityStatement generated from what it serves', async () => {
    const response = await get(null, '/fhir/metadata');
    expect(response.status).toBe(200);
    expect(response.contentType).toMatch(/^application\/fhir\+json/);
    const statement = response.body;
    expect(statement).toMatchObject({ resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1' });
    // The validator ships the R4 schema of 4.0.0, whose fhirVersion enum stops there; R4's technical correction is 4.0.1.
    expect(schemaErrors({ ...statement, fhirVersion: '4.0.0' })).toEqual([]);
    expect(schemaErrors({ ...statement, kind: 'everything' }).length).toBeGreaterThan(0);
    const resources = statement.rest[0].resource as { type: string; interaction: { code: string }[]; searchParam: { name: string; type: string; definition: string }[] }[];
    for (const type of ['Patient', 'Encounter', 'Condition', 'Observation', 'DiagnosticReport', 'ImagingStudy', 'Immunization', 'ServiceRequest', 'EpisodeOfCare', 'Task', 'AllergyIntolerance', 'Consent']) {
      const entry = resources.find((r) => r.type === type);
      expect(entry, type).toBeDefined();
      expect(entry!.interaction.map((i) => i.code)).toEqual(expect.arrayContaining(['read', 'search-type']));
      expect(entry!.searchParam.map((p) => p.name)).toContain('_id');
      for (const p of entry!.searchParam) expect(p.definition).toMatch(/^http:\/\/hl7\.org\/fhir\/SearchParameter\//);
    }
    // A Medication (held with the records naming it): read and _id search.
    expect(resources.find((r) => r.type === 'Medication')).toMatchObject({ interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: '_id', type: 'token' }] });
    const observation = resources.find((r) => r.type === 'Observation')!;
    expect(Object.fromEntries(observation.searchParam.map((p) => [p.name, p.type]))).toMatchObject({ patient: 'reference', code: 'token', category: 'token', date: 'date', status: 'token' });
    // SMART on FHIR: the security service and its oauth-uris, where the authorization server runs.
    expect(statement.rest[0].security.service[0].coding[0].code).toBe('SMART-on-FHIR');
    const discovery = await (await fetch(`${base}/fhir/.well-known/smart-configuration`)).json() as Record<string, string>;
    const uris = statement.rest[0].security.extension.find((e: { url: string }) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    expect(Object.fromEntries(uris.extension.map((e: { url: string; valueUri: string }) => [e.url, e.valueUri]))).toEqual({
      authorize: discovery.authorization_endpoint, token: discovery.token_endpoint, revoke: discovery.revocation_endpoint, introspect: discovery.introspection_endpoint,
    });
    const patient = resources.find((r) => r.type === 'Patient')!;
    expect(patient.searchParam.map((p) => p.name)).toEqual(expect.arrayContaining(['identifier', 'name', 'family', 'given', 'birthdate', 'gender']));
  });

  it('searches a patient\'s observations page by page through next links, newest first, lab results and home measurements merged', async () => {
    const token = await patientToken(rich);
    const expected = [...rich.observations.map((o) => ({ id: o.id, t: o.effective })), ...rich.homeMeasurements.map((m) => ({ id: m.id, t: m.effective })),
      ...rich.clinicalObservations.map((m) => ({ id: m.id, t: m.effective }))];
    const { ids, pages } = await all(token, `/fhir/Observation?patient=${rich.patient.id}&_count=7&_sort=-date`);
    expect(pages.length).toBeGreaterThanOrEqual(4);
    expect(sorted(ids)).toEqual(sorted(expected.map((e) => e.id)));
    for (const p of pages.slice(0, -1)) expect(matchIds(p)).toHaveLength(7);
    // Newest first across both sources.
    const times = ids.map((id) => expected.find((e) => e.id === id)!.t.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    // Bundle.total only where it is known without counting unseen records: a single page.
    expect(pages[0]!.total).toBeUndefined();
    const single = await page(token, `/fhir/Observation?patient=${rich.patient.id}&_count=100`);
    expect(single.total).toBe(expected.length);
  });

  it('gives the same results to GET and to POST _search, and to patient=<id> and patient=Patient/<id>', async () => {
    const token = await stack.token({ sub: 'dr-search', role: 'clinician', org: registrar(rich) });
    const query = `patient=${rich.patient.id}&category=laboratory&_count=100`;
    const viaGet = await page(token, `/fhir/Observation?${query}`);
    const viaPost = await post(token, '/fhir/Observation/_search', query);
    expect(viaPost.status).toBe(200);
    expect(sorted(matchIds(viaPost.body))).toEqual(sorted(matchIds(viaGet)));
    expect(matchIds(viaGet).length).toBeGreaterThan(0);
    const viaReference = await page(token, `/fhir/Observation?patient=Patient/${rich.patient.id}&category=laboratory&_count=100`);
    expect(viaReference.total).toBe(viaGet.total);
    expect(sorted(matchIds(viaReference))).toEqual(sorted(matchIds(viaGet)));
    // And POST with parameters in the URL and the body together, paged.
    const paged = await post(token, `/fhir/Observation/_search?patient=${rich.patient.id}`, '_count=5&category=laboratory');
    expect(matchIds(paged.body)).toEqual(matchIds(viaGet).slice(0, 5));
  });

  it('matches each date comparator as FHIR defines it', async () => {
    const token = await patientToken(rich);
    const labs = rich.observations;
    const pivot = labs[Math.floor(labs.length / 2)]!.effective;
    const start = Date.parse(`${day(pivot)}T00:00:00Z`);
    const end = start + 86_400_000;
    const oracle: Record<string, (t: number) => boolean> = {
      eq: (t) => t >= start && t < end, gt: (t) => t >= end, ge: (t) => t >= start, lt: (t) => t < start, le: (t) => t < end,
    };
    for (const [prefix, holds] of Object.entries(oracle)) {
      const { ids } = await all(token, `/fhir/Observation?category=laboratory&date=${prefix}${day(pivot)}&_count=50`);
      expect(sorted(ids), prefix).toEqual(sorted(labs.filter((o) => holds(o.effective.getTime())).map((o) => o.id)));
    }
    // Two bounds together, and a dateTime with its zone.
    const instant = pivot.toISOString();
    const { ids } = await all(token, `/fhir/Observation?category=laboratory&date=ge${day(pivot)}&date=lt${encodeURIComponent(instant)}&_count=50`);
    expect(sorted(ids)).toEqual(sorted(labs.filter((o) => o.effective.getTime() >= start && o.effective.getTime() < pivot.getTime()).map((o) => o.id)));
    const bad = await get(token, '/fhir/Observation?date=ge20240101');
    expect(bad.status).toBe(400);
    expect(bad.body.resourceType).toBe('OperationOutcome');
  });

  it('matches code (system|code and bare), category, status lists and _id', async () => {
    const token = await patientToken(rich);
    const code = rich.observations[0]!.code;
    const withCode = rich.observations.filter((o) => o.code === code).map((o) => o.id);
    expect(sorted((await all(token, `/fhir/Observation?code=${encodeURIComponent(`${LOINC}|${code}`)}`)).ids)).toEqual(sorted(withCode));
    expect(sorted((await all(token, `/fhir/Observation?code=${code}`)).ids)).toEqual(sorted(withCode));
    expect((await all(token, `/fhir/Observation?code=${encodeURIComponent(`http://snomed.info/sct|${code}`)}`)).ids).toEqual([]);
    expect(sorted((await all(token, `/fhir/Observation?category=${encodeURIComponent(`${OBSERVATION_CATEGORY}|vital-signs`)}`)).ids)).toEqual(sorted([...rich.homeMeasurements, ...rich.clinicalObservations.filter((o) => o.categoryCode === 'vital-signs')].map((m) => m.id)));
    // A condition's ICD-10 code; two codes as alternatives.
    const [c1, c2] = rich.conditions;
    const either = rich.conditions.filter((c) => c.code === c1!.code || c.code === c2!.code).map((c) => c.id);
    expect(sorted((await all(token, `/fhir/Condition?code=${encodeURIComponent(`${ICD10}|${c1!.code},${ICD10}|${c2!.code}`)}`)).ids)).toEqual(sorted(either));
    // Status, comma-separated.
    const finished = rich.encounters.filter((e) => e.status === 'finished').map((e) => e.id);
    expect(sorted((await all(token, '/fhir/Encounter?status=finished')).ids)).toEqual(sorted(finished));
    expect(sorted((await all(token, '/fhir/Encounter?status=finished,in-progress')).ids)).toEqual(sorted(rich.encounters.map((e) => e.id)));
    expect((await all(token, '/fhir/Encounter?status=cancelled')).ids).toEqual([]);
    // _id, one or several.
    const two = rich.observations.slice(0, 2).map((o) => o.id);
    expect(sorted((await all(token, `/fhir/Observation?_id=${two.join(',')}`)).ids)).toEqual(sorted(two));
    // Immunizations by date; encounters by a period's date.
    expect(sorted((await all(token, '/fhir/Immunization?status=completed')).ids)).toEqual(sorted(rich.immunizations.map((i) => i.id)));
  });

  it('finds radiology reports through their imaging studies, and lab reports by section', async () => {
    const imaged = find((b) => b.imagingStudies.some((s) => s.report) && b.diagnosticReports.length > 0);
    const token = await patientToken(imaged);
    const rad = imaged.imagingStudies.filter((s) => s.report).map((s) => s.report!.id);
    expect(sorted((await all(token, '/fhir/DiagnosticReport?category=RAD')).ids)).toEqual(sorted(rad));
    expect(sorted((await all(token, '/fhir/DiagnosticReport?category=LAB')).ids)).toEqual(sorted(imaged.diagnosticReports.filter((r) => r.category === 'LAB').map((r) => r.id)));
    expect(sorted((await all(token, '/fhir/DiagnosticReport?_count=3')).ids)).toEqual(sorted([...rad, ...imaged.diagnosticReports.map((r) => r.id)]));
    expect(sorted((await all(token, '/fhir/ImagingStudy')).ids)).toEqual(sorted(imaged.imagingStudies.map((s) => s.id)));
  });

  it('includes the patient and a report\'s results when asked', async () => {
    const token = await patientToken(rich);
    const report = rich.diagnosticReports.find((r) => rich.observations.some((o) => o.reportId === r.id))!;
    const bundle = await page(token, `/fhir/DiagnosticReport?_id=${report.id}&_include=DiagnosticReport:result&_include=DiagnosticReport:patient`);
    expect(matchIds(bundle)).toEqual([report.id]);
    const included = (bundle.entry ?? []).filter((e) => e.search?.mode === 'include');
    const results = rich.observations.filter((o) => o.reportId === report.id).map((o) => o.id);
    expect(sorted(included.filter((e) => e.resource.resourceType === 'Observation').map((e) => e.resource.id))).toEqual(sorted(results));
    expect(included.filter((e) => e.resource.resourceType === 'Patient').map((e) => e.resource.id)).toEqual([rich.patient.id]);
    const resource = bundle.entry!.find((e) => e.search?.mode === 'match')!.resource;
    expect(sorted(resource.result.map((r: { reference: string }) => r.reference))).toEqual(sorted(results.map((id) => `Observation/${id}`)));
  });

  it('finds patients by identifier, name, family, given, birthdate and gender (staff), and only themselves (a patient)', async () => {
    const token = await stack.token({ sub: 'dr-registry', role: 'clinician', org: registrar(rich) });
    const p = rich.patient;
    const mrn = p.identifiers.find((i) => i.type === 'MR')!;
    const ok = (bundle: FhirBundle) => expect(matchIds(bundle)).toContain(p.id);
    ok(await page(token, `/fhir/Patient?identifier=${encodeURIComponent(`${mrn.system}|${mrn.value}`)}`));
    ok(await page(token, `/fhir/Patient?_id=${p.id}`));
    ok(await page(token, `/fhir/Patient?family=${encodeURIComponent(p.family)}&_count=100`));
    ok(await page(token, `/fhir/Patient?name=${encodeURIComponent(p.given[0]!)}&birthdate=${p.birthDate}`));
    ok(await page(token, `/fhir/Patient?given=${encodeURIComponent(p.given[0]!)}&birthdate=${p.birthDate}&gender=${p.sex}`));
    const wrongGender = await page(token, `/fhir/Patient?family=${encodeURIComponent(p.family)}&birthdate=${p.birthDate}&gender=${p.sex === 'female' ? 'male' : 'female'}`);
    expect(matchIds(wrongGender)).not.toContain(p.id);
    for (const e of (await page(token, `/fhir/Patient?family=${encodeURIComponent(p.family)}&_count=100`)).entry ?? []) {
      expect(e.resource.name.some((n: { family: string }) => n.family.toLowerCase().startsWith(p.family.toLowerCase()))).toBe(true);
    }
    // A patient finds only themselves, whatever they ask.
    const own = await patientToken(other);
    expect(matchIds(await page(own, `/fhir/Patient?family=${encodeURIComponent(p.family)}`))).not.toContain(p.id);
    expect(matchIds(await page(own, `/fhir/Patient?_id=${other.patient.id}`))).toEqual([other.patient.id]);
    expect(matchIds(await page(own, `/fhir/Patient?_id=${p.id}`))).toEqual([]);
  });

  it('reads by id; a record the caller may not see answers exactly as one that does not exist', async () => {
    const token = await patientToken(rich);
    for (const [type, id] of [['Observation', rich.observations[0]!.id], ['Encounter', rich.encounters[0]!.id], ['Condition', rich.conditions[0]!.id],
      ['Immunization', rich.immunizations[0]!.id], ['Observation', rich.homeMeasurements[0]!.id], ['Patient', rich.patient.id]] as const) {
      const response = await get(token, `/fhir/${type}/${id}`);
      expect(response.status, `${type}/${id}`).toBe(200);
      expect(response.body).toMatchObject({ resourceType: type, id });
      expect(schemaErrors(response.body)).toEqual([]);
    }
    const hidden = await get(token, `/fhir/Observation/${other.observations[0]!.id}`);
    const absent = await get(token, `/fhir/Observation/${randomUUID()}`);
    expect(hidden.status).toBe(404);
    expect(hidden.body).toEqual(absent.body);
    expect(absent.body.resourceType).toBe('OperationOutcome');
    // Another patient's records by search: an empty searchset, as for a patient who does not exist.
    const elsewhere = await page(token, `/fhir/Observation?patient=${other.patient.id}`);
    const nobody = await page(token, `/fhir/Observation?patient=${randomUUID()}`);
    expect(elsewhere.total).toBe(0);
    expect(nobody.total).toBe(0);
    // Staff of an organisation with no part in the patient's care: not found either.
    const stranger = await stack.token({ sub: 'dr-stranger', role: 'clinician', org: 'org-mental-health' });
    const strangerRead = await get(stranger, `/fhir/Observation/${rich.observations.find((o) => o.organizationId !== 'org-mental-health')!.id}`);
    expect(strangerRead.status).toBe(404);
    expect(strangerRead.body).toEqual(absent.body);
  });

  it('reads every served type by id for staff of the producing organisation, 404 for a stranger, audited', async () => {
    const STRANGER_ORG = 'org-mental-health';
    const stranger = await stack.token({ sub: 'dr-stranger', role: 'clinician', org: STRANGER_ORG });
    const outsider = (b: PatientBundle) => !b.patient.identifiers.some((i) => i.assignerOrganizationId === STRANGER_ORG);
    /** A generated record of each type (and its patient), produced by an organisation other than the stranger's. */
    const pick = <R extends { id: string; organizationId: string }>(records: (b: PatientBundle) => R[]) => {
      for (const b of bundles.filter(outsider)) {
        const record = records(b).find((r) => r.organizationId !== STRANGER_ORG);
        if (record) return { patient: b, id: record.id, org: record.organizationId };
      }
      throw new Error('no generated record fits this test');
    };
    const cases: { type: string; patient: PatientBundle; id: string; org: string }[] = [
      { type: 'Condition', ...pick((b) => b.conditions) },
      { type: 'AllergyIntolerance', ...pick((b) => b.allergies) },
      { type: 'EpisodeOfCare', ...pick((b) => b.enrollments) },
      { type: 'Task', ...pick((b) => b.followUpTasks) },
      { type: 'Observation', ...pick((b) => b.homeMeasurements) },
      { type: 'DiagnosticReport', ...pick((b) => b.imagingStudies.filter((s) => s.report).map((s) => ({ ...s, id: s.report!.id }))) },
      // The types read by id before: still one operation each.
      { type: 'Encounter', ...pick((b) => b.encounters) },
      { type: 'Observation', ...pick((b) => b.observations) },
      // Clinical notes, as the resource type each came as.
      { type: 'DocumentReference', ...pick((b) => b.clinicalNotes.filter((n) => n.resourceType === 'DocumentReference')) },
      { type: 'DiagnosticReport', ...pick((b) => b.clinicalNotes.filter((n) => n.resourceType === 'DiagnosticReport')) },
    ];
    // A consent directive staff recorded on the patient's behalf (their organisation's, waiting for the patient).
    const consentPatient = bundles.filter(outsider).find((b) => b !== rich)!;
    const consentOrg = registrar(consentPatient);
    const recorder = await stack.token({ sub: `dr-recorder-${consentOrg}`, role: 'clinician', org: consentOrg });
    const recorded = await stack.graphql(recorder, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }',
      { input: { patientId: consentPatient.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: consentOrg, categories: ['DIAGNOSES'], confirmation: 'PATIENT_APP' } });
    expect(recorded.errors, JSON.stringify(recorded.errors)).toBeUndefined();
    cases.push({ type: 'Consent', patient: consentPatient, id: recorded.data.grantConsent.id, org: consentOrg });

    const absent = await get(stranger, `/fhir/Condition/${randomUUID()}`);
    expect(absent.status).toBe(404);
    const statements: Record<string, Record<string, number>> = {};
    for (const c of cases) {
      const label = `${c.type}/${c.id} of ${c.org}`;
      const staff = await stack.token({ sub: `dr-${c.org}`, role: 'clinician', org: c.org });
      const before = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount]));
      const response = await get(staff, `/fhir/${c.type}/${c.id}`);
      statements[label] = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount - before[name]!]));
      // A fixed handful of statements per read (measured, PRINT_FIGURES=1: 1 to 3 in the owners, 5 or 6 in identity with the audit append).
      // A DiagnosticReport asks imaging for two of its sources (a radiology report's study, a clinical note): one statement more there.
      const bound = (name: string) => (name === 'identity' ? 6 : name === 'imaging' && c.type === 'DiagnosticReport' ? 4 : 3);
      for (const [name, n] of Object.entries(statements[label]!)) expect(n, `${label}: statements in ${name}`).toBeLessThanOrEqual(bound(name));
      expect(response.status, `${label}: ${JSON.stringify(response.body).slice(0, 300)}`).toBe(200);
      expect(response.body).toMatchObject({ resourceType: c.type, id: c.id });
      expect(JSON.stringify(response.body.subject ?? response.body.patient ?? response.body.for), label).toContain(`Patient/${c.patient.patient.id}`);
      expect(schemaErrors(response.body), label).toEqual([]);
      // The read is audited under its request id, for the record's patient.
      const events = await stack.databases.identity.query<{ patient_id: string; actor_sub: string }>(
        'SELECT patient_id, actor_sub FROM audit_event WHERE request_id = $1', [response.requestId]);
      expect(events, label).toEqual([{ patient_id: c.patient.patient.id, actor_sub: `dr-${c.org}` }]);
      // A stranger (staff with no part in the patient's care): exactly the answer for an id that does not exist.
      const strangerRead = await get(stranger, `/fhir/${c.type}/${c.id}`);
      expect(strangerRead.status, label).toBe(404);
      expect(strangerRead.body, label).toEqual({ ...absent.body, issue: absent.body.issue.map((i: { diagnostics?: string }) => ({ ...i, diagnostics: i.diagnostics?.replace('Condition', c.type) })) });
    }
    if (process.env.PRINT_FIGURES) console.log('FHIR read statements', JSON.stringify(statements));
  });

  it('serves the patient\'s consent directives as Consent resources, searched and read', async () => {
    const token = await patientToken(other);
    const granted = await stack.graphql(token, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', {
      input: { patientId: other.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: 'org-provincial', categories: ['LABS', 'IMAGING'] },
    });
    expect(granted.errors, JSON.stringify(granted.errors)).toBeUndefined();
    const id = granted.data.grantConsent.id as string;
    const revokedOne = await stack.graphql(token, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', {
      input: { patientId: other.patient.id, decision: 'DENY', actorType: 'ORGANIZATION', actorId: 'org-county-south', categories: ['ENCOUNTERS'] },
    });
    const revokedId = revokedOne.data.grantConsent.id as string;
    await stack.graphql(token, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: revokedId });
    const { ids } = await all(token, '/fhir/Consent?_count=1');
    expect(ids).toEqual(expect.arrayContaining([id, revokedId]));
    const read = await get(token, `/fhir/Consent/${id}`);
    expect(read.status).toBe(200);
    expect(schemaErrors(read.body)).toEqual([]);
    expect(read.body).toMatchObject({
      resourceType: 'Consent', status: 'active', patient: { reference: `Patient/${other.patient.id}` },
      provision: { type: 'permit', actor: [{ reference: { reference: 'Organization/org-provincial' } }] },
    });
    expect(read.body.provision.class.map((c: { code: string }) => c.code).sort()).toEqual(['imaging', 'labs']);
    expect((await page(token, '/fhir/Consent?status=active')).entry!.map((e) => e.resource.id)).toContain(id);
    expect(matchIds(await page(token, '/fhir/Consent?status=active'))).not.toContain(revokedId);
    expect(matchIds(await page(token, '/fhir/Consent?status=inactive'))).toContain(revokedId);
    // Not another patient's.
    expect((await get(await patientToken(rich), `/fhir/Consent/${id}`)).status).toBe(404);
  });

  it('narrows by granular scopes: laboratory only means no vital signs and no encounters', async () => {
    const lab = await stack.appToken({ sub: 'app-labs', client_id: 'lab-viewer', patient: rich.patient.id, scope: 'launch/patient patient/Observation.rs?category=laboratory' });
    const { ids } = await all(lab, `/fhir/Observation?patient=${rich.patient.id}&_count=50`);
    expect(sorted(ids)).toEqual(sorted(rich.observations.map((o) => o.id)));
    expect((await page(lab, '/fhir/Encounter')).total).toBe(0);
    expect((await get(lab, `/fhir/Observation/${rich.homeMeasurements[0]!.id}`)).status).toBe(404);
    const wide = await stack.appToken({ sub: 'app-all-obs', client_id: 'obs-viewer', patient: rich.patient.id, scope: 'launch/patient patient/Observation.rs' });
    expect((await all(wide, '/fhir/Observation?_count=100')).ids.length).toBe(rich.observations.length + rich.homeMeasurements.length + rich.clinicalObservations.length);
    // Once the patient revokes the app's approval, its reads by id and its searches are refused (403), not answered 404.
    const own = await patientToken(rich);
    const directives = (await stack.graphql(own, 'query($id: ID!) { patient(id: $id) { consents { id active actorType actorId } } }', { id: rich.patient.id })).data.patient.consents as { id: string; active: boolean; actorType: string; actorId: string }[];
    const approval = directives.find((d) => d.actorType === 'APP' && d.actorId === 'obs-viewer' && d.active)!;
    expect(approval).toBeDefined();
    expect((await get(wide, `/fhir/Observation/${rich.homeMeasurements[0]!.id}`)).status).toBe(200);
    expect((await stack.graphql(own, 'mutation($id: ID!) { revokeConsent(id: $id) { active } }', { id: approval.id })).data.revokeConsent.active).toBe(false);
    const refused = await get(wide, `/fhir/Observation/${rich.homeMeasurements[0]!.id}`);
    expect(refused.status).toBe(403);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    expect((await get(wide, '/fhir/Observation')).status).toBe(403);
    // The lab-only app, still approved, reads as before.
    expect((await get(lab, `/fhir/Observation/${rich.observations[0]!.id}`)).status).toBe(200);
  });

  it('refuses what it does not understand with OperationOutcomes (unless asked to be lenient) and no token with a 401', async () => {
    const token = await patientToken(rich);
    const unknown = await get(token, '/fhir/Observation?colour=blue');
    expect(unknown.status).toBe(400);
    expect(unknown.body.resourceType).toBe('OperationOutcome');
    expect((await get(token, '/fhir/Observation?colour=blue', { prefer: 'handling=lenient' })).status).toBe(200);
    expect((await get(token, '/fhir/Observation?code:text=glucose')).status).toBe(400);
    expect((await get(token, '/fhir/Observation?_sort=code')).status).toBe(400);
    expect((await get(token, '/fhir/Observation?_revinclude=Provenance:target')).status).toBe(400);
    expect((await get(token, '/fhir/Observation?_cursor=not-a-cursor')).status).toBe(400);
    expect((await get(token, '/fhir/Claim')).status).toBe(404);
    // A Medication is read by id (or _id) only: it is held with the records naming it.
    expect((await get(token, '/fhir/Medication')).status).toBe(400);
    const anonymous = await get(null, '/fhir/Observation');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.resourceType).toBe('OperationOutcome');
    const admin = await stack.token({ sub: 'admin', role: 'admin' });
    expect((await get(admin, `/fhir/Observation?patient=${rich.patient.id}`)).status).toBe(403);
    const staff = await stack.token({ sub: 'dr-x', role: 'clinician', org: registrar(rich) });
    expect((await get(staff, '/fhir/Observation')).status).toBe(400); // which patient?
  });

  it('audits every search under the Bundle id', async () => {
    const token = await patientToken(rich);
    const bundle = await page(token, `/fhir/Observation?category=laboratory&_count=3`);
    const events = await stack.databases.identity.query<{ patient_id: string; record_counts: Record<string, number> }>(
      'SELECT patient_id, record_counts FROM audit_event WHERE request_id = $1', [bundle.id]);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.patient_id === rich.patient.id)).toBe(true);
  });

  it('costs the same SQL statements for a page of 5 as for a page of 50 (no N+1)', async () => {
    const token = await patientToken(rich);
    const count = async (n: number) => {
      const before = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount]));
      const bundle = await page(token, `/fhir/Observation?category=laboratory&_count=${n}`);
      expect(matchIds(bundle)).toHaveLength(Math.min(n, rich.observations.length));
      return Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount - before[name]!]));
    };
    const small = await count(5);
    const large = await count(50);
    if (process.env.PRINT_FIGURES) console.log('FHIR search statements', JSON.stringify({ small, large }));
    expect(large.labs).toBe(small.labs);
    expect(large.labs).toBeGreaterThan(0);
    expect(large.identity).toBe(small.identity);
  });
});
