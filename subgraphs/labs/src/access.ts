/** How the consent policy sees the labs subgraph's records. */
import type { RecordAccess } from '../../../lib/connection.js';
import type { ConsentRules } from '../../../lib/consent/shield.js';

/**
 * Lab results and lab reports share the `labs` category but are different
 * FHIR resources: a token's scopes must name the resource type it reads
 * (`patient/Observation.rs` does not reach DiagnosticReports).
 */
export const OBSERVATION: RecordAccess = { category: 'labs', resourceType: 'Observation' };
export const DIAGNOSTIC_REPORT: RecordAccess = { category: 'labs', resourceType: 'DiagnosticReport' };

export const consentRules: ConsentRules = {
  records: { Observation: OBSERVATION, DiagnosticReport: DIAGNOSTIC_REPORT },
  // Result recognition is registry data, open like the organisations it names (the mutations check the actor).
  open: ['Query', 'Mutation', 'LabResultRecognition', 'Patient', 'Organization', 'Practitioner', 'Coding', 'Period', 'PageInfo', 'Quantity', 'ReferenceRange',
    'ObservationConnection', 'ObservationEdge', 'DiagnosticReportConnection', 'DiagnosticReportEdge', '_Service'],
};
