/**
 * The gateway: one GraphQL endpoint over the five subgraphs.
 *
 * - serves the statically composed supergraph (schema/supergraph.graphql);
 * - verifies the caller's bearer token and derives the actor;
 * - applies query limits (depth, aliases, directives, tokens, cost) and
 *   allows introspection only to admins or tokens with `schema:read`;
 * - signs, for every subgraph call, a short-lived actor token bound to that
 *   exact operation, so subgraphs cannot be used to go around the gateway;
 * - gives every subgraph call a deadline (SUBGRAPH_TIMEOUT_MS): a subgraph
 *   that is down, frozen or failing costs only its part of the answer, which
 *   comes back null with SUBGRAPH_UNAVAILABLE naming it; the schema's
 *   nullability (test/support/nullability.ts) keeps the rest.
 */
import { createRequire } from 'node:module';
import { ApolloServer, type ApolloServerPlugin, type GraphQLRequestContext } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloGateway, type GraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { postJson } from '../../lib/runtime/http-client.js';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { GraphQLScalarType, printSchema, visit, type DocumentNode } from 'graphql';
import type { Actor } from '../../lib/trust/actor.js';
import { ErrorCode, errorBody, forbidden, serviceUnavailable } from '../../lib/runtime/errors.js';
import { millisecondsFromEnv, startHttpService, type HttpRequestInfo, type Readiness, type RequestLog, type RunningHttpService } from '../../lib/runtime/http.js';
import { createLogger, type Logger } from '../../lib/runtime/logger.js';
import { httpStatusPlugin, operationResolutionPlugin, requestLogPlugin } from '../../lib/runtime/request-plugins.js';
import { controlCharacterGuard } from '../../lib/runtime/control-characters.js';
import { ACTOR_TOKEN_HEADER, CONSENT_FACTS_HEADER, createInternalAuth, operationHash, type InternalAuth, type ServiceKeyring } from '../../lib/trust/internal-token.js';
import { scalarResolvers } from '../../lib/runtime/scalars.js';
import { parseScopes } from '../../lib/trust/scopes.js';
import { GATEWAY, SUBGRAPH_NAMES, type SubgraphName } from '../../lib/runtime/services.js';
import { formatErrorFor } from '../../lib/runtime/subgraph.js';
import { parseAllowedOrigins } from '../../lib/runtime/cors.js';
import { AuditBatcher, auditPlugin, collectDisclosures } from './audit.js';
import { queryCostLimits } from './query-cost.js';
import { developmentRoutes, type DevelopmentOptions } from './dev-routes.js';
import { createTokenVerifier, trustingAlso, type TokenVerifier } from './auth.js';
import { authorizationServer as startAuthorizationServer, type AuthorizationServer, type AuthorizationServerOptions } from './smart/authorization-server.js';
import { identityClient } from './smart/identity-client.js';
import { fhirRoute } from './fhir/route.js';
import { fhirSearchRoute } from './fhir/search/route.js';
import { sensitiveCodeTable } from '../../lib/consent/sensitive-codes.js';
import { hl7v2Route } from './fhir/ingest/hl7v2.js';
import { BOOTSTRAP_PATH, bootstrapRoute } from './admin/bootstrap.js';
import { startMllpListener, type MllpConfig, type RunningMllp } from './hl7v2/mllp.js';
import type { ProcessorOptions } from './hl7v2/process.js';
import { bundleTooLarge, ingestService, type IngestService } from './fhir/ingest/route.js';
import { admittedBundleBytes, heapPerByte, maxBundleBytes } from '../../lib/ingest/limits.js';
import { startBulkExport, type BulkExport } from './fhir/bulk/index.js';
import type { BulkExportSettings } from './fhir/bulk/config.js';

/** The largest HL7 v2 message or batch POST /hl7v2 accepts (413 past it). */
const HL7V2_MAX_BYTES = 1024 * 1024;
import { readSupergraph } from './supergraph.js';
import type { GatewayContext } from './context.js';
import { telemetryFor, type Telemetry } from '../../lib/runtime/telemetry.js';

