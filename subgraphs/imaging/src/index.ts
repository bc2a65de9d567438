/** The imaging subgraph: DICOM imaging studies and radiology reports. */
import type { SubgraphModule } from '../../../lib/subgraph.js';
import { resolvers } from './resolvers.js';

export const imaging: SubgraphModule = { name: 'imaging', resolvers };
export { seeder } from './seed.js';
