/**
 * Discharge end to end: a county hospital discharges an inpatient, and the
 * follow-up plan lands, at the same time, with the nurses and clinicians of
 * the township health centre that follows the patient in their programme.
 * Both stores change or neither does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../lib/trust/actor.js';
import { ACTOR_TOKEN_HEADER } from '../lib/trust/internal-token.js';
import { internalSigners } from './support/internal.js';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 60;
const HOSPITAL = 'org-county-south';
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const chronic = (b: (typeof bundles)[number]) => b.enrollments.find((e) => ['prog-htn', 'prog-dm', 'prog-eld'].includes(e.programId) && e.status === 'active' && e.organizationId !== HOSPITAL);
const followed = bundles.find((b) => chronic(b))!;
const primaryCare = chronic(followed)!.organizationId;
const unfollowed = bundles.find((b) => b.enrollments.every((e) => e.status !== 'active'))!;

const DISCHARGE = `mutation($input: DischargeInput!) { recordDischarge(input: $input) {
  encounter { id status period { end } dischargeDisposition { system code display } }
  primaryCareOrganization { id } followUpTasks { id } } }`;
const OPEN_TASKS = '{ openFollowUpTasks(first: 100) { edges { cursor node { id ruleCode description dueDate patient { id } basedOnEncounter { id } } } pageInfo { hasNextPage endCursor } } }';
/** The tasks of an openFollowUpTasks page. */
const openTasks = (data: any): any[] => data.openFollowUpTasks.edges.map((edge: { node: unknown }) => edge.node);

