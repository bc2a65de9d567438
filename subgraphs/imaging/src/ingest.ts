/**
 * Publishing into the imaging subgraph (lib/ingest/participant.ts): imaging
 * studies (identified alliance-wide by their DICOM Study Instance UID) and
 * their radiology reports (DiagnosticReport, category RAD), which carry no
 * patient or organisation of their own: they are their study's; and clinical
 * notes (DocumentReference, and DiagnosticReports that are notes).
 */
import type { KindHandlers } from '../../../lib/ingest/participant.js';

export const ingestHandlers: KindHandlers = {
  'imaging-study': {
    table: 'imaging_study',
    category: 'imaging',
    columns: ['study_instance_uid', 'modality', 'modality_display', 'body_site', 'body_site_display', 'description', 'number_of_series', 'number_of_instances', 'series', 'started', 'sensitivity_labels',
      'encounter_id', 'procedure_codes', 'location'],
    order: 1,
    keys: (entry) => [`dicom-study|${String(entry.record.study_instance_uid)}`],
    // A Study Instance UID names one study in the world: one record, whoever publishes it.
    check: async (tx, entry) => {
      const [other] = await tx.query<{ id: string }>('SELECT id FROM imaging_study WHERE study_instance_uid = $1 AND id <> $2', [entry.record.study_instance_uid, entry.id]);
      return other ? { status: 409, code: 'duplicate', message: 'An imaging study with this Study Instance UID is already published', expression: `${entry.path}.identifier[0]` } : null;
    },
  },
  'imaging-report': {
    table: 'imaging_report',
    category: 'imaging-reports',
    organizationColumn: null,
    patientColumn: null,
    // A report is read under its study's labels and its own (the study's privacy is the report's).
    lookup: `(SELECT r.id, s.patient_id, s.organization_id AS producer, s.sensitivity_labels || r.sensitivity_labels AS labels,
      r.sensitivity_labels AS own_labels, NULL::text[] AS addressees
      FROM imaging_report r JOIN imaging_study s ON s.id = r.study_id)`,
    columns: ['status', 'findings', 'impression', 'radiologist_id', 'issued', 'sensitivity_labels'],
    refs: { study: { column: 'study_id', table: 'imaging_study', kinds: ['imaging-study'], expression: 'imagingStudy[0]' } },
    order: 2,
    keys: (entry) => [`report-of-study|${entry.resolved.study}`],
    // One report per study, written by the organisation that performed the study.
    check: async (tx, entry, organizationId) => {
      const [study] = await tx.query<{ organization_id: string }>('SELECT organization_id FROM imaging_study WHERE id = $1', [entry.resolved.study]);
      if (study && study.organization_id !== organizationId) {
        return { status: 403, code: 'forbidden', message: 'Only the organisation that performed the study reports it', expression: `${entry.path}.imagingStudy[0]` };
      }
      if (entry.op === 'create') {
        const [report] = await tx.query('SELECT 1 FROM imaging_report WHERE study_id = $1', [entry.resolved.study]);
        if (report) return { status: 409, code: 'duplicate', message: 'This imaging study already has a report (update it with PUT)', expression: `${entry.path}.imagingStudy[0]` };
      }
      return null;
    },
  },
  // Clinical notes (DocumentReference, or a DiagnosticReport that is a note): the publisher's own records, kept as the resource type they came as.
  'clinical-note': {
    table: 'clinical_note',
    category: 'notes',
    columns: ['resource_type', 'status', 'doc_status', 'type', 'categories', 'date', 'issued', 'period_start', 'period_end', 'description', 'author_id', 'attachments', 'sensitivity_labels', 'encounter_id'],
    order: 3,
    // A note keeps the resource type it was published as: an update may not turn a DocumentReference into a DiagnosticReport.
    check: async (tx, entry) => {
      if (entry.op !== 'update') return null;
      const [row] = await tx.query<{ resource_type: string }>('SELECT resource_type FROM clinical_note WHERE id = $1', [entry.id]);
      return row && row.resource_type !== entry.record.resource_type
        ? { status: 409, code: 'conflict', message: `This note was published as a ${row.resource_type}: update it as one`, expression: `${entry.path}.resourceType` }
        : null;
    },
  },
};
