/**
 * `npm run replicas`: two replicas of the gateway and of each subgraph on one
 * machine, behind HAProxy (the distribution's package, /usr/sbin/haproxy), on
 * PostgreSQL, with the replay guard shared on Redis. Built from two process
 * stacks (scripts/process-stack.ts) that share their databases, their keys
 * and the balancer: every client request and every call a service makes to a
 * subgraph goes through HAProxy, which routes around a replica that is dead
 * (connection refused), frozen (its /ready check times out) or draining
 * (its /ready answers 503 after SIGTERM).
 *
 *   npm run replicas [-- --patients 20] [-- --database-url postgres://…] [-- --redis-url redis://…]
 *
 * Creates, migrates and seeds fresh databases on the PostgreSQL server
 * (TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres),
 * prints where to point clients and a clinician's token, and on Ctrl-C stops
 * every process and drops the databases. (`npm run replicas` runs it with
 * `node --import tsx`, not the tsx CLI, which SIGKILLs a child that is still
 * stopping shortly after Ctrl-C: the databases would be left behind.)
 *
 * The same HAProxy configuration, written for Docker's DNS, is
 * deploy/haproxy/haproxy.cfg, used by docker-compose.replicas.yml; both
 * files are generated here (`npm run replicas -- --write-compose`) so they
 * cannot drift from this one (test/docker-compose.test.ts checks).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { GATEWAY, SUBGRAPH_NAMES, SUBGRAPHS, type SubgraphName } from '../lib/runtime/services.js';
import { ROOT } from '../lib/runtime/subgraph.js';
import { freePort, startProcessStack, type ProcessStack, type ProcessStackOptions, type ServiceName } from './process-stack.js';

export const HAPROXY = '/usr/sbin/haproxy';
export const SERVICE_NAMES: ServiceName[] = ['gateway', ...SUBGRAPH_NAMES];
/** Replicas per service. */
export const REPLICAS = 2;

/** Where one balanced service listens and the replicas it routes to. */
export interface BalancedService {
  name: ServiceName;
  /** `host:port` the balancer listens on. */
  bind: string;
  /** The replicas, `host:port` each; or, under Docker, one DNS name every replica answers to. */
  servers: string[] | { dns: string; count: number };
}

/** HAProxy's health checks of a replica (milliseconds): every subgraph's, and the gateway's (see haproxyConfig for why). */
export const HEALTH_CHECKS = {
  subgraph: { inter: 1000, fastinter: 500, downinter: 1000, fall: 2, rise: 2 },
  gateway: { inter: 2000, fastinter: 1000, downinter: 1000, fall: 3, rise: 2 },
} as const;

const checkOf = (service: ServiceName) => HEALTH_CHECKS[service === 'gateway' ? 'gateway' : 'subgraph'];
const duration = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
const defaultServer = (check: (typeof HEALTH_CHECKS)[keyof typeof HEALTH_CHECKS]) =>
  `  default-server inter ${duration(check.inter)} fastinter ${duration(check.fastinter)} downinter ${duration(check.downinter)} fall ${check.fall} rise ${check.rise}`;

/**
 * A replica's deregistration delay behind this HAProxy (SHUTDOWN_DELAY_MS, lib/runtime/lifecycle.ts): how long after
 * SIGTERM it keeps serving with /ready at 503 before its listener closes. The checks need up to `inter` for the first
 * one to meet the 503, then `fall - 1` more at `fastinter` to mark it down; one second more for checks slowed by a busy
 * machine. The gateway: 2 + 2 × 1 + 1 = 5 s; a subgraph: 1 + 0.5 + 1 = 2.5 s.
 */
export function deregistrationDelayMs(service: ServiceName): number {
  const check = checkOf(service);
  return check.inter + (check.fall - 1) * check.fastinter + 1000;
}