/**
 * Query limits, tuned so the product's own queries (the longitudinal patient
 * view, 50-patient lists, the timeline, and the FHIR export's operation: a
 * page of 100 of every record type, the largest) pass with room to spare
 * while alias and depth bombs do not. The cost grows with each record type
 * the export reads: test/record-types.test.ts checks that it still fits.
 * The cost limit has two values (query-cost.ts): `maxCost` for operations
 * callers send to /graphql, `maxGeneratedCost` for the fixed operations the
 * gateway builds itself for FHIR (`$everything`, search, Bulk Data export).
 */
export const QUERY_LIMITS = {
  maxDepth: 12,
  // The web client's timeline query names every record type's fields, aliased where two types share a
  // field name with another shape (23 with nineteen record types): test/record-types.test.ts checks every
  // operation of the web client against these limits.
  maxAliases: 30,
  maxDirectives: 20,
  maxTokens: 3000,
  // 300,000 held the export with allergies. Each record type adds its page of 100 to the export's one
  // operation (graphql-armor's cost of buildOperation's query, as test/record-types.test.ts computes it):
  // procedures about 20,000, care plans and care teams about 77,000, the medications (MedicationRequest,
  // MedicationAdministration, MedicationStatement, their dosages and Medications read as FHIR JSON) about 119,000,
  // clinical notes (type, categories and every attachment element) about 45,000. Clinical observations (value[x]
  // of every type, components, links) add about 223,000: with all of these the export's operation costs about 910,000.
  // That is the gateway's own operation, not a caller's: callers keep 300,000 (the web client's largest, the
  // timeline, costs far less), and the FHIR operations the gateway builds have their own limit (query-cost.ts).
  maxCost: 300_000,
  // The gateway's own FHIR operations (contexts marked `generated`): fixed texts, a page of 100 of each record type.
  // No caller can send them, so this is the gateway's guard against its own plan growing without bound, not a
  // defence: with twenty record types, their last-updated times and the Synthea-shaped elements (reference ranges,
  // condition onset and abatement) the export's operation costs about 1,006,000; room is left for a few more types.
  maxGeneratedCost: 1_500_000,
};

export interface GatewayOptions {
  /** The MLLP listener for HL7 v2 (off when absent): gateway/src/hl7v2/mllp.ts. */
  mllp?: MllpConfig | null;
  host: string;
  port: number;
  production: boolean;
  subgraphUrls: Record<SubgraphName, string>;
  verifyToken: TokenVerifier;
  /** The gateway's own internal key and every service's public key. */
  keyring: ServiceKeyring;
  maxBodyBytes?: number;
  /** Origins browser apps may call from (lib/runtime/cors.ts); default CORS_ALLOWED_ORIGINS. */
  corsAllowedOrigins?: string[];
  /** Development only (refused in production): explorer, web client, demo tokens (dev-routes.ts). */
  development?: DevelopmentOptions;
  /** Deadline of each subgraph call (default SUBGRAPH_TIMEOUT_MS, else 10 s). */
  subgraphTimeoutMs?: number;
  logger?: Logger;
  /** How often publishing's recovery runs (default INGEST_RECOVERY_INTERVAL_MS or 15 s; 0: only on demand). */
  ingestRecoveryIntervalMs?: number;
  /** Serves Prometheus `/metrics` on this port (0: any free one); none when absent (lib/runtime/telemetry.ts). */
  metricsPort?: number;
  /**
   * The SMART App Launch authorization server (smart/authorization-server.ts), served on this port;
   * its tokens are trusted beside `verifyToken`'s. `publicUrl` defaults to http://<host>:<port>.
   */
  authorizationServer?: Omit<AuthorizationServerOptions, 'identity' | 'logger' | 'publicUrl'> & { publicUrl?: string };
  /** FHIR Bulk Data export (fhir/bulk/): settings over the EXPORT_* variables; false: off. */
  bulkExport?: Partial<BulkExportSettings> | false;
}

