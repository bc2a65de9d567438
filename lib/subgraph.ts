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
import type { Actor } from './actor.js';
import { ConsentAccess, remoteConsentSources, RequestFactsCache, type ConsentSources } from './consent/access.js';
import { DEFAULT_INTERNAL_TIMEOUT_MS, INTERNAL_APIS, internalCaller, internalRoute, type InternalCaller, type InternalRequest, type InternalRouteDeps } from './internal-api.js';
import { ownerTimeline, parseTimelineRequest, type TimelineSource } from './timeline.js';
import { withConsent, type ConsentRules } from './consent/shield.js';
import { migrate, openDatabase, type Database } from './db.js';
import { badInput, ErrorCode, productError } from './errors.js';
import { startHttpService, type Route } from './http.js';
import { ACTOR_TOKEN_HEADER, createInternalAuth, InternalTokenError, operationHash, type ServiceKeyring, type VerifiedCall } from './internal-token.js';
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
  /** Other services' internal APIs, called on behalf of this request. */
  internal: InternalCaller;
  /** The consent policy for this request's actor, and what was disclosed. */
  consent: ConsentAccess;
  /** Per-request DataLoaders, created on first use by name. */
  loader<K, V>(name: string, batch: (keys: readonly K[]) => Promise<(V | Error)[]>, cacheKey?: (key: K) => unknown): DataLoader<K, V>;
}

/** What a subgraph's internal API routes are built with. */
export interface SubgraphRouteDeps extends InternalRouteDeps {
  db: Database;
}

export interface SubgraphModule {
  name: SubgraphName;
  resolvers: GraphQLResolverMap<SubgraphContext>;
  /** Internal HTTP APIs other services call (lib/internal-api.ts). */
  internalRoutes?: (deps: SubgraphRouteDeps) => Route[];
  /** Field-level consent rules (graphql-shield) for every object type. */
  consentRules: ConsentRules;
  /** Replaces the remote consent sources with this subgraph's own data where it owns it. */
  consentSources?: (db: Database, remote: ConsentSources) => ConsentSources;
  /** The kinds of timeline entries this subgraph owns, served at `/internal/timeline` (see lib/timeline.ts). */
  timeline?: TimelineSource[];
}

/** Where a subgraph reaches the other subgraphs: their GraphQL URL (internal APIs sit beside it). */
export type PeerUrls = (name: SubgraphName) => string;

export interface SubgraphOptions {
  databaseUrl: string;
  port: number;
  host: string;
  /** This subgraph's own key and every service's public key (lib/internal-token.ts). */
  keyring: ServiceKeyring;
  production: boolean;
  maxBodyBytes?: number;
  /** Use an already opened database (tests, npm start); closed with the service. */
  database?: Database;
  peers: PeerUrls;
  /** Deadline of each internal API call (INTERNAL_API_TIMEOUT_MS). */
  internalTimeoutMs?: number;
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
  const auth = createInternalAuth(options.keyring);
  if (auth.self !== module.name) throw new Error(`the keyring given to ${module.name} is ${auth.self}'s`);
  const routeDeps: SubgraphRouteDeps = { db, auth, url: options.peers, timeoutMs: options.internalTimeoutMs ?? DEFAULT_INTERNAL_TIMEOUT_MS };
  const remote = remoteConsentSources();
  const consentSources = module.consentSources ? module.consentSources(db, remote) : remote;
  const factsCache = new RequestFactsCache();
  // The consent policy for one request's actor; its calls here share the facts fetched for it.
  const consentFor = (call: VerifiedCall, internal: InternalCaller) => enforceConsent
    ? new ConsentAccess(call.actor, internal, consentSources, { cache: factsCache, requestId: call.requestId })
    : ConsentAccess.unenforced(call.actor);
  const apollo = new ApolloServer<SubgraphContext>({
    schema: enforceConsent ? buildSchemaFor(module) : buildBaseSchema(module),
    includeStacktraceInErrorResponses: !options.production,
    formatError: formatErrorFor(options.production),
    // Subgraphs are reached only by the gateway; no landing page, no batching.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), reportDisclosures],
    csrfPrevention: false,
  });
  const routes = module.internalRoutes?.(routeDeps) ?? [];
  if (module.timeline) {
    const sources = module.timeline;
    routes.push(internalRoute(INTERNAL_APIS.timeline, routeDeps, async (body, call: InternalRequest) => {
      const request = parseTimelineRequest(body);
      if (!request) throw badInput('Malformed timeline request');
      return ownerTimeline(db, consentFor(call, call.internal), sources, request);
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
      const operation = body as { query?: string; variables?: unknown } | undefined;
      let call: VerifiedCall;
      try {
        call = auth.verifyActorToken(typeof token === 'string' ? token : undefined, operationHash(operation?.query, operation?.variables));
      } catch (error) {
        if (!(error instanceof InternalTokenError)) throw error;
        throw productError(ErrorCode.unauthenticated, 'This service accepts only requests the gateway signed for it and for this operation');
      }
      const internal = internalCaller({ auth, url: options.peers, requestId: call.requestId, via: token as string, timeoutMs: routeDeps.timeoutMs });
      const loaders = new Map<string, DataLoader<unknown, unknown>>();
      return {
        actor: call.actor,
        requestId: call.requestId,
        db,
        internal,
        consent: consentFor(call, internal),
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
