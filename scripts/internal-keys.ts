/**
 * `npm run keys:internal -- <directory>`: creates the internal keys of one
 * environment: an X25519 key pair per service (gateway and each subgraph).
 * Each service gets its own private key (`<service>.private.jwk.json`, for
 * INTERNAL_TOKEN_PRIVATE_KEY_FILE) and every service the same
 * `internal-public-keys.json` (INTERNAL_TOKEN_PUBLIC_KEYS_FILE: service name →
 * public key). See lib/trust/internal-token.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SERVICE_NAMES } from '../lib/trust/internal-token.js';
import { serviceKeyPairs } from '../lib/trust/keys.js';

const directory = path.resolve(process.argv[2] ?? 'secrets');
const stamp = `${new Date().toISOString().slice(0, 10)}-${Math.random().toString(36).slice(2, 8)}`;
const pairs = await serviceKeyPairs('internal-', stamp);
await mkdir(directory, { recursive: true });
for (const name of SERVICE_NAMES) {
  await writeFile(path.join(directory, `${name}.private.jwk.json`), JSON.stringify(pairs[name].privateJwk), { mode: 0o600 });
}
await writeFile(path.join(directory, 'internal-public-keys.json'), JSON.stringify(Object.fromEntries(SERVICE_NAMES.map((name) => [name, pairs[name].publicJwk])), null, 2));
console.log(`wrote ${directory}/<service>.private.jwk.json for ${SERVICE_NAMES.join(', ')} and ${directory}/internal-public-keys.json`);
