/**
 * The runtime every subgraph shares: schema from `schema/<name>.graphql`,
 * database and migrations, the request context (verified actor, per-request
 * DataLoaders), `/health`, and refusal of any request without a valid
 * gateway-signed actor token.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph';
import DataLoader from 'dataloader';
import { GraphQLError, parse, type DocumentNode, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { ConsentAccess, remoteConsentSources, RequestFactsCache, type ConsentSources, type IdentityFacts } from '../consent/access.js';
import { DEFAULT_INTERNAL_TIMEOUT_MS, INTERNAL_APIS, InternalApiError, internalCaller, internalRoute, type InternalCaller, type InternalRequest, type InternalRouteDeps } from './internal-api.js';
import { ownerTimeline, parseTimelineRequest, timelineSources } from '../records/timeline.js';
import { withConsent, type ConsentRules } from '../consent/shield.js';
import { migrate, openDatabase, type Database } from './db.js';
import { keepLastUpdated } from '../records/last-updated.js';
import { badInput, ErrorCode, productError, serviceUnavailable } from './errors.js';
import { requestErrorCode } from './request-plugins.js';
import { startHttpService, type RequestLog, type Route } from './http.js';
import { createLogger, type Logger } from './logger.js';
import { httpStatusPlugin, requestLogPlugin } from './request-plugins.js';
import { ProcessReplayGuard, ReplayGuardUnavailable, type ReplayGuard } from '../trust/replay-guard.js';
import { controlCharacterGuard } from './control-characters.js';
import { ACTOR_TOKEN_HEADER, CONSENT_FACTS_HEADER, createInternalAuth, InternalTokenError, operationHash, type ServiceKeyring, type VerifiedCall } from '../trust/internal-token.js';
import { scalarResolvers } from './scalars.js';
import { SUBGRAPHS, type SubgraphName } from './services.js';
import { telemetryFor } from './telemetry.js';
import type { SubgraphContext } from './subgraph-context.js';
import { isOwnerIngestPath, ownerIngestMaxBytes } from '../ingest/limits.js';

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

/** What a subgraph's internal API routes are built with. */
export interface SubgraphRouteDeps extends InternalRouteDeps {
  db: Database;
}

export interface SubgraphModule {
  name: SubgraphName;
  resolvers: GraphQLResolverMap<SubgraphContext>;
  /** Internal HTTP APIs other services call (lib/runtime/internal-api.ts). */
  internalRoutes?: (deps: SubgraphRouteDeps) => Route[];
  /** Field-level consent rules (graphql-shield) for every object type. */
  consentRules: ConsentRules;
  /**
   * The consent facts this subgraph keeps in its own database and answers
   * itself (identity: registrations and directives; public-health: programme
   * enrolments); the others come over their owners' internal APIs. The
   * keeper of identity's facts also signs the facts a request loaded, for the
   * gateway to relay to the next subgraphs of that request.
   */
  ownConsentFacts?: (db: Database) => Partial<ConsentSources>;
  /**
   * Upkeep of the subgraph's own store, run at start-up (before it serves)
   * and daily while it runs (identity: the audit trail's coming months'
   * partitions). A failure is logged, not fatal: what it prepares is also
   * made on demand.
   */
  maintenance?: (db: Database) => Promise<void>;
}

/** How often a running subgraph repeats its maintenance. */
const MAINTENANCE_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** What a consent access is made from, for one call (see ConsentInjection). */
export interface ConsentAccessInputs {
  call: VerifiedCall;
  /** Other services' internal APIs, on behalf of this call. */
  internal: InternalCaller;
  /** Where this subgraph gets the consent facts (its own database for those it keeps). */
  sources: ConsentSources;
}

/**
 * Tests and benchmarks only, refused in production: replaces how each
 * call's consent access is made and how the schema is wrapped. The
 * benchmark measures what consent costs this way (scripts/bench-service.ts);
 * nothing of it lives in the consent code.
 */
export interface ConsentInjection {
  access: (inputs: ConsentAccessInputs) => ConsentAccess;
  schema?: (module: SubgraphModule) => GraphQLSchema;
}

/** Where a subgraph reaches the other subgraphs: their GraphQL URL (internal APIs sit beside it). */
export type PeerUrls = (name: SubgraphName) => string;

