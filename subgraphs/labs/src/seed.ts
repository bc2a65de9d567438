/** Labs' part of the synthetic data, and the demo alliance's result-recognition entries. */
import { insertRecognitionEntry, validRecognitionEntry } from '../../../lib/records/recognition.js';
import { JsonValue } from '../../../lib/runtime/db.js';
import { clinicalObservationCategory } from '../../../lib/synthetic/generator.js';
import { tableRows, type Seeder } from '../../../lib/synthetic/seed-types.js';
import { LAB_RECOGNITION_POLICY, recognitionEntries } from '../../../lib/synthetic/recognition.js';
import { LAB_RECOGNITION } from './recognition.js';

export const seeder: Seeder = {
  // Each entry checked and stored like an administrator's (the organisations are the seed's own registry).
  reference: () => [{
    table: LAB_RECOGNITION.table,
    write: async (db) => {
      for (const entry of recognitionEntries('lab', LAB_RECOGNITION_POLICY)) await insertRecognitionEntry(db, LAB_RECOGNITION, validRecognitionEntry(LAB_RECOGNITION, entry), 'demo-seed', entry.id);
    },
  }],
  patientRows: (bundles) => [
    tableRows('diagnostic_report', bundles.flatMap((b) => b.diagnosticReports), {
      id: (r) => r.id, patient_id: (r) => r.patientId, organization_id: (r) => r.organizationId, code: (r) => r.code, display: (r) => r.display,
      category: (r) => r.category, status: (r) => r.status, effective: (r) => r.effective, issued: (r) => r.issued, conclusion: (r) => r.conclusion,
      performer_id: (r) => r.performerId, sensitivity_labels: (r) => r.sensitivityLabels,
    }),
    tableRows('observation', bundles.flatMap((b) => b.observations), {
      id: (o) => o.id, patient_id: (o) => o.patientId, organization_id: (o) => o.organizationId, report_id: (o) => o.reportId,
      code: (o) => o.code, display: (o) => o.display, category: (o) => o.category, value_quantity: (o) => o.valueQuantity,
      value_string: (o) => o.valueString, unit: (o) => o.unit, reference_low: (o) => o.referenceLow, reference_high: (o) => o.referenceHigh,
      interpretation: (o) => o.interpretation, effective: (o) => o.effective, issued: (o) => o.issued, sensitivity_labels: (o) => o.sensitivityLabels,
    }),
    // Clinical observations, as publishing stores them (codings as sent, value under its type's key).
    tableRows('clinical_observation', bundles.flatMap((b) => b.clinicalObservations), {
      id: (o) => o.id, patient_id: (o) => o.patientId, organization_id: (o) => o.organizationId, status: (o) => o.status,
      category_codes: (o) => [o.categoryCode], categories: (o) => new JsonValue([clinicalObservationCategory(o)]), codes: (o) => o.code.coding.map((c) => c.code),
      code: (o) => new JsonValue(o.code), value: (o) => (o.value ? new JsonValue(o.value) : null),
      value_quantity: (o) => (o.value && 'quantity' in o.value ? o.value.quantity.value : null), components: (o) => (o.components ? new JsonValue(o.components) : null),
      effective: (o) => o.effective, effective_source: (o) => new JsonValue({ dateTime: o.effective.toISOString() }), sensitivity_labels: (o) => o.sensitivityLabels,
    }),
  ],
};
