/**
 * Token verification configuration: keys from a JWKS URL (fetched again when
 * a token names an unknown kid, as after a key rotation at the identity
 * provider), and the refusal of development keys in production.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../src/auth.js';
import { generateDevKeys, keyringOf } from '../../lib/trust/keys.js';

const ISSUER = 'https://idp.example.org/realms/alliance';
const AUDIENCE = 'fpr-gateway';

async function keyPair(kid: string, alg: 'RS256' | 'ES256' | 'EdDSA') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } as JWK, kid, alg };
}

const sign = (key: Awaited<ReturnType<typeof keyPair>>, claims: Record<string, unknown> = {}) =>
  new SignJWT({ role: 'clinician', org: 'org-county-north', scope: 'user/*.rs', ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('dr-1').setIssuedAt().setExpirationTime('5m')
    .sign(key.privateKey);

describe('JWKS from an identity provider', () => {
  let server: http.Server;
  let url: string;
  let published: JWK[] = [];
  let fetches = 0;

  beforeAll(async () => {
    server = http.createServer((_request, response) => {
      fetches++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('accepts RS256, ES256 and EdDSA tokens and picks up a rotated key on an unknown kid', async () => {
    const rsa = await keyPair('rsa-1', 'RS256');
    const ec = await keyPair('ec-1', 'ES256');
    const ed = await keyPair('ed-1', 'EdDSA');
    published = [rsa.publicJwk, ec.publicJwk];
    const verify = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: url, production: true, jwksCooldownMs: 0 });
    expect((await verify(`Bearer ${await sign(rsa)}`)).sub).toBe('dr-1');
    expect((await verify(`Bearer ${await sign(ec)}`)).role).toBe('clinician');
    const before = fetches;
    // Rotation: the provider publishes a new key; a token with its kid triggers a refetch.
    published = [ec.publicJwk, ed.publicJwk];
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(verify(`Bearer ${await sign(ed)}`)).resolves.toMatchObject({ org: 'org-county-north' });
    expect(fetches).toBeGreaterThan(before);
  });

  it('refuses a token whose kid the provider does not publish, with UNAUTHENTICATED', async () => {
    const stray = await keyPair('stray', 'ES256');
    const verify = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: url, production: true });
    await expect(verify(`Bearer ${await sign(stray)}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });
});

describe('development keys', () => {
  it('are refused by a production gateway', async () => {
    const dev = await generateDevKeys();
    expect(() => createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, keySet: { keys: [dev.issuerPublic] }, production: true })).toThrow(/development key/);
    expect(() => createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, keySet: { keys: [dev.issuerPublic] }, production: false })).not.toThrow();
  });

  it('are not minted by npm run token in production', async () => {
    const run = promisify(execFile);
    await expect(run('npx', ['tsx', 'scripts/token.ts', '--role', 'clinician', '--org', 'org-provincial'], { env: { ...process.env, NODE_ENV: 'production' } }))
      .rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/production/) });
  });

  it('are refused as the internal key of a production subgraph', async () => {
    const run = promisify(execFile);
    const dev = await generateDevKeys();
    await expect(run('npx', ['tsx', 'scripts/service.ts', 'labs'], {
      env: { ...process.env, NODE_ENV: 'production', INTERNAL_TOKEN_PRIVATE_KEY: JSON.stringify(dev.internal.labs.privateJwk), INTERNAL_TOKEN_PUBLIC_KEYS: JSON.stringify(keyringOf(dev.internal, 'labs').publicJwks), LABS_DATABASE_URL: 'memory://', LABS_PORT: '0' },
    })).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/development key/) });
  });
});