/**
 * The HAProxy configuration in front of every service. Why each setting:
 *
 * - Health checks: `GET /ready` every second (every two for the gateway),
 *   a replica out after two failures and back after two successes. /ready
 *   answers 503 from the moment a replica gets SIGTERM (lib/runtime/http.ts),
 *   and the replica keeps serving for its deregistration delay
 *   (SHUTDOWN_DELAY_MS = deregistrationDelayMs), so the checks take it out
 *   before its listener closes: nothing is sent to a closing replica.
 * - `timeout check 1s`: a frozen replica (SIGSTOP, a stuck event loop) does
 *   not answer its check; it is out within about three seconds. The
 *   gateway's own /ready asks every subgraph (through this balancer, up to
 *   2 s each), so the gateway's check waits 5 s and needs three failures: a
 *   frozen subgraph replica, which the gateway's probe may meet once or
 *   twice before it is out, must not take both gateways out with it.
 * - A gateway is out only for what is its own: dead, frozen, or draining
 *   (its /ready says `"draining": true`). Its /ready also answers 503 when a
 *   subgraph is not ready, but both gateways see the same subgraphs through
 *   this balancer: taking them out for it would turn the partial chart a
 *   gateway answers (200, the subgraph named SUBGRAPH_UNAVAILABLE) into
 *   HAProxy's own 503 at the front door. So its check accepts 503 and
 *   fails on draining (GATEWAY_CHECK).
 * - `balance leastconn`: requests pile up on a replica that has stopped
 *   answering, so new ones go to the other even before its check fails.
 * - Retries only on `conn-failure` (the connection was refused or failed
 *   before the request was sent), redispatched to the other replica: the
 *   request never reached a service, so sending it elsewhere is always safe.
 *   Not on an empty response, a response timeout or a 5xx: the request may
 *   have run (an audit append, an ingest, a consent change), and a subgraph
 *   request carries a one-time actor token that the shared replay guard
 *   would refuse at the other replica anyway. The gateway's deadline per
 *   subgraph call (SUBGRAPH_TIMEOUT_MS) and its partial answers handle those.
 * - `http-reuse never`: a service closes an idle keep-alive connection after
 *   5 s; a request sent on a reused connection at that moment would fail
 *   after it was sent (not retryable). One loopback connect per request is
 *   cheaper than that failure.
 * - `timeout http-keep-alive 10s`: longer than a Node client's own idle
 *   timeout (4 s), so the client, not the balancer, closes idle connections.
 * - `timeout server 60s`: a backstop only; the services' own deadlines are
 *   shorter, and a FHIR export streams within it (inactivity, not total).
 */
/**
 * The gateway's health check (see haproxyConfig): /ready answered, 200 or 503, and not draining. A backend's own
 * http-check rules replace the defaults' (HAProxy 2.2+), so the request is sent again here.
 */
const GATEWAY_CHECK = ['  http-check send meth GET uri /ready', '  http-check expect rstatus ^(200|503)$', '  http-check expect ! string draining'];

export function haproxyConfig(services: BalancedService[], options: { stats?: string; resolvers?: string; mllp?: { bind: string; dns: string; count: number; port: number; checkPort: number } } = {}): string {
  const lines = [
    '# Generated by scripts/replicas.ts (haproxyConfig): why each setting is there is written there.',
    'global',
    '  maxconn 4096',
    '  log stderr format raw daemon notice',
    '',
    ...(options.resolvers ? ['resolvers docker', `  nameserver dns ${options.resolvers}`, '  hold valid 5s', '  accepted_payload_size 8192', ''] : []),
    'defaults',
    '  mode http',
    '  log global',
    '  option dontlog-normal',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-request 15s',
    '  timeout http-keep-alive 10s',
    '  timeout queue 10s',
    '  timeout check 1s',
    '  retries 2',
    '  retry-on conn-failure',
    '  option redispatch 1',
    '  http-reuse never',
    '  balance leastconn',
    '  option httpchk',
    '  http-check send meth GET uri /ready',
    '  http-check expect status 200',
    defaultServer(HEALTH_CHECKS.subgraph),
    '',
  ];
  for (const service of services) {
    lines.push(`frontend ${service.name}`, `  bind ${service.bind}`, `  default_backend ${service.name}`, '');
    lines.push(`backend ${service.name}`);
    if (service.name === 'gateway') lines.push('  timeout check 5s', ...GATEWAY_CHECK, defaultServer(HEALTH_CHECKS.gateway));
    if (Array.isArray(service.servers)) service.servers.forEach((server, i) => lines.push(`  server ${service.name}-${i + 1} ${server} check`));
    else lines.push(`  server-template ${service.name}- ${service.servers.count} ${service.servers.dns} check resolvers docker init-addr none`);
    lines.push('');
  }
  if (options.mllp) {
    // HL7 v2 over MLLP (TCP) to the gateways; checked on their HTTP /ready.
    lines.push('frontend mllp', '  mode tcp', `  bind ${options.mllp.bind}`, '  default_backend mllp', '');
    lines.push('backend mllp', '  mode tcp', '  timeout check 5s', ...GATEWAY_CHECK, defaultServer(HEALTH_CHECKS.gateway),
      `  server-template mllp- ${options.mllp.count} ${options.mllp.dns}:${options.mllp.port} check port ${options.mllp.checkPort} resolvers docker init-addr none`, '');
  }
  if (options.stats) lines.push('frontend stats', `  bind ${options.stats}`, '  stats enable', '  stats uri /', '  stats refresh 5s', '');
  return lines.join('\n');
}

