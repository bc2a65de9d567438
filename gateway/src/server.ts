/**
 * The gateway: one GraphQL endpoint over the five subgraphs.
 *
 * - serves the statically composed supergraph (schema/supergraph.graphql);
 * - verifies the caller's bearer token and derives the actor;
 * - applies query limits (depth, aliases, directives, tokens, cost) and
 *   allows introspection only to admins or tokens with `schema:read`;
 * - signs, for every subgraph call, a short-lived actor token bound to that
 *   exact operation, so subgraphs cannot be used to go around the gateway.
 */
import { randomUUID } from 'node:crypto';
import { ApolloServer, type ApolloServerPlugin, type GraphQLRequestContext } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLScalarType, printSchema, visit, type DocumentNode } from 'graphql';
import type { Actor } from '../../lib/actor.js';
import { ErrorCode, errorBody, forbidden } from '../../lib/errors.js';
import { startHttpService, type RunningHttpService } from '../../lib/http.js';
import { ACTOR_TOKEN_HEADER, createInternalAuth, operationHash, type InternalAuth, type ServiceKeyring } from '../../lib/internal-token.js';
import { scalarResolvers } from '../../lib/scalars.js';
import { parseScopes } from '../../lib/scopes.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../../lib/services.js';
import { formatErrorFor } from '../../lib/subgraph.js';
import type { Disclosure } from '../../lib/consent/access.js';
import { parseAllowedOrigins } from '../../lib/cors.js';
import { auditPlugin, collectDisclosures } from './audit.js';
import { developmentRoutes, type DevelopmentOptions } from './dev-routes.js';
import type { TokenVerifier } from './auth.js';
import { fhirRoute } from './fhir/route.js';
import { hl7v2Route } from './fhir/ingest/hl7v2.js';
import { INGEST_MAX_BODY_BYTES, ingestService, type IngestService } from './fhir/ingest/route.js';
import { readSupergraph } from './supergraph.js';

export interface GatewayContext {
  actor: Actor;
  requestId: string;
  /** What the subgraphs disclosed during this request (written to the audit trail before responding). */
  disclosures: Disclosure[];
}

/**
 * Query limits, tuned so the product's own front-end queries (the
 * longitudinal patient view, 50-patient lists, the timeline) pass with room
 * to spare while alias and depth bombs do not.
 */
export const QUERY_LIMITS = {
  maxDepth: 12,
  maxAliases: 20,
  maxDirectives: 20,
  maxTokens: 3000,
  maxCost: 200_000,
};

export interface GatewayOptions {
  host: string;
  port: number;
  production: boolean;
  subgraphUrls: Record<SubgraphName, string>;
  verifyToken: TokenVerifier;
  /** The gateway's own internal key and every service's public key. */
  keyring: ServiceKeyring;
  maxBodyBytes?: number;
  /** Origins browser apps may call from (lib/cors.ts); default CORS_ALLOWED_ORIGINS. */
  corsAllowedOrigins?: string[];
  /** Development only (refused in production): explorer, web client, demo tokens (dev-routes.ts). */
  development?: DevelopmentOptions;
  /** How often publishing's recovery runs (default INGEST_RECOVERY_INTERVAL_MS or 15 s; 0: only on demand). */
  ingestRecoveryIntervalMs?: number;
}

export interface RunningGateway extends RunningHttpService {
  gateway: ApolloGateway;
  /** Publishing (FHIR writes, HL7 v2): its recovery can also be run on demand. */
  ingest: IngestService;
}

class ActorSigningDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(url: string, private readonly subgraph: SubgraphName, private readonly auth: InternalAuth) {
    super({ url });
  }

  override async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<void> {
    const gatewayContext = context as Partial<GatewayContext>;
    // Health checks and schema loading have no actor; they carry no token and subgraphs refuse them.
    if (!gatewayContext.actor) return;
    // For this subgraph and this exact operation only (lib/internal-token.ts).
    const token = this.auth.signActorToken(this.subgraph, gatewayContext.actor, gatewayContext.requestId!, operationHash(request.query, request.variables));
    request.http?.headers.set(ACTOR_TOKEN_HEADER, token);
  }

  override async didReceiveResponse({ response, context }: Required<Pick<GraphQLDataSourceProcessOptions<GatewayContext>, 'request' | 'context'>> & { response: GatewayGraphQLResponse }) {
    const gatewayContext = context as Partial<GatewayContext>;
    if (gatewayContext.disclosures) collectDisclosures(gatewayContext as GatewayContext, response.extensions as Record<string, unknown> | undefined);
    return response;
  }
}

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

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  // @apollo/gateway otherwise reports usage metrics to Apollo's servers; a
  // patient-record gateway sends nothing anywhere unless configured to.
  process.env.APOLLO_TELEMETRY_DISABLED ??= 'true';
  if (options.production && options.development) throw new Error('Development routes (explorer, demo tokens) cannot run in production');
  const auth = createInternalAuth(options.keyring);
  if (auth.self !== 'gateway') throw new Error(`the gateway was given ${auth.self}'s keyring`);
  const gateway = new ApolloGateway({
    supergraphSdl: readSupergraph(),
    buildService: ({ name, url }) => new ActorSigningDataSource(options.subgraphUrls[name as SubgraphName] ?? url!, name as SubgraphName, auth),
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
    maxTokens: { n: QUERY_LIMITS.maxTokens },
    costLimit: { maxCost: QUERY_LIMITS.maxCost },
    blockFieldSuggestion: { enabled: options.production },
  }).protect();
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection: true, // guarded per actor by introspectionGuard
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: !options.production,
    formatError: formatErrorFor(options.production),
    validationRules: armor.validationRules,
    plugins: [
      ...(armor.plugins as unknown as ApolloServerPlugin<GatewayContext>[]), // armor is typed against the CJS build of @apollo/server
      introspectionGuard,
      auditPlugin({ auth, url: (name) => options.subgraphUrls[name] }),
      // Never Apollo's CDN-hosted page: development serves its own explorer (explorer.ts).
      ApolloServerPluginLandingPageDisabled(),
    ],
  });
  // Publishing: FHIR writes and HL7 v2, coordinated across the owners (fhir/ingest/coordinator.ts).
  const ingest = ingestService({
    auth, url: (name) => options.subgraphUrls[name], timeoutMs: 20_000, verifyToken: options.verifyToken, recoveryIntervalMs: options.ingestRecoveryIntervalMs,
  });
  const service = await startHttpService<GatewayContext>({
    apollo,
    host: options.host,
    port: options.port,
    maxBodyBytes: options.maxBodyBytes ?? 100_000,
    bodyLimit: ({ url }) => (url.pathname === '/hl7v2' || /^\/fhir(\/[A-Za-z]+(\/[^/]+)?)?\/?$/.test(url.pathname) ? INGEST_MAX_BODY_BYTES : undefined),
    cors: { allowedOrigins: options.corsAllowedOrigins ?? parseAllowedOrigins(process.env.CORS_ALLOWED_ORIGINS) },
    health: async () => ({ service: 'gateway', subgraphs: await subgraphHealth(options.subgraphUrls) }),
    routes: [
      ...(options.development ? developmentRoutes(options.development) : []),
      // The supergraph's API schema with every description, for administrators.
      async (request) => {
        if (request.url.pathname !== '/schema.graphql') return undefined;
        let actor: Actor;
        try {
          actor = await options.verifyToken(request.headers.authorization);
        } catch {
          return { status: 401, body: errorBody(ErrorCode.unauthenticated, 'Authentication required') };
        }
        if (!maySeeSchema(actor)) return { status: 403, body: errorBody(ErrorCode.forbidden, 'Schema download is for administrators') };
        return { status: 200, body: printSchema(gateway.schema!), contentType: 'text/plain; charset=utf-8' };
      },
      // FHIR writes and HL7 v2 results from institutions (fhir/ingest/).
      ...ingest.routes,
      hl7v2Route({ auth, url: (name) => options.subgraphUrls[name], timeoutMs: 20_000, verifyToken: options.verifyToken, coordinator: ingest.coordinator }),
      // FHIR R4 export (GET /fhir/Patient/{id}/$everything): runs GraphQL
      // operations through this same server, so consent and audit apply as on /graphql.
      fhirRoute({ apollo, verifyToken: options.verifyToken }),
    ],
    context: async (request) => ({
      actor: await options.verifyToken(request.headers.authorization),
      requestId: randomUUID(),
      disclosures: [],
    }),
  });
  return {
    ...service,
    gateway,
    ingest,
    close: async () => {
      ingest.stop();
      await service.close();
    },
  };
}

async function subgraphHealth(urls: Record<SubgraphName, string>): Promise<Record<string, string>> {
  const entries = await Promise.all(
    SUBGRAPH_NAMES.map(async (name) => {
      try {
        const response = await fetch(urls[name].replace(/\/graphql$/, '/health'), { signal: AbortSignal.timeout(2000) });
        return [name, response.ok ? 'ok' : `status ${response.status}`];
      } catch {
        return [name, 'unreachable'];
      }
    }),
  );
  return Object.fromEntries(entries);
}
