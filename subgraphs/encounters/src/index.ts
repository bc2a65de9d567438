/** The encounters subgraph: visits, ICD-10 diagnoses and referrals between organisations. */
import type { SubgraphModule } from '../../../lib/subgraph.js';
import { consentRules } from './access.js';
import { resolvers } from './resolvers.js';
import { timeline } from './timeline.js';

export const encounters: SubgraphModule = { name: 'encounters', resolvers, consentRules, timeline };
export { seeder } from './seed.js';