/** The compose variant's HAProxy configuration (deploy/haproxy/haproxy.cfg): every service by its Docker DNS name, on its usual port. */
export function composeHaproxyConfig(): string {
  return haproxyConfig(SERVICE_NAMES.map((name) => {
    const port = (name === 'gateway' ? GATEWAY : SUBGRAPHS[name]).defaultPort;
    return { name, bind: `:${port}`, servers: { dns: `${name}:${port}`, count: REPLICAS } };
  }), { stats: ':8404', resolvers: '127.0.0.11:53', mllp: { bind: ':2575', dns: 'gateway', count: REPLICAS, port: 2575, checkPort: GATEWAY.defaultPort } });
}

/**
 * docker-compose.replicas.yml from docker-compose.yml: every service twice
 * (`deploy.replicas`), none publishing a port (HAProxy publishes the
 * gateway's), every subgraph URL pointing at HAProxy.
 */
export function replicasCompose(base: Record<string, any>): Record<string, any> {
  const compose = structuredClone(base);
  const balancerUrl = (name: SubgraphName) => `http://haproxy:${SUBGRAPHS[name].defaultPort}/graphql`;
  for (const name of SERVICE_NAMES) {
    const service = compose.services[name];
    delete service.ports;
    delete service.container_name;
    service.deploy = { ...service.deploy, replicas: REPLICAS };
    // Serve on with /ready 503 until HAProxy's checks have the replica out, then drain (stop_grace_period covers both).
    service.environment = { ...service.environment, SHUTDOWN_DELAY_MS: String(deregistrationDelayMs(name)) };
    for (const peer of SUBGRAPH_NAMES) {
      const variable = `${SUBGRAPHS[peer].envPrefix}_URL`;
      if (service.environment?.[variable] !== undefined) service.environment[variable] = balancerUrl(peer);
    }
  }
  compose.services.haproxy = {
    // The long-term-supported line Debian 12 packages (2.6).
    image: 'haproxy:2.6',
    restart: 'unless-stopped',
    ports: [`${GATEWAY.defaultPort}:${GATEWAY.defaultPort}`, '2575:2575', '127.0.0.1:8404:8404'],
    volumes: ['./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'],
    depends_on: SERVICE_NAMES,
  };
  return compose;
}

export const COMPOSE_HEADER = '# Two replicas of the gateway and of each subgraph behind HAProxy (deploy/haproxy/haproxy.cfg).\n'
  + '# Generated from docker-compose.yml by `npm run replicas -- --write-compose` (scripts/replicas.ts): edit those, not this.\n'
  + '#   docker-compose -f docker-compose.replicas.yml up\n';

export function writeComposeFiles(): void {
  const base = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Record<string, any>;
  writeFileSync(path.join(ROOT, 'docker-compose.replicas.yml'), COMPOSE_HEADER + stringify(replicasCompose(base), { aliasDuplicateObjects: false, lineWidth: 0, version: '1.1' }));
  writeFileSync(path.join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), composeHaproxyConfig());
}

