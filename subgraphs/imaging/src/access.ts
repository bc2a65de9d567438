/** How the consent policy sees the imaging subgraph's records. */
import type { RecordAccess } from '../../../lib/connection.js';
import type { ConsentRules } from '../../../lib/consent/shield.js';

export const IMAGING_STUDY: RecordAccess = { category: 'imaging' };
/** Report rows are read with their study's patient and organisation (joined in the loader). */
export const IMAGING_REPORT: RecordAccess = { category: 'imaging-reports' };

export const consentRules: ConsentRules = {
  records: { ImagingStudy: { ...IMAGING_STUDY, fieldCategories: { report: 'imaging-reports' } } },
  // Result recognition is registry data, open like the organisations it names (the mutations check the actor).
  open: ['Query', 'Mutation', 'ImagingResultRecognition', 'Patient', 'Organization', 'Practitioner', 'Coding', 'Period', 'PageInfo', 'ImagingReport',
    'ImagingStudyConnection', 'ImagingStudyEdge', '_Service'],
};
