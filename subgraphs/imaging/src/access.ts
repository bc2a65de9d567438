/** How the consent policy sees the imaging subgraph's records (their facts: lib/records/record-types.ts). */
import { recordAccess } from '../../../lib/consent/record-access.js';
import { ownedRecordRules, type ConsentRules } from '../../../lib/consent/shield.js';

export const IMAGING_STUDY = recordAccess('ImagingStudy');
/** Report rows are read with their study's patient and organisation (joined in the loader). */
export const IMAGING_REPORT = recordAccess('ImagingReport');
export const CLINICAL_NOTE = recordAccess('ClinicalNote');

export const consentRules: ConsentRules = {
  // ImagingStudy.report is the study's radiology report, of its own category (the catalogue holds it as part of the study).
  records: ownedRecordRules('imaging', {
    // The encounter a note was written in is a record of its own category.
    ClinicalNote: { fieldCategories: { encounter: 'encounters' } },
    // The encounter a study was made in, likewise.
    ImagingStudy: { fieldCategories: { encounter: 'encounters' } },
  }),
  // Result recognition is registry data, open like the organisations it names (the mutations check the actor).
  open: ['Query', 'Mutation', 'ImagingResultRecognition', 'Patient', 'Organization', 'Practitioner', 'Coding', 'Period', 'PageInfo', 'ImagingReport', 'ImagingSeries',
    'ImagingStudyConnection', 'ImagingStudyEdge', '_Service',
    // A note's parts, reached only through its checked fields.
    'CodeableConcept', 'NoteAttachment', 'ClinicalNoteConnection', 'ClinicalNoteEdge', 'Encounter',
    // A study's parts, reached only through its checked fields.
    'ImagingInstance', 'LogicalReference', 'ReferenceIdentifier'],
};
