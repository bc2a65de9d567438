/** The labs subgraph: laboratory observations and diagnostic reports (lab panels, ECG, pathology). */
import type { SubgraphModule } from '../../../lib/subgraph.js';
import { consentRules } from './access.js';
import { resolvers } from './resolvers.js';
import { timeline } from './timeline.js';

export const labs: SubgraphModule = { name: 'labs', resolvers, consentRules, timeline };
