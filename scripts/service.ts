/**
 * Runs one service on its own, configured by environment variables (one
 * process per service, as in docker-compose.yml):
 *
 *   npm run service -- gateway
 *   npm run service -- labs
 *
 * Every service: INTERNAL_TOKEN_PRIVATE_KEY(_FILE) (its own key), INTERNAL_TOKEN_PUBLIC_KEYS(_FILE) (every service's).
 * Subgraph: <PREFIX>_PORT, <PREFIX>_DATABASE_URL, HOST.
 * Gateway: GATEWAY_PORT, <SUBGRAPH>_URL for each subgraph, AUTH_ISSUER, AUTH_AUDIENCE,
 * AUTH_JWKS_URL or AUTH_PUBLIC_KEYS_FILE; the SMART authorization server: PUBLIC_URL,
 * SMART_SIGNING_KEY(_FILE), SMART_UPSTREAM_* (docs/apps.md).
 * Without key variables outside production, the development keys under .data/keys are used.
 * HEAP_INSPECT=<service>:<port>,… opens the V8 inspector of the services named, on loopback only, so
 * scripts/heap-snapshot.ts can take heap snapshots (npm run hostile -- --heap-snapshots; docs/hardening.md).
 *
 * The heap is capped as in the image (package.json: --max-old-space-size=128, lib/runtime/services.ts NODE_HEAP_OPTIONS).
 * So a process loads only the code of the service it runs (the gateway's, or one subgraph's: subgraphs/load.ts):
 * with every service's code loaded, each process held about 20 MB more of a 128 MB heap, and the gateway spent
 * 40% of its CPU collecting garbage under load (docs/performance.md).
 */
import type { JSONWebKeySet, JWK } from 'jose';
import { ConfigurationError, DEFAULT_AUDIENCE, DEV_ISSUER, ensureDevKeys, jsonFromEnv, keyringFromEnv, refuseDevKeyInProduction } from '../lib/trust/keys.js';
import { millisecondsFromEnv } from '../lib/runtime/http.js';
import { DEFAULT_INTERNAL_TIMEOUT_MS } from '../lib/runtime/internal-api.js';
import { DEFAULT_SHUTDOWN_DELAY_MS, DEFAULT_SHUTDOWN_GRACE_MS, describeStartupError, drainOnSignals } from '../lib/runtime/lifecycle.js';
import { createLogger } from '../lib/runtime/logger.js';
import { GATEWAY, SUBGRAPH_NAMES, SUBGRAPHS, databaseUrl, isSubgraphName, servicePort, serviceUrl, type SubgraphName } from '../lib/runtime/services.js';
import { startSubgraph } from '../lib/runtime/subgraph.js';
import { replayGuardFromEnv } from '../lib/trust/replay-guard.js';
import { markSingleServiceProcess, metricsPortFromEnv } from '../lib/runtime/telemetry.js';
import { loadSubgraphModule } from '../subgraphs/load.js';
import { serviceExtras } from './service-extras.js';
import { openHeapInspector } from './heap-snapshot.js';

const name = process.argv[2] ?? '';
const production = process.env.NODE_ENV === 'production';
const host = process.env.HOST ?? '127.0.0.1';
const portOf = (service: typeof GATEWAY) => ({ [service.name]: { variable: `${service.envPrefix}_PORT`, port: servicePort(service) } });

