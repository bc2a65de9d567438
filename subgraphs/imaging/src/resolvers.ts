/** Imaging resolvers: ImagingStudy (DICOM) and its report, and the list on Patient. */
import type { GraphQLResolverMap } from '@apollo/subgraph';
import { isUuid, loadById, loadReference, loadChildren, loadPatientPage, maySee, type PageArgs, patientList } from '../../../lib/records/connection.js';
import { decideRow } from '../../../lib/consent/record-access.js';
import { productError } from '../../../lib/runtime/errors.js';
import { coding, entityRef, lastUpdatedOf, recordFields, type Row } from '../../../lib/records/records.js';
import { SYSTEM } from '../../../lib/records/terminology.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { CLINICAL_NOTE, IMAGING_REPORT, IMAGING_STUDY } from './access.js';
import { noteText, noteTitle } from './notes.js';
import {
  addRecognitionEntry, endRecognitionEntry, listRecognitionEntries, recognitionEntryFields, recognized, windowStart,
} from '../../../lib/records/recognition.js';
import { bodySiteCode, DEFAULT_WITHIN_DAYS, IMAGING_RECOGNITION, modalityCode } from './recognition.js';

/**
 * Report rows carry no patient or organisation of their own: they are checked with their study's, under the
 * study's labels and their own (`labels`), and export their own labels as stored (`own_labels`).
 */
const REPORTS_WITH_STUDY = `(SELECT rep.*, rep.sensitivity_labels AS own_labels, s.patient_id, s.organization_id,
    ARRAY(SELECT DISTINCT l FROM unnest(s.sensitivity_labels || rep.sensitivity_labels) AS l ORDER BY l) AS sensitivity_labels
  FROM imaging_report rep JOIN imaging_study s ON s.id = rep.study_id) AS imaging_report`;

/** The one series a study keeps, as sent (migration 005). */
const isSeries = (value: unknown): value is Row => typeof value === 'object' && value !== null && !Array.isArray(value);

