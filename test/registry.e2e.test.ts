/**
 * The registries administered at run time, end to end through the gateway:
 * administrators add, update, deactivate and reactivate organisations and
 * practitioners in identity, every change lands in the registry change log,
 * and every subgraph checks the organisations and practitioners named in its
 * input against identity's registry of the moment (no restart, no list of its
 * own): a new organisation receives referrals at once, a deactivated one is
 * refused with BAD_USER_INPUT and nothing is written. Then the result
 * recognition tables of labs and imaging: administrators add and end
 * entries, validated like queries and against the registry, and results
 * change their recognition flag accordingly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../lib/synthetic/generator.js';
import { ORGANIZATIONS, generatePractitioners } from '../lib/synthetic/registry.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 30;
const DAY = 86_400_000;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const registeredAt = (b: PatientBundle, org: string) => b.patient.identifiers.some((i) => i.assignerOrganizationId === org);
const THC = 'org-thc-baisha';
const COUNTY = 'org-county-north';
/** A patient of the township centre, for referrals and a consultation. */
const referred = bundles.find((b) => registeredAt(b, THC))!;
/** A patient followed at home by a township centre's chronic-disease programme (the primary care a discharge plan goes to by default). */
const followed = bundles.find((b) => b.enrollments.some((e) => ['prog-htn', 'prog-dm'].includes(e.programId) && e.status === 'active' && e.organizationId === 'org-thc-meixi'))!;
/** A township centre's result of a code it is not recognised for, taken since 2024. */
const BASIC = ['718-7', '6690-2', '777-3', '14749-6'];
const unrecognised = bundles.flatMap((b) => b.observations)
  .find((o) => o.organizationId.startsWith('org-thc-') && !BASIC.includes(o.code) && o.sensitivityLabels.length === 0 && o.effective.getTime() > Date.parse('2024-06-01T00:00:00Z'))!;

const NEW_ORG = 'org-thc-lianjiang';
const NEW_PRACTITIONER = 'prac-thc-lianjiang-1';
const ORG_FIELDS = 'id name type partOf { id } city active practitioners(includeInactive: true) { id active }';
const UPSERT_ORG = `mutation($input: OrganizationInput!) { upsertOrganization(input: $input) { ${ORG_FIELDS} } }`;
const UPSERT_PRACTITIONER = 'mutation($input: PractitionerInput!) { upsertPractitioner(input: $input) { id name { family given text } role organization { id } active } }';
const DEACTIVATE_ORG = `mutation($id: ID!) { deactivateOrganization(id: $id) { ${ORG_FIELDS} } }`;
const DEACTIVATE_PRACTITIONER = 'mutation($id: ID!) { deactivatePractitioner(id: $id) { id active } }';
const CHANGES = `query($type: RegistryEntityType, $id: ID, $first: Int, $after: String) { registryChanges(entityType: $type, entityId: $id, first: $first, after: $after) {
  edges { cursor node { id sequence occurredAt requestId actorSub actorRole entityType entityId action before after } } pageInfo { hasNextPage endCursor } } }`;
const REFER = 'mutation($input: ReferralInput!) { createReferral(input: $input) { id status performer { id } } }';
const CONSULT = 'mutation($input: RemoteConsultationInput!) { scheduleRemoteConsultation(input: $input) { id participants { practitioner { id } organization { id } type } } }';
const DISCHARGE = 'mutation($input: DischargeInput!) { recordDischarge(input: $input) { encounter { id status } primaryCareOrganization { id } followUpTasks { id } } }';

const newOrganization = { id: NEW_ORG, name: 'Lianjiang Township Health Centre', type: 'TOWNSHIP_HEALTH_CENTRE', partOf: COUNTY, city: 'Minqing' };

