/**
 * `npm run keys:internal -- <directory>`: creates a production key pair for
 * the gateway-to-subgraph actor tokens (Ed25519): the private half for the
 * gateway (INTERNAL_TOKEN_PRIVATE_KEY_FILE), the public half for every
 * subgraph (INTERNAL_TOKEN_PUBLIC_KEY_FILE). Use one pair per environment.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';

const directory = path.resolve(process.argv[2] ?? 'secrets');
const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
const kid = `internal-${new Date().toISOString().slice(0, 10)}-${Math.random().toString(36).slice(2, 8)}`;
const meta = { kid, alg: 'EdDSA', use: 'sig' };
await mkdir(directory, { recursive: true });
await writeFile(path.join(directory, 'internal-token.private.jwk.json'), JSON.stringify({ ...(await exportJWK(privateKey)), ...meta }), { mode: 0o600 });
await writeFile(path.join(directory, 'internal-token.public.jwk.json'), JSON.stringify({ ...(await exportJWK(publicKey)), ...meta }));
console.log(`wrote ${directory}/internal-token.{private,public}.jwk.json (kid ${kid})`);
