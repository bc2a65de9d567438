/**
 * Keys: the development key set the product creates on first start, and
 * loading keys from the environment or files in production.
 *
 * Keys:
 * - the development token issuer (ES256): `npm run token` signs user tokens
 *   with it and the gateway trusts it only outside production;
 * - one internal key pair (X25519) per service: each service authenticates its
 *   internal tokens with its own private key and knows every service's
 *   public key (lib/trust/internal-token.ts). In production they come from
 *   INTERNAL_TOKEN_PRIVATE_KEY(_FILE) (the service's own) and
 *   INTERNAL_TOKEN_PUBLIC_KEYS(_FILE) (service name → public JWK), created by
 *   `npm run keys:internal`.
 *
 * Development keys carry a `kid` starting with `dev-`; production refuses them.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { isServiceName, SERVICE_NAMES, type ServiceKeyring, type ServiceName } from './internal-token.js';

export const DEV_KEY_PREFIX = 'dev-';
export const DEV_ISSUER = 'https://dev-issuer.fpr.local';
export const DEFAULT_AUDIENCE = 'fpr-gateway';

export interface KeyPair {
  privateJwk: JWK;
  publicJwk: JWK;
}

export interface DevKeys {
  issuerPrivate: JWK;
  issuerPublic: JWK;
  /** The SMART authorization server's signing key (gateway/src/smart/): development and tests; production sets SMART_SIGNING_KEY. */
  authorizationServerPrivate: JWK;
  /** Each service's internal key pair. */
  internal: Record<ServiceName, KeyPair>;
}

export const defaultKeyDirectory = () => path.resolve(process.env.DEV_KEY_DIR ?? '.data/keys');

async function keyPair(alg: 'ES256', kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
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
  const authorizationServer = await keyPair('ES256', `${prefix}authorization-server-${stamp}`);
  return { issuerPrivate: issuer.privateJwk, issuerPublic: issuer.publicJwk, authorizationServerPrivate: authorizationServer.privateJwk, internal: await serviceKeyPairs(`${prefix}`, stamp) };
}

/** One X25519 pair per service (key agreement: see lib/trust/internal-token.ts), kid `<prefix><service>-<stamp>`. */
export async function serviceKeyPairs(prefix: string, stamp: string): Promise<Record<ServiceName, KeyPair>> {
  return Object.fromEntries(SERVICE_NAMES.map((name) => {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const meta = { kid: `${prefix}${name}-${stamp}`, alg: 'ECDH-ES', use: 'enc' };
    return [name, { privateJwk: { ...(privateKey.export({ format: 'jwk' }) as JWK), ...meta }, publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), ...meta } }];
  })) as Record<ServiceName, KeyPair>;
}

/** A service's keyring from a key set holding every service's pair. */
export function keyringOf(internal: Record<ServiceName, KeyPair>, self: ServiceName): ServiceKeyring {
  return {
    self,
    privateJwk: internal[self].privateJwk,
    publicJwks: Object.fromEntries(SERVICE_NAMES.map((name) => [name, internal[name].publicJwk])) as Record<ServiceName, JWK>,
  };
}

const isJwk = (value: unknown): value is JWK => typeof value === 'object' && value !== null && typeof (value as JWK).kty === 'string';

const isInternalKey = (value: unknown) => isJwk(value) && (value as JWK).crv === 'X25519';

function validDevKeys(value: unknown): value is DevKeys {
  const keys = value as Partial<DevKeys> | null;
  return Boolean(keys && isJwk(keys.issuerPrivate) && isJwk(keys.issuerPublic) && isJwk(keys.authorizationServerPrivate) && validInternal(keys.internal));
}

const validInternal = (internal: Partial<DevKeys['internal']> | undefined) =>
  Boolean(internal && SERVICE_NAMES.every((name) => isInternalKey(internal[name]?.privateJwk) && isInternalKey(internal[name]?.publicJwk)));

/**
 * Creates the development keys once (first start) and returns them. A key
 * file from an older version keeps its issuer key, so tokens already minted
 * stay valid, and gets what it lacks (one internal pair per service, the
 * authorization server's key). A file that cannot be read as keys is a configuration error
 * that says what to do.
 */
