/**
 * Keys: the development key set the product creates on first start, and
 * loading keys from the environment or files in production.
 *
 * Two key pairs exist:
 * - the development token issuer (ES256): `npm run token` signs user tokens
 *   with it and the gateway trusts it only outside production;
 * - the internal key (Ed25519): the gateway signs the actor token of every
 *   subgraph call with the private half, subgraphs verify with the public half.
 *
 * Development keys carry a `kid` starting with `dev-`; production refuses them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export const DEV_KEY_PREFIX = 'dev-';
export const DEV_ISSUER = 'https://dev-issuer.fpr.local';
export const DEFAULT_AUDIENCE = 'fpr-gateway';

export interface DevKeys {
  issuerPrivate: JWK;
  issuerPublic: JWK;
  internalPrivate: JWK;
  internalPublic: JWK;
}

export const defaultKeyDirectory = () => path.resolve(process.env.DEV_KEY_DIR ?? '.data/keys');

async function keyPair(alg: 'ES256' | 'EdDSA', kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const meta = { kid, alg, use: 'sig' };
  return { privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...(await exportJWK(publicKey)), ...meta } };
}

/**
 * Generates a fresh key set. The tests use one per run with their own prefix,
 * so they can run the stack in production mode.
 */
export async function generateDevKeys(prefix = DEV_KEY_PREFIX): Promise<DevKeys> {
  const stamp = Date.now().toString(36);
  const issuer = await keyPair('ES256', `${prefix}issuer-${stamp}`);
  const internal = await keyPair('EdDSA', `${prefix}internal-${stamp}`);
  return { issuerPrivate: issuer.privateJwk, issuerPublic: issuer.publicJwk, internalPrivate: internal.privateJwk, internalPublic: internal.publicJwk };
}

/** Creates the development keys once (first start) and returns them. */
export async function ensureDevKeys(directory = defaultKeyDirectory()): Promise<DevKeys> {
  const file = path.join(directory, 'dev-keys.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as DevKeys;
  const keys = await generateDevKeys();
  await mkdir(directory, { recursive: true });
  await writeFile(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
}

/**
 * Reads a JWK (or JWKS) from `<NAME>` (inline JSON) or `<NAME>_FILE` (path).
 * Returns undefined when neither is set.
 */
export async function jsonFromEnv<T>(name: string, env: NodeJS.ProcessEnv = process.env): Promise<T | undefined> {
  const inline = env[name];
  if (inline) return JSON.parse(inline) as T;
  const file = env[`${name}_FILE`];
  if (file) return JSON.parse(await readFile(file, 'utf8')) as T;
  return undefined;
}

export const isDevKey = (jwk: { kid?: string }) => (jwk.kid ?? '').startsWith(DEV_KEY_PREFIX);

export class ConfigurationError extends Error {}

/** In production a development key is a configuration error, never a fallback. */
export function refuseDevKeyInProduction(jwk: { kid?: string }, what: string, production: boolean): void {
  if (production && isDevKey(jwk)) throw new ConfigurationError(`${what} is a development key; production needs its own keys`);
}
