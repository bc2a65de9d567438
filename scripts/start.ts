/**
 * `npm start`: the gateway and the five subgraphs on loopback ports, each on
 * its own embedded PGlite store under .data/pglite (or the PostgreSQL server
 * named by <SUBGRAPH>_DATABASE_URL), seeded with demo patients on first start,
 * dated relative to that day (or DEMO_ANCHOR). Prints where to point a
 * browser, a ready-to-use token and an example query.
 */
import { upstreamFromEnv } from '../gateway/src/smart/upstream.js';
import { GATEWAY, SUBGRAPH_NAMES, SUBGRAPHS, databaseUrl, servicePort, type SubgraphName } from '../lib/runtime/services.js';
import { ensureDevKeys } from '../lib/trust/keys.js';
import { checkDatabaseUrl } from '../lib/runtime/db.js';
import { mintDevToken } from '../lib/trust/dev-token.js';
import { DEFAULT_SEED } from '../lib/synthetic/generator.js';
import { assertPortsFree, DEFAULT_SHUTDOWN_DELAY_MS, DEFAULT_SHUTDOWN_GRACE_MS, describeStartupError, drainOnSignals } from '../lib/runtime/lifecycle.js';
import { createLogger } from '../lib/runtime/logger.js';
import { millisecondsFromEnv } from '../lib/runtime/http.js';
import { metricsPortFromEnv } from '../lib/runtime/telemetry.js';
import { portsOf, startStack } from './stack.js';
import { mllpConfigFromEnv, type MllpClient } from '../gateway/src/hl7v2/mllp.js';

/** npm start's MLLP sender when MLLP_CLIENTS is unset: the county laboratory, with a development shared secret. */
const DEV_MLLP_CLIENTS: MllpClient[] = [{ clientId: 'org-county-north-lis', organizationId: 'org-county-north', sharedSecret: 'dev-mllp-secret' }];
import { demoAnchor, demoClinicianClaims, demoExample } from './demo.js';
import { ensureWebBuild } from './web-build.js';

// npm start is the development demo: development keys, printed tokens, the
// explorer and the web client. Production runs each service on its own.
if (process.env.NODE_ENV === 'production') {
  console.error('npm start runs the development demo (development keys, printed tokens, explorer), never production.\n'
    + 'In production, run each service with `npm run service -- <gateway|identity|encounters|labs|imaging|public-health>` '
    + '(or the compiled `node dist/scripts/service.js <name>`, docker-compose.yml, deploy/kubernetes): see docs/production.md.');
  process.exit(1);
}

const logger = createLogger('start');
const fail = (message: string) => {
  console.error(`npm start: ${message}`);
  process.exit(1);
};
const host = process.env.HOST ?? '127.0.0.1';
const ports = {
  gateway: servicePort(GATEWAY),
  subgraphs: Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, servicePort(SUBGRAPHS[name])])) as Record<SubgraphName, number>,
};
const services = [GATEWAY, ...SUBGRAPH_NAMES.map((name) => SUBGRAPHS[name])];
// Prometheus /metrics per service where <PREFIX>_METRICS_PORT is set (lib/runtime/telemetry.ts).
let metricsPorts: Partial<Record<SubgraphName | 'gateway', number>> = {};
try {
  metricsPorts = Object.fromEntries(services.map((service) => [service.name, metricsPortFromEnv(service.envPrefix)]).filter(([, port]) => port !== undefined));
} catch (error) {
  fail((error as Error).message);
}
const metricsPortChecks = Object.fromEntries(Object.entries(metricsPorts).map(([name, port]) => [`${name} metrics`, {
  port: port!, variable: `${services.find((s) => s.name === name)!.envPrefix}_METRICS_PORT`,
}]));
// Database URLs checked before anything is created: a mistyped scheme is one line, not a stray directory.
const databaseUrls = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, databaseUrl(SUBGRAPHS[name])])) as Record<SubgraphName, string>;
for (const name of SUBGRAPH_NAMES) {
  try {
    checkDatabaseUrl(databaseUrls[name], `${SUBGRAPHS[name].envPrefix}_DATABASE_URL`);
  } catch (error) {
    fail(`${name}: ${(error as Error).message}`);
  }
}
const started = Date.now();
// Before anything is opened: a taken port is one clear line, and no embedded database is left half in use.
await assertPortsFree(host, { ...portsOf({ ports }), ...metricsPortChecks }).catch((error: Error) => fail(error.message));
const keys = await ensureDevKeys().catch((error: Error) => fail(describeStartupError('keys', error)));
const demoPatients = Number(process.env.DEMO_PATIENTS ?? 200);
// The web client and the explorer the development gateway serves (web/dist), built when missing or stale.
// In a child process: the bundler's memory leaves with it rather than staying resident in the running product.
const web = await ensureWebBuild({ quiet: true, separateProcess: true }).catch((error: Error) => {
  console.warn(`The web client could not be built (${error.message}); /app/ and the explorer answer 503 until \`npm run web:build\` succeeds.`);
  return null;
});
if (web?.built) console.log(`Built the web client and the explorer (web/dist) in ${(web.ms / 1000).toFixed(1)} s.`);
console.log('Starting the gateway and five subgraphs (first start creates and seeds the embedded databases)...');
const stack = await startStack({
  databaseUrls,
  keys,
  seedPatients: demoPatients,
  seed: Number(process.env.SEED ?? DEFAULT_SEED),
  anchor: demoAnchor(),
  host,
  ports,
  metricsPorts,
  // The SMART authorization server's sign-in: SMART_UPSTREAM_* names an OpenID Connect provider; without one, demo accounts.
  upstream: upstreamFromEnv(),
  publicUrl: process.env.PUBLIC_URL,
  // HL7 v2 over MLLP (docs/hl7v2.md): on, port MLLP_PORT (default 2575); in development a shared secret (MSH-8) for the county laboratory.
  mllp: await mllpConfigFromEnv({ MLLP_PORT: '2575', MLLP_CLIENTS: JSON.stringify(DEV_MLLP_CLIENTS), ...process.env }),
}).catch((error: unknown) => fail(describeStartupError('npm start', error, portsOf({ ports }))));
// Stop gracefully from now on (the banner below may be the last thing printed before a stop).
drainOnSignals((graceMs, delayMs) => stack.drain(graceMs, delayMs), logger, millisecondsFromEnv('SHUTDOWN_GRACE_MS', DEFAULT_SHUTDOWN_GRACE_MS),
  millisecondsFromEnv('SHUTDOWN_DELAY_MS', DEFAULT_SHUTDOWN_DELAY_MS, process.env, true));

