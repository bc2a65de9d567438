/**
 * Test harness: starts the whole product (five subgraphs and the gateway,
 * real HTTP between them) on free loopback ports, against in-memory PGlite or
 * against fresh databases on the PostgreSQL server named by
 * TEST_DATABASE_URL, seeded with generated patients. Also mints tokens and
 * sends GraphQL requests.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { defaultScope, mintDevToken, recordAppApproval, type MintOptions, type TokenClaims } from '../../lib/trust/dev-token.js';
import { generateDevKeys, type DevKeys } from '../../lib/trust/keys.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../../lib/runtime/services.js';
import { DEFAULT_SEED, TEST_ANCHOR, type Anchor } from '../../lib/synthetic/generator.js';
import { createLogger } from '../../lib/runtime/logger.js';
import { startStack, type Stack, type StackOptions } from '../../scripts/stack.js';

export type Backend = 'pglite' | 'postgres';

/**
 * Backends the end-to-end suites run against: always PGlite; PostgreSQL when
 * TEST_DATABASE_URL is set (CI sets it; `.ci/run` starts the server).
 */
export const BACKENDS: Backend[] = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export interface TestStack extends Stack {
  backend: Backend;
  keys: DevKeys;
  url: string;
  token(claims: TokenClaims, options?: MintOptions): Promise<string>;
  /**
   * An app token (role app) for `claims.patient`, after recording that
   * patient's approval of the app for the token's scopes (consent rule 3:
   * without one, an app reads nothing).
   */
  appToken(claims: { sub: string; patient: string; client_id: string; scope?: string; [claim: string]: unknown }, options?: MintOptions): Promise<string>;
  /** With `logs`: every JSON line the services logged so far (level info and up), parsed. */
  logLines(): LogLine[];
  /** POSTs a GraphQL operation to the gateway with the given bearer token. */
  graphql<T = any>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
}

export interface LogLine {
  service: string;
  level: string;
  msg: string;
  rid?: string;
  err?: { type?: string; message?: string; stack?: string };
  [field: string]: unknown;
}

export interface GraphQLResponse<T> {
  status: number;
  /** The gateway's request id (`x-request-id`), the one its audit events carry. */
  requestId: string | null;
  data?: T;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, any> }[];
  extensions?: Record<string, any>;
}

export async function postGraphQL<T>(url: string, headers: Record<string, string>, body: unknown): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await response.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { errors: [{ message: text }] };
  }
  return { status: response.status, requestId: response.headers.get('x-request-id'), ...parsed };
}

async function createPostgresDatabases(): Promise<{ urls: Record<SubgraphName, string>; drop(): Promise<void> }> {
  const adminUrl = process.env.TEST_DATABASE_URL!;
  const prefix = `fpr_test_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const names = SUBGRAPH_NAMES.map((name) => `${prefix}_${name.replace('-', '_')}`);
  for (const database of names) await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const urls = Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => {
    const url = new URL(adminUrl);
    url.pathname = `/${names[i]}`;
    return [name, url.toString()];
  })) as Record<SubgraphName, string>;
  return {
    urls,
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      for (const database of names) await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await client.end();
    },
  };
}

/**
 * A stack seeded with `patients` generated patients (60 by default), dated
 * relative to TEST_ANCHOR unless told otherwise: the anchor generatePatient
 * uses by default, so a test's expectations and the stack's data agree.
 */
export async function startTestStack(
  backend: Backend,
  options: { patients?: number; production?: boolean; corsAllowedOrigins?: string[]; anchor?: Anchor; /** Keep the services' log lines (logLines()). */ logs?: boolean }
    & Pick<StackOptions, 'loggers' | 'metricsPorts' | 'upstream' | 'publicUrl' | 'consentInjection' | 'bulkExport'> = {},
): Promise<TestStack> {
  const keys = await generateDevKeys('test-');
  const postgres = backend === 'postgres' ? await createPostgresDatabases() : null;
  const databaseUrls = postgres?.urls ?? (Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, 'memory://'])) as Record<SubgraphName, string>);
  // Publishing's periodic recovery stays off: tests that need it run it (stack.gateway.ingest.recover()), and
  // its statements would otherwise land in the statement counts other tests measure.
  // The services' JSON lines, kept in memory when asked for (otherwise LOG_LEVEL, silent under the tests, applies).
  const lines: string[] = [];
  const destination = { write: (chunk: string) => { lines.push(...chunk.split('\n').filter(Boolean)); } };
  const stack = await startStack({
    databaseUrls, keys, seedPatients: options.patients ?? 60, seed: DEFAULT_SEED, anchor: options.anchor ?? TEST_ANCHOR, production: options.production ?? true, corsAllowedOrigins: options.corsAllowedOrigins ?? [],
    ingestRecoveryIntervalMs: 0,
    loggers: options.loggers ?? (options.logs ? (service: string) => createLogger(service, { destination, level: 'info', production: true }) : undefined),
    metricsPorts: options.metricsPorts,
    upstream: options.upstream,
    publicUrl: options.publicUrl,
    consentInjection: options.consentInjection,
    bulkExport: options.bulkExport,
  });
  const url = stack.gateway.url;
  return {
    ...stack,
    backend,
    keys,
    url,
    token: (claims, mintOptions) => mintDevToken(keys.issuerPrivate, claims, mintOptions),
    appToken: async (claims, mintOptions) => {
      const full: TokenClaims = { ...claims, role: 'app', scope: claims.scope ?? defaultScope('app') };
      await recordAppApproval({ graphqlUrl: url, issuerPrivateKey: keys.issuerPrivate, patientId: claims.patient, clientId: claims.client_id, scope: full.scope! });
      return mintDevToken(keys.issuerPrivate, full, mintOptions);
    },
    logLines: () => lines.map((line) => JSON.parse(line) as LogLine),
    graphql: (token, query, variables) => postGraphQL(url, token ? { authorization: `Bearer ${token}` } : {}, { query, variables }),
    close: async () => {
      await stack.close();
      await postgres?.drop();
    },
  };
}
