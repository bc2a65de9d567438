/** The imaging subgraph: DICOM imaging studies and radiology reports. */
import type { SubgraphModule } from '../../../lib/subgraph.js';
import { consentRules } from './access.js';
import { resolvers } from './resolvers.js';
import { timeline } from './timeline.js';

export const imaging: SubgraphModule = { name: 'imaging', resolvers, consentRules, timeline };
