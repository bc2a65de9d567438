/**
 * The federated foundation end to end: the gateway and five subgraphs over
 * real HTTP, on embedded PGlite and on the PostgreSQL server, seeded by the
 * generator. One patient's longitudinal record is checked value by value
 * against what the generator wrote; statement counts prove the lists are
 * batched; bad input gets clear errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { seedMissingReferenceData } from '../scripts/seed-data.js';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../lib/synthetic/generator.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { expectedFor } from './support/expected.js';
import { timelineSources } from '../lib/records/timeline.js';

const PATIENTS = 60;

/** The first seeded patient with records in every domain. */
function richPatient(): { index: number; bundle: PatientBundle } {
  for (let index = 0; index < PATIENTS; index++) {
    const bundle = generatePatient(DEFAULT_SEED, index);
    if (bundle.imagingStudies.length && bundle.referrals.length && bundle.homeMeasurements.length && bundle.immunizations.length && bundle.observations.length > 20) {
      return { index, bundle };
    }
  }
  throw new Error('no patient with records in every domain');
}

const LONGITUDINAL = /* GraphQL */ `
  query Longitudinal($id: ID!) {
    patient(id: $id) {
      id
      name { family given text }
      birthDate
      gender
      telecom { system value }
      address { line city postalCode }
      identifiers { system value type assigner { id } }
      encounters(first: 100) { edges { node { id class period { start end } organization { id } reason { code } sensitivityLabels } } pageInfo { hasNextPage } }
      conditions(first: 100) { edges { node { id code { code system } clinicalStatus encounter { id } } } }
      referrals(first: 100) { edges { node { id status requester { id } performer { id } appointmentTime } } }
      diagnosticReports(first: 100) { edges { node { id category code { code } conclusion organization { id } } } }
      imagingStudies(first: 100) { edges { node { id studyInstanceUid modality { code system } bodySite { code } numberOfSeries numberOfInstances started report { impression radiologist { id } } } } }
      programEnrollments(first: 100) { edges { node { id program { id } status organization { id } } } }
      immunizations(first: 100) { edges { node { id vaccineCode { code system } doseNumber lotNumber occurrenceDateTime } } }
      followUpTasks(first: 100) { edges { node { id dueDate status assignedRole } } }
      homeMeasurements(first: 100) { edges { node { id kind systolic diastolic value effectiveDateTime } } }
    }
  }
`;

const OBSERVATION_PAGE = /* GraphQL */ `
  query Observations($id: ID!, $after: String) {
    patient(id: $id) {
      observations(first: 7, after: $after) {
        edges { cursor node { id code { code system } valueQuantity { value unit } valueString interpretation { code } effectiveDateTime organization { id } report { id } sensitivityLabels } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`;

const nodes = (connection: { edges: { node: unknown }[] }) => connection.edges.map((edge) => edge.node);