export const DEFAULT_SUBGRAPH_TIMEOUT_MS = 10_000;

/**
 * Sizes of the gateway's caches (approximate MiB of their JSON): the
 * product's own operations are a few hundred distinct documents, far less;
 * beyond, the least recently used go.
 */
export const CACHE_MIB = { documents: 4, queryPlans: 8 };

export interface RunningGateway extends RunningHttpService {
  gateway: ApolloGateway;
  /** Publishing (FHIR writes, HL7 v2): its recovery can also be run on demand. */
  ingest: IngestService;
  /** How HL7 v2 messages are answered (POST /hl7v2 and MLLP). */
  hl7v2: ProcessorOptions;
  /** The MLLP listener, when configured. */
  mllp: RunningMllp | null;
  /** The Bulk Data export's job store and worker (null when off). */
  bulkExport: BulkExport | null;
}

/**
 * How the gateway calls a subgraph: one JSON POST (lib/runtime/http-client.ts) with
 * an actor token made for this subgraph and this exact operation
 * (lib/trust/internal-token.ts), within the deadline. It replaces the stock data
 * source's request path (fetch, Request objects, APQ and cache-control
 * handling this product does not use), which cost more than the call itself.
 */
class ActorSigningDataSource implements GraphQLDataSource<GatewayContext> {
  constructor(private readonly url: string, private readonly subgraph: SubgraphName, private readonly auth: InternalAuth,
    private readonly timeoutMs: number, private readonly logger: Logger, private readonly telemetry: Telemetry) {}

  /**
   * A subgraph that does not answer (down, frozen past the deadline, an HTTP
   * error) is not a failure of the whole request: its part comes back null
   * with SUBGRAPH_UNAVAILABLE naming it, and the rest of the answer stands.
   */
  async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    const { request } = options;
    const context = options.context as Partial<GatewayContext>;
    const headers: Record<string, string> = {};
    // Only requests with an actor reach a subgraph: nothing else carries a token, and subgraphs refuse what has none.
    if (context.actor) {
      headers[ACTOR_TOKEN_HEADER] = this.auth.signActorToken(this.subgraph, context.actor, context.requestId!, operationHash(request.query, request.variables));
      // The same request id in every service's log (subgraphs log the id their verified token carries).
      headers['x-request-id'] = context.requestId!;
      // Identity's consent facts for this request: the subgraph need not ask identity again.
      if (context.consentFacts?.length) headers[CONSENT_FACTS_HEADER] = context.consentFacts.join(' ');
    }
    try {
      const answer = await postJson(this.url, JSON.stringify({ query: request.query, variables: request.variables, operationName: request.operationName }), headers, this.timeoutMs,
        { telemetry: this.telemetry, target: this.subgraph, api: 'graphql', traceparent: context.log?.traceparent });
      if (answer.status < 200 || answer.status >= 300) throw new Error(`${this.subgraph} answered ${answer.status}`);
      const response = JSON.parse(answer.body) as GatewayGraphQLResponse;
      if (context.disclosures) collectDisclosures(context as GatewayContext, response.extensions as Record<string, unknown> | undefined);
      return response;
    } catch (error) {
      context.log?.errorCodes.add(ErrorCode.subgraphUnavailable);
      this.logger.warn({ rid: context.requestId, trace: context.log?.traceId, service: this.subgraph, err: error }, 'subgraph unavailable');
      const unavailable = serviceUnavailable(this.subgraph);
      return { errors: [{ message: unavailable.message, extensions: unavailable.extensions }] } as GatewayGraphQLResponse;
    }
  }
}

