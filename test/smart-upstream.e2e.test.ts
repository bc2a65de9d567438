/**
 * Signing in at the alliance's own OpenID Connect provider (a second
 * oidc-provider, in process): the authorization server sends the person
 * there, maps the identity it asserts to a patient by health-card number or
 * to a practitioner of the registry, then shows the approval screen. A
 * production stack: no demo accounts are offered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { authorize, baseOf, Browser, claimsOf, exchange, registerApp, smartClient, startUpstreamProvider } from './support/smart.js';

const REDIRECT = 'http://127.0.0.1:9/callback';

for (const backend of BACKENDS) {
  describe(`SMART sign-in at the upstream identity provider (${backend})`, () => {
    let stack: TestStack;
    let upstream: Awaited<ReturnType<typeof startUpstreamProvider>>;
    let patient: { id: string; card: string };

    beforeAll(async () => {
      upstream = await startUpstreamProvider();
      stack = await startTestStack(backend, {
        patients: 4, production: true,
        upstream: { issuer: upstream.issuer, clientId: 'fpr-gateway', clientSecret: 'upstream-secret', displayName: 'Alliance Health Card', allowHttp: true },
      });
      upstream.setRedirectUri(`${baseOf(stack)}/oauth/upstream/callback`);
      const [row] = await stack.databases.identity.query<{ patient_id: string; value: string }>("SELECT patient_id, value FROM patient_identifier WHERE type = 'HC' ORDER BY value LIMIT 1");
      patient = { id: row!.patient_id, card: row!.value };
      await registerApp(stack, { clientId: 'card-diary', name: 'Card Diary', redirectUris: [REDIRECT], scope: 'patient/Observation.rs launch/patient openid fhirUser' });
      await registerApp(stack, { clientId: 'ward-app', kind: 'STAFF_APP', redirectUris: [REDIRECT], scope: 'user/Observation.rs openid fhirUser' });
    }, 240_000);

    afterAll(async () => {
      await stack?.close();
      await upstream?.close();
    });

    it('a patient signs in with the health card, approves, and the app gets a token for that patient', async () => {
      upstream.signInAs({ sub: 'citizen-1', health_card_number: patient.card });
      const config = await smartClient(stack, 'card-diary');
      const browser = new Browser();
      const flow = await authorize(stack, browser, config, { redirectUri: REDIRECT, scope: 'launch/patient openid fhirUser patient/Observation.rs', upstream: true });
      expect(flow.approvalHtml).toContain('Card Diary');
      const tokens = await exchange(config, flow);
      expect(tokens.patient).toBe(patient.id);
      expect(claimsOf(tokens.access_token)).toMatchObject({ role: 'app', patient: patient.id, client_id: 'card-diary' });
      const read = await stack.graphql(tokens.access_token, 'query($id: ID!) { patient(id: $id) { id observations(first: 1) { edges { node { id } } } } }', { id: patient.id });
      expect(read.errors).toBeUndefined();
      expect(read.data.patient.id).toBe(patient.id);
    });

    it('production offers no demo accounts: the sign-in page has only the provider', async () => {
      const config = await smartClient(stack, 'card-diary');
      const browser = new Browser();
      const start = await authorize(stack, browser, config, { redirectUri: REDIRECT, scope: 'patient/Observation.rs', account: patient.id });
      // The demo sign-in is refused in production; nothing comes back to the app.
      expect(start.callback).toBeUndefined();
      expect(start.page.status).toBe(404);
    });

    it('a practitioner signs in to a staff app and gets a token of their role and organisation', async () => {
      const [practitioner] = await stack.databases.identity.query<{ id: string; organization_id: string }>("SELECT id, organization_id FROM practitioner WHERE role = 'nurse' AND active ORDER BY id LIMIT 1");
      upstream.signInAs({ sub: 'staff-1', practitioner_id: practitioner!.id, organization_id: practitioner!.organization_id });
      const config = await smartClient(stack, 'ward-app');
      const tokens = await exchange(config, await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, scope: 'openid fhirUser user/Observation.rs', upstream: true }));
      expect(claimsOf(tokens.access_token)).toMatchObject({ role: 'nurse', org: practitioner!.organization_id, sub: practitioner!.id });
    });

    it('an identity the alliance does not know, or a practitioner at the wrong organisation, gets access_denied', async () => {
      const config = await smartClient(stack, 'card-diary');
      upstream.signInAs({ sub: 'stranger', health_card_number: 'HC-DOES-NOT-EXIST' });
      const unknown = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, scope: 'patient/Observation.rs', upstream: true });
      expect(unknown.callback?.searchParams.get('error')).toBe('access_denied');
      const [practitioner] = await stack.databases.identity.query<{ id: string }>("SELECT id FROM practitioner WHERE active ORDER BY id LIMIT 1");
      upstream.signInAs({ sub: 'staff-2', practitioner_id: practitioner!.id, organization_id: 'org-somewhere-else' });
      const staffConfig = await smartClient(stack, 'ward-app');
      const wrongOrg = await authorize(stack, new Browser(), staffConfig, { redirectUri: REDIRECT, scope: 'user/Observation.rs', upstream: true });
      expect(wrongOrg.callback?.searchParams.get('error')).toBe('access_denied');
      // A patient signing in to the staff app is refused too.
      upstream.signInAs({ sub: 'citizen-1', health_card_number: patient.card });
      const patientAtStaffApp = await authorize(stack, new Browser(), staffConfig, { redirectUri: REDIRECT, scope: 'user/Observation.rs', upstream: true });
      expect(patientAtStaffApp.callback?.searchParams.get('error_description')).toMatch(/for staff/);
    });
  });
}
