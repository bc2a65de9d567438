/**
 * The fuzzer's request generators (fast-check arbitraries) for every way into
 * the product, and the one rule every answer must keep: no 5xx, no stack
 * trace in the body, an answer within the client's deadline.
 *
 * The generators mix well-formed requests with mutations of them (a field
 * cut, a value swapped for garbage, NUL and other control characters, huge
 * and deeply nested values), so most cases travel past the first check into
 * the parsers, resolvers and databases behind.
 */
import fc from 'fast-check';
import type { TokenMinter } from '../../scripts/hostile-corpus.js';

/** One generated HTTP request (a path below the gateway's base URL). */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface FuzzAnswer {
  status: number;
  text: string;
}

/** Each request gets this long before it counts as a hang (generous: a busy 2-core machine, several ways at once). */
export const REQUEST_DEADLINE_MS = 20_000;

/** A stack trace in a body: V8's `    at fn (file:line:col)` lines, or a source path with a line number. */
const STACK_TRACE = /\n\s+at [^\n]*:\d+:\d+|\bat [\w.<>]+ \([^)]*\.(?:ts|js|mjs|cjs):\d+:\d+\)|node_modules\/|"stacktrace"/;

/**
 * Sends one request; throws, describing the request, when the answer is a
 * 5xx, carries a stack trace, or does not come before the deadline.
 */
export async function sendAndCheck(base: string, request: FuzzRequest): Promise<FuzzAnswer> {
  let response: Response;
  try {
    response = await fetch(`${base}${request.path}`, {
      method: request.method, headers: request.headers, body: request.body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
    });
  } catch (error) {
    throw new Error(`no answer within ${REQUEST_DEADLINE_MS} ms (${(error as Error).name}: ${(error as Error).message}) for ${describe(request)}`);
  }
  const text = await response.text();
  if (response.status >= 500) throw new Error(`HTTP ${response.status} ${text.slice(0, 500)} for ${describe(request)}`);
  if (STACK_TRACE.test(text)) throw new Error(`stack trace in the body: ${text.slice(0, 800)} for ${describe(request)}`);
  return { status: response.status, text };
}

const describe = (request: FuzzRequest) => JSON.stringify({ ...request, body: request.body && request.body.length > 2000 ? `${request.body.slice(0, 2000)}… (${request.body.length} chars)` : request.body });

// ---------------------------------------------------------------------------
// Building blocks

/** Control characters, NUL first, and characters that break naive parsers. */
export const nasty = fc.constantFrom('\u0000', '\u0001', '\u0007', '\u000b', '\u001c', '\u001f', '\u007f', '\ufeff', '\ud800', '\u2028', '\r', '\n', '\t', '|', '^', '~', '\\', '&', '"', "'", '%', '%00', '${', '{{', '$', '<', '>', '../', '\u202e');

/** Text: ordinary, any Unicode (lone surrogates included), with nasty characters, or large. */
export const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 3, arbitrary: fc.tuple(fc.string({ maxLength: 8 }), nasty, fc.string({ maxLength: 8 })).map(([a, n, b]) => `${a}${n}${b}`) },
  { weight: 1, arbitrary: fc.constantFrom(1_000, 20_000, 120_000).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', 'undefined', 'NaN', '-1', '0', '1e309', '9'.repeat(40), 'true', '[]', '{}', "' OR 1=1 --", '😀', 'Ω') },
);

/** JSON values, sometimes deeply nested. */
export const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: text },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 3000 }).map((depth) => nestArray(depth)) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 3000 }).map((depth) => nestObject(depth)) },
);

