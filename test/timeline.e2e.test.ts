/**
 * The longitudinal timeline end to end: one patient with ten thousand
 * entries across four subgraphs and three organisations, paged through the
 * gateway by the patient and by a clinician who sees only their own
 * organisation's records, while new entries arrive. The pages together are
 * exactly the entries the actor may see, in order, without duplicates or
 * gaps; a page costs the same number of SQL statements whatever the history,
 * and the owners' page queries use their (patient, time, id) indexes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor, selectPatientPages } from '../lib/records/connection.js';
import type { Database } from '../lib/runtime/db.js';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { RECORD_TYPES } from '../lib/records/record-types.js';
import { timelineKeysSql, timelineSources } from '../lib/records/timeline.js';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 20;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
/** The patient whose history grows to thousands of entries; a second, ordinary one for comparison. */
const OWN = 'org-county-north';
const OTHER = 'org-provincial';
const STRANGER = 'org-thc-qingliang';
const registeredAt = (b: (typeof bundles)[number], org: string) => b.patient.identifiers.some((i) => i.assignerOrganizationId === org);
const heavy = bundles.find((b) => registeredAt(b, OWN) && !registeredAt(b, STRANGER))!;
const ordinary = bundles.find((b) => b !== heavy)!;
/** Bulk history: [table, rows per organisation] (4 x 1000 + 3 x 1000 + 3 x 1000 = 10,000 entries). */
const BULK = { labs: 4000, 'public-health': 3000, encounters: 3000 };

const PAGE = `query($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!], $from: DateTime, $to: DateTime) {
  patient(id: $id) { id timeline(first: $first, after: $after, kinds: $kinds, from: $from, to: $to) {
    edges { cursor kind occurredAt node { __typename ... on Observation { id } ... on HomeMeasurement { id } ... on Encounter { id }
      ... on Condition { id } ... on Referral { id } ... on DiagnosticReport { id } ... on ImagingStudy { id } ... on Immunization { id }
      ... on ProgramEnrollment { id } ... on FollowUpTask { id } ... on ClinicalNote { id } } }
    pageInfo { hasNextPage endCursor } } } }`;

interface Entry { id: string; time: string; kind: string }