if (name !== 'gateway' && !isSubgraphName(name)) {
  console.error(`usage: npm run service -- <gateway|${SUBGRAPH_NAMES.join('|')}>`);
  process.exit(2);
}
const logger = createLogger(name);
openHeapInspector(name, logger);
// OTEL_SERVICE_NAME may name this process's one service (lib/runtime/telemetry.ts).
markSingleServiceProcess();
try {
  const graceMs = millisecondsFromEnv('SHUTDOWN_GRACE_MS', DEFAULT_SHUTDOWN_GRACE_MS);
  // Behind a balancer that learns only from /ready (HAProxy): serve on, /ready 503, until its checks have this replica out.
  const delayMs = millisecondsFromEnv('SHUTDOWN_DELAY_MS', DEFAULT_SHUTDOWN_DELAY_MS, process.env, true);
  if (name === 'gateway') {
    const [{ createTokenVerifier }, { DEFAULT_SUBGRAPH_TIMEOUT_MS, startGateway }, { mllpConfigFromEnv }, { upstreamFromEnv }] = await Promise.all([
      import('../gateway/src/auth.js'), import('../gateway/src/server.js'), import('../gateway/src/hl7v2/mllp.js'), import('../gateway/src/smart/upstream.js'),
    ]);
    const keySet = await jsonFromEnv<JSONWebKeySet>('AUTH_PUBLIC_KEYS');
    const jwksUrl = process.env.AUTH_JWKS_URL;
    if (production && !jwksUrl && !keySet) throw new ConfigurationError('Set AUTH_JWKS_URL (or AUTH_PUBLIC_KEYS_FILE) in production');
    // The SMART authorization server: its signing key (SMART_SIGNING_KEY(_FILE), a private JWK; the development key outside
    // production), the public URL apps reach it at, the upstream sign-in. Without a key in production it stays off.
    const signingKey = (await jsonFromEnv<JWK>('SMART_SIGNING_KEY')) ?? (production ? undefined : (await ensureDevKeys()).authorizationServerPrivate);
    if (signingKey) refuseDevKeyInProduction(signingKey, 'SMART_SIGNING_KEY', production);
    if (signingKey && production && !process.env.PUBLIC_URL) throw new ConfigurationError('Set PUBLIC_URL (the product\'s public https origin) for the SMART authorization server');
    if (!signingKey) logger.warn('SMART_SIGNING_KEY is not set: the SMART authorization server is off (apps cannot connect)');
    const upstream = upstreamFromEnv();
    const gateway = await startGateway({
      authorizationServer: signingKey ? { signingKey, upstream, demoSignIn: !production && !upstream, publicUrl: process.env.PUBLIC_URL } : undefined,
      host,
      port: servicePort(GATEWAY),
      production,
      subgraphUrls: Object.fromEntries(SUBGRAPH_NAMES.map((n) => [n, serviceUrl(SUBGRAPHS[n])])) as Record<SubgraphName, string>,
      verifyToken: createTokenVerifier({
        issuer: process.env.AUTH_ISSUER ?? (production ? '' : DEV_ISSUER),
        audience: process.env.AUTH_AUDIENCE ?? DEFAULT_AUDIENCE,
        jwksUrl,
        keySet: keySet ?? (jwksUrl ? undefined : { keys: [(await ensureDevKeys()).issuerPublic] }),
        production,
      }),
      keyring: await keyringFromEnv('gateway', production, ensureDevKeys),
      maxBodyBytes: process.env.MAX_BODY_BYTES ? Number(process.env.MAX_BODY_BYTES) : undefined,
      // HL7 v2 over MLLP when MLLP_PORT is set (with TLS in production): docs/hl7v2.md.
      mllp: await mllpConfigFromEnv(process.env, { production, warn: (message) => logger.warn(message) }),
      subgraphTimeoutMs: millisecondsFromEnv('SUBGRAPH_TIMEOUT_MS', DEFAULT_SUBGRAPH_TIMEOUT_MS),
      // Development with the development issuer: explorer, web client, demo tokens (gateway/src/dev-routes.ts).
      development: production || jwksUrl || keySet ? undefined : { issuerPrivateKey: (await ensureDevKeys()).issuerPrivate },
      logger,
      metricsPort: metricsPortFromEnv(GATEWAY.envPrefix),
    });
    logger.info({ url: gateway.url, production }, 'gateway listening');
    logger.flush(); // lines are buffered (lib/runtime/logger.ts): the start-up line goes out now
    drainOnSignals((ms, delay) => gateway.drain(ms, delay), logger, graceMs, delayMs);
  } else {
    const info = SUBGRAPHS[name];
    // Identity sends patients the one-time codes of staff-recorded consents (lib/consent/notifier.ts): a bad notifier, or the
    // development one in production, stops it; none configured in production is a warning (codes cannot be sent;
    // patients still confirm in their app, and paper consents are countersigned).
    if (name === 'identity') {
      if (production && !process.env.CONSENT_NOTIFIER) logger.warn('CONSENT_NOTIFIER is not set: one-time consent codes cannot be sent to patients');
      else (await import('../lib/consent/notifier.js')).notifierFromEnvironment(process.env, logger, production);
    }
    const subgraph = await startSubgraph(await loadSubgraphModule(name), {
      databaseUrl: databaseUrl(info),
      host,
      port: servicePort(info),
      production,
      keyring: await keyringFromEnv(name, production, ensureDevKeys),
      // Shared by every replica of this subgraph when REPLAY_GUARD_REDIS_URL is set (a replica refuses to start without it then).
      replayGuard: await replayGuardFromEnv(name),
      peers: (peer) => serviceUrl(SUBGRAPHS[peer]),
      internalTimeoutMs: millisecondsFromEnv('INTERNAL_API_TIMEOUT_MS', DEFAULT_INTERNAL_TIMEOUT_MS),
      logger,
      // Another entry point's consent policy (the benchmark's: scripts/bench-service.ts); refused in production.
      consentInjection: serviceExtras.consentInjection,
      metricsPort: metricsPortFromEnv(info.envPrefix),
    });
    logger.info({ url: subgraph.url, database: subgraph.db.engine, production }, `${name} listening`);
    logger.flush(); // lines are buffered (lib/runtime/logger.ts): the start-up line goes out now
    drainOnSignals((ms, delay) => subgraph.drain(ms, delay), logger, graceMs, delayMs);
  }
} catch (error) {
  const ports = name === 'gateway' ? portOf(GATEWAY) : portOf(SUBGRAPHS[name as SubgraphName]);
  const message = describeStartupError(name, error, ports);
  logger.fatal({ err: error }, message);
  // Also plainly on stderr: the first thing an operator reads.
  console.error(message);
  process.exit(1);
}
