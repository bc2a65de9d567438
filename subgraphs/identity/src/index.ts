/** The identity subgraph: owner of Patient, identifiers and the alliance registry. */
import type { SubgraphModule } from '../../../lib/subgraph.js';
import { resolvers } from './resolvers.js';

export const identity: SubgraphModule = { name: 'identity', resolvers };
export { seeder } from './seed.js';