function nestArray(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function nestObject(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** A deeply nested JSON text built as text (JSON.stringify of 100,000 levels would itself overflow the stack). */
export const deepJsonText = fc.integer({ min: 1_000, max: 40_000 }).map((depth) => `${'['.repeat(depth)}1${']'.repeat(depth)}`);

const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/fhir+json', 'application/graphql', 'text/plain',
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=latin1', '', 'x-application/hl7-v2+er7', '*/*');

export interface FuzzTokens {
  /** Valid tokens of several roles. */
  valid: string[];
  /** Expired, forged, for another audience… */
  invalid: string[];
}

/**
 * The fuzzer's tokens, minted by the stack under test: valid ones of every role (a clinician, a nurse and public-health
 * staff of `organizationId`, the patient `patientId`, an admin, and `<organizationId>-his`, a system client publishing
 * records), and invalid ones (expired, forged signature, not a JWT).
 */
export async function fuzzTokens(mint: TokenMinter, organizationId: string, patientId: string): Promise<FuzzTokens> {
  const clinician = await mint({ sub: 'dr-fuzz', role: 'clinician', org: organizationId });
  return {
    valid: [
      clinician,
      await mint({ sub: 'nurse-fuzz', role: 'nurse', org: organizationId }),
      await mint({ sub: 'p-fuzz', role: 'patient', patient: patientId }),
      await mint({ sub: 'admin-fuzz', role: 'admin' }),
      await mint({ sub: 'ph-fuzz', role: 'public_health', org: organizationId }),
      await mint({ sub: `${organizationId}-his`, role: 'system', org: organizationId, client_id: `${organizationId}-his`, scope: 'system/*.cru' }),
    ],
    invalid: [
      await mint({ sub: 'dr-fuzz', role: 'clinician', org: organizationId }, { expiresIn: -600 }),
      `${clinician.slice(0, -10)}AAAAAAAAAA`,
      'not.a.jwt',
    ],
  };
}

const authorization = (tokens: FuzzTokens) => fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...tokens.valid).map((t) => `Bearer ${t}`) },
  { weight: 1, arbitrary: fc.constantFrom(...tokens.invalid).map((t) => `Bearer ${t}`) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Bearer ', 'Basic Zm9vOmJhcg==', 'Bearer a.b.c', `Bearer ${'A'.repeat(5000)}`, 'bearer x', 'Negotiate abc') },
);

const headersWith = (auth: string | undefined, type: string | undefined, extra: Record<string, string> = {}) => {
  const headers: Record<string, string> = { ...extra };
  if (auth !== undefined) headers.authorization = auth;
  if (type) headers['content-type'] = type;
  return headers;
};

/** Percent-encoded (a lone surrogate, which encodeURIComponent refuses, becomes U+FFFD as a browser would send it). */
const encode = (value: string) => encodeURIComponent(Buffer.from(value).toString());

/** A percent-encoded query string from name/value pairs. */
const queryString = (pairs: [string, string][]) => (pairs.length ? `?${pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')}` : '');

/** Mutations of a JSON object: a field dropped, replaced with garbage, or a field added. */
function mutateObject(base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(base, fc.nat(), jsonValue, fc.constantFrom('drop', 'replace', 'add', 'keep')).map(([object, pick, garbage, how]) => {
    const keys = Object.keys(object);
    const copy: Record<string, unknown> = { ...object };
    const key = keys.length ? keys[pick % keys.length]! : 'x';
    if (how === 'drop') delete copy[key];
    else if (how === 'replace') copy[key] = garbage;
    else if (how === 'add') copy[`extra${pick % 5}`] = garbage;
    return copy;
  });
}

// ---------------------------------------------------------------------------
// GraphQL (POST /graphql)

export interface GraphQLSeeds {
  patientId: string;
  organizationId: string;
}

const fieldName = fc.constantFrom('patient', 'patients', 'patientByIdentifier', 'searchPatients', 'organizations', 'organization', 'incomingReferrals', '__typename', '__schema', 'nope', 'id');

