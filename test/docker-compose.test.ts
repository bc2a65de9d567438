/**
 * docker-compose.yml is a deliverable that cannot run here (no Docker engine),
 * so it is checked against the code: the services exist, each subgraph has
 * its own PostgreSQL database, and every variable is one the code reads, with
 * ports and URLs that agree. When Debian's docker-compose is installed, its
 * own `config` check runs too.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { COMMON_ENV, GATEWAY, SUBGRAPH_NAMES, SUBGRAPH_PEERS, SUBGRAPHS } from '../lib/services.js';
import { ROOT } from '../lib/subgraph.js';

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  image?: string;
  build?: string;
  secrets?: string[];
}

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  secrets: Record<string, { file: string }>;
};
const services = compose.services;

/** Variables the gateway may read. */
const gatewayVariables = new Set<string>([
  `${GATEWAY.envPrefix}_PORT`, ...COMMON_ENV.gateway, 'INTERNAL_TOKEN_PRIVATE_KEY_FILE', 'AUTH_PUBLIC_KEYS_FILE',
  ...SUBGRAPH_NAMES.map((name) => `${SUBGRAPHS[name].envPrefix}_URL`),
]);

describe('docker-compose.yml', () => {
  it('runs the gateway, the five subgraphs and one PostgreSQL database per subgraph', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway', ...SUBGRAPH_NAMES, ...SUBGRAPH_NAMES.map((name) => `${name}-db`)].sort());
    for (const name of SUBGRAPH_NAMES) expect(services[`${name}-db`]!.image).toMatch(/^postgres:/);
  });

  it.each(SUBGRAPH_NAMES)('configures the %s subgraph with the variables the code reads', (name) => {
    const service = services[name]!;
    const prefix = SUBGRAPHS[name].envPrefix;
    const env = service.environment!;
    expect(service.command).toEqual(['npx', 'tsx', 'scripts/service.ts', name]);
    expect(env.NODE_ENV).toBe('production');
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.INTERNAL_TOKEN_PUBLIC_KEY_FILE).toBe('/run/secrets/internal_token_public_key');
    expect(service.secrets).toEqual(['internal_token_public_key']);
    // Its own database, on its own server, which it waits for.
    const database = new URL(env[`${prefix}_DATABASE_URL`]!);
    expect(database.protocol).toBe('postgres:');
    expect(database.hostname).toBe(`${name}-db`);
    expect(Object.keys(service.depends_on ?? {})).toContain(`${name}-db`);
    // The port it listens on is the one the gateway calls.
    const gatewayUrl = new URL(services.gateway!.environment![`${prefix}_URL`]!);
    expect(gatewayUrl.hostname).toBe(name);
    expect(gatewayUrl.port).toBe(env[`${prefix}_PORT`]);
    expect(Number(env[`${prefix}_PORT`])).toBe(SUBGRAPHS[name].defaultPort);
    // Nothing the code does not read.
    const peerUrls = SUBGRAPH_PEERS[name].map((peer) => `${SUBGRAPHS[peer].envPrefix}_URL`);
    const known = new Set<string>([`${prefix}_PORT`, `${prefix}_DATABASE_URL`, ...COMMON_ENV.subgraph, 'INTERNAL_TOKEN_PUBLIC_KEY_FILE', ...peerUrls]);
    // It reaches the subgraphs whose internal APIs it calls where the gateway does.
    for (const variable of peerUrls) expect(env[variable], variable).toBe(services.gateway!.environment![variable]);
    expect(Object.keys(env).filter((variable) => !known.has(variable))).toEqual([]);
  });

  it('configures the gateway with every subgraph URL, the identity provider and its signing key', () => {
    const gateway = services.gateway!;
    const env = gateway.environment!;
    expect(gateway.command).toEqual(['npx', 'tsx', 'scripts/service.ts', 'gateway']);
    expect(Object.keys(env).filter((variable) => !gatewayVariables.has(variable))).toEqual([]);
    for (const name of SUBGRAPH_NAMES) expect(env[`${SUBGRAPHS[name].envPrefix}_URL`]).toMatch(/^http:\/\/.+\/graphql$/);
    expect(env.AUTH_JWKS_URL).toBeTruthy();
    expect(env.AUTH_ISSUER).toBeTruthy();
    expect(env.INTERNAL_TOKEN_PRIVATE_KEY_FILE).toBe('/run/secrets/internal_token_private_key');
    expect(Object.keys(gateway.depends_on ?? {}).sort()).toEqual([...SUBGRAPH_NAMES].sort());
    expect(compose.secrets.internal_token_private_key!.file).toMatch(/private/);
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
    expect(runtime).not.toMatch(/^COPY (lib|gateway|scripts) /m);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toContain('CMD ["node", "dist/scripts/service.js", "gateway"]');
  });

  const dockerCompose = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find(existsSync);
  it.runIf(dockerCompose)('passes docker-compose config', () => {
    const output = execFileSync(dockerCompose!, ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], {
      env: { ...process.env, AUTH_ISSUER: 'https://idp.example.org', AUTH_JWKS_URL: 'https://idp.example.org/jwks' },
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(output).toBe('');
  });
});
