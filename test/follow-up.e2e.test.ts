/**
 * Home measurements and follow-up rules end to end: a patient (or their app)
 * submits readings, programme rules create exactly one follow-up task for the
 * nurses of the responsible organisation with the readings that triggered
 * it, nurses list and close their open tasks, and every write is checked in
 * the public-health subgraph.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { startTestStack, type TestStack } from './support/harness.js';

const bundles = Array.from({ length: 60 }, (_, i) => generatePatient(DEFAULT_SEED, i));
const hypertensive = bundles.find((b) => b.enrollments.some((e) => e.programId === 'prog-htn'))!;
const htnOrg = hypertensive.enrollments.find((e) => e.programId === 'prog-htn')!.organizationId;
const diabetic = bundles.find((b) => b.enrollments.some((e) => e.programId === 'prog-dm') && b !== hypertensive)!;
const notEnrolled = bundles.find((b) => b.enrollments.length === 0)!;

const SUBMIT = `mutation($input: HomeMeasurementInput!) { submitHomeMeasurement(input: $input) {
  measurement { id kind systolic diastolic value fasting organization { id } }
  followUpTasksCreated { id ruleCode status assignedRole organization { id } triggeringMeasurements { id systolic diastolic value } }
} }`;
const OPEN_TASKS = '{ openFollowUpTasks(first: 100) { edges { cursor node { id ruleCode patient { id } description triggeringMeasurements { id } } } pageInfo { hasNextPage endCursor } } }';
/** The tasks of an openFollowUpTasks page. */
const openTasks = (data: any): any[] => data.openFollowUpTasks.edges.map((edge: { node: unknown }) => edge.node);

