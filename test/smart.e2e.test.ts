/**
 * The SMART App Launch v2 authorization server, through the gateway over
 * HTTP, on both backends: the checks conformance suites make (discovery,
 * the code flow with PKCE, token responses, refusals), the patient's
 * approval as a consent directive (partial approval narrows what the app
 * reads through GraphQL; revocation ends access at the next request and
 * refresh stops working), backend services with signed assertions, and
 * registrations that cap what an app gets. Apps are driven with
 * openid-client, the sign-in and approval pages with a small cookie-keeping
 * browser.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { authorize, baseOf, Browser, claimsOf, exchange, registerApp, smartClient } from './support/smart.js';

const REDIRECT = 'http://127.0.0.1:9/callback';
const run = promisify(execFile);
const CHART = `query Chart($id: ID!) {
  patient(id: $id) { id observations(first: 5) { edges { node { id } } } encounters(first: 5) { edges { node { id } } } }
}`;

for (const backend of BACKENDS) {
  describe(`SMART authorization server (${backend})`, () => {
    let stack: TestStack;
    let patientId: string;
    let base: string;

    beforeAll(async () => {
      // Development mode: the sign-in page lists demo accounts (no upstream provider).
      stack = await startTestStack(backend, { patients: 8, production: false });
      base = baseOf(stack);
      // A patient with both lab results and encounters.
      const [labs] = await stack.databases.labs.query<{ patient_id: string }>('SELECT patient_id FROM observation GROUP BY patient_id ORDER BY count(*) DESC LIMIT 1');
      patientId = labs!.patient_id;
      await registerApp(stack, {
        clientId: 'lab-diary', name: 'Lab Diary', redirectUris: [REDIRECT],
        scope: 'patient/Observation.rs patient/Encounter.rs patient/Patient.rs offline_access launch/patient openid fhirUser',
      });
      await registerApp(stack, { clientId: 'narrow-app', name: 'Narrow', redirectUris: [REDIRECT], scope: 'patient/Observation.rs?category=laboratory' });
    }, 240_000);

    afterAll(() => stack?.close());

    it('discovery: every field SMART v2 requires, application/json, at both addresses; S256 only', async () => {
      for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
        const response = await fetch(`${base}${path}`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toMatch(/^application\/json/);
        const config = await response.json();
        for (const field of ['issuer', 'jwks_uri', 'authorization_endpoint', 'token_endpoint', 'token_endpoint_auth_methods_supported', 'grant_types_supported',
          'scopes_supported', 'response_types_supported', 'capabilities', 'code_challenge_methods_supported', 'introspection_endpoint', 'revocation_endpoint']) {
          expect(config, field).toHaveProperty(field);
        }
        expect(config.code_challenge_methods_supported).toEqual(['S256']);
        expect(config.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'client_credentials', 'refresh_token']));
        expect(config.capabilities).toEqual(expect.arrayContaining(['launch-standalone', 'client-public', 'client-confidential-symmetric', 'client-confidential-asymmetric',
          'context-standalone-patient', 'permission-patient', 'permission-user', 'permission-v2', 'permission-offline', 'sso-openid-connect']));
        expect(config.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS384', 'ES384']));
        expect(config.scopes_supported).toEqual(expect.arrayContaining(['openid', 'fhirUser', 'launch/patient', 'offline_access']));
        expect(config.issuer).toBe(base);
      }
      const openid = await (await fetch(`${base}/.well-known/openid-configuration`)).json();
      expect(openid.code_challenge_methods_supported).toEqual(['S256']);
    });

    it('a standalone patient launch with openid-client: sign-in, approval, code exchange with PKCE; the token response carries patient, the granted scope and no-store headers', async () => {
      const seen: Response[] = [];
      const config = await smartClient(stack, 'lab-diary');
      config[oidc.customFetch] = async (url, options) => {
        const response = await fetch(url, options as RequestInit);
        seen.push(response.clone());
        return response;
      };
      const browser = new Browser();
      const flow = await authorize(stack, browser, config, {
        redirectUri: REDIRECT, account: patientId, scope: 'launch/patient openid fhirUser offline_access patient/Observation.rs patient/Patient.rs',
      });
      // The approval screen named the app, the organisation behind it and each scope in words.
      expect(flow.approvalHtml).toContain('Lab Diary');
      expect(flow.approvalHtml).toContain('County');
      expect(flow.approvalHtml).toMatch(/See your laboratory results/);
      const tokens = await exchange(config, flow);
      expect(tokens.token_type.toLowerCase()).toBe('bearer');
      expect(tokens.patient).toBe(patientId);
      expect(String(tokens.scope).split(' ')).toEqual(expect.arrayContaining(['launch/patient', 'openid', 'fhirUser', 'offline_access', 'patient/Observation.rs', 'patient/Patient.rs']));
      expect(tokens.refresh_token).toEqual(expect.any(String));
      expect(tokens.expires_in).toBeGreaterThan(0);
      expect(tokens.claims()?.fhirUser).toBe(`${base}/fhir/Patient/${patientId}`);
      const tokenResponse = seen.find((r) => r.url.endsWith('/oauth/token'))!;
      expect(tokenResponse.headers.get('cache-control')).toContain('no-store');
      expect(tokenResponse.headers.get('pragma')).toBe('no-cache');
      // The access token is the JWT the gateway verifies: the app's role, its patient, its client id.
      const claims = claimsOf(tokens.access_token);
      expect(claims).toMatchObject({ role: 'app', patient: patientId, client_id: 'lab-diary', sub: patientId, aud: `${base}/fhir`, iss: base });
      const chart = await stack.graphql(tokens.access_token, CHART, { id: patientId });
      expect(chart.data?.patient?.observations?.edges.length).toBeGreaterThan(0);
      // The approval is a consent directive the patient sees, with the app's name and the scopes approved, and a consent change in the audit trail.
      const patientToken = await stack.token({ sub: patientId, role: 'patient', patient: patientId });
      const consents = await stack.graphql(patientToken, `query($id: ID!) { patient(id: $id) { consents { id decision actorType actorId categories active approvedScope app { name organization { id } } } } }`, { id: patientId });
      const approval = consents.data.patient.consents.find((c: any) => c.actorId === 'lab-diary' && c.active);
      expect(approval).toMatchObject({ decision: 'PERMIT', actorType: 'APP', app: { name: 'Lab Diary', organization: { id: 'org-county-north' } } });
      expect(approval.categories).toEqual(expect.arrayContaining(['LABS', 'DEMOGRAPHICS']));
      expect(approval.approvedScope).toContain('patient/Observation.rs');
      const admin = await stack.token({ sub: 'auditor', role: 'admin' });
      const events = await stack.graphql(admin, `query($id: ID!) { auditEvents(patientId: $id, first: 50) { edges { node { action actorSub consentChange { actorId } } } } }`, { id: patientId });
      expect(events.data.auditEvents.edges.map((e: any) => e.node)).toContainEqual({ action: 'CONSENT_GRANTED', actorSub: patientId, consentChange: { actorId: 'lab-diary' } });
    });

    it('partial approval narrows what the app reads through GraphQL: lab results yes, encounters no', async () => {
      const config = await smartClient(stack, 'lab-diary');
      const flow = await authorize(stack, new Browser(), config, {
        redirectUri: REDIRECT, account: patientId, scope: 'launch/patient patient/Observation.rs patient/Encounter.rs patient/Patient.rs',
        approve: ['patient/Observation.rs', 'patient/Patient.rs'],
      });
      const tokens = await exchange(config, flow);
      expect(String(tokens.scope).split(' ')).not.toContain('patient/Encounter.rs');
      const chart = await stack.graphql(tokens.access_token, CHART, { id: patientId });
      // The patient has encounters (their own token sees them); the app reads none of them, and all of its lab results.
      const own = await stack.graphql(await stack.token({ sub: patientId, role: 'patient', patient: patientId }), CHART, { id: patientId });
      expect(own.data.patient.encounters.edges.length).toBeGreaterThan(0);
      expect(chart.data?.patient?.observations?.edges.length).toBe(own.data.patient.observations.edges.length);
      expect(chart.data?.patient?.encounters?.edges ?? []).toEqual([]);
      // Even a token with the Encounter scope (minted in development) reads no encounter: the patient did not approve them.
      const wide = await stack.token({ sub: patientId, role: 'app', client_id: 'lab-diary', patient: patientId, scope: 'patient/*.rs' });
      const widened = await stack.graphql(wide, CHART, { id: patientId });
      expect(widened.data?.patient?.observations?.edges.length).toBe(own.data.patient.observations.edges.length);
      expect(widened.data?.patient?.encounters?.edges ?? []).toEqual([]);
    });

    it('approving none is a refusal: the app gets access_denied and no code', async () => {
      const config = await smartClient(stack, 'lab-diary');
      const flow = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: patientId, scope: 'patient/Observation.rs', approve: 'none' });
      expect(flow.callback?.searchParams.get('error')).toBe('access_denied');
      expect(flow.callback?.searchParams.get('code')).toBeNull();
    });

    it('refuses an invalid aud, a wrong PKCE verifier, a reused code and an unregistered redirect URI', async () => {
      const config = await smartClient(stack, 'lab-diary');
      // aud: another server's URL is refused before anyone signs in.
      const badAud = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: patientId, scope: 'patient/Observation.rs', aud: 'https://evil.example.org/fhir' });
      expect(badAud.callback?.searchParams.get('error')).toBe('invalid_request');
      expect(badAud.callback?.searchParams.get('error_description')).toMatch(/aud/);
      // A wrong verifier.
      const flow = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: patientId, scope: 'patient/Observation.rs' });
      await expect(exchange(config, { ...flow, codeVerifier: oidc.randomPKCECodeVerifier() })).rejects.toHaveProperty('error', 'invalid_grant');
      // A code used once: the second exchange is refused.
      const again = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: patientId, scope: 'patient/Observation.rs' });
      await exchange(config, again);
      await expect(exchange(config, again)).rejects.toHaveProperty('error', 'invalid_grant');
      // An unregistered redirect URI: an error page, never a redirect there.
      const browser = new Browser();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: 'https://attacker.example.org/steal', scope: 'patient/Observation.rs', aud: `${base}/fhir`, state: 'x',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      const response = await browser.request(url.href);
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toMatch(/redirect_uri/);
      // PKCE is required of every client: no code_challenge, no code.
      const noPkce = await browser.request(`${base}/oauth/authorize?${new URLSearchParams({ client_id: 'lab-diary', response_type: 'code', redirect_uri: REDIRECT, scope: 'patient/Observation.rs', aud: `${base}/fhir`, state: 's' })}`);
      expect(new URL(noPkce.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    });

    it('revocation in the patient\'s consents ends access at the next request, and the refresh token stops working', async () => {
      const config = await smartClient(stack, 'lab-diary');
      const flow = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: patientId, scope: 'launch/patient offline_access patient/Observation.rs' });
      const tokens = await exchange(config, flow);
      expect((await stack.graphql(tokens.access_token, CHART, { id: patientId })).data?.patient?.observations?.edges.length).toBeGreaterThan(0);
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.access_token).toEqual(expect.any(String));
      // Introspection (by the app) says the access token is active while the approval is.
      expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
      const patientToken = await stack.token({ sub: patientId, role: 'patient', patient: patientId });
      const consents = await stack.graphql(patientToken, `query($id: ID!) { patient(id: $id) { consents { id actorId active } } }`, { id: patientId });
      for (const c of consents.data.patient.consents.filter((x: any) => x.actorId === 'lab-diary' && x.active)) {
        const revoked = await stack.graphql(patientToken, `mutation($id: ID!) { revokeConsent(id: $id) { active } }`, { id: c.id });
        expect(revoked.data?.revokeConsent?.active).toBe(false);
      }
      for (const token of [tokens.access_token, refreshed.access_token]) {
        const after = await stack.graphql(token, CHART, { id: patientId });
        expect(after.data?.patient ?? null).toBeNull();
      }
      await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token!)).rejects.toHaveProperty('error', 'invalid_grant');
      // Introspection says neither the access token nor the refresh token is active any more.
      expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
      expect((await oidc.tokenIntrospection(config, refreshed.refresh_token ?? tokens.refresh_token!)).active).toBe(false);
    });

    it('a registered app asking for more scopes than registered gets less, never more', async () => {
      const config = await smartClient(stack, 'narrow-app');
      const flow = await authorize(stack, new Browser(), config, {
        redirectUri: REDIRECT, account: patientId, scope: 'launch/patient offline_access patient/*.rs patient/Encounter.rs user/*.cruds',
      });
      expect(flow.approvalHtml).not.toMatch(/visits/);
      const tokens = await exchange(config, flow);
      // launch/patient comes with a patient app; offline_access only when registered (it is not).
      expect(String(tokens.scope).split(' ').sort()).toEqual(['launch/patient', 'patient/Observation.rs?category=laboratory']);
      expect(tokens.refresh_token).toBeUndefined();
      expect(tokens.patient).toBe(patientId);
      expect(claimsOf(tokens.access_token).scope).toBe('patient/Observation.rs?category=laboratory');
    });

    it('a staff app: a practitioner signs in (standalone launch) and gets a user/ token of their role and organisation', async () => {
      const [practitioner] = await stack.databases.identity.query<{ id: string; organization_id: string }>("SELECT id, organization_id FROM practitioner WHERE role = 'clinician' AND active ORDER BY id LIMIT 1");
      await registerApp(stack, { clientId: 'ward-board', kind: 'STAFF_APP', redirectUris: [REDIRECT], scope: 'user/Observation.rs openid fhirUser' });
      const config = await smartClient(stack, 'ward-board');
      // A patient cannot sign in to a staff app: the page lists staff only.
      const flow = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: practitioner!.id, scope: 'openid fhirUser user/Observation.rs patient/*.rs launch/patient' });
      const tokens = await exchange(config, flow);
      expect(claimsOf(tokens.access_token)).toMatchObject({ role: 'clinician', org: practitioner!.organization_id, sub: practitioner!.id, client_id: 'ward-board', scope: 'user/Observation.rs' });
      expect(tokens.claims()?.fhirUser).toBe(`${base}/fhir/Practitioner/${practitioner!.id}`);
      expect((await stack.graphql(tokens.access_token, '{ organizations { id } }')).errors).toBeUndefined();
      const refused = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: patientId, scope: 'user/Observation.rs' });
      expect(refused.page.html).toMatch(/This app is for staff/);
    });

    it('a backend service: client credentials with a signed assertion give a system/ token of its organisation; a wrong key does not', async () => {
      const { publicKey, privateKey } = await generateKeyPair('ES384', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'his-1', alg: 'ES384' };
      await registerApp(stack, {
        clientId: 'county-north-his', kind: 'BACKEND_SERVICE', clientType: 'CONFIDENTIAL_ASYMMETRIC', redirectUris: [],
        scope: 'system/Observation.rs system/Encounter.rs', jwks: JSON.stringify({ keys: [jwk] }),
      });
      const config = await smartClient(stack, 'county-north-his', oidc.PrivateKeyJwt({ key: privateKey, kid: 'his-1' }));
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'system/Observation.rs system/Immunization.rs' });
      expect(tokens.scope).toBe('system/Observation.rs');
      expect(tokens.expires_in).toBeLessThanOrEqual(300);
      expect(claimsOf(tokens.access_token)).toMatchObject({ role: 'system', org: 'org-county-north', client_id: 'county-north-his', sub: 'county-north-his' });
      expect((await stack.graphql(tokens.access_token, '{ organizations { id } }')).errors).toBeUndefined();
      // The same assertion signed with another key is refused.
      const stranger = await generateKeyPair('ES384', { extractable: true });
      const forged = await smartClient(stack, 'county-north-his', oidc.PrivateKeyJwt({ key: stranger.privateKey, kid: 'his-1' }));
      await expect(oidc.clientCredentialsGrant(forged, { scope: 'system/Observation.rs' })).rejects.toHaveProperty('error', 'invalid_client');
      // Nothing registered among what it asks: no token.
      await expect(oidc.clientCredentialsGrant(config, { scope: 'system/Immunization.rs' })).rejects.toHaveProperty('error', 'invalid_scope');
    });

    it('a confidential-symmetric app authenticates with the secret shown once; a wrong secret is refused', async () => {
      const registered = await registerApp(stack, { clientId: 'clinic-portal', clientType: 'CONFIDENTIAL_SYMMETRIC', redirectUris: [REDIRECT], scope: 'patient/Observation.rs' });
      expect(registered.clientSecret).toEqual(expect.any(String));
      const config = await smartClient(stack, 'clinic-portal', oidc.ClientSecretBasic(registered.clientSecret!));
      const flow = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: patientId, scope: 'patient/Observation.rs' });
      expect((await exchange(config, flow)).access_token).toEqual(expect.any(String));
      const wrong = await smartClient(stack, 'clinic-portal', oidc.ClientSecretBasic('not-the-secret'));
      const second = await authorize(stack, new Browser(), wrong, { redirectUri: REDIRECT, account: patientId, scope: 'patient/Observation.rs' });
      const refusal = await exchange(wrong, second).then(() => null, (error: unknown) => error);
      // A secret sent in the Authorization header is refused with a 401 challenge (WWW-Authenticate) naming invalid_client.
      expect(JSON.stringify(refusal)).toMatch(/invalid_client/);
    });

    it('npm run token records the patient\'s approval when it mints an app token, so the token reads what it names', async () => {
      const keyDir = await mkdtemp(path.join(tmpdir(), 'fpr-keys-'));
      await writeFile(path.join(keyDir, 'dev-keys.json'), JSON.stringify(stack.keys));
      const { stdout, stderr } = await run('npx', ['tsx', 'scripts/token.ts', '--role', 'app', '--patient', patientId, '--client-id', 'cli-diary', '--scope', 'patient/Observation.rs', '--gateway', stack.url],
        { env: { ...process.env, DEV_KEY_DIR: keyDir, NODE_ENV: 'development' } });
      expect(stderr).toMatch(/Recorded the patient's approval of cli-diary/);
      const chart = await stack.graphql(stdout.trim(), CHART, { id: patientId });
      expect(chart.data?.patient?.observations?.edges.length).toBeGreaterThan(0);
      // Without it (--no-approval), the same kind of token reads nothing.
      const bare = await run('npx', ['tsx', 'scripts/token.ts', '--role', 'app', '--patient', patientId, '--client-id', 'cli-unapproved', '--scope', 'patient/Observation.rs', '--no-approval'],
        { env: { ...process.env, DEV_KEY_DIR: keyDir, NODE_ENV: 'development' } });
      expect((await stack.graphql(bare.stdout.trim(), CHART, { id: patientId })).data?.patient ?? null).toBeNull();
    }, 60_000);

    it('npm run app registers, lists and deactivates apps through the API, and refuses bad input with the API\'s message', async () => {
      const keyDir = await mkdtemp(path.join(tmpdir(), 'fpr-keys-'));
      await writeFile(path.join(keyDir, 'dev-keys.json'), JSON.stringify(stack.keys));
      const cli = (...args: string[]) => run('npx', ['tsx', 'scripts/app.ts', ...args, '--gateway', stack.url], { env: { ...process.env, DEV_KEY_DIR: keyDir, NODE_ENV: 'development' } });
      const registered = await cli('register', '--client-id', 'cli-portal', '--name', 'CLI Portal', '--org', 'org-county-south', '--kind', 'patient', '--type', 'symmetric',
        '--redirect-uri', REDIRECT, '--scope', 'patient/Observation.rs');
      expect(registered.stdout).toMatch(/"clientId": "cli-portal"/);
      expect(registered.stdout).toMatch(/Client secret \(shown once/);
      expect((await cli('list')).stdout).toMatch(/cli-portal\s+PATIENT_APP\s+CONFIDENTIAL_SYMMETRIC\s+org-county-south/);
      expect((await cli('deactivate', 'cli-portal')).stdout).toMatch(/deactivated/);
      const bad = await cli('register', '--client-id', 'cli-bad', '--name', 'Bad', '--org', 'org-county-south', '--kind', 'patient', '--redirect-uri', 'http://evil.example.org/cb', '--scope', 'patient/Observation.rs')
        .then(() => null, (error: { stderr: string; code: number }) => error);
      expect(bad?.code).toBe(2);
      expect(bad?.stderr).toMatch(/BAD_USER_INPUT: redirectUris/);
    }, 90_000);

    it('app registration is for administrators, validated, and recorded in the registry change log', async () => {
      const clinician = await stack.token({ sub: 'dr', role: 'clinician', org: 'org-county-north' });
      const refused = await stack.graphql(clinician, `mutation { upsertApp(input: { clientId: "x-app", name: "X", organizationId: "org-county-north", kind: PATIENT_APP, clientType: PUBLIC, redirectUris: ["${REDIRECT}"], scope: "patient/Observation.rs" }) { clientSecret } }`);
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const admin = await stack.token({ sub: 'admin-x', role: 'admin' });
      for (const [input, field] of [
        [{ redirectUris: ['http://evil.example.org/cb'] }, 'redirectUris'],
        [{ scope: 'user/*.rs' }, 'scope'],
        [{ scope: 'patient/Nonsense.rs' }, 'scope'],
        [{ kind: 'BACKEND_SERVICE', redirectUris: [] }, 'clientType'],
        [{ clientType: 'CONFIDENTIAL_ASYMMETRIC', jwks: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] }) }, 'jwks'],
        [{ organizationId: 'org-nowhere' }, 'organizationId'],
      ] as const) {
        const answer = await stack.graphql(admin, `mutation($input: AppInput!) { upsertApp(input: $input) { clientSecret } }`, {
          input: Object.assign({ clientId: 'bad-app', name: 'Bad', organizationId: 'org-county-north', kind: 'PATIENT_APP', clientType: 'PUBLIC', redirectUris: [REDIRECT], scope: 'patient/Observation.rs' }, input),
        });
        expect(answer.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', field });
      }
      const log = await stack.graphql(admin, `{ registryChanges(entityType: APP, entityId: "lab-diary") { edges { node { action actorSub } } } }`);
      expect(log.data.registryChanges.edges.map((e: any) => e.node)).toContainEqual({ action: 'CREATED', actorSub: 'admin-apps' });
      // Deactivated: no more tokens.
      await stack.graphql(admin, `mutation { deactivateApp(clientId: "narrow-app") { active } }`);
      const config = await smartClient(stack, 'narrow-app');
      const flow = await authorize(stack, new Browser(), config, { redirectUri: REDIRECT, account: patientId, scope: 'patient/Observation.rs' });
      expect(flow.callback).toBeUndefined();
      expect(flow.page.status).toBe(400);
    });
  });
}