describe.each(BACKENDS)('federated foundation on %s', (backend) => {
  let stack: TestStack;
  let clinician: string;
  /** The patient sees their whole record: the longitudinal checks use their token. */
  let patientToken: string;
  const { bundle } = richPatient();
  const expected = expectedFor(bundle);

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    clinician = await stack.token({ sub: 'dr-test', role: 'clinician', org: 'org-provincial' });
    patientToken = await stack.token({ sub: 'patient-test', role: 'patient', patient: bundle.patient.id });
  });
  afterAll(async () => stack?.close());

  it('returns one patient from all five subgraphs exactly as the generator wrote it', async () => {
    const response = await stack.graphql(patientToken, LONGITUDINAL, { id: bundle.patient.id });
    expect(response.errors).toBeUndefined();
    const patient = response.data.patient;
    const p = bundle.patient;
    expect(patient.name).toEqual([{ family: p.family, given: p.given, text: `${p.family} ${p.given.join(' ')}` }]);
    expect(patient.birthDate).toBe(p.birthDate);
    expect(patient.gender).toBe(p.sex.toUpperCase());
    expect(patient.telecom).toEqual([{ system: 'phone', value: p.phone }, ...(p.email ? [{ system: 'email', value: p.email }] : [])]);
    expect(patient.address).toEqual([{ line: [p.address.line], city: p.address.city, postalCode: p.address.postalCode }]);
    expect(new Set(patient.identifiers.map((i: any) => JSON.stringify(i)))).toEqual(
      new Set(p.identifiers.map((i) => JSON.stringify({ system: i.system, value: i.value, type: i.type, assigner: i.assignerOrganizationId ? { id: i.assignerOrganizationId } : null }))),
    );
    expect(nodes(patient.encounters)).toEqual(expected.encounters);
    expect(patient.encounters.pageInfo.hasNextPage).toBe(false);
    expect(nodes(patient.conditions)).toEqual(expected.conditions);
    expect(nodes(patient.referrals)).toEqual(expected.referrals);
    expect(nodes(patient.diagnosticReports)).toEqual(expected.diagnosticReports);
    expect(nodes(patient.imagingStudies)).toEqual(expected.imagingStudies);
    expect(nodes(patient.programEnrollments)).toEqual(expected.programEnrollments);
    expect(nodes(patient.immunizations)).toEqual(expected.immunizations);
    expect(nodes(patient.followUpTasks)).toEqual(expected.followUpTasks);
    expect(nodes(patient.homeMeasurements)).toEqual(expected.homeMeasurements);
  });

  it('pages through every laboratory result with cursors, newest first, without gaps or repeats', async () => {
    const seen: unknown[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const response: any = await stack.graphql(patientToken, OBSERVATION_PAGE, { id: bundle.patient.id, after });
      expect(response.errors).toBeUndefined();
      const connection = response.data.patient.observations;
      seen.push(...nodes(connection));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(seen).toEqual(expected.observations);
  });

  it('finds the patient by any institution identifier or the health card', async () => {
    for (const identifier of bundle.patient.identifiers) {
      const response = await stack.graphql(patientToken, 'query($s: String!, $v: String!) { patientByIdentifier(system: $s, value: $v) { id } }', { s: identifier.system, v: identifier.value });
      expect(response.data.patientByIdentifier).toEqual({ id: bundle.patient.id });
    }
  });

  it('filters lists by date range and code', async () => {
    const from = '2024-01-01T00:00:00Z';
    const to = '2025-01-01T00:00:00Z';
    const response = await stack.graphql(patientToken, `query($id: ID!, $from: DateTime, $to: DateTime, $code: String) { patient(id: $id) {
      encounters(first: 100, from: $from, to: $to) { edges { node { id } } }
      observations(first: 100, code: $code) { edges { node { id } } } } }`, { id: bundle.patient.id, from, to, code: '718-7' });
    expect(response.errors).toBeUndefined();
    const inRange = expected.encounters.filter((e) => e.period.start >= '2024-01-01' && e.period.start < '2025-01-01').map((e) => ({ id: e.id }));
    expect(nodes(response.data.patient.encounters)).toEqual(inRange);
    expect(nodes(response.data.patient.observations)).toEqual(expected.observations.filter((o) => o.code.code === '718-7').map((o) => ({ id: o.id })));
  });

  it('loads 50 patients with all their lists in one SQL statement per list and entity type per subgraph', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => generatePatient(DEFAULT_SEED, i).patient.id);
    const query = `query($ids: [ID!]!) { patients(ids: $ids) {
      id name { text } identifiers { value assigner { name } }
      encounters(first: 5) { edges { node { id diagnoses { code { code } } } } }
      conditions(first: 5) { edges { node { id } } }
      referrals(first: 5) { edges { node { id } } }
      observations(first: 5) { edges { node { id report { id code { code } } } } }
      diagnosticReports(first: 5) { edges { node { id results { id } } } }
      imagingStudies(first: 5) { edges { node { id report { impression } } } }
      programEnrollments(first: 5) { edges { node { id program { code } } } }
      immunizations(first: 5) { edges { node { id } } }
      followUpTasks(first: 5) { edges { node { id } } }
      homeMeasurements(first: 5) { edges { node { id } } }
    } }`;
    // Break-glass opens (almost) everything, so every list has rows and every nested lookup runs.
    const emergency = await stack.token({ sub: 'dr-er', role: 'clinician', org: 'org-provincial', purpose_of_use: 'ETREAT', break_glass_reason: 'unconscious patient, statement count test' });
    const count = async (patientIds: string[]) => {
      const before = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount]));
      const response = await stack.graphql(emergency, query, { ids: patientIds });
      expect(response.errors).toBeUndefined();
      expect(response.data.patients).toHaveLength(patientIds.length);
      return Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount - before[name]!]));
    };
    const fifty = await count(ids);
    // Consent facts: identity reads them once for the request (organisation
    // registry, registrations, directives: 3 statements) and the gateway relays
    // them, signed, to the other four subgraphs, which do not ask again.
    // identity: patients, identifiers, assigner organisations; the audit append
    // (one statement: audit_append takes the lock, reads the chain head and
    // inserts all 50 events).
    // encounters: encounters, conditions, referrals, diagnoses by encounter.
    // labs: observations, reports, report by id, results by report.
    // imaging: studies, reports by study.
    // public-health: four lists and the programme lookup.
    expect(fifty).toEqual({ identity: 3 + 3 + 1, encounters: 4, labs: 4, imaging: 2, 'public-health': 5 });
    expect(await count(ids.slice(0, 25))).toEqual(fifty);
  });

  it('keeps the workflow fields batched: the statements do not grow with the number of patients', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => generatePatient(DEFAULT_SEED, i).patient.id);
    const query = `query($ids: [ID!]!) { patients(ids: $ids) {
      id
      encounters(first: 5) { edges { node { id referral { id } participants { type } dischargeDisposition { code } } } }
      referrals(first: 5) { edges { node { id consentRequest { status } consultations { id } } } }
      observations(first: 5) { edges { node { id recognizedAllianceWide } } }
      imagingStudies(first: 5) { edges { node { id recognizedAllianceWide } } }
      followUpTasks(first: 5) { edges { node { id basedOnEncounter { id } triggeringMeasurements { id } } } }
      timeline(first: 5) { edges { kind node { ... on Observation { id } } } }
    } }`;
    const emergency = await stack.token({ sub: 'dr-er', role: 'clinician', org: 'org-provincial', purpose_of_use: 'ETREAT', break_glass_reason: 'statement count of the workflow fields' });
    const count = async (patientIds: string[]) => {
      const before = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount]));
      const response = await stack.graphql(emergency, query, { ids: patientIds });
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      expect(response.data.patients.filter(Boolean)).toHaveLength(patientIds.length);
      return Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount - before[name]!]));
    };
    const fifty = await count(ids);
    if (process.env.PRINT_FIGURES) console.log('workflow statements', JSON.stringify(fifty));
    expect(await count(ids.slice(0, 10))).toEqual(fifty);
    // One statement per list, per nested lookup and per recognition table in each owner, and on the
    // timeline one for all the kinds of record the owner serves (one UNION ALL: timelineKeysSql).
    expect(fifty.encounters).toBeLessThanOrEqual(3 + 2 + 1);
    expect(fifty.labs).toBeLessThanOrEqual(2 + 1 + 2);
  });

  it('fills reference tables a later migration added to an existing demo database, once', async () => {
    const labs = stack.databases.labs;
    const count = async () => (await labs.query<{ n: number }>('SELECT count(*)::int AS n FROM lab_result_recognition'))[0]!.n;
    const seeded = await count();
    expect(seeded).toBeGreaterThan(0);
    // (Entries are never deleted, so the table is emptied as a fresh migration would leave it.)
    await labs.query('TRUNCATE lab_result_recognition');
    expect(await seedMissingReferenceData({ labs }, DEFAULT_SEED)).toEqual(['labs.lab_result_recognition']);
    expect(await count()).toBe(seeded);
    expect(await seedMissingReferenceData(stack.databases, DEFAULT_SEED)).toEqual([]);
    expect(await count()).toBe(seeded);
  });

  describe('bad input', () => {
    it('returns null for an unknown or malformed patient id', async () => {
      const response = await stack.graphql(clinician, '{ a: patient(id: "00000000-0000-4000-8000-000000000000") { id encounters { edges { node { id } } } } b: patient(id: "not-a-uuid") { id } c: patient(id: "\'; DROP TABLE patient; --") { id } }');
      expect(response.errors).toBeUndefined();
      expect(response.data).toEqual({ a: null, b: null, c: null });
    });

    it('refuses an inverted date range, a malformed date, a bad cursor and an oversized page with BAD_USER_INPUT', async () => {
      const id = bundle.patient.id;
      const cases = [
        [`{ patient(id: "${id}") { encounters(from: "2025-01-01T00:00:00Z", to: "2024-01-01T00:00:00Z") { edges { node { id } } } } }`, /from is after to/],
        [`{ patient(id: "${id}") { observations(from: "yesterday") { edges { node { id } } } } }`, /Invalid DateTime/],
        [`{ patient(id: "${id}") { observations(after: "garbage") { edges { node { id } } } } }`, /Invalid cursor/],
        [`{ patient(id: "${id}") { imagingStudies(first: 1000) { edges { node { id } } } } }`, /first must be between/],
      ] as const;
      for (const [query, message] of cases) {
        const response = await stack.graphql(patientToken, query);
        expect(response.errors?.[0]?.message, query).toMatch(message);
        // A literal that is not a DateTime fails validation; the rest fail in the resolver.
        expect(response.errors?.[0]?.extensions?.code, query).toMatch(/^(BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED)$/);
      }
      const tooMany = await stack.graphql(clinician, 'query($ids: [ID!]!) { patients(ids: $ids) { id } }', { ids: Array.from({ length: 101 }, (_, i) => String(i)) });
      expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });

    it('answers malformed HTTP requests with coded errors', async () => {
      const notJson = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
      expect(notJson.status).toBe(400);
      expect((await notJson.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
      const syntax = await stack.graphql(clinician, '{ patient(id: ');
      expect(syntax.errors?.[0]?.extensions?.code).toMatch(/^GRAPHQL_(PARSE|VALIDATION)_FAILED$/);
    });
  });

  it('reports liveness and readiness on every service', async () => {
    const at = (url: string, path: string) => fetch(url.replace(/graphql$/, path));
    expect(await (await at(stack.url, 'health')).json()).toEqual({ status: 'ok', service: 'gateway' });
    const ready = await at(stack.url, 'ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', ready: true, service: 'gateway', subgraphs: Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, 'ready'])) });
    for (const name of SUBGRAPH_NAMES) {
      expect(await (await at(stack.subgraphs[name].url, 'health')).json()).toEqual({ status: 'ok', service: name });
      expect(await (await at(stack.subgraphs[name].url, 'ready')).json()).toEqual({ status: 'ready', ready: true, service: name, database: backend });
    }
  });
});
