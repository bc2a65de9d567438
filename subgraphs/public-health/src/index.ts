/** The public-health subgraph: programmes, enrolments, immunisations, follow-up tasks, home measurements. */
import type { SubgraphModule } from '../../../lib/runtime/subgraph.js';
import { INTERNAL_APIS, internalRoute, patientIdsOf } from '../../../lib/runtime/internal-api.js';
import type { Database } from '../../../lib/runtime/db.js';
import { consentRules } from './access.js';
import { createDischargePlan } from './discharge.js';
import { resolvers } from './resolvers.js';
import { participantRoutes, patientLinkRoute } from '../../../lib/ingest/participant.js';
import { historyTablesOf } from '../../../lib/records/record-types.js';
import { ingestHandlers } from './ingest.js';

/** Organisations running a programme each patient is actively enrolled in (consent rule 6). */
export async function programmeOrganizations(db: Database, patientIds: string[]): Promise<Record<string, string[]>> {
  const rows = await db.query<{ patient_id: string; orgs: string[] }>(
    `SELECT e.patient_id, array_agg(DISTINCT p.organization_id) AS orgs
     FROM program_enrollment e JOIN program p ON p.id = e.program_id
     WHERE e.patient_id = ANY($1::uuid[]) AND e.status = 'active' GROUP BY e.patient_id`,
    [patientIds.filter((id) => /^[0-9a-f-]{36}$/i.test(id))],
  );
  return Object.fromEntries(rows.map((row) => [row.patient_id, row.orgs]));
}

export const publicHealth: SubgraphModule = {
  name: 'public-health',
  resolvers,
  consentRules,
  ownConsentFacts: (db) => ({ programmeOrganizations: (patientIds) => programmeOrganizations(db, patientIds) }),
  internalRoutes: (deps) => [
    internalRoute(INTERNAL_APIS.programmeOrganizations, deps, async (body) => programmeOrganizations(deps.db, patientIdsOf(body))),
    internalRoute(INTERNAL_APIS.dischargePlan, deps, async (body, call) => createDischargePlan(deps.db, call, body)),
    // Publishing (FHIR writes), and the master patient index's links.
    ...participantRoutes(deps, ingestHandlers),
    patientLinkRoute(deps, historyTablesOf('public-health')),
  ],
};
