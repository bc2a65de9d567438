/**
 * Starts the whole product in one process: the five subgraphs and the
 * gateway, each on its own loopback port and talking real HTTP. Used by
 * `npm start` and by the end-to-end tests. (Each service can also run alone:
 * scripts/service.ts.)
 */
import type { MllpConfig } from '../gateway/src/hl7v2/mllp.js';
import type { JSONWebKeySet } from 'jose';
import { createTokenVerifier } from '../gateway/src/auth.js';
import { startGateway, type RunningGateway } from '../gateway/src/server.js';
import { openDatabase, type Database } from '../lib/runtime/db.js';
import type { Logger } from '../lib/runtime/logger.js';
import { DEFAULT_AUDIENCE, DEV_ISSUER, keyringOf, type DevKeys } from '../lib/trust/keys.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { openSubgraphStore, startSubgraph, type ConsentInjection, type RunningSubgraph } from '../lib/runtime/subgraph.js';
import { StartupError, startupError } from '../lib/runtime/lifecycle.js';
import { GATEWAY, SUBGRAPHS } from '../lib/runtime/services.js';
import type { Anchor } from '../lib/synthetic/generator.js';
import type { UpstreamOptions } from '../gateway/src/smart/upstream.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';
import type { BulkExportSettings } from '../gateway/src/fhir/bulk/config.js';
import { demoExample, type DemoExample } from './demo.js';
import { demoDataset, hasPatients, seedDemoData, seedMissingReferenceData, seedReferenceData, type DemoDataset } from './seed-data.js';

export interface StackOptions {
  /** Connection URL per subgraph (`memory://`, `pglite://dir`, `postgres://…`). */
  databaseUrls: Record<SubgraphName, string>;
  keys: DevKeys;
  /** Demo patients to seed when the stores are empty (0: none). */
  seedPatients: number;
  seed: number;
  /** The day the seeded data is dated relative to (YYYY-MM-DD): npm start's first day, or the tests' fixed one. */
  anchor: Anchor;
  host?: string;
  /** Ports: gateway then subgraphs in SUBGRAPH_NAMES order; 0 picks free ports. */
  ports?: { gateway: number; subgraphs: Record<SubgraphName, number> };
  production?: boolean;
  /** Tests and benchmarks only (refused in production): another consent access for every subgraph (lib/runtime/subgraph.ts). */
  consentInjection?: ConsentInjection;
  /** Origins browser apps may call the gateway from (default: CORS_ALLOWED_ORIGINS). */
  corsAllowedOrigins?: string[];
  /** How often publishing's recovery runs on the gateway (default INGEST_RECOVERY_INTERVAL_MS or 15 s; 0: only when asked). */
  ingestRecoveryIntervalMs?: number;
  /** Each service's logger (tests read the lines); default a pino logger named after it. */
  loggers?: (service: SubgraphName | 'gateway') => Logger;
  /** Prometheus `/metrics` ports of the services that serve them (0: any free port); none by default. */
  metricsPorts?: Partial<Record<SubgraphName | 'gateway', number>>;
  /** The upstream OpenID Connect provider people sign in at (SMART authorization server); without one, development lists demo accounts. */
  upstream?: UpstreamOptions;
  /** The product's public URL (the authorization server's issuer); default the gateway's own address. */
  publicUrl?: string;
  /** The HL7 v2 MLLP listener (gateway/src/hl7v2/mllp.ts); off when absent. */
  mllp?: MllpConfig | null;
  /** The gateway's FHIR Bulk Data export settings (default: the EXPORT_* variables). */
  bulkExport?: Partial<BulkExportSettings>;
}

