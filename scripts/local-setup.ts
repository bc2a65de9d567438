/**
 * `docker compose --profile local up` (docker-compose.yml, docs/deployment.md):
 * what a fresh machine needs before the services can run, done once, in the
 * `local-setup` container (as root, writing ./secrets of the checkout):
 *
 * - the internal keys (`<service>.private.jwk.json`, `internal-public-keys.json`,
 *   as `npm run keys:internal` makes them), unless they exist;
 * - the development identity provider's signing key
 *   (`local-issuer.private.jwk.json`, `local-issuer.jwks.json`), unless it exists;
 *   `local-idp` (scripts/local-idp.ts) signs tokens with it;
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

const directory = path.resolve(process.argv[2] ?? '/secrets');
const NODE_UID = 1000;
const exists = async (file: string) => {
  const found = await stat(path.join(directory, file)).catch(() => null);
  // `docker compose up` before local-setup makes Docker create a directory where each missing secret file should be.
  if (found?.isDirectory()) {
    console.error(`local-setup: ${path.join(directory, file)} is a directory (compose made it for a secret file that did not exist yet): remove the secrets directory's contents and run local-setup before up`);
    process.exit(1);
  }
  return Boolean(found);
};
const write = async (file: string, text: string) => {
  const at = path.join(directory, file);
  await writeFile(at, text, { mode: 0o600 });
  if (process.getuid?.() === 0) await chown(at, NODE_UID, NODE_UID);
};

await mkdir(directory, { recursive: true });
if (!(await exists('internal-public-keys.json'))) {
  const pairs = await serviceKeyPairs('internal-', `${new Date().toISOString().slice(0, 10)}-${Math.random().toString(36).slice(2, 8)}`);
  for (const name of SERVICE_NAMES) await write(`${name}.private.jwk.json`, JSON.stringify(pairs[name].privateJwk));
  await write('internal-public-keys.json', JSON.stringify(Object.fromEntries(SERVICE_NAMES.map((name) => [name, pairs[name].publicJwk])), null, 2));
  console.log(`local-setup: wrote the internal keys to ${directory}`);
}
if (!(await exists('local-issuer.private.jwk.json'))) {
  const { issuerPrivate, issuerPublic } = await generateDevKeys('local-');
  await write('local-issuer.private.jwk.json', JSON.stringify(issuerPrivate));
  await write('local-issuer.jwks.json', JSON.stringify({ keys: [issuerPublic] }));
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