export async function ensureDevKeys(directory = defaultKeyDirectory()): Promise<DevKeys> {
  const file = path.join(directory, 'dev-keys.json');
  if (existsSync(file)) {
    let stored: unknown;
    try {
      stored = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      throw new ConfigurationError(`${file} is not a valid key file (not JSON). Delete it and start again: a new development key set is created (tokens minted before stop working).`);
    }
    if (validDevKeys(stored)) return stored;
    const old = stored as Partial<DevKeys> | null;
    if (!old || !isJwk(old.issuerPrivate) || !isJwk(old.issuerPublic)) {
      throw new ConfigurationError(`${file} does not hold the development keys. Delete it and start again: a new development key set is created.`);
    }
    const stamp = Date.now().toString(36);
    const upgraded: DevKeys = {
      issuerPrivate: old.issuerPrivate, issuerPublic: old.issuerPublic,
      authorizationServerPrivate: isJwk(old.authorizationServerPrivate) ? old.authorizationServerPrivate : (await keyPair('ES256', `${DEV_KEY_PREFIX}authorization-server-${stamp}`)).privateJwk,
      internal: validInternal(old.internal) ? old.internal! : await serviceKeyPairs(DEV_KEY_PREFIX, stamp),
    };
    await writeFile(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
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

/**
 * The keyring of service `self` from the environment: its own private key
 * (INTERNAL_TOKEN_PRIVATE_KEY or _FILE) and every service's public key
 * (INTERNAL_TOKEN_PUBLIC_KEYS or _FILE: `{ "gateway": <JWK>, "identity": <JWK>, ... }`).
 * Outside production, unset variables fall back to the development keys.
 */
export async function keyringFromEnv(self: ServiceName, production: boolean, devKeys: () => Promise<DevKeys>, env: NodeJS.ProcessEnv = process.env): Promise<ServiceKeyring> {
  const privateJwk = await jsonFromEnvChecked<JWK>('INTERNAL_TOKEN_PRIVATE_KEY', env);
  const publicJwks = await jsonFromEnvChecked<Record<string, JWK>>('INTERNAL_TOKEN_PUBLIC_KEYS', env);
  if (!privateJwk || !publicJwks) {
    if (production) throw new ConfigurationError('INTERNAL_TOKEN_PRIVATE_KEY(_FILE) and INTERNAL_TOKEN_PUBLIC_KEYS(_FILE) are required in production (create them with npm run keys:internal)');
    const dev = keyringOf((await devKeys()).internal, self);
    return { self, privateJwk: privateJwk ?? dev.privateJwk, publicJwks: (publicJwks as Record<ServiceName, JWK> | undefined) ?? dev.publicJwks };
  }
  if (!isJwk(privateJwk)) throw new ConfigurationError('INTERNAL_TOKEN_PRIVATE_KEY is not a JWK');
  const unknown = Object.keys(publicJwks).filter((name) => !isServiceName(name));
  if (unknown.length) throw new ConfigurationError(`INTERNAL_TOKEN_PUBLIC_KEYS names unknown services: ${unknown.join(', ')}`);
  const missing = SERVICE_NAMES.filter((name) => !isJwk(publicJwks[name]));
  if (missing.length) throw new ConfigurationError(`INTERNAL_TOKEN_PUBLIC_KEYS lacks the public key of ${missing.join(', ')}`);
  refuseDevKeyInProduction(privateJwk, 'INTERNAL_TOKEN_PRIVATE_KEY', production);
  for (const name of SERVICE_NAMES) refuseDevKeyInProduction(publicJwks[name]!, `INTERNAL_TOKEN_PUBLIC_KEYS.${name}`, production);
  return { self, privateJwk, publicJwks: publicJwks as Record<ServiceName, JWK> };
}

/** jsonFromEnv, with a configuration error naming the variable when the JSON is malformed or the file missing. */
async function jsonFromEnvChecked<T>(name: string, env: NodeJS.ProcessEnv): Promise<T | undefined> {
  try {
    return await jsonFromEnv<T>(name, env);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = env[name] ? name : `${name}_FILE (${env[`${name}_FILE`]})`;
    throw new ConfigurationError(code === 'ENOENT' ? `${where}: no such file` : `${where} is not valid JSON`);
  }
}
