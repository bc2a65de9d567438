/**
 * CarePlan and CareTeam, added by following docs/adding-a-record-type.md,
 * end to end through the gateway over HTTP on every backend: read through
 * GraphQL (every coding kept, members and locations as sent), filtered by
 * consent at record and field level (the recording organisation, a permit
 * for care plans and not for another category, the diagnoses a plan
 * addresses under their own category, public-health staff outside the
 * programme rule, sensitivity labels), on the timeline (CARE_PLAN,
 * CARE_TEAM), in `$everything` (valid FHIR R4), in FHIR search and
 * published (transaction, batch, create, conditional create, update,
 * provenance, scopes) with a round trip compared element by element.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { institutionBundles } from '../lib/synthetic/fhir-bundles.js';
import { DEFAULT_SEED, generatePatient, type CarePlanRecord, type CareTeamRecord, type PatientBundle } from '../lib/synthetic/generator.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type GraphQLResponse, type TestStack } from './support/harness.js';
import { recordTypeCalls } from './support/record-consent.js';
import type { FhirBundle } from './support/publish.js';
import { lostElements } from './support/round-trip.js';

type Json = Record<string, any>;
const SNOMED = SYSTEM.snomed;
const LOCAL = 'https://org-county-north.example.org/CodeSystem/care-plans';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const HOSPITALS = ['org-county-north', 'org-county-south', 'org-provincial', 'org-mental-health', 'org-thc-baisha', 'org-thc-gaiyang', 'org-thc-meixi', 'org-thc-qingliang'];

const PATIENTS = 40;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const registrations = (b: PatientBundle) => b.patient.identifiers.filter((i) => i.type === 'MR').map((i) => i.assignerOrganizationId!);
/** A patient with a care plan and its team, recorded at one organisation, registered at another too. */
const planned = bundles.find((b) => b.carePlans.length && registrations(b).length > 1 && registrations(b).includes(b.carePlans[0]!.organizationId)) as PatientBundle;
const RECORDER = planned.carePlans[0]!.organizationId;
const COLLEAGUE = registrations(planned).find((org) => org !== RECORDER)!;
const strangers = HOSPITALS.filter((org) => org !== RECORDER && org !== COLLEAGUE);

const CONCEPT = '{ coding { system code display } text }';
const REFERENCE = '{ reference type identifier { system value } display }';
const PLANS = `query Plans($id: ID!) { patient(id: $id) { id carePlans(first: 100) { edges { node {
  id status intent category ${CONCEPT} period { start end } activity { code ${CONCEPT} status location ${REFERENCE} } careTeam { id }
  organization { id } sensitivityLabels } } } } }`;
const TEAMS = `query Teams($id: ID!) { patient(id: $id) { id careTeams(first: 100) { edges { node {
  id status period { start end } participant { role ${CONCEPT} member ${REFERENCE} } reasonCode ${CONCEPT} managingOrganization { id }
  organization { id } sensitivityLabels } } } } }`;
const ADDRESSES = `query Addresses($id: ID!) { patient(id: $id) { carePlans(first: 100) { edges { node { id addresses { id } } } } } }`;
const TIMELINE = `query Timeline($id: ID!, $kinds: [TimelineKind!]) { patient(id: $id) { timeline(first: 100, kinds: $kinds) { edges { kind occurredAt node {
  __typename ... on CarePlan { id intent } ... on CareTeam { id } } } } } }`;

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);
const planIds = (response: GraphQLResponse<any>) => (response.data?.patient?.carePlans?.edges ?? []).map((e: { node: { id: string } }) => e.node.id).sort();
const teamIds = (response: GraphQLResponse<any>) => (response.data?.patient?.careTeams?.edges ?? []).map((e: { node: { id: string } }) => e.node.id).sort();

