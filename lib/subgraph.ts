/**
 * The runtime every subgraph shares: schema from `schema/<name>.graphql`,
 * database and migrations, the request context (verified actor, per-request
 * DataLoaders), `/health`, and refusal of any request without a valid
 * gateway-signed actor token.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph';
import DataLoader from 'dataloader';
import { GraphQLError, parse, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import type { JWK } from 'jose';
import type { Actor } from './actor.js';
import { ConsentAccess, INTERNAL_PATHS, remoteConsentSources, RequestFactsCache, type ConsentSources } from './consent/access.js';
import { ownerTimeline, parseTimelineRequest, type TimelineSource } from './timeline.js';
import { withConsent, type ConsentRules } from './consent/shield.js';
import { migrate, openDatabase, type Database } from './db.js';
import { badInput, ErrorCode, errorBody, productError, type ErrorCodeValue } from './errors.js';
import { startHttpService, type Route } from './http.js';
import { ACTOR_TOKEN_HEADER, createInternalVerifier, operationHash, type InternalClaims } from './internal-token.js';
import { scalarResolvers } from './scalars.js';
import type { SubgraphName } from './services.js';

/**
 * The package root (the nearest directory above this module with a
 * package.json), where schema/ and subgraphs/<name>/migrations live: the same
 * whether this module runs from lib/ (tsx) or from the compiled dist/lib/.
 */
export const ROOT = packageRoot(path.dirname(fileURLToPath(import.meta.url)));

function packageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export interface SubgraphContext {
  actor: Actor;
  requestId: string;
  db: Database;
  /** The actor token this request came with, forwarded to other services' internal APIs. */
  actorToken: string;
  /** The consent policy for this request's actor, and what was disclosed. */
  consent: ConsentAccess;
  /** Where the other services are (their graphql URLs), for internal APIs. */
  peers: Peers;
  /** Per-request DataLoaders, created on first use by name. */
  loader<K, V>(name: string, batch: (keys: readonly K[]) => Promise<(V | Error)[]>, cacheKey?: (key: K) => unknown): DataLoader<K, V>;
}

export interface InternalRouteDeps {
  db: Database;
  /** Verifies a forwarded actor token (signature and expiry). */
  verify(token: string | undefined): Promise<InternalClaims>;
  /** Where the other services are, for internal APIs that ask an owner in turn. */
  peers: Peers;
}

export interface SubgraphModule {
  name: SubgraphName;
  resolvers: GraphQLResolverMap<SubgraphContext>;
  /** Internal HTTP APIs other services call with a forwarded actor token. */
  internalRoutes?: (deps: InternalRouteDeps) => Route[];
  /** Field-level consent rules (graphql-shield) for every object type. */
  consentRules: ConsentRules;
  /** Replaces the remote consent sources with this subgraph's own data where it owns it. */
  consentSources?: (db: Database, remote: ConsentSources) => ConsentSources;
  /** The kinds of timeline entries this subgraph owns, served at `/internal/timeline` (see lib/timeline.ts). */
  timeline?: TimelineSource[];
}

/** Where a subgraph reaches the services that own consent facts (graphql URLs). */
export interface Peers {
  identity: () => string;
  publicHealth: () => string;
  /** Any subgraph's graphql URL (identity asks every owner for its timeline entries). */
  subgraph: (name: SubgraphName) => string;
}

export interface SubgraphOptions {
  databaseUrl: string;
  port: number;
  host: string;
  internalPublicKey: JWK;
  production: boolean;
  maxBodyBytes?: number;
  /** Use an already opened database (tests, npm start); closed with the service. */
  database?: Database;
  peers: Peers;
  /** Benchmarks only: false serves the schema without consent rules. Refused in production. */
  enforceConsent?: boolean;
}

export interface RunningSubgraph {
  name: SubgraphName;
  url: string;
  db: Database;
  close(): Promise<void>;
}

export const subgraphSdl = (name: SubgraphName) => readFileSync(path.join(ROOT, 'schema', `${name}.graphql`), 'utf8');
export const migrationsDirectory = (name: SubgraphName) => path.join(ROOT, 'subgraphs', name, 'migrations');

/** The subgraph schema with its resolvers, before the consent rules wrap it. */
export function buildBaseSchema(module: SubgraphModule): GraphQLSchema {
  return buildSubgraphSchema([{ typeDefs: parse(subgraphSdl(module.name)), resolvers: { ...scalarResolvers, ...module.resolvers } as GraphQLResolverMap<unknown> }]);
}

export function buildSchemaFor(module: SubgraphModule): GraphQLSchema {
  return withConsent(buildBaseSchema(module), module.consentRules);
}

/** Opens the subgraph's database and applies its migrations. */
export async function openSubgraphDatabase(name: SubgraphName, url: string): Promise<Database> {
  const db = await openDatabase(url);
  await migrate(db, migrationsDirectory(name));
  return db;
}

/** Hides internal error messages in production; product errors keep their code and message. */
export function formatErrorFor(production: boolean) {
  return (formatted: GraphQLFormattedError): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (!production) return formatted;
    const { stacktrace: _stacktrace, exception: _exception, ...extensions } = (formatted.extensions ?? {}) as Record<string, unknown>;
    if (!code || code === ErrorCode.internal) {
      return { message: 'Internal server error', path: formatted.path, locations: formatted.locations, extensions: { code: ErrorCode.internal } };
    }
    return { ...formatted, extensions };
  };
}

