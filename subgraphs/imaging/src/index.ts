/** The imaging subgraph: DICOM imaging studies and radiology reports. */
import type { SubgraphModule } from '../../../lib/runtime/subgraph.js';
import { consentRules } from './access.js';
import { resolvers } from './resolvers.js';
import { participantRoutes, patientLinkRoute } from '../../../lib/ingest/participant.js';
import { historyTablesOf } from '../../../lib/records/record-types.js';
import { ingestHandlers } from './ingest.js';

export const imaging: SubgraphModule = {
  name: 'imaging', resolvers, consentRules,
  // Publishing (FHIR writes), and the master patient index's links.
  internalRoutes: (deps) => [...participantRoutes(deps, ingestHandlers), patientLinkRoute(deps, historyTablesOf('imaging'))],
};
