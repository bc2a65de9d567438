/**
 * docker-compose.yml is a deliverable that cannot run here (no Docker engine),
 * so it is checked against the code: the services exist, each subgraph has
 * its own PostgreSQL database, and every variable is one the code reads, with
 * ports and URLs that agree, compiled JavaScript, readiness health checks.
 * When Debian's docker-compose is installed, its own `config` check runs too.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { COMMON_ENV, GATEWAY, NODE_HEAP_OPTIONS, SUBGRAPH_NAMES, SUBGRAPH_PEERS, SUBGRAPHS, type ServiceInfo } from '../lib/runtime/services.js';
import { ROOT } from '../lib/runtime/subgraph.js';

interface ComposeService {
  profiles?: string[];
  user?: string;
  restart?: string;
  ports?: string[];
  volumes?: string[];
  command?: string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  image?: string;
  build?: string;
  secrets?: string[];
}

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  secrets: Record<string, { file: string }>;
};
const services = compose.services;
const dockerCompose = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find(existsSync);

const withFileVariants = (names: readonly string[]) => names.flatMap((n) => [n, `${n}_FILE`]);

/** Variables the gateway may read. */
const gatewayVariables = new Set<string>([
  `${GATEWAY.envPrefix}_PORT`, `${GATEWAY.envPrefix}_METRICS_PORT`, ...withFileVariants(COMMON_ENV.gateway),
  ...SUBGRAPH_NAMES.map((name) => `${SUBGRAPHS[name].envPrefix}_URL`),
]);

/** The secret file of a service's own private key. */
const privateKeySecret = (name: string) => `${name.replace(/-/g, '_')}_private_key`;