describe.each(BACKENDS)('discharge on %s', (backend) => {
  let stack: TestStack;
  let doctor: string;

  /** An inpatient stay in progress at the hospital, with a diagnosis. */
  const admit = async (patientId: string, encounterClass = 'IMP') => {
    const [stay] = await stack.databases.encounters.query<{ id: string }>(
      `INSERT INTO encounter (id, patient_id, organization_id, practitioner_id, class, status, period_start, reason_code, reason_display)
       VALUES (gen_random_uuid(), $1, $2, 'dr-ward', $3, 'in-progress', date_trunc('milliseconds', now()) - interval '5 days', 'I63.9', 'Cerebral infarction, unspecified')
       RETURNING id`, [patientId, HOSPITAL, encounterClass]);
    await stack.databases.encounters.query(
      `INSERT INTO condition (id, patient_id, encounter_id, organization_id, code, display, clinical_status, recorded_date)
       VALUES (gen_random_uuid(), $1, $2, $3, 'I63.9', 'Cerebral infarction, unspecified', 'active', now() - interval '5 days')`, [patientId, stay!.id, HOSPITAL]);
    return stay!.id;
  };
  const stayStatus = async (id: string) => (await stack.databases.encounters.query<{ status: string }>('SELECT status FROM encounter WHERE id = $1', [id]))[0]!.status;
  const planTasks = async (encounterId: string) =>
    (await stack.databases['public-health'].query<{ n: number }>('SELECT count(*)::int AS n FROM follow_up_task WHERE based_on_encounter_id = $1', [encounterId]))[0]!.n;

  beforeAll(async () => {
    expect(followed && unfollowed, 'generated patients fit this test').toBeTruthy();
    stack = await startTestStack(backend, { patients: PATIENTS });
    doctor = await stack.token({ sub: 'dr-ward', role: 'clinician', org: HOSPITAL });
  });
  afterAll(async () => stack?.close());

  it('finishes the stay and gives the primary-care organisation its follow-up plan, once', async () => {
    const stayId = await admit(followed.patient.id);
    const response = await stack.graphql(doctor, DISCHARGE, { input: { encounterId: stayId, disposition: 'home', instructions: 'Aspirin 100 mg daily; check blood pressure weekly' } });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const discharge = response.data.recordDischarge;
    expect(discharge.encounter).toMatchObject({
      id: stayId, status: 'finished',
      dischargeDisposition: { system: 'http://terminology.hl7.org/CodeSystem/discharge-disposition', code: 'home', display: 'Home' },
    });
    expect(discharge.encounter.period.end).toBeTruthy();
    expect(discharge.primaryCareOrganization).toEqual({ id: primaryCare });
    expect(discharge.followUpTasks).toHaveLength(2);

    // The township nurses get the visit, its clinicians the medication review, each linked to the stay.
    const nurse = await stack.token({ sub: 'nurse-pc', role: 'nurse', org: primaryCare });
    const clinician = await stack.token({ sub: 'dr-pc', role: 'clinician', org: primaryCare });
    const nurseTasks = openTasks((await stack.graphql(nurse, OPEN_TASKS)).data).filter((t: any) => t.basedOnEncounter?.id === stayId);
    const doctorTasks = openTasks((await stack.graphql(clinician, OPEN_TASKS)).data).filter((t: any) => t.basedOnEncounter?.id === stayId);
    expect(nurseTasks.map((t: any) => t.ruleCode)).toEqual(['DISCHARGE-VISIT']);
    expect(doctorTasks.map((t: any) => t.ruleCode)).toEqual(['DISCHARGE-MEDREC']);
    expect(nurseTasks[0]).toMatchObject({ patient: { id: followed.patient.id } });
    expect(nurseTasks[0].description).toContain('I63.9 Cerebral infarction');
    expect(nurseTasks[0].description).toContain('check blood pressure weekly');
    const inAWeek = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
    expect(nurseTasks[0].dueDate).toBe(inAWeek);
    expect([...nurseTasks, ...doctorTasks].map((t: any) => t.id).sort()).toEqual(discharge.followUpTasks.map((t: any) => t.id).sort());

    // A second discharge of the same stay is a conflict and creates nothing.
    expect((await stack.graphql(doctor, DISCHARGE, { input: { encounterId: stayId } })).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(await planTasks(stayId)).toBe(2);
  });

  it('changes neither store when the plan cannot be made', async () => {
    // No programme names a primary-care organisation and none is given.
    const stayId = await admit(unfollowed.patient.id);
    const refused = await stack.graphql(doctor, DISCHARGE, { input: { encounterId: stayId } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(refused.errors?.[0]?.message).toMatch(/primary-care organisation/);
    expect(await stayStatus(stayId)).toBe('in-progress');
    expect(await planTasks(stayId)).toBe(0);

    // Public-health's store fails: the discharge is rolled back.
    const ph = stack.databases['public-health'];
    await ph.query('ALTER TABLE follow_up_task RENAME TO follow_up_task_offline');
    try {
      const failed = await stack.graphql(doctor, DISCHARGE, { input: { encounterId: stayId, primaryCareOrganizationId: 'org-thc-gaiyang' } });
      expect(failed.errors?.length).toBeGreaterThan(0);
      expect(failed.data?.recordDischarge ?? null).toBeNull();
    } finally {
      await ph.query('ALTER TABLE follow_up_task_offline RENAME TO follow_up_task');
    }
    expect(await stayStatus(stayId)).toBe('in-progress');
    expect(await planTasks(stayId)).toBe(0);

    // Named explicitly, the plan goes there.
    const named = await stack.graphql(doctor, DISCHARGE, { input: { encounterId: stayId, primaryCareOrganizationId: 'org-thc-gaiyang' } });
    expect(named.errors).toBeUndefined();
    expect(named.data.recordDischarge.primaryCareOrganization).toEqual({ id: 'org-thc-gaiyang' });
    expect(await planTasks(stayId)).toBe(2);
  });

  it('says a discharge that succeeded, even where the hospital may not read the plan it made (the tasks are the primary care\'s)', async () => {
    const stayId = await admit(followed.patient.id);
    const response = await stack.graphql(doctor, `mutation($input: DischargeInput!) { recordDischarge(input: $input) {
      encounter { id status } primaryCareOrganization { id name } followUpTasks { id description dueDate } } }`, { input: { encounterId: stayId } });
    const discharge = response.data?.recordDischarge;
    expect(discharge, JSON.stringify(response)).toBeTruthy();
    expect(discharge.encounter).toEqual({ id: stayId, status: 'finished' });
    expect(discharge.followUpTasks).toHaveLength(2);
    // Each task the hospital may not read is null with the consent code, never a silent null and never the whole answer.
    for (const [index, task] of (discharge.followUpTasks as unknown[]).entries()) {
      if (task !== null) continue;
      const error = response.errors?.find((e) => e.path?.join('.') === `recordDischarge.followUpTasks.${index}`);
      expect(error?.extensions?.code, JSON.stringify(response.errors)).toMatch(/CONSENT_DENIED|FORBIDDEN/);
    }
    expect(await stayStatus(stayId)).toBe('finished');
    expect(await planTasks(stayId)).toBe(2);
  });

  it('makes no plan on a direct call, even with genuine tokens of encounters, unless the stay is the caller\'s', async () => {
    const signers = internalSigners(stack.keys);
    const staff = (org: string): Actor => ({ sub: 'dr-x', role: 'clinician', org, scope: 'user/*.cruds', patient: null, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: null });
    const stayId = await admit(followed.patient.id);
    // What a compromised encounters subgraph could send: a call token of its own, authorised by an actor token the gateway gave it.
    const ask = async (actor: Actor, fields: Record<string, unknown>) => {
      const path = '/internal/discharge-follow-up';
      const body = JSON.stringify({ encounterId: stayId, patientId: followed.patient.id, dischargedAt: new Date().toISOString(), diagnoses: [], ...fields });
      const via = signers.actorToken('encounters', actor, 'mutation { recordDischarge }', undefined, 'direct-call');
      const token = signers.as('encounters').signCallToken({ audience: 'public-health', path, body, requestId: 'direct-call', via });
      return fetch(stack.subgraphs['public-health'].url.replace(/\/graphql$/, path), { method: 'POST', headers: { 'content-type': 'application/json', [ACTOR_TOKEN_HEADER]: token }, body });
    };
    // Staff of another hospital, and the right hospital naming another patient: refused.
    expect((await ask(staff('org-county-north'), {})).status).toBe(403);
    expect((await ask(staff(HOSPITAL), { patientId: unfollowed.patient.id })).status).toBe(403);
    expect((await ask(staff(HOSPITAL), { encounterId: '00000000-0000-4000-8000-000000000000' })).status).toBe(403);
    expect(await planTasks(stayId)).toBe(0);
  });

  it('is recorded only by staff of the hospital, for an inpatient stay, with valid input', async () => {
    const stayId = await admit(followed.patient.id);
    const code = async (token: string, input: Record<string, unknown>) => (await stack.graphql(token, DISCHARGE, { input: { encounterId: stayId, ...input } })).errors?.[0]?.extensions?.code;
    const elsewhere = await stack.token({ sub: 'dr-north', role: 'clinician', org: 'org-county-north' });
    const readOnly = await stack.token({ sub: 'dr-ro', role: 'clinician', org: HOSPITAL, scope: 'user/*.rs' });
    const patient = await stack.token({ sub: 'p', role: 'patient', patient: followed.patient.id });
    expect(await code(elsewhere, {})).toMatch(/NOT_FOUND|FORBIDDEN/);
    expect(await code(readOnly, {})).toBe('FORBIDDEN');
    expect(await code(patient, {})).toBe('FORBIDDEN');
    expect(await code(doctor, { disposition: 'beach' })).toBe('BAD_USER_INPUT');
    expect(await code(doctor, { primaryCareOrganizationId: 'org-nowhere' })).toBe('BAD_USER_INPUT');
    expect(await code(doctor, { dischargedAt: new Date(Date.now() + 86_400_000).toISOString() })).toBe('BAD_USER_INPUT');
    expect(await code(doctor, { encounterId: 'not-an-id' })).toBe('NOT_FOUND');
    const visit = await admit(followed.patient.id, 'AMB');
    expect((await stack.graphql(doctor, DISCHARGE, { input: { encounterId: visit } })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await stayStatus(stayId)).toBe('in-progress');
    expect(await planTasks(stayId)).toBe(0);
  });

  it('is recorded by the hospital\'s own system (as HL7 v2 ADT^A03 does), never by another organisation\'s or without a write scope', async () => {
    const stayId = await admit(followed.patient.id);
    const system = (org: string, scope = 'system/*.cru') => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope });
    const code = async (token: string) => (await stack.graphql(token, DISCHARGE, { input: { encounterId: stayId } })).errors?.[0]?.extensions?.code;
    expect(await code(await system('org-county-north'))).toMatch(/NOT_FOUND|FORBIDDEN/);
    expect(await code(await system(HOSPITAL, 'system/*.rs'))).toBe('FORBIDDEN');
    expect(await planTasks(stayId)).toBe(0);
    const response = await stack.graphql(await system(HOSPITAL), DISCHARGE, { input: { encounterId: stayId } });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    expect(response.data.recordDischarge.encounter).toMatchObject({ id: stayId, status: 'finished' });
    expect(response.data.recordDischarge.primaryCareOrganization).toEqual({ id: primaryCare });
    expect(await planTasks(stayId)).toBe(2);
  });
});
