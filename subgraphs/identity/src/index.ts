/** The identity subgraph: owner of Patient, identifiers, consent directives and the alliance registry. */
import { identityFactsFromDatabase } from '../../../lib/consent/access.js';
import { INTERNAL_APIS, internalRoute, patientIdsOf } from '../../../lib/runtime/internal-api.js';
import { ownedRecordRules, type ConsentRules } from '../../../lib/consent/shield.js';
import type { SubgraphModule } from '../../../lib/runtime/subgraph.js';
import { appendRequestEvents, auditReportOf } from './audit.js';
import { authorizationAccount, authorizationClient, authorizationStore, recordApproval } from './authorization.js';
import { birthDates } from './birth-dates.js';
import { registryEntries } from './registry.js';
import { decide, recovery, stagePatients } from './ingest.js';
import { directiveOrganization, viewOrganization } from './registrations.js';
import { publishingOrganization } from '../../../lib/ingest/participant.js';
import { requestMerge } from './merge-request.js';
import { resolvers } from './resolvers.js';
import { TIMELINE_NODE_TYPES } from './timeline.js';

const consentRules: ConsentRules = {
  // Patient (identifiers: a category of their own) and ConsentDirective, from the catalogue (lib/records/record-types.ts).
  records: ownedRecordRules('identity', {
    Patient: {
      // A Patient row is the patient's record (null: nobody's own) or the caller's organisation's registration (registrations.ts).
      organization: viewOrganization,
      fieldCategories: { consents: 'consents', accessLog: 'consents' },
      // Every entry of the timeline is filtered by its owner, with its own category.
      openFields: ['timeline'],
    },
    // The patient's directives are the patient's record; staff see as their own those their organisation recorded or that name them.
    ConsentDirective: { organization: directiveOrganization },
  }),
  // Audit and match-candidate types are reached only through resolvers that check the actor (admin, or the patient); the registry is open.
  // App registrations are read by administrators (apps, app) and by whoever sees a directive naming the app.
  open: ['Query', 'Mutation', 'App', 'AppRegistration', 'HumanName', 'ContactPoint', 'Address', 'PatientCommunication', 'CodeableConcept', 'Coding', 'Identifier', 'Organization', 'Practitioner', 'AuditEvent', 'ConsentChange', 'LabelRemoval',
    'RegistryChange', 'RegistryChangeConnection', 'RegistryChangeEdge',
    'AuditEventConnection', 'AuditEventEdge', 'MatchCandidate', 'MatchCandidateConnection', 'MatchCandidateEdge', 'PageInfo', 'PatientConnection', 'PatientEdge', '_Service', 'TimelineConnection', 'TimelineEdge',
    // References to other subgraphs' records on the timeline: their owners check every field.
    ...TIMELINE_NODE_TYPES],
};

export const identity: SubgraphModule = {
  name: 'identity',
  resolvers,
  consentRules,
  ownConsentFacts: (db) => ({ identityFacts: (patientIds) => identityFactsFromDatabase(db, patientIds) }),
  // The audit trail's partitions for this month and the next two, made ahead of the appends (migration 030).
  maintenance: async (db) => { await db.query('SELECT audit_prepare_partitions(2)'); },
  internalRoutes: (deps) => [
    internalRoute(INTERNAL_APIS.consentFacts, deps, async (body) => identityFactsFromDatabase(deps.db, patientIdsOf(body))),
    internalRoute(INTERNAL_APIS.birthDates, deps, async (body, call) => birthDates(deps.db, call.actor, body)),
    // The registry entries input names, for the subgraphs that check them (lib/records/registry.ts).
    internalRoute(INTERNAL_APIS.registry, deps, async (body) => registryEntries(deps.db, body)),
    // The gateway's audit writes (only the gateway may call), several requests per call: see auditReportOf.
    internalRoute(INTERNAL_APIS.auditEvents, deps, async (body) => ({ stored: await appendRequestEvents(deps.db, auditReportOf(body)) })),
    // Publishing: the coordinator's log, the master patient index and identity's own entries (ingest.ts).
    internalRoute(INTERNAL_APIS.ingestStage, deps, async (body, call) => stagePatients(deps.db, call, body)),
    internalRoute(INTERNAL_APIS.ingestDecide, deps, async (body, call) => decide(deps.db, call, body)),
    internalRoute(INTERNAL_APIS.ingestRecovery, deps, async (body, request) => {
      const result = await recovery(deps.db, body);
      // The recovery poll (every 15 s) finding nothing undelivered is routine: no info line for it.
      if ('decisions' in result && result.decisions.length === 0) request.routine();
      return result;
    }),
    // HL7 v2 ADT^A40: a merge a sending system asks for becomes a match candidate (merge-request.ts).
    internalRoute(INTERNAL_APIS.hl7v2Merge, deps, async (body, call) => requestMerge(deps.db, publishingOrganization(call), body)),
    // The SMART authorization server's state, apps, accounts and approvals (authorization.ts); the gateway alone calls.
    internalRoute(INTERNAL_APIS.authorizationStore, deps, async (body) => authorizationStore(deps.db, body)),
    internalRoute(INTERNAL_APIS.authorizationClient, deps, async (body) => ({ app: await authorizationClient(deps.db, body) })),
    internalRoute(INTERNAL_APIS.authorizationAccount, deps, async (body) => authorizationAccount(deps.db, body)),
    internalRoute(INTERNAL_APIS.authorizationApproval, deps, async (body, call) => recordApproval(deps.db, call.actor, call.requestId, body)),
  ],
};
