/** How the consent policy sees the public-health subgraph's records. */
import type { RecordAccess } from '../../../lib/connection.js';
import type { ConsentRules } from '../../../lib/consent/shield.js';

export const ENROLLMENT: RecordAccess = { category: 'programs' };
export const IMMUNIZATION: RecordAccess = { category: 'immunizations' };
export const FOLLOW_UP_TASK: RecordAccess = { category: 'follow-ups' };
export const HOME_MEASUREMENT: RecordAccess = { category: 'home-measurements' };

export const consentRules: ConsentRules = {
  records: {
    ProgramEnrollment: ENROLLMENT,
    Immunization: IMMUNIZATION,
    FollowUpTask: FOLLOW_UP_TASK,
    HomeMeasurement: HOME_MEASUREMENT,
    // An entry of a programme's immunisation due list: a record of the child's
    // enrolment (its organisation and labels), about their immunisations.
    ImmunizationDue: IMMUNIZATION,
  },
  open: ['Query', 'Mutation', 'Encounter', 'HomeMeasurementSubmission', 'Patient', 'Organization', 'Practitioner', 'Program', 'Coding', 'Period', 'PageInfo', 'ProgramEnrollmentConnection', 'ProgramEnrollmentEdge',
    'ImmunizationConnection', 'ImmunizationEdge', 'FollowUpTaskConnection', 'FollowUpTaskEdge', 'HomeMeasurementConnection',
    'HomeMeasurementEdge', 'ImmunizationScheduleDose', 'ImmunizationDueConnection', 'ImmunizationDueEdge', '_Service'],
};