/** The authorization server's paths (smart/authorization-server.ts): discovery, /oauth/…, OpenID discovery. */
const isAuthorizationServerPath = (url: URL) =>
  url.pathname.startsWith('/oauth/') || url.pathname === '/.well-known/smart-configuration' || url.pathname === '/fhir/.well-known/smart-configuration'
  || url.pathname === '/.well-known/openid-configuration';

/** Whether a document asks for the schema (`__schema` or `__type`); `__typename` is fine. */
export function asksForSchema(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') found = true;
    },
  });
  return found;
}

export const maySeeSchema = (actor: Actor) => actor.role === 'admin' || parseScopes(actor.scope).schemaRead;

const introspectionGuard: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ document, contextValue }: GraphQLRequestContext<GatewayContext>) {
        if (document && asksForSchema(document) && !maySeeSchema(contextValue.actor)) {
          throw forbidden('Introspection is available to administrators and tokens with the schema:read scope');
        }
      },
    };
  },
};

/** The paths of FHIR writes: Bundles, creates, updates. */
const FHIR_WRITE_PATH = /^\/fhir(\/[A-Za-z]+(\/[^/]+)?)?\/?$/;
/** A transaction or batch Bundle: read as a stream (fhir/ingest/bundle-stream.ts), never whole. */
const isStreamedBundle = (method: string, url: URL) => method === 'POST' && (url.pathname === '/fhir' || url.pathname === '/fhir/');

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  // @apollo/gateway otherwise reports usage metrics to Apollo's servers; a
  // patient-record gateway sends nothing anywhere unless configured to.
  process.env.APOLLO_TELEMETRY_DISABLED ??= 'true';
  if (options.production && options.development) throw new Error('Development routes (explorer, demo tokens) cannot run in production');
  const auth = createInternalAuth(options.keyring);
  if (auth.self !== 'gateway') throw new Error(`the gateway was given ${auth.self}'s keyring`);
  const logger = options.logger ?? createLogger('gateway');
  const telemetry = telemetryFor('gateway');
  // The authorization server starts once the port is known (its issuer is the public URL); until then its paths answer 503.
  let smart: AuthorizationServer | undefined;
  let smartVerifier: TokenVerifier | undefined;
  const verifyToken = trustingAlso(options.verifyToken, () => smart?.issuer, () => smartVerifier);
  if (telemetry.tracerProvider) traceApolloGateway(telemetry.tracerProvider);
  const timeoutMs = options.subgraphTimeoutMs ?? millisecondsFromEnv('SUBGRAPH_TIMEOUT_MS', DEFAULT_SUBGRAPH_TIMEOUT_MS);
  const gateway = new ApolloGateway({
    supergraphSdl: readSupergraph(),
    buildService: ({ name, url }) => new ActorSigningDataSource(options.subgraphUrls[name as SubgraphName] ?? url!, name as SubgraphName, auth, timeoutMs, logger, telemetry),
    logger,
    // Bounded: every distinct operation a client sends would otherwise add a plan (30 MiB by default).
    experimental_approximateQueryPlanStoreMiB: CACHE_MIB.queryPlans,
  });
  // The gateway's copy of the custom scalars knows nothing of their format;
  // give it the real ones so bad dates are refused here, with a clear message,
  // before any subgraph is called.
  gateway.onSchemaLoadOrUpdate(({ apiSchema }) => {
    for (const scalar of Object.values(scalarResolvers)) {
      const target = apiSchema.getType(scalar.name);
      // Compared by name: the gateway may hold the CommonJS copy of graphql and we the ESM one.
      if (target?.constructor.name === GraphQLScalarType.name) Object.assign(target, { parseValue: scalar.parseValue, parseLiteral: scalar.parseLiteral, serialize: scalar.serialize });
    }
  });
  const armor = new ApolloArmor({
    maxDepth: { n: QUERY_LIMITS.maxDepth },
    maxAliases: { n: QUERY_LIMITS.maxAliases },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives },
    // The token limit is graphql-js's own (parseOptions below): armor's version parses in a plugin
    // hook, where a syntax error escapes Apollo's handling and becomes a 500.
    maxTokens: { enabled: false },
    // The cost limit depends on who built the operation (query-cost.ts): measured here, applied per request.
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: options.production },
  }).protect();
  const cost = queryCostLimits(QUERY_LIMITS);
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection: true, // guarded per actor by introspectionGuard
    allowBatchedHttpRequests: false,
    // No persisted queries (docs/hardening.md): automatic ones let any caller fill a server-side cache with
    // documents of its choosing and protect nothing; trusted documents need app review to register them, which
    // does not exist yet. Every `extensions.persistedQuery` answers 400 PERSISTED_QUERY_NOT_SUPPORTED.
    persistedQueries: false,
    // Parsed and validated operations, bounded: hostile clients send endless distinct ones.
    documentStore: new InMemoryLRUCache<DocumentNode>({ maxSize: 2 ** 20 * CACHE_MIB.documents }),
    // Stopping is ours (lib/runtime/lifecycle.ts drains); Apollo's own handler would stop at once and re-raise the signal.
    stopOnTerminationSignals: false,
    parseOptions: { maxLexicalTokens: QUERY_LIMITS.maxTokens } as never,
    includeStacktraceInErrorResponses: !options.production,
    formatError: formatErrorFor(options.production),
    validationRules: [...(armor.validationRules ?? []), ...cost.validationRules],
    plugins: [
      ...(armor.plugins as unknown as ApolloServerPlugin<GatewayContext>[]), // armor is typed against the CJS build of @apollo/server
      operationResolutionPlugin,
      cost.plugin,
      introspectionGuard,
      controlCharacterGuard as ApolloServerPlugin<GatewayContext>,
      auditPlugin(new AuditBatcher({ auth, url: (name) => options.subgraphUrls[name], timeoutMs, telemetry }), telemetry, logger),
      requestLogPlugin<GatewayContext>(logger),
      httpStatusPlugin,
      // Never Apollo's CDN-hosted page: development serves its own explorer (explorer.ts).
      ApolloServerPluginLandingPageDisabled(),
    ],
  });
  // Publishing: FHIR writes and HL7 v2, coordinated across the owners (fhir/ingest/coordinator.ts). The table of
  // sensitive codes that labels what arrives is loaded now: a bad SENSITIVE_CODES_FILE stops the gateway here.
  sensitiveCodeTable();
  const ingest = ingestService({
    auth, url: (name) => options.subgraphUrls[name], timeoutMs: 2 * timeoutMs, verifyToken: verifyToken, recoveryIntervalMs: options.ingestRecoveryIntervalMs, logger, telemetry,
  });
  // Publishing bodies up to FHIR_MAX_BUNDLE_BYTES, or what the free heap can hold (lib/ingest/limits.ts); GraphQL keeps maxBodyBytes.
  const bundleBytes = maxBundleBytes();
  // Heap per byte of body admitted (GATEWAY_HEAP_PER_BYTE, GATEWAY_STREAM_HEAP_PER_BYTE): read now, so a bad value stops the gateway here.
  const heapFactors = heapPerByte();
  // Bulk Data export: its own job store (EXPORT_DATABASE_URL, else PGlite under the data directory) and a background worker.
  const bulkExport = options.bulkExport === false ? null : await startBulkExport({ apollo, verifyToken, logger, settings: options.bulkExport ?? {}, production: options.production });
  const hl7v2: ProcessorOptions = { auth, url: (name) => options.subgraphUrls[name], timeoutMs: 2 * timeoutMs, coordinator: ingest.coordinator, telemetry };
  const service = await startHttpService<GatewayContext>({
    apollo,
    host: options.host,
    port: options.port,
    maxBodyBytes: options.maxBodyBytes ?? 100_000,
    // One HL7 v2 message (or batch file) stays within 1 MiB: results carry references to documents (ED), not their bytes (docs/hl7v2.md).
    bodyLimit: ({ method, url }) => (url.pathname === '/hl7v2' ? HL7V2_MAX_BYTES
      // A Bundle read as a stream needs less heap per byte than a body read whole (lib/ingest/limits.ts).
      : isStreamedBundle(method, url) ? admittedBundleBytes(bundleBytes, heapFactors.streamed)
      : FHIR_WRITE_PATH.test(url.pathname) || url.pathname === BOOTSTRAP_PATH ? admittedBundleBytes(bundleBytes, heapFactors.whole) : undefined),
    // A Bundle (POST /fhir) is read as it arrives, never whole (fhir/ingest/bundle-stream.ts): tens of MB in bounded memory.
    streamBody: ({ method, url }) => isStreamedBundle(method, url),
    // Past it, FHIR writes are answered with an OperationOutcome (HL7 v2 and GraphQL with the usual error body).
    tooLarge: ({ url }, limit) => (FHIR_WRITE_PATH.test(url.pathname) ? bundleTooLarge(limit) : undefined),
    cors: { allowedOrigins: options.corsAllowedOrigins ?? parseAllowedOrigins(process.env.CORS_ALLOWED_ORIGINS) },
    // The authorization server answers cross-origin requests itself (discovery: any origin; token: the app's registered origins).
    ownCors: (url) => Boolean(options.authorizationServer) && isAuthorizationServerPath(url),
    // HL7 v2 answers a NUL with an AR ACK, as a sending system expects (gateway/src/hl7v2/process.ts).
    ownNulCheck: (url) => url.pathname === '/hl7v2',
    logger,
    telemetry,
    metrics: options.metricsPort === undefined ? undefined : { port: options.metricsPort, variable: `${GATEWAY.envPrefix}_METRICS_PORT` },
    health: () => ({ service: 'gateway' }),
    // Ready when every subgraph is (each checks its own database).
    ready: () => subgraphsReady(options.subgraphUrls),
    routes: [
      ...(options.authorizationServer ? [async (request: HttpRequestInfo) => {
        if (!isAuthorizationServerPath(request.url)) return undefined;
        if (!smart) return { status: 503, body: errorBody(ErrorCode.subgraphUnavailable, 'The authorization server is starting') };
        for (const route of smart.routes) {
          const answer = await route(request);
          if (answer) return answer;
        }
        return undefined;
      }] : []),
      ...(options.development ? developmentRoutes(options.development) : []),
      // The supergraph's API schema with every description, for administrators.
      async (request) => {
        if (request.url.pathname !== '/schema.graphql') return undefined;
        let actor: Actor;
        try {
          actor = await verifyToken(request.headers.authorization);
        } catch {
          return { status: 401, body: errorBody(ErrorCode.unauthenticated, 'Authentication required') };
        }
        if (!maySeeSchema(actor)) return { status: 403, body: errorBody(ErrorCode.forbidden, 'Schema download is for administrators') };
        return { status: 200, body: printSchema(gateway.schema!), contentType: 'text/plain; charset=utf-8' };
      },
      // FHIR Bulk Data export (fhir/bulk/): before search (GET /fhir/Group) and the writes (POST /fhir/Patient/$export).
      ...(bulkExport ? [bulkExport.route] : []),
      // FHIR read, search and metadata (fhir/search/): GraphQL through this server, as the export. Before the writes: POST /fhir/{type}/_search is a search.
      fhirSearchRoute({ apollo, verifyToken: verifyToken, logger, oauthUris: () => smart?.oauthUris, bulkExport: Boolean(bulkExport) }),
      // FHIR writes and HL7 v2 results from institutions (fhir/ingest/).
      ...ingest.routes,
      hl7v2Route({ ...hl7v2, verifyToken }),
      // Production bootstrap: the registries from a FHIR Bundle, for administrators (admin/bootstrap.ts, npm run bootstrap).
      bootstrapRoute({ apollo, verifyToken }),
      // FHIR R4 export (GET /fhir/Patient/{id}/$everything): runs GraphQL
      // operations through this same server, so consent and audit apply as on /graphql.
      fhirRoute({ apollo, verifyToken: verifyToken, logger }),
    ],
    context: async (request) => {
      let actor: Actor;
      try {
        actor = await verifyToken(request.headers.authorization);
      } catch (error) {
        request.log.errorCodes.add(String((error as { extensions?: { code?: unknown } }).extensions?.code ?? ErrorCode.unauthenticated));
        throw error;
      }
      request.log.actor = { role: actor.role, org: actor.org, clientId: actor.clientId };
      return { actor, requestId: request.requestId, log: request.log, disclosures: [] };
    },
  });
  if (options.authorizationServer) {
    const { publicUrl, ...rest } = options.authorizationServer;
    try {
      smart = await startAuthorizationServer({
        ...rest,
        publicUrl: publicUrl ?? `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${service.port}`,
        identity: identityClient({ auth, url: (name) => options.subgraphUrls[name], timeoutMs, telemetry }),
        logger,
      });
      smartVerifier = createTokenVerifier({ issuer: smart.issuer, audience: smart.fhirBaseUrl, keySet: smart.publicKeys, production: options.production });
    } catch (error) {
      await service.close();
      await bulkExport?.close();
      throw error;
    }
  }
  bulkExport?.worker.start();
  let mllp: RunningMllp | null = null;
  if (options.mllp) {
    try {
      mllp = await startMllpListener(hl7v2, options.mllp);
    } catch (error) {
      await service.close();
      await bulkExport?.close();
      throw error;
    }
  }
  return {
    ...service,
    gateway,
    ingest,
    hl7v2,
    mllp,
    bulkExport,
    drain: async (graceMs: number, delayMs = 0) => {
      // Out of the balancer (/ready 503) from the first moment, while the export worker stops; still serving meanwhile.
      await Promise.all([service.deregister(delayMs), bulkExport?.worker.stop()]);
      await service.drain(graceMs);
      await bulkExport?.close();
    },
    close: async () => {
      ingest.stop();
      await bulkExport?.worker.stop();
      await mllp?.close();
      await service.close();
      await bulkExport?.close();
    },
  };
}