describe('home measurements and follow-up rules', () => {
  let stack: TestStack;
  let patient: string;
  let nurse: string;

  const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
  const bp = (systolic: number, diastolic: number, hours: number) => ({ patientId: hypertensive.patient.id, kind: 'BLOOD_PRESSURE', systolic, diastolic, effectiveDateTime: hoursAgo(hours) });

  beforeAll(async () => {
    stack = await startTestStack('pglite', { patients: 60 });
    patient = await stack.token({ sub: 'p-htn', role: 'patient', patient: hypertensive.patient.id, scope: 'patient/*.cruds' });
    nurse = await stack.token({ sub: 'nurse-htn', role: 'nurse', org: htnOrg });
  });
  afterAll(async () => stack?.close());

  it('creates exactly one task after three consecutive readings above 140/90, with those readings', async () => {
    const submit = async (input: Record<string, unknown>) => {
      const response = await stack.graphql(patient, SUBMIT, { input });
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      return response.data.submitHomeMeasurement;
    };
    expect((await submit(bp(122, 78, 5))).followUpTasksCreated).toEqual([]);
    const first = await submit(bp(152, 95, 4));
    const second = await submit(bp(148, 88, 3));
    expect(first.followUpTasksCreated).toEqual([]);
    expect(second.followUpTasksCreated).toEqual([]);
    const third = await submit(bp(139, 96, 2));
    expect(third.measurement).toMatchObject({ kind: 'BLOOD_PRESSURE', systolic: 139, diastolic: 96, organization: { id: htnOrg } });
    expect(third.followUpTasksCreated).toHaveLength(1);
    const task = third.followUpTasksCreated[0];
    expect(task).toMatchObject({ ruleCode: 'HTN-BP-3', status: 'REQUESTED', assignedRole: 'nurse', organization: { id: htnOrg } });
    expect(task.triggeringMeasurements.map((m: any) => m.id).sort()).toEqual([first.measurement.id, second.measurement.id, third.measurement.id].sort());
    // A fourth high reading while the task is open creates nothing more.
    expect((await submit(bp(160, 100, 1))).followUpTasksCreated).toEqual([]);
    const tasks = await stack.databases['public-health'].query<{ n: number }>("SELECT count(*)::int AS n FROM follow_up_task WHERE patient_id = $1 AND rule_code = 'HTN-BP-3'", [hypertensive.patient.id]);
    expect(tasks[0]!.n).toBe(1);
  });

  it('lists the task for the nurses of the responsible organisation only, who close it once', async () => {
    const open = await stack.graphql(nurse, OPEN_TASKS);
    expect(open.errors).toBeUndefined();
    const task = openTasks(open.data).find((t: any) => t.ruleCode === 'HTN-BP-3' && t.patient.id === hypertensive.patient.id);
    expect(task.triggeringMeasurements).toHaveLength(3);
    const clinician = await stack.token({ sub: 'dr-htn', role: 'clinician', org: htnOrg });
    expect(openTasks((await stack.graphql(clinician, OPEN_TASKS)).data).some((t: any) => t.id === task.id)).toBe(false);
    const elsewhere = await stack.token({ sub: 'nurse-far', role: 'nurse', org: 'org-provincial' });
    expect(openTasks((await stack.graphql(elsewhere, OPEN_TASKS)).data).some((t: any) => t.id === task.id)).toBe(false);
    const close = 'mutation($id: ID!) { completeFollowUpTask(id: $id) { id status } }';
    expect((await stack.graphql(elsewhere, close, { id: task.id })).errors?.[0]?.extensions?.code).toMatch(/NOT_FOUND|FORBIDDEN/);
    expect((await stack.graphql(nurse, close, { id: task.id })).data.completeFollowUpTask).toEqual({ id: task.id, status: 'COMPLETED' });
    expect((await stack.graphql(nurse, close, { id: task.id })).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(openTasks((await stack.graphql(nurse, OPEN_TASKS)).data).some((t: any) => t.id === task.id)).toBe(false);
  });

  it('creates a task for a fasting glucose above 7.0 mmol/L, not for a non-fasting one', async () => {
    const token = await stack.appToken({ sub: 'app-dm', client_id: 'glucose-app', patient: diabetic.patient.id, scope: 'patient/Observation.cru?category=vital-signs' });
    const input = { patientId: diabetic.patient.id, kind: 'GLUCOSE', value: 9.1, fasting: false };
    const nonFasting = await stack.graphql(token, SUBMIT, { input });
    expect(nonFasting.errors).toBeUndefined();
    expect(nonFasting.data.submitHomeMeasurement.followUpTasksCreated).toEqual([]);
    // The app's scope covers vital signs only: it learns that a task was
    // created (its id) but not the task's contents, which are follow-up data.
    const ids = `mutation($input: HomeMeasurementInput!) { submitHomeMeasurement(input: $input) { measurement { id } followUpTasksCreated { id } } }`;
    const fasting = await stack.graphql(token, ids, { input: { ...input, value: 7.6, fasting: true } });
    expect(fasting.errors, JSON.stringify(fasting.errors)).toBeUndefined();
    const created = fasting.data.submitHomeMeasurement.followUpTasksCreated;
    expect(created).toHaveLength(1);
    const dmOrg = diabetic.enrollments.find((e) => e.programId === 'prog-dm')!.organizationId;
    const nurseDm = await stack.token({ sub: 'nurse-dm', role: 'nurse', org: dmOrg });
    const open = await stack.graphql(nurseDm, OPEN_TASKS);
    expect(open.errors).toBeUndefined();
    const task = openTasks(open.data).find((t: any) => t.id === created[0].id);
    expect(task).toMatchObject({ ruleCode: 'DM-FPG', patient: { id: diabetic.patient.id } });
    expect(task.triggeringMeasurements).toEqual([{ id: fasting.data.submitHomeMeasurement.measurement.id }]);
  });

  it('checks who may submit and what', async () => {
    const code = async (token: string, input: Record<string, unknown>) => (await stack.graphql(token, SUBMIT, { input })).errors?.[0]?.extensions?.code;
    const readOnly = await stack.token({ sub: 'p-ro', role: 'patient', patient: hypertensive.patient.id, scope: 'patient/*.rs' });
    const labsApp = await stack.appToken({ sub: 'app', client_id: 'labs-app', patient: hypertensive.patient.id, scope: 'patient/Observation.cru?category=laboratory' });
    const clinician = await stack.token({ sub: 'dr', role: 'clinician', org: htnOrg });
    expect(await code(readOnly, bp(150, 95, 1))).toBe('FORBIDDEN');
    expect(await code(labsApp, bp(150, 95, 1))).toBe('FORBIDDEN');
    expect(await code(clinician, bp(150, 95, 1))).toBe('FORBIDDEN');
    expect(await code(patient, { ...bp(150, 95, 1), patientId: diabetic.patient.id })).toBe('FORBIDDEN');
    expect(await code(patient, bp(90, 120, 1))).toBe('BAD_USER_INPUT');
    expect(await code(patient, { ...bp(150, 95, 1), effectiveDateTime: new Date(Date.now() + 86_400_000).toISOString() })).toBe('BAD_USER_INPUT');
    expect(await code(patient, { patientId: hypertensive.patient.id, kind: 'GLUCOSE', value: 900 })).toBe('BAD_USER_INPUT');
    const unenrolled = await stack.token({ sub: 'p-x', role: 'patient', patient: notEnrolled.patient.id, scope: 'patient/*.cruds' });
    expect(await code(unenrolled, { patientId: notEnrolled.patient.id, kind: 'WEIGHT', value: 70 })).toBe('BAD_USER_INPUT');
  });
});
