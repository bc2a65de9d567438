/** The labs subgraph: laboratory observations and diagnostic reports (lab panels, ECG, pathology). */
import type { SubgraphModule } from '../../../lib/runtime/subgraph.js';
import { consentRules } from './access.js';
import { resolvers } from './resolvers.js';
import { INTERNAL_APIS, internalRoute } from '../../../lib/runtime/internal-api.js';
import { participantRoutes, patientLinkRoute, publishingOrganization } from '../../../lib/ingest/participant.js';
import { historyTablesOf } from '../../../lib/records/record-types.js';
import { ingestHandlers, storedAck } from './ingest.js';

export const labs: SubgraphModule = {
  name: 'labs', resolvers, consentRules,
  // Publishing (FHIR writes and HL7 v2 results), and the master patient index's links.
  internalRoutes: (deps) => [
    ...participantRoutes(deps, ingestHandlers),
    internalRoute(INTERNAL_APIS.hl7v2Ack, deps, async (body, call) => storedAck(deps.db, publishingOrganization(call), body)),
    patientLinkRoute(deps, historyTablesOf('labs')),
  ],
};
