/**
 * A real SMART app in a real browser: the `fhirclient` library (the SMART
 * JavaScript client, its browser build) in headless Chromium, driven by
 * playwright-core, through a standalone patient launch against the whole
 * product (gateway, five subgraphs, PGlite, the SMART authorization server):
 *
 * 1. discovery: fhirclient reads /fhir/.well-known/smart-configuration;
 * 2. the sign-in page (development: the demo patients), the patient picks
 *    themselves;
 * 3. the approval screen: the app asks for laboratory results and
 *    encounters; the patient approves laboratory results only;
 * 4. the code exchange with PKCE (S256), done by fhirclient in the page;
 * 5. the app searches the patient's lab Observations through FHIR search
 *    (following next links) and finds exactly the generator's lab results,
 *    and finds no encounters;
 * 6. the patient signs in to the reference web client (/app/, in another
 *    browser context), finds the app's approval among their consent
 *    directives under "My consents" and clicks Revoke; the app's next read,
 *    with the token it still holds, is refused.
 *
 * The app's two pages are served from another origin (a small HTTP server
 * here), as a third-party app would be: CORS and the registered redirect URI
 * are exercised too. Needs Chromium like test/web.e2e.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { ensureWebBuild } from '../scripts/web-build.js';
import { startTestStack, type TestStack } from './support/harness.js';
import { registerApp } from './support/smart.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SKIP = process.env.SKIP_BROWSER_TESTS === '1' && !existsSync(CHROMIUM);
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const PATIENTS = 30;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const CLIENT_ID = 'lab-results-app';
const SCOPE = 'launch/patient openid fhirUser patient/Observation.rs?category=laboratory patient/Encounter.rs';

/** fhirclient's browser build (window.FHIR). */
const FHIR_CLIENT_JS = readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('fhirclient/package.json')), 'build', 'fhir-client.js'));