export interface Stack {
  gateway: RunningGateway;
  subgraphs: Record<SubgraphName, RunningSubgraph>;
  databases: Record<SubgraphName, Database>;
  seeded: boolean;
  /** Graceful stop: the gateway drains first, then the subgraphs, then the databases close. */
  drain(graceMs: number, delayMs?: number): Promise<void>;
  /** The demo set the databases hold (seeded now or before), with the anchor its dates are relative to. */
  demo: DemoDataset | null;
  /** Development: the example patient and organisation npm start prints, the explorer and the sign-in default to (null without patients). */
  example: DemoExample | null;
  close(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const host = options.host ?? '127.0.0.1';
  const production = options.production ?? false;
  const opened = await Promise.allSettled(SUBGRAPH_NAMES.map((name) => openSubgraphStore(name, options.databaseUrls[name])));
  const failed = opened.findIndex((result) => result.status === 'rejected');
  if (failed >= 0) {
    // Close what did open, so no store is left half in use, and name the one that failed.
    await Promise.all(opened.map((result) => (result.status === 'fulfilled' ? result.value.db.close().catch(() => undefined) : undefined)));
    const reason = (opened[failed] as PromiseRejectedResult).reason;
    throw startupError(SUBGRAPH_NAMES[failed]!, reason);
  }
  const stores = opened.map((result) => (result as PromiseFulfilledResult<{ db: Database; fresh: boolean }>).value);
  const databases = Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => [name, stores[i]!.db])) as Record<SubgraphName, Database>;
  const closeDatabases = () => Promise.all(stores.map(({ db }) => db.close().catch(() => undefined)));

  // Demo data lives in all five stores together: one store new beside others that hold patients was deleted.
  if (options.seedPatients > 0 && (await hasPatients(databases.identity))) {
    const lost = SUBGRAPH_NAMES.filter((name, i) => name !== 'identity' && stores[i]!.fresh);
    if (lost.length) {
      await closeDatabases();
      // Nothing is deleted or advised to be: the other stores hold data (maybe the only copy); the new one was just created empty.
      throw new StartupError(lost[0]!, `its database (${options.databaseUrls[lost[0]!]}) is empty while identity's holds the demo patients: `
        + `the five belong together. If ${SUBGRAPHS[lost[0]!].envPrefix}_DATABASE_URL (or PGLITE_DATA_DIR) points somewhere new, point it back at the existing store, or restore that store from a backup. `
        + 'To start over with fresh demo data instead, move the whole data directory aside (keep it until you are sure) and start again.');
    }
  }

  let seeded = false;
  if (options.seedPatients > 0 && !(await hasPatients(databases.identity))) {
    await seedDemoData(databases, { seed: options.seed, anchor: options.anchor, patients: options.seedPatients });
    seeded = true;
    await reopenEmbeddedStores(SUBGRAPH_NAMES.map((name, i) => ({ url: options.databaseUrls[name], store: stores[i]!, set: (db: Database) => { databases[name] = db; } })));
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
  const started: (() => Promise<void>)[] = [];
  try {
    for (const name of SUBGRAPH_NAMES) {
      subgraphs[name] = await startSubgraph(SUBGRAPH_MODULES[name].module, {
        databaseUrl: options.databaseUrls[name],
        database: databases[name],
        host,
        port: options.ports?.subgraphs[name] ?? 0,
        keyring: keyringOf(options.keys.internal, name),
        production,
        peers,
        consentInjection: options.consentInjection,
        metricsPort: options.metricsPorts?.[name],
        logger: options.loggers?.(name),
      }).catch((error: unknown) => { throw startupError(name, error, portsOf(options)); });
      started.push(() => subgraphs[name].close());
    }
  } catch (error) {
    await Promise.all(started.map((close) => close().catch(() => undefined)));
    await closeDatabases();
    throw error;
  }
  // The patient npm start prints, so the explorer and the web client act as the clinician it names.
  const example = production ? null : await demoExample(databases).catch(() => null);
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
    mllp: options.mllp,
    bulkExport: options.bulkExport,
    metricsPort: options.metricsPorts?.gateway,
    logger: options.loggers?.('gateway'),
    // Development: explorer, web client and demo tokens signed with the development key.
    development: production ? undefined : { issuerPrivateKey: options.keys.issuerPrivate, demo: example },
    // The SMART authorization server; demo sign-in only in development without an upstream provider.
    authorizationServer: {
      signingKey: options.keys.authorizationServerPrivate, upstream: options.upstream, demoSignIn: !production && !options.upstream, publicUrl: options.publicUrl,
    },
  }).catch(async (error: unknown) => {
    await Promise.all(started.map((close) => close().catch(() => undefined)));
    throw startupError('gateway', error, portsOf(options));
  });
  return {
    gateway,
    subgraphs,
    databases,
    seeded,
    // The delay is the gateway's, the stack's one front door; its subgraphs, reached through it, serve until it has drained.
    drain: async (graceMs: number, delayMs = 0) => {
      await gateway.drain(graceMs, delayMs);
      await Promise.all(SUBGRAPH_NAMES.map((name) => subgraphs[name].drain(graceMs)));
    },
    demo: await demoDataset(databases.identity),
    example,
    close: async () => {
      await gateway.close();
      await Promise.all(SUBGRAPH_NAMES.map((name) => subgraphs[name].close()));
    },
  };
}

/**
 * After seeding, each embedded (PGlite) store on disk is closed and opened
 * again. PGlite is PostgreSQL in a WebAssembly instance whose memory only
 * grows: seeding 200 patients leaves the five instances holding about 1.4 GB
 * resident, which a restart (about 500 MB) shows is not needed to serve. A
 * fresh instance over the same files starts small; the old ones are freed
 * by the garbage collector. In-memory stores (tests) keep their instance:
 * closing would lose their data.
 */
async function reopenEmbeddedStores(entries: { url: string; store: { db: Database }; set: (db: Database) => void }[]): Promise<void> {
  for (const entry of entries) {
    if (entry.store.db.engine !== 'pglite' || entry.url === 'memory://') continue;
    await entry.store.db.close();
    entry.store.db = await openDatabase(entry.url);
    entry.set(entry.store.db);
  }
  // Let the collector see the closed instances now rather than at its leisure (a no-op unless --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
}

/** The ports a stack listens on, with the variable that sets each (start-up messages). */
export function portsOf(options: Pick<StackOptions, 'ports'>): Record<string, { variable: string; port: number }> {
  return Object.fromEntries([GATEWAY, ...Object.values(SUBGRAPHS)].map((service) => [service.name, {
    variable: `${service.envPrefix}_PORT`,
    port: service.name === 'gateway' ? options.ports?.gateway ?? 0 : options.ports?.subgraphs[service.name] ?? 0,
  }]));
}
