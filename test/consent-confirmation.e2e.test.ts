/**
 * Staff-recorded directives need the patient's confirmation (issue #25,
 * docs/consent.md), through the gateway over HTTP, on every backend. B
 * registered P (with P's phone and e-mail); A registered P by the card (with
 * a phone of its own choosing). A's clinician records a permit for A:
 *
 * - until P confirms it is PENDING, not in force, and P sees it (and
 *   approves or declines it in their app, or an app with the Consent write
 *   scope does);
 * - a one-time code goes to the contact P registered — the phone B recorded,
 *   never the one A typed in — through a real SMS provider's HTTP API (a
 *   local server here) or SMTP (a local SMTP server, nodemailer sending);
 *   the clinician enters it; a wrong code counts, a used one is dead;
 * - paper: marked as such, countersigned by a second staff member of another
 *   role, flagged for review;
 * - every step is audited as a consent change and shown to the patient.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender } from './support/publish.js';

type Json = Record<string, any>;
const A = 'org-county-north';
const B = 'org-county-south';
const GRANT = 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id status confirmation flaggedForReview active } }';
const DIRECTIVE = 'id status confirmation confirmedBy confirmedByRole flaggedForReview active';
let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36).toUpperCase()}${++sequence}`;

/** What the SMS provider and the SMTP server received. */
const sms: { to: string; text: string; authorization?: string }[] = [];
const mails: { to: string; text: string }[] = [];

