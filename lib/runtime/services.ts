/**
 * The services of the product and the environment variables each reads.
 * `docker-compose.yml` is checked against this table by a test.
 */
import type { SubgraphName } from './subgraph-names.js';

export { isSubgraphName, SUBGRAPH_NAMES, type SubgraphName } from './subgraph-names.js';

export interface ServiceInfo {
  name: SubgraphName | 'gateway';
  /** Prefix of the service's own environment variables: `<PREFIX>_PORT`, `<PREFIX>_DATABASE_URL`, `<PREFIX>_URL`. */
  envPrefix: string;
  defaultPort: number;
  /** Port of its Prometheus `/metrics` endpoint (`<PREFIX>_METRICS_PORT`), apart from the service port. */
  defaultMetricsPort: number;
}

export const GATEWAY: ServiceInfo = { name: 'gateway', envPrefix: 'GATEWAY', defaultPort: 4000, defaultMetricsPort: 9400 };
export const SUBGRAPHS: Record<SubgraphName, ServiceInfo> = {
  identity: { name: 'identity', envPrefix: 'IDENTITY', defaultPort: 4001, defaultMetricsPort: 9401 },
  encounters: { name: 'encounters', envPrefix: 'ENCOUNTERS', defaultPort: 4002, defaultMetricsPort: 9402 },
  labs: { name: 'labs', envPrefix: 'LABS', defaultPort: 4003, defaultMetricsPort: 9403 },
  imaging: { name: 'imaging', envPrefix: 'IMAGING', defaultPort: 4004, defaultMetricsPort: 9404 },
  'public-health': { name: 'public-health', envPrefix: 'PUBLIC_HEALTH', defaultPort: 4005, defaultMetricsPort: 9405 },
};

/**
 * The V8 heap cap every service runs with (the image's NODE_OPTIONS; the
 * benchmark's processes too). V8 sizes its old space from the machine's
 * memory and collects lazily: under the chart benchmark the gateway's old
 * space held 170 MB for a live set of 42 MB (resident 270–330 MB). With this
 * cap it stays near its live set (resident about 175 MB) at the same
 * throughput. A deployment with a different memory limit may raise it.
 * `npm run service` and the Kubernetes manifests set the same cap
 * (docs/hardening.md).
 */
export const NODE_HEAP_OPTIONS = '--max-old-space-size=128';

/** Port the service listens on. */
export const servicePort = (service: ServiceInfo, env = process.env) => Number(env[`${service.envPrefix}_PORT`] ?? service.defaultPort);

/** URL other services use to reach it (the supergraph's routing URL unless overridden). */
export const serviceUrl = (service: ServiceInfo, env = process.env) =>
  env[`${service.envPrefix}_URL`] ?? `http://127.0.0.1:${servicePort(service, env)}/graphql`;

/** The subgraph's database: a PostgreSQL URL, or unset for embedded PGlite under `.data/pglite/<name>`. */
export const databaseUrl = (service: ServiceInfo, env = process.env) =>
  env[`${service.envPrefix}_DATABASE_URL`] ?? `pglite://${env.PGLITE_DATA_DIR ?? '.data/pglite'}/${service.name}`;

/**
 * Variables every service reads besides its own prefixed ones (documented in
 * the README; the docker-compose and Kubernetes tests check the deployment
 * files set only these). Each service signs with its own private key and
 * verifies with the public keys of all six (`npm run keys:internal`); a
 * `<NAME>` variable may also be given as a file, `<NAME>_FILE`.
 */
const EVERY_SERVICE_ENV = [
  'NODE_ENV', 'NODE_OPTIONS', 'HOST', 'LOG_LEVEL', 'SHUTDOWN_GRACE_MS', 'SHUTDOWN_DELAY_MS',
  'OTEL_SERVICE_NAME', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_RESOURCE_ATTRIBUTES', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG', 'OTEL_SDK_DISABLED',
  'INTERNAL_TOKEN_PRIVATE_KEY', 'INTERNAL_TOKEN_PUBLIC_KEYS',
] as const;
export const COMMON_ENV = {
  gateway: [...EVERY_SERVICE_ENV, 'AUTH_ISSUER', 'AUTH_AUDIENCE', 'AUTH_JWKS_URL', 'AUTH_PUBLIC_KEYS_FILE', 'MAX_BODY_BYTES', 'SUBGRAPH_TIMEOUT_MS', 'CORS_ALLOWED_ORIGINS', 'INGEST_RECOVERY_INTERVAL_MS',
    // The SMART authorization server (docs/apps.md).
    'PUBLIC_URL', 'SMART_SIGNING_KEY', 'SMART_UPSTREAM_ISSUER', 'SMART_UPSTREAM_CLIENT_ID', 'SMART_UPSTREAM_CLIENT_SECRET', 'SMART_UPSTREAM_SCOPE',
    'SMART_UPSTREAM_HEALTH_CARD_CLAIM', 'SMART_UPSTREAM_PRACTITIONER_CLAIM', 'SMART_UPSTREAM_ORGANIZATION_CLAIM', 'SMART_UPSTREAM_NAME',
    // HL7 v2 over MLLP (docs/hl7v2.md).
    'MLLP_PORT', 'MLLP_HOST', 'MLLP_CLIENTS', 'MLLP_TLS_KEY', 'MLLP_TLS_CERT', 'MLLP_TLS_CA',
    // The FHIR Bulk Data export (gateway/src/fhir/bulk/config.ts, docs/bulk-export.md).
    'EXPORT_DATABASE_URL', 'EXPORT_STORAGE_DIR', 'EXPORT_S3_BUCKET', 'EXPORT_S3_ENDPOINT', 'EXPORT_S3_REGION', 'EXPORT_S3_PREFIX', 'EXPORT_S3_FORCE_PATH_STYLE',
    'EXPORT_MAX_RESOURCES_PER_FILE', 'EXPORT_EXPIRY_SECONDS', 'EXPORT_CONCURRENCY', 'EXPORT_PATIENTS_IN_FLIGHT', 'EXPORT_BATCH_PATIENTS', 'EXPORT_BATCH_BYTES',
    'EXPORT_BATCHES_IN_FLIGHT', 'EXPORT_MAX_ACTIVE_PER_CALLER', 'EXPORT_MIN_POLL_SECONDS', 'EXPORT_STALE_AFTER_SECONDS', 'EXPORT_MAX_ATTEMPTS', 'EXPORT_TICK_MS'],
  // REPLAY_GUARD_REDIS_URL: the replay guard every replica shares (lib/trust/replay-guard.ts).
  subgraph: [...EVERY_SERVICE_ENV, 'DATABASE_POOL_SIZE', 'DATABASE_PREPARED_STATEMENTS', 'INTERNAL_API_TIMEOUT_MS', 'INGEST_STALE_SECONDS', 'REPLAY_GUARD_REDIS_URL'],
} as const;

/**
 * The other subgraphs each subgraph calls (internal APIs), so it reads their
 * `<PREFIX>_URL`: everyone asks identity for consent facts and public-health
 * for programme organisations (staff of public health); identity asks every
 * owner for its timeline entries; public-health asks encounters to confirm
 * the inpatient stay a discharge plan is for.
 */
export const SUBGRAPH_PEERS: Record<SubgraphName, SubgraphName[]> = {
  identity: ['encounters', 'labs', 'imaging', 'public-health'],
  encounters: ['identity', 'public-health'],
  labs: ['identity', 'public-health'],
  imaging: ['identity', 'public-health'],
  'public-health': ['identity', 'encounters'],
};