// A patient the README's queries have something to show for, and a clinician of their county hospital
// (the explorer and the web client's sign-in act as the same clinician).
const example = stack.example ? { id: stack.example.patientId, org: stack.example.organizationId } : undefined;
const token = await mintDevToken(keys.issuerPrivate, demoClinicianClaims(example?.org ?? 'org-county-north'), { expiresIn: '8h' });
const anchored = stack.demo ? `, dated relative to ${stack.demo.anchor}` : '';
const readyMs = Date.now() - started;
const rssMb = Math.round(process.memoryUsage().rss / 1e6);

console.log(`
Ready in ${(readyMs / 1000).toFixed(1)} s (${stack.seeded ? `seeded ${demoPatients} demo patients` : 'existing data'}${anchored}), ${rssMb} MB resident.

  GraphQL endpoint:  ${stack.gateway.url}    (open it in a browser for the GraphiQL explorer, token prefilled)
  Web client:        ${stack.gateway.url.replace(/graphql$/, 'app/')}    (sign in as a demo role)
  Health:            ${stack.gateway.url.replace(/graphql$/, 'health')}
  HL7 v2 over MLLP:  ${stack.gateway.mllp ? `port ${stack.gateway.mllp.port}${process.env.MLLP_CLIENTS ? '' : ` (development: MSH-8 "${DEV_MLLP_CLIENTS[0]!.sharedSecret}" publishes as ${DEV_MLLP_CLIENTS[0]!.organizationId})`}` : 'off'}    (docs/hl7v2.md)
  SMART discovery:   ${process.env.PUBLIC_URL ?? stack.gateway.url.replace(/\/graphql$/, '')}/.well-known/smart-configuration    (apps: docs/apps.md)
  Subgraphs:         ${SUBGRAPH_NAMES.map((name) => `${name} ${stack.subgraphs[name].url}`).join('\n                     ')}

A clinician token at ${example?.org ?? 'org-county-north'} (8 hours):
  export TOKEN=${token}

More tokens:  npm run token -- --role nurse --org ${example?.org ?? 'org-county-north'}
              npm run token -- --role patient --patient ${example?.id ?? '<patient-id>'}
              npm run token -- --role admin

Example query:
  curl -s ${stack.gateway.url} -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \\
    -d '{"query":"{ patient(id: \\"${example?.id ?? '<patient-id>'}\\") { name { text } birthDate timeline(first: 10) { edges { kind occurredAt node { __typename ... on Encounter { class reason { display } } ... on Observation { code { display } valueQuantity { value unit } } ... on ImagingStudy { modality { code } } ... on Immunization { vaccineCode { display } } } } pageInfo { hasNextPage endCursor } withheldCount } } }"}'

FHIR R4 export of that patient:
  curl -s '${stack.gateway.url.replace(/\/graphql$/, '')}/fhir/Patient/${example?.id ?? '<patient-id>'}/$everything' -H "authorization: Bearer $TOKEN"
`);

