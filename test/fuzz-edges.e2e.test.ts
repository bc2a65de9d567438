/**
 * The client mistakes the fuzzer (fuzz.e2e.test.ts) and the hostile run
 * (scripts/hostile.ts) found answered as server errors, each pinned down
 * through the gateway over HTTP (docs/hardening.md):
 *
 * - persisted queries: the gateway supports none, so every
 *   `extensions.persistedQuery` (any version, a hash that matches or not, no
 *   query, a malformed one) answers 400 with a coded error, never a 500;
 * - an operationName that picks no operation (the empty name included);
 * - NUL (and, in GraphQL arguments, the other C0 controls): refused with a
 *   client error on every way in (GraphQL variables and literals, FHIR reads,
 *   searches and writes, HL7 v2, the OAuth endpoints, a direct call to a
 *   subgraph), and by lib/runtime/db.ts itself before PostgreSQL sees one.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../lib/runtime/db.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { internalSigners, staffActor } from './support/internal.js';

interface Answer { status: number; text: string; body: any }

const ORG = 'org-county-north';

describe.each(BACKENDS)('client mistakes that were server errors (%s)', (backend) => {
  let stack: TestStack;
  let base: string;
  let clinician: string;
  let system: string;

  const send = async (path: string, init: { method?: string; token?: string | null; body?: string; contentType?: string } = {}): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/json';
    const token = init.token === undefined ? clinician : init.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${base}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body, redirect: 'manual' });
    const text = await response.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return { status: response.status, text, body };
  };
  const graphql = (payload: Record<string, unknown>, token?: string | null) => send('/graphql', { body: JSON.stringify(payload), token });
  const codes = (answer: Answer) => (answer.body?.errors as { extensions?: { code?: string } }[] | undefined)?.map((e) => e.extensions?.code);

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 2 });
    base = stack.url.replace(/\/graphql$/, '');
    clinician = await stack.token({ sub: 'dr-edges', role: 'clinician', org: ORG });
    system = await stack.token({ sub: `${ORG}-his`, role: 'system', org: ORG, client_id: `${ORG}-his`, scope: 'system/*.cru' });
  });
  afterAll(async () => stack?.close());

  describe('persisted queries (not supported: 400 PERSISTED_QUERY_NOT_SUPPORTED)', () => {
    const query = '{ organizations { id } }';
    const sha256 = createHash('sha256').update(query).digest('hex');
    it.each([
      ['version 1 with its query and the right hash', { query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256 } } }],
      ['an unsupported version', { query, extensions: { persistedQuery: { version: 2, sha256Hash: sha256 } } }],
      ['a hash that does not match the query', { query, extensions: { persistedQuery: { version: 1, sha256Hash: '0'.repeat(64) } } }],
      ['an unknown hash and no query', { extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } }],
      ['a persistedQuery that is a string', { query, extensions: { persistedQuery: 'x' } }],
      ['a hash that is a number', { extensions: { persistedQuery: { version: 1, sha256Hash: 7 } } }],
    ])('%s', async (_name, payload) => {
      const answer = await graphql(payload);
      expect({ status: answer.status, codes: codes(answer) }, answer.text).toEqual({ status: 400, codes: ['PERSISTED_QUERY_NOT_SUPPORTED'] });
      expect(answer.text).not.toMatch(/\n\s+at /);
    });

    it('also without a token, and straight to a subgraph', async () => {
      const anonymous = await graphql({ query, extensions: { persistedQuery: { version: 3 } } }, null);
      expect(anonymous.status, anonymous.text).toBeGreaterThanOrEqual(400);
      expect(anonymous.status, anonymous.text).toBeLessThan(500);
      const direct = await fetch(stack.subgraphs.identity.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, extensions: { persistedQuery: { version: 2 } } }) });
      expect(direct.status).toBeGreaterThanOrEqual(400);
      expect(direct.status).toBeLessThan(500);
    });
  });

  it.each([
    ['an empty operationName', { query: '{ organizations { id } }', operationName: '' }],
    ['an operationName naming no operation', { query: '{ organizations { id } }', operationName: 'Nope' }],
    ['several operations and no operationName', { query: 'query A { __typename } query B { __typename }' }],
  ])('an operation that cannot be picked out (%s) answers 400 OPERATION_RESOLUTION_FAILURE', async (_name, payload) => {
    const answer = await graphql(payload);
    expect({ status: answer.status, codes: codes(answer) }, answer.text).toEqual({ status: 400, codes: ['OPERATION_RESOLUTION_FAILURE'] });
  });

  describe('NUL and control characters', () => {
    const LOOKUP = 'query Lookup($system: String!, $value: String!) { patientByIdentifier(system: $system, value: $value) { id } }';
    const expectRefused = (answer: Answer) => {
      expect({ status: answer.status, codes: codes(answer) }, answer.text).toEqual({ status: 400, codes: ['BAD_USER_INPUT'] });
      expect(answer.text).not.toMatch(/\n\s+at |DatabaseError|invalid byte sequence|unsupported Unicode/);
    };

    it.each([
      ['an identifier value (variable)', { query: LOOKUP, variables: { system: 'https://fhir.alliance.example.org/sid/health-card', value: 'HC\u0000123' } }],
      ['an identifier system (variable)', { query: LOOKUP, variables: { system: '\u0000', value: 'x' } }],
      ['an identifier value (inline literal)', { query: '{ patientByIdentifier(system: "s", value: "a\\u0000b") { id } }' }],
      ['a search term', { query: 'query S($n: String) { searchPatients(name: $n) { edges { node { id } } } }', variables: { n: 'Wu\u0000' } }],
      ['a cursor', { query: 'query S($a: String) { searchPatients(name: "Wu", after: $a) { edges { node { id } } } }', variables: { a: 'abc\u0000' } }],
      ['another control character (U+0001) in a search term', { query: 'query S($n: String) { searchPatients(name: $n) { edges { node { id } } } }', variables: { n: 'Wu\u0001' } }],
      ['a control character in a nested input', { query: LOOKUP, variables: { system: 's', value: 'x', extra: { deep: ['\u001f'] } } }],
    ])('GraphQL: %s', async (_name, payload) => {
      expectRefused(await graphql(payload));
    });

    it('GraphQL: tab, line feed and carriage return stay allowed in text', async () => {
      const answer = await graphql({ query: LOOKUP, variables: { system: 's', value: 'a\tb\nc\r' } });
      expect(answer.status, answer.text).toBe(200);
    });

    it('FHIR: a read, a search parameter and a write with a NUL answer 400 OperationOutcome', async () => {
      for (const answer of [
        await send('/fhir/Patient/%00/$everything'),
        await send('/fhir/Patient?identifier=abc%00def'),
        await send('/fhir', { token: system, contentType: 'application/fhir+json', body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'Nul\u0000' }] } }] }) }),
        await send('/fhir/Patient', { token: system, method: 'POST', contentType: 'application/fhir+json', body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'urn:x', value: '\u0000' }] }) }),
      ]) {
        expect({ status: answer.status, type: answer.body?.resourceType, code: answer.body?.issue?.[0]?.code }, answer.text).toEqual({ status: 400, type: 'OperationOutcome', code: 'invalid' });
      }
    });

    it('HL7 v2: a field with a NUL answers 400', async () => {
      const message = [
        `MSH|^~\\&|LIS|${ORG}|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|NUL-${Date.now()}|P|2.5.1`,
        `PID|1||HC-NUL\u0000^^^^HC~MR-NUL-${Date.now()}^^^${ORG}^MR||Wu^Fang||19750203|F`,
        ['OBR', '1', 'PL1', 'FL1', '58410-2^CBC panel - Blood by Automated count^LN', '', '', '20260301080000', ...Array(14).fill(''), '20260301083000', '', '', 'F'].join('|'),
        'OBX|1|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||12.8|g/dL^^UCUM|12.0-17.5|N|||F|||20260301080000',
      ].join('\r');
      const answer = await send('/hl7v2', { token: system, body: message, contentType: 'x-application/hl7-v2+er7' });
      expect(answer.status, answer.text).toBe(400);
    });

    it('OAuth: a NUL in a parameter of /authorize, /token or registration answers 400', async () => {
      const authorize = await send(`/oauth/authorize?client_id=a%00b&response_type=code`, { token: null });
      const token = await send('/oauth/token', { token: null, contentType: 'application/x-www-form-urlencoded', body: 'grant_type=authorization_code&code=a%00b' });
      const register = await send('/oauth/register', { token: null, body: JSON.stringify({ client_name: 'x\u0000', redirect_uris: ['https://app.example/cb'] }) });
      expect([authorize.status, token.status, register.status]).toEqual([400, 400, 400]);
    });

    it('a direct call to a subgraph with a valid actor token is refused as the client\'s mistake too', async () => {
      const variables = { system: 'https://fhir.alliance.example.org/sid/health-card', value: 'HC\u0000' };
      const query = 'query Lookup($system: String!, $value: String!) { patientByIdentifier(system: $system, value: $value) { id } }';
      const signed = internalSigners(stack.keys).actorToken('identity', staffActor(ORG), query, variables);
      const response = await fetch(stack.subgraphs.identity.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-actor-token': signed }, body: JSON.stringify({ query, variables }) });
      const text = await response.text();
      expect({ status: response.status, codes: codes({ status: response.status, text, body: JSON.parse(text) }) }, text).toEqual({ status: 400, codes: ['BAD_USER_INPUT'] });
    });
  });
});

describe('lib/runtime/db.ts refuses a NUL parameter before the database sees it', () => {
  it.each(BACKENDS)('%s', async (backend) => {
    const db = await openDatabase(backend === 'postgres' ? process.env.TEST_DATABASE_URL! : 'memory://');
    try {
      for (const params of [['a\u0000b'], [JSON.stringify({ note: 'x\u0000' })], [['ok', '\u0000']]]) {
        const error = await db.query('SELECT $1::text AS value', params).then(() => undefined, (e: unknown) => e) as { extensions?: { code?: string } } | undefined;
        expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
      }
      const inTransaction = await db.transaction((tx) => tx.query('SELECT $1::jsonb AS value', ['{"a":"\\u0000"}'])).then(() => undefined, (e: unknown) => e) as { extensions?: { code?: string } } | undefined;
      expect(inTransaction?.extensions?.code).toBe('BAD_USER_INPUT');
      // A backslash that is itself escaped is no NUL: JSON text "\\u0000" is fine.
      expect(await db.query<{ value: unknown }>('SELECT $1::jsonb AS value', ['{"a":"\\\\u0000"}'])).toEqual([{ value: { a: '\\u0000' } }]);
    } finally {
      await db.close();
    }
  });
});
