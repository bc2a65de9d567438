/** The identity subgraph: owner of Patient, identifiers, consent directives and the alliance registry. */
import { identityFactsFromDatabase, INTERNAL_PATHS, patientIdsOf } from '../../../lib/consent/access.js';
import type { ConsentRules } from '../../../lib/consent/shield.js';
import { internalRoute, type SubgraphModule } from '../../../lib/subgraph.js';
import { appendAuditEvents, type DisclosedPatient } from './audit.js';
import { birthDates } from './birth-dates.js';
import { PATIENT, resolvers } from './resolvers.js';
import { TIMELINE_NODE_TYPES } from './timeline.js';

const consentRules: ConsentRules = {
  records: {
    Patient: {
      ...PATIENT, organizationColumn: null, patientId: (row) => row.id,
      fieldCategories: { identifiers: 'identifiers', consents: 'consents', accessLog: 'consents' },
      // Every entry of the timeline is filtered by its owner, with its own category.
      openFields: ['timeline'],
    },
    // Staff of an organisation that registered the patient see the directives recorded for them.
    ConsentDirective: { category: 'consents', organizationColumn: null },
  },
  // Audit types are reached only through resolvers that check the actor (admin, or the patient).
  open: ['Query', 'Mutation', 'HumanName', 'ContactPoint', 'Address', 'Identifier', 'Organization', 'Practitioner', 'AuditEvent',
    'AuditEventConnection', 'AuditEventEdge', 'PageInfo', 'PatientConnection', 'PatientEdge', '_Service', 'TimelineConnection', 'TimelineEdge',
    // References to other subgraphs' records on the timeline: their owners check every field.
    ...TIMELINE_NODE_TYPES],
};

export const identity: SubgraphModule = {
  name: 'identity',
  resolvers,
  consentRules,
  consentSources: (db, remote) => ({ ...remote, identityFacts: (patientIds) => identityFactsFromDatabase(db, patientIds) }),
  internalRoutes: (deps) => [
    internalRoute(INTERNAL_PATHS.identityFacts, deps, async (body) => identityFactsFromDatabase(deps.db, patientIdsOf(body))),
    internalRoute(INTERNAL_PATHS.birthDates, deps, async (body, claims) => birthDates(deps.db, claims.actor, body)),
    // The gateway's audit writes: the actor comes from the signed token, never from the body.
    internalRoute(INTERNAL_PATHS.auditEvents, deps, async (body, claims) => {
      const patients = ((body as { patients?: DisclosedPatient[] }).patients ?? []).slice(0, 1000);
      return { stored: await appendAuditEvents(deps.db, claims.actor, claims.requestId, patients) };
    }),
  ],
};
export { seeder } from './seed.js';
