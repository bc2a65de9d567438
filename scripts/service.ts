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
 * AUTH_JWKS_URL or AUTH_PUBLIC_KEYS_FILE.
 * Without key variables outside production, the development keys under .data/keys are used.
 */
import type { JSONWebKeySet } from 'jose';
import { createTokenVerifier } from '../gateway/src/auth.js';
import { startGateway } from '../gateway/src/server.js';
import { ConfigurationError, DEFAULT_AUDIENCE, DEV_ISSUER, ensureDevKeys, jsonFromEnv, keyringFromEnv } from '../lib/keys.js';
import { GATEWAY, SUBGRAPH_NAMES, SUBGRAPHS, databaseUrl, isSubgraphName, servicePort, serviceUrl, type SubgraphName } from '../lib/services.js';
import { startSubgraph } from '../lib/subgraph.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';

const name = process.argv[2] ?? '';
const production = process.env.NODE_ENV === 'production';
const host = process.env.HOST ?? '127.0.0.1';


try {
  if (name === 'gateway') {
    const keySet = await jsonFromEnv<JSONWebKeySet>('AUTH_PUBLIC_KEYS');
    const jwksUrl = process.env.AUTH_JWKS_URL;
    if (production && !jwksUrl && !keySet) throw new ConfigurationError('Set AUTH_JWKS_URL (or AUTH_PUBLIC_KEYS_FILE) in production');
    const gateway = await startGateway({
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
      // Development with the development issuer: explorer, web client, demo tokens (gateway/src/dev-routes.ts).
      development: production || jwksUrl || keySet ? undefined : { issuerPrivateKey: (await ensureDevKeys()).issuerPrivate },
    });
    console.log(`gateway listening on ${gateway.url}`);
  } else if (isSubgraphName(name)) {
    const info = SUBGRAPHS[name];
    const subgraph = await startSubgraph(SUBGRAPH_MODULES[name].module, {
      databaseUrl: databaseUrl(info),
      host,
      port: servicePort(info),
      production,
      keyring: await keyringFromEnv(name, production, ensureDevKeys),
      peers: (peer) => serviceUrl(SUBGRAPHS[peer]),
    });
    console.log(`${name} listening on ${subgraph.url} (${subgraph.db.engine})`);
  } else {
    console.error(`usage: npm run service -- <gateway|${SUBGRAPH_NAMES.join('|')}>`);
    process.exit(2);
  }
} catch (error) {
  console.error(error instanceof ConfigurationError ? `configuration error: ${error.message}` : error);
  process.exit(1);
}