/** Every entry of a patient straight from the owners' tables, with the producing organisation and labels. */
async function allEntries(stack: TestStack, patientId: string) {
  const q = async (db: Database, sql: string) => db.query<{ id: string; time: Date; org: string; orgs: string[] | null; labels: string[]; kind: string }>(sql, [patientId]);
  const { encounters, labs, imaging } = stack.databases;
  const ph = stack.databases['public-health'];
  const rows = (await Promise.all([
    q(encounters, "SELECT id, period_start AS time, organization_id AS org, addressee_organization_ids AS orgs, sensitivity_labels AS labels, 'ENCOUNTER' AS kind FROM encounter WHERE patient_id = $1"),
    q(encounters, "SELECT id, recorded_date AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'DIAGNOSIS' AS kind FROM condition WHERE patient_id = $1"),
    q(encounters, "SELECT id, recorded_date AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'ALLERGY' AS kind FROM allergy_intolerance WHERE patient_id = $1"),
    q(encounters, "SELECT id, performed_at AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'PROCEDURE' AS kind FROM procedure WHERE patient_id = $1"),
    q(encounters, "SELECT id, authored_on AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'MEDICATION_REQUEST' AS kind FROM medication_request WHERE patient_id = $1"),
    q(encounters, "SELECT id, effective_start AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'MEDICATION_ADMINISTRATION' AS kind FROM medication_administration WHERE patient_id = $1"),
    q(encounters, "SELECT id, effective_start AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'MEDICATION_STATEMENT' AS kind FROM medication_statement WHERE patient_id = $1"),
    q(encounters, "SELECT id, authored_on AS time, requester_organization_id AS org, addressee_organization_ids AS orgs, sensitivity_labels AS labels, 'REFERRAL' AS kind FROM referral WHERE patient_id = $1"),
    q(labs, "SELECT id, effective AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'LAB_RESULT' AS kind FROM observation WHERE patient_id = $1"),
    q(labs, "SELECT id, effective AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'DIAGNOSTIC_REPORT' AS kind FROM diagnostic_report WHERE patient_id = $1"),
    q(labs, "SELECT id, effective AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'CLINICAL_OBSERVATION' AS kind FROM clinical_observation WHERE patient_id = $1"),
    q(imaging, "SELECT id, started AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'IMAGING_STUDY' AS kind FROM imaging_study WHERE patient_id = $1"),
    q(ph, "SELECT id, occurrence AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'IMMUNIZATION' AS kind FROM immunization WHERE patient_id = $1"),
    q(ph, "SELECT id, period_start AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'PROGRAM_ENROLLMENT' AS kind FROM program_enrollment WHERE patient_id = $1"),
    q(ph, "SELECT id, authored_on AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'FOLLOW_UP_TASK' AS kind FROM follow_up_task WHERE patient_id = $1"),
    q(ph, "SELECT id, period_start AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'CARE_PLAN' AS kind FROM care_plan WHERE patient_id = $1"),
    q(ph, "SELECT id, period_start AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'CARE_TEAM' AS kind FROM care_team WHERE patient_id = $1"),
    q(ph, "SELECT id, effective AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'HOME_MEASUREMENT' AS kind FROM home_measurement WHERE patient_id = $1"),
    q(imaging, "SELECT id, date AS time, organization_id AS org, NULL::text[] AS orgs, sensitivity_labels AS labels, 'CLINICAL_NOTE' AS kind FROM clinical_note WHERE patient_id = $1"),
  ])).flat();
  return rows
    .map((r) => ({ id: r.id, time: new Date(r.time).toISOString(), kind: r.kind, orgs: [r.org, ...(r.orgs ?? [])], labels: r.labels }))
    .sort((a, b) => (a.time === b.time ? (a.id < b.id ? 1 : -1) : a.time < b.time ? 1 : -1));
}

