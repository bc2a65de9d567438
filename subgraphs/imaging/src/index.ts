/** The imaging subgraph: DICOM imaging studies and radiology reports. */
import type { SubgraphModule } from '../../../lib/subgraph.js';
import { consentRules } from './access.js';
import { resolvers } from './resolvers.js';

export const imaging: SubgraphModule = { name: 'imaging', resolvers, consentRules };
export { seeder } from './seed.js';