export async function startSubgraph(module: SubgraphModule, options: SubgraphOptions): Promise<RunningSubgraph> {
  const db = options.database ?? (await openSubgraphDatabase(module.name, options.databaseUrl));
  const enforceConsent = options.enforceConsent ?? true;
  if (!enforceConsent && options.production) throw new Error('Consent enforcement cannot be switched off in production');
  const verify = await createInternalVerifier(options.internalPublicKey);
  const remote = remoteConsentSources(options.peers);
  const consentSources = module.consentSources ? module.consentSources(db, remote) : remote;
  const factsCache = new RequestFactsCache();
  // The consent policy for one request's actor; its calls here share the facts fetched for it.
  const consentFor = (claims: InternalClaims, actorToken: string) => enforceConsent
    ? new ConsentAccess(claims.actor, actorToken, consentSources, { cache: factsCache, requestId: claims.requestId })
    : ConsentAccess.unenforced(claims.actor);
  const apollo = new ApolloServer<SubgraphContext>({
    schema: enforceConsent ? buildSchemaFor(module) : buildBaseSchema(module),
    includeStacktraceInErrorResponses: !options.production,
    formatError: formatErrorFor(options.production),
    // Subgraphs are reached only by the gateway; no landing page, no batching.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), reportDisclosures],
    csrfPrevention: false,
  });
  const routes = module.internalRoutes?.({ db, verify, peers: options.peers }) ?? [];
  if (module.timeline) {
    const sources = module.timeline;
    routes.push(internalRoute(INTERNAL_PATHS.timeline, { db, verify, peers: options.peers }, async (body, claims, actorToken) => {
      const request = parseTimelineRequest(body);
      if (!request) throw badInput('Malformed timeline request');
      return ownerTimeline(db, consentFor(claims, actorToken), sources, request);
    }));
  }
  const service = await startHttpService<SubgraphContext>({
    apollo,
    host: options.host,
    port: options.port,
    maxBodyBytes: options.maxBodyBytes ?? 1_000_000,
    routes,
    health: async () => {
      await db.query('SELECT 1');
      return { service: module.name, database: db.engine };
    },
    context: async (request, body) => {
      const token = request.headers[ACTOR_TOKEN_HEADER];
      let claims: InternalClaims;
      try {
        claims = await verify(typeof token === 'string' ? token : undefined);
      } catch {
        throw productError(ErrorCode.unauthenticated, 'This service accepts only requests signed by the gateway');
      }
      const operation = body as { query?: string; variables?: unknown } | undefined;
      if (claims.operationHash !== operationHash(operation?.query, operation?.variables)) {
        throw productError(ErrorCode.unauthenticated, 'The actor token was issued for a different operation');
      }
      const loaders = new Map<string, DataLoader<unknown, unknown>>();
      return {
        actor: claims.actor,
        requestId: claims.requestId,
        db,
        actorToken: token as string,
        peers: options.peers,
        consent: consentFor(claims, token as string),
        loader<K, V>(name: string, batch: (keys: readonly K[]) => Promise<(V | Error)[]>, cacheKey?: (key: K) => unknown) {
          let loader = loaders.get(name) as DataLoader<K, V> | undefined;
          if (!loader) {
            // Batches close on setImmediate, after every pending promise job:
            // consent rules await their decisions before fields resolve, and the
            // loads they release must still land in one batch.
            loader = new DataLoader<K, V, unknown>(batch, { cacheKeyFn: cacheKey, maxBatchSize: 500, batchScheduleFn: (dispatch) => setImmediate(dispatch) });
            loaders.set(name, loader as DataLoader<unknown, unknown>);
          }
          return loader;
        },
      };
    },
  });
  return {
    name: module.name,
    url: service.url,
    db,
    close: async () => {
      await service.close();
      await db.close();
    },
  };
}

/**
 * Reports what this response disclosed, per patient and category, in
 * `extensions.disclosures`; the gateway turns it into audit events before the
 * data reaches the caller.
 */
const reportDisclosures: ApolloServerPlugin<SubgraphContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ response, contextValue }) {
        if (response.body.kind !== 'single') return;
        const disclosures = contextValue.consent?.disclosures() ?? [];
        if (disclosures.length) response.body.singleResult.extensions = { ...response.body.singleResult.extensions, disclosures };
      },
    };
  },
};

const INTERNAL_ERROR_STATUS: Partial<Record<ErrorCodeValue, number>> = { BAD_USER_INPUT: 400, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409 };

/** Route helper for internal JSON APIs: POST `<path>` with a forwarded actor token. */
export function internalRoute(
  routePath: string,
  deps: InternalRouteDeps,
  handle: (body: unknown, claims: InternalClaims, actorToken: string) => Promise<unknown>,
): Route {
  return async (request) => {
    if (request.url.pathname !== routePath) return undefined;
    if (request.method !== 'POST') return { status: 405, body: errorBody(ErrorCode.badUserInput, 'POST only') };
    let claims: InternalClaims;
    const token = request.headers[ACTOR_TOKEN_HEADER];
    try {
      claims = await deps.verify(typeof token === 'string' ? token : undefined);
    } catch {
      return { status: 401, body: errorBody(ErrorCode.unauthenticated, 'This service accepts only requests signed by the gateway') };
    }
    let body: unknown;
    try {
      body = JSON.parse(request.body || '{}');
    } catch {
      return { status: 400, body: errorBody(ErrorCode.badUserInput, 'Request body is not valid JSON') };
    }
    try {
      return { status: 200, body: JSON.stringify(await handle(body, claims, token as string)) };
    } catch (error) {
      // Product errors (bad input, refusals, conflicts) go back to the calling subgraph, which passes them on.
      const code = error instanceof GraphQLError ? (error.extensions.code as ErrorCodeValue | undefined) : undefined;
      if (code && INTERNAL_ERROR_STATUS[code]) return { status: INTERNAL_ERROR_STATUS[code], body: errorBody(code, (error as GraphQLError).message) };
      throw error;
    }
  };
}