describe.each(BACKENDS)('the timeline on %s', (backend) => {
  let stack: TestStack;
  let patient: string;
  let clinician: string;

  const page = async (token: string, variables: Record<string, unknown>) => {
    const response = await stack.graphql(token, PAGE, { id: heavy.patient.id, ...variables });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data.patient.timeline as { edges: { cursor: string; kind: string; occurredAt: string; node: { __typename: string; id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  };
  const entriesOf = (edges: Awaited<ReturnType<typeof page>>['edges']): Entry[] => edges.map((e) => ({ id: e.node.id, time: e.occurredAt, kind: e.kind }));

  /** Pages through the whole timeline; `between` runs after every page (new entries arriving). */
  const pageThrough = async (token: string, first: number, between?: (pageNumber: number) => Promise<void>) => {
    const seen: Entry[] = [];
    let after: string | null = null;
    for (let n = 0; ; n++) {
      const result = await page(token, { first, after });
      seen.push(...entriesOf(result.edges));
      if (!result.pageInfo.hasNextPage) return seen;
      after = result.pageInfo.endCursor;
      await between?.(n);
    }
  };

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    const id = heavy.patient.id;
    // Thousands of entries from two organisations, every tenth labelled HIV,
    // some sharing their instant with an entry of another kind (the id breaks the tie).
    const time = (i: string) => `timestamptz '2016-01-01T00:00:00Z' + (${i} * interval '13 hours 7 minutes 13.517 seconds')`;
    const org = (i: string) => `CASE WHEN ${i} % 2 = 0 THEN '${OWN}' ELSE '${OTHER}' END`;
    const labels = (i: string) => `CASE WHEN ${i} % 10 = 3 THEN ARRAY['HIV'] ELSE '{}'::text[] END`;
    await stack.databases.labs.query(
      `INSERT INTO observation (id, patient_id, organization_id, status, category, code, display, value_quantity, unit, effective, sensitivity_labels)
       SELECT gen_random_uuid(), $1, ${org('i')}, 'final', 'laboratory', '2345-7', 'Glucose [Mass/volume] in Serum or Plasma', 5.5, 'mmol/L', ${time('i')}, ${labels('i')}
       FROM generate_series(1, ${BULK.labs}) AS i`, [id]);
    await stack.databases['public-health'].query(
      `INSERT INTO home_measurement (id, patient_id, organization_id, kind, code, display, systolic, diastolic, unit, effective, source, sensitivity_labels)
       SELECT gen_random_uuid(), $1, ${org('i')}, 'blood-pressure', '85354-9', 'Blood pressure panel', 130, 85, 'mm[Hg]', ${time('(i * 4 / 3)')}, 'patient', ${labels('i')}
       FROM generate_series(1, ${BULK['public-health']}) AS i`, [id]);
    await stack.databases.encounters.query(
      `INSERT INTO encounter (id, patient_id, organization_id, class, status, period_start, sensitivity_labels)
       SELECT gen_random_uuid(), $1, ${org('i')}, 'AMB', 'finished', ${time('(i * 4 / 3)')}, ${labels('i')}
       FROM generate_series(1, ${BULK.encounters}) AS i`, [id]);
    for (const name of SUBGRAPH_NAMES) await stack.databases[name].query('ANALYZE');
    patient = await stack.token({ sub: 'patient-heavy', role: 'patient', patient: id });
    clinician = await stack.token({ sub: 'dr-own', role: 'clinician', org: OWN });
  }, 120_000);
  afterAll(async () => stack?.close());

  it('has the ten thousand entries to page through', async () => {
    expect((await allEntries(stack, heavy.patient.id)).length).toBeGreaterThanOrEqual(10_000);
  });

  it('pages the patient through every entry exactly once, newest first, while new entries arrive', async () => {
    const expected = (await allEntries(stack, heavy.patient.id)).map(({ id, time, kind }) => ({ id, time, kind }));
    const arrived: string[] = [];
    const seen = await pageThrough(patient, 100, async (n) => {
      if (n % 20 !== 0) return;
      // A reading taken now arrives above the pages already read.
      const submitted = await stack.graphql(patient, 'mutation($input: HomeMeasurementInput!) { submitHomeMeasurement(input: $input) { measurement { id } } }',
        { input: { patientId: heavy.patient.id, kind: 'WEIGHT', value: 70 + n / 10 } });
      if (submitted.errors) {
        // Not enrolled in a programme taking measurements: insert the arrival directly.
        const [row] = await stack.databases.encounters.query<{ id: string }>(
          `INSERT INTO encounter (id, patient_id, organization_id, class, status, period_start) VALUES (gen_random_uuid(), $1, $2, 'AMB', 'in-progress', date_trunc('milliseconds', now())) RETURNING id`,
          [heavy.patient.id, OWN]);
        arrived.push(row!.id);
      } else {
        arrived.push(submitted.data.submitHomeMeasurement.measurement.id);
      }
    });
    expect(arrived.length).toBeGreaterThan(3);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(seen).toEqual(expected);
    // A fresh first page starts with what arrived, newest first.
    const fresh = await page(patient, { first: arrived.length });
    expect(fresh.edges.map((e) => e.node.id).sort()).toEqual([...arrived].sort());
  });

  it('shows a clinician only their organisation\'s entries, fully paged, and counts the unlabelled ones withheld', async () => {
    const all = await allEntries(stack, heavy.patient.id);
    const expected = all.filter((e) => e.orgs.includes(OWN)).map(({ id, time, kind }) => ({ id, time, kind }));
    expect(expected.length).toBeGreaterThan(4000);
    const seen = await pageThrough(clinician, 100);
    expect(seen).toEqual(expected);
    // A registration alone tells nothing about records elsewhere: the count is for staff the patient authorised.
    const count = async () => (await stack.graphql(clinician, 'query($id: ID!) { patient(id: $id) { timeline(first: 1) { withheldCount } } }', { id: heavy.patient.id }));
    const unauthorised = await count();
    expect(unauthorised.errors).toBeUndefined();
    expect(unauthorised.data.patient.timeline.withheldCount).toBeNull();
    // The patient shares their directives (no timeline kind) with the clinician's hospital: now it is told.
    const patientWrites = await stack.token({ sub: 'heavy', role: 'patient', patient: heavy.patient.id, scope: 'patient/*.cruds' });
    const shared = await stack.graphql(patientWrites, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }',
      { input: { patientId: heavy.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: OWN, categories: ['CONSENTS'] } });
    expect(shared.errors).toBeUndefined();
    const response = await count();
    expect(response.errors).toBeUndefined();
    expect(response.data.patient.timeline.withheldCount).toBe(all.filter((e) => !e.orgs.includes(OWN) && e.labels.length === 0).length);
    await stack.graphql(patientWrites, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: shared.data.grantConsent.id });
    // The patient is not told about withheld entries (there are none), nor is anyone but clinical staff.
    const own = await stack.graphql(patient, 'query($id: ID!) { patient(id: $id) { timeline(first: 1) { withheldCount } } }', { id: heavy.patient.id });
    expect(own.data.patient.timeline.withheldCount).toBeNull();
  });

  it('filters by kind and by date range', async () => {
    const all = await allEntries(stack, heavy.patient.id);
    const from = '2017-01-01T00:00:00.000Z';
    const to = '2017-02-01T00:00:00.000Z';
    const window = all.filter((e) => e.time >= from && e.time < to && ['LAB_RESULT', 'ENCOUNTER'].includes(e.kind)).map(({ id, time, kind }) => ({ id, time, kind }));
    expect(window.length).toBeGreaterThan(50);
    const seen: Entry[] = [];
    let after: string | null = null;
    do {
      const result = await page(patient, { first: 50, after, kinds: ['LAB_RESULT', 'ENCOUNTER'], from, to });
      seen.push(...entriesOf(result.edges));
      after = result.pageInfo.hasNextPage ? result.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toEqual(window);
    const nodes = await page(patient, { first: 5, kinds: ['ENCOUNTER'] });
    expect(nodes.edges.every((e) => e.kind === 'ENCOUNTER' && e.node.__typename === 'Encounter')).toBe(true);
  });

  it('costs a bounded number of statements per subgraph for a page of 50, deep in ten thousand entries or not', async () => {
    // Nodes with fields their owners resolve, so entity lookups are counted too.
    const WITH_FIELDS = `query($id: ID!, $after: String) { patient(id: $id) { timeline(first: 50, after: $after) { edges { kind node {
      ... on Observation { code { code } } ... on HomeMeasurement { kind } ... on Encounter { status } ... on Condition { code { code } } ... on AllergyIntolerance { criticality } ... on ClinicalObservation { status } ... on Procedure { procedureStatus: status } ... on CarePlan { intent } ... on CareTeam { careTeamStatus: status }
      ... on Referral { referralStatus: status } ... on DiagnosticReport { status } ... on ImagingStudy { modality { code } } ... on Immunization { doseNumber }
      ... on ProgramEnrollment { status } ... on FollowUpTask { taskStatus: status }
      ... on MedicationRequest { medicationStatus: status } ... on MedicationAdministration { administrationStatus: status } ... on MedicationStatement { statementStatus: status } ... on ClinicalNote { noteStatus: status } } } } } }`;
    const count = async (patientId: string, after: string | null) => {
      const token = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId });
      const before = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount]));
      const response = await stack.graphql(token, WITH_FIELDS, { id: patientId, after });
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      expect(response.data.patient.timeline.edges.length).toBeGreaterThan(0);
      return Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.databases[name].statementCount - before[name]!]));
    };
    const all = await allEntries(stack, heavy.patient.id);
    const deep = await count(heavy.patient.id, encodeCursor(all[5000]!.time, all[5000]!.id));
    const small = await count(ordinary.patient.id, null);
    if (process.env.PRINT_FIGURES) console.log('timeline statements', JSON.stringify({ deep, small }));
    // Owners: one page statement for all the kinds they own (timelineKeysSql), one entity lookup per type on the page.
    // identity: the patient; consent facts (3 statements) once per owner, shared by
    // its timeline call and its entity lookups (same request id); the audit append (3).
    const kindsOf = (owner: string) => RECORD_TYPES.filter((row) => row.owner === owner).length;
    const bound: Record<string, number> = { identity: 1 + 3 * 4 + 3, ...Object.fromEntries(SUBGRAPH_NAMES.filter((n) => n !== 'identity').map((n) => [n, 1 + kindsOf(n)])) };
    for (const name of SUBGRAPH_NAMES) {
      expect(deep[name], name).toBeLessThanOrEqual(bound[name]!);
      expect(small[name], name).toBeLessThanOrEqual(bound[name]!);
    }
  });

  it('reads each owner\'s page through its (patient, time, id) index', async () => {
    const explain = async (db: Database, table: string, timeColumn: string) => {
      const capture: string[] = [];
      const spy = { query: async <T>(sql: string, params: unknown[]) => { capture.push(JSON.stringify(await db.query(`EXPLAIN (FORMAT JSON) ${sql}`, params))); return [] as T[]; } };
      const filters = [{ id: heavy.patient.id, orgs: [OWN, OTHER], pairs: [`${OWN}|HIV`], bg_orgs: [] }];
      await selectPatientPages(spy as unknown as Database, { category: 'labs', table, timeColumn }, filters, { first: 50, after: null, from: null, to: null });
      return capture.join('');
    };
    for (const [name, table, column] of [['labs', 'observation', 'effective'], ['public-health', 'home_measurement', 'effective'], ['encounters', 'encounter', 'period_start']] as const) {
      const plan = await explain(stack.databases[name], table, column);
      // observation is partitioned by patient (labs migration 009): its partitions' copies of the index, named by PostgreSQL.
      expect(plan, `${table}: ${plan}`).toMatch(table === 'observation' ? /observation_p\d+_patient_id_effective_id_idx/ : new RegExp(`${table}_patient_time`));
      expect(plan, table).not.toMatch(new RegExp(`"Node Type":"Seq Scan"[^}]*"Relation Name":"${table}(_p\\d+)?"`));
    }
    // The owner's one statement for all its kinds reads each kind through that kind's own index.
    const sources = timelineSources('encounters');
    const [plan] = await stack.databases.encounters.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) ${timelineKeysSql(sources)}`,
      [JSON.stringify([{ id: heavy.patient.id, orgs: [OWN, OTHER], pairs: [`${OWN}|HIV`], bg_orgs: [] }]), null, null, null, null, 51,
        ...sources.slice(1).map(() => JSON.stringify([{ id: heavy.patient.id, orgs: [OWN, OTHER], pairs: [], bg_orgs: [] }]))]);
    // (The test's other encounter-owned tables hold a handful of rows, where a sequential scan is the planner's right choice.)
    const text = JSON.stringify(plan);
    expect(text, text).toContain('"Node Type":"Append"');
    expect(text.match(/"Parent Relationship":"Member"/g), text).toHaveLength(sources.length);
    expect(text, text).toContain('encounter_patient_time');
    expect(text, text).not.toMatch(/"Node Type":"Seq Scan"[^}]*"Relation Name":"encounter"/);
  });

  it('audits a timeline page as one disclosure of the patient, each entry counted once', async () => {
    const lastEvent = async () => {
      const [count] = await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event WHERE patient_id = $1', [heavy.patient.id]);
      const [last] = await stack.databases.identity.query<{ record_counts: Record<string, number>; request_id: string }>(
        'SELECT record_counts, request_id FROM audit_event WHERE patient_id = $1 ORDER BY seq DESC LIMIT 1', [heavy.patient.id]);
      return { n: count!.n, record_counts: last?.record_counts, request_id: last?.request_id };
    };
    const before = (await lastEvent()).n;
    // Entries only (kind and time): identity reports them.
    const keys = await stack.graphql(clinician, 'query($id: ID!) { patient(id: $id) { timeline(first: 10) { edges { kind occurredAt } } } }', { id: heavy.patient.id });
    const kinds = keys.data.patient.timeline.edges.map((e: { kind: string }) => e.kind);
    const categoryOf: Record<string, string> = { ALLERGY: 'allergies', CLINICAL_OBSERVATION: 'observations', PROCEDURE: 'procedures', CARE_PLAN: 'care-plans', CARE_TEAM: 'care-plans', LAB_RESULT: 'labs', DIAGNOSTIC_REPORT: 'labs', ENCOUNTER: 'encounters', HOME_MEASUREMENT: 'home-measurements', DIAGNOSIS: 'diagnoses', REFERRAL: 'referrals', IMAGING_STUDY: 'imaging', IMMUNIZATION: 'immunizations', PROGRAM_ENROLLMENT: 'programs', FOLLOW_UP_TASK: 'follow-ups',
      MEDICATION_REQUEST: 'medications', MEDICATION_ADMINISTRATION: 'medications', MEDICATION_STATEMENT: 'medications', CLINICAL_NOTE: 'notes' };
    const expected: Record<string, number> = {};
    for (const kind of kinds) expected[categoryOf[kind]!] = (expected[categoryOf[kind]!] ?? 0) + 1;
    let event = await lastEvent();
    expect(event.n).toBe(before + 1);
    expect(event.request_id).toBe(keys.requestId);
    expect(event.record_counts).toMatchObject(expected);
    // Entries with their nodes: the owners report the same records again, still counted once.
    const full = await stack.graphql(clinician, `query($id: ID!) { patient(id: $id) { timeline(first: 10) { edges { kind node {
      ... on Observation { code { code } } ... on HomeMeasurement { kind } ... on Encounter { class } ... on Condition { code { code } }
      ... on DiagnosticReport { status } ... on ImagingStudy { modality { code } } ... on Immunization { doseNumber } } } } } }`, { id: heavy.patient.id });
    expect(full.errors).toBeUndefined();
    expect(full.data.patient.timeline.edges.map((e: { kind: string }) => e.kind)).toEqual(kinds);
    event = await lastEvent();
    expect(event.n).toBe(before + 2);
    expect(event.record_counts).toMatchObject(expected);
  });

  it('refuses bad paging arguments and keeps other patients out', async () => {
    const code = async (variables: Record<string, unknown>, token = patient) => (await stack.graphql(token, PAGE, { id: heavy.patient.id, ...variables })).errors?.[0]?.extensions?.code;
    expect(await code({ first: 0 })).toBe('BAD_USER_INPUT');
    expect(await code({ first: 101 })).toBe('BAD_USER_INPUT');
    expect(await code({ after: 'not-a-cursor' })).toBe('BAD_USER_INPUT');
    expect(await code({ from: '2020-01-01T00:00:00Z', to: '2019-01-01T00:00:00Z' })).toBe('BAD_USER_INPUT');
    const otherPatient = await stack.token({ sub: 'p-other', role: 'patient', patient: ordinary.patient.id });
    expect(await code({}, otherPatient)).toBe('FORBIDDEN');
    const stranger = await stack.token({ sub: 'dr-far', role: 'clinician', org: STRANGER });
    const far = await stack.graphql(stranger, PAGE, { id: heavy.patient.id, first: 10 });
    // Not registered there: the patient is not found, so nothing of the timeline either.
    expect(far.data?.patient ?? null).toBeNull();
  });
});
