/** The encounters subgraph: visits, ICD-10 diagnoses and referrals between organisations. */
import type { SubgraphModule } from '../../../lib/subgraph.js';
import { resolvers } from './resolvers.js';

export const encounters: SubgraphModule = { name: 'encounters', resolvers };
export { seeder } from './seed.js';
