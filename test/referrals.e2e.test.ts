/**
 * The referral workflow end to end, through the gateway: a township health
 * centre refers a patient up to the county hospital, which sees the referral
 * but the rest of the record only once the patient approves the consent the
 * referral asks for; the county hospital accepts, holds a remote consultation
 * with the township doctor, completes the referral and refers the patient
 * back down. Every step is checked for the organisation allowed to take it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../lib/synthetic/generator.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 60;
const THC = 'org-thc-baisha';
const COUNTY = 'org-county-north';
const ELSEWHERE = 'org-county-south';
/** A clinician of the township centre in identity's registry (the demo registry's prac-<org>-<n>). */
const THC_PRACTITIONER = 'prac-thc-baisha-1';
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const producedBy = (b: PatientBundle, org: string) => [...b.encounters, ...b.conditions, ...b.observations, ...b.imagingStudies].some((r) => r.organizationId === org);
const registeredAt = (b: PatientBundle, org: string) => b.patient.identifiers.some((i) => i.assignerOrganizationId === org);
/** Registered at the township centre, unknown to both county hospitals, with diagnoses from elsewhere. */
const bundle = bundles.find((b) => registeredAt(b, THC) && ![COUNTY, ELSEWHERE].some((org) => registeredAt(b, org) || producedBy(b, org))
  && b.conditions.some((c) => c.sensitivityLabels.length === 0))!;
const patientId = bundle.patient.id;

const REFERRAL_FIELDS = `id status requester { id } performer { id } reason { system code } note appointmentTime statusReason
  consentRequest { categories status } consultations { id class }`;
const CREATE = `mutation($input: ReferralInput!) { createReferral(input: $input) { ${REFERRAL_FIELDS} } }`;
const GET = `query($id: ID!) { referral(id: $id) { ${REFERRAL_FIELDS} } }`;
const CONDITIONS = `query($id: ID!) { patient(id: $id) { id conditions(first: 100) { edges { node { id } } } } }`;
const INCOMING = '{ incomingReferrals(first: 100) { edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }';
/** The referrals of an incomingReferrals page. */
const incoming = (data: any): { id: string; status: string }[] => data.incomingReferrals.edges.map((edge: { node: { id: string; status: string } }) => edge.node);

