/** Public health's part of the synthetic data: programmes and each patient's programme records. */
import { JsonValue } from '../../../lib/runtime/db.js';
import { bulkReference, tableRows, type Seeder } from '../../../lib/synthetic/seed-types.js';
import { PROGRAMS } from '../../../lib/synthetic/registry.js';

export const seeder: Seeder = {
  reference: () => [
    bulkReference(tableRows('program', PROGRAMS, { id: (p) => p.id, code: (p) => p.code, name: (p) => p.name, organization_id: (p) => p.organizationId })),
  ],
  patientRows: (bundles) => [
    tableRows('program_enrollment', bundles.flatMap((b) => b.enrollments), {
      id: (e) => e.id, patient_id: (e) => e.patientId, program_id: (e) => e.programId, organization_id: (e) => e.organizationId,
      status: (e) => e.status, period_start: (e) => new Date(`${e.periodStart}T00:00:00Z`), period_end: (e) => (e.periodEnd ? new Date(`${e.periodEnd}T00:00:00Z`) : null),
    }),
    tableRows('immunization', bundles.flatMap((b) => b.immunizations), {
      id: (i) => i.id, patient_id: (i) => i.patientId, organization_id: (i) => i.organizationId, program_id: (i) => i.programId,
      vaccine_code: (i) => i.vaccineCode, vaccine_display: (i) => i.vaccineDisplay, dose_number: (i) => i.doseNumber,
      lot_number: (i) => i.lotNumber, occurrence: (i) => i.occurrence, status: (i) => i.status,
    }),
    tableRows('follow_up_task', bundles.flatMap((b) => b.followUpTasks), {
      id: (t) => t.id, patient_id: (t) => t.patientId, organization_id: (t) => t.organizationId, program_id: (t) => t.programId,
      description: (t) => t.description, due_date: (t) => t.dueDate, status: (t) => t.status, assigned_role: (t) => t.assignedRole,
      authored_on: (t) => t.createdAt,
    }),
    tableRows('home_measurement', bundles.flatMap((b) => b.homeMeasurements), {
      id: (m) => m.id, patient_id: (m) => m.patientId, organization_id: (m) => m.organizationId, kind: (m) => m.kind, code: (m) => m.code, display: (m) => m.display,
      systolic: (m) => m.systolic, diastolic: (m) => m.diastolic, value: (m) => m.value, unit: (m) => m.unit,
      effective: (m) => m.effective, source: (m) => m.source,
    }),
    tableRows('care_team', bundles.flatMap((b) => b.careTeams), {
      id: (t) => t.id, patient_id: (t) => t.patientId, organization_id: (t) => t.organizationId, status: (t) => t.status,
      period_start: (t) => t.periodStart, period_end: (t) => t.periodEnd, participants: (t) => new JsonValue(t.participants),
      reason_codes: (t) => new JsonValue(t.reasonCodes), managed_by_producer: (t) => t.managedByProducer, sensitivity_labels: (t) => t.sensitivityLabels,
    }),
    tableRows('care_plan', bundles.flatMap((b) => b.carePlans), {
      id: (p) => p.id, patient_id: (p) => p.patientId, organization_id: (p) => p.organizationId, status: (p) => p.status, intent: (p) => p.intent,
      categories: (p) => new JsonValue(p.categories), period_start: (p) => p.periodStart, period_end: (p) => p.periodEnd,
      activities: (p) => new JsonValue(p.activities), addresses_condition_ids: (p) => p.addressesConditionIds, care_team_id: (p) => p.careTeamId,
      sensitivity_labels: (p) => p.sensitivityLabels,
    }),
  ],
};
