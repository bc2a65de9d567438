/**
 * The product as an operator runs it: the gateway and the five subgraphs as
 * six separate processes (`scripts/service.ts`, as docker-compose.yml and the
 * Kubernetes manifests do), in production mode, on real ports, each with its
 * own store. Used by the resilience tests (a subgraph killed, frozen, its
 * database connections dropped, SIGTERM during requests) and by
 * `npm run hostile`, which need to stop, freeze and measure one process
 * without touching the others.
 *
 * The stores are seeded in this process first (embedded PGlite directories
 * in a scratch folder, or fresh databases on TEST_DATABASE_URL's server),
 * then each service opens its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { mintDevToken, type MintOptions, type TokenClaims } from '../lib/trust/dev-token.js';
import { DEFAULT_AUDIENCE, DEV_ISSUER, generateDevKeys, keyringOf, type DevKeys } from '../lib/trust/keys.js';
import { GATEWAY, NODE_HEAP_OPTIONS, SUBGRAPH_NAMES, SUBGRAPH_PEERS, SUBGRAPHS, type SubgraphName } from '../lib/runtime/services.js';
import { openSubgraphDatabase, ROOT } from '../lib/runtime/subgraph.js';
import type { Database } from '../lib/runtime/db.js';
import { DEFAULT_SEED, TEST_ANCHOR } from '../lib/synthetic/generator.js';
import { seedDemoData } from './seed-data.js';

export type ServiceName = SubgraphName | 'gateway';

export interface ProcessStackOptions {
  patients?: number;
  backend?: 'pglite' | 'postgres';
  /** Use these databases as they are (no creation, no seeding): the benchmark set, say. */
  databaseUrls?: Record<SubgraphName, string>;
  /** Extra environment for every service (e.g. SUBGRAPH_TIMEOUT_MS). */
  env?: Record<string, string>;
  /** Extra environment for one service, after `env` (a replica's SHUTDOWN_DELAY_MS: scripts/replicas.ts). */
  envOf?: (name: ServiceName) => Record<string, string>;
  /** Development mode instead of production (benchmarks without consent need it). */
  development?: boolean;
  /** Run the compiled JavaScript in this directory (`npm run build` output) instead of TypeScript through tsx. */
  compiledDir?: string;
  /** The script every service runs (scripts/<name>.ts, or <name>.js under compiledDir): default `service`; the benchmark's consent-off stack runs `bench-service`. */
  serviceScript?: 'service' | 'bench-service';
  /**
   * Where service output goes: kept in memory (default), dropped, or written to `<directory>/<service>.log` (long
   * benchmarks: the log lines cost this process nothing, and a round reads back the lines of its own requests).
   */
  output?: 'keep' | 'drop' | { directory: string };
  /** How long each service may take to answer /ready (default 180 s; a benchmark on a machine loaded by other work may need longer). */
  readyTimeoutMs?: number;
  /** The keys to sign with (default: fresh ones): replicas of one product share them (scripts/replicas.ts). */
  keys?: DevKeys;
  /** The port of each service (default: free ones): a load balancer configured before the services start knows them. */
  ports?: Partial<Record<ServiceName, number>>;
  /** The URL every service calls a subgraph at (default: that subgraph's own process): a load balancer in front of its replicas. */
  peerUrls?: Partial<Record<SubgraphName, string>>;
  /** The PostgreSQL server whose databases are created (backend postgres; default TEST_DATABASE_URL). */
  adminDatabaseUrl?: string;
  /** The names of the databases created (backend postgres) begin with this (default fpr_proc): a shared server tells whose they are. */
  databasePrefix?: string;
}

export interface ServiceProcess {
  name: ServiceName;
  port: number;
  url: string;
  child: ChildProcess;
  /** Everything the process wrote (JSON log lines). */
  output(): string;
  /** Where its standard output goes, when written to a file (`output: { directory }`). */
  logFile?: string;
}

