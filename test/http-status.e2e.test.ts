/**
 * HTTP statuses follow GraphQL over HTTP, per class of mistake, through the
 * gateway over real HTTP (README "When something fails"): a request that
 * cannot be parsed, validated or resolved to one operation is the client's
 * mistake (400), no or a bad token is 401 with WWW-Authenticate, refused
 * before execution is 403, too large 413, a wrong method 405, an unknown path
 * 404. Every answer carries `x-request-id` and every error an
 * `extensions.code`; none is a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/harness.js';

interface Answer {
  status: number;
  headers: Headers;
  requestId: string | null;
  body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } | null;
  text: string;
}

describe('HTTP statuses through the gateway', () => {
  let stack: TestStack;
  let base: string;
  let clinician: string;

  const send = async (init: { method?: string; path?: string; token?: string | null; body?: string; contentType?: string }): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/json';
    const token = init.token === undefined ? clinician : init.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${base}${init.path ?? '/graphql'}`, { method: init.method ?? 'POST', headers, body: init.body });
    const text = await response.text();
    let body: Answer['body'] = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return { status: response.status, headers: response.headers, requestId: response.headers.get('x-request-id'), body, text };
  };
  const operation = (query: string, extra: Record<string, unknown> = {}, token?: string | null) => send({ body: JSON.stringify({ query, ...extra }), token });

  /** The class's status and code, a request id, a code on every error, no data, no stack. */
  const expectRefused = (answer: Answer, status: number, code: string) => {
    expect({ status: answer.status, codes: answer.body?.errors?.map((e) => e.extensions?.code) }, answer.text).toEqual({ status, codes: [code] });
    expect(answer.requestId).toMatch(/^[\w.:-]{8,100}$/);
    expect(answer.body?.data ?? null).toBeNull();
    expect(answer.text).not.toMatch(/\n\s+at /); // no stack trace
  };

  beforeAll(async () => {
    stack = await startTestStack('pglite', { patients: 2 });
    base = stack.url.replace(/\/graphql$/, '');
    clinician = await stack.token({ sub: 'dr-status', role: 'clinician', org: 'org-provincial' });
  });
  afterAll(async () => stack?.close());

  it('answers a well-formed query 200, with its request id', async () => {
    const answer = await operation('{ __typename }');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: { __typename: 'Query' } });
    expect(answer.requestId).toBeTruthy();
  });

  describe('400: the document cannot be parsed', () => {
    it('a syntax error', async () => expectRefused(await operation('{ patient(id: "x" { id } }'), 400, 'GRAPHQL_PARSE_FAILED'));
    it('a NUL character in the document', async () => expectRefused(await operation('{ __typename \u0000 }'), 400, 'GRAPHQL_PARSE_FAILED'));
    it('an invalid escape in a string', async () => expectRefused(await operation('{ patient(id: "\\q") { id } }'), 400, 'GRAPHQL_PARSE_FAILED'));
    it('more tokens than the limit (3,000)', async () => {
      const answer = await operation(`{ ${'__typename '.repeat(3_100)}}`);
      expectRefused(answer, 400, 'GRAPHQL_PARSE_FAILED');
      expect(answer.body?.errors?.[0]?.message).toMatch(/3000 tokens/);
    });
  });

  describe('400: the document cannot be validated or resolved to one operation', () => {
    it('a field the schema does not have', async () => expectRefused(await operation('{ nosuchfield }'), 400, 'GRAPHQL_VALIDATION_FAILED'));
    it('several operations without operationName', async () =>
      expectRefused(await operation('query A { __typename } query B { __typename }'), 400, 'OPERATION_RESOLUTION_FAILURE'));
    it('an operationName the document does not have', async () =>
      expectRefused(await operation('query A { __typename }', { operationName: 'C' }), 400, 'OPERATION_RESOLUTION_FAILURE'));
    it('a subscription (this API has none)', async () =>
      expectRefused(await operation('subscription S { __typename }'), 400, 'OPERATION_RESOLUTION_FAILURE'));
  });

  describe('401, 403, 405, 413 and a body that is not JSON', () => {
    it('no token: 401 UNAUTHENTICATED with WWW-Authenticate', async () => {
      const answer = await operation('{ __typename }', {}, null);
      expectRefused(answer, 401, 'UNAUTHENTICATED');
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);
    });
    it('a token that does not verify: 401 UNAUTHENTICATED with WWW-Authenticate', async () => {
      const answer = await operation('{ __typename }', {}, `${clinician.slice(0, -8)}AAAAAAAA`);
      expectRefused(answer, 401, 'UNAUTHENTICATED');
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);
    });
    it('introspection without the right: 403 FORBIDDEN', async () =>
      expectRefused(await operation('{ __schema { queryType { name } } }'), 403, 'FORBIDDEN'));
    it('introspection with the right is answered (the 403 is about the right, not the query)', async () => {
      const answer = await operation('{ __schema { queryType { name } } }', {}, await stack.token({ sub: 'admin', role: 'admin' }));
      expect(answer.status, answer.text).toBe(200);
    });
    it('GET on /graphql: 405 with Allow: POST', async () => {
      const answer = await send({ method: 'GET', path: '/graphql?query=%7B__typename%7D' });
      expectRefused(answer, 405, 'BAD_USER_INPUT');
      expect(answer.headers.get('allow')).toBe('POST');
    });
    it('a body that is not JSON: 400', async () => expectRefused(await send({ body: '{"query": "{ __typename }"' }), 400, 'BAD_USER_INPUT'));
    it('a body larger than the limit: 413 PAYLOAD_TOO_LARGE', async () =>
      expectRefused(await send({ body: JSON.stringify({ query: `{ __typename } #${'x'.repeat(120_000)}` }) }), 413, 'PAYLOAD_TOO_LARGE'));
  });

  describe('every answer carries x-request-id', () => {
    it('liveness', async () => {
      const answer = await send({ method: 'GET', path: '/health', token: null });
      expect(answer.status).toBe(200);
      expect(answer.requestId).toBeTruthy();
    });
    it('a path that does not exist: 404 NOT_FOUND', async () => {
      expectRefused(await send({ method: 'GET', path: '/no/such/path', token: null }), 404, 'NOT_FOUND');
      expectRefused(await send({ method: 'POST', path: '/no/such/path', body: '{}' }), 404, 'NOT_FOUND');
    });
    it('each answer its own id', async () => {
      const ids = await Promise.all([operation('{ __typename }'), operation('{ nosuchfield }'), operation('{ __typename }', {}, null)].map(async (a) => (await a).requestId));
      expect(new Set(ids).size).toBe(3);
    });
  });

  describe('FHIR writes: one preamble, the same answers on every write route', () => {
    const RECORD = '7d0c2ec4-5a1f-4c44-9d8e-2c4fb1d3a0aa';
    const outcome = (answer: Answer) => (answer.body as unknown as { resourceType?: string; issue?: { code: string }[] } | null);
    it.each([
      ['POST', '/fhir', '{"resourceType":"Bundle","type":"transaction","entry":[]}'],
      ['POST', '/fhir/Observation', '{"resourceType":"Observation"}'],
      ['PUT', `/fhir/Observation/${RECORD}`, `{"resourceType":"Observation","id":"${RECORD}"}`],
    ])('%s %s: 401 without a token, 403 for a caller who does not publish, 415 for another media type, 400 for a body that is not JSON, each an OperationOutcome', async (method, path, body) => {
      const patient = await stack.token({ sub: 'patient-status', role: 'patient', patient: RECORD, scope: 'patient/*.cruds' });
      const cases: [Parameters<typeof send>[0], number, string][] = [
        [{ method, path, body, token: null, contentType: 'application/fhir+json' }, 401, 'login'],
        [{ method, path, body, token: patient, contentType: 'application/fhir+json' }, 403, 'forbidden'],
        [{ method, path, body, contentType: 'text/plain' }, 415, 'not-supported'],
        [{ method, path, body: body.slice(0, -1), contentType: 'application/fhir+json' }, 400, 'structure'],
      ];
      for (const [init, status, code] of cases) {
        const answer = await send(init);
        expect({ status: answer.status, type: outcome(answer)?.resourceType, code: outcome(answer)?.issue?.[0]?.code }, answer.text).toEqual({ status, type: 'OperationOutcome', code });
        expect(answer.requestId).toBeTruthy();
      }
    });
  });
});