export const resolvers: GraphQLResolverMap<SubgraphContext> = {
  Query: {
    imagingStudy: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'imaging_study', id, IMAGING_STUDY),
    clinicalNote: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'clinical_note', id, CLINICAL_NOTE),
    imagingStudyOfReport: async (_: unknown, { reportId }: { reportId: string }, context: SubgraphContext) => {
      if (!isUuid(reportId)) return null;
      const [report] = await context.db.query<Row>('SELECT study_id FROM imaging_report WHERE id = $1', [reportId]);
      return report ? loadById(context, 'imaging_study', report.study_id, IMAGING_STUDY) : null;
    },
    imagingStudyByUid: async (_: unknown, { studyInstanceUid }: { studyInstanceUid: string }, context: SubgraphContext) => {
      const [row] = await context.db.query<Row>('SELECT * FROM imaging_study WHERE study_instance_uid = $1', [studyInstanceUid]);
      return row && (await maySee(context, IMAGING_STUDY, row)) ? row : null;
    },
    imagingResultRecognitions: (_: unknown, { modality, ...filter }: { organizationId?: string | null; modality?: string | null; activeAt?: Date | null }, context: SubgraphContext) =>
      listRecognitionEntries(context, IMAGING_RECOGNITION, { ...filter, code: modality }),
  },
  Mutation: {
    addImagingResultRecognition: (
      _: unknown, { input: { modality, ...input } }: { input: { organizationId: string; modality?: string | null; periodStart?: Date | null; periodEnd?: Date | null; basis: string } },
      context: SubgraphContext,
    ) => addRecognitionEntry(context, IMAGING_RECOGNITION, { ...input, code: modality ?? null }),
    endImagingResultRecognition: (_: unknown, { id, end }: { id: string; end?: Date | null }, context: SubgraphContext) => endRecognitionEntry(context, IMAGING_RECOGNITION, id, end),
  },
  ImagingResultRecognition: { ...recognitionEntryFields, modality: (row: Row) => row.modality },
  Patient: {
    clinicalNotes: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'clinicalNotes', patientList('ClinicalNote'), patient.id, args),
    imagingStudies: (patient: { id: string }, args: PageArgs & { modality?: string }, context: SubgraphContext) =>
      loadPatientPage(context, 'imagingStudies', {
        ...patientList('ImagingStudy'),
        ...(args.modality ? { where: 'r.modality = $7', params: [args.modality] } : {}),
      }, patient.id, args),
    // Result recognition: studies of one modality (and body site) within the window, from every organisation the actor may see.
    equivalentImagingStudies: (
      patient: { id: string },
      args: { modality: string; bodySite?: string | null; withinDays?: number | null; first?: number | null; after?: string | null },
      context: SubgraphContext,
    ) => {
      const modality = modalityCode(args.modality);
      const bodySite = bodySiteCode(args.bodySite);
      const from = windowStart(context.consent.now, args.withinDays, DEFAULT_WITHIN_DAYS);
      return loadPatientPage(context, 'equivalentImagingStudies', {
        ...patientList('ImagingStudy'),
        ...(bodySite ? { where: 'r.modality = $7 AND r.body_site = $8', params: [modality, bodySite] } : { where: 'r.modality = $7', params: [modality] }),
      }, patient.id, { first: args.first, after: args.after, from });
    },
  },
  ImagingStudy: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'imaging_study', reference.id, IMAGING_STUDY),
    ...recordFields,
    studyInstanceUid: (row: Row) => row.study_instance_uid,
    modality: (row: Row) => coding(SYSTEM.dicom, row.modality, row.modality_display),
    bodySite: (row: Row) => coding(SYSTEM.snomed, row.body_site, row.body_site_display),
    numberOfSeries: (row: Row) => row.number_of_series,
    numberOfInstances: (row: Row) => row.number_of_instances,
    series: (row: Row) => (isSeries(row.series) ? [row.series] : []),
    // Kept as sent (migration 008): the encounter (the encounters subgraph's record, its consent rule: access.ts), the procedures and the location.
    encounter: (row: Row) => entityRef(row.encounter_id),
    procedureCode: (row: Row) => row.procedure_codes ?? null,
    location: (row: Row) => row.location ?? null,
    // The study's report, under its own labels as well as the study's: refused with the policy's code, never silently.
    report: async (row: Row, _: unknown, context: SubgraphContext) => {
      const report = await context
        .loader<string, Row | null>('reportOfStudy', async (ids) => {
          const rows = await context.db.query<Row>(`SELECT * FROM ${REPORTS_WITH_STUDY} WHERE study_id = ANY($1::uuid[])`, [[...ids]]);
          return ids.map((id) => rows.find((r) => String(r.study_id) === id) ?? null);
        })
        .load(String(row.id));
      if (!report) return null;
      const { decision } = await decideRow(context.consent, IMAGING_REPORT, report, IMAGING_REPORT.category);
      if (!decision.allow) throw productError(decision.code, decision.code === 'FORBIDDEN' ? 'Your token does not reach this report' : 'The patient has not shared this report with you', { category: IMAGING_REPORT.category });
      context.consent.disclose(String(row.patient_id), IMAGING_REPORT.category, String(row.id), decision.breakGlass);
      return report;
    },
    recognizedAllianceWide: (row: Row, _: unknown, context: SubgraphContext) => recognized(context, IMAGING_RECOGNITION, row.organization_id, row.modality, row.started),
  },
  ImagingReport: {
    radiologist: (row: Row) => entityRef(row.radiologist_id),
    // As stored on the report (the study's labels are the study's).
    sensitivityLabels: (row: Row) => row.own_labels ?? [],
    lastUpdated: lastUpdatedOf,
  },
  ClinicalNote: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'clinical_note', reference.id, CLINICAL_NOTE),
    ...recordFields,
    // Codings, categories and attachments are kept as sent (jsonb in the shape of the schema's CodeableConcept and NoteAttachment).
    resourceType: (row: Row) => row.resource_type,
    status: (row: Row) => row.status,
    docStatus: (row: Row) => row.doc_status,
    type: (row: Row) => row.type,
    category: (row: Row) => row.categories,
    date: (row: Row) => row.date,
    issued: (row: Row) => row.issued,
    period: (row: Row) => (row.period_start || row.period_end ? { start: row.period_start, end: row.period_end } : null),
    description: (row: Row) => row.description,
    title: (row: Row) => noteTitle(row),
    text: (row: Row) => noteText(row.attachments),
    attachments: (row: Row) => row.attachments,
    author: (row: Row) => entityRef(row.author_id),
    // The encounters subgraph's Encounter, by id (migration 007).
    encounter: (row: Row) => entityRef(row.encounter_id),
  },
};