export interface ProcessStack {
  url: string;
  keys: DevKeys;
  services: Record<ServiceName, ServiceProcess>;
  databaseUrls: Record<SubgraphName, string>;
  token(claims: TokenClaims, options?: MintOptions): Promise<string>;
  /** Sends a signal to one service (SIGKILL, SIGSTOP, SIGCONT, SIGTERM). */
  signal(name: ServiceName, signal: NodeJS.Signals): void;
  /** Starts a service again after it stopped, and waits for it to be ready. */
  restart(name: ServiceName): Promise<void>;
  /** Waits for the process to exit; its exit code (null if it did not within `ms`). */
  exited(name: ServiceName, ms?: number): Promise<number | null>;
  /** Resident memory of one service, in MB (Linux /proc). */
  rssMb(name: ServiceName): number;
  /** CPU time one service has used so far (user + system), in ms (Linux /proc). */
  cpuMs(name: ServiceName): number;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function createDatabases(backend: 'pglite' | 'postgres', scratch: string, adminDatabaseUrl?: string, databasePrefix = 'fpr_proc'): Promise<{ urls: Record<SubgraphName, string>; drop(): Promise<void> }> {
  if (backend === 'pglite') {
    return {
      urls: Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, `pglite://${path.join(scratch, name)}`])) as Record<SubgraphName, string>,
      drop: async () => undefined,
    };
  }
  const adminUrl = adminDatabaseUrl ?? process.env.TEST_DATABASE_URL!;
  const prefix = `${databasePrefix}_${Math.random().toString(36).slice(2, 8)}`;
  const names = SUBGRAPH_NAMES.map((name) => `${prefix}_${name.replace('-', '_')}`);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  for (const database of names) await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  return {
    urls: Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => {
      const url = new URL(adminUrl);
      url.pathname = `/${names[i]}`;
      return [name, url.toString()];
    })) as Record<SubgraphName, string>,
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      for (const database of names) await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function startProcessStack(options: ProcessStackOptions = {}): Promise<ProcessStack> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-processes-'));
  const keys = options.keys ?? await generateDevKeys('proc-');
  const databases = options.databaseUrls ? { urls: options.databaseUrls, drop: async () => undefined } : await createDatabases(options.backend ?? 'pglite', scratch, options.adminDatabaseUrl, options.databasePrefix);
  if (!options.databaseUrls) {
    // Seed every store here (dated from TEST_ANCHOR, like the generator the tests compare with), then close them: each service opens its own.
    const stores = Object.fromEntries(await Promise.all(SUBGRAPH_NAMES.map(async (name) => [name, await openSubgraphDatabase(name, databases.urls[name])] as const))) as Record<SubgraphName, Database>;
    await seedDemoData(stores, { seed: DEFAULT_SEED, anchor: TEST_ANCHOR, patients: options.patients ?? 0 });
    await Promise.all(Object.values(stores).map((db) => db.close()));
  }
  const ports = Object.fromEntries(await Promise.all((['gateway', ...SUBGRAPH_NAMES] as ServiceName[]).map(async (name) => [name, options.ports?.[name] ?? await freePort()] as const))) as Record<ServiceName, number>;
  const urlOf = (name: ServiceName) => `http://127.0.0.1:${ports[name]}/graphql`;
  const peerUrlOf = (name: SubgraphName) => options.peerUrls?.[name] ?? urlOf(name);
  const prefixOf = (name: ServiceName) => (name === 'gateway' ? GATEWAY : SUBGRAPHS[name]).envPrefix;

  const envFor = (name: ServiceName): Record<string, string> => {
    const keyring = keyringOf(keys.internal, name);
    const common = {
      NODE_ENV: options.development ? 'development' : 'production', HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '15000',
      [`${prefixOf(name)}_PORT`]: String(ports[name]),
      INTERNAL_TOKEN_PRIVATE_KEY: JSON.stringify(keyring.privateJwk), INTERNAL_TOKEN_PUBLIC_KEYS: JSON.stringify(keyring.publicJwks),
    };
    if (name === 'gateway') {
      return {
        ...common, AUTH_ISSUER: DEV_ISSUER, AUTH_AUDIENCE: DEFAULT_AUDIENCE, AUTH_PUBLIC_KEYS: JSON.stringify({ keys: [keys.issuerPublic] }),
        // The SMART authorization server, as a deployment configures it (docs/apps.md).
        SMART_SIGNING_KEY: JSON.stringify(keys.authorizationServerPrivate), PUBLIC_URL: `http://127.0.0.1:${ports.gateway}`,
        ...Object.fromEntries(SUBGRAPH_NAMES.map((peer) => [`${SUBGRAPHS[peer].envPrefix}_URL`, peerUrlOf(peer)])),
        // The bulk export's store and files, when on, in this stack's scratch directory (never the repository's .data).
        EXPORT_DATABASE_URL: 'off', EXPORT_STORAGE_DIR: path.join(scratch, 'bulk-export'),
        ...options.env,
        ...options.envOf?.(name),
      };
    }
    return {
      ...common, [`${prefixOf(name)}_DATABASE_URL`]: databases.urls[name], DATABASE_POOL_SIZE: '5',
      ...Object.fromEntries(SUBGRAPH_PEERS[name].map((peer) => [`${SUBGRAPHS[peer].envPrefix}_URL`, peerUrlOf(peer)])),
      ...options.env,
      ...options.envOf?.(name),
    };
  };

  const services = {} as Record<ServiceName, ServiceProcess>;
  const launch = async (name: ServiceName): Promise<void> => {
    let output = '';
    // Only what a service needs from this environment; never the test runner's own settings.
    const { PATH, HOME, TMPDIR } = process.env;
    const script = options.serviceScript ?? 'service';
    const entry = options.compiledDir ? [path.join(options.compiledDir, 'scripts', `${script}.js`)] : ['--import', 'tsx', path.join(ROOT, 'scripts', `${script}.ts`)];
    const logFile = typeof options.output === 'object' ? path.join(options.output.directory, `${name}.log`) : undefined;
    const stdout = logFile ? openSync(logFile, 'a') : options.output === 'drop' ? 'ignore' : 'pipe';
    const child = spawn(process.execPath, [...entry, name], {
      cwd: ROOT,
      // The heap cap the image runs with (Dockerfile), before any options the caller adds (a CPU profiler).
      env: { PATH: PATH ?? '', HOME: HOME ?? scratch, ...(TMPDIR ? { TMPDIR } : {}), ...envFor(name), NODE_OPTIONS: [NODE_HEAP_OPTIONS, options.env?.NODE_OPTIONS].filter(Boolean).join(' ') },
      stdio: ['ignore', stdout, 'pipe'],
    });
    if (typeof stdout === 'number') closeSync(stdout);
    child.stdout?.on('data', (chunk) => { output += chunk; });
    child.stderr!.on('data', (chunk) => { output += chunk; });
    services[name] = { name, port: ports[name], url: urlOf(name), child, logFile, output: () => (logFile ? readFileSync(logFile, 'utf8') : '') + output };
    const deadline = Date.now() + (options.readyTimeoutMs ?? 180_000); // six processes starting at once on a busy 2-core machine
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
      const status = await fetch(urlOf(name).replace(/graphql$/, 'ready'), { signal: AbortSignal.timeout(3000) }).then((r) => r.status, () => 0);
      if (status === 200) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    child.kill('SIGKILL');
    throw new Error(`${name} was not ready within ${Math.round((options.readyTimeoutMs ?? 180_000) / 1000)} s:\n${output}`);
  };

  try {
    await Promise.all(SUBGRAPH_NAMES.map(launch));
    await launch('gateway');
  } catch (error) {
    for (const service of Object.values(services)) service.child.kill('SIGKILL');
    await databases.drop().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }

  const exited = (name: ServiceName, ms = 30_000) => {
    const { child } = services[name];
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    return Promise.race([
      new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), ms)),
    ]);
  };

  return {
    url: urlOf('gateway'),
    keys,
    services,
    databaseUrls: databases.urls,
    token: (claims, mintOptions) => mintDevToken(keys.issuerPrivate, claims, mintOptions),
    signal: (name, signal) => { services[name].child.kill(signal); },
    restart: async (name) => {
      if (services[name].child.exitCode === null && services[name].child.signalCode === null) {
        services[name].child.kill('SIGKILL');
        await exited(name);
      }
      await launch(name);
    },
    exited,
    rssMb: (name) => {
      const status = readFileSync(`/proc/${services[name].child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    },
    cpuMs: (name) => {
      // /proc/<pid>/stat: utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
      const fields = readFileSync(`/proc/${services[name].child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    close: async () => {
      for (const service of Object.values(services)) {
        if (service.child.exitCode === null && service.child.signalCode === null) {
          service.child.kill('SIGCONT');
          service.child.kill('SIGKILL');
        }
      }
      await Promise.all((Object.keys(services) as ServiceName[]).map((name) => exited(name, 10_000)));
      await databases.drop().catch(() => undefined);
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
