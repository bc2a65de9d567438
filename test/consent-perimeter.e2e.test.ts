/**
 * The consent and perimeter holes found when the product was probed from
 * outside, each tried again the way the prober did: through the gateway,
 * over HTTP, on the demo data, with the README's rules as the oracle.
 *
 * 1. A denied clinician (or a colleague) cannot lift the deny.
 * 2. A staff token bound to a patient reads no other patient, on any path.
 * 3. A patient claim never widens what a token reaches.
 * 5. What a caller may not see answers exactly like what does not exist.
 * 6. What a caller may not see is null *with* the documented code, everywhere.
 * 7. Staff-recorded consent names its recorder and form, is audited, shown to
 *    the patient, listed for administrators, and revocable only by its
 *    organisation (or the patient).
 * 8. Break-glass never opens very restricted (V) records.
 * (4, internal tokens, is tried in security.e2e.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../lib/synthetic/generator.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { verifyAuditChain } from '../subgraphs/identity/src/audit.js';
import { BACKENDS, startTestStack, type GraphQLResponse, type TestStack } from './support/harness.js';

const PATIENTS = 60;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const registeredAt = (b: PatientBundle, org: string) => b.patient.identifiers.some((i) => i.type === 'MR' && i.assignerOrganizationId === org);
const producedBy = (b: PatientBundle, org: string) =>
  [...b.encounters, ...b.conditions, ...b.observations, ...b.diagnosticReports, ...b.imagingStudies, ...b.immunizations].some((r) => r.organizationId === org);
const find = (what: string, predicate: (b: PatientBundle) => boolean) => {
  const found = bundles.find(predicate);
  if (!found) throw new Error(`no generated patient is ${what}`);
  return found;
};

/** P: HIV-tested at their county hospital, which registered them, with other results there too. */
const p = find('HIV-tested', (b) => b.observations.some((o) => o.sensitivityLabels.includes('HIV') && registeredAt(b, o.organizationId))
  && b.observations.some((o) => o.sensitivityLabels.length === 0));
const COUNTY = p.observations.find((o) => o.sensitivityLabels.includes('HIV'))!.organizationId;
/** Q: another patient of the same county hospital, with results and encounters there. */
const q = find('another patient of that hospital', (b) => b !== p && registeredAt(b, COUNTY) && b.observations.some((o) => o.organizationId === COUNTY && o.sensitivityLabels.length === 0)
  && b.encounters.some((e) => e.organizationId === COUNTY && e.sensitivityLabels.length === 0));
const qObservation = q.observations.find((o) => o.organizationId === COUNTY && o.sensitivityLabels.length === 0)!;
const qEncounter = q.encounters.find((e) => e.organizationId === COUNTY && e.sensitivityLabels.length === 0)!;
/** An organisation that neither registered Q nor produced anything of Q's. */
const STRANGER = ['org-thc-baisha', 'org-thc-meixi', 'org-thc-gaiyang', 'org-thc-qingliang', 'org-mental-health'].find((org) => !registeredAt(q, org) && !producedBy(q, org))!;
/** V: a sexual-assault examination (labelled V) at a county hospital that registered the patient. */
const v = find('with a very restricted examination', (b) => b.encounters.some((e) => e.sensitivityLabels.includes('V')));
const vEncounter = v.encounters.find((e) => e.sensitivityLabels.includes('V'))!;
const vOrdinary = v.encounters.filter((e) => !e.sensitivityLabels.includes('V') && e.sensitivityLabels.length === 0);
/** G: a genetic test result (labelled V) from the provincial hospital. */
const g = find('with a genetic test', (b) => b.observations.some((o) => o.sensitivityLabels.includes('V')));
const gObservation = g.observations.find((o) => o.sensitivityLabels.includes('V'))!;
/** A hospital that did not produce the V record (break-glass comes from there). */
const elsewhere = (b: PatientBundle, not: string) => ['org-county-north', 'org-county-south', 'org-provincial'].find((org) => org !== not && !registeredAt(b, org))
  ?? ['org-county-north', 'org-county-south', 'org-provincial'].find((org) => org !== not)!;