function graphqlDocuments(seeds: GraphQLSeeds): fc.Arbitrary<string> {
  const valid = fc.constantFrom(
    `{ patient(id: "${seeds.patientId}") { id name { text } encounters(first: 5) { edges { node { id } } pageInfo { endCursor } } observations(first: 3) { edges { node { code { display } } } } } }`,
    '{ organizations { id name } }',
    `{ organization(id: "${seeds.organizationId}") { id name } }`,
    'query S($n: String, $a: String, $f: Int) { searchPatients(name: $n, after: $a, first: $f) { edges { node { id } } pageInfo { endCursor hasNextPage } } }',
    'query L($system: String!, $value: String!) { patientByIdentifier(system: $system, value: $value) { id } }',
    'query P($ids: [ID!]!) { patients(ids: $ids) { id } }',
    'query R($s: ReferralStatus, $a: String) { incomingReferrals(status: $s, after: $a) { edges { node { id } } } }',
    '{ __schema { types { name } } }',
    '{ __typename }',
    'mutation { __typename }',
    'subscription { __typename }',
  );
  return fc.oneof(
    { weight: 6, arbitrary: valid },
    // A valid document with a literal argument of generated text (escaped as GraphQL wants it, or raw).
    { weight: 3, arbitrary: fc.tuple(fieldName, text, fc.boolean()).map(([field, value, escape]) => `{ ${field}(id: ${escape ? JSON.stringify(value) : `"${value}"`}, value: ${JSON.stringify(value)}, system: "s", name: ${JSON.stringify(value)}) { id } }`) },
    // Alias bombs, deep nesting, long selections, many operations.
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2000 }).map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`) },
    { weight: 1, arbitrary: fc.integer({ min: 5, max: 3000 }).map((n) => `{ ${'patient(id: "x") { encounters { edges { node { '.repeat(n)} id ${'} } } } '.repeat(n)} }`) },
    { weight: 1, arbitrary: fc.integer({ min: 5, max: 3000 }).map((n) => `${'{ a '.repeat(n)}${'}'.repeat(n)}`) },
    { weight: 1, arbitrary: fc.integer({ min: 2, max: 200 }).map((n) => Array.from({ length: n }, (_, i) => `query Q${i} { __typename }`).join('\n')) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 500 }).map((n) => `{ __typename ${'@include(if: true) '.repeat(n)} }`) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 300 }).map((n) => `query F { ...A } ${Array.from({ length: n }, (_, i) => `fragment ${i ? `A${i}` : 'A'} on Query { __typename ...A${i + 1} }`).join(' ')} fragment A${n} on Query { __typename }`) },
    { weight: 1, arbitrary: fc.constantFrom('{ ...A } fragment A on Query { ...A }', '{', '}', '{ patient(id: ) { id } }', 'query ($x: String = "\\u0000") { __typename }', '{ patient(id: "\\u0000") { id } }', 'query Q($a: [[[[[String]]]]]) { __typename }') },
    // Text that is not GraphQL at all.
    { weight: 2, arbitrary: text },
    // A valid document with one character changed.
    { weight: 2, arbitrary: fc.tuple(valid, fc.nat(), nasty).map(([doc, at, c]) => doc.slice(0, at % doc.length) + c + doc.slice((at % doc.length) + 1)) },
  );
}

const persistedQuery = fc.oneof(
  fc.record({ version: fc.oneof(fc.constantFrom(1, 2, 0, -1), jsonValue), sha256Hash: fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), jsonValue) }, { requiredKeys: [] }),
  jsonValue,
);

const extensions = fc.oneof(
  { weight: 3, arbitrary: fc.record({ persistedQuery }, { requiredKeys: ['persistedQuery'] }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), jsonValue, { maxKeys: 3 }) },
  { weight: 1, arbitrary: jsonValue },
);

const variables = (seeds: GraphQLSeeds) => fc.oneof(
  { weight: 4, arbitrary: fc.record({
    n: text, a: fc.oneof(text, fc.base64String({ maxLength: 60 })), f: fc.oneof(fc.integer(), fc.double(), text as fc.Arbitrary<unknown>), system: text, value: text,
    ids: fc.oneof(fc.array(fc.oneof(fc.uuid(), text), { maxLength: 150 }), jsonValue), s: fc.oneof(fc.constantFrom('REQUESTED', 'ACCEPTED', 'bogus'), jsonValue),
    id: fc.oneof(fc.constant(seeds.patientId), fc.uuid(), text),
  }, { requiredKeys: [] }) },
  { weight: 2, arbitrary: fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), nasty), jsonValue, { maxKeys: 5 }) },
  { weight: 1, arbitrary: jsonValue },
);

const operationName = fc.oneof(fc.constant(undefined), fc.constantFrom('S', 'L', 'P', 'R', 'Q0', 'F', 'Nope'), text, jsonValue);

/** POST /graphql: structured bodies (query, variables, operationName, extensions), any JSON, not JSON, odd content types. */
export function graphqlRequests(seeds: GraphQLSeeds, tokens: FuzzTokens): fc.Arbitrary<FuzzRequest> {
  const structured = fc.record({ query: fc.oneof({ weight: 8, arbitrary: graphqlDocuments(seeds) }, { weight: 1, arbitrary: jsonValue }), variables: variables(seeds), operationName, extensions }, { requiredKeys: ['query'] });
  const body = fc.oneof(
    { weight: 10, arbitrary: structured.map((b) => JSON.stringify(b)) },
    { weight: 1, arbitrary: fc.array(structured, { maxLength: 3 }).map((b) => JSON.stringify(b)) },
    { weight: 1, arbitrary: jsonValue.map((b) => JSON.stringify(b) ?? 'null') },
    { weight: 1, arbitrary: text },
    { weight: 1, arbitrary: deepJsonText },
  );
  return fc.record({
    method: fc.constantFrom('POST', 'POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
    auth: authorization(tokens),
    type: fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: contentType }),
    body,
    search: fc.oneof({ weight: 5, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom('query', 'variables', 'extensions', 'operationName'), text), { maxLength: 3 }).map(queryString) }),
    preflight: fc.constantFrom('', '', '', 'x'),
  }).map(({ method, auth, type, body, search, preflight }) => ({
    method, path: `/graphql${search}`,
    headers: headersWith(auth, type, preflight ? { 'apollo-require-preflight': 'true' } : {}),
    body: method === 'GET' || method === 'OPTIONS' ? undefined : body,
  }));
}

// ---------------------------------------------------------------------------
// FHIR (reads, searches, writes)

const RESOURCE_TYPES = ['Patient', 'Observation', 'Encounter', 'Condition', 'Immunization', 'MedicationRequest', 'AllergyIntolerance', 'ImagingStudy', 'DiagnosticReport', 'Bundle', 'MessageHeader', 'Organization', 'Unknown', ''];

const SEARCH_PARAMETERS = ['patient', 'subject', 'identifier', 'code', 'date', 'status', 'category', '_id', '_count', '_sort', '_include', '_revinclude', '_elements', '_summary', '_format', '_lastUpdated', 'name', 'birthdate', 'given', 'family', 'value-quantity', 'code:text', 'date:missing', '_has:Observation:patient:code', 'page', '_getpages', 'cursor'];

const searchValue = fc.oneof(
  text,
  fc.constantFrom('gt2020-01-01', 'le2026-13-45', 'http://loinc.org|718-7', '|718-7', 'http://loinc.org|', 'eq5.4|http://unitsofmeasure.org|g', 'ap2020', 'sa', 'desc', '-date,code', '*', 'Patient:subject', 'true', '0', '-5', '1000000', 'x'.repeat(5000)),
  fc.uuid().map((id) => `Patient/${id}`),
);

function fhirResource(seeds: GraphQLSeeds): fc.Arbitrary<Record<string, unknown>> {
  const coding = fc.record({ system: fc.oneof(fc.constantFrom('http://loinc.org', 'http://hl7.org/fhir/sid/icd-10', 'http://snomed.info/sct', 'http://hl7.org/fhir/sid/cvx', 'http://www.nlm.nih.gov/research/umls/rxnorm'), text), code: text, display: text }, { requiredKeys: [] });
  const reference = fc.oneof(fc.constant(`Patient/${seeds.patientId}`), fc.uuid().map((u) => `urn:uuid:${u}`), text).map((reference) => ({ reference }));
  const base = fc.record({
    resourceType: fc.constantFrom(...RESOURCE_TYPES),
    id: fc.oneof(fc.uuid(), text),
    identifier: fc.array(fc.record({ system: fc.oneof(fc.constant('https://fhir.alliance.example.org/sid/health-card'), text), value: text }, { requiredKeys: [] }), { maxLength: 3 }),
    status: fc.oneof(fc.constantFrom('final', 'finished', 'active', 'completed', 'entered-in-error'), text),
    subject: reference,
    patient: reference,
    code: fc.record({ coding: fc.array(coding, { maxLength: 3 }), text }, { requiredKeys: [] }),
    name: fc.array(fc.record({ family: text, given: fc.array(text, { maxLength: 2 }) }, { requiredKeys: [] }), { maxLength: 2 }),
    birthDate: fc.oneof(fc.constantFrom('1970-01-01', '2026-02-30', '0000-00-00', '19700101', '1970'), text),
    effectiveDateTime: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), text),
    valueQuantity: fc.record({ value: fc.oneof(fc.double(), text as fc.Arbitrary<unknown>), unit: text, system: text, code: text }, { requiredKeys: [] }),
    meta: fc.record({ security: fc.array(coding, { maxLength: 2 }) }, { requiredKeys: [] }),
  }, { requiredKeys: ['resourceType'] });
  return mutateObject(base);
}

function fhirBundle(seeds: GraphQLSeeds): fc.Arbitrary<Record<string, unknown>> {
  const entry = fc.record({
    fullUrl: fc.oneof(fc.uuid().map((u) => `urn:uuid:${u}`), text),
    request: fc.record({ method: fc.constantFrom('POST', 'PUT', 'GET', 'DELETE', 'PATCH', 'x'), url: fc.oneof(fc.constantFrom(...RESOURCE_TYPES), text), ifNoneExist: fc.oneof(text, fc.constant('identifier=urn:x|1')) }, { requiredKeys: [] }),
    resource: fhirResource(seeds),
  }, { requiredKeys: [] });
  return mutateObject(fc.record({
    resourceType: fc.constantFrom('Bundle', 'Bundle', 'Bundle', 'Patient', 'x'),
    type: fc.oneof(fc.constantFrom('transaction', 'batch', 'collection', 'message', 'searchset'), text),
    entry: fc.oneof(fc.array(entry, { maxLength: 6 }), jsonValue),
  }, { requiredKeys: ['resourceType'] }));
}

/** FHIR: reads ($everything, by id, capability), searches with generated parameters, writes (resources, Bundles), every method and content type. */
export function fhirRequests(seeds: GraphQLSeeds, tokens: FuzzTokens): fc.Arbitrary<FuzzRequest> {
  const type = fc.constantFrom(...RESOURCE_TYPES);
  const id = fc.oneof(fc.constant(seeds.patientId), fc.uuid(), text.map(encode), fc.constantFrom('%00', '%ZZ', '..', '%2F', '$everything', 'x'.repeat(3000)));
  const path = fc.oneof(
    fc.tuple(id, fc.constantFrom('$everything', '$everything', '$export', '_history', '')).map(([i, op]) => `/fhir/Patient/${i}${op ? `/${op}` : ''}`),
    fc.tuple(type, id).map(([t, i]) => `/fhir/${t}/${i}`),
    type.map((t) => `/fhir/${t}`),
    fc.constantFrom('/fhir', '/fhir/', '/fhir/metadata', '/fhir/.well-known/smart-configuration', '/fhir/Patient/_search', '/fhir//Patient', '/fhir/Patient/a/b/c/d'),
  );
  const search = fc.array(fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...SEARCH_PARAMETERS) }, { weight: 1, arbitrary: text }), searchValue), { maxLength: 5 }).map(queryString);
  const body = fc.oneof(
    { weight: 4, arbitrary: fhirBundle(seeds).map((b) => JSON.stringify(b)) },
    { weight: 4, arbitrary: fhirResource(seeds).map((r) => JSON.stringify(r)) },
    { weight: 1, arbitrary: jsonValue.map((v) => JSON.stringify(v) ?? '') },
    { weight: 1, arbitrary: text },
    { weight: 1, arbitrary: deepJsonText },
  );
  return fc.record({
    method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'),
    path, search, body,
    auth: authorization(tokens),
    type: fc.oneof({ weight: 4, arbitrary: fc.constant('application/fhir+json') }, { weight: 1, arbitrary: contentType }),
    accept: fc.constantFrom(undefined, 'application/fhir+json', 'application/json', 'application/fhir+xml', 'text/html', '*/*', 'application/fhir+json; fhirVersion=5.0', 'x'),
    prefer: fc.constantFrom(undefined, 'return=representation', 'return=minimal', 'respond-async', 'handling=strict'),
  }).map(({ method, path, search, body, auth, type, accept, prefer }) => {
    const extra: Record<string, string> = {};
    if (accept) extra.accept = accept;
    if (prefer) extra.prefer = prefer;
    const sendsBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
    return { method, path: `${path}${search}`, headers: headersWith(auth, sendsBody ? type : undefined, extra), body: sendsBody ? body : undefined };
  });
}

// ---------------------------------------------------------------------------
// HL7 v2 (POST /hl7v2)

const hl7Field = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.array(fc.string({ maxLength: 6 }), { maxLength: 5 }).map((parts) => parts.join('^')) },
  { weight: 1, arbitrary: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }).map((parts) => parts.join('~')) },
  { weight: 1, arbitrary: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }).map((parts) => parts.join('&')) },
  { weight: 2, arbitrary: text },
  { weight: 1, arbitrary: fc.constantFrom('\\F\\', '\\S\\', '\\T\\', '\\R\\', '\\E\\', '\\X0D\\', '\\H\\', '\\', '""', '718-7^Hemoglobin^LN', 'NM', 'ST', 'CE', 'TX', 'F', 'P', 'C', '20260301083000', '2026', '99999999999999+9999', '12.8', '-', '1e400') },
);

/** A segment: a known or random id and generated fields. */
const segment = fc.tuple(
  fc.oneof({ weight: 6, arbitrary: fc.constantFrom('PID', 'PV1', 'ORC', 'OBR', 'OBX', 'NTE', 'SPM', 'MSA', 'ERR', 'EVN', 'ARV', 'ZXX') }, { weight: 1, arbitrary: fc.string({ maxLength: 4 }) }),
  fc.array(hl7Field, { maxLength: 30 }),
).map(([id, fields]) => [id, ...fields].join('|'));

function mshSegment(organizationId: string): fc.Arbitrary<string> {
  return fc.record({
    encoding: fc.oneof({ weight: 8, arbitrary: fc.constant('^~\\&') }, { weight: 1, arbitrary: fc.constantFrom('^~\\&#', '', '^', '^~', '####', '|^~\\&') }, { weight: 1, arbitrary: fc.string({ maxLength: 5 }) }),
    separator: fc.oneof({ weight: 8, arbitrary: fc.constant('|') }, { weight: 1, arbitrary: fc.constantFrom('#', '^', '\r', '') }),
    facility: fc.oneof(fc.constant(organizationId), hl7Field),
    type: fc.oneof(fc.constantFrom('ORU^R01^ORU_R01', 'ORU^R01', 'ADT^A01', 'ACK', 'ORU', '^R01', ''), hl7Field),
    control: fc.oneof(fc.uuid(), hl7Field),
    version: fc.oneof(fc.constantFrom('2.5.1', '2.3', '2.9', '3', ''), hl7Field),
    cut: fc.integer({ min: 0, max: 14 }),
  }).map(({ encoding, separator, facility, type, control, version, cut }) => {
    const fields = [encoding, 'LIS', facility, 'FPR', 'ALLIANCE', '20260301083000', '', type, control, 'P', version, '', '', ''];
    return `MSH${separator}${fields.slice(0, cut || fields.length).join(separator)}`;
  });
}

/** A well-formed ORU^R01 with the given field values, then cut or changed. */
function oruMessage(organizationId: string): fc.Arbitrary<string[]> {
  return fc.record({ control: fc.uuid(), hc: fc.oneof(fc.uuid().map((u) => `HC-${u.slice(0, 8)}`), hl7Field), value: hl7Field, valueType: fc.constantFrom('NM', 'ST', 'CE', 'TX', 'SN', 'XX', ''), obrCut: fc.integer({ min: 1, max: 26 }), obxCut: fc.integer({ min: 1, max: 16 }), code: fc.oneof(fc.constant('718-7^Hemoglobin [Mass/volume] in Blood^LN'), hl7Field), when: fc.oneof(fc.constant('20260301080000'), hl7Field) })
    .map(({ control, hc, value, valueType, obrCut, obxCut, code, when }) => {
      const obr = ['OBR', '1', 'PL1', 'FL1', '58410-2^CBC panel - Blood by Automated count^LN', '', '', when, ...Array(14).fill(''), '20260301083000', '', '', 'F'];
      const obx = ['OBX', '1', valueType, code, '', value, 'g/dL^^UCUM', '12.0-17.5', 'N', '', '', 'F', '', '', when];
      return [
        `MSH|^~\\&|LIS|${organizationId}|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|${control}|P|2.5.1`,
        `PID|1||${hc}^^^^HC~MR-${control.slice(0, 8)}^^^${organizationId}^MR||Wu^Fang||19750203|F`,
        obr.slice(0, obrCut).join('|'),
        obx.slice(0, obxCut).join('|'),
      ];
    });
}

/** HL7 v2: messages built from segments and fields (cut, garbled, re-encoded), several segment separators, MLLP framing bytes, odd content types. */
export function hl7v2Requests(organizationId: string, tokens: FuzzTokens): fc.Arbitrary<FuzzRequest> {
  const segments = fc.oneof(
    { weight: 4, arbitrary: oruMessage(organizationId) },
    { weight: 3, arbitrary: fc.tuple(mshSegment(organizationId), fc.array(segment, { maxLength: 8 })).map(([msh, rest]) => [msh, ...rest]) },
    { weight: 1, arbitrary: fc.array(segment, { maxLength: 6 }) },
    { weight: 1, arbitrary: fc.tuple(oruMessage(organizationId), fc.integer({ min: 1, max: 200 })).map(([message, n]) => [...message, ...Array.from({ length: n }, (_, i) => `OBX|${i + 2}|NM|718-7^Hemoglobin^LN||${i}|g/dL|||||F`)]) },
  );
  const message = fc.record({
    segments,
    separator: fc.constantFrom('\r', '\r', '\r', '\n', '\r\n', '\n\r', ''),
    framing: fc.constantFrom('', '', '', 'mllp', 'start', 'bom'),
  }).map(({ segments, separator, framing }) => {
    const body = segments.join(separator);
    if (framing === 'mllp') return `\u000b${body}\u001c\r`;
    if (framing === 'start') return `\u000b${body}`;
    if (framing === 'bom') return `\ufeff${body}`;
    return body;
  });
  return fc.record({
    body: fc.oneof({ weight: 9, arbitrary: message }, { weight: 1, arbitrary: text }),
    auth: authorization(tokens),
    type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('x-application/hl7-v2+er7', 'application/hl7-v2', 'text/plain') }, { weight: 1, arbitrary: contentType }),
    method: fc.constantFrom('POST', 'POST', 'POST', 'POST', 'GET', 'PUT'),
  }).map(({ body, auth, type, method }) => ({ method, path: '/hl7v2', headers: headersWith(auth, method === 'GET' ? undefined : type), body: method === 'GET' ? undefined : body }));
}

// ---------------------------------------------------------------------------
// OAuth / SMART (gateway/src/smart)

const OAUTH_PARAMETERS = ['client_id', 'client_secret', 'response_type', 'redirect_uri', 'scope', 'state', 'aud', 'code_challenge', 'code_challenge_method', 'code_verifier',
  'grant_type', 'code', 'refresh_token', 'token', 'token_type_hint', 'launch', 'nonce', 'prompt', 'request', 'request_uri', 'client_assertion', 'client_assertion_type', 'resource', 'max_age', 'claims', 'ui_locales', 'login_hint'];

const oauthValue = fc.oneof(
  text,
  fc.constantFrom('code', 'token', 'id_token', 'authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'S256', 'plain',
    'launch/patient patient/*.rs openid fhirUser offline_access', 'system/*.cruds', 'https://app.example/cb', 'http://localhost/cb', 'javascript:alert(1)', 'lab-diary', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'eyJhbGciOiJub25lIn0.e30.', 'a'.repeat(3000)),
);

const registration = mutateObject(fc.record({
  client_name: text,
  redirect_uris: fc.oneof(fc.array(fc.oneof(fc.webUrl(), text), { maxLength: 3 }), jsonValue),
  grant_types: fc.oneof(fc.array(fc.constantFrom('authorization_code', 'refresh_token', 'client_credentials', 'implicit', 'x'), { maxLength: 3 }), jsonValue),
  response_types: fc.oneof(fc.array(fc.constantFrom('code', 'token', 'id_token', 'none'), { maxLength: 2 }), jsonValue),
  token_endpoint_auth_method: fc.oneof(fc.constantFrom('none', 'client_secret_basic', 'private_key_jwt', 'client_secret_post'), text),
  scope: oauthValue,
  jwks: jsonValue,
  jwks_uri: fc.oneof(fc.webUrl(), text),
}, { requiredKeys: [] }));

/** The authorization server: discovery, /authorize, /token, /introspect, /revoke, /register, /par, /jwks, /userinfo, /logout, with generated parameters. */
export function oauthRequests(tokens: FuzzTokens): fc.Arbitrary<FuzzRequest> {
  const params = fc.array(fc.tuple(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...OAUTH_PARAMETERS) }, { weight: 1, arbitrary: text }), oauthValue), { maxLength: 8 });
  const endpoint = fc.constantFrom('/oauth/authorize', '/oauth/token', '/oauth/introspect', '/oauth/revoke', '/oauth/register', '/oauth/par', '/oauth/jwks', '/oauth/userinfo',
    '/oauth/logout', '/oauth/upstream/callback', '/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration', '/.well-known/openid-configuration', '/oauth/interaction/x', '/oauth/nope');
  const clientAuth = fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.tuple(text, text).map(([id, secret]) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`) },
    { weight: 1, arbitrary: authorization(tokens) },
    { weight: 1, arbitrary: fc.constantFrom('Basic', 'Basic !!!', 'Basic Og==', 'DPoP x') },
  );
  return fc.record({
    endpoint, params, clientAuth,
    method: fc.constantFrom('GET', 'POST', 'POST', 'PUT', 'DELETE'),
    form: fc.oneof({ weight: 3, arbitrary: fc.constant('form') }, { weight: 1, arbitrary: fc.constant('json') }, { weight: 1, arbitrary: fc.constant('registration') }, { weight: 1, arbitrary: text }),
    registration,
    type: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: contentType }),
    origin: fc.constantFrom(undefined, 'https://app.example', 'null', 'http://evil.example'),
    dpop: fc.constantFrom(undefined, 'x', 'eyJhbGciOiJub25lIn0.e30.'),
  }).map(({ endpoint, params, clientAuth, method, form, registration, type, origin, dpop }) => {
    const extra: Record<string, string> = {};
    if (origin) extra.origin = origin;
    if (dpop) extra.dpop = dpop;
    if (method === 'GET' || method === 'DELETE') {
      return { method, path: `${endpoint}${queryString(params)}`, headers: headersWith(clientAuth, undefined, extra) };
    }
    const [body, defaultType] = form === 'form' ? [new URLSearchParams(params).toString(), 'application/x-www-form-urlencoded']
      : form === 'json' ? [JSON.stringify(Object.fromEntries(params)), 'application/json']
        : form === 'registration' ? [JSON.stringify(registration), 'application/json']
          : [form, 'text/plain'];
    return { method, path: endpoint, headers: headersWith(clientAuth, type ?? defaultType, extra), body };
  });
}

