/**
 * Every subgraph of the product, by name. Seeders live apart
 * (subgraphs/seeders.ts): a running service never loads the synthetic data.
 */
import type { SubgraphName } from '../lib/runtime/services.js';
import type { SubgraphModule } from '../lib/runtime/subgraph.js';
import * as encounters from './encounters/src/index.js';
import * as identity from './identity/src/index.js';
import * as imaging from './imaging/src/index.js';
import * as labs from './labs/src/index.js';
import * as publicHealth from './public-health/src/index.js';

export const SUBGRAPH_MODULES: Record<SubgraphName, { module: SubgraphModule }> = {
  identity: { module: identity.identity },
  encounters: { module: encounters.encounters },
  labs: { module: labs.labs },
  imaging: { module: imaging.imaging },
  'public-health': { module: publicHealth.publicHealth },
};