describe.each(BACKENDS)('the patient confirms what staff record, on %s', (backend) => {
  let stack: TestStack;
  let provider: Server;
  let smtp: SMTPServer;
  let patientId: string;
  let bLabs: string;
  const send = fhirSender(() => stack.url.replace(/\/graphql$/, ''));
  const system = (org: string) => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope: 'system/*.cru' });
  const staff = (org: string, sub: string, role: 'clinician' | 'nurse' = 'clinician') => stack.token({ sub, role, org, scope: 'user/*.cruds' });
  const patient = () => stack.token({ sub: 'p', role: 'patient', patient: patientId, scope: 'patient/*.cruds' });
  const call = (token: string, query: string, variables: Json) => stack.graphql(token, query, variables);
  const ok = async (token: string, query: string, variables: Json) => {
    const response = await call(token, query, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data;
  };
  const aReadsB = async () => {
    const response = await call(await staff(A, 'dr-a'), 'query($id: ID!) { observation(id: $id) { id } }', { id: bLabs });
    return response.data?.observation?.id === bLabs;
  };
  const request = async (confirmation: string, extra: Json = {}) =>
    (await ok(await staff(A, 'dr-a'), GRANT, { input: { patientId, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: A, categories: ['LABS'], confirmation, ...extra } })).grantConsent;
  const revoke = async (id: string) => ok(await patient(), 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id });

  beforeAll(async () => {
    provider = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        sms.push({ ...JSON.parse(body), authorization: req.headers.authorization });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    process.env.CONSENT_NOTIFIER = 'http-sms';
    process.env.CONSENT_NOTIFIER_SMS_URL = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/messages`;
    process.env.CONSENT_NOTIFIER_SMS_TOKEN = 'provider-secret';
    smtp = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onData(stream, session, callback) {
        let text = '';
        stream.on('data', (chunk) => { text += chunk; });
        stream.on('end', () => { mails.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), text }); callback(); });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));

    stack = await startTestStack(backend, { patients: 0 });
    const card = unique('HC');
    const patientResource = (org: string, phone: string, email?: string) => ({
      resourceType: 'Patient', gender: 'female', birthDate: '1985-03-04', name: [{ family: 'He', given: ['Ning'] }],
      telecom: [{ system: 'phone', value: phone }, ...(email ? [{ system: 'email', value: email }] : [])],
      identifier: [{ system: SYSTEM.healthCard, value: card }, { system: SYSTEM.mrnPrefix + org, value: unique('MR') }],
    });
    const observation = { resourceType: 'Observation', status: 'final', subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' }, code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] }, effectiveDateTime: '2026-02-01T09:10:00Z', valueQuantity: { value: 13.4, unit: 'g/dL' } };
    const b = await send('/fhir', await system(B), { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000001', request: { method: 'POST', url: 'Patient' }, resource: patientResource(B, '+8613800000001', 'ning@example.org') },
      { request: { method: 'POST', url: 'Observation' }, resource: observation },
    ] });
    expect(b.status, b.text).toBe(200);
    patientId = String(b.body.entry[0].response.location).split('/')[1]!;
    bLabs = String(b.body.entry[1].response.location).split('/')[1]!;
    const a = await send('/fhir/Patient', await system(A), patientResource(A, '+8613999999999'));
    expect(a.status, a.text).toBe(201);
  });
  afterAll(async () => {
    await stack?.close();
    provider?.close();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  });

  it('keeps a request pending, out of force and shown to the patient, until the patient approves it in their app', async () => {
    expect(await aReadsB()).toBe(false);
    const pending = await request('PATIENT_APP');
    expect(pending).toMatchObject({ status: 'PENDING', confirmation: 'PATIENT_APP', active: false });
    expect(await aReadsB()).toBe(false);
    const mine = await ok(await patient(), `query($id: ID!) { patient(id: $id) { consents { ${DIRECTIVE} recordedBy recordedAtOrganization { id } } } }`, { id: patientId });
    expect(mine.patient.consents).toContainEqual(expect.objectContaining({ id: pending.id, status: 'PENDING', recordedBy: 'dr-a', recordedAtOrganization: { id: A } }));
    // Staff cannot approve their own request; another patient's token answers as for an unknown id.
    expect((await call(await staff(A, 'dr-a'), 'mutation($id: ID!) { approveConsentRequest(id: $id) { id } }', { id: pending.id })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const other = await stack.token({ sub: 'q', role: 'patient', patient: crypto.randomUUID(), scope: 'patient/*.cruds' });
    const [theirs, unknown] = await Promise.all([pending.id, crypto.randomUUID()].map(async (id) => (await call(other, 'mutation($id: ID!) { approveConsentRequest(id: $id) { id } }', { id })).errors?.map((e) => [e.message, e.extensions?.code])));
    expect(theirs).toEqual(unknown);
    const approved = await ok(await patient(), `mutation($id: ID!) { approveConsentRequest(id: $id) { ${DIRECTIVE} } }`, { id: pending.id });
    expect(approved.approveConsentRequest).toMatchObject({ status: 'ACTIVE', active: true, confirmedBy: 'p', confirmedByRole: 'patient' });
    expect(await aReadsB()).toBe(true);
    await revoke(pending.id);
    expect(await aReadsB()).toBe(false);
    // Declined (here by an app with the Consent write scope): never in force.
    const second = await request('PATIENT_APP');
    const app = await stack.appToken({ sub: 'p', client_id: 'consent-manager', patient: patientId, scope: 'patient/Consent.cruds' });
    expect((await ok(app, `mutation($id: ID!) { declineConsentRequest(id: $id) { ${DIRECTIVE} } }`, { id: second.id })).declineConsentRequest).toMatchObject({ status: 'DECLINED', active: false });
    expect(await aReadsB()).toBe(false);
    expect((await call(await patient(), 'mutation($id: ID!) { approveConsentRequest(id: $id) { id } }', { id: second.id })).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    // Audited and shown to the patient.
    const log = await ok(await patient(), 'query($id: ID!) { patient(id: $id) { accessLog(first: 50) { edges { node { action actorSub consentChange { directiveId status } } } } } }', { id: patientId });
    const changes = log.patient.accessLog.edges.map((e: Json) => e.node).filter((n: Json) => [pending.id, second.id].includes(n.consentChange?.directiveId));
    expect(changes.map((c: Json) => `${c.action}:${c.consentChange.status}`).sort()).toEqual(
      ['CONSENT_CONFIRMED:ACTIVE', 'CONSENT_DECLINED:DECLINED', 'CONSENT_REQUESTED:PENDING', 'CONSENT_REQUESTED:PENDING', 'CONSENT_REVOKED:ACTIVE'].sort());
  });

  it('confirms with a one-time code sent to the contact the patient registered (SMS), never to one the requesting organisation recorded', async () => {
    sms.length = 0;
    const pending = await request('ONE_TIME_CODE');
    expect(pending.status).toBe('PENDING');
    await expect.poll(() => sms.length).toBe(1);
    expect(sms[0]).toMatchObject({ to: '+8613800000001', authorization: 'Bearer provider-secret' });
    expect(JSON.stringify(sms)).not.toContain('+8613999999999');
    const code = /\b(\d{6})\b/.exec(sms[0]!.text)![1]!;
    const CONFIRM = `mutation($id: ID!, $code: String!) { confirmConsentRequest(id: $id, code: $code) { ${DIRECTIVE} } }`;
    const wrong = await call(await staff(A, 'dr-a'), CONFIRM, { id: pending.id, code: code === '000000' ? '111111' : '000000' });
    expect(wrong.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await aReadsB()).toBe(false);
    // Staff elsewhere: as an unknown request.
    const [elsewhere, unknown] = await Promise.all([pending.id, crypto.randomUUID()].map(async (id) => (await call(await staff(B, 'dr-b'), CONFIRM, { id, code })).errors?.map((e) => [e.message, e.extensions?.code])));
    expect(elsewhere).toEqual(unknown);
    const confirmed = await ok(await staff(A, 'nurse-a', 'nurse'), CONFIRM, { id: pending.id, code });
    expect(confirmed.confirmConsentRequest).toMatchObject({ status: 'ACTIVE', active: true, confirmation: 'ONE_TIME_CODE' });
    expect(await aReadsB()).toBe(true);
    expect((await call(await staff(A, 'dr-a'), CONFIRM, { id: pending.id, code })).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    await revoke(pending.id);
  });

  it('sends the code by e-mail through SMTP where that is what is configured', async () => {
    process.env.CONSENT_NOTIFIER = 'smtp';
    process.env.CONSENT_NOTIFIER_SMTP_URL = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
    process.env.CONSENT_NOTIFIER_FROM = 'consent@alliance.example.org';
    try {
      mails.length = 0;
      const pending = await request('ONE_TIME_CODE');
      await expect.poll(() => mails.length, { timeout: 10_000 }).toBe(1);
      expect(mails[0]!.to).toBe('ning@example.org');
      const code = /\b(\d{6})\b/.exec(mails[0]!.text.replace(/=\r?\n/g, ''))![1]!;
      const confirmed = await ok(await staff(A, 'dr-a'), `mutation($id: ID!, $code: String!) { confirmConsentRequest(id: $id, code: $code) { status } }`, { id: pending.id, code });
      expect(confirmed.confirmConsentRequest.status).toBe('ACTIVE');
      await revoke(pending.id);
    } finally {
      process.env.CONSENT_NOTIFIER = 'http-sms';
    }
  });

  it('takes a paper consent marked as such, in force once a second staff member of another role countersigns it, flagged for review', async () => {
    const COUNTERSIGN = `mutation($id: ID!) { countersignConsentRequest(id: $id) { ${DIRECTIVE} } }`;
    expect((await call(await staff(A, 'dr-a'), GRANT, { input: { patientId, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: A, confirmation: 'PAPER' } })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const paper = await request('PAPER', { attestation: 'scan-2026-0042' });
    expect(paper).toMatchObject({ status: 'PENDING', confirmation: 'PAPER', flaggedForReview: true, active: false });
    expect(await aReadsB()).toBe(false);
    // Not by the recorder, nor by another clinician: by a nurse.
    expect((await call(await staff(A, 'dr-a'), COUNTERSIGN, { id: paper.id })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await call(await staff(A, 'dr-a2'), COUNTERSIGN, { id: paper.id })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const signed = await ok(await staff(A, 'nurse-a', 'nurse'), COUNTERSIGN, { id: paper.id });
    expect(signed.countersignConsentRequest).toMatchObject({ status: 'ACTIVE', active: true, confirmedBy: 'nurse-a', confirmedByRole: 'nurse', flaggedForReview: true });
    expect(await aReadsB()).toBe(true);
    const admin = await stack.token({ sub: 'admin', role: 'admin' });
    const review = await ok(admin, '{ staffRecordedConsents(first: 50) { edges { node { action actorSub consentChange { directiveId confirmation flaggedForReview } } } } }', {});
    expect(review.staffRecordedConsents.edges.map((e: Json) => e.node).filter((n: Json) => n.consentChange.directiveId === paper.id)).toEqual([
      { action: 'CONSENT_CONFIRMED', actorSub: 'nurse-a', consentChange: { directiveId: paper.id, confirmation: 'PAPER', flaggedForReview: true } },
      { action: 'CONSENT_REQUESTED', actorSub: 'dr-a', consentChange: { directiveId: paper.id, confirmation: 'PAPER', flaggedForReview: true } },
    ]);
    await revoke(paper.id);
  });
});