describe.skipIf(SKIP)('a SMART app (fhirclient) in Chromium: standalone patient launch, FHIR search, revocation', () => {
  let stack: TestStack;
  let appServer: http.Server;
  let appOrigin: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH; SKIP_BROWSER_TESTS=1 skips this test)`);
    // The app: a launch page (authorize) and its redirect page (ready, then reads), on an origin of its own.
    appServer = http.createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://app');
      const html = (body: string) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        response.end(`<!doctype html><html><head><meta charset="utf-8"><title>Lab results app</title><script src="/fhir-client.js"></script></head><body>${body}</body></html>`);
      };
      if (url.pathname === '/fhir-client.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' });
        response.end(FHIR_CLIENT_JS);
      } else if (url.pathname === '/launch.html') {
        html(`<script>
          FHIR.oauth2.authorize({ clientId: ${JSON.stringify(CLIENT_ID)}, scope: ${JSON.stringify(SCOPE)}, redirectUri: '/index.html', iss: new URL(location.href).searchParams.get('iss'), pkceMode: 'required' })
            .catch((e) => { document.title = 'error'; window.appError = String(e); });
        </script>`);
      } else if (url.pathname === '/index.html') {
        html(`<p id="status">connecting</p><script>
          FHIR.oauth2.ready().then(async (client) => {
            window.client = client;
            window.patientId = client.patient.id;
            window.grantedScope = client.state.tokenResponse.scope;
            window.labs = await client.request('Observation?category=laboratory&_count=10', { pageLimit: 0, flat: true });
            window.encounters = await client.request('Encounter', { pageLimit: 0, flat: true });
            document.getElementById('status').textContent = 'ready';
          }).catch((e) => { window.appError = String(e); document.getElementById('status').textContent = 'error'; });
        </script>`);
      } else {
        response.writeHead(404);
        response.end();
      }
    });
    await ensureWebBuild({ quiet: true });
    await new Promise<void>((resolve) => appServer.listen(0, '127.0.0.1', () => resolve()));
    appOrigin = `http://127.0.0.1:${(appServer.address() as AddressInfo).port}`;
    stack = await startTestStack('pglite', { patients: PATIENTS, production: false, corsAllowedOrigins: [appOrigin] });
    await registerApp(stack, { clientId: CLIENT_ID, name: 'Lab Results Viewer', redirectUris: [`${appOrigin}/index.html`], scope: SCOPE });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await (await browser.newContext()).newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await new Promise((resolve) => appServer?.close(resolve));
  });

  it('launches, gets the patient\'s approval of laboratory results only, reads them by FHIR search, and is refused once revoked', async () => {
    const fhirBase = stack.url.replace(/\/graphql$/, '/fhir');
    await page.goto(`${appOrigin}/launch.html?iss=${encodeURIComponent(fhirBase)}`);
    // Discovery done, the authorization request sent: the sign-in page of the authorization server.
    await page.waitForURL((url) => url.pathname.startsWith('/oauth/interaction/'));
    await expect(page.content()).resolves.toMatch(/Sign in to connect an app/);
    // A demo patient with lab results and encounters.
    const offered = await page.locator('button[data-account]').evaluateAll((buttons) => buttons.map((b) => b.getAttribute('data-account')!));
    const chosen = bundles.find((b) => offered.includes(b.patient.id) && b.observations.length > 10 && b.encounters.length > 0 && b.homeMeasurements.length > 0);
    expect(chosen, 'a demo patient with results, measurements and encounters').toBeDefined();
    const patient = chosen!;
    await page.click(`button[data-account="${patient.patient.id}"]`);

    // The approval screen: the app's name and each scope in plain words; the patient unticks encounters.
    await page.waitForSelector('input[name="scope"]');
    await expect(page.content()).resolves.toMatch(/Lab Results Viewer/);
    const scopes = await page.locator('input[name="scope"]').evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value));
    expect(scopes).toEqual(expect.arrayContaining(['patient/Observation.rs?category=laboratory', 'patient/Encounter.rs']));
    for (const scope of scopes) if (scope !== 'patient/Observation.rs?category=laboratory') await page.uncheck(`input[name="scope"][value="${scope}"]`);
    await page.click('button[name="decision"][value="approve"]');

    // Back at the app: fhirclient exchanged the code (PKCE) and read.
    await page.waitForURL((url) => url.origin === appOrigin && url.pathname === '/index.html');
    await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status')?.textContent ?? ''));
    const app = await page.evaluate(() => ({ error: (window as any).appError, patientId: (window as any).patientId, scope: (window as any).grantedScope, labs: (window as any).labs, encounters: (window as any).encounters }));
    expect(app.error).toBeUndefined();
    expect(app.patientId).toBe(patient.patient.id);
    expect(app.scope.split(' ')).toContain('patient/Observation.rs?category=laboratory');
    expect(app.scope.split(' ')).not.toContain('patient/Encounter.rs');
    // Exactly the patient's lab results (several pages of 10, followed by fhirclient), no home measurements, no encounters.
    const labs = (app.labs as { resourceType: string; id: string; category: { coding: { code: string }[] }[] }[]);
    expect(labs.every((o) => o.resourceType === 'Observation' && o.category[0]!.coding[0]!.code === 'laboratory')).toBe(true);
    expect(labs.map((o) => o.id).sort()).toEqual(patient.observations.map((o) => o.id).sort());
    expect(app.encounters).toEqual([]);

    // The patient revokes the app's approval in the reference web client (their consent directive for this client id),
    // signed in there in a browser context of its own, as they would on another tab or device.
    const webContext = await browser.newContext();
    const web = await webContext.newPage();
    web.setDefaultTimeout(20_000);
    await web.goto(stack.url.replace(/\/graphql$/, '/app/'));
    await web.getByRole('heading', { name: 'Sign in' }).waitFor();
    await web.getByLabel('Role').selectOption('patient');
    await web.getByLabel('Patient id').fill(patient.patient.id);
    await web.getByRole('button', { name: 'Sign in' }).click();
    await web.getByRole('tab', { name: 'My consents' }).click();
    const approval = web.getByTestId('consent').filter({ hasText: 'Lab Results Viewer' });
    await expect.poll(() => approval.count(), { timeout: 20_000 }).toBe(1);
    expect(await approval.getAttribute('data-active')).toBe('true');
    // What the patient approved (laboratory results only) is what the directive shows.
    expect(await approval.textContent()).toContain('patient/Observation.rs?category=laboratory');
    expect(await approval.textContent()).not.toContain('patient/Encounter.rs');
    await approval.getByRole('button', { name: 'Revoke the approval of Lab Results Viewer' }).click();
    await web.getByRole('status').filter({ hasText: 'Consent revoked.' }).waitFor();
    await expect.poll(() => approval.getAttribute('data-active')).toBe('false');
    await approval.getByText('revoked', { exact: true }).waitFor();
    await webContext.close();
    // The API agrees: the directive for this client id is inactive.
    const patientToken = await stack.token({ sub: `patient-${patient.patient.id}`, role: 'patient', patient: patient.patient.id });
    const consents = await stack.graphql(patientToken, 'query($id: ID!) { patient(id: $id) { consents { active app { clientId } } } }', { id: patient.patient.id });
    expect((consents.data.patient.consents as { active: boolean; app: { clientId: string } | null }[]).filter((c) => c.app?.clientId === CLIENT_ID))
      .toEqual([{ active: false, app: { clientId: CLIENT_ID } }]);

    // The app's next read, with the token it still holds, is refused.
    const after = await page.evaluate(async () => {
      try {
        const result = await (window as any).client.request('Observation?category=laboratory');
        return { ok: true, result };
      } catch (e: any) {
        return { ok: false, status: e?.status ?? e?.statusCode, message: String(e?.message ?? e) };
      }
    });
    expect(after.ok, JSON.stringify(after).slice(0, 300)).toBe(false);
    expect(after.status).toBe(403);
  });
});
