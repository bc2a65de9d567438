/**
 * Where the large benchmark sets live: the server seed:large writes them to
 * and the databases of each set, which the benchmarks and the plan scripts
 * read (one place, so a set seeded with --database-prefix is found by all).
 */
import pg from 'pg';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';

/** The PostgreSQL server of the large sets (seed:large and the benchmarks): SEED_POSTGRES_URL, or the local one. */
export const SEED_SERVER = process.env.SEED_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The databases of a large set seed:large wrote: `<prefix><subgraph>` (fpr_identity, fpr_labs…; `seed:large
 * --database-prefix` names another set) on SEED_SERVER.
 */
export function largeSetUrls(prefix = 'fpr_'): Record<SubgraphName, string> {
  return Object.fromEntries(SUBGRAPH_NAMES.map((name) => {
    const url = new URL(SEED_SERVER);
    url.pathname = `/${prefix}${name.replace('-', '_')}`;
    return [name, url.toString()];
  })) as Record<SubgraphName, string>;
}

/** A connection to one of the set's databases, with settings for its session (seed:large's loaders and key builders). */
export async function connectWith(url: string, settings: string[] = []): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const setting of settings) await client.query(setting);
  return client;
}
