/**
 * Starts the whole product in one process: the five subgraphs and the
 * gateway, each on its own loopback port and talking real HTTP. Used by
 * `npm start` and by the end-to-end tests. (Each service can also run alone:
 * scripts/service.ts.)
 */
import type { JSONWebKeySet } from 'jose';
import { createTokenVerifier } from '../gateway/src/auth.js';
import { startGateway, type RunningGateway } from '../gateway/src/server.js';
import type { Database } from '../lib/db.js';
import { DEFAULT_AUDIENCE, DEV_ISSUER, keyringOf, type DevKeys } from '../lib/keys.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/services.js';
import { openSubgraphDatabase, startSubgraph, type RunningSubgraph } from '../lib/subgraph.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';
import { hasPatients, seedMissingReferenceData, seedPatients, seedReferenceData } from './seed-data.js';

export interface StackOptions {
  /** Connection URL per subgraph (`memory://`, `pglite://dir`, `postgres://…`). */
  databaseUrls: Record<SubgraphName, string>;
  keys: DevKeys;
  /** Demo patients to seed when the stores are empty (0: none). */
  seedPatients: number;
  seed: number;
  host?: string;
  /** Ports: gateway then subgraphs in SUBGRAPH_NAMES order; 0 picks free ports. */
  ports?: { gateway: number; subgraphs: Record<SubgraphName, number> };
  production?: boolean;
  /** Benchmarks only: serve without consent rules (refused in production). */
  enforceConsent?: boolean;
  /** Origins browser apps may call the gateway from (default: CORS_ALLOWED_ORIGINS). */
  corsAllowedOrigins?: string[];
  /** How often publishing's recovery runs on the gateway (default INGEST_RECOVERY_INTERVAL_MS or 15 s; 0: only when asked). */
  ingestRecoveryIntervalMs?: number;
}

export interface Stack {
  gateway: RunningGateway;
  subgraphs: Record<SubgraphName, RunningSubgraph>;
  databases: Record<SubgraphName, Database>;
  seeded: boolean;
  close(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const host = options.host ?? '127.0.0.1';
  const production = options.production ?? false;
  const databases = Object.fromEntries(
    await Promise.all(SUBGRAPH_NAMES.map(async (name) => [name, await openSubgraphDatabase(name, options.databaseUrls[name])] as const)),
  ) as Record<SubgraphName, Database>;

  let seeded = false;
  if (options.seedPatients > 0 && !(await hasPatients(databases.identity))) {
    await seedReferenceData(databases, options.seed);
    await seedPatients(databases, { seed: options.seed, patients: options.seedPatients });
    seeded = true;
  } else if (!(await databases.identity.query('SELECT 1 FROM organization LIMIT 1')).length) {
    // An empty stack (no demo patients: institutions publish them) still gets the registry and programmes.
    await seedReferenceData(databases, options.seed);
  } else {
    // An existing demo database: reference tables added since it was seeded get their rows.
    await seedMissingReferenceData(databases, options.seed);
  }

  const subgraphs = {} as Record<SubgraphName, RunningSubgraph>;
  // Subgraphs reach identity and public-health for consent facts; their
  // ports are known once they listen, hence the late-bound lookups.
  const peers = (name: SubgraphName) => subgraphs[name].url;
  for (const name of SUBGRAPH_NAMES) {
    subgraphs[name] = await startSubgraph(SUBGRAPH_MODULES[name].module, {
      databaseUrl: options.databaseUrls[name],
      database: databases[name],
      host,
      port: options.ports?.subgraphs[name] ?? 0,
      keyring: keyringOf(options.keys.internal, name),
      production,
      peers,
      enforceConsent: options.enforceConsent,
    });
  }
  const keySet: JSONWebKeySet = { keys: [options.keys.issuerPublic] };
  const gateway = await startGateway({
    host,
    port: options.ports?.gateway ?? 0,
    production,
    subgraphUrls: Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, subgraphs[name].url])) as Record<SubgraphName, string>,
    verifyToken: createTokenVerifier({ issuer: DEV_ISSUER, audience: DEFAULT_AUDIENCE, keySet, production }),
    keyring: keyringOf(options.keys.internal, 'gateway'),
    corsAllowedOrigins: options.corsAllowedOrigins,
    ingestRecoveryIntervalMs: options.ingestRecoveryIntervalMs,
    // Development: explorer, web client and demo tokens signed with the development key.
    development: production ? undefined : { issuerPrivateKey: options.keys.issuerPrivate },
  });
  return {
    gateway,
    subgraphs,
    databases,
    seeded,
    close: async () => {
      await gateway.close();
      await Promise.all(SUBGRAPH_NAMES.map((name) => subgraphs[name].close()));
    },
  };
}