/**
 * Apollo Gateway records its own spans (request, validate, plan, execute,
 * fetch, post-processing) through its own copy of the OpenTelemetry API
 * (1.9, nested under @apollo/gateway), whose tracer was taken when the module
 * loaded. That copy cannot register a global provider beside ours (1.10: the
 * API refuses a registration of another version), so the gateway's provider
 * becomes the delegate of the proxy that tracer reads. Its spans nest under
 * the request's span: it reads the active context from the global context
 * manager ours registered (lib/runtime/telemetry.ts). The observability test checks
 * that they arrive.
 */
function traceApolloGateway(provider: NonNullable<Telemetry['tracerProvider']>): void {
  const api = createRequire(createRequire(import.meta.url).resolve('@apollo/gateway'))('@opentelemetry/api') as { trace: { _proxyTracerProvider?: { setDelegate(p: unknown): void } } };
  api.trace._proxyTracerProvider?.setDelegate(provider);
}

/** Each subgraph's readiness (2 s each, in parallel): the gateway serves only when all answer. */
async function subgraphsReady(urls: Record<SubgraphName, string>): Promise<Readiness> {
  const entries = await Promise.all(
    SUBGRAPH_NAMES.map(async (name) => {
      try {
        const response = await fetch(urls[name].replace(/\/graphql$/, '/ready'), { signal: AbortSignal.timeout(2000) });
        return [name, response.ok ? 'ready' : `status ${response.status}`] as const;
      } catch {
        return [name, 'unreachable'] as const;
      }
    }),
  );
  return { ready: entries.every(([, state]) => state === 'ready'), service: 'gateway', subgraphs: Object.fromEntries(entries) };
}