/** Checks what every service shares: compiled JavaScript, ports, keys, readiness, graceful stop. */
function expectService(name: string, info: ServiceInfo) {
  const service = services[name]!;
  const env = service.environment!;
  expect(service.command).toEqual(['node', 'dist/scripts/service.js', name]);
  expect(env.NODE_ENV).toBe('production');
  expect(env.HOST).toBe('0.0.0.0');
  expect(Number(env[`${info.envPrefix}_PORT`])).toBe(info.defaultPort);
  expect(Number(env[`${info.envPrefix}_METRICS_PORT`])).toBe(info.defaultMetricsPort);
  // Its own private key; the public keys of all six.
  expect(env.INTERNAL_TOKEN_PRIVATE_KEY_FILE).toBe(`/run/secrets/${privateKeySecret(name)}`);
  expect(env.INTERNAL_TOKEN_PUBLIC_KEYS_FILE).toBe('/run/secrets/internal_public_keys');
  expect([...service.secrets!].sort()).toEqual([privateKeySecret(name), 'internal_public_keys'].sort());
  expect(compose.secrets[privateKeySecret(name)]!.file).toBe(`./secrets/${name}.private.jwk.json`);
  // Healthy means ready: GET /ready on its own port.
  expect(service.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${info.defaultPort}/ready`);
  // Stopping leaves time for the deregistration delay (SHUTDOWN_DELAY_MS, none by default) and the drain (SHUTDOWN_GRACE_MS) before SIGKILL.
  expect(Number.parseInt(service.stop_grace_period ?? '10s', 10) * 1000).toBeGreaterThan(Number(env.SHUTDOWN_DELAY_MS ?? 0) + Number(env.SHUTDOWN_GRACE_MS ?? 20_000));
}

describe('docker-compose.yml', () => {
  it('runs the gateway, the five subgraphs and one PostgreSQL database per subgraph', () => {
    const production = Object.keys(services).filter((name) => !services[name]!.profiles);
    // gateway-db: the Bulk Data export's job store (EXPORT_DATABASE_URL).
    expect(production.sort()).toEqual(['gateway', 'gateway-db', ...SUBGRAPH_NAMES, ...SUBGRAPH_NAMES.map((name) => `${name}-db`), 'redis'].sort());
    for (const name of SUBGRAPH_NAMES) expect(services[`${name}-db`]!.image).toMatch(/^postgres:/);
  });

  it('gives every subgraph the replay guard its replicas share (Redis), and starts it once Redis answers', () => {
    expect(services.redis!.image).toMatch(/^redis:/);
    for (const name of SUBGRAPH_NAMES) {
      expect(services[name]!.environment!.REPLAY_GUARD_REDIS_URL, name).toBe('redis://redis:6379');
      expect((services[name]!.depends_on as Record<string, { condition: string }>).redis, name).toEqual({ condition: 'service_healthy' });
    }
  });

  it.each(SUBGRAPH_NAMES)('configures the %s subgraph with the variables the code reads', (name) => {
    const service = services[name]!;
    const prefix = SUBGRAPHS[name].envPrefix;
    const env = service.environment!;
    expectService(name, SUBGRAPHS[name]);
    // Its own database, on its own server, which it waits for.
    const database = new URL(env[`${prefix}_DATABASE_URL`]!);
    expect(database.protocol).toBe('postgres:');
    expect(database.hostname).toBe(`${name}-db`);
    expect(service.depends_on?.[`${name}-db`]).toEqual({ condition: 'service_healthy' });
    // The port it listens on is the one the gateway calls.
    const gatewayUrl = new URL(services.gateway!.environment![`${prefix}_URL`]!);
    expect(gatewayUrl.hostname).toBe(name);
    expect(gatewayUrl.port).toBe(env[`${prefix}_PORT`]);
    expect(Number(env[`${prefix}_PORT`])).toBe(SUBGRAPHS[name].defaultPort);
    // Nothing the code does not read.
    const peerUrls = SUBGRAPH_PEERS[name].map((peer) => `${SUBGRAPHS[peer].envPrefix}_URL`);
    const known = new Set<string>([`${prefix}_PORT`, `${prefix}_METRICS_PORT`, `${prefix}_DATABASE_URL`, ...withFileVariants(COMMON_ENV.subgraph), ...peerUrls]);
    // It reaches the subgraphs whose internal APIs it calls where the gateway does.
    for (const variable of peerUrls) expect(env[variable], variable).toBe(services.gateway!.environment![variable]);
    expect(Object.keys(env).filter((variable) => !known.has(variable))).toEqual([]);
  });

  it('configures the gateway with every subgraph URL, the identity provider and its keys', () => {
    const gateway = services.gateway!;
    const env = gateway.environment!;
    expectService('gateway', GATEWAY);
    expect(Object.keys(env).filter((variable) => !gatewayVariables.has(variable))).toEqual([]);
    for (const name of SUBGRAPH_NAMES) expect(env[`${SUBGRAPHS[name].envPrefix}_URL`]).toMatch(/^http:\/\/.+\/graphql$/);
    expect(env.AUTH_JWKS_URL).toBeTruthy();
    expect(env.AUTH_ISSUER).toBeTruthy();
    // It starts once every subgraph, and the export's job store, is ready.
    expect(gateway.depends_on).toEqual(Object.fromEntries(['gateway-db', ...SUBGRAPH_NAMES].map((name) => [name, { condition: 'service_healthy' }])));
    expect(compose.secrets.internal_public_keys!.file).toBe('./secrets/internal-public-keys.json');
  });

  it('gives the Bulk Data export its job store (a PostgreSQL database of its own) and a volume for its files, writable by the image\'s user', () => {
    const gateway = services.gateway!;
    const env = gateway.environment!;
    // Set, or the export is off in production (gateway/src/fhir/bulk/config.ts).
    const store = new URL(env.EXPORT_DATABASE_URL!);
    expect(store.protocol).toBe('postgres:');
    expect(store.hostname).toBe('gateway-db');
    const db = services['gateway-db']!;
    expect(db.image).toMatch(/^postgres:/);
    expect((db.environment as Record<string, string>).POSTGRES_DB).toBe(store.pathname.slice(1));
    expect(db.volumes!.some((v) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true);
    // Its own database: no subgraph's.
    for (const name of SUBGRAPH_NAMES) expect(store.hostname).not.toBe(`${name}-db`);
    // The files on a named volume at EXPORT_STORAGE_DIR, which the Dockerfile creates for the `node` user.
    const files = gateway.volumes!.find((v) => v.endsWith(`:${env.EXPORT_STORAGE_DIR}`));
    expect(files, JSON.stringify(gateway.volumes)).toBeTruthy();
    expect((compose as unknown as { volumes: Record<string, unknown> }).volumes).toHaveProperty(files!.split(':')[0]!);
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`chown node:node ${env.EXPORT_STORAGE_DIR}`);
  });

  it('has a multi-stage Dockerfile: compiled in a build stage, run as compiled JavaScript with production dependencies only', () => {
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages).toHaveLength(2);
    const [build, runtime] = stages as [string, string];
    expect(build).toMatch(/^node:22-bookworm-slim AS build\b/);
    expect(build).toMatch(/^RUN npm ci\b/m);
    expect(build).toMatch(/^RUN npm run build$/m);
    // Everything the compiled services import is compiled.
    for (const folder of ['lib', 'gateway', 'subgraphs', 'scripts']) expect(build).toContain(`COPY ${folder} ./${folder}`);
    expect(runtime).toMatch(/^node:22-bookworm-slim\n/);
    expect(runtime).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(runtime).toContain('COPY --from=build /app/dist ./dist');
    // The files read at run time, from the package root.
    expect(runtime).toContain('COPY schema ./schema');
    for (const name of SUBGRAPH_NAMES) expect(runtime).toContain(`COPY subgraphs/${name}/migrations ./subgraphs/${name}/migrations`);
    // The migrations every subgraph applies besides its own (lib/runtime/subgraph.ts, migrateSubgraph).
    for (const set of ['lib/ingest/migrations', 'lib/records/migrations']) expect(runtime).toContain(`COPY ${set} ./${set}`);
    expect(runtime).not.toMatch(/^COPY (lib|gateway|scripts) /m);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toContain('CMD ["node", "dist/scripts/service.js", "gateway"]');
    // The heap cap the benchmark's processes run with too (lib/runtime/services.ts).
    expect(runtime).toContain(`ENV NODE_OPTIONS="${NODE_HEAP_OPTIONS}"`);
    // And `npm run service`, the same processes run from source (docs/hardening.md).
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.service).toContain(NODE_HEAP_OPTIONS);
  });

  it.runIf(dockerCompose)('passes docker-compose config', () => {
    const output = execFileSync(dockerCompose!, ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], {
      env: { ...process.env, AUTH_ISSUER: 'https://idp.example.org', AUTH_JWKS_URL: 'https://idp.example.org/jwks' },
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(output).toBe('');
  });

  it.runIf(dockerCompose)('refuses to start production without an identity provider, and says which variable is missing', () => {
    const { AUTH_ISSUER: _issuer, AUTH_JWKS_URL: _jwks, ...env } = process.env;
    let refused: { status: number; stderr: string } | undefined;
    try {
      execFileSync(dockerCompose!, ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], { env, cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      refused = error as { status: number; stderr: string };
    }
    expect(refused?.status).not.toBe(0);
    expect(refused?.stderr).toMatch(/set AUTH_(ISSUER|JWKS_URL) to your identity provider/);
  });
});

/**
 * docker-compose.local.yml: the whole product in one command on a fresh
 * machine. Its services must be production's (same commands, health checks,
 * environment) but for the keys, which local-setup writes into volumes before
 * any service starts, and the identity provider (local-idp).
 * test/local-profile.test.ts runs local-setup and local-idp and loads each
 * service's keys from where these volumes put them.
 */
describe('docker-compose.local.yml', () => {
  const local = parse(readFileSync(path.join(ROOT, 'docker-compose.local.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
    secrets?: unknown;
  };
  const localServices = local.services;
  const APPLICATION = ['gateway', ...SUBGRAPH_NAMES] as const;
  const KEY_VARIABLES = ['INTERNAL_TOKEN_PRIVATE_KEY_FILE', 'INTERNAL_TOKEN_PUBLIC_KEYS_FILE'];
  const LOCAL_IDP = { AUTH_ISSUER: 'http://local-idp:4010', AUTH_AUDIENCE: 'fpr-gateway', AUTH_JWKS_URL: 'http://local-idp:4010/jwks.json' };
  /** The volume mounted at the directory that holds `file` in `service`, and whether read-only. */
  const volumeHolding = (service: ComposeService, file: string) => {
    const mounts = (service.volumes ?? []).map((spec) => {
      const [source, target, mode] = spec.split(':') as [string, string, string?];
      return { source, target, readOnly: mode === 'ro' };
    });
    return mounts.find((mount) => path.posix.dirname(file) === mount.target);
  };

  it('runs every production service, local-setup and local-idp, and nothing of production needs a file made beforehand', () => {
    expect(Object.keys(localServices).sort()).toEqual([...Object.keys(services), 'local-setup', 'local-idp'].sort());
    // No compose secrets (files on the host that would have to exist before up), no bind mounts of the checkout.
    expect(local.secrets).toBeUndefined();
    for (const [name, service] of Object.entries(localServices)) {
      expect(service.secrets, name).toBeUndefined();
      for (const spec of service.volumes ?? []) expect(spec, name).toMatch(/^[a-z][a-z0-9-]*:\//);
    }
  });

  it.each(['gateway', ...SUBGRAPH_NAMES, 'redis', ...SUBGRAPH_NAMES.map((name) => `${name}-db`)])('runs %s with production\'s image, command, health check and environment, but for the keys and the identity provider', (name) => {
    const production = services[name]!;
    const service = localServices[name]!;
    for (const key of ['build', 'image', 'command', 'healthcheck', 'stop_grace_period', 'restart'] as const) expect(service[key], `${name}.${key}`).toEqual(production[key]);
    const expected = { ...production.environment };
    const actual = { ...service.environment };
    for (const variable of KEY_VARIABLES) {
      expect(actual[variable] === undefined, variable).toBe(expected[variable] === undefined);
      delete actual[variable];
      delete expected[variable];
    }
    if (name === 'gateway') {
      // Production names the provider it is given (AUTH_*, required); here local-idp, and only it.
      expect(actual).toMatchObject(LOCAL_IDP);
      Object.assign(expected, LOCAL_IDP);
    }
    expect(actual).toEqual(expected);
    if (name === 'gateway') expect(Object.keys(actual).filter((variable) => !gatewayVariables.has(variable))).toEqual([]);
    // It waits for what production's waits for, and the application services for their keys (local-setup) too.
    const waits = { ...production.depends_on };
    if (name === 'gateway') waits['local-idp'] = { condition: 'service_healthy' };
    else if ((APPLICATION as readonly string[]).includes(name)) waits['local-setup'] = { condition: 'service_completed_successfully' };
    expect(service.depends_on ?? {}).toEqual(waits);
    // Published on the loopback interface only: the identity provider gives a token to whoever asks.
    expect(service.ports ?? [], name).toEqual((production.ports ?? []).map((port) => `127.0.0.1:${port}`));
  });

  it.each(APPLICATION)('%s reads its own private key and the public keys from volumes local-setup fills, read-only, and no other service\'s key', (name) => {
    const service = localServices[name]!;
    const env = service.environment!;
    const setup = localServices['local-setup']!;
    const own = volumeHolding(service, env.INTERNAL_TOKEN_PRIVATE_KEY_FILE!);
    const shared = volumeHolding(service, env.INTERNAL_TOKEN_PUBLIC_KEYS_FILE!);
    expect(own, name).toMatchObject({ readOnly: true });
    expect(shared, name).toMatchObject({ source: 'public-keys', readOnly: true });
    expect(Object.keys(local.volumes)).toContain(own!.source);
    // The file names local-setup writes (scripts/local-setup.ts): <service>/<service>.private.jwk.json, public/internal-public-keys.json.
    expect(env.INTERNAL_TOKEN_PRIVATE_KEY_FILE).toBe(`/keys/${name}/${name}.private.jwk.json`);
    expect(env.INTERNAL_TOKEN_PUBLIC_KEYS_FILE).toBe('/keys/public/internal-public-keys.json');
    // local-setup mounts the same volumes where it writes those files (its directory argument is /keys).
    expect(setup.command).toEqual(['node', 'dist/scripts/local-setup.js', '/keys']);
    expect(setup.volumes).toContain(`${own!.source}:${own!.target}`);
    expect(setup.volumes).toContain(`public-keys:${shared!.target}`);
    // A private key's volume is mounted by its service and local-setup only.
    const holders = Object.keys(localServices).filter((other) => (localServices[other]!.volumes ?? []).some((spec) => spec.startsWith(`${own!.source}:`)));
    expect(holders.sort()).toEqual([name, 'local-setup'].sort());
  });

  it('local-setup runs first with production settings and demo data on request; local-idp signs with the key it writes', () => {
    const setup = localServices['local-setup']!;
    expect(setup.restart).toBe('no');
    expect(setup.user).toBe('root'); // to write the volumes, then hand each file to uid 1000 (the image's node user)
    expect(setup.environment!.NODE_ENV).toBe('production');
    expect(setup.environment!.DEMO_PATIENTS).toBe('${DEMO_PATIENTS:-0}');
    for (const name of SUBGRAPH_NAMES) {
      const variable = `${SUBGRAPHS[name].envPrefix}_DATABASE_URL`;
      expect(setup.environment![variable], variable).toBe(localServices[name]!.environment![variable]);
      expect(setup.depends_on?.[`${name}-db`]).toEqual({ condition: 'service_healthy' });
    }
    const idp = localServices['local-idp']!;
    expect(idp.command).toEqual(['node', 'dist/scripts/local-idp.js']);
    expect(idp.ports).toEqual(['127.0.0.1:4010:4010']);
    expect(idp.depends_on).toEqual({ 'local-setup': { condition: 'service_completed_successfully' } });
    expect(idp.environment!.LOCAL_IDP_ISSUER).toBe(LOCAL_IDP.AUTH_ISSUER);
    expect(idp.environment!.AUTH_AUDIENCE).toBe(LOCAL_IDP.AUTH_AUDIENCE);
    expect(idp.healthcheck!.test.join(' ')).toContain('http://127.0.0.1:4010/ready');
    const keys = volumeHolding(idp, `${idp.environment!.LOCAL_IDP_KEY_DIR}/local-issuer.private.jwk.json`);
    expect(keys).toMatchObject({ source: 'local-idp-key', readOnly: true });
    expect(setup.volumes).toContain(`local-idp-key:${keys!.target}`);
    for (const script of ['local-setup', 'local-idp']) expect(existsSync(path.join(ROOT, 'scripts', `${script}.ts`))).toBe(true);
    // Its databases are its own volumes, never production's.
    for (const name of SUBGRAPH_NAMES) expect(localServices[`${name}-db`]!.volumes).toEqual([`local-${name}-data:/var/lib/postgresql/data`]);
  });

  /** The README's Docker line (Run it): its variables, and the arguments after `docker compose`. */
  const readmeCommand = () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const line = readme.split('\n').find((l) => /^(\w+=\S+ )*docker compose /.test(l));
    const words = line!.split(' ');
    const at = words.indexOf('docker');
    return { line: line!, env: Object.fromEntries(words.slice(0, at).map((w) => w.split('=') as [string, string])), args: words.slice(at + 2) };
  };

  it('is the one command the README gives', () => {
    const { args, env } = readmeCommand();
    expect(args).toEqual(['-f', 'docker-compose.local.yml', 'up']);
    expect(Object.keys(env)).toEqual(['DEMO_PATIENTS']);
  });

  it.runIf(dockerCompose)('passes docker-compose config as the README runs it, without any identity provider or file set, demo data on request', () => {
    const { AUTH_ISSUER: _issuer, AUTH_JWKS_URL: _jwks, DEMO_PATIENTS: _demo, ...env } = process.env;
    const { args, env: readmeEnv } = readmeCommand();
    const config = (extra: Record<string, string>) => parse(execFileSync(dockerCompose!, [...args.slice(0, -1), 'config'], {
      env: { ...env, ...extra }, cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    })) as { services: Record<string, ComposeService> };
    const resolved = config(readmeEnv);
    expect(Object.keys(resolved.services).sort()).toEqual(Object.keys(localServices).sort());
    expect(resolved.services.gateway!.environment!.AUTH_JWKS_URL).toBe('http://local-idp:4010/jwks.json');
    expect(resolved.services.gateway!.environment!.NODE_ENV).toBe('production');
    expect(resolved.services.identity!.depends_on!['local-setup']).toEqual({ condition: 'service_completed_successfully' });
    expect(resolved.services['local-setup']!.environment!.DEMO_PATIENTS).toBe(readmeEnv.DEMO_PATIENTS);
    // Without DEMO_PATIENTS: no demo data.
    expect(config({}).services['local-setup']!.environment!.DEMO_PATIENTS).toBe('0');
  });
});

/**
 * docker-compose.replicas.yml: docker-compose.yml with every service twice
 * behind HAProxy (deploy/haproxy/haproxy.cfg). Both files are generated by
 * scripts/replicas.ts from docker-compose.yml and the HAProxy configuration
 * `npm run replicas` runs with, so the committed ones must be what it writes
 * today (test/replicas.e2e.test.ts runs that configuration for real).
 */
describe('docker-compose.replicas.yml', () => {
  const text = readFileSync(path.join(ROOT, 'docker-compose.replicas.yml'), 'utf8');
  const replicated = parse(text, { merge: true }) as { services: Record<string, ComposeService & { deploy?: { replicas?: number } }> };
  const haproxyCfg = readFileSync(path.join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), 'utf8');

  it('is generated from docker-compose.yml and the HAProxy configuration of npm run replicas (regenerate: npm run replicas -- --write-compose)', async () => {
    const { replicasCompose, composeHaproxyConfig, COMPOSE_HEADER } = await import('../scripts/replicas.js');
    expect(text.startsWith(COMPOSE_HEADER)).toBe(true);
    expect(replicated).toEqual(replicasCompose(compose as unknown as Record<string, unknown> as Record<string, any>));
    expect(haproxyCfg).toBe(composeHaproxyConfig());
  });

  it('runs two replicas of the gateway and of each subgraph, none publishing a port; HAProxy publishes the gateway\'s and routes every subgraph URL', () => {
    for (const info of [GATEWAY, ...SUBGRAPH_NAMES.map((name) => SUBGRAPHS[name])]) {
      const service = replicated.services[info.name]!;
      expect(service.deploy?.replicas).toBe(2);
      expect(service.ports).toBeUndefined();
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        if (SUBGRAPH_NAMES.some((name) => `${SUBGRAPHS[name].envPrefix}_URL` === variable)) expect(value).toMatch(/^http:\/\/haproxy:400\d\/graphql$/);
      }
      // HAProxy listens on the service's port and checks every replica's /ready.
      expect(haproxyCfg).toContain(`frontend ${info.name}\n  bind :${info.defaultPort}\n`);
      expect(haproxyCfg).toContain(`server-template ${info.name}- 2 ${info.name}:${info.defaultPort} check resolvers docker`);
    }
    expect(replicated.services.haproxy!.ports).toEqual(expect.arrayContaining(['4000:4000', '2575:2575']));
    expect(replicated.services.haproxy!.volumes).toEqual(['./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro']);
    expect(haproxyCfg).toMatch(/http-check send meth GET uri \/ready/);
  });

  it('has every replica serve on after SIGTERM (SHUTDOWN_DELAY_MS) until HAProxy\'s checks have it out, within stop_grace_period', () => {
    // The checks of a backend: its own default-server line, else the defaults'.
    const checks = (name: string) => {
      const backend = haproxyCfg.split(`backend ${name}\n`)[1]!.split('\n\n')[0]!;
      const line = /default-server (.*)/.exec(backend)?.[1] ?? /defaults[\s\S]*?default-server (.*)/.exec(haproxyCfg)![1]!;
      const ms = (key: string) => {
        const [, value, unit] = new RegExp(`${key} (\\d+)(ms|s)`).exec(line)!;
        return Number(value) * (unit === 's' ? 1000 : 1);
      };
      return { inter: ms('inter'), fastinter: ms('fastinter'), fall: Number(/fall (\d+)/.exec(line)![1]) };
    };
    for (const info of [GATEWAY, ...SUBGRAPH_NAMES.map((name) => SUBGRAPHS[name])]) {
      const service = replicated.services[info.name]!;
      const env = service.environment as Record<string, string>;
      const { inter, fastinter, fall } = checks(info.name);
      // The first check after the signal comes within `inter`; `fall - 1` more at `fastinter` mark it down.
      expect(Number(env.SHUTDOWN_DELAY_MS), info.name).toBeGreaterThan(inter + (fall - 1) * fastinter);
      expect(Number.parseInt(service.stop_grace_period ?? '10s', 10) * 1000).toBeGreaterThan(Number(env.SHUTDOWN_DELAY_MS) + Number(env.SHUTDOWN_GRACE_MS ?? 20_000));
    }
  });

  it.runIf(existsSync('/usr/sbin/haproxy'))('is a configuration HAProxy accepts', () => {
    const output = execFileSync('/usr/sbin/haproxy', ['-c', '-f', path.join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(output).toMatch(/valid/);
  });

  it.runIf(dockerCompose)('passes docker-compose config', () => {
    const output = execFileSync(dockerCompose!, ['-f', path.join(ROOT, 'docker-compose.replicas.yml'), 'config', '-q'], {
      env: { ...process.env, AUTH_ISSUER: 'https://idp.example.org', AUTH_JWKS_URL: 'https://idp.example.org/jwks' },
      cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(output).toBe('');
  });
});
