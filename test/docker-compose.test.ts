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
  `${GATEWAY.envPrefix}_PORT`, ...COMMON_ENV.gateway, 'INTERNAL_TOKEN_PRIVATE_KEY_FILE', 'INTERNAL_TOKEN_PUBLIC_KEYS_FILE', 'AUTH_PUBLIC_KEYS_FILE',
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
    // Its own internal key, and every service's public key.
    const key = `${name.replace('-', '_')}_internal_key`;
    expect(env.INTERNAL_TOKEN_PRIVATE_KEY_FILE).toBe(`/run/secrets/${key}`);
    expect(env.INTERNAL_TOKEN_PUBLIC_KEYS_FILE).toBe('/run/secrets/internal_public_keys');
    expect(service.secrets).toEqual([key, 'internal_public_keys']);
    expect(compose.secrets[key]!.file).toBe(`./secrets/${name}.private.jwk.json`);
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
    const known = new Set<string>([`${prefix}_PORT`, `${prefix}_DATABASE_URL`, ...COMMON_ENV.subgraph, 'INTERNAL_TOKEN_PRIVATE_KEY_FILE', 'INTERNAL_TOKEN_PUBLIC_KEYS_FILE', ...peerUrls]);
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
    expect(env.INTERNAL_TOKEN_PRIVATE_KEY_FILE).toBe('/run/secrets/gateway_internal_key');
    expect(env.INTERNAL_TOKEN_PUBLIC_KEYS_FILE).toBe('/run/secrets/internal_public_keys');
    expect(Object.keys(gateway.depends_on ?? {}).sort()).toEqual([...SUBGRAPH_NAMES].sort());
    expect(compose.secrets.gateway_internal_key!.file).toBe('./secrets/gateway.private.jwk.json');
    expect(compose.secrets.internal_public_keys!.file).toBe('./secrets/internal-public-keys.json');
  });

  it('has a Dockerfile that copies everything the services import', () => {
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    for (const folder of ['lib', 'gateway', 'subgraphs', 'schema', 'scripts']) expect(dockerfile).toContain(`COPY ${folder} ./${folder}`);
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
