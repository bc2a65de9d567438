/** The encounters subgraph: visits, ICD-10 diagnoses and referrals between organisations. */
import type { SubgraphModule } from '../../../lib/runtime/subgraph.js';
import { consentRules } from './access.js';
import { INTERNAL_APIS, internalRoute } from '../../../lib/runtime/internal-api.js';
import { participantRoutes, patientLinkRoute } from '../../../lib/ingest/participant.js';
import { historyTablesOf } from '../../../lib/records/record-types.js';
import { ingestHandlers } from './ingest.js';
import { hl7v2Discharge, inpatientStay } from './discharge.js';
import { resolvers } from './resolvers.js';

export const encounters: SubgraphModule = {
  name: 'encounters',
  resolvers,
  consentRules,
  internalRoutes: (deps) => [
    internalRoute(INTERNAL_APIS.inpatientStay, deps, async (body, call) => inpatientStay(deps.db, call.actor, body)),
    internalRoute(INTERNAL_APIS.hl7v2Discharge, deps, async (body, call) => hl7v2Discharge(deps.db, call.internal, call.actor, body)),
    // Publishing (FHIR writes), and the master patient index's links.
    ...participantRoutes(deps, ingestHandlers),
    patientLinkRoute(deps, historyTablesOf('encounters')),
  ],
};
