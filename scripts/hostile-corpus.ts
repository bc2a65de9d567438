/**
 * A generated corpus of hostile and malformed requests against the gateway:
 * broken JSON and GraphQL, wrong types, NUL bytes and bad escapes, floods
 * (aliases, depth, directives, tokens, fragments), operations that cannot be
 * resolved, subscriptions, introspection without the right, forged, expired
 * and garbage tokens, wrong methods, content types and paths, oversized and
 * truncated bodies; the SMART authorization server's endpoints (authorize,
 * token, introspection, revocation, the sign-in and approval pages, the
 * upstream callback, discovery) without what a real flow carries. Deterministic for a seed, so a failing case can be
 * replayed. Used by the hostile-input test and `npm run hostile`.
 *
 * What the gateway must do with every one: answer (no crash), with a 4xx for
 * the client's mistakes and never a 5xx, an `x-request-id`, no stack trace,
 * and bounded memory.
 */
import type { MintOptions, TokenClaims } from '../lib/trust/dev-token.js';

export interface HostileRequest {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export interface CorpusContext {
  /** Valid tokens of several callers, and bad ones. */
  tokens: { clinician: string; patient: string; admin: string; expired: string; forged: string };
  /** A patient id that exists, and one of a record. */
  patientId: string;
}

/** Mints a token as the stack's issuer does (ProcessStack.token). */
export type TokenMinter = (claims: TokenClaims, options?: MintOptions) => Promise<string>;

/**
 * The callers a corpus speaks as: a clinician of `org`, the patient, an
 * administrator, the clinician's token expired, and a forged one (its
 * signature altered). One place, so `npm run hostile` and the tests (one
 * stack or the replicated one) send the same corpus.
 */
export async function corpusTokens(mint: TokenMinter, org: string, patientId: string): Promise<CorpusContext['tokens']> {
  const clinician = await mint({ sub: 'dr-ops', role: 'clinician', org });
  return {
    clinician,
    patient: await mint({ sub: 'p', role: 'patient', patient: patientId }),
    admin: await mint({ sub: 'admin', role: 'admin' }),
    expired: await mint({ sub: 'dr-ops', role: 'clinician', org }, { expiresIn: -600 }),
    forged: `${clinician.slice(0, -10)}AAAAAAAAAA`,
  };
}

/** mulberry32: a small seeded PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID_QUERIES = [
  'query Chart($id: ID!) { patient(id: $id) { name { text } birthDate encounters(first: 5) { edges { node { class period { start } } } } observations(first: 5) { edges { node { code { display } } } } } }',
  '{ organizations { id name type } }',
  'query T($id: ID!) { patient(id: $id) { timeline(first: 10) { edges { kind occurredAt } pageInfo { endCursor } } } }',
  'mutation { revokeConsent(id: "00000000-0000-4000-8000-000000000000") { id } }',
];

export function hostileCorpus(count: number, seed: number, context: CorpusContext): HostileRequest[] {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const auth = () => pick([context.tokens.clinician, context.tokens.clinician, context.tokens.patient, context.tokens.admin]);
  const json = (body: unknown, token: string | null = auth(), extra: Record<string, string> = {}): HostileRequest => ({
    kind: '', method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra }, body: JSON.stringify(body),
  });
  const raw = (body: string | Uint8Array, headers: Record<string, string> = {}): HostileRequest => ({
    kind: '', method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json', authorization: `Bearer ${auth()}`, ...headers }, body,
  });
  const mutate = (text: string) => {
    const at = int(0, text.length);
    switch (int(0, 5)) {
      case 0: return text.slice(0, at);
      case 1: return text.slice(0, at) + pick(['{', '}', '(', ')', '"', '\\', '$', '@', '...', '\u0000', '\uffff', '#', ':', '!', '[']) + text.slice(at);
      case 2: return text.slice(0, at) + text.slice(at + int(1, 10));
      case 3: return text.replace(/"[^"]*"/, `"${pick(['\\uZZZZ', '\\x41', '\\', '\\u{1F600}', '\u0000', '\\uD800'])}"`);
      case 4: return text.replace(/\d+/, pick(['99999999999999999999', '-1', '1e400', 'NaN', '0x10']));
      default: return text.split('').reverse().join('');
    }
  };
  const generators: Record<string, () => HostileRequest> = {
    'broken json': () => raw(pick(['{', '{"query":', '{"query": "{ organizations { id } }"', '[{]', '{"query": "\\q"}', 'nul\u0000l', '\ufeff{}', '{"a":1,}', '"string"', '1e9999'])),
    'invalid utf-8': () => raw(new Uint8Array([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d])),
    'deep json': () => raw(`{"query":"{ __typename }","variables":${'['.repeat(5000)}${']'.repeat(5000)}}`),
    'mutated query': () => json({ query: mutate(pick(VALID_QUERIES)), variables: { id: context.patientId } }),
    'wrong field types': () => json(pick<unknown>([{ query: 42 }, { query: ['{ a }'] }, { query: null }, { query: '{ organizations { id } }', variables: 'x' },
      { query: '{ organizations { id } }', variables: [1] }, { query: '{ organizations { id } }', operationName: 7 }, { query: '{ organizations { id } }', extensions: 'x' }, {}, { variables: {} }])),
    'bad variables': () => json({ query: 'query($id: ID!, $n: Int) { patient(id: $id) { id encounters(first: $n) { edges { node { id } } } } }', variables: pick<Record<string, unknown>>([{ id: 5 }, { id: null }, {}, { id: context.patientId, n: 'x' }, { id: context.patientId, n: 1e12 }, { id: context.patientId, n: -5 }, { id: { a: 1 } }, { id: 'x'.repeat(5000) }]) }),
    'bad scalars': () => json({ query: `{ patient(id: "${context.patientId}") { encounters(first: 5, from: "${pick(['not-a-date', '2026-13-45T99:99:99Z', '', '9999999-01-01'])}") { edges { node { id } } } } }` }),
    'bad cursor': () => json({ query: `{ patient(id: "${context.patientId}") { encounters(first: 5, after: "${pick(['x', 'eyJ9', Buffer.from('["x","y"]').toString('base64url'), '////', 'a'.repeat(300)])}") { edges { node { id } } } } }` }),
    'alias flood': () => json({ query: `{ ${Array.from({ length: int(21, 400) }, (_, i) => `a${i}: organizations { id }`).join(' ')} }` }),
    'depth flood': () => {
      let selection = 'id';
      for (let i = 0; i < int(13, 60); i++) selection = `encounter { id diagnoses { ${selection} } }`;
      return json({ query: `{ encounter(id: "${context.patientId}") { ${selection} } }` });
    },
    'directive flood': () => json({ query: `{ organizations ${'@include(if: true) '.repeat(int(21, 300))}{ id } }` }),
    'token flood': () => json({ query: `{ organizations { ${'id '.repeat(int(3001, 30000))}} }` }),
    'fragment cycle': () => json({ query: 'query { organizations { ...A } } fragment A on Organization { ...B } fragment B on Organization { ...A }' }),
    'unknown field': () => json({ query: `{ ${pick(['nope', 'patient { id }', '__type', 'organizations { secret }', 'patient(id: 1, extra: 2) { id }'])} }` }),
    'several operations': () => json({ query: 'query A { organizations { id } } query B { organizations { name } }', ...(random() < 0.5 ? { operationName: pick(['C', '', ' ', 'a'.repeat(500)]) } : {}) }),
    'subscription': () => json({ query: 'subscription S { organizations { id } }' }),
    'introspection': () => json({ query: pick(['{ __schema { types { name } } }', '{ __type(name: "Patient") { fields { name } } }']) }, pick([context.tokens.clinician, context.tokens.patient])),
    'bad token': () => json({ query: pick(VALID_QUERIES), variables: { id: context.patientId } }, pick([context.tokens.expired, context.tokens.forged, 'abc.def.ghi', '', 'x'.repeat(5000), 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'])),
    'no token': () => json({ query: pick(VALID_QUERIES) }, null),
    'odd auth header': () => json({ query: pick(VALID_QUERIES) }, null, { authorization: pick(['Basic YWRtaW46YWRtaW4=', 'Bearer', 'Bearer  two  spaces', `bearer ${context.tokens.clinician}`, `Bearer ${context.tokens.clinician}\u0000`.replace('\u0000', '')]) }),
    'content type': () => ({ ...raw(JSON.stringify({ query: '{ organizations { id } }' })), headers: { authorization: `Bearer ${auth()}`, 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/graphql', 'application/json; charset=latin1']) } }),
    'method': () => ({ kind: '', method: pick(['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD']), path: pick(['/graphql', '/graphql?query=%7B__typename%7D', '/fhir/Patient']), headers: { authorization: `Bearer ${auth()}` } }),
    'path': () => ({ kind: '', method: pick(['GET', 'POST']), path: pick(['/', '/internal/consent-facts', '/internal/audit-events', '/../etc/passwd', '/graphql/../../x', '/%00', '/fhir/Patient/../../etc', `/fhir/Patient/${context.patientId}/$everything?_format=xml`, '/fhir/Patient/%ZZ/$everything', '/fhir/Observation/1', '/schema.graphql', '/metrics', '/.env', `/${'a'.repeat(3000)}`]), headers: { authorization: `Bearer ${auth()}`, accept: pick(['*/*', 'application/xml', 'text/html']) } }),
    'oversized': () => raw(JSON.stringify({ query: '{ organizations { id } }', variables: { pad: 'x'.repeat(int(100_001, 300_000)) } })),
    'batch': () => raw(JSON.stringify(Array.from({ length: int(2, 50) }, () => ({ query: '{ organizations { id } }' })))),
    'huge int': () => json({ query: `{ patient(id: "${context.patientId}") { encounters(first: ${pick(['99999999999', '-1', '0', '101', '1.5'])}) { edges { node { id } } } } }` }),
    // The SMART authorization server (gateway/src/smart/): every way into it, without the cookies, codes or keys a real flow has.
    'oauth authorize': () => ({ kind: '', method: pick(['GET', 'POST']), path: `/oauth/authorize?${new URLSearchParams(pick<Record<string, string>>([
      {}, { client_id: 'nope' }, { client_id: 'x'.repeat(5000), response_type: 'code' },
      { client_id: 'lab-diary', response_type: 'code', redirect_uri: 'https://evil.example.org', scope: 'patient/*.rs', code_challenge: 'x', code_challenge_method: 'plain' },
      { client_id: 'lab-diary', response_type: pick(['token', 'id_token', 'code token', '']), scope: pick(['"quoted"', 'a\\b', 'patient/Observation.rs?category=%00', '\u0000']), aud: pick(['', 'javascript:alert(1)', 'x'.repeat(3000)]) },
      { request: 'eyJhbGciOiJub25lIn0.e30.', client_id: 'lab-diary' }, { resource: 'not a uri', client_id: 'lab-diary' }, { prompt: 'none', client_id: 'lab-diary', response_type: 'code' },
    ]))}`, headers: {} }),
    'oauth token': () => ({ kind: '', method: 'POST', path: '/oauth/token', headers: { 'content-type': pick(['application/x-www-form-urlencoded', 'application/json', 'text/plain']), ...(random() < 0.3 ? { authorization: pick(['Basic !!!', 'Basic Og==', `Basic ${Buffer.from('lab-diary:wrong').toString('base64')}`]) } : {}) },
      body: pick([
        'grant_type=authorization_code&code=abc&redirect_uri=http://127.0.0.1:9/callback&client_id=lab-diary&code_verifier=x',
        'grant_type=refresh_token&refresh_token=nope&client_id=lab-diary', 'grant_type=client_credentials&scope=system/*.rs&client_id=nope',
        'grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.&scope=system/*.rs',
        'grant_type=password&username=a&password=b', 'grant_type=', 'grant_type=authorization_code&grant_type=refresh_token', '%ZZ=%ZZ', `code=${'x'.repeat(60_000)}`, '{"grant_type":"client_credentials"}',
      ]) }),
    'oauth introspect and revoke': () => ({ kind: '', method: 'POST', path: pick(['/oauth/introspect', '/oauth/revoke']), headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: pick(['token=abc', `token=${context.tokens.clinician}&client_id=lab-diary`, 'token_type_hint=access_token', `token=${'x'.repeat(10_000)}&client_id=nope`, '']) }),
    'oauth interaction': () => ({ kind: '', method: pick(['GET', 'POST']), path: pick(['/oauth/interaction/abc', '/oauth/interaction/abc/confirm', '/oauth/interaction/abc/login', '/oauth/interaction/abc/upstream',
      '/oauth/interaction/abc/abort', '/oauth/interaction/../../etc', `/oauth/interaction/${'a'.repeat(500)}`, '/oauth/upstream/callback?code=x&state=y', '/oauth/upstream/callback?state=%00', '/oauth/nope', '/oauth/jwks']),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: pick(['', 'fpr_interaction=abc', 'fpr_session=x.y; fpr_interaction=%00']) }, body: pick(['decision=approve&scope=patient/*.cruds', 'accountId=x', '']) }),
    'smart discovery': () => ({ kind: '', method: pick(['GET', 'POST', 'PUT', 'OPTIONS', 'DELETE']), path: pick(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration', '/.well-known/openid-configuration']), headers: { origin: 'https://app.example.org', 'access-control-request-method': 'GET' } }),
    'mutation input': () => json({ query: 'mutation($i: ConsentProvisionInput!) { grantConsent(input: $i) { id } }', variables: { i: pick<unknown>([{}, { patientId: 'x' }, { patientId: context.patientId, decision: 'MAYBE', actorType: 'ALLIANCE' }, { patientId: context.patientId, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: 'x'.repeat(10_000) }, null]) } }),
  };
  const kinds = Object.keys(generators);
  return Array.from({ length: count }, (_, i) => {
    const kind = kinds[i % kinds.length]!;
    return { ...generators[kind]!(), kind };
  });
}

/** Signs of a leak in a response body: stack frames, source paths, internal class names. */
export const STACK_TRACE = /\n\s+at |\.ts:\d+|node_modules|stacktrace|InternalApiError|TypeError:|ReferenceError:|\/work\//;

export interface HostileRun {
  requests: number;
  byStatus: Record<number, number>;
  serverErrors: { kind: string; status: number; body: string }[];
  leaks: { kind: string; body: string }[];
  missingRequestId: number;
  p50: number;
  p99: number;
  slowest: { kind: string; ms: number }[];
}

/** Sends the corpus with `concurrency` clients; collects statuses, leaks and latencies. */
export async function runCorpus(baseUrl: string, corpus: HostileRequest[], concurrency = 8): Promise<HostileRun> {
  const run: HostileRun = { requests: 0, byStatus: {}, serverErrors: [], leaks: [], missingRequestId: 0, p50: 0, p99: 0, slowest: [] };
  const times: { kind: string; ms: number }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < corpus.length) {
      const request = corpus[next++]!;
      const started = performance.now();
      let status = 0;
      let body = '';
      let requestId: string | null = null;
      try {
        const response = await fetch(baseUrl + request.path, { method: request.method, headers: request.headers, body: request.method === 'GET' || request.method === 'HEAD' ? undefined : (request.body as BodyInit | undefined), signal: AbortSignal.timeout(30_000) });
        status = response.status;
        requestId = response.headers.get('x-request-id');
        body = await response.text();
      } catch (error) {
        body = `no answer: ${(error as Error).message}`;
      }
      times.push({ kind: request.kind, ms: performance.now() - started });
      run.requests++;
      run.byStatus[status] = (run.byStatus[status] ?? 0) + 1;
      if (status === 0 || status >= 500) run.serverErrors.push({ kind: request.kind, status, body: body.slice(0, 300) });
      if (STACK_TRACE.test(body)) run.leaks.push({ kind: request.kind, body: body.slice(0, 300) });
      if (status !== 0 && !requestId) run.missingRequestId++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const sorted = times.map((t) => t.ms).sort((a, b) => a - b);
  run.p50 = sorted[Math.floor(sorted.length * 0.5)] ?? 0;
  run.p99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
  run.slowest = [...times].sort((a, b) => b.ms - a.ms).slice(0, 5).map((t) => ({ kind: t.kind, ms: Math.round(t.ms) }));
  return run;
}