export interface ReplicasOptions {
  patients?: number;
  /** The PostgreSQL server the databases are created on (default TEST_DATABASE_URL). */
  adminDatabaseUrl?: string;
  redisUrl?: string;
  /** Extra environment for every service (e.g. SUBGRAPH_TIMEOUT_MS). */
  env?: Record<string, string>;
  output?: ProcessStackOptions['output'];
}

export interface Replicas {
  /** The gateway's balancer: where clients point. */
  url: string;
  /** Each service's balancer (…/graphql). */
  balancers: Record<ServiceName, string>;
  /** HAProxy's statistics page (append `;csv` for the machine-readable form). */
  statsUrl: string;
  /** The two replicas of everything: two process stacks sharing databases, keys and the balancer. */
  replicas: [ProcessStack, ProcessStack];
  haproxy: ChildProcess;
  haproxyConfig: string;
  /** HAProxy's log (servers going down and up). */
  haproxyOutput(): string;
  /** A server's state as HAProxy sees it: UP, DOWN, … (`gateway-1`, `labs-2`). */
  serverStatus(service: ServiceName, replica: 1 | 2): Promise<string>;
  close(): Promise<void>;
}

export async function startReplicas(options: ReplicasOptions = {}): Promise<Replicas> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-replicas-'));
  const portsOf = async () => Object.fromEntries(await Promise.all(SERVICE_NAMES.map(async (name) => [name, await freePort()] as const))) as Record<ServiceName, number>;
  const [front, first, second] = [await portsOf(), await portsOf(), await portsOf()];
  const statsPort = await freePort();
  const balancers = Object.fromEntries(SERVICE_NAMES.map((name) => [name, `http://127.0.0.1:${front[name]}/graphql`])) as Record<ServiceName, string>;
  const config = haproxyConfig(SERVICE_NAMES.map((name) => ({ name, bind: `127.0.0.1:${front[name]}`, servers: [`127.0.0.1:${first[name]}`, `127.0.0.1:${second[name]}`] })), { stats: `127.0.0.1:${statsPort}` });
  const configFile = path.join(scratch, 'haproxy.cfg');
  writeFileSync(configFile, config);
  const checked = spawnSync(HAPROXY, ['-c', '-q', '-f', configFile], { encoding: 'utf8' });
  if (checked.status !== 0) throw new Error(`haproxy refused its configuration:\n${checked.stderr}${checked.stdout}`);

  // HAProxy first: the services' peer URLs point at it; it marks each replica up once its /ready answers.
  let haproxyLog = '';
  const haproxy = spawn(HAPROXY, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy.stdout!.on('data', (chunk) => { haproxyLog += chunk; });
  haproxy.stderr!.on('data', (chunk) => { haproxyLog += chunk; });
  const stopHaproxy = async () => {
    if (haproxy.exitCode === null && haproxy.signalCode === null) {
      const exited = new Promise((resolve) => haproxy.once('exit', resolve));
      haproxy.kill('SIGUSR1'); // soft stop: finishes what is in flight
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (haproxy.exitCode === null && haproxy.signalCode === null) haproxy.kill('SIGKILL');
    }
  };

  const redisUrl = options.redisUrl ?? process.env.REPLAY_GUARD_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const common: ProcessStackOptions = {
    backend: 'postgres',
    adminDatabaseUrl: options.adminDatabaseUrl ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    peerUrls: Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, balancers[name]])),
    env: { REPLAY_GUARD_REDIS_URL: redisUrl, PUBLIC_URL: balancers.gateway.replace(/\/graphql$/, ''), ...options.env },
    // Each replica serves on, /ready at 503, until HAProxy's checks have it out (a rolling restart loses nothing).
    envOf: (name) => ({ SHUTDOWN_DELAY_MS: String(deregistrationDelayMs(name)) }),
    output: options.output,
  };
  let a: ProcessStack | undefined;
  try {
    // The first stack creates, migrates and seeds the databases; the second opens the same ones with the same keys.
    a = await startProcessStack({ ...common, patients: options.patients ?? 20, ports: first });
    const b = await startProcessStack({ ...common, databaseUrls: a.databaseUrls, keys: a.keys, ports: second });
    const statsUrl = `http://127.0.0.1:${statsPort}/`;
    const serverStatus = async (service: ServiceName, replica: 1 | 2) => {
      const csv = await (await fetch(`${statsUrl};csv`)).text();
      const header = csv.split('\n')[0]!.replace(/^# /, '').split(',');
      const row = csv.split('\n').map((line) => line.split(',')).find((cells) => cells[0] === service && cells[1] === `${service}-${replica}`);
      return row?.[header.indexOf('status')] ?? 'unknown';
    };
    const stacks: [ProcessStack, ProcessStack] = [a, b];
    // Both replicas of everything in rotation before anyone is told where to point.
    for (const deadline = Date.now() + 60_000; ;) {
      const states = await Promise.all(SERVICE_NAMES.flatMap((name) => [serverStatus(name, 1), serverStatus(name, 2)]));
      if (states.every((s) => s === 'UP')) break;
      if (Date.now() > deadline) {
        await b.close();
        throw new Error(`HAProxy does not have every replica up after 60 s (${SERVICE_NAMES.map((name, i) => `${name}: ${states[2 * i]}, ${states[2 * i + 1]}`).join('; ')}):\n${haproxyLog}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return {
      url: balancers.gateway,
      balancers,
      statsUrl,
      replicas: stacks,
      haproxy,
      haproxyConfig: config,
      haproxyOutput: () => haproxyLog,
      serverStatus,
      close: async () => {
        await stopHaproxy();
        await b.close(); // shares a's databases: a drops them
        await a!.close();
        rmSync(scratch, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopHaproxy();
    await a?.close();
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string', default: '20' },
      'database-url': { type: 'string' },
      'redis-url': { type: 'string' },
      'write-compose': { type: 'boolean', default: false },
    },
  });
  if (values['write-compose']) {
    writeComposeFiles();
    console.log('Wrote docker-compose.replicas.yml and deploy/haproxy/haproxy.cfg');
    process.exit(0);
  }
  console.log(`Starting ${REPLICAS} replicas of the gateway and of each subgraph behind HAProxy, on PostgreSQL, with the replay guard on Redis…`);
  const replicas = await startReplicas({ patients: Number(values.patients), adminDatabaseUrl: values['database-url'], redisUrl: values['redis-url'], output: 'drop' });
  const [a] = replicas.replicas;
  // A clinician of the first seeded patient's organisation, signed with this run's keys.
  const client = new pg.Client({ connectionString: a.databaseUrls.identity });
  await client.connect();
  const { rows: [example] } = await client.query<{ patient_id: string; assigner_organization_id: string }>(
    'SELECT patient_id, assigner_organization_id FROM patient_identifier WHERE assigner_organization_id IS NOT NULL ORDER BY patient_id LIMIT 1');
  await client.end();
  const token = example ? await a.token({ sub: 'dr-replicas', role: 'clinician', org: example.assigner_organization_id }) : null;
  console.log(`\nGateway (balanced):  ${replicas.url}`);
  for (const name of SUBGRAPH_NAMES) console.log(`${name.padEnd(20)} ${replicas.balancers[name]}`);
  console.log(`HAProxy statistics:  ${replicas.statsUrl}`);
  for (const [i, stack] of replicas.replicas.entries()) {
    console.log(`Replica ${i + 1}: ${SERVICE_NAMES.map((name) => `${name} :${stack.services[name].port} (pid ${stack.services[name].child.pid})`).join(', ')}`);
  }
  if (token && example) {
    console.log(`\nA clinician of ${example.assigner_organization_id} and a patient of theirs:`);
    console.log(`  curl -s ${replicas.url} -H 'content-type: application/json' -H 'authorization: Bearer ${token}' \\`);
    console.log(`    -d '{"query":"{ patient(id: \\"${example.patient_id}\\") { name { text } birthDate } }"}'`);
  }
  console.log('\nCtrl-C stops everything and drops the databases.');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping…');
    try {
      await replicas.close();
      console.log('Stopped, databases dropped.');
      process.exit(0);
    } catch (error) {
      console.error('Stopping failed:', error);
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
