/**
 * What `docker compose --profile local up` runs besides the production
 * services, run here without Docker (docker-compose.yml is checked in
 * test/docker-compose.test.ts): local-setup (scripts/local-setup.ts) writes
 * the keys once and seeds demo data only when asked; local-idp
 * (scripts/local-idp.ts) serves a key set and tokens the gateway's own
 * verifier accepts in production mode, and refuses claims the gateway would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../gateway/src/auth.js';
import { SUBGRAPH_NAMES, SUBGRAPHS } from '../lib/runtime/services.js';
import { openSubgraphDatabase, ROOT } from '../lib/runtime/subgraph.js';
import { freePort } from '../scripts/process-stack.js';

const run = promisify(execFile);
const script = (name: string) => ['--import', 'tsx', path.join(ROOT, 'scripts', `${name}.ts`)];

describe('the local profile\'s services', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'local-profile-'));
  const secrets = path.join(scratch, 'secrets');
  const databases = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [`${SUBGRAPHS[name].envPrefix}_DATABASE_URL`, `pglite://${path.join(scratch, name)}`]));
  let idp: ChildProcess | undefined;
  afterAll(() => {
    idp?.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  });
  const setup = (env: Record<string, string>) => run(process.execPath, [...script('local-setup'), secrets], { cwd: ROOT, env: { ...process.env, ...databases, ...env } });

  it('local-setup writes the internal keys and the identity provider\'s key once, private to their owner', { timeout: 120_000 }, async () => {
    await setup({ DEMO_PATIENTS: '0' });
    const files = readdirSync(secrets).sort();
    expect(files).toEqual(['encounters.private.jwk.json', 'gateway.private.jwk.json', 'identity.private.jwk.json', 'imaging.private.jwk.json', 'internal-public-keys.json',
      'labs.private.jwk.json', 'local-issuer.jwks.json', 'local-issuer.private.jwk.json', 'public-health.private.jwk.json']);
    for (const file of files) expect(statSync(path.join(secrets, file)).mode & 0o077, file).toBe(0);
    const before = Object.fromEntries(files.map((f) => [f, readFileSync(path.join(secrets, f), 'utf8')]));
    await setup({ DEMO_PATIENTS: '0' });
    expect(Object.fromEntries(files.map((f) => [f, readFileSync(path.join(secrets, f), 'utf8')]))).toEqual(before);
    // A directory where a key file belongs (compose up before local-setup): said in one line, exit 1, nothing else written.
    const broken = path.join(scratch, 'broken');
    mkdirSync(path.join(broken, 'internal-public-keys.json'), { recursive: true });
    const refused = await run(process.execPath, [...script('local-setup'), broken], { cwd: ROOT, env: { ...process.env, DEMO_PATIENTS: '0' } }).catch((error: { code: number; stderr: string }) => error);
    expect(refused).toMatchObject({ code: 1 });
    expect((refused as { stderr: string }).stderr).toMatch(/is a directory.*run local-setup before up/);
    expect(readdirSync(broken)).toEqual(['internal-public-keys.json']);
    // The file names are those docker-compose.yml's secrets name.
    const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    for (const file of files.filter((f) => !f.startsWith('local-'))) expect(compose).toContain(`./secrets/${file}`);
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
    idp = spawn(process.execPath, script('local-idp'), { cwd: ROOT, env: { ...process.env, LOCAL_IDP_PORT: String(port), LOCAL_IDP_ISSUER: issuer, LOCAL_IDP_KEY_DIR: secrets }, stdio: 'ignore' });
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
