/** How the consent policy sees the public-health subgraph's records (their facts: lib/records/record-types.ts). */
import { recordAccess } from '../../../lib/consent/record-access.js';
import { ownedRecordRules, type ConsentRules } from '../../../lib/consent/shield.js';

export const ENROLLMENT = recordAccess('ProgramEnrollment');
export const IMMUNIZATION = recordAccess('Immunization');
export const FOLLOW_UP_TASK = recordAccess('FollowUpTask');
export const HOME_MEASUREMENT = recordAccess('HomeMeasurement');
export const CARE_PLAN = recordAccess('CarePlan');
export const CARE_TEAM = recordAccess('CareTeam');

export const consentRules: ConsentRules = {
  // ImmunizationDue, an entry of a programme's due list (a record of the child's
  // enrolment, its organisation and labels, about their immunisations), is a
  // view of Immunization in the catalogue and shares its rule.
  records: ownedRecordRules('public-health', {
    // The diagnoses a care plan addresses are records of their own category.
    // The encounter an immunisation was given in, a plan or a team made in, is a record of the encounters category.
    CarePlan: { fieldCategories: { addresses: 'diagnoses', encounter: 'encounters' } },
    CareTeam: { fieldCategories: { encounter: 'encounters' } },
    Immunization: { fieldCategories: { encounter: 'encounters' } },
  }),
  open: ['Query', 'Mutation', 'Encounter', 'HomeMeasurementSubmission', 'Patient', 'Organization', 'Practitioner', 'Program', 'ProgramChange', 'Coding', 'Period', 'PageInfo', 'ProgramEnrollmentConnection', 'ProgramEnrollmentEdge',
    'ImmunizationConnection', 'ImmunizationEdge', 'FollowUpTaskConnection', 'FollowUpTaskEdge', 'HomeMeasurementConnection',
    'HomeMeasurementEdge', 'ImmunizationScheduleDose', 'ImmunizationDueConnection', 'ImmunizationDueEdge', '_Service',
    // A care plan's and a care team's parts, reached only through their checked fields.
    'Condition', 'CarePlanActivity', 'CareTeamParticipant', 'CodeableConcept', 'LogicalReference', 'ReferenceIdentifier',
    'CarePlanConnection', 'CarePlanEdge', 'CareTeamConnection', 'CareTeamEdge'],
};
