/**
 * `docker compose -f docker-compose.local.yml up` (docs/deployment.md, "Trying
 * it locally with Docker Compose"): what a fresh machine needs before the
 * services can run, done in the `local-setup` container (as root) before any
 * service starts (they wait for it: depends_on service_completed_successfully):
 *
 * - the internal keys, as `npm run keys:internal` makes them, each private key
 *   in a directory of its own (`<service>/<service>.private.jwk.json`: a volume
 *   of its own in docker-compose.local.yml, which only that service mounts, so a
 *   service never sees another's private key, as with compose secrets) and the
 *   six public keys in `public/internal-public-keys.json`; unless they all exist;
 * - the development identity provider's signing key
 *   (`local-idp/local-issuer.private.jwk.json`, `local-idp/local-issuer.jwks.json`),
 *   unless it exists; `local-idp` (scripts/local-idp.ts) signs tokens with it;
 * - with DEMO_PATIENTS > 0, the demo data set (registries and patients) in the
 *   five databases, once (databases that hold patients are left alone);
 *   otherwise nothing: load the registries with `npm run bootstrap`.
 *
 * Files are made readable by the containers' `node` user (uid 1000) only.
 */
import { chown, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SERVICE_NAMES } from '../lib/trust/internal-token.js';
import { generateDevKeys, serviceKeyPairs } from '../lib/trust/keys.js';
import { databaseUrl, SUBGRAPH_NAMES, SUBGRAPHS, type SubgraphName } from '../lib/runtime/services.js';
import { openSubgraphDatabase } from '../lib/runtime/subgraph.js';
import type { Database } from '../lib/runtime/db.js';
import { DEFAULT_SEED } from '../lib/synthetic/generator.js';
import { hasPatients, seedDemoData } from './seed-data.js';
import { demoAnchor } from './demo.js';

const directory = path.resolve(process.argv[2] ?? '/keys');
const NODE_UID = 1000;
const PUBLIC_KEYS = 'public/internal-public-keys.json';
const privateKeyFile = (name: string) => `${name}/${name}.private.jwk.json`;
const ISSUER_PRIVATE = 'local-idp/local-issuer.private.jwk.json';
const ISSUER_JWKS = 'local-idp/local-issuer.jwks.json';

const exists = async (file: string) => Boolean(await stat(path.join(directory, file)).catch(() => null));
const write = async (file: string, text: string) => {
  const at = path.join(directory, file);
  await mkdir(path.dirname(at), { recursive: true });
  await writeFile(at, text, { mode: 0o600 });
  if (process.getuid?.() === 0) await chown(at, NODE_UID, NODE_UID);
};

// The internal keys are one set (the public file must hold each private key's public half): written whole unless whole.
const internalFiles = [PUBLIC_KEYS, ...SERVICE_NAMES.map(privateKeyFile)];
if (!(await Promise.all(internalFiles.map(exists))).every(Boolean)) {
  const pairs = await serviceKeyPairs('internal-', `${new Date().toISOString().slice(0, 10)}-${Math.random().toString(36).slice(2, 8)}`);
  for (const name of SERVICE_NAMES) await write(privateKeyFile(name), JSON.stringify(pairs[name].privateJwk));
  await write(PUBLIC_KEYS, JSON.stringify(Object.fromEntries(SERVICE_NAMES.map((name) => [name, pairs[name].publicJwk])), null, 2));
  console.log(`local-setup: wrote the internal keys to ${directory}`);
}
if (!(await exists(ISSUER_PRIVATE)) || !(await exists(ISSUER_JWKS))) {
  const { issuerPrivate, issuerPublic } = await generateDevKeys('local-');
  await write(ISSUER_PRIVATE, JSON.stringify(issuerPrivate));
  await write(ISSUER_JWKS, JSON.stringify({ keys: [issuerPublic] }));
  console.log('local-setup: wrote the development identity provider\'s key');
}

const patients = Number(process.env.DEMO_PATIENTS ?? 0);
if (!Number.isInteger(patients) || patients < 0 || patients > 100_000) {
  console.error('local-setup: DEMO_PATIENTS must be a whole number from 0 to 100000');
  process.exit(2);
}
if (patients > 0) {
  const stores = {} as Record<SubgraphName, Database>;
  for (const name of SUBGRAPH_NAMES) stores[name] = await openSubgraphDatabase(name, databaseUrl(SUBGRAPHS[name]));
  try {
    if (await hasPatients(stores.identity)) console.log('local-setup: the databases hold patients already; no demo data added');
    else {
      await seedDemoData(stores, { seed: DEFAULT_SEED, anchor: demoAnchor(), patients });
      console.log(`local-setup: seeded ${patients} demo patients`);
    }
  } finally {
    await Promise.all(Object.values(stores).map((db) => db.close()));
  }
}
