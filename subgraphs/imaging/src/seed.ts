/** Imaging's part of the synthetic data, and the demo alliance's result-recognition entries. */
import { Buffer } from 'node:buffer';
import { JsonValue } from '../../../lib/runtime/db.js';
import { insertRecognitionEntry, validRecognitionEntry } from '../../../lib/records/recognition.js';
import { tableRows, type Seeder } from '../../../lib/synthetic/seed-types.js';
import { IMAGING_RECOGNITION_POLICY, recognitionEntries } from '../../../lib/synthetic/recognition.js';
import { IMAGING_RECOGNITION } from './recognition.js';

export const seeder: Seeder = {
  // Each entry checked and stored like an administrator's (the organisations are the seed's own registry).
  reference: () => [{
    table: IMAGING_RECOGNITION.table,
    write: async (db) => {
      for (const entry of recognitionEntries('img', IMAGING_RECOGNITION_POLICY)) await insertRecognitionEntry(db, IMAGING_RECOGNITION, validRecognitionEntry(IMAGING_RECOGNITION, entry), 'demo-seed', entry.id);
    },
  }],
  patientRows: (bundles) => {
    const studies = bundles.flatMap((b) => b.imagingStudies);
    return [
      tableRows('imaging_study', studies, {
        id: (s) => s.id, patient_id: (s) => s.patientId, organization_id: (s) => s.organizationId, study_instance_uid: (s) => s.studyInstanceUid,
        modality: (s) => s.modality, modality_display: (s) => s.modalityDisplay, body_site: (s) => s.bodySite, body_site_display: (s) => s.bodySiteDisplay,
        description: (s) => s.description, number_of_series: (s) => s.numberOfSeries, number_of_instances: (s) => s.numberOfInstances,
        started: (s) => s.started, sensitivity_labels: (s) => s.sensitivityLabels,
      }),
      tableRows('imaging_report', studies.filter((s) => s.report), {
        id: (s) => s.report!.id, study_id: (s) => s.id, status: (s) => s.report!.status, findings: (s) => s.report!.findings,
        impression: (s) => s.report!.impression, radiologist_id: (s) => s.report!.radiologistId, issued: (s) => s.report!.issued,
        // The demo's reports carry their study's labels (a report on a PSY study is PSY).
        sensitivity_labels: (s) => s.sensitivityLabels,
      }),
      tableRows('clinical_note', bundles.flatMap((b) => b.clinicalNotes), {
        id: (n) => n.id, patient_id: (n) => n.patientId, organization_id: (n) => n.organizationId, resource_type: (n) => n.resourceType, status: (n) => n.status,
        type: (n) => new JsonValue(n.type), categories: (n) => new JsonValue(n.categories), date: (n) => n.date, issued: (n) => (n.resourceType === 'DiagnosticReport' ? n.date : null),
        description: (n) => n.description, author_id: (n) => n.authorId,
        attachments: (n) => new JsonValue([{ contentType: 'text/plain; charset=utf-8', data: Buffer.from(n.text, 'utf8').toString('base64') }]),
        sensitivity_labels: (n) => n.sensitivityLabels,
      }),
    ];
  },
};
