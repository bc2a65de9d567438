/** Encounters' part of the synthetic data. */
import { JsonValue } from '../../../lib/runtime/db.js';
import { tableRows, type Seeder } from '../../../lib/synthetic/seed-types.js';

export const seeder: Seeder = {
  reference: () => [],
  patientRows: (bundles) => [
    tableRows('encounter', bundles.flatMap((b) => b.encounters), {
      id: (e) => e.id, patient_id: (e) => e.patientId, organization_id: (e) => e.organizationId, practitioner_id: (e) => e.practitionerId,
      class: (e) => e.class, status: (e) => e.status, period_start: (e) => e.periodStart, period_end: (e) => e.periodEnd,
      reason_code: (e) => e.reasonCode, reason_display: (e) => e.reasonDisplay, sensitivity_labels: (e) => e.sensitivityLabels,
    }),
    tableRows('condition', bundles.flatMap((b) => b.conditions), {
      id: (c) => c.id, patient_id: (c) => c.patientId, encounter_id: (c) => c.encounterId, organization_id: (c) => c.organizationId,
      code: (c) => c.code, display: (c) => c.display, clinical_status: (c) => c.clinicalStatus, recorded_date: (c) => c.recordedDate,
      sensitivity_labels: (c) => c.sensitivityLabels,
    }),
    tableRows('allergy_intolerance', bundles.flatMap((b) => b.allergies), {
      id: (a) => a.id, patient_id: (a) => a.patientId, organization_id: (a) => a.organizationId, recorder_id: (a) => a.recorderId,
      code: (a) => new JsonValue(a.code), clinical_status: (a) => a.clinicalStatus, verification_status: (a) => a.verificationStatus, type: (a) => a.type,
      categories: (a) => a.categories, criticality: (a) => a.criticality, onset_date_time: (a) => a.onsetDateTime, onset_string: (a) => a.onsetString,
      recorded_date: (a) => a.recordedDate, reactions: (a) => new JsonValue(a.reactions), sensitivity_labels: (a) => a.sensitivityLabels,
    }),
    tableRows('procedure', bundles.flatMap((b) => b.procedures), {
      id: (p) => p.id, patient_id: (p) => p.patientId, organization_id: (p) => p.organizationId, encounter_id: (p) => p.encounterId, status: (p) => p.status,
      code: (p) => new JsonValue(p.code), performed_date_time: (p) => p.performedDateTime, performed_period_start: (p) => p.performedPeriod?.start ?? null,
      performed_period_end: (p) => p.performedPeriod?.end ?? null, performed_at: (p) => p.performedAt, reason_codes: (p) => new JsonValue(p.reasonCodes),
      reason_condition_id: (p) => p.reasonConditionId, body_sites: (p) => new JsonValue(p.bodySites), outcome: (p) => (p.outcome ? new JsonValue(p.outcome) : null),
      performers: (p) => new JsonValue(p.performers), location: (p) => (p.location ? new JsonValue(p.location) : null), sensitivity_labels: (p) => p.sensitivityLabels,
    }),
    tableRows('medication_request', bundles.flatMap((b) => b.medicationRequests), {
      id: (m) => m.id, patient_id: (m) => m.patientId, organization_id: (m) => m.organizationId, encounter_id: (m) => m.encounterId,
      reason_condition_id: (m) => m.reasonConditionId, requester_id: (m) => m.requesterId, status: (m) => m.status, intent: (m) => m.intent,
      medication_code: (m) => new JsonValue(m.medication), authored_on: (m) => m.authoredOn, dosage_instructions: (m) => new JsonValue(m.dosageInstruction),
      sensitivity_labels: (m) => m.sensitivityLabels,
    }),
    tableRows('medication_administration', bundles.flatMap((b) => b.medicationAdministrations), {
      id: (m) => m.id, patient_id: (m) => m.patientId, organization_id: (m) => m.organizationId, encounter_id: (m) => m.encounterId, request_id: (m) => m.requestId,
      status: (m) => m.status, medication_code: (m) => new JsonValue(m.medication), effective_start: (m) => m.effectiveDateTime,
      performers: (m) => new JsonValue([{ function: null, actor: m.performerId }]), dosage: (m) => new JsonValue(m.dosage), sensitivity_labels: (m) => m.sensitivityLabels,
    }),
    tableRows('medication_statement', bundles.flatMap((b) => b.medicationStatements), {
      id: (m) => m.id, patient_id: (m) => m.patientId, organization_id: (m) => m.organizationId, reason_condition_id: (m) => m.reasonConditionId,
      information_source_id: (m) => m.informationSourceId, status: (m) => m.status, medication_code: (m) => new JsonValue(m.medication),
      effective_start: (m) => m.effectiveStart, effective_period_start: (m) => m.effectiveStart, effective_period_end: (m) => m.effectiveEnd,
      date_asserted: (m) => m.dateAsserted, dosages: (m) => new JsonValue(m.dosage), sensitivity_labels: (m) => m.sensitivityLabels,
    }),
    tableRows('referral', bundles.flatMap((b) => b.referrals), {
      id: (r) => r.id, patient_id: (r) => r.patientId, requester_organization_id: (r) => r.requesterOrganizationId,
      requester_practitioner_id: (r) => r.requesterPractitionerId, performer_organization_id: (r) => r.performerOrganizationId,
      status: (r) => r.status, reason_code: (r) => r.reasonCode, reason_display: (r) => r.reasonDisplay, note: (r) => r.note,
      authored_on: (r) => r.authoredOn, appointment_time: (r) => r.appointmentTime,
    }),
  ],
};
