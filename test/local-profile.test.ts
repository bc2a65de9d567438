/**
 * What `docker compose -f docker-compose.local.yml up` runs besides the
 * production services, run here without Docker (the file is checked in
 * test/docker-compose.test.ts): local-setup (scripts/local-setup.ts) writes
 * the keys once, where each service's volumes give it its own private key
 * and the public keys (each service loads them here, from the paths its
 * environment names, mapped through its volumes), and seeds demo data only
 * when asked; local-idp
 * (scripts/local-idp.ts) serves a key set and tokens the gateway's own
 * verifier accepts in production mode, and refuses claims the gateway would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createTokenVerifier } from '../gateway/src/auth.js';
import { SUBGRAPH_NAMES, SUBGRAPHS } from '../lib/runtime/services.js';
import { openSubgraphDatabase, ROOT } from '../lib/runtime/subgraph.js';
import { freePort } from '../scripts/process-stack.js';
import { SERVICE_NAMES } from '../lib/trust/internal-token.js';
import { keyringFromEnv } from '../lib/trust/keys.js';

const run = promisify(execFile);
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.local.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { command?: string[]; volumes?: string[]; environment?: Record<string, string> }>;
};

/**
 * Where a path inside a container of docker-compose.local.yml is on this
 * machine, when local-setup ran here with `keys` as its directory: the
 * service's volume mounted there is the one local-setup mounts under its own
 * directory argument (/keys), at the same relative place.
 */
function onHostIn(keys: string, service: string, inside: string): string {
  const mountsOf = (name: string) => (compose.services[name]!.volumes ?? []).map((spec) => spec.split(':') as [string, string, string?]);
  const [volume, target] = mountsOf(service).find(([, at]) => inside === at || inside.startsWith(`${at}/`)) ?? [];
  if (!volume || !target) throw new Error(`${service}: nothing mounted at ${inside}`);
  const setup = compose.services['local-setup']!;
  const root = setup.command!.at(-1)!;
  const [, setupTarget] = mountsOf('local-setup').find(([name]) => name === volume) ?? [];
  if (!setupTarget) throw new Error(`local-setup does not mount ${volume}`);
  return path.join(keys, path.posix.relative(root, setupTarget), path.posix.relative(target, inside));
}
const script = (name: string) => ['--import', 'tsx', path.join(ROOT, 'scripts', `${name}.ts`)];

describe('docker-compose.local.yml\'s own services (local-setup, local-idp)', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'local-profile-'));
  const keys = path.join(scratch, 'keys');
  const databases = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [`${SUBGRAPHS[name].envPrefix}_DATABASE_URL`, `pglite://${path.join(scratch, name)}`]));
  let idp: ChildProcess | undefined;
  afterAll(() => {
    idp?.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  });
  const onHost = (service: string, inside: string) => onHostIn(keys, service, inside);
  const setup = (env: Record<string, string>) => run(process.execPath, [...script('local-setup'), keys], { cwd: ROOT, env: { ...process.env, ...databases, ...env } });

  it('local-setup writes the internal keys and the identity provider\'s key once, private to their owner', { timeout: 120_000 }, async () => {
    await setup({ DEMO_PATIENTS: '0' });
    const files = readdirSync(keys, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile())
      .map((entry) => path.relative(keys, path.join(entry.parentPath, entry.name))).sort();
    expect(files).toEqual([...SERVICE_NAMES.map((name) => `${name}/${name}.private.jwk.json`), 'local-idp/local-issuer.jwks.json', 'local-idp/local-issuer.private.jwk.json',
      'public/internal-public-keys.json'].sort());
    for (const file of files) expect(statSync(path.join(keys, file)).mode & 0o077, file).toBe(0);
    const before = Object.fromEntries(files.map((f) => [f, readFileSync(path.join(keys, f), 'utf8')]));
    await setup({ DEMO_PATIENTS: '0' });
    expect(Object.fromEntries(files.map((f) => [f, readFileSync(path.join(keys, f), 'utf8')]))).toEqual(before);
  });

  it.each(['gateway', ...SUBGRAPH_NAMES] as const)('%s of docker-compose.local.yml loads its own key pair from where its volumes put what local-setup wrote (production rules)', async (name) => {
    const env = compose.services[name]!.environment!;
    const keyring = await keyringFromEnv(name, true, () => Promise.reject(new Error('no development keys in production')), {
      INTERNAL_TOKEN_PRIVATE_KEY_FILE: onHost(name, env.INTERNAL_TOKEN_PRIVATE_KEY_FILE!),
      INTERNAL_TOKEN_PUBLIC_KEYS_FILE: onHost(name, env.INTERNAL_TOKEN_PUBLIC_KEYS_FILE!),
    });
    // Its own: the private key's public half is the one every other service knows it by.
    expect(keyring.privateJwk.x).toBe(keyring.publicJwks[name].x);
    for (const other of SERVICE_NAMES.filter((n) => n !== name)) expect(keyring.privateJwk.x).not.toBe(keyring.publicJwks[other].x);
  });

  it('local-setup seeds demo data only when asked, once', { timeout: 600_000 }, async () => {
    const count = async () => {
      const identity = await openSubgraphDatabase('identity', databases.IDENTITY_DATABASE_URL!);
      try {
        return (await identity.query<{ n: number }>('SELECT count(*)::int AS n FROM patient'))[0]!.n;
      } finally {
        await identity.close();
      }
    };
    expect(await count()).toBe(0);
    const seeded = await setup({ DEMO_PATIENTS: '3' });
    expect(seeded.stdout).toMatch(/seeded 3 demo patients/);
    const patients = await count();
    expect(patients).toBeGreaterThanOrEqual(3);
    const again = await setup({ DEMO_PATIENTS: '3' });
    expect(again.stdout).toMatch(/hold patients already/);
    expect(await count()).toBe(patients);
    await expect(setup({ DEMO_PATIENTS: 'lots' })).rejects.toMatchObject({ code: 2 });
  });

  it('local-idp serves tokens the gateway\'s verifier accepts (production mode), and refuses what the gateway would', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    // Its key directory as docker-compose.local.yml mounts it.
    const keyDir = onHost('local-idp', compose.services['local-idp']!.environment!.LOCAL_IDP_KEY_DIR!);
    idp = spawn(process.execPath, script('local-idp'), { cwd: ROOT, env: { ...process.env, LOCAL_IDP_PORT: String(port), LOCAL_IDP_ISSUER: issuer, LOCAL_IDP_KEY_DIR: keyDir }, stdio: 'ignore' });
    for (let ready = false; !ready;) {
      ready = await fetch(`${issuer}/ready`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const token = await (await fetch(`${issuer}/token?role=clinician&org=org-county-north`)).text();
    const verify = createTokenVerifier({ issuer, audience: 'fpr-gateway', jwksUrl: `${issuer}/jwks.json`, production: true });
    expect(await verify(`Bearer ${token.trim()}`)).toMatchObject({ role: 'clinician', org: 'org-county-north' });
    // Signed by this provider's key only: a verifier expecting another issuer refuses it.
    await expect(createTokenVerifier({ issuer: 'https://idp.example.org', audience: 'fpr-gateway', jwksUrl: `${issuer}/jwks.json`, production: true })(`Bearer ${token.trim()}`)).rejects.toBeTruthy();
    const refused = await fetch(`${issuer}/token?role=nurse`);
    expect(refused.status).toBe(400);
    expect((await refused.text()).trim().split('\n')).toHaveLength(1);
  });
});