export interface SubgraphOptions {
  databaseUrl: string;
  port: number;
  host: string;
  /** This subgraph's own key and every service's public key (lib/trust/internal-token.ts). */
  keyring: ServiceKeyring;
  production: boolean;
  maxBodyBytes?: number;
  /** Use an already opened database (tests, npm start); closed with the service. */
  database?: Database;
  peers: PeerUrls;
  /** Deadline of each internal API call (INTERNAL_API_TIMEOUT_MS). */
  internalTimeoutMs?: number;
  /** Tests and benchmarks only (refused in production): another consent access and schema (see ConsentInjection). */
  consentInjection?: ConsentInjection;
  /** Where the service logs (default: a pino logger named after it). */
  logger?: Logger;
  /** Serves Prometheus `/metrics` on this port (0: any free one); none when absent (lib/runtime/telemetry.ts). */
  metricsPort?: number;
  /** Remembers accepted internal tokens (default: this process alone; shared by replicas on Redis: lib/trust/replay-guard.ts); closed with the service. */
  replayGuard?: ReplayGuard;
}

export interface RunningSubgraph {
  name: SubgraphName;
  url: string;
  db: Database;
  /** Graceful stop: stops accepting, finishes requests in flight within `graceMs`, closes the database. */
  drain(graceMs: number, delayMs?: number): Promise<void>;
  close(): Promise<void>;
  /** Where its `/metrics` listens, when it serves them. */
  metricsPort?: number;
}

/**
 * SDL several subgraphs serve alike (schema/shared: types each declares @shareable), written once: each file, with
 * the names of the types it declares, read once.
 */
const SHARED_SDL_DIRECTORY = path.join(ROOT, 'schema', 'shared');
let sharedSdl: { sdl: string; types: string[] }[] | undefined;
const sharedSdlFiles = () => sharedSdl ??= readdirSync(SHARED_SDL_DIRECTORY).filter((file) => file.endsWith('.graphql')).sort().map((file) => {
  const sdl = readFileSync(path.join(SHARED_SDL_DIRECTORY, file), 'utf8');
  return { sdl, types: [...sdl.matchAll(/^type (\w+)/gm)].map((m) => m[1]!) };
});

/**
 * A subgraph's SDL: its own file (schema/<name>.graphql), and every shared file (schema/shared) naming a type the own
 * file uses, so a subgraph serves exactly the shared types it refers to.
 */
export function subgraphSdl(name: SubgraphName): string {
  const own = readFileSync(path.join(ROOT, 'schema', `${name}.graphql`), 'utf8');
  const shared = sharedSdlFiles().filter((file) => file.types.some((type) => new RegExp(`\\b${type}\\b`).test(own)));
  return [own, ...shared.map((file) => file.sdl)].join('\n');
}
export const migrationsDirectory = (name: SubgraphName) => path.join(ROOT, 'subgraphs', name, 'migrations');
/**
 * The publishing protocol's own migrations (lib/ingest/participant.ts: the
 * staging tables, reservations, business identifiers), applied to every
 * subgraph, since every subgraph takes part in publishing. Recorded as
 * `publishing/<file>`. Until this release each subgraph created the same
 * tables with a migration of its own (`*_ingest.sql`); databases that applied
 * those keep them, and the protocol's migrations find the tables there.
 */
export const PUBLISHING_MIGRATIONS = path.join(ROOT, 'lib', 'ingest', 'migrations');

/**
 * The record tables' last-updated functions (lib/records/last-updated.ts), applied to every subgraph before its own
 * migrations and recorded as `records/<file>`. Until this release each subgraph created them in its own
 * `020_last_updated.sql`, with its tables' column, index and trigger, now derived from the catalogue.
 */
export const RECORDS_MIGRATIONS = path.join(ROOT, 'lib', 'records', 'migrations');

/**
 * Brings a subgraph's database up to date: the publishing protocol's migrations, the record tables' functions, its own
 * migrations, then what its record tables miss of their last-updated column, index and triggers (derived from the
 * catalogue). Returns the versions applied and the derived statements run: nothing on a database already up to date.
 */
