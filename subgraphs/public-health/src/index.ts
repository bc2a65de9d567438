/** The public-health subgraph: programmes, enrolments, immunisations, follow-up tasks, home measurements. */
import type { SubgraphModule } from '../../../lib/subgraph.js';
import { resolvers } from './resolvers.js';

export const publicHealth: SubgraphModule = { name: 'public-health', resolvers };
export { seeder } from './seed.js';