function careTeamResource(patientReference: string, org: string, options: { labels?: string[]; localId?: string } = {}): Json {
  return {
    resourceType: 'CareTeam',
    identifier: [{ system: `https://${org}.example.org/care-teams`, value: options.localId ?? `team-${crypto.randomUUID()}` }],
    ...(options.labels ? { meta: { security: options.labels.map((code) => ({ system: ACT_CODE, code })) } } : {}),
    status: 'active',
    subject: { reference: patientReference },
    period: { start: '2026-01-10T02:00:00.000Z' },
    participant: [
      { role: [{ coding: [{ system: SNOMED, code: '158965000', display: 'Medical practitioner (occupation)' }] }], member: { reference: 'Practitioner/prac-county-north-1', display: 'Dr Wang' } },
      { role: [{ coding: [{ system: SNOMED, code: '224535009', display: 'Registered nurse (occupation)' }, { system: LOCAL, code: 'CDN', display: 'Chronic disease nurse' }] }],
        member: { type: 'Practitioner', identifier: { system: `https://${org}.example.org/sid/staff`, value: 'N20931' }, display: 'Nurse Lin' } },
      { role: [{ text: 'Managing organisation' }], member: { reference: `Organization/${org}` } },
    ],
    reasonCode: [{ coding: [{ system: SNOMED, code: '38341003', display: 'Hypertensive disorder, systemic arterial (disorder)' }] }],
    managingOrganization: [{ reference: `Organization/${org}` }],
  };
}

function carePlanResource(patientReference: string, org: string, options: { labels?: string[]; localId?: string; team?: string; conditions?: string[] } = {}): Json {
  return {
    resourceType: 'CarePlan',
    identifier: [{ system: `https://${org}.example.org/care-plans`, value: options.localId ?? `plan-${crypto.randomUUID()}` }],
    ...(options.labels ? { meta: { security: options.labels.map((code) => ({ system: ACT_CODE, code })) } } : {}),
    status: 'active',
    intent: 'plan',
    category: [{ coding: [{ system: SNOMED, code: '443402002', display: 'Lifestyle education regarding hypertension (procedure)' }, { system: LOCAL, code: 'HTN-1', display: 'Hypertension plan' }], text: 'Hypertension plan' }],
    subject: { reference: patientReference },
    period: { start: '2026-01-10T02:00:00.000Z', end: '2026-07-10T02:00:00.000Z' },
    ...(options.team ? { careTeam: [{ reference: options.team }] } : {}),
    ...(options.conditions ? { addresses: options.conditions.map((reference) => ({ reference })) } : {}),
    activity: [
      { detail: { code: { coding: [{ system: SNOMED, code: '229065009', display: 'Exercise therapy (regime/therapy)' }] }, status: 'in-progress',
        location: { reference: 'Location?identifier=https://hospital.example.org/location|CLINIC-1', display: 'Chronic disease clinic' } } },
      { detail: { code: { text: 'Blood pressure check every two weeks' }, status: 'scheduled' } },
    ],
  };
}