export async function migrateSubgraph(db: Database, name: SubgraphName): Promise<string[]> {
  return [
    ...await migrate(db, PUBLISHING_MIGRATIONS, 'publishing/'),
    ...await migrate(db, RECORDS_MIGRATIONS, 'records/'),
    ...await migrate(db, migrationsDirectory(name)),
    ...await keepLastUpdated(db, name),
  ];
}

/** The subgraph schema with its resolvers, before the consent rules wrap it. */
export function buildBaseSchema(module: SubgraphModule): GraphQLSchema {
  return buildSubgraphSchema([{ typeDefs: parse(subgraphSdl(module.name)), resolvers: { ...scalarResolvers, ...module.resolvers } as GraphQLResolverMap<unknown> }]);
}

export function buildSchemaFor(module: SubgraphModule): GraphQLSchema {
  return withConsent(buildBaseSchema(module), module.consentRules);
}

/** Opens the subgraph's database and applies its migrations. */
export async function openSubgraphDatabase(name: SubgraphName, url: string): Promise<Database> {
  return (await openSubgraphStore(name, url)).db;
}

/** Opens the subgraph's database, applies its migrations, and tells whether the store was empty (never migrated) before. */
export async function openSubgraphStore(name: SubgraphName, url: string): Promise<{ db: Database; fresh: boolean }> {
  const db = await openDatabase(url, `${name.toUpperCase().replace(/-/g, '_')}_DATABASE_URL`);
  try {
    const [state] = await db.query<{ fresh: boolean }>("SELECT to_regclass('schema_migrations') IS NULL AS fresh");
    await migrateSubgraph(db, name);
    return { db, fresh: Boolean(state?.fresh) };
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}

/** Whether Apollo raised `error` as a 4xx of its own (extensions.http) without giving it a code. */
function clientErrorWithoutCode(error: unknown): boolean {
  const extensions = (error as GraphQLError | undefined)?.extensions as { code?: unknown; http?: { status?: unknown } } | undefined;
  const status = extensions?.http?.status;
  return extensions?.code === undefined && typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * Every error leaves with a code: a service that did not answer is
 * SUBGRAPH_UNAVAILABLE naming it; client mistakes graphql-js reports without
 * a code get theirs (lib/runtime/request-plugins.ts). In production, internal error
 * messages and stack traces are hidden; product errors keep their message.
 */
export function formatErrorFor(production: boolean) {
  return (formatted: GraphQLFormattedError, error?: unknown): GraphQLFormattedError => {
    const original = (error as GraphQLError | undefined)?.originalError ?? error;
    if (original instanceof InternalApiError) {
      const unavailable = serviceUnavailable(original.service);
      return { message: unavailable.message, path: formatted.path, locations: formatted.locations, extensions: unavailable.extensions };
    }
    // Apollo raises some refusals of the request itself as 4xx errors without a code of their own (an unsupported
    // persisted-query version, a hash that does not match): the client's mistake, BAD_REQUEST, never a 500.
    const code = clientErrorWithoutCode(error) ? 'BAD_REQUEST' : requestErrorCode(formatted);
    const coded = code && code !== formatted.extensions?.code ? { ...formatted, extensions: { ...formatted.extensions, code } } : formatted;
    if (!production) return coded;
    const { stacktrace: _stacktrace, exception: _exception, ...extensions } = (coded.extensions ?? {}) as Record<string, unknown>;
    if (!code || code === ErrorCode.internal || code === 'DOWNSTREAM_SERVICE_ERROR') {
      return { message: 'Internal server error', path: formatted.path, locations: formatted.locations, extensions: { code: ErrorCode.internal } };
    }
    return { ...coded, extensions };
  };
}

export async function startSubgraph(module: SubgraphModule, options: SubgraphOptions): Promise<RunningSubgraph> {
  const db = options.database ?? (await openSubgraphDatabase(module.name, options.databaseUrl));
  if (options.consentInjection && options.production) throw new Error('The consent policy cannot be replaced in production');
  const logger = options.logger ?? createLogger(module.name);
  const replayGuard = options.replayGuard ?? new ProcessReplayGuard();
  const auth = createInternalAuth(options.keyring, replayGuard);
  if (auth.self !== module.name) throw new Error(`the keyring given to ${module.name} is ${auth.self}'s`);
  const telemetry = telemetryFor(module.name);
  const untrackDatabase = db.instrument(telemetry);
  const maintain = async () => {
    try {
      await module.maintenance?.(db);
    } catch (error) {
      logger.warn({ err: error }, 'maintenance failed (retried tomorrow; what it prepares is also made on demand)');
    }
  };
  await maintain();
  const maintenance = module.maintenance ? setInterval(() => void maintain(), MAINTENANCE_INTERVAL_MS).unref() : undefined;
  const routeDeps: SubgraphRouteDeps = { db, auth, url: options.peers, timeoutMs: options.internalTimeoutMs ?? DEFAULT_INTERNAL_TIMEOUT_MS, telemetry };
  const own = module.ownConsentFacts?.(db) ?? {};
  const sources: ConsentSources = { ...remoteConsentSources(), ...own };
  // The keeper of identity's facts signs those a request loaded; every other subgraph relays what it was given.
  const signsIdentityFacts = Boolean(own.identityFacts);
  const factsCache = new RequestFactsCache();
  const newAccess = options.consentInjection?.access
    ?? (({ call, internal }: ConsentAccessInputs) => new ConsentAccess(call.actor, internal, sources, { cache: factsCache, requestId: call.requestId, decisions: telemetry.metrics.consentDecisions }));
  /**
   * The consent policy for one call's actor (its calls here share the facts
   * fetched for it), seeded with identity's facts relayed with the call:
   * facts tokens identity signed for this very request; a forged one fails
   * the call (InternalTokenError).
   */
  const consentFor = (call: VerifiedCall, internal: InternalCaller, relayed: string | undefined): ConsentAccess => {
    const consent = newAccess({ call, internal, sources });
    for (const token of relayed?.split(' ') ?? []) consent.useRelayedFacts(auth.verifyFactsToken(token, call.requestId) as IdentityFacts);
    return consent;
  };
  /**
   * The consent policy of one request and the caller of other services'
   * internal APIs on its behalf, relaying identity's facts onward: those it
   * was given, or (the keeper of identity's facts) those it loaded.
   */
  const accessFor = (call: VerifiedCall, via: string, relayed: string | undefined, traceparent: string | undefined) => {
    let consent: ConsentAccess | undefined;
    const loadedFacts = () => {
      const facts = consent?.loadedIdentityFacts();
      return facts ? auth.signFactsToken(call.requestId, facts) : relayed;
    };
    const internal = internalCaller({ auth, url: options.peers, requestId: call.requestId, via, timeoutMs: routeDeps.timeoutMs,
      consentFacts: signsIdentityFacts ? loadedFacts : () => relayed, telemetry, traceparent });
    consent = consentFor(call, internal, relayed);
    return { consent, internal, relayFacts: signsIdentityFacts ? loadedFacts : () => undefined };
  };
  const apollo = new ApolloServer<SubgraphContext>({
    schema: (options.consentInjection?.schema ?? buildSchemaFor)(module),
    includeStacktraceInErrorResponses: !options.production,
    formatError: formatErrorFor(options.production),
    // Subgraphs are reached only by the gateway; no landing page, no batching.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), reportDisclosures,
      requestLogPlugin<SubgraphContext>(logger), httpStatusPlugin, controlCharacterGuard],
    csrfPrevention: false,
    // The gateway sends whole documents; no persisted-query cache to fill (docs/hardening.md).
    persistedQueries: false,
    // The gateway sends a small, fixed set of operations; the cache stays small.
    documentStore: new InMemoryLRUCache<DocumentNode>({ maxSize: 2 ** 20 * 2 }),
    // Stopping is ours (lib/runtime/lifecycle.ts drains); Apollo's own handler would stop at once and re-raise the signal.
    stopOnTerminationSignals: false,
  });
  const routes = module.internalRoutes?.(routeDeps) ?? [];
  // The kinds of timeline entries this subgraph keeps (the catalogue's record types it owns), served at /internal/timeline.
  const timeline = timelineSources(module.name);
  if (timeline.length) {
    routes.push(internalRoute(INTERNAL_APIS.timeline, routeDeps, async (body, call: InternalRequest) => {
      const request = parseTimelineRequest(body);
      if (!request) throw badInput('Malformed timeline request');
      return ownerTimeline(db, consentFor(call, call.internal, call.consentFacts), timeline, request);
    }));
  }
  const ownerIngestBytes = ownerIngestMaxBytes();
  const service = await startHttpService<SubgraphContext>({
    apollo,
    host: options.host,
    port: options.port,
    maxBodyBytes: options.maxBodyBytes ?? 1_000_000,
    // The gateway's publishing calls carry a whole Bundle's records for this owner (lib/ingest/limits.ts).
    bodyLimit: ({ url }) => (isOwnerIngestPath(url.pathname) ? ownerIngestBytes : undefined),
    routes,
    logger,
    telemetry,
    metrics: options.metricsPort === undefined ? undefined : { port: options.metricsPort, variable: `${SUBGRAPHS[module.name].envPrefix}_METRICS_PORT` },
    trustRequestId: true,
    health: () => ({ service: module.name }),
    // Ready when its own database answers. Not its peers: subgraphs call each
    // other, and readiness that waited on peers would never come on a cold start
    // (identity and public-health each waiting for the other); a peer that is
    // down is reported per request (SUBGRAPH_UNAVAILABLE).
    ready: async () => {
      await withDeadline(db.query('SELECT 1'), 2_000);
      return { ready: true, service: module.name, database: db.engine };
    },
    context: async (request, body) => {
      const token = request.headers[ACTOR_TOKEN_HEADER];
      const operation = body as { query?: string; variables?: unknown } | undefined;
      let call: VerifiedCall;
      try {
        call = await auth.verifyActorToken(typeof token === 'string' ? token : undefined, operationHash(operation?.query, operation?.variables));
      } catch (error) {
        if (error instanceof ReplayGuardUnavailable) {
          // Fail closed, and say whose fault it is: the service's, not the caller's (the gateway reports it unavailable).
          request.log.errorCodes.add(ErrorCode.subgraphUnavailable);
          throw productError(ErrorCode.subgraphUnavailable, 'This service cannot check its internal tokens now (replay guard unavailable)', { service: module.name, http: { status: 503 } });
        }
        if (!(error instanceof InternalTokenError)) throw error;
        request.log.errorCodes.add(ErrorCode.unauthenticated);
        throw productError(ErrorCode.unauthenticated, 'This service accepts only requests the gateway signed for it and for this operation');
      }
      request.log.actor = { role: call.actor.role, org: call.actor.org, clientId: call.actor.clientId };
      request.log.requestId = call.requestId;
      const relayed = request.headers[CONSENT_FACTS_HEADER];
      let access: ReturnType<typeof accessFor>;
      try {
        access = accessFor(call, token as string, typeof relayed === 'string' ? relayed : undefined, request.log.traceparent);
      } catch (error) {
        if (!(error instanceof InternalTokenError)) throw error;
        request.log.errorCodes.add(ErrorCode.unauthenticated);
        throw productError(ErrorCode.unauthenticated, 'Consent facts not signed by identity for this request');
      }
      const loaders = new Map<string, DataLoader<unknown, unknown>>();
      return {
        actor: call.actor,
        requestId: call.requestId,
        log: request.log,
        db,
        internal: access.internal,
        consent: access.consent,
        relayFacts: access.relayFacts,
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
  const stopped = async () => {
    clearInterval(maintenance);
    untrackDatabase();
    await replayGuard.close();
    await db.close();
  };
  return {
    name: module.name,
    url: service.url,
    db,
    metricsPort: service.metricsPort,
    drain: async (graceMs: number, delayMs = 0) => {
      await service.drain(graceMs, delayMs);
      await stopped();
    },
    close: async () => {
      await service.close();
      await stopped();
    },
  };
}

/** Rejects when `promise` has not settled within `ms` (a frozen database must not hang a probe). */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); }),
  ]);
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
        // Identity hands the consent facts it loaded to the gateway, which relays them to the next subgraphs of this request.
        const consentFacts = contextValue.relayFacts?.();
        if (disclosures.length || consentFacts) {
          response.body.singleResult.extensions = { ...response.body.singleResult.extensions, ...(disclosures.length ? { disclosures } : {}), ...(consentFacts ? { consentFacts } : {}) };
        }
      },
    };
  },
};
