/** Every subgraph of the product with its seeder, by name. */
import type { Seeder } from '../lib/seed-types.js';
import type { SubgraphName } from '../lib/services.js';
import type { SubgraphModule } from '../lib/subgraph.js';
import * as encounters from './encounters/src/index.js';
import * as identity from './identity/src/index.js';
import * as imaging from './imaging/src/index.js';
import * as labs from './labs/src/index.js';
import * as publicHealth from './public-health/src/index.js';

export const SUBGRAPH_MODULES: Record<SubgraphName, { module: SubgraphModule; seeder: Seeder }> = {
  identity: { module: identity.identity, seeder: identity.seeder },
  encounters: { module: encounters.encounters, seeder: encounters.seeder },
  labs: { module: labs.labs, seeder: labs.seeder },
  imaging: { module: imaging.imaging, seeder: imaging.seeder },
  'public-health': { module: publicHealth.publicHealth, seeder: publicHealth.seeder },
};
