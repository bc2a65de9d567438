/** The encounters subgraph: visits, ICD-10 diagnoses and referrals between organisations. */
import { internalRoute, type SubgraphModule } from '../../../lib/subgraph.js';
import { consentRules } from './access.js';
import { INTERNAL_PATHS } from '../../../lib/consent/access.js';
import { inpatientStay } from './discharge.js';
import { resolvers } from './resolvers.js';
import { timeline } from './timeline.js';

export const encounters: SubgraphModule = {
  name: 'encounters',
  resolvers,
  consentRules,
  timeline,
  internalRoutes: (deps) => [internalRoute(INTERNAL_PATHS.inpatientStay, deps, async (body, claims) => inpatientStay(deps.db, claims.actor, body))],
};
export { seeder } from './seed.js';
