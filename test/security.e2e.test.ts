/**
 * The security perimeter, attack by attack, against the running gateway and
 * subgraphs (production mode): every attack is refused with the right code,
 * and the legitimate calls beside them still succeed.
 */
import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTOR_TOKEN_HEADER } from '../lib/trust/internal-token.js';
import { internalSigners, type InternalSigners } from './support/internal.js';
import type { SubgraphName } from '../lib/runtime/services.js';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { DEFAULT_AUDIENCE, DEV_ISSUER, generateDevKeys } from '../lib/trust/keys.js';
import { postGraphQL, startTestStack, type GraphQLResponse, type TestStack } from './support/harness.js';

const patient = generatePatient(DEFAULT_SEED, 3);
const other = generatePatient(DEFAULT_SEED, 4);
const homeOrg = patient.patient.identifiers.find((i) => i.type === 'MR')!.assignerOrganizationId!;
const strangerOrg = ['org-thc-baisha', 'org-thc-meixi', 'org-thc-gaiyang', 'org-thc-qingliang'].find(
  (org) => !patient.patient.identifiers.some((i) => i.assignerOrganizationId === org),
)!;
const PATIENT_QUERY = `query($id: ID!) { patient(id: $id) { id name { text } observations(first: 3) { edges { node { id } } } } }`;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('security perimeter', () => {
  let stack: TestStack;
  let signers: InternalSigners;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    stack = await startTestStack('pglite', { patients: 10, production: true });
    signers = internalSigners(stack.keys);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'dr-home', role: 'clinician', org: homeOrg };
    const forgedKey = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = stack.keys.issuerPublic;
    tokens.clinician = await stack.token(claims);
    tokens.stranger = await stack.token({ sub: 'nurse-far', role: 'nurse', org: strangerOrg });
    tokens.app = await stack.appToken({ sub: 'app-user', client_id: 'bp-diary', patient: patient.patient.id, scope: 'patient/Observation.rs patient/Patient.rs' });
    tokens.labsOnlyApp = await stack.appToken({ sub: 'app-user2', client_id: 'lab-viewer', patient: patient.patient.id, scope: 'patient/Observation.rs' });
    tokens.patient = await stack.token({ sub: 'p-3', role: 'patient', patient: patient.patient.id, scope: 'patient/*.rs' });
    tokens.admin = await stack.token({ sub: 'admin', role: 'admin' });
    tokens.schemaReader = await stack.token({ sub: 'frontend-dev', role: 'clinician', org: homeOrg, scope: 'user/*.rs schema:read' });
    tokens.expired = await stack.token(claims, { expiresIn: -600 });
    tokens.notYetValid = await stack.token(claims, { notBefore: now + 600 });
    tokens.wrongAudience = await stack.token(claims, { audience: 'another-api' });
    tokens.wrongIssuer = await stack.token(claims, { issuer: 'https://evil.example.org' });
    tokens.forged = await new SignJWT({ ...claims, scope: 'user/*.cruds' }).setProtectedHeader({ alg: 'ES256', kid: publicJwk.kid })
      .setIssuer(DEV_ISSUER).setAudience(DEFAULT_AUDIENCE).setSubject('dr-home').setExpirationTime('1h').sign(forgedKey.privateKey);
    tokens.unknownKid = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'who-knows' })
      .setIssuer(DEV_ISSUER).setAudience(DEFAULT_AUDIENCE).setSubject('dr-home').setExpirationTime('1h').sign(forgedKey.privateKey);
    tokens.algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, iss: DEV_ISSUER, aud: DEFAULT_AUDIENCE, exp: now + 3600 })}.`;
    // The classic confusion attack: HS256 "signed" with the public key as the secret.
    tokens.hmacWithPublicKey = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', kid: publicJwk.kid })
      .setIssuer(DEV_ISSUER).setAudience(DEFAULT_AUDIENCE).setSubject('dr-home').setExpirationTime('1h')
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    tokens.patientScopeWithoutPatient = await stack.token({ sub: 'x', role: 'clinician', org: homeOrg, scope: 'patient/*.rs' });
    tokens.breakGlassWithoutReason = await stack.token({ sub: 'x', role: 'clinician', org: homeOrg, purpose_of_use: 'ETREAT' });
    tokens.readOnlyPatient = await stack.token({ sub: 'p-3', role: 'patient', patient: patient.patient.id, scope: 'patient/*.rs' });
    tokens.writingPatient = await stack.token({ sub: 'p-3', role: 'patient', patient: patient.patient.id, scope: 'patient/*.cruds' });
  });
  afterAll(async () => stack?.close());

  const ask = (token: string | null, query = PATIENT_QUERY, variables: Record<string, unknown> = { id: patient.patient.id }) => stack.graphql(token, query, variables);
  const firstCode = (response: GraphQLResponse<unknown>) => response.errors?.[0]?.extensions?.code;

  describe('tokens at the gateway', () => {
    it.each([
      ['no token', null],
      ['a forged signature', 'forged'],
      ['an expired token', 'expired'],
      ['a token not yet valid', 'notYetValid'],
      ['the wrong audience', 'wrongAudience'],
      ['the wrong issuer', 'wrongIssuer'],
      ['alg: none', 'algNone'],
      ['HMAC signed with the public key', 'hmacWithPublicKey'],
      ['an unknown kid', 'unknownKid'],
      ['garbage', 'garbage'],
      ['a patient/ scope without a patient claim', 'patientScopeWithoutPatient'],
      ['break-glass without a reason', 'breakGlassWithoutReason'],
    ])('refuses %s with UNAUTHENTICATED and no data', async (_name, key) => {
      const response = await ask(key === null ? null : key === 'garbage' ? 'abc.def.ghi' : tokens[key]!);
      expect(response.status).toBe(401);
      expect(firstCode(response)).toBe('UNAUTHENTICATED');
      expect(response.data).toBeUndefined();
      expect(JSON.stringify(response)).not.toMatch(/stack|signature verification|JWSSignatureVerificationFailed|at .*\.ts/);
    });

    it('tells unauthenticated callers to send a bearer token (RFC 6750), on GraphQL, the SDL download and the FHIR export', async () => {
      const base = stack.url.replace(/\/graphql$/, '');
      const answers = [
        await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) }),
        await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer abc.def.ghi' }, body: JSON.stringify({ query: '{ __typename }' }) }),
        await fetch(`${base}/schema.graphql`),
        await fetch(`${base}/fhir/Patient/${patient.patient.id}/$everything`),
      ];
      for (const answer of answers) {
        expect(answer.status, answer.url).toBe(401);
        expect(answer.headers.get('www-authenticate'), answer.url).toMatch(/^Bearer realm=/);
      }
    });

    it('lets the legitimate clinician in', async () => {
      const response = await ask(tokens.clinician!);
      expect(response.errors).toBeUndefined();
      expect(response.data.patient.id).toBe(patient.patient.id);
    });
  });

  describe('reach of a token', () => {
    it('refuses a patient-bound app asking for another patient', async () => {
      const response = await ask(tokens.app!, PATIENT_QUERY, { id: other.patient.id });
      expect(response.data.patient).toBeNull();
      expect(firstCode(response)).toBe('FORBIDDEN');
      const direct = await ask(tokens.app!, 'query($id: ID!) { observation(id: $id) { id } }', { id: other.observations[0]!.id });
      expect(direct.data.observation).toBeNull();
    });

    it('keeps an app inside its scopes (scope escalation)', async () => {
      const response = await ask(tokens.labsOnlyApp!, 'query($id: ID!) { patient(id: $id) { id name { text } observations(first: 2) { edges { node { id } } } imagingStudies { edges { node { id } } } } }');
      expect(response.data.patient.name).toBeNull();
      expect(response.errors?.find((e) => e.path?.join('.') === 'patient.name')?.extensions?.code).toBe('FORBIDDEN');
      expect(response.data.patient.observations.edges.length).toBeGreaterThan(0);
      expect(response.data.patient.imagingStudies.edges).toEqual([]);
    });

    it('keeps an app to the resource types its scopes name: Observation scopes do not reach lab DiagnosticReports', async () => {
      const query = `query($id: ID!) { patient(id: $id) {
        observations(first: 100) { edges { node { id } } } diagnosticReports(first: 100) { edges { node { id } } }
        timeline(first: 100, kinds: [LAB_RESULT, DIAGNOSTIC_REPORT]) { edges { kind } } } }`;
      const observationsOnly = await ask(tokens.labsOnlyApp!, query);
      expect(observationsOnly.errors).toBeUndefined();
      expect(observationsOnly.data.patient.observations.edges).toHaveLength(patient.observations.length);
      expect(observationsOnly.data.patient.diagnosticReports.edges).toEqual([]);
      expect(new Set(observationsOnly.data.patient.timeline.edges.map((e: { kind: string }) => e.kind))).toEqual(new Set(['LAB_RESULT']));
      const report = patient.diagnosticReports[0]!;
      expect((await ask(tokens.labsOnlyApp!, 'query($r: ID!) { diagnosticReport(id: $r) { id } }', { r: report.id })).data.diagnosticReport).toBeNull();

      const reportsOnly = await stack.appToken({ sub: 'app-user3', client_id: 'report-viewer', patient: patient.patient.id, scope: 'patient/DiagnosticReport.rs?category=LAB' });
      const reports = await ask(reportsOnly, query);
      expect(reports.errors).toBeUndefined();
      expect(reports.data.patient.observations.edges).toEqual([]);
      expect(reports.data.patient.diagnosticReports.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual(patient.diagnosticReports.map((r) => r.id).sort());
    });

    it('shows a nurse from another organisation nothing', async () => {
      const response = await ask(tokens.stranger!);
      expect(response.data.patient).toBeNull();
      const direct = await ask(tokens.stranger!, 'query($id: ID!) { encounter(id: $id) { id reason { code } } }', { id: patient.encounters[0]!.id });
      expect(direct.data.encounter).toBeNull();
    });

    it('checks writes in the owning subgraph', async () => {
      const input = { patientId: patient.patient.id, decision: 'PERMIT', actorType: 'ALLIANCE', categories: ['LABS'] };
      const mutation = 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }';
      expect(firstCode(await ask(tokens.readOnlyPatient!, mutation, { input }))).toBe('FORBIDDEN');
      // Staff of an organisation that neither registered the patient nor holds a permit: as if the patient did not exist.
      expect(firstCode(await ask(tokens.stranger!, mutation, { input }))).toBe('NOT_FOUND');
      expect(firstCode(await ask(tokens.app!, mutation, { input }))).toBe('FORBIDDEN');
      expect(firstCode(await ask(tokens.writingPatient!, mutation, { input: { ...input, patientId: other.patient.id } }))).toBe('FORBIDDEN');
      expect(firstCode(await ask(tokens.writingPatient!, mutation, { input: { ...input, labels: ['NOT-A-LABEL'] } }))).toBe('BAD_USER_INPUT');
      const granted = await ask(tokens.writingPatient!, mutation, { input });
      expect(granted.errors).toBeUndefined();
      // Staff of a registering organisation record a signed consent, naming the form.
      const staffInput = { ...input, actorType: 'ORGANIZATION', actorId: strangerOrg };
      expect(firstCode(await ask(tokens.clinician!, mutation, { input: staffInput }))).toBe('BAD_USER_INPUT');
      const staff = await ask(tokens.clinician!, mutation, { input: { ...staffInput, attestation: 'scan-2026-0042' } });
      expect(staff.errors).toBeUndefined();
      // The alliance-wide permit (labs only) lets the stranger reach the patient but not see the patient's
      // consents: the directive answers as an unknown one would, and stays active.
      const revokeByStranger = await ask(tokens.stranger!, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: granted.data.grantConsent.id });
      const revokeUnknown = await ask(tokens.stranger!, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: '00000000-0000-4000-8000-000000000000' });
      expect(firstCode(revokeByStranger)).toBe('NOT_FOUND');
      expect(revokeByStranger.errors?.[0]?.message).toBe(revokeUnknown.errors?.[0]?.message);
      const consents = await ask(tokens.writingPatient!, 'query($id: ID!) { patient(id: $id) { consents { id active } } }', { id: patient.patient.id });
      expect(consents.data.patient.consents.find((c: { id: string }) => c.id === granted.data.grantConsent.id)?.active).toBe(true);
    });
  });

  describe('direct calls to subgraphs', () => {
    const probes = ['{ _service { sdl } }', '{ _entities(representations: [{ __typename: "Patient", id: "00000000-0000-4000-8000-000000000000" }]) { __typename } }', '{ __typename }'];

    it.each(SUBGRAPH_NAMES)('%s refuses requests without a gateway signature, with a forged one, one for another subgraph or operation, and a replayed one', async (name) => {
      const url = stack.subgraphs[name].url;
      for (const query of probes) {
        const unsigned = await postGraphQL(url, {}, { query });
        expect(unsigned.status).toBe(401);
        expect(firstCode(unsigned)).toBe('UNAUTHENTICATED');
        expect(unsigned.data).toBeUndefined();
      }
      const actor = { sub: 'admin', role: 'patient' as const, org: null, scope: 'patient/*.cruds', patient: patient.patient.id, purposeOfUse: 'TREAT' as const, breakGlassReason: null, clientId: null };
      const query = probes[0]!;
      // Signed with another key under the gateway's name.
      const foreignKeys = await generateDevKeys('forged-');
      const forged = internalSigners({ ...stack.keys, internal: { ...stack.keys.internal, gateway: foreignKeys.internal.gateway } });
      const forgedResponse = await postGraphQL(url, { [ACTOR_TOKEN_HEADER]: forged.actorToken(name, actor, query) }, { query });
      expect(firstCode(forgedResponse)).toBe('UNAUTHENTICATED');
      // A genuine token issued for another operation, or for another subgraph.
      const other = SUBGRAPH_NAMES.find((n) => n !== name)!;
      expect(firstCode(await postGraphQL(url, { [ACTOR_TOKEN_HEADER]: signers.actorToken(name, actor, '{ __typename }') }, { query }))).toBe('UNAUTHENTICATED');
      expect(firstCode(await postGraphQL(url, { [ACTOR_TOKEN_HEADER]: signers.actorToken(other, actor, query) }, { query }))).toBe('UNAUTHENTICATED');
      // A subgraph cannot speak as the gateway: a token of another service's key is not an actor token.
      const subgraphSigned = internalSigners({ ...stack.keys, internal: { ...stack.keys.internal, gateway: stack.keys.internal[other] } });
      expect(firstCode(await postGraphQL(url, { [ACTOR_TOKEN_HEADER]: subgraphSigned.actorToken(name, actor, query) }, { query }))).toBe('UNAUTHENTICATED');
      // The genuine token works once; replayed, it is refused.
      const genuine = signers.actorToken(name, actor, '{ __typename }');
      expect((await postGraphQL(url, { [ACTOR_TOKEN_HEADER]: genuine }, { query: '{ __typename }' })).data).toEqual({ __typename: 'Query' });
      const replayed = await postGraphQL(url, { [ACTOR_TOKEN_HEADER]: genuine }, { query: '{ __typename }' });
      expect(replayed.status).toBe(401);
      expect(firstCode(replayed)).toBe('UNAUTHENTICATED');
    });

    describe('internal APIs know their callers (a captured token serves no other purpose)', () => {
      const clinician = { sub: 'dr-home', role: 'clinician' as const, org: homeOrg, scope: 'user/*.cruds', patient: null, purposeOfUse: 'TREAT' as const, breakGlassReason: null, clientId: null };
      const internalUrl = (name: SubgraphName, path: string) => stack.subgraphs[name].url.replace(/\/graphql$/, path);
      const post = (name: SubgraphName, path: string, body: string, token: string) =>
        fetch(internalUrl(name, path), { method: 'POST', headers: { 'content-type': 'application/json', [ACTOR_TOKEN_HEADER]: token }, body });
      const factsBody = JSON.stringify({ patientIds: [other.patient.id] });

      it('refuses an actor token the gateway signed for a GraphQL call, at every internal API', async () => {
        const captured = signers.actorToken('identity', clinician, PATIENT_QUERY, { id: patient.patient.id });
        for (const path of ['/internal/consent-facts', '/internal/audit-events', '/internal/birth-dates', '/internal/registry']) {
          const response = await post('identity', path, factsBody, captured);
          expect(response.status, path).toBe(401);
          expect(await response.text(), path).not.toContain(other.patient.id);
        }
        const labsToken = signers.actorToken('labs', clinician, PATIENT_QUERY, { id: patient.patient.id });
        const timeline = await post('labs', '/internal/timeline', JSON.stringify({ patientIds: [other.patient.id], kinds: ['LAB_RESULT'], first: 10 }), labsToken);
        expect(timeline.status).toBe(401);
      });

      it('stores audit events only from the gateway', async () => {
        const before = await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event');
        const report = (patientId: string, labs: number) => JSON.stringify({ requests: [{
          requestId: 'test-audit', actor: { sub: clinician.sub, role: clinician.role, org: clinician.org, clientId: null, purposeOfUse: 'TREAT', breakGlassReason: null },
          patients: [{ patientId, recordCounts: { labs }, breakGlass: false }],
        }] });
        const body = report(other.patient.id, 1);
        // labs, with its own genuine key and a genuine actor token as authority: not a caller of the audit trail.
        const via = signers.actorToken('labs', clinician, PATIENT_QUERY);
        const fromLabs = signers.as('labs').signCallToken({ audience: 'identity', path: '/internal/audit-events', body, requestId: 'test-request', via });
        expect((await post('identity', '/internal/audit-events', body, fromLabs)).status).toBe(401);
        const after = await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event');
        expect(after[0]!.n).toBe(before[0]!.n);
        // The gateway's own token is accepted, once, and only for the body it was signed for.
        const fromGateway = signers.as('gateway').signCallToken({ audience: 'identity', path: '/internal/audit-events', body, requestId: 'test-audit', actor: clinician });
        const otherBody = report(patient.patient.id, 9);
        expect((await post('identity', '/internal/audit-events', otherBody, fromGateway)).status).toBe(401);
        const stored = await post('identity', '/internal/audit-events', body, fromGateway);
        expect(stored.status).toBe(200);
        expect(await stored.json()).toEqual({ stored: [1] });
        expect((await post('identity', '/internal/audit-events', body, fromGateway)).status).toBe(401);
        // Even from the gateway, a report naming an actor no token could yield is refused whole, and nothing is stored.
        const count = async () => (await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event'))[0]!.n;
        const beforeBad = await count();
        const bad = JSON.stringify({ requests: [JSON.parse(body).requests[0], { requestId: 'test-bad', actor: { sub: 'x', role: 'superuser', org: null, clientId: null, purposeOfUse: 'TREAT', breakGlassReason: null }, patients: [] }] });
        const badToken = signers.as('gateway').signCallToken({ audience: 'identity', path: '/internal/audit-events', body: bad, requestId: 'test-bad', actor: clinician });
        expect((await post('identity', '/internal/audit-events', bad, badToken)).status).toBe(400);
        expect(await count()).toBe(beforeBad);
      });

      it('answers consent facts only to subgraphs, acting under a gateway token for the same request', async () => {
        const via = signers.actorToken('labs', clinician, PATIENT_QUERY, undefined, 'request-a');
        const call = (from: 'labs' | 'imaging', authority: string | undefined, requestId = 'request-a') =>
          signers.as(from).signCallToken({ audience: 'identity', path: '/internal/consent-facts', body: factsBody, requestId, via: authority });
        // Genuine: labs, authorised by the token the gateway gave it for this request.
        expect((await post('identity', '/internal/consent-facts', factsBody, call('labs', via))).status).toBe(200);
        // No authority, an authority for another request, or one issued to another subgraph.
        expect((await post('identity', '/internal/consent-facts', factsBody, call('labs', undefined))).status).toBe(401);
        expect((await post('identity', '/internal/consent-facts', factsBody, call('labs', via, 'request-b'))).status).toBe(401);
        expect((await post('identity', '/internal/consent-facts', factsBody, call('imaging', via))).status).toBe(401);
        // The gateway is not a caller of consent facts.
        const fromGateway = signers.as('gateway').signCallToken({ audience: 'identity', path: '/internal/consent-facts', body: factsBody, requestId: 'x', actor: clinician });
        expect((await post('identity', '/internal/consent-facts', factsBody, fromGateway)).status).toBe(401);
      });

      it('serves timeline keys only to identity', async () => {
        const body = JSON.stringify({ patientIds: [patient.patient.id], kinds: ['LAB_RESULT'], first: 10 });
        const via = signers.actorToken('imaging', clinician, PATIENT_QUERY);
        const fromImaging = signers.as('imaging').signCallToken({ audience: 'labs', path: '/internal/timeline', body, requestId: 'test-request', via });
        expect((await post('labs', '/internal/timeline', body, fromImaging)).status).toBe(401);
        const identityVia = signers.actorToken('identity', clinician, PATIENT_QUERY, undefined, 'timeline-request');
        const fromIdentity = signers.as('identity').signCallToken({ audience: 'labs', path: '/internal/timeline', body, requestId: 'timeline-request', via: identityVia });
        expect((await post('labs', '/internal/timeline', body, fromIdentity)).status).toBe(200);
      });
    });

    it('refuses the internal APIs without a signature or with a forged one', async () => {
      const base = (name: SubgraphName) => stack.subgraphs[name].url.replace(/graphql$/, '');
      const routes: [SubgraphName, string][] = [
        ['identity', 'internal/consent-facts'], ['identity', 'internal/audit-events'], ['identity', 'internal/birth-dates'], ['identity', 'internal/registry'],
        ['public-health', 'internal/programme-organizations'], ['public-health', 'internal/discharge-follow-up'], ['encounters', 'internal/inpatient-stay'],
        ...(['encounters', 'labs', 'imaging', 'public-health'] as const).map((name): [SubgraphName, string] => [name, 'internal/timeline']),
      ];
      const body = JSON.stringify({ patientIds: [patient.patient.id], kinds: ['ENCOUNTER'], first: 10, encounterId: patient.encounters[0]?.id, patientId: patient.patient.id, dischargedAt: new Date().toISOString() });
      for (const [name, path] of routes) {
        for (const headers of [{}, { [ACTOR_TOKEN_HEADER]: 'forged.token.value' }] as Record<string, string>[]) {
          const response = await fetch(base(name) + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
          expect(response.status, `${name} ${path}`).toBe(401);
          expect(JSON.stringify(await response.json()), `${name} ${path}`).not.toContain(patient.patient.id);
        }
      }
    });
  });

  describe('schema access', () => {
    const INTROSPECTION = '{ __schema { queryType { name } types { name } } }';
    it('refuses introspection to everyone but administrators and schema:read tokens', async () => {
      for (const key of ['clinician', 'patient', 'app']) {
        const response = await ask(tokens[key]!, INTROSPECTION, {});
        expect(firstCode(response)).toBe('FORBIDDEN');
        expect(response.data).toBeUndefined();
      }
      expect(firstCode(await ask(tokens.clinician!, '{ __type(name: "Patient") { fields { name } } }', {}))).toBe('FORBIDDEN');
      expect((await ask(tokens.admin!, INTROSPECTION, {})).data.__schema.queryType.name).toBe('Query');
      expect((await ask(tokens.schemaReader!, INTROSPECTION, {})).data.__schema.types.length).toBeGreaterThan(50);
    });

    it('serves the documented SDL to administrators only', async () => {
      const sdl = (token: string | null) => fetch(stack.url.replace(/graphql$/, 'schema.graphql'), { headers: token ? { authorization: `Bearer ${token}` } : {} });
      const adminResponse = await sdl(tokens.admin!);
      expect(adminResponse.status).toBe(200);
      expect(await adminResponse.text()).toMatch(/A person known to the alliance \(FHIR Patient\)/);
      expect((await sdl(tokens.clinician!)).status).toBe(403);
      expect((await sdl(null)).status).toBe(401);
    });

    it('gives no field suggestions and no stack traces in production', async () => {
      const response = await ask(tokens.clinician!, '{ patien(id: "x") { id } }', {});
      expect(firstCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(JSON.stringify(response)).not.toMatch(/Did you mean|stacktrace/);
    });
  });

  describe('query limits', () => {
    it('refuses an alias bomb', async () => {
      // Past the alias limit but under the token limit: refused by validation.
      const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: patient(id: "${patient.patient.id}") { id }`).join(' ');
      const response = await ask(tokens.clinician!, `{ ${aliases} }`, {});
      expect(firstCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(response.status).toBe(400);
      expect(response.data).toBeUndefined();
      // A thousand: past the token limit too, refused by the parser before anything else.
      const flood = Array.from({ length: 1000 }, (_, i) => `a${i}: patient(id: "${patient.patient.id}") { id }`).join(' ');
      const refused = await ask(tokens.clinician!, `{ ${flood} }`, {});
      expect(firstCode(refused)).toBe('GRAPHQL_PARSE_FAILED');
      expect(refused.status).toBe(400);
    });

    it('refuses a depth bomb', async () => {
      let selection = 'id';
      for (let i = 0; i < 8; i++) selection = `encounter { id diagnoses { ${selection} } }`;
      const response = await ask(tokens.clinician!, `query($id: ID!) { encounter(id: $id) { diagnoses { ${selection} } } }`, { id: patient.encounters[0]!.id });
      expect(firstCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(response.errors![0]!.message).toMatch(/depth/i);
    });

    it('refuses directive floods and token floods', async () => {
      const directives = Array.from({ length: 50 }, () => '@include(if: true)').join(' ');
      expect(firstCode(await ask(tokens.clinician!, `{ organizations ${directives} { id } }`, {}))).toBe('GRAPHQL_VALIDATION_FAILED');
      const fields = Array.from({ length: 4000 }, () => 'id').join(' ');
      // The token limit is the parser's: a client mistake (400), refused before validation.
      const flood = await ask(tokens.clinician!, `{ organizations { ${fields} } }`, {});
      expect(firstCode(flood)).toBe('GRAPHQL_PARSE_FAILED');
      expect(flood.status).toBe(400);
    });

    it('refuses HTTP batches and oversized bodies', async () => {
      const batch = await fetch(stack.url, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.clinician}` },
        body: JSON.stringify([{ query: '{ organizations { id } }' }, { query: '{ organizations { id } }' }]),
      });
      expect(batch.status).toBe(400);
      const huge = await fetch(stack.url, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.clinician}` },
        body: JSON.stringify({ query: `{ organizations { id } } # ${'x'.repeat(200_000)}` }),
      });
      expect(huge.status).toBe(413);
      expect((await huge.json()).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('still runs the product\'s own longitudinal query', async () => {
      const response = await ask(tokens.clinician!, `query($id: ID!) { patient(id: $id) { id name { text } birthDate gender identifiers { system value }
        encounters(first: 20) { edges { cursor node { id class period { start end } organization { id name } practitioner { id name { text } } reason { code display } diagnoses { id code { code display } } } } pageInfo { hasNextPage endCursor } }
        observations(first: 50) { edges { node { id code { code display } valueQuantity { value unit } referenceRange { text } interpretation { code } effectiveDateTime organization { name } report { id code { display } } } } pageInfo { hasNextPage endCursor } }
        diagnosticReports(first: 20) { edges { node { id category code { display } conclusion results { id } } } }
        imagingStudies(first: 10) { edges { node { id studyInstanceUid modality { code } bodySite { display } report { impression radiologist { name { text } } } } } }
        immunizations(first: 20) { edges { node { vaccineCode { code display } doseNumber occurrenceDateTime } } }
        homeMeasurements(first: 20) { edges { node { kind systolic diastolic value effectiveDateTime } } } } }`);
      expect(response.errors).toBeUndefined();
    });
  });
});

