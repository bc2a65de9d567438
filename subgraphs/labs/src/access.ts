/** How the consent policy sees the labs subgraph's records (their facts: lib/records/record-types.ts). */
import { recordAccess } from '../../../lib/consent/record-access.js';
import { ownedRecordRules, type ConsentRules } from '../../../lib/consent/shield.js';

/**
 * Lab results and lab reports share the `labs` category but are different
 * FHIR resources: a token's scopes must name the resource type it reads
 * (`patient/Observation.rs` does not reach DiagnosticReports). The catalogue
 * says so: its access carries the resource type of each.
 */
export const OBSERVATION = recordAccess('Observation');
export const DIAGNOSTIC_REPORT = recordAccess('DiagnosticReport');
/** Clinical observations (vital signs, exam, survey, social history…): the `observations` category. */
export const CLINICAL_OBSERVATION = recordAccess('ClinicalObservation');

export const consentRules: ConsentRules = {
  records: ownedRecordRules('labs', {
    // The encounter a result, an observation or a report was made in is a record of the encounters category.
    Observation: { fieldCategories: { encounter: 'encounters' } },
    ClinicalObservation: { fieldCategories: { encounter: 'encounters' } },
    DiagnosticReport: { fieldCategories: { encounter: 'encounters' } },
  }),
  // Result recognition is registry data, open like the organisations it names (the mutations check the actor).
  open: ['Query', 'Mutation', 'LabResultRecognition', 'Patient', 'Organization', 'Practitioner', 'Coding', 'CodeableConcept', 'Period', 'PageInfo', 'Quantity', 'ReferenceRange',
    'ObservationConnection', 'ObservationEdge', 'DiagnosticReportConnection', 'DiagnosticReportEdge', '_Service',
    // A clinical observation's parts, reached only through its checked fields.
    'ClinicalObservationConnection', 'ClinicalObservationEdge', 'ObservationValue', 'ObservationQuantity', 'ObservationRange', 'ObservationRatio', 'ObservationPeriod',
    'ObservationComponent', 'LogicalReference', 'ReferenceIdentifier', 'ObservationReferenceRange',
    // The encounters subgraph's record, by id only (reached through the checked `encounter` fields).
    'Encounter'],
};