const OBSERVATIONS = `query($id: ID!) { patient(id: $id) { id observations(first: 100) { edges { node { id sensitivityLabels } } } } }`;
const GRANT = 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id active recordedBy recordedByRole recordedAtOrganization { id } attestation } }';
const REVOKE = 'mutation($id: ID!) { revokeConsent(id: $id) { id active revokedBy } }';
const codeOf = (response: GraphQLResponse<unknown>) => response.errors?.[0]?.extensions?.code;
const ids = (connection: { edges: { node: { id: string } }[] } | null | undefined) => (connection?.edges ?? []).map((e) => e.node.id);

describe.each(BACKENDS)('consent perimeter on %s', (backend) => {
  let stack: TestStack;
  let patientP: string;

  const ok = async (token: string, query: string, variables?: Record<string, unknown>) => {
    const response = await stack.graphql(token, query, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data;
  };
  const labsOf = async (token: string, bundle: PatientBundle) => ids((await stack.graphql(token, OBSERVATIONS, { id: bundle.patient.id })).data?.patient?.observations);
  const directives = async (patientId: string) =>
    stack.databases.identity.query<{ id: string; revoked_at: Date | null }>('SELECT id, revoked_at FROM consent_directive WHERE patient_id = $1', [patientId]);

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    patientP = await stack.token({ sub: 'patient-p', role: 'patient', patient: p.patient.id, scope: 'patient/*.cruds' });
  });
  afterAll(async () => stack?.close());

  describe('1. a deny protects: the person or organisation it names cannot lift it', () => {
    it('keeps a practitioner deny in force when that practitioner tries to revoke it', async () => {
      const deniedDoctor = await stack.token({ sub: 'probe-dr-h', role: 'clinician', org: COUNTY });
      const hiv = p.observations.find((o) => o.sensitivityLabels.includes('HIV'))!;
      expect(await labsOf(deniedDoctor, p)).toContain(hiv.id); // own organisation's records, before the deny
      const deny = (await ok(patientP, GRANT, { input: { patientId: p.patient.id, decision: 'DENY', actorType: 'PRACTITIONER', actorId: 'probe-dr-h', categories: ['LABS'] } })).grantConsent;
      expect(await labsOf(deniedDoctor, p)).toEqual([]);
      const attempt = await stack.graphql(deniedDoctor, REVOKE, { id: deny.id });
      expect(codeOf(attempt)).toBe('FORBIDDEN');
      expect(attempt.data?.revokeConsent ?? null).toBeNull();
      expect(await labsOf(deniedDoctor, p)).toEqual([]);
      expect((await directives(p.patient.id)).find((d) => d.id === deny.id)!.revoked_at).toBeNull();
      // The patient lifts it; the next request sees the results again.
      expect((await ok(patientP, REVOKE, { id: deny.id })).revokeConsent.active).toBe(false);
      expect(await labsOf(deniedDoctor, p)).toContain(hiv.id);
    });

    it('keeps an organisation deny in force when a colleague there tries to revoke it, and lets an app with the Consent write scope lift it', async () => {
      const colleague = await stack.token({ sub: 'dr-colleague', role: 'clinician', org: COUNTY });
      const deny = (await ok(patientP, GRANT, { input: { patientId: p.patient.id, decision: 'DENY', actorType: 'ORGANIZATION', actorId: COUNTY, categories: ['LABS'] } })).grantConsent;
      expect(await labsOf(colleague, p)).toEqual([]);
      expect(codeOf(await stack.graphql(colleague, REVOKE, { id: deny.id }))).toBe('FORBIDDEN');
      // Even a directive the colleague's own organisation recorded on paper cannot be a deny of theirs to lift.
      const onPaper = await stack.graphql(colleague, GRANT, { input: { patientId: p.patient.id, decision: 'DENY', actorType: 'ALLIANCE', categories: ['IMAGING'], attestation: 'paper-form-77' } });
      expect(onPaper.errors).toBeUndefined();
      expect(codeOf(await stack.graphql(colleague, REVOKE, { id: onPaper.data.grantConsent.id }))).toBe('FORBIDDEN');
      expect(await labsOf(colleague, p)).toEqual([]);
      // An app without the write scope cannot; one with it (bound to this patient) can.
      const reader = await stack.token({ sub: 'u', role: 'app', client_id: 'diary', patient: p.patient.id, scope: 'patient/*.rs' });
      expect(codeOf(await stack.graphql(reader, REVOKE, { id: deny.id }))).toBe('FORBIDDEN');
      const writer = await stack.appToken({ sub: 'u', client_id: 'consent-manager', patient: p.patient.id, scope: 'patient/Consent.cruds patient/Patient.rs' });
      expect((await ok(writer, REVOKE, { id: deny.id })).revokeConsent.active).toBe(false);
      expect((await ok(writer, REVOKE, { id: onPaper.data.grantConsent.id })).revokeConsent.active).toBe(false);
      expect((await labsOf(colleague, p)).length).toBeGreaterThan(0);
    });
  });

  describe('2 and 3. a patient claim binds every token to that patient and never widens it', () => {
    it('refuses a clinician bound to P every record of Q, which the same clinician unbound reads', async () => {
      const unbound = await stack.token({ sub: 'dr-bound', role: 'clinician', org: COUNTY });
      const bound = await stack.token({ sub: 'dr-bound', role: 'clinician', org: COUNTY, patient: p.patient.id, scope: 'patient/*.rs' });
      const lookups = `query($o: ID!, $e: ID!) { observation(id: $o) { id } encounter(id: $e) { id } }`;
      expect((await ok(unbound, lookups, { o: qObservation.id, e: qEncounter.id }))).toEqual({ observation: { id: qObservation.id }, encounter: { id: qEncounter.id } });
      const refused = await stack.graphql(bound, lookups, { o: qObservation.id, e: qEncounter.id });
      expect(refused.data).toEqual({ observation: null, encounter: null });
      expect(codeOf(await stack.graphql(bound, OBSERVATIONS, { id: q.patient.id }))).toBe('FORBIDDEN');
      const timeline = await stack.graphql(bound, 'query($id: ID!) { patient(id: $id) { timeline(first: 5) { edges { node { __typename } } withheldCount } } }', { id: q.patient.id });
      expect(timeline.data?.patient ?? null).toBeNull();
      const fhir = await fetch(`${stack.url.replace(/\/graphql$/, '')}/fhir/Patient/${q.patient.id}/$everything`, { headers: { authorization: `Bearer ${bound}` } });
      expect(fhir.status).toBe(403);
      // Its own patient it reads as staff of that hospital.
      expect((await labsOf(bound, p)).length).toBeGreaterThan(0);
    });

    it('gives a token bound to Q at an organisation with no tie to Q exactly what it gets without the claim: nothing', async () => {
      const query = 'query($id: ID!) { patient(id: $id) { id timeline(first: 5) { withheldCount } } }';
      const plain = await stack.token({ sub: 'dr-far', role: 'clinician', org: STRANGER });
      const claimed = await stack.token({ sub: 'dr-far', role: 'clinician', org: STRANGER, patient: q.patient.id, scope: 'patient/*.rs' });
      expect((await stack.graphql(plain, query, { id: q.patient.id })).data).toEqual({ patient: null });
      const withClaim = await stack.graphql(claimed, query, { id: q.patient.id });
      expect(withClaim.data).toEqual({ patient: null });
      expect(withClaim.errors).toBeUndefined();
      expect(await labsOf(claimed, q)).toEqual([]);
    });
  });

  describe('5. no existence oracles', () => {
    it('answers an identifier of a patient out of reach exactly like an unknown one', async () => {
      const query = 'query($s: String!, $v: String!) { patientByIdentifier(system: $s, value: $v) { id } }';
      const card = q.patient.identifiers.find((i) => i.type === 'HC')!;
      const someoneElse = await stack.graphql(patientP, query, { s: card.system, v: card.value });
      const nobody = await stack.graphql(patientP, query, { s: SYSTEM.healthCard, v: 'HC00000000000000' });
      expect(someoneElse.status).toBe(nobody.status);
      expect({ data: someoneElse.data, errors: someoneElse.errors }).toEqual({ data: nobody.data, errors: nobody.errors });
      expect(someoneElse.data).toEqual({ patientByIdentifier: null });
      // Staff with no tie to Q: the same.
      const stranger = await stack.token({ sub: 'dr-far', role: 'clinician', org: STRANGER });
      expect((await stack.graphql(stranger, query, { s: card.system, v: card.value })).data).toEqual({ patientByIdentifier: null });
    });

    it('answers consent writes about a patient out of reach exactly like writes about no patient', async () => {
      const stranger = await stack.token({ sub: 'dr-far', role: 'clinician', org: STRANGER });
      const input = (patientId: string) => ({ patientId, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: STRANGER, attestation: 'form-1' });
      const real = await stack.graphql(stranger, GRANT, { input: input(q.patient.id) });
      const unknown = await stack.graphql(stranger, GRANT, { input: input('00000000-0000-4000-8000-00000000abcd') });
      expect(real.errors?.map((e) => [e.message, e.extensions?.code])).toEqual(unknown.errors?.map((e) => [e.message, e.extensions?.code]));
      expect(codeOf(real)).toBe('NOT_FOUND');
    });

    it('answers a revocation of a directive the caller may not act on exactly like one of an unknown id, for every kind of token', async () => {
      const patientQ = await stack.token({ sub: 'q', role: 'patient', patient: q.patient.id, scope: 'patient/*.cruds' });
      const qDirective = (await ok(patientQ, GRANT,
        { input: { patientId: q.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: 'org-provincial', categories: ['IMMUNIZATIONS'] } })).grantConsent.id;
      const UNKNOWN = '00000000-0000-4000-8000-00000000abcd';
      /** The whole answer to a revocation: status, data and every error's message and code. */
      const answer = async (token: string, id: string) => {
        const response = await stack.graphql(token, REVOKE, { id });
        return { status: response.status, data: response.data ?? null, errors: response.errors?.map((e) => [e.message, e.extensions?.code]) };
      };
      const indistinguishable = async (who: string, token: string) => {
        const real = await answer(token, qDirective);
        const unknown = await answer(token, UNKNOWN);
        expect(real, who).toEqual(unknown);
        expect(real.data?.revokeConsent ?? null, who).toBeNull();
        return real.errors?.[0]?.[1];
      };
      // Bound to another patient, with every scope: not theirs to see.
      expect(await indistinguishable('patient bound to P', patientP)).toBe('NOT_FOUND');
      const writerForP = await stack.token({ sub: 'u', role: 'app', client_id: 'consent-manager', patient: p.patient.id, scope: 'patient/Consent.cruds patient/Patient.rs' });
      expect(await indistinguishable('app bound to P with the Consent write scope', writerForP)).toBe('NOT_FOUND');
      // Refused by the token alone, whatever the id: the same refusal for a real directive and an unknown one.
      const readerForP = await stack.token({ sub: 'u', role: 'app', client_id: 'diary', patient: p.patient.id, scope: 'patient/*.rs' });
      expect(await indistinguishable('app bound to P without the Consent write scope', readerForP)).toBe('FORBIDDEN');
      const readerForQ = await stack.token({ sub: 'u', role: 'app', client_id: 'diary', patient: q.patient.id, scope: 'patient/*.rs' });
      expect(await indistinguishable('app bound to Q without the Consent write scope', readerForQ)).toBe('FORBIDDEN');
      const admin = await stack.token({ sub: 'admin', role: 'admin' });
      expect(await indistinguishable('admin', admin)).toBe('FORBIDDEN');
      const writingAdmin = await stack.token({ sub: 'admin', role: 'admin', scope: 'user/*.cruds' });
      expect(await indistinguishable('admin with every write scope', writingAdmin)).toBe('FORBIDDEN');
      const officer = await stack.token({ sub: 'ph-officer', role: 'public_health', org: 'org-cdc' });
      expect(await indistinguishable('public health', officer)).toBe('FORBIDDEN');
      // Staff with no tie to Q: not theirs to see.
      const stranger = await stack.token({ sub: 'dr-far', role: 'clinician', org: STRANGER });
      expect(await indistinguishable('staff with no tie to Q', stranger)).toBe('NOT_FOUND');
      // Staff Q shared lab results with find Q, but not Q's directives: still not theirs to see.
      const LAB_ONLY = ['org-thc-baisha', 'org-thc-meixi', 'org-thc-gaiyang', 'org-thc-qingliang', 'org-mental-health']
        .find((org) => org !== STRANGER && !registeredAt(q, org) && !producedBy(q, org))!;
      const labsShared = (await ok(patientQ, GRANT, { input: { patientId: q.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: LAB_ONLY, categories: ['LABS'] } })).grantConsent.id;
      const sharedWith = await stack.token({ sub: 'dr-shared', role: 'clinician', org: LAB_ONLY });
      expect((await ok(sharedWith, 'query($id: ID!) { patient(id: $id) { id } }', { id: q.patient.id })).patient).toEqual({ id: q.patient.id });
      expect(await indistinguishable('staff Q shared lab results with', sharedWith)).toBe('NOT_FOUND');
      // Once Q shares the directives too, they see this one: refused with the reason, which tells them nothing they cannot read.
      const consentsShared = (await ok(patientQ, GRANT, { input: { patientId: q.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: LAB_ONLY, categories: ['CONSENTS'] } })).grantConsent.id;
      const seen = await ok(sharedWith, 'query($id: ID!) { patient(id: $id) { consents { id } } }', { id: q.patient.id });
      expect(seen.patient.consents.map((c: { id: string }) => c.id)).toContain(qDirective);
      const refused = await answer(sharedWith, qDirective);
      expect(refused.errors?.[0]?.[1]).toBe('FORBIDDEN');
      expect(refused).not.toEqual(await answer(sharedWith, UNKNOWN));
      // Nothing was revoked on the way; Q lifts the shares again.
      expect((await directives(q.patient.id)).find((d) => d.id === qDirective)!.revoked_at).toBeNull();
      for (const id of [consentsShared, labsShared, qDirective]) expect((await ok(patientQ, REVOKE, { id })).revokeConsent.active).toBe(false);
    });
  });

  describe('6. withheld is never silent', () => {
    it('gives an incoming referral\'s patient fields the consent code when the receiving hospital may not see them', async () => {
      const township = q.patient.identifiers.find((i) => i.type === 'MR' && i.assignerOrganizationId!.startsWith('org-thc-'))!.assignerOrganizationId!;
      const receiving = ['org-county-north', 'org-county-south', 'org-provincial'].find((org) => !registeredAt(q, org) && !producedBy(q, org))!;
      const referrer = await stack.token({ sub: 'dr-thc', role: 'clinician', org: township });
      await ok(referrer, 'mutation($input: ReferralInput!) { createReferral(input: $input) { id } }', { input: { patientId: q.patient.id, performerOrganizationId: receiving, reasonCode: 'I10' } });
      const receiver = await stack.token({ sub: 'dr-receiving', role: 'clinician', org: receiving });
      const response = await stack.graphql(receiver, '{ incomingReferrals(first: 100) { edges { node { id patient { id name { text } birthDate } } } } }');
      const referrals = response.data.incomingReferrals.edges.map((e: any) => e.node);
      const index = referrals.findIndex((r: any) => r.patient?.id === q.patient.id);
      expect(index).toBeGreaterThanOrEqual(0);
      expect(referrals[index].patient).toEqual({ id: q.patient.id, name: null, birthDate: null });
      for (const field of ['name', 'birthDate']) {
        const error = response.errors?.find((e) => e.path?.join('.') === `incomingReferrals.edges.${index}.node.patient.${field}`);
        expect(error?.extensions?.code, field).toBe('CONSENT_DENIED');
        expect(error?.message, field).toBeTruthy();
      }
    });

    it('gives a diagnosis\'s encounter the consent code when only diagnoses were shared', async () => {
      const condition = q.conditions.find((c) => c.organizationId === COUNTY && c.sensitivityLabels.length === 0)!;
      const patientQ = await stack.token({ sub: 'q', role: 'patient', patient: q.patient.id, scope: 'patient/*.cruds' });
      await ok(patientQ, GRANT, { input: { patientId: q.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: STRANGER, categories: ['DIAGNOSES'] } });
      const shared = await stack.token({ sub: 'dr-far', role: 'clinician', org: STRANGER });
      const response = await stack.graphql(shared, 'query($id: ID!) { patient(id: $id) { conditions(first: 100) { edges { node { id encounter { id class } } } } } }', { id: q.patient.id });
      const edges = response.data.patient.conditions.edges as { node: { id: string; encounter: unknown } }[];
      const index = edges.findIndex((e) => e.node.id === condition.id);
      expect(index).toBeGreaterThanOrEqual(0);
      expect(edges[index]!.node.encounter).toBeNull();
      const error = response.errors?.find((e) => e.path?.join('.') === `patient.conditions.edges.${index}.node.encounter`);
      expect(error?.extensions?.code).toBe('CONSENT_DENIED');
    });
  });

  describe('7. staff-recorded consent is accountable', () => {
    it('names the recorder and the signed form, is audited as a consent change, shown to the patient and listed for administrators', async () => {
      const recorder = await stack.token({ sub: 'dr-recorder', role: 'clinician', org: COUNTY });
      const before = (await directives(p.patient.id)).length;
      const input = { patientId: p.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: 'org-provincial', categories: ['LABS'] };
      expect(codeOf(await stack.graphql(recorder, GRANT, { input }))).toBe('BAD_USER_INPUT');
      expect((await directives(p.patient.id)).length).toBe(before);
      const granted = (await ok(recorder, GRANT, { input: { ...input, attestation: 'scan-2026-11-0042' } })).grantConsent;
      expect(granted).toMatchObject({ recordedBy: 'dr-recorder', recordedByRole: 'clinician', recordedAtOrganization: { id: COUNTY }, attestation: 'scan-2026-11-0042' });

      const mine = await ok(patientP, `query($id: ID!) { patient(id: $id) {
        consents { id recordedBy recordedByRole recordedAtOrganization { id name } attestation }
        accessLog(first: 50) { edges { node { action actorSub actorRole actorOrganization { id } consentChange { directiveId decision attestation recordedByRole } } } } } }`, { id: p.patient.id });
      expect(mine.patient.consents.find((c: any) => c.id === granted.id)).toMatchObject({ recordedBy: 'dr-recorder', recordedByRole: 'clinician', attestation: 'scan-2026-11-0042' });
      const event = mine.patient.accessLog.edges.map((e: any) => e.node).find((n: any) => n.consentChange?.directiveId === granted.id);
      // A paper form recorded by staff is a request until countersigned (consent-confirmation.e2e.test.ts goes further).
      expect(event).toMatchObject({ action: 'CONSENT_REQUESTED', actorSub: 'dr-recorder', actorRole: 'clinician', actorOrganization: { id: COUNTY }, consentChange: { decision: 'PERMIT', attestation: 'scan-2026-11-0042', recordedByRole: 'clinician' } });

      const admin = await stack.token({ sub: 'admin', role: 'admin' });
      const review = await ok(admin, '{ staffRecordedConsents(first: 100) { edges { node { action actorSub patientId consentChange { directiveId attestation } } } } }');
      expect(review.staffRecordedConsents.edges.map((e: any) => e.node)).toContainEqual({ action: 'CONSENT_REQUESTED', actorSub: 'dr-recorder', patientId: p.patient.id, consentChange: { directiveId: granted.id, attestation: 'scan-2026-11-0042' } });
      // Patient-made changes are not staff-recorded.
      expect(review.staffRecordedConsents.edges.every((e: any) => e.node.actorSub !== 'patient-p')).toBe(true);
      expect(codeOf(await stack.graphql(recorder, '{ staffRecordedConsents { edges { node { id } } } }'))).toBe('FORBIDDEN');

      // Revocable by staff of the recording organisation, not by staff elsewhere; audited too.
      const provincial = await stack.token({ sub: 'dr-prov', role: 'clinician', org: 'org-provincial' });
      expect(codeOf(await stack.graphql(provincial, REVOKE, { id: granted.id }))).toMatch(/FORBIDDEN|NOT_FOUND/);
      const colleague = await stack.token({ sub: 'dr-colleague2', role: 'clinician', org: COUNTY });
      expect((await ok(colleague, REVOKE, { id: granted.id })).revokeConsent).toMatchObject({ active: false, revokedBy: 'dr-colleague2' });
      const [revocation] = await stack.databases.identity.query<{ action: string; actor_sub: string }>(
        `SELECT action, actor_sub FROM audit_event WHERE action = 'consent-revoked' AND details->>'directiveId' = $1`, [granted.id]);
      expect(revocation).toEqual({ action: 'consent-revoked', actor_sub: 'dr-colleague2' });
      expect((await verifyAuditChain(stack.databases.identity)).firstBroken).toBeNull();
    });
  });

  describe('8. break-glass never opens very restricted (V) records', () => {
    const ENCOUNTERS = `query($id: ID!) { patient(id: $id) { id encounters(first: 100) { edges { node { id sensitivityLabels } } } } }`;
    const encountersOf = async (token: string, bundle: PatientBundle) => ids((await stack.graphql(token, ENCOUNTERS, { id: bundle.patient.id })).data?.patient?.encounters);

    it('keeps a sexual-assault examination closed to an emergency clinician elsewhere, on every path, while opening the rest', async () => {
      const emergency = await stack.token({ sub: 'dr-er', role: 'clinician', org: elsewhere(v, vEncounter.organizationId), purpose_of_use: 'ETREAT', break_glass_reason: 'Unconscious patient in the emergency room' });
      const seen = await encountersOf(emergency, v);
      expect(seen).not.toContain(vEncounter.id);
      for (const ordinary of vOrdinary) expect(seen).toContain(ordinary.id);
      expect((await ok(emergency, 'query($id: ID!) { encounter(id: $id) { id } }', { id: vEncounter.id })).encounter).toBeNull();
      const timeline = await ok(emergency, 'query($id: ID!) { patient(id: $id) { timeline(first: 100, kinds: [ENCOUNTER, DIAGNOSIS]) { edges { node { ... on Encounter { id } ... on Condition { id } } } } } }', { id: v.patient.id });
      const onTimeline = timeline.patient.timeline.edges.map((e: any) => e.node.id);
      expect(onTimeline).not.toContain(vEncounter.id);
      expect(onTimeline).not.toContain(v.conditions.find((c) => c.encounterId === vEncounter.id)!.id);
      const bundle = await (await fetch(`${stack.url.replace(/\/graphql$/, '')}/fhir/Patient/${v.patient.id}/$everything`, { headers: { authorization: `Bearer ${emergency}` } })).json();
      expect(JSON.stringify(bundle)).not.toContain(vEncounter.id);
      expect(bundle.entry.some((e: any) => e.resource.resourceType === 'Encounter')).toBe(true);
      // The producing hospital and the patient see it.
      const producer = await stack.token({ sub: 'dr-own', role: 'clinician', org: vEncounter.organizationId });
      expect(await encountersOf(producer, v)).toContain(vEncounter.id);
      const patientV = await stack.token({ sub: 'v', role: 'patient', patient: v.patient.id });
      expect(await encountersOf(patientV, v)).toContain(vEncounter.id);
    });

    it('keeps a genetic test result closed to an emergency clinician elsewhere, even with a permit that does not name V', async () => {
      const org = elsewhere(g, 'org-provincial');
      const patientG = await stack.token({ sub: 'g', role: 'patient', patient: g.patient.id, scope: 'patient/*.cruds' });
      await ok(patientG, GRANT, { input: { patientId: g.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: org, categories: ['LABS'], labels: ['GDIS'] } });
      const emergency = await stack.token({ sub: 'dr-er2', role: 'clinician', org, purpose_of_use: 'ETREAT', break_glass_reason: 'Anaphylaxis, collapsed in clinic' });
      expect(await labsOf(emergency, g)).not.toContain(gObservation.id);
      expect((await ok(emergency, 'query($id: ID!) { observation(id: $id) { id valueString } }', { id: gObservation.id })).observation).toBeNull();
      expect(await labsOf(patientG, g)).toContain(gObservation.id);
    });
  });
});