describe.each(BACKENDS)('registries administered at run time on %s', (backend) => {
  let stack: TestStack;
  let admin: string;
  let thcDoctor: string;
  let countyDoctor: string;
  let patient: string;

  const ok = async (token: string, query: string, variables?: Record<string, unknown>) => {
    const response = await stack.graphql(token, query, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data;
  };
  const refusal = async (token: string, query: string, variables?: Record<string, unknown>) => {
    const response = await stack.graphql(token, query, variables);
    return { code: response.errors?.[0]?.extensions?.code as string | undefined, message: response.errors?.[0]?.message ?? '' };
  };
  const count = async (db: keyof TestStack['databases'], table: string) =>
    (await stack.databases[db].query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;
  const changesOf = async (id: string) => (await ok(admin, CHANGES, { id, first: 100 })).registryChanges.edges.map((e: any) => e.node);
  const inDays = (days: number) => new Date(Date.now() + days * DAY).toISOString();

  /** An inpatient stay in progress at the county hospital. */
  const admit = async (patientId: string) => {
    const [stay] = await stack.databases.encounters.query<{ id: string }>(
      `INSERT INTO encounter (id, patient_id, organization_id, practitioner_id, class, status, period_start, reason_code, reason_display)
       VALUES (gen_random_uuid(), $1, $2, 'dr-county', 'IMP', 'in-progress', date_trunc('milliseconds', now()) - interval '3 days', 'I10', 'Essential (primary) hypertension')
       RETURNING id`, [patientId, COUNTY]);
    return stay!.id;
  };
  const stayStatus = async (id: string) => (await stack.databases.encounters.query<{ status: string }>('SELECT status FROM encounter WHERE id = $1', [id]))[0]!.status;

  beforeAll(async () => {
    expect(referred && followed && unrecognised, 'generated patients fit this test').toBeTruthy();
    stack = await startTestStack(backend, { patients: PATIENTS });
    admin = await stack.token({ sub: 'admin-registry', role: 'admin' });
    thcDoctor = await stack.token({ sub: 'dr-thc', role: 'clinician', org: THC });
    countyDoctor = await stack.token({ sub: 'dr-county', role: 'clinician', org: COUNTY });
    patient = await stack.token({ sub: 'patient-referred', role: 'patient', patient: referred.patient.id });
  });
  afterAll(async () => stack?.close());

  it('holds the demo registry, written entry by entry through the administrators\' functions and recorded as the seed\'s', async () => {
    const organizations = (await ok(countyDoctor, '{ organizations { id name type partOf { id } city active } }')).organizations;
    expect(organizations).toEqual([...ORGANIZATIONS].sort((a, b) => (a.id < b.id ? -1 : 1)).map((o) => ({
      id: o.id, name: o.name, type: o.type.toUpperCase().replace(/-/g, '_'), partOf: o.partOf ? { id: o.partOf } : null, city: o.city, active: true,
    })));
    const seeded = async (type: string) => {
      const nodes: any[] = [];
      let after: string | null = null;
      for (;;) {
        const page: any = (await ok(admin, CHANGES, { type, first: 100, after })).registryChanges;
        nodes.push(...page.edges.map((e: any) => e.node));
        if (!page.pageInfo.hasNextPage) return nodes;
        after = page.pageInfo.endCursor;
      }
    };
    const organizationChanges = await seeded('ORGANIZATION');
    expect(organizationChanges.map((c) => c.entityId).sort()).toEqual(ORGANIZATIONS.map((o) => o.id).sort());
    const practitioners = generatePractitioners(DEFAULT_SEED);
    const practitionerChanges = await seeded('PRACTITIONER');
    expect(practitionerChanges.map((c) => c.entityId).sort()).toEqual(practitioners.map((p) => p.id).sort());
    for (const change of [...organizationChanges, ...practitionerChanges]) {
      expect(change).toMatchObject({ action: 'CREATED', actorSub: 'demo-seed', actorRole: 'admin', requestId: `demo-seed-${DEFAULT_SEED}`, before: null });
    }
    const first = practitioners[0]!;
    expect(JSON.parse(practitionerChanges.find((c) => c.entityId === first.id).after)).toEqual({
      id: first.id, organizationId: first.organizationId, family: first.family, given: first.given, role: first.role.toUpperCase(), active: true,
    });
  });

  it('lets an administrator add and update organisations and practitioners, each change in the log with its request', async () => {
    const created = await stack.graphql(admin, UPSERT_ORG, { input: newOrganization });
    expect(created.errors, JSON.stringify(created.errors)).toBeUndefined();
    expect(created.data.upsertOrganization).toEqual({ ...newOrganization, partOf: { id: COUNTY }, active: true, practitioners: [] });
    const renamed = await stack.graphql(admin, UPSERT_ORG, { input: { ...newOrganization, name: 'Lianjiang Township Health Centre (Minqing)' } });
    expect(renamed.data.upsertOrganization.name).toBe('Lianjiang Township Health Centre (Minqing)');
    // The same entry again changes nothing and records nothing.
    await ok(admin, UPSERT_ORG, { input: { ...newOrganization, name: 'Lianjiang Township Health Centre (Minqing)' } });
    const changes = await changesOf(NEW_ORG);
    expect(changes.map((c: any) => c.action)).toEqual(['UPDATED', 'CREATED']);
    expect(changes[0]).toMatchObject({ actorSub: 'admin-registry', actorRole: 'admin', entityType: 'ORGANIZATION', requestId: renamed.requestId });
    expect(changes[1].requestId).toBe(created.requestId);
    expect(JSON.parse(changes[0].before)).toMatchObject({ name: newOrganization.name });
    expect(JSON.parse(changes[0].after)).toEqual({ ...newOrganization, name: 'Lianjiang Township Health Centre (Minqing)', active: true });

    const practitioner = (await ok(admin, UPSERT_PRACTITIONER, {
      input: { id: NEW_PRACTITIONER, organizationId: NEW_ORG, family: 'Lin', given: 'Mei', role: 'CLINICIAN' },
    })).upsertPractitioner;
    expect(practitioner).toEqual({ id: NEW_PRACTITIONER, name: { family: 'Lin', given: ['Mei'], text: 'Lin Mei' }, role: 'CLINICIAN', organization: { id: NEW_ORG }, active: true });
    expect((await ok(countyDoctor, `query($id: ID!) { organization(id: $id) { practitioners { id } } }`, { id: NEW_ORG })).organization.practitioners).toEqual([{ id: NEW_PRACTITIONER }]);
    expect((await changesOf(NEW_PRACTITIONER)).map((c: any) => c.action)).toEqual(['CREATED']);
  });

  it('refuses invalid entries and callers other than administrators, writing nothing', async () => {
    const tables = async () => Promise.all(['organization', 'practitioner', 'registry_change'].map((t) => count('identity', t)));
    const before = await tables();
    const practitioner = { id: 'prac-new-1', organizationId: NEW_ORG, family: 'Wu', given: 'Lei', role: 'NURSE' };
    const cases: [string, Record<string, unknown>, string, RegExp?][] = [
      [UPSERT_ORG, { input: { ...newOrganization, id: 'Org_Lianjiang' } }, 'BAD_USER_INPUT', /slug/],
      [UPSERT_ORG, { input: { ...newOrganization, id: 'ab' } }, 'BAD_USER_INPUT', /slug/],
      [UPSERT_ORG, { input: { ...newOrganization, id: 'org-new', partOf: 'org-nowhere' } }, 'BAD_USER_INPUT', /partOf: org-nowhere is not an organisation/],
      [UPSERT_ORG, { input: { ...newOrganization, partOf: NEW_ORG } }, 'BAD_USER_INPUT', /not part of itself/],
      // The county hospital cannot become part of its own township centre.
      [UPSERT_ORG, { input: { id: COUNTY, name: 'North County Hospital', type: 'COUNTY_HOSPITAL', partOf: NEW_ORG } }, 'BAD_USER_INPUT', /own members/],
      [UPSERT_ORG, { input: { ...newOrganization, id: 'org-new', name: '  ' } }, 'BAD_USER_INPUT', /name is required/],
      [UPSERT_ORG, { input: { ...newOrganization, id: 'org-new', type: 'FIELD_HOSPITAL' } }, 'BAD_USER_INPUT'],
      [UPSERT_PRACTITIONER, { input: { ...practitioner, organizationId: 'org-nowhere' } }, 'BAD_USER_INPUT', /organizationId: org-nowhere is not an organisation/],
      [UPSERT_PRACTITIONER, { input: { ...practitioner, id: 'Prac 1' } }, 'BAD_USER_INPUT', /slug/],
      [UPSERT_PRACTITIONER, { input: { ...practitioner, family: '' } }, 'BAD_USER_INPUT', /family is required/],
      [UPSERT_PRACTITIONER, { input: { ...practitioner, role: 'SURGEON' } }, 'BAD_USER_INPUT'],
      [DEACTIVATE_ORG, { id: 'org-nowhere' }, 'NOT_FOUND'],
      [DEACTIVATE_PRACTITIONER, { id: 'prac-nobody' }, 'NOT_FOUND'],
    ];
    for (const [query, variables, code, message] of cases) {
      const refused = await refusal(admin, query, variables);
      expect(refused.code, JSON.stringify(variables)).toBe(code);
      if (message) expect(refused.message, JSON.stringify(variables)).toMatch(message);
    }
    for (const token of [countyDoctor, patient, await stack.token({ sub: 'cdc-officer', role: 'public_health', org: 'org-cdc' })]) {
      expect((await refusal(token, UPSERT_ORG, { input: { ...newOrganization, id: 'org-new' } })).code).toBe('FORBIDDEN');
      expect((await refusal(token, UPSERT_PRACTITIONER, { input: practitioner })).code).toBe('FORBIDDEN');
      expect((await refusal(token, DEACTIVATE_ORG, { id: NEW_ORG })).code).toBe('FORBIDDEN');
      expect((await refusal(token, CHANGES, {})).code).toBe('FORBIDDEN');
    }
    expect(await tables()).toEqual(before);
    // The log is append-only, whoever holds the database.
    await expect(stack.databases.identity.query("UPDATE registry_change SET actor_sub = 'someone-else'")).rejects.toThrow(/append-only/);
    await expect(stack.databases.identity.query('DELETE FROM registry_change')).rejects.toThrow(/append-only/);
  });

  it('has every subgraph check the organisations and practitioners named in input against the registry of the moment', async () => {
    const patientId = referred.patient.id;
    // The organisation added a moment ago receives a referral at once.
    const toNew = (await ok(thcDoctor, REFER, { input: { patientId, performerOrganizationId: NEW_ORG, reasonCode: 'I10' } })).createReferral;
    expect(toNew).toMatchObject({ status: 'REQUESTED', performer: { id: NEW_ORG } });
    const referrals = await count('encounters', 'referral');
    const unknown = await refusal(thcDoctor, REFER, { input: { patientId, performerOrganizationId: 'org-nowhere', reasonCode: 'I10' } });
    expect(unknown).toEqual({ code: 'BAD_USER_INPUT', message: 'performerOrganizationId: org-nowhere is not an organisation of the alliance registry' });

    // A consultation with the new centre's practitioner, on an accepted referral.
    const referral = (await ok(thcDoctor, REFER, { input: { patientId, performerOrganizationId: COUNTY, reasonCode: 'I10' } })).createReferral;
    await ok(countyDoctor, 'mutation($id: ID!, $t: DateTime!) { acceptReferral(id: $id, appointmentTime: $t) { id } }', { id: referral.id, t: inDays(5) });
    const consult = (participants: { practitionerId: string; organizationId: string }[]) => ({ input: { referralId: referral.id, start: inDays(2), participants } });
    const encounters = await count('encounters', 'encounter');
    const refusals: [{ practitionerId: string; organizationId: string }[], RegExp][] = [
      [[{ practitionerId: 'dr-nobody', organizationId: NEW_ORG }], /participants\[0\]\.practitionerId: dr-nobody is not a practitioner of the alliance registry/],
      [[{ practitionerId: 'prac-thc-baisha-1', organizationId: NEW_ORG }], /works for org-thc-baisha, not org-thc-lianjiang/],
      [[{ practitionerId: NEW_PRACTITIONER, organizationId: NEW_ORG }, { practitionerId: 'prac-x', organizationId: 'org-nowhere' }], /participants\[1\]\.organizationId: org-nowhere/],
    ];
    for (const [participants, message] of refusals) {
      const refused = await refusal(countyDoctor, CONSULT, consult(participants));
      expect(refused.code, JSON.stringify(participants)).toBe('BAD_USER_INPUT');
      expect(refused.message).toMatch(message);
    }
    expect(await count('encounters', 'encounter')).toBe(encounters);
    const consultation = (await ok(countyDoctor, CONSULT, consult([{ practitionerId: NEW_PRACTITIONER, organizationId: NEW_ORG }]))).scheduleRemoteConsultation;
    expect(consultation.participants).toContainEqual({ practitioner: { id: NEW_PRACTITIONER }, organization: { id: NEW_ORG }, type: 'CON' });

    // Deactivated: refused in new input, still named by the records that name it.
    expect((await refusal(admin, DEACTIVATE_ORG, { id: NEW_ORG })).code).toBe('CONFLICT');
    expect((await ok(admin, DEACTIVATE_PRACTITIONER, { id: NEW_PRACTITIONER })).deactivatePractitioner).toEqual({ id: NEW_PRACTITIONER, active: false });
    expect((await refusal(countyDoctor, CONSULT, consult([{ practitionerId: NEW_PRACTITIONER, organizationId: NEW_ORG }]))).message)
      .toMatch(/prac-thc-lianjiang-1 is no longer an active practitioner/);
    const deactivated = (await ok(admin, DEACTIVATE_ORG, { id: NEW_ORG })).deactivateOrganization;
    expect(deactivated).toMatchObject({ id: NEW_ORG, active: false, practitioners: [{ id: NEW_PRACTITIONER, active: false }] });
    expect((await changesOf(NEW_ORG)).map((c: any) => c.action)).toEqual(['DEACTIVATED', 'UPDATED', 'CREATED']);
    expect((await refusal(thcDoctor, REFER, { input: { patientId, performerOrganizationId: NEW_ORG, reasonCode: 'I10' } })).message)
      .toBe('performerOrganizationId: org-thc-lianjiang is no longer an active organisation of the alliance');
    const stay = await admit(patientId);
    expect(await refusal(countyDoctor, DISCHARGE, { input: { encounterId: stay, primaryCareOrganizationId: NEW_ORG } })).toEqual({
      code: 'BAD_USER_INPUT', message: 'primaryCareOrganizationId: org-thc-lianjiang is no longer an active organisation of the alliance',
    });
    expect(await stayStatus(stay)).toBe('in-progress');
    expect(await count('encounters', 'referral')).toBe(referrals + 1);
    const organizations = async (includeInactive: boolean) =>
      (await ok(countyDoctor, 'query($all: Boolean) { organizations(includeInactive: $all) { id } }', { all: includeInactive })).organizations.map((o: any) => o.id);
    expect(await organizations(false)).not.toContain(NEW_ORG);
    expect(await organizations(true)).toContain(NEW_ORG);
    expect((await ok(patient, 'query($id: ID!) { referral(id: $id) { performer { id name active } } }', { id: toNew.id })).referral.performer)
      .toEqual({ id: NEW_ORG, name: 'Lianjiang Township Health Centre (Minqing)', active: false });
    // The FHIR export says so too.
    const fhirToken = await stack.token({ sub: 'patient-fhir', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const exported = await fetch(`${stack.url.replace(/\/graphql$/, '')}/fhir/Patient/${patientId}/$everything`, { headers: { accept: 'application/fhir+json', authorization: `Bearer ${fhirToken}` } });
    expect(exported.status).toBe(200);
    const entries: { resource: { resourceType: string; id: string; active?: boolean } }[] = (await exported.json()).entry;
    expect(entries.find((e) => e.resource.resourceType === 'Organization' && e.resource.id === NEW_ORG)?.resource.active).toBe(false);
    expect(entries.find((e) => e.resource.resourceType === 'Organization' && e.resource.id === THC)?.resource.active).toBe(true);

    // Reactivated, it takes the discharge plan.
    expect((await ok(admin, UPSERT_ORG, { input: { ...newOrganization, active: true } })).upsertOrganization.active).toBe(true);
    expect((await changesOf(NEW_ORG))[0].action).toBe('REACTIVATED');
    const discharged = (await ok(countyDoctor, DISCHARGE, { input: { encounterId: stay, primaryCareOrganizationId: NEW_ORG } })).recordDischarge;
    expect(discharged).toMatchObject({ encounter: { status: 'finished' }, primaryCareOrganization: { id: NEW_ORG } });
    expect(discharged.followUpTasks).toHaveLength(2);
  });

  it('sends no discharge plan to a programme organisation deactivated since the enrolment', async () => {
    const meixi = 'org-thc-meixi';
    const staff = (await ok(admin, `query($id: ID!) { organization(id: $id) { practitioners { id } } }`, { id: meixi })).organization.practitioners.map((p: any) => p.id);
    for (const id of staff) await ok(admin, DEACTIVATE_PRACTITIONER, { id });
    await ok(admin, DEACTIVATE_ORG, { id: meixi });
    try {
      const stay = await admit(followed.patient.id);
      const refused = await refusal(countyDoctor, DISCHARGE, { input: { encounterId: stay } });
      expect(refused.code).toBe('BAD_USER_INPUT');
      expect(refused.message).toMatch(/programme, org-thc-meixi, is no longer active in the registry: name one \(primaryCareOrganizationId\)/);
      expect(await stayStatus(stay)).toBe('in-progress');
      expect((await ok(countyDoctor, DISCHARGE, { input: { encounterId: stay, primaryCareOrganizationId: THC } })).recordDischarge.primaryCareOrganization).toEqual({ id: THC });
    } finally {
      const [row] = await stack.databases.identity.query<Record<string, string>>('SELECT * FROM organization WHERE id = $1', [meixi]);
      await ok(admin, UPSERT_ORG, { input: { id: meixi, name: row!.name, type: 'TOWNSHIP_HEALTH_CENTRE', partOf: row!.part_of, city: row!.city, active: true } });
      for (const id of staff) {
        const [p] = await stack.databases.identity.query<Record<string, string>>('SELECT * FROM practitioner WHERE id = $1', [id]);
        await ok(admin, UPSERT_PRACTITIONER, { input: { id, organizationId: meixi, family: p!.family, given: p!.given, role: p!.role.toUpperCase(), active: true } });
      }
    }
  });

  describe('result recognition tables', () => {
    const LAB_FIELDS = 'id organization { id } code period { start end } basis active recordedBy recordedAt endedBy endedAt';
    const ADD_LAB = `mutation($input: LabResultRecognitionInput!) { addLabResultRecognition(input: $input) { ${LAB_FIELDS} } }`;
    const END_LAB = `mutation($id: ID!, $end: DateTime) { endLabResultRecognition(id: $id, end: $end) { ${LAB_FIELDS} } }`;
    const LIST_LAB = `query($org: ID, $code: String, $at: DateTime) { labResultRecognitions(organizationId: $org, code: $code, activeAt: $at) { ${LAB_FIELDS} } }`;
    const ADD_IMAGING = 'mutation($input: ImagingResultRecognitionInput!) { addImagingResultRecognition(input: $input) { id organization { id } modality period { start end } active recordedBy } }';
    const END_IMAGING = 'mutation($id: ID!) { endImagingResultRecognition(id: $id) { id active endedBy period { end } } }';
    const LIST_IMAGING = 'query($org: ID, $modality: String) { imagingResultRecognitions(organizationId: $org, modality: $modality) { id modality active } }';
    const FLAG = 'query($id: ID!) { observation(id: $id) { id recognizedAllianceWide } }';
    let observationToken: string;
    const flag = async () => (await ok(observationToken, FLAG, { id: unrecognised.id })).observation.recognizedAllianceWide;

    beforeAll(async () => {
      observationToken = await stack.token({ sub: 'patient-flag', role: 'patient', patient: unrecognised.patientId });
    });

    it('lists the seeded entries to any caller, each recorded by the seed', async () => {
      const baisha = (await ok(countyDoctor, LIST_LAB, { org: THC })).labResultRecognitions;
      expect(baisha.map((e: any) => e.code).sort()).toEqual([...BASIC].sort());
      for (const entry of baisha) expect(entry).toMatchObject({ organization: { id: THC }, recordedBy: 'demo-seed', endedBy: null, active: true, period: { start: '2024-01-01T00:00:00.000Z', end: null } });
      // Covering a code: entries for it and for every code, hospitals first by id.
      const hemoglobin = (await ok(patient, LIST_LAB, { code: '718-7', at: new Date().toISOString() })).labResultRecognitions;
      expect(hemoglobin.filter((e: any) => e.code === null).map((e: any) => e.organization.id)).toEqual(['org-county-north', 'org-county-south', 'org-provincial']);
      expect(hemoglobin.every((e: any) => e.code === null || e.code === '718-7')).toBe(true);
      expect((await ok(countyDoctor, LIST_IMAGING, { modality: 'US' })).imagingResultRecognitions.length).toBeGreaterThan(3);
    });

    it('lets an administrator recognise and stop recognising a laboratory\'s results, which changes their flag', async () => {
      expect(await flag()).toBe(false);
      const start = new Date(unrecognised.effective.getTime() - 30 * DAY).toISOString();
      const added = (await ok(admin, ADD_LAB, {
        input: { organizationId: unrecognised.organizationId, code: unrecognised.code, periodStart: start, basis: '  Alliance external quality assessment, extended panel ' },
      })).addLabResultRecognition;
      expect(added).toMatchObject({
        organization: { id: unrecognised.organizationId }, code: unrecognised.code, period: { start, end: null }, active: true,
        basis: 'Alliance external quality assessment, extended panel', recordedBy: 'admin-registry', endedBy: null, endedAt: null,
      });
      expect(await flag()).toBe(true);
      const listed = (await ok(countyDoctor, LIST_LAB, { org: unrecognised.organizationId, code: unrecognised.code, at: unrecognised.effective.toISOString() })).labResultRecognitions;
      expect(listed.map((e: any) => e.id)).toEqual([added.id]);

      // Ended before the specimen was taken: the result is no longer recognised under it.
      const end = new Date(unrecognised.effective.getTime() - DAY).toISOString();
      const ended = (await ok(admin, END_LAB, { id: added.id, end })).endLabResultRecognition;
      expect(ended).toMatchObject({ id: added.id, period: { start, end }, active: false, endedBy: 'admin-registry' });
      expect(ended.endedAt).toBeTruthy();
      expect(await flag()).toBe(false);
      expect((await refusal(admin, END_LAB, { id: added.id })).code).toBe('CONFLICT');
      expect((await refusal(admin, END_LAB, { id: 'no-such-entry' })).code).toBe('NOT_FOUND');
      const seeded = (await ok(admin, LIST_LAB, { org: THC, code: '718-7' })).labResultRecognitions.find((e: any) => e.code === '718-7');
      expect((await refusal(admin, END_LAB, { id: seeded.id, end: '2023-01-01T00:00:00Z' })).message).toMatch(/after the entry's periodStart/);
      // The table is its own history: no row is rewritten or removed.
      await expect(stack.databases.labs.query("UPDATE lab_result_recognition SET basis = 'rewritten' WHERE id = $1", [added.id])).rejects.toThrow(/only changes by being ended/);
      await expect(stack.databases.labs.query('DELETE FROM lab_result_recognition WHERE id = $1', [added.id])).rejects.toThrow(/never deleted/);
    });

    it('refuses bad entries (codes checked like queries, organisations against the registry) and non-administrators, writing nothing', async () => {
      const labs = await count('labs', 'lab_result_recognition');
      const imaging = await count('imaging', 'imaging_result_recognition');
      // The organisation added above, deactivated again (its practitioner already is).
      expect((await ok(admin, DEACTIVATE_ORG, { id: NEW_ORG })).deactivateOrganization.active).toBe(false);
      const lab = { organizationId: THC, code: '2345-7', basis: 'Alliance external quality assessment' };
      const cases: [string, Record<string, unknown>, RegExp][] = [
        [ADD_LAB, { ...lab, code: '718-8' }, /check digit/],
        [ADD_LAB, { ...lab, code: 'glucose' }, /LOINC code/],
        [ADD_LAB, { ...lab, organizationId: 'org-nowhere' }, /organizationId: org-nowhere is not an organisation of the alliance registry/],
        [ADD_LAB, { ...lab, organizationId: 'Not a slug' }, /organizationId must be/],
        [ADD_LAB, { ...lab, periodStart: '2025-01-01T00:00:00Z', periodEnd: '2024-01-01T00:00:00Z' }, /periodEnd must be after periodStart/],
        [ADD_LAB, { ...lab, basis: ' ' }, /basis/],
        [ADD_IMAGING, { organizationId: THC, modality: 'ct', basis: 'Alliance imaging quality assessment' }, /DICOM modality code/],
        [ADD_IMAGING, { organizationId: 'org-nowhere', modality: 'CT', basis: 'Alliance imaging quality assessment' }, /not an organisation of the alliance registry/],
      ];
      for (const [query, input, message] of cases) {
        const refused = await refusal(admin, query, { input });
        expect(refused.code, JSON.stringify(input)).toBe('BAD_USER_INPUT');
        expect(refused.message, JSON.stringify(input)).toMatch(message);
      }
      // A deactivated organisation is not recognised anew.
      expect(await refusal(admin, ADD_LAB, { input: { ...lab, organizationId: NEW_ORG } })).toEqual({
        code: 'BAD_USER_INPUT', message: 'organizationId: org-thc-lianjiang is no longer an active organisation of the alliance',
      });
      for (const token of [countyDoctor, patient]) {
        expect((await refusal(token, ADD_LAB, { input: lab })).code).toBe('FORBIDDEN');
        expect((await refusal(token, ADD_IMAGING, { input: { organizationId: THC, modality: 'CT', basis: 'Alliance imaging quality assessment' } })).code).toBe('FORBIDDEN');
      }
      expect(await count('labs', 'lab_result_recognition')).toBe(labs);
      expect(await count('imaging', 'imaging_result_recognition')).toBe(imaging);
    });

    it('administers the imaging table the same way', async () => {
      const added = (await ok(admin, ADD_IMAGING, { input: { organizationId: 'org-mental-health', modality: 'CT', basis: 'Provincial imaging quality-control centre, CT' } })).addImagingResultRecognition;
      expect(added).toMatchObject({ organization: { id: 'org-mental-health' }, modality: 'CT', active: true, recordedBy: 'admin-registry', period: { end: null } });
      expect((await ok(countyDoctor, LIST_IMAGING, { org: 'org-mental-health', modality: 'CT' })).imagingResultRecognitions).toEqual([{ id: added.id, modality: 'CT', active: true }]);
      const ended = (await ok(admin, END_IMAGING, { id: added.id })).endImagingResultRecognition;
      expect(ended).toMatchObject({ id: added.id, active: false, endedBy: 'admin-registry' });
      expect(ended.period.end).toBeTruthy();
    });
  });
});