// ---------------------------------------------------------------------------
// Every way in, and running them

/** Every way into the product, each with what its cases cover: the fuzz suite on one stack and the replicated stack's test both run these. */
export const FUZZ_WAYS: ReadonlyArray<{ name: string; requests: (seeds: GraphQLSeeds, tokens: FuzzTokens) => fc.Arbitrary<FuzzRequest> }> = [
  { name: 'GraphQL: bodies, variables, extensions (persisted queries), control characters, huge and deep values, aliases', requests: graphqlRequests },
  { name: 'FHIR: reads, search parameters, resources and Bundles, methods and content types', requests: fhirRequests },
  { name: 'HL7 v2: segments, fields, encodings, separators and framing over POST /hl7v2', requests: (seeds, tokens) => hl7v2Requests(seeds.organizationId, tokens) },
  { name: 'OAuth/SMART: authorize, token, introspect, revoke, registration, discovery', requests: (_seeds, tokens) => oauthRequests(tokens) },
];

/** Sends `runs` generated requests to `base` (the gateway's base URL), one at a time; a failing one is printed by fast-check with the seed that replays it. */
export async function fuzz(base: string, requests: fc.Arbitrary<FuzzRequest>, runs: number): Promise<void> {
  await fc.assert(fc.asyncProperty(requests, async (request) => {
    await sendAndCheck(base, request);
  }), { numRuns: runs });
}
