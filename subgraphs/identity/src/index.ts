/** The identity subgraph: owner of Patient, identifiers, consent directives and the alliance registry. */
import { identityFactsFromDatabase, INTERNAL_PATHS, patientIdsOf } from '../../../lib/consent/access.js';
import type { ConsentRules } from '../../../lib/consent/shield.js';
import { internalRoute, type SubgraphModule } from '../../../lib/subgraph.js';
import { PATIENT, resolvers } from './resolvers.js';

const consentRules: ConsentRules = {
  records: {
    Patient: { ...PATIENT, organizationColumn: null, patientId: (row) => row.id, fieldCategories: { identifiers: 'identifiers' } },
  },
  open: ['Query', 'HumanName', 'ContactPoint', 'Address', 'Identifier', 'Organization', 'Practitioner', '_Service'],
};

export const identity: SubgraphModule = {
  name: 'identity',
  resolvers,
  consentRules,
  consentSources: (db, remote) => ({ ...remote, identityFacts: (patientIds) => identityFactsFromDatabase(db, patientIds) }),
  internalRoutes: (deps) => [
    internalRoute(INTERNAL_PATHS.identityFacts, deps, async (body) => identityFactsFromDatabase(deps.db, patientIdsOf(body))),
  ],
};
export { seeder } from './seed.js';
