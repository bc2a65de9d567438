/**
 * What front-end teams build on, end to end over real HTTP: CORS for apps on
 * another origin (with Apollo's CSRF protection kept), the explorer and demo
 * tokens of a development gateway (absent in production), the public API
 * schema, patient search under the consent policy (same reach as
 * `patient(id)`, full pages, audited), and cursor paging of the staff work
 * lists (incomingReferrals, openFollowUpTasks).
 */
import { readFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../gateway/src/auth.js';
import { startGateway } from '../gateway/src/server.js';
import { API_SCHEMA_FILE } from '../gateway/src/supergraph.js';
import { CORS_ALLOWED_HEADERS } from '../lib/runtime/cors.js';
import { parseAllowedOrigins } from '../lib/runtime/cors.js';
import { DEFAULT_AUDIENCE, DEV_ISSUER, keyringOf } from '../lib/trust/keys.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../lib/synthetic/generator.js';
import { ensureWebBuild } from '../scripts/web-build.js';
import { BACKENDS, postGraphQL, startTestStack, type GraphQLResponse, type TestStack } from './support/harness.js';

const PATIENTS = 60;
const APP_ORIGIN = 'http://timeline.example.test:5173';
const OTHER_ORIGIN = 'http://evil.example.test';
const ORG = 'org-county-north';
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const registeredAt = (b: PatientBundle, org: string) => b.patient.identifiers.some((i) => i.assignerOrganizationId === org);

const SEARCH = `query($name: String, $birthDate: Date, $identifier: String, $first: Int, $after: String) {
  searchPatients(name: $name, birthDate: $birthDate, identifier: $identifier, first: $first, after: $after) {
    edges { cursor node { id name { family given text } birthDate } }
    pageInfo { hasNextPage endCursor } } }`;

interface SearchPage { edges: { cursor: string; node: { id: string; name: { family: string; given: string[] }[] | null } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }

describe.each(BACKENDS)('front-end features on %s', (backend) => {
  let stack: TestStack;
  let clinician: string;
  let origin: string;

  const search = async (token: string, variables: Record<string, unknown>) => {
    const response = await stack.graphql(token, SEARCH, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data.searchPatients as SearchPage;
  };
  /** Every page of a search, checking each page but the last is full. */
  const searchAll = async (token: string, variables: Record<string, unknown>, first: number) => {
    const ids: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: SearchPage = await search(token, { ...variables, first, after });
      ids.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) return ids;
      expect(page.edges).toHaveLength(first);
      after = page.pageInfo.endCursor;
    }
  };
  /** Name-matching patients whose name `patient(id)` shows this caller: who a name search must find. */
  const nameVisibleTo = async (token: string, fragment: string) => {
    const ids = bundles.filter((b) => `${b.patient.family} ${b.patient.given.join(' ')}`.toLowerCase().includes(fragment.toLowerCase())).map((b) => b.patient.id);
    const response = await stack.graphql(token, 'query($ids: [ID!]!) { patients(ids: $ids) { id name { text } } }', { ids });
    return (response.data.patients as ({ id: string; name: unknown[] | null } | null)[]).filter((p) => p?.name).map((p) => p!.id);
  };
  const sortKey = (b: PatientBundle) => [b.patient.family, b.patient.given.join(' '), b.patient.id] as const;
  const inSearchOrder = (ids: string[]) => {
    const byId = new Map(bundles.map((b) => [b.patient.id, b]));
    return [...ids].sort((x, y) => {
      const [a, b] = [sortKey(byId.get(x)!), sortKey(byId.get(y)!)];
      for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
      return 0;
    });
  };

  beforeAll(async () => {
    await ensureWebBuild({ quiet: true });
    stack = await startTestStack(backend, { patients: PATIENTS, production: false, corsAllowedOrigins: [APP_ORIGIN] });
    clinician = await stack.token({ sub: 'dr-north', role: 'clinician', org: ORG });
    origin = stack.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => stack?.close());

  describe('CORS', () => {
    it('reads allowed origins from configuration, refusing anything but bare origins', () => {
      expect(parseAllowedOrigins(undefined)).toEqual([]);
      expect(parseAllowedOrigins(' https://a.example.org , http://localhost:5173 ')).toEqual(['https://a.example.org', 'http://localhost:5173']);
      expect(() => parseAllowedOrigins('*')).toThrow(/origin/);
      expect(() => parseAllowedOrigins('https://a.example.org/app')).toThrow(/origin/);
    });

    it('answers the preflight of an allowed origin with 204 and the methods and headers an SPA needs', async () => {
      const response = await fetch(stack.url, {
        method: 'OPTIONS',
        headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
      expect(response.headers.get('access-control-allow-methods')).toMatch(/POST/);
      const allowed = response.headers.get('access-control-allow-headers')!.split(/,\s*/);
      expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-request-id']));
      expect(allowed).toEqual(CORS_ALLOWED_HEADERS);
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      expect(response.headers.get('vary')).toMatch(/Origin/);
    });

    it('refuses the preflight of any other origin', async () => {
      const response = await fetch(stack.url, { method: 'OPTIONS', headers: { origin: OTHER_ORIGIN, 'access-control-request-method': 'POST' } });
      expect(response.status).toBe(403);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect((await response.json()).errors[0].extensions.code).toBe('FORBIDDEN');
    });

    it('gives actual responses Access-Control-Allow-Origin for allowed origins only, exposing x-request-id', async () => {
      const ask = (from: string) => fetch(stack.url, {
        method: 'POST', headers: { origin: from, 'content-type': 'application/json', authorization: `Bearer ${clinician}` }, body: JSON.stringify({ query: '{ organizations { id } }' }),
      });
      const allowed = await ask(APP_ORIGIN);
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
      expect(allowed.headers.get('access-control-expose-headers')).toMatch(/x-request-id/);
      expect(allowed.headers.get('x-request-id')).toBeTruthy();
      const other = await ask(OTHER_ORIGIN);
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('keeps CSRF protection: a simple (non-preflighted) cross-site POST is refused even from an allowed origin', async () => {
      const response = await fetch(stack.url, {
        method: 'POST', headers: { origin: APP_ORIGIN, 'content-type': 'text/plain', authorization: `Bearer ${clinician}` }, body: JSON.stringify({ query: '{ organizations { id } }' }),
      });
      expect(response.status).toBe(400);
      expect(await response.text()).toMatch(/CSRF|preflight/i);
    });
  });

  describe('explorer and development routes', () => {
    it('serves GraphiQL from the product itself at GET /graphql, with a token that may read the schema', async () => {
      const response = await fetch(stack.url, { headers: { accept: 'text/html' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/text\/html/);
      expect(response.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
      const html = await response.text();
      // Nothing from a CDN: every script and stylesheet is served by the gateway.
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
      const assets = [...html.matchAll(/(?:src|href)="(\/app\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      expect(assets.length).toBeGreaterThanOrEqual(2);
      for (const asset of assets) expect((await fetch(origin + asset)).status, asset).toBe(200);
      const config = JSON.parse(/<script type="application\/json" id="explorer-config">(.*?)<\/script>/.exec(html)![1]!);
      const introspection = await stack.graphql(config.token, '{ __schema { queryType { name } } }');
      expect(introspection.errors).toBeUndefined();
      expect(introspection.data.__schema.queryType.name).toBe('Query');
      // The same token reads clinical data under the consent rules.
      expect((await stack.graphql(config.token, '{ searchPatients(name: "an", first: 1) { edges { cursor } } }')).errors).toBeUndefined();
      // It acts as the clinician npm start prints, and the page opens on the README's chart query for the
      // patient npm start prints: that query, with that token, shows the patient's name.
      const demo = await (await fetch(`${origin}/dev/demo`)).json();
      expect(config.patientId).toBe(demo.patientId);
      expect(config.actor).toContain(demo.organizationId);
      const chart = await stack.graphql(config.token, config.chartQuery, { id: config.patientId });
      expect(chart.errors).toBeUndefined();
      const expected = bundles.find((b) => b.patient.id === demo.patientId)!.patient;
      expect(chart.data.patient.name[0].text).toBe(`${expected.family} ${expected.given.join(' ')}`);
    });

    it('keeps introspection guarded: a clinical token without schema:read is refused', async () => {
      expect((await stack.graphql(clinician, '{ __schema { queryType { name } } }')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });

    it('mints demo tokens at POST /dev/token, validated like real ones', async () => {
      const mint = (body: unknown, contentType = 'application/json') => fetch(`${origin}/dev/token`, { method: 'POST', headers: { 'content-type': contentType }, body: JSON.stringify(body) });
      const response = await mint({ role: 'nurse', org: 'org-thc-baisha' });
      expect(response.status).toBe(200);
      const { token } = await response.json();
      expect((await stack.graphql(token, '{ organizations { id } }')).errors).toBeUndefined();
      expect((await mint({ role: 'patient' })).status).toBe(400);
      expect((await mint({ role: 'clinician', org: ORG, purposeOfUse: 'ETREAT' })).status).toBe(400);
      expect((await mint({ role: 'root' })).status).toBe(400);
      expect((await mint({ role: 'clinician', org: ORG }, 'text/plain')).status).toBe(415);
    });

    it('serves the web client under /app/, any client-side path included', async () => {
      for (const path of ['/app/', '/app/patient/123']) {
        const response = await fetch(origin + path);
        expect(response.status).toBe(200);
        expect(await response.text()).toMatch(/<div id="root">/);
      }
      expect((await fetch(`${origin}/app/assets/missing.js`)).status).toBe(404);
      expect((await fetch(`${origin}/app/..%2f..%2fpackage.json`)).status).not.toBe(500);
      expect(await (await fetch(`${origin}/app/..%2f..%2fpackage.json`)).text()).not.toMatch(/"dependencies"/);
    });

    it('serves none of it in production: no explorer, no landing page, no demo tokens, no web client, no CORS by default', async () => {
      const production = await startGateway({
        host: '127.0.0.1', port: 0, production: true,
        subgraphUrls: Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, stack.subgraphs[name].url])) as Record<SubgraphName, string>,
        verifyToken: createTokenVerifier({ issuer: DEV_ISSUER, audience: DEFAULT_AUDIENCE, keySet: { keys: [stack.keys.issuerPublic] }, production: true }),
        keyring: keyringOf(stack.keys.internal, 'gateway'),
        corsAllowedOrigins: [],
      });
      try {
        const base = production.url.replace(/\/graphql$/, '');
        const page = await fetch(production.url, { headers: { accept: 'text/html' } });
        expect(page.status).toBe(405);
        expect(await page.text()).not.toMatch(/<html|graphiql|sandbox/i);
        expect((await fetch(`${base}/`, { headers: { accept: 'text/html' } })).status).toBe(405);
        expect((await fetch(`${base}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"role":"admin"}' })).status).toBe(404);
        expect((await fetch(`${base}/app/`)).status).toBe(404);
        const preflight = await fetch(production.url, { method: 'OPTIONS', headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST' } });
        expect(preflight.status).toBe(403);
        expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      } finally {
        await production.close();
      }
      await expect(startGateway({
        host: '127.0.0.1', port: 0, production: true, subgraphUrls: {} as Record<SubgraphName, string>,
        verifyToken: createTokenVerifier({ issuer: DEV_ISSUER, audience: DEFAULT_AUDIENCE, keySet: { keys: [stack.keys.issuerPublic] }, production: true }),
        keyring: keyringOf(stack.keys.internal, 'gateway'), development: { issuerPrivateKey: stack.keys.issuerPrivate },
      })).rejects.toThrow(/production/);
    });

    it('serves administrators exactly the checked-in public API schema (schema/api.graphql)', async () => {
      const admin = await stack.token({ sub: 'admin', role: 'admin' });
      const response = await fetch(`${origin}/schema.graphql`, { headers: { authorization: `Bearer ${admin}` } });
      expect(response.status).toBe(200);
      const served = await response.text();
      const file = readFileSync(API_SCHEMA_FILE, 'utf8').replace(/^(#.*\n)+\n/, '');
      expect(`${served}\n`).toBe(file);
      expect(printSchema(stack.gateway.gateway.schema!)).toBe(served);
    });
  });

  describe('searchPatients', () => {
    it('finds, by part of a name in any case, exactly the patients whose demographics patient(id) shows the caller, in a stable order over full pages', async () => {
      const own = bundles.find((b) => registeredAt(b, ORG))!;
      for (const fragment of ['an', own.patient.family.slice(0, 2).toUpperCase(), own.patient.given[0]!.slice(-3).toLowerCase()]) {
        const expected = inSearchOrder(await nameVisibleTo(clinician, fragment));
        expect(expected.length, fragment).toBeGreaterThan(fragment === 'an' ? 2 : 0);
        const all = await searchAll(clinician, { name: fragment }, 2);
        expect(all).toEqual(expected);
        expect(await searchAll(clinician, { name: fragment }, 100)).toEqual(expected);
      }
      // The registrations decide: none of the patients found is a stranger to the organisation.
      const found = await searchAll(clinician, { name: 'an' }, 50);
      expect(found.every((id) => registeredAt(bundles.find((b) => b.patient.id === id)!, ORG))).toBe(true);
    });

    it('matches a birth date and an identifier value exactly, criteria combined', async () => {
      const target = bundles.find((b) => registeredAt(b, ORG))!;
      const byDate = await searchAll(clinician, { birthDate: target.patient.birthDate }, 20);
      expect(byDate).toContain(target.patient.id);
      const card = target.patient.identifiers.find((i) => i.type === 'HC')!.value;
      expect(await searchAll(clinician, { identifier: card }, 20)).toEqual([target.patient.id]);
      const mrn = target.patient.identifiers.find((i) => i.assignerOrganizationId === ORG)!.value;
      expect(await searchAll(clinician, { identifier: mrn }, 20)).toEqual([target.patient.id]);
      expect(await searchAll(clinician, { identifier: card.slice(0, -1) }, 20)).toEqual([]);
      expect(await searchAll(clinician, { identifier: card, name: target.patient.family.slice(0, 3).toLowerCase() }, 20)).toEqual([target.patient.id]);
      expect(await searchAll(clinician, { identifier: card, birthDate: '1900-01-01' }, 20)).toEqual([]);
      // Wildcards are matched literally.
      expect(await searchAll(clinician, { name: '%%' }, 20)).toEqual([]);
    });

    it('refuses searches without criteria, and callers other than staff', async () => {
      const code = async (token: string, variables: Record<string, unknown>) => (await stack.graphql(token, SEARCH, variables)).errors?.[0]?.extensions?.code;
      expect(await code(clinician, {})).toBe('BAD_USER_INPUT');
      expect(await code(clinician, { name: ' ' })).toBe('BAD_USER_INPUT');
      expect(await code(clinician, { name: 'a' })).toBe('BAD_USER_INPUT');
      expect(await code(clinician, { name: 'an', first: 101 })).toBe('BAD_USER_INPUT');
      expect(await code(clinician, { name: 'an', after: 'not-a-cursor' })).toBe('BAD_USER_INPUT');
      const id = bundles[0]!.patient.id;
      expect(await code(await stack.token({ sub: 'p', role: 'patient', patient: id }), { name: 'an' })).toBe('FORBIDDEN');
      expect(await code(await stack.token({ sub: 'a', role: 'app', patient: id, client_id: 'diary' }), { name: 'an' })).toBe('FORBIDDEN');
      expect(await code(await stack.token({ sub: 'admin', role: 'admin' }), { name: 'an' })).toBe('FORBIDDEN');
      // A token bound to a patient finds that patient only.
      const target = bundles.find((b) => registeredAt(b, ORG))!;
      const bound = await stack.token({ sub: 'dr-bound', role: 'clinician', org: ORG, patient: target.patient.id, scope: 'patient/*.rs' });
      const name = target.patient.family.slice(0, 2);
      expect(await searchAll(bound, { name }, 10)).toEqual([target.patient.id]);
      const other = bundles.find((b) => registeredAt(b, ORG) && b.patient.family !== target.patient.family)!;
      expect(await searchAll(bound, { identifier: other.patient.identifiers[0]!.value }, 10)).toEqual([]);
    });

    it('follows the patient\'s consent: a deny hides them, a permit without demographics finds them by identifier only', async () => {
      const registered = bundles.filter((b) => registeredAt(b, ORG));
      const denying = registered[1]!;
      const stranger = bundles.find((b) => !registeredAt(b, ORG) && b.patient.identifiers.some((i) => i.type === 'HC'))!;
      const patientToken = (b: PatientBundle) => stack.token({ sub: `p-${b.patient.id}`, role: 'patient', patient: b.patient.id });
      const grant = async (b: PatientBundle, input: Record<string, unknown>) => {
        const response = await stack.graphql(await patientToken(b), 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', { input: { patientId: b.patient.id, ...input } });
        expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
        return response.data.grantConsent.id as string;
      };
      const card = (b: PatientBundle) => b.patient.identifiers.find((i) => i.type === 'HC')!.value;
      const denyId = await grant(denying, { decision: 'DENY', actorType: 'ORGANIZATION', actorId: ORG });
      const permitId = await grant(stranger, { decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: ORG, categories: ['LABS'] });
      try {
        expect(await searchAll(clinician, { identifier: card(denying) }, 5)).toEqual([]);
        expect(await searchAll(clinician, { name: denying.patient.family.slice(0, 2) }, 5)).not.toContain(denying.patient.id);
        // Pages stay full past the patient the policy leaves out.
        const fragment = denying.patient.given[0]!.slice(0, 2);
        expect(await searchAll(clinician, { name: fragment }, 1)).toEqual(inSearchOrder(await nameVisibleTo(clinician, fragment)));
        // Reached through a labs permit: found by identifier (as patientByIdentifier), name withheld with its reason...
        const byCard = await stack.graphql(clinician, SEARCH, { identifier: card(stranger) });
        expect(byCard.data.searchPatients.edges.map((e: any) => e.node.id)).toEqual([stranger.patient.id]);
        expect(byCard.data.searchPatients.edges[0].node.name).toBeNull();
        expect(byCard.errors?.find((e) => e.path?.includes('name'))?.extensions?.code).toBe('CONSENT_DENIED');
        // ...but a name search would disclose the name: it does not match them.
        expect(await searchAll(clinician, { name: stranger.patient.family }, 100)).not.toContain(stranger.patient.id);
      } finally {
        for (const [b, id] of [[denying, denyId], [stranger, permitId]] as const) {
          await stack.graphql(await patientToken(b), 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id });
        }
      }
    });

    it('finds the patients of their programmes for public health, and anyone for break-glass, flagged', async () => {
      const cdc = await stack.token({ sub: 'ph-officer', role: 'public_health', org: 'org-cdc' });
      for (const fragment of ['an', 'en']) {
        const expected = inSearchOrder(await nameVisibleTo(cdc, fragment));
        expect(await searchAll(cdc, { name: fragment }, 3)).toEqual(expected);
      }
      const stranger = bundles.find((b) => !registeredAt(b, ORG))!;
      expect(await searchAll(clinician, { identifier: stranger.patient.identifiers[0]!.value }, 5)).toEqual([]);
      const emergency = await stack.token({ sub: 'dr-er', role: 'clinician', org: ORG, purpose_of_use: 'ETREAT', break_glass_reason: 'unconscious patient, no relatives' });
      const response = await stack.graphql(emergency, SEARCH, { identifier: stranger.patient.identifiers[0]!.value });
      expect(response.data.searchPatients.edges.map((e: any) => e.node.id)).toEqual([stranger.patient.id]);
      expect(response.extensions?.emergencyAccess?.patients).toEqual([stranger.patient.id]);
    });

    it('records one audit event per patient returned, whatever fields are selected', async () => {
      const fragment = 'an';
      const expected = (await searchAll(clinician, { name: fragment }, 100)).slice(0, 3);
      const response = await postGraphQL(stack.url, { authorization: `Bearer ${clinician}` }, { query: '{ searchPatients(name: "an", first: 3) { edges { cursor } } }' });
      expect(response.errors).toBeUndefined();
      expect(response.data).toMatchObject({ searchPatients: { edges: expect.any(Array) } });
      const events = await stack.databases.identity.query<{ patient_id: string; categories: string[]; actor_sub: string }>(
        'SELECT patient_id, categories, actor_sub FROM audit_event WHERE request_id = $1 ORDER BY patient_id', [response.requestId]);
      expect(events.map((e) => e.patient_id).sort()).toEqual([...expected].sort());
      expect(events.every((e) => e.categories.includes('demographics') && e.actor_sub === 'dr-north')).toBe(true);
    });
  });

  describe('work lists as Relay connections', () => {
    const pageThrough = async (token: string, field: 'incomingReferrals' | 'openFollowUpTasks', first: number) => {
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const response: GraphQLResponse<any> = await stack.graphql(token, `query($first: Int, $after: String) { ${field}(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, { first, after });
        expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
        const page: { edges: { cursor: string; node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } = response.data[field];
        ids.push(...page.edges.map((e) => e.node.id));
        if (!page.pageInfo.hasNextPage) return ids;
        expect(page.edges).toHaveLength(first);
        expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)!.cursor);
        after = page.pageInfo.endCursor;
      }
    };

    it('pages incomingReferrals newest first with a stable cursor, leaving out what the patient denied, pages full', async () => {
      const patients = bundles.slice(0, 6).map((b) => b.patient.id);
      // Seven referrals to the organisation, two sharing their instant (the id breaks the tie).
      await stack.databases.encounters.query(
        `INSERT INTO referral (id, patient_id, requester_organization_id, performer_organization_id, status, reason_code, reason_display, authored_on)
         SELECT gen_random_uuid(), ($1::uuid[])[1 + (i % 6)], 'org-thc-meixi', $2, 'requested', 'I10', 'Essential hypertension',
                timestamptz '2026-01-10T08:00:00Z' + (LEAST(i, 5) * interval '1 hour')
         FROM generate_series(1, 7) AS i`, [patients, ORG]);
      const expectedAll = async () => (await stack.databases.encounters.query<{ id: string }>(
        `SELECT id FROM referral WHERE performer_organization_id = $1 AND status IN ('requested', 'accepted') ORDER BY authored_on DESC, id DESC`, [ORG])).map((r) => r.id);
      const all = await expectedAll();
      expect(await pageThrough(clinician, 'incomingReferrals', 2)).toEqual(all);
      expect(await pageThrough(clinician, 'incomingReferrals', 100)).toEqual(all);
      // The patient of one of them refuses the organisation: that referral leaves the list, the pages stay full.
      const refusing = bundles[2]!;
      const token = await stack.token({ sub: 'p-refuses', role: 'patient', patient: refusing.patient.id });
      const denied = await stack.graphql(token, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', {
        input: { patientId: refusing.patient.id, decision: 'DENY', actorType: 'ORGANIZATION', actorId: ORG } });
      const hidden = new Set((await stack.databases.encounters.query<{ id: string }>('SELECT id FROM referral WHERE patient_id = $1', [refusing.patient.id])).map((r) => r.id));
      expect(hidden.size).toBeGreaterThan(0);
      expect(await pageThrough(clinician, 'incomingReferrals', 1)).toEqual(all.filter((id) => !hidden.has(id)));
      await stack.graphql(token, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: denied.data.grantConsent.id });
      expect((await stack.graphql(clinician, '{ incomingReferrals(after: "bad") { edges { cursor } } }')).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });

    it('pages openFollowUpTasks earliest due first with a stable cursor', async () => {
      const nurse = await stack.token({ sub: 'nurse-north', role: 'nurse', org: ORG });
      const patients = bundles.slice(0, 5).map((b) => b.patient.id);
      await stack.databases['public-health'].query(
        `INSERT INTO follow_up_task (id, patient_id, organization_id, description, due_date, status, assigned_role, authored_on)
         SELECT gen_random_uuid(), ($1::uuid[])[1 + (i % 5)], $2, 'Check blood pressure', date '2026-02-01' + (i / 3), 'requested', 'nurse',
                timestamptz '2026-01-01T00:00:00Z' + ((i % 2) * interval '1 day')
         FROM generate_series(1, 9) AS i`, [patients, ORG]);
      const expected = (await stack.databases['public-health'].query<{ id: string }>(
        `SELECT id FROM follow_up_task WHERE organization_id = $1 AND assigned_role = 'nurse' AND status = 'requested' ORDER BY due_date, authored_on, id`, [ORG])).map((r) => r.id);
      expect(expected.length).toBeGreaterThanOrEqual(9);
      expect(await pageThrough(nurse, 'openFollowUpTasks', 2)).toEqual(expected);
      expect(await pageThrough(nurse, 'openFollowUpTasks', 100)).toEqual(expected);
    });
  });
});