describe.each(BACKENDS)('referrals and remote consultation on %s', (backend) => {
  let stack: TestStack;
  let thcDoctor: string;
  let countyDoctor: string;
  let otherDoctor: string;
  let patient: string;
  let referralId: string;

  const ok = async (token: string, query: string, variables?: Record<string, unknown>) => {
    const response = await stack.graphql(token, query, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data;
  };
  const code = async (token: string, query: string, variables?: Record<string, unknown>) => (await stack.graphql(token, query, variables)).errors?.[0]?.extensions?.code;
  const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

  beforeAll(async () => {
    expect(bundle, 'a generated patient fits this test').toBeDefined();
    stack = await startTestStack(backend, { patients: PATIENTS });
    thcDoctor = await stack.token({ sub: 'dr-thc', role: 'clinician', org: THC });
    countyDoctor = await stack.token({ sub: 'dr-county', role: 'clinician', org: COUNTY });
    otherDoctor = await stack.token({ sub: 'dr-south', role: 'clinician', org: ELSEWHERE });
    patient = await stack.token({ sub: 'patient', role: 'patient', patient: patientId });
  });
  afterAll(async () => stack?.close());

  it('lets the township centre refer up; the county hospital sees the referral but not the record', async () => {
    const input = { patientId, performerOrganizationId: COUNTY, reasonCode: 'I10', reasonDisplay: 'Essential hypertension', note: 'BP uncontrolled on two drugs', consentRequestCategories: ['DEMOGRAPHICS', 'DIAGNOSES'] };
    const created = (await ok(thcDoctor, CREATE, { input })).createReferral;
    referralId = created.id;
    expect(created).toMatchObject({
      status: 'REQUESTED', requester: { id: THC }, performer: { id: COUNTY }, reason: { system: 'http://hl7.org/fhir/sid/icd-10', code: 'I10' },
      note: 'BP uncontrolled on two drugs', appointmentTime: null, consentRequest: { categories: ['DEMOGRAPHICS', 'DIAGNOSES'], status: 'PENDING' }, consultations: [],
    });
    expect(incoming(await ok(countyDoctor, INCOMING))).toContainEqual({ id: referralId, status: 'REQUESTED' });
    expect((await ok(countyDoctor, GET, { id: referralId })).referral).toMatchObject({ id: referralId, note: 'BP uncontrolled on two drugs' });
    // The rest of the record stays closed until the patient agrees.
    expect((await stack.graphql(countyDoctor, CONDITIONS, { id: patientId })).data.patient).toBeNull();
    // A third organisation sees neither the referral nor that it exists.
    expect((await ok(otherDoctor, GET, { id: referralId })).referral).toBeNull();
    expect(incoming(await ok(otherDoctor, INCOMING)).some((r) => r.id === referralId)).toBe(false);
    expect(await code(otherDoctor, 'mutation($id: ID!, $t: DateTime!) { acceptReferral(id: $id, appointmentTime: $t) { id } }', { id: referralId, t: inDays(3) })).toBe('NOT_FOUND');
  });

  it('opens the diagnoses to the county hospital once the patient approves the consent request', async () => {
    expect((await ok(patient, GET, { id: referralId })).referral.consentRequest.status).toBe('PENDING');
    await ok(patient, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', {
      input: { patientId, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: COUNTY, categories: ['DEMOGRAPHICS', 'DIAGNOSES'], purposes: ['TREAT'] },
    });
    expect((await ok(countyDoctor, GET, { id: referralId })).referral.consentRequest.status).toBe('APPROVED');
    const shared = (await ok(countyDoctor, CONDITIONS, { id: patientId })).patient.conditions.edges.map((e: any) => e.node.id).sort();
    expect(shared).toEqual(bundle.conditions.filter((c) => c.sensitivityLabels.length === 0).map((c) => c.id).sort());
    // The permit is for the county hospital only.
    expect((await stack.graphql(otherDoctor, CONDITIONS, { id: patientId })).data.patient).toBeNull();
  });

  it('accepts once, holds a remote consultation with both organisations, completes and refers back', async () => {
    const accept = 'mutation($id: ID!, $t: DateTime!) { acceptReferral(id: $id, appointmentTime: $t) { id status appointmentTime } }';
    const appointment = inDays(3);
    expect(await code(thcDoctor, accept, { id: referralId, t: appointment })).toBe('FORBIDDEN');
    expect((await ok(countyDoctor, accept, { id: referralId, t: appointment })).acceptReferral).toEqual({ id: referralId, status: 'ACCEPTED', appointmentTime: appointment });
    expect(await code(countyDoctor, accept, { id: referralId, t: appointment })).toBe('CONFLICT');

    const schedule = `mutation($input: RemoteConsultationInput!) { scheduleRemoteConsultation(input: $input) {
      id class status organization { id } referral { id } participants { practitioner { id } organization { id } type } } }`;
    const consultation = (await ok(countyDoctor, schedule, {
      input: { referralId, start: inDays(2), participants: [{ practitionerId: THC_PRACTITIONER, organizationId: THC }] },
    })).scheduleRemoteConsultation;
    expect(consultation).toMatchObject({ class: 'VIRTUAL', status: 'planned', organization: { id: COUNTY }, referral: { id: referralId } });
    expect(consultation.participants).toEqual([
      { practitioner: { id: 'dr-county' }, organization: { id: COUNTY }, type: 'PPRF' },
      { practitioner: { id: THC_PRACTITIONER }, organization: { id: THC }, type: 'CON' },
    ]);
    // Both sides see the consultation; the third organisation does not.
    const ENCOUNTER = 'query($id: ID!) { encounter(id: $id) { id class referral { id } } }';
    expect((await ok(thcDoctor, ENCOUNTER, { id: consultation.id })).encounter).toEqual({ id: consultation.id, class: 'VIRTUAL', referral: { id: referralId } });
    expect((await ok(otherDoctor, ENCOUNTER, { id: consultation.id })).encounter).toBeNull();
    expect((await ok(thcDoctor, GET, { id: referralId })).referral.consultations).toEqual([{ id: consultation.id, class: 'VIRTUAL' }]);
    const virtual = (await ok(patient, 'query($id: ID!) { patient(id: $id) { encounters(first: 100, class: VIRTUAL) { edges { node { id } } } } }', { id: patientId }))
      .patient.encounters.edges.map((e: any) => e.node.id);
    expect(virtual.sort()).toEqual([consultation.id, ...bundle.encounters.filter((e) => e.class === 'VR').map((e) => e.id)].sort());

    const complete = 'mutation($id: ID!) { completeReferral(id: $id) { id status } }';
    expect(await code(thcDoctor, complete, { id: referralId })).toBe('FORBIDDEN');
    expect((await ok(countyDoctor, complete, { id: referralId })).completeReferral.status).toBe('COMPLETED');
    expect(await code(thcDoctor, 'mutation($id: ID!) { cancelReferral(id: $id) { id } }', { id: referralId })).toBe('CONFLICT');
    expect((await ok(thcDoctor, GET, { id: referralId })).referral.status).toBe('COMPLETED');

    // Back down to primary care: the county hospital may refer now that the patient shares demographics with it.
    const back = (await ok(countyDoctor, CREATE, {
      input: { patientId, performerOrganizationId: THC, reasonCode: 'I10', note: 'New regimen started; please follow up blood pressure monthly' },
    })).createReferral;
    expect(back).toMatchObject({ status: 'REQUESTED', requester: { id: COUNTY }, performer: { id: THC }, consentRequest: null });
    expect(incoming(await ok(thcDoctor, INCOMING))).toContainEqual({ id: back.id, status: 'REQUESTED' });
    const accepted = await ok(thcDoctor, 'mutation($id: ID!, $t: DateTime!) { acceptReferral(id: $id, appointmentTime: $t) { status } }', { id: back.id, t: inDays(30) });
    expect(accepted.acceptReferral.status).toBe('ACCEPTED');
    const stored = await stack.databases.encounters.query<{ status: string }>('SELECT status FROM referral WHERE id = ANY($1::uuid[]) ORDER BY authored_on', [[referralId, back.id]]);
    expect(stored.map((r) => r.status)).toEqual(['completed', 'accepted']);
  });

  it('declines with a reason the referring side reads, and cancels', async () => {
    const created = (await ok(thcDoctor, CREATE, { input: { patientId, performerOrganizationId: ELSEWHERE, reasonCode: 'E11.9' } })).createReferral;
    const decline = 'mutation($id: ID!, $r: String!) { declineReferral(id: $id, reason: $r) { id status statusReason } }';
    expect(await code(otherDoctor, decline, { id: created.id, r: '  ' })).toBe('BAD_USER_INPUT');
    expect((await ok(otherDoctor, decline, { id: created.id, r: 'No endocrinology clinic; refer to the provincial hospital' })).declineReferral.status).toBe('DECLINED');
    expect((await ok(thcDoctor, GET, { id: created.id })).referral).toMatchObject({ status: 'DECLINED', statusReason: 'No endocrinology clinic; refer to the provincial hospital' });
    const another = (await ok(thcDoctor, CREATE, { input: { patientId, performerOrganizationId: 'org-provincial', reasonCode: 'E11.9' } })).createReferral;
    expect(await code(countyDoctor, 'mutation($id: ID!) { cancelReferral(id: $id) { id } }', { id: another.id })).toBe('NOT_FOUND');
    expect((await ok(thcDoctor, 'mutation($id: ID!) { cancelReferral(id: $id, reason: "Seen locally") { status statusReason } }', { id: another.id })).cancelReferral)
      .toEqual({ status: 'CANCELLED', statusReason: 'Seen locally' });
  });

  it('refuses bad input and callers who may not refer, without writing anything', async () => {
    const before = (await stack.databases.encounters.query<{ n: number }>('SELECT count(*)::int AS n FROM referral'))[0]!.n;
    const input = { patientId, performerOrganizationId: COUNTY, reasonCode: 'I10' };
    expect(await code(thcDoctor, CREATE, { input: { ...input, reasonCode: 'hypertension' } })).toBe('BAD_USER_INPUT');
    expect(await code(thcDoctor, CREATE, { input: { ...input, performerOrganizationId: 'org-nowhere' } })).toBe('BAD_USER_INPUT');
    expect(await code(thcDoctor, CREATE, { input: { ...input, performerOrganizationId: THC } })).toBe('BAD_USER_INPUT');
    expect(await code(thcDoctor, CREATE, { input: { ...input, consentRequestCategories: ['EVERYTHING'] } })).toBe('BAD_USER_INPUT');
    expect(await code(thcDoctor, CREATE, { input: { ...input, patientId: 'not-a-uuid' } })).toBe('BAD_USER_INPUT');
    expect(await code(patient, CREATE, { input })).toBe('FORBIDDEN');
    const readOnly = await stack.token({ sub: 'dr-ro', role: 'clinician', org: THC, scope: 'user/*.rs' });
    expect(await code(readOnly, CREATE, { input })).toBe('FORBIDDEN');
    // A patient the caller's organisation does not know cannot be referred by it.
    const stranger = bundles.find((b) => b !== bundle && !registeredAt(b, ELSEWHERE))!;
    expect(await code(otherDoctor, CREATE, { input: { ...input, patientId: stranger.patient.id } })).toBe('NOT_FOUND');
    const after = (await stack.databases.encounters.query<{ n: number }>('SELECT count(*)::int AS n FROM referral'))[0]!.n;
    expect(after).toBe(before);
  });
});