describe.each(BACKENDS)('CarePlan and CareTeam on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  let patientToken: string;
  const { send, clinician, system, get, everything, grant, revoke } = recordTypeCalls(() => stack, { id: () => planned.patient.id, token: () => patientToken });
  const of = (bundle: FhirBundle, type: string) => bundle.entry.filter((e) => e.resource.resourceType === type).map((e) => e.resource);

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    base = stack.url.replace(/\/graphql$/, '');
    patientToken = await stack.token({ sub: 'patient-planned', role: 'patient', patient: planned.patient.id, scope: 'patient/*.cruds' });
  });
  afterAll(async () => stack?.close());

  it('reads care plans and care teams through GraphQL as recorded: every coding, members and locations as sent, the team and the diagnosis linked', async () => {
    const plans = await stack.graphql(patientToken, PLANS, { id: planned.patient.id });
    expect(plans.errors).toBeUndefined();
    const planShape = (p: CarePlanRecord) => ({
      id: p.id, status: p.status, intent: p.intent, category: p.categories, period: { start: iso(p.periodStart), end: iso(p.periodEnd) },
      activity: p.activities, careTeam: p.careTeamId ? [{ id: p.careTeamId }] : [], organization: { id: p.organizationId }, sensitivityLabels: [],
    });
    expect(plans.data.patient.carePlans.edges.map((e: Json) => e.node)).toEqual(planned.carePlans.map(planShape));
    const teams = await stack.graphql(patientToken, TEAMS, { id: planned.patient.id });
    expect(teams.errors).toBeUndefined();
    const teamShape = (t: CareTeamRecord) => ({
      id: t.id, status: t.status, period: { start: iso(t.periodStart), end: iso(t.periodEnd) }, participant: t.participants, reasonCode: t.reasonCodes,
      managingOrganization: t.managedByProducer ? { id: t.organizationId } : null, organization: { id: t.organizationId }, sensitivityLabels: [],
    });
    expect(teams.data.patient.careTeams.edges.map((e: Json) => e.node)).toEqual(planned.careTeams.map(teamShape));
    const addresses = await stack.graphql(patientToken, ADDRESSES, { id: planned.patient.id });
    expect(addresses.errors).toBeUndefined();
    expect(addresses.data.patient.carePlans.edges.map((e: Json) => e.node.addresses)).toEqual(planned.carePlans.map((p) => p.addressesConditionIds.map((id) => ({ id }))));
  });

  it('shows the recording organisation its plans and teams, others none without a permit; a care-plans permit opens them, not the diagnoses they address', async () => {
    const plans = planned.carePlans.map((p) => p.id).sort();
    const teams = planned.careTeams.map((t) => t.id).sort();
    const own = await clinician(RECORDER);
    expect(planIds(await stack.graphql(own, PLANS, { id: planned.patient.id }))).toEqual(plans);
    expect(teamIds(await stack.graphql(own, TEAMS, { id: planned.patient.id }))).toEqual(teams);
    const stranger = strangers[0]!;
    const token = await clinician(stranger);
    expect(planIds(await stack.graphql(token, PLANS, { id: planned.patient.id }))).toEqual([]);
    expect(teamIds(await stack.graphql(token, TEAMS, { id: planned.patient.id }))).toEqual([]);
    const diagnoses = await grant({ actorId: stranger, categories: ['DIAGNOSES'] });
    expect(planIds(await stack.graphql(token, PLANS, { id: planned.patient.id }))).toEqual([]);
    await revoke(diagnoses);
    const carePlans = await grant({ actorId: stranger, categories: ['CARE_PLANS'] });
    expect(planIds(await stack.graphql(token, PLANS, { id: planned.patient.id }))).toEqual(plans);
    expect(teamIds(await stack.graphql(token, TEAMS, { id: planned.patient.id }))).toEqual(teams);
    // Field level: the diagnoses a plan addresses are of their own category.
    const addresses = await stack.graphql(token, ADDRESSES, { id: planned.patient.id });
    expect(addresses.data.patient.carePlans.edges.every((e: Json) => e.node.addresses === null)).toBe(true);
    expect(addresses.errors?.find((e) => e.path?.join('.') === 'patient.carePlans.edges.0.node.addresses')?.extensions?.code).toBe('CONSENT_DENIED');
    // A scope that does not name CarePlan reaches none of them, permit or not; one naming CarePlan alone not the teams.
    expect(planIds(await stack.graphql(await clinician(stranger, { scope: 'user/Condition.rs' }), PLANS, { id: planned.patient.id }))).toEqual([]);
    const plansOnly = await clinician(stranger, { scope: 'user/CarePlan.rs' });
    expect(planIds(await stack.graphql(plansOnly, PLANS, { id: planned.patient.id }))).toEqual(plans);
    await revoke(carePlans);
    expect(planIds(await stack.graphql(token, PLANS, { id: planned.patient.id }))).toEqual([]);
  });

  it('keeps care plans from public-health staff, even of a programme the patient is enrolled in (not in PUBLIC_HEALTH_CATEGORIES), and a labelled plan from a permit not naming the label', async () => {
    const officer = await stack.token({ sub: 'ph-officer', role: 'public_health', org: 'org-cdc', scope: 'user/*.rs' });
    // The officer reaches the patient (their programme's enrolee: the enrolments are shown), not the plans.
    expect(planned.enrollments.length).toBeGreaterThan(0);
    const enrolments = await stack.graphql(officer, 'query($id: ID!) { patient(id: $id) { programEnrollments(first: 10) { edges { node { id } } } } }', { id: planned.patient.id });
    expect(enrolments.data.patient.programEnrollments.edges.length).toBeGreaterThan(0);
    const answer = await stack.graphql(officer, PLANS, { id: planned.patient.id });
    expect(planIds(answer)).toEqual([]);
    expect(teamIds(await stack.graphql(officer, TEAMS, { id: planned.patient.id }))).toEqual([]);
    const labelled = await send('/fhir/CarePlan', await system(RECORDER), carePlanResource(`Patient/${planned.patient.id}`, RECORDER, { labels: ['PSY'] }));
    expect(labelled.status, labelled.text).toBe(201);
    const id = String(labelled.headers.get('location')).split('/')[1]!;
    const stranger = strangers[1]!;
    const token = await clinician(stranger);
    const plain = await grant({ actorId: stranger, categories: ['CARE_PLANS'] });
    expect(planIds(await stack.graphql(token, PLANS, { id: planned.patient.id }))).not.toContain(id);
    const naming = await grant({ actorId: stranger, categories: ['CARE_PLANS'], labels: ['PSY'] });
    expect(planIds(await stack.graphql(token, PLANS, { id: planned.patient.id }))).toContain(id);
    await revoke(plain);
    await revoke(naming);
  });

  it('puts plans and teams on the timeline as CARE_PLAN and CARE_TEAM entries at the start of their period, filtered by kind and by consent', async () => {
    const only = await stack.graphql(patientToken, TIMELINE, { id: planned.patient.id, kinds: ['CARE_PLAN', 'CARE_TEAM'] });
    expect(only.errors).toBeUndefined();
    const edges = only.data.patient.timeline.edges as Json[];
    expect(edges.every((e) => (e.kind === 'CARE_PLAN' && e.node.__typename === 'CarePlan') || (e.kind === 'CARE_TEAM' && e.node.__typename === 'CareTeam'))).toBe(true);
    for (const p of planned.carePlans) expect(edges.find((e) => e.node.id === p.id)?.occurredAt).toBe(p.periodStart.toISOString());
    for (const t of planned.careTeams) expect(edges.find((e) => e.node.id === t.id)?.occurredAt).toBe(t.periodStart.toISOString());
    const stranger = await stack.graphql(await clinician(strangers[2]!), TIMELINE, { id: planned.patient.id, kinds: ['CARE_PLAN', 'CARE_TEAM'] });
    expect(stranger.data?.patient?.timeline?.edges ?? []).toEqual([]);
  });

  it('exports plans and teams in $everything as valid FHIR R4, linked to each other and to the diagnoses in the bundle', async () => {
    const bundle = await everything(patientToken, planned.patient.id);
    expect(schemaErrors(bundle)).toEqual([]);
    const plans = of(bundle, 'CarePlan');
    const teams = of(bundle, 'CareTeam');
    for (const p of planned.carePlans) {
      const resource = plans.find((r) => r.id === p.id)!;
      expect(resource).toMatchObject({ status: p.status, intent: p.intent, subject: { reference: `Patient/${planned.patient.id}` }, period: { start: iso(p.periodStart) } });
      expect(resource.category[0].coding).toEqual(p.categories[0]!.coding);
      expect(resource.careTeam).toEqual([{ reference: `CareTeam/${p.careTeamId}` }]);
      expect(resource.addresses).toEqual(p.addressesConditionIds.map((id) => ({ reference: `Condition/${id}` })));
      expect(resource.activity.map((a: Json) => a.detail.status)).toEqual(p.activities.map((a) => a.status));
    }
    for (const t of planned.careTeams) {
      const resource = teams.find((r) => r.id === t.id)!;
      expect(resource.participant.map((x: Json) => x.member.reference ?? x.member.identifier.value)).toEqual(t.participants.map((x) => x.member.reference ?? x.member.identifier!.value));
      expect(resource.managingOrganization).toEqual([{ reference: `Organization/${t.organizationId}` }]);
    }
    // Without diagnoses (an app reading care plans only), a plan names no Condition the bundle does not hold.
    const app = await stack.appToken({ sub: 'app', patient: planned.patient.id, client_id: 'diary', scope: 'patient/CarePlan.rs' });
    const appBundle = await everything(app, planned.patient.id);
    expect(schemaErrors(appBundle)).toEqual([]);
    expect(of(appBundle, 'CarePlan').map((r) => r.id).sort()).toEqual(planned.carePlans.map((p) => p.id).sort());
    expect(of(appBundle, 'CarePlan').every((r) => r.addresses === undefined && r.careTeam === undefined)).toBe(true);
    expect(of(appBundle, 'CareTeam')).toEqual([]);
  });

  it('finds plans and teams with FHIR search by patient, category, status, date and _id, within consent', async () => {
    const token = await clinician(RECORDER);
    const search = async (query: string, who = token) => {
      const answer = await get(who, query);
      expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(200);
      return ((answer.body.entry ?? []) as Json[]).filter((e) => e.search?.mode === 'match').map((e) => e.resource.id as string).sort();
    };
    const patient = `patient=${planned.patient.id}`;
    const plan = planned.carePlans[0]!;
    const team = planned.careTeams[0]!;
    const category = plan.categories[0]!.coding[0]!;
    expect(await search(`/fhir/CarePlan?${patient}&category=${encodeURIComponent(`${category.system}|${category.code}`)}`)).toEqual(expect.arrayContaining([plan.id]));
    expect(await search(`/fhir/CarePlan?${patient}&category=${encodeURIComponent(`${SNOMED}|734163000`)}`)).not.toContain(plan.id);
    expect(await search(`/fhir/CarePlan?${patient}&status=${plan.status}`)).toContain(plan.id);
    expect(await search(`/fhir/CarePlan?${patient}&status=draft`)).toEqual([]);
    expect(await search(`/fhir/CarePlan?${patient}&date=le${plan.periodStart.toISOString().slice(0, 10)}`)).toContain(plan.id);
    expect(await search(`/fhir/CarePlan?${patient}&date=lt1990-01-01`)).toEqual([]);
    expect(await search(`/fhir/CarePlan?${patient}&_id=${plan.id}`)).toEqual([plan.id]);
    expect(await search(`/fhir/CareTeam?${patient}&status=${team.status}`)).toContain(team.id);
    expect(await search(`/fhir/CareTeam?${patient}&_id=${team.id}`)).toEqual([team.id]);
    expect((await get(token, `/fhir/CareTeam/${team.id}`)).body.id).toBe(team.id);
    const stranger = await clinician(strangers[3]!);
    expect(await search(`/fhir/CarePlan?${patient}`, stranger)).toEqual([]);
    expect((await get(stranger, `/fhir/CarePlan/${plan.id}`)).status).toBe(404);
  });

  it('publishes a team and its plan: a transaction round trip exported back element by element, a retry matched, an update by its organisation', async () => {
    const org = 'org-county-north';
    const patientUrl = `urn:uuid:${crypto.randomUUID()}`;
    const teamUrl = `urn:uuid:${crypto.randomUUID()}`;
    const registration = await send('/fhir', await system(org), { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient' }, resource: {
        resourceType: 'Patient', name: [{ family: 'Ma', given: ['Jun'] }], gender: 'male', birthDate: '1958-09-21',
        identifier: [{ system: SYSTEM.healthCard, value: `HC-${crypto.randomUUID()}` }, { system: SYSTEM.mrnPrefix + org, value: `MR-${crypto.randomUUID()}` }],
      } },
      { fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'Condition' }, resource: {
        resourceType: 'Condition', clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        code: { coding: [{ system: SYSTEM.icd10, code: 'I10', display: 'Essential (primary) hypertension' }] }, subject: { reference: patientUrl }, recordedDate: '2026-01-08T08:00:00.000Z',
      } },
    ] });
    expect(registration.status, registration.text).toBe(200);
    const patientId = String(registration.body.entry[0].response.location).split('/')[1]!;
    const conditionRef = String(registration.body.entry[1].response.location);
    const team = careTeamResource(`Patient/${patientId}`, org, { labels: ['ETH'] });
    const plan = carePlanResource(`Patient/${patientId}`, org, { team: teamUrl, conditions: [conditionRef] });
    const entries = [
      { fullUrl: teamUrl, request: { method: 'POST', url: 'CareTeam' }, resource: team },
      { fullUrl: `urn:uuid:${crypto.randomUUID()}`, request: { method: 'POST', url: 'CarePlan', ifNoneExist: `identifier=${plan.identifier[0].system}|${plan.identifier[0].value}` }, resource: plan },
    ];
    const transaction = await send('/fhir', await system(org), { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(transaction.status, transaction.text).toBe(200);
    expect(transaction.body.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created']);
    const locations = new Map<string, string>(entries.map((e, n) => [e.fullUrl, String(transaction.body.entry[n].response.location)]));
    const planId = String(transaction.body.entry[1].response.location).split('/')[1]!;
    const token = await stack.token({ sub: 'patient-ma', role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const bundle = await everything(token, patientId);
    expect(schemaErrors(bundle)).toEqual([]);
    expect(lostElements(team, of(bundle, 'CareTeam')[0], (ref) => locations.get(ref))).toEqual([]);
    expect(lostElements(plan, of(bundle, 'CarePlan')[0], (ref) => locations.get(ref))).toEqual([]);
    expect(of(bundle, 'CareTeam')[0]!.meta.security).toEqual(expect.arrayContaining([{ system: ACT_CODE, code: 'ETH', display: expect.any(String) }]));

    const again = await send('/fhir/CarePlan', await system(org), { ...plan, careTeam: [{ reference: locations.get(teamUrl) }] },
      { headers: { 'if-none-exist': `identifier=${plan.identifier[0].system}|${plan.identifier[0].value}` } });
    expect(again.status, again.text).toBe(200);
    expect(again.headers.get('location')).toBe(`CarePlan/${planId}`);

    const completed = { ...plan, id: planId, status: 'completed', careTeam: [{ reference: locations.get(teamUrl) }] };
    const update = await send(`/fhir/CarePlan/${planId}`, await system(org), completed, { method: 'PUT' });
    expect(update.status, update.text).toBe(200);
    const updated = of(await everything(token, patientId), 'CarePlan')[0]!;
    expect(updated.status).toBe('completed');
    expect(lostElements(completed, updated, (ref) => ref)).toEqual([]);
  });

  it('gives back a synthetic patient\'s institution bundles (procedures, care teams and plans as the demo publishes them) element by element', async () => {
    // Not one of the seeded patients: published here for the first time, by every institution that recorded something.
    const generated = generatePatient(DEFAULT_SEED, 202);
    expect(generated.procedures.length && generated.carePlans.length && generated.careTeams.length).toBeGreaterThan(0);
    const sent: { bundle: Json; locations: Map<string, string> }[] = [];
    for (const { organizationId, bundle } of institutionBundles(generated)) {
      const answer = await send('/fhir', await system(organizationId), bundle);
      expect(answer.status, answer.text.slice(0, 2000)).toBe(200);
      sent.push({ bundle, locations: new Map(bundle.entry.map((e: Json, n: number) => [e.fullUrl as string, answer.body.entry[n].response.location as string])) });
    }
    const patientId = sent[0]!.locations.get(sent[0]!.bundle.entry[0].fullUrl)!.split('/')[1]!;
    const exported = await everything(await stack.token({ sub: 'patient-202', role: 'patient', patient: patientId, scope: 'patient/*.rs' }), patientId);
    const byLocation = new Map(exported.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
    const types = new Set<string>();
    const lost = sent.flatMap(({ bundle, locations }) => (bundle.entry as Json[])
      .filter((e) => ['Procedure', 'CarePlan', 'CareTeam'].includes(e.resource.resourceType))
      .flatMap((e) => {
        types.add(e.resource.resourceType);
        const back = byLocation.get(locations.get(e.fullUrl)!);
        return back ? lostElements(e.resource, back, (ref) => locations.get(ref)).map((path) => `${e.resource.resourceType} ${path}`) : [`${e.fullUrl}: not in $everything`];
      }));
    expect(types).toEqual(new Set(['Procedure', 'CarePlan', 'CareTeam']));
    expect(lost).toEqual([]);
  });

  it('refuses what it cannot keep, naming the element, entry by entry in a batch, and writes nothing for it', async () => {
    const org = RECORDER;
    const token = await system(org);
    const patient = `Patient/${planned.patient.id}`;
    const count = async (table: string) => (await stack.databases['public-health'].query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;
    const before = { plans: await count('care_plan'), teams: await count('care_team') };
    const plan = () => carePlanResource(patient, org);
    const team = () => careTeamResource(patient, org);
    const batch = await send('/fhir', token, {
      resourceType: 'Bundle', type: 'batch', entry: [
        { request: { method: 'POST', url: 'CarePlan' }, resource: plan() },
        { request: { method: 'POST', url: 'CareTeam' }, resource: team() },
        { request: { method: 'POST', url: 'CarePlan' }, resource: { ...plan(), intent: 'wish' } },
        { request: { method: 'POST', url: 'CarePlan' }, resource: { ...plan(), period: undefined } },
        { request: { method: 'POST', url: 'CarePlan' }, resource: { ...plan(), activity: [{ detail: { code: { text: 'Walk' }, status: 'someday' } }] } },
        { request: { method: 'POST', url: 'CarePlan' }, resource: { ...plan(), addresses: [{ reference: 'Observation/8f1c1c1e-0000-4000-8000-000000000001' }] } },
        { request: { method: 'POST', url: 'CarePlan' }, resource: { ...plan(), description: 'Lower the blood pressure' } },
        { request: { method: 'POST', url: 'CareTeam' }, resource: { ...team(), managingOrganization: [{ reference: `Organization/${COLLEAGUE}` }] } },
        { request: { method: 'POST', url: 'CareTeam' }, resource: { ...team(), participant: [{ member: { reference: `Organization/${COLLEAGUE}` } }] } },
        { request: { method: 'POST', url: 'CareTeam' }, resource: { ...team(), status: 'forming' } },
        { request: { method: 'POST', url: 'CarePlan' }, resource: { ...plan(), category: [{ coding: [{ system: SNOMED, code: '443402003' }] }] } },
      ],
    });
    expect(batch.status, batch.text).toBe(200);
    const answers = batch.body.entry.map((e: Json) => [e.response.status, e.response.outcome?.issue?.[0]?.expression?.[0] ?? null]);
    expect(answers).toEqual([
      ['201 Created', null],
      ['201 Created', null],
      ['400 Bad Request', 'Bundle.entry[2].resource.intent'],
      ['400 Bad Request', 'Bundle.entry[3].resource.period.start'],
      ['400 Bad Request', 'Bundle.entry[4].resource.activity[0].detail.status'],
      ['400 Bad Request', 'Bundle.entry[5].resource.addresses[0]'],
      ['422 Unprocessable Entity', 'Bundle.entry[6].resource.description'],
      ['403 Forbidden', 'Bundle.entry[7].resource.managingOrganization[0]'],
      ['403 Forbidden', 'Bundle.entry[8].resource.participant[0].member'],
      ['400 Bad Request', 'Bundle.entry[9].resource.status'],
      ['400 Bad Request', 'Bundle.entry[10].resource.category[0].coding[0].code'],
    ]);
    expect({ plans: await count('care_plan'), teams: await count('care_team') }).toEqual({ plans: before.plans + 1, teams: before.teams + 1 });
    // A Condition of the same transaction (encounters' entry) is linked by the record id encounters gave it; in a batch, refused.
    const conditionUrl = `urn:uuid:${crypto.randomUUID()}`;
    const condition = {
      resourceType: 'Condition', clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: { coding: [{ system: SYSTEM.icd10, code: 'I10' }] }, subject: { reference: patient }, recordedDate: '2026-01-08T08:00:00.000Z',
      identifier: [{ system: `https://${org}.example.org/conditions`, value: `c-${crypto.randomUUID()}` }],
    };
    const linked = carePlanResource(patient, org, { conditions: [conditionUrl] });
    const inBundle = await send('/fhir', token, { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: conditionUrl, request: { method: 'POST', url: 'Condition', ifNoneExist: `identifier=${condition.identifier[0]!.system}|${condition.identifier[0]!.value}` }, resource: condition },
      { request: { method: 'POST', url: 'CarePlan' }, resource: linked },
    ] });
    expect(inBundle.status, inBundle.text).toBe(200);
    const conditionId = String(inBundle.body.entry[0].response.location).split('/')[1]!;
    const linkedId = String(inBundle.body.entry[1].response.location).split('/')[1]!;
    const [row] = await stack.databases['public-health'].query<{ ids: string[] }>('SELECT addresses_condition_ids AS ids FROM care_plan WHERE id = $1', [linkedId]);
    expect(row!.ids).toEqual([conditionId]);
    // Sent again (a retry): the Condition's conditional create matches, and the new plan names the existing Condition.
    const retry = await send('/fhir', token, { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: conditionUrl, request: { method: 'POST', url: 'Condition', ifNoneExist: `identifier=${condition.identifier[0]!.system}|${condition.identifier[0]!.value}` }, resource: condition },
      { request: { method: 'POST', url: 'CarePlan' }, resource: carePlanResource(patient, org, { conditions: [conditionUrl] }) },
    ] });
    expect(retry.status, retry.text).toBe(200);
    expect(retry.body.entry[0].response.location).toBe(`Condition/${conditionId}`);
    const [again] = await stack.databases['public-health'].query<{ ids: string[] }>('SELECT addresses_condition_ids AS ids FROM care_plan WHERE id = $1', [String(retry.body.entry[1].response.location).split('/')[1]]);
    expect(again!.ids).toEqual([conditionId]);
    const batchLink = await send('/fhir', token, { resourceType: 'Bundle', type: 'batch', entry: [
      { fullUrl: conditionUrl, request: { method: 'POST', url: 'Condition' }, resource: condition },
      { request: { method: 'POST', url: 'CarePlan' }, resource: carePlanResource(patient, org, { conditions: [conditionUrl] }) },
    ] });
    expect(batchLink.body.entry[1].response.status).toBe('400 Bad Request');
    expect(batchLink.body.entry[1].response.outcome.issue[0].expression).toEqual(['Bundle.entry[1].resource.addresses[0]']);
    const plansNow = before.plans + 3;
    expect(await count('care_plan')).toBe(plansNow);
    // Only the recording organisation updates its plan; scopes are per resource type.
    const theirs = planned.carePlans[0]!;
    const takeover = await send(`/fhir/CarePlan/${theirs.id}`, await system(COLLEAGUE), { ...carePlanResource(patient, COLLEAGUE), id: theirs.id }, { method: 'PUT' });
    expect(takeover.status, takeover.text).toBe(404);
    const teamsOnly = await send('/fhir/CarePlan', await system(org, 'system/CareTeam.cru'), plan());
    expect(teamsOnly.status).toBe(403);
    expect(await count('care_plan')).toBe(plansNow);
  });
});
