/**
 * Publishing into the encounters subgraph (lib/ingest/participant.ts): the
 * encounters, diagnoses (Condition), allergies (AllergyIntolerance),
 * medications (MedicationRequest, MedicationAdministration,
 * MedicationStatement), procedures and referrals (ServiceRequest) an institution publishes, stored as its own
 * records. Referrals are produced by
 * the referring organisation (the publisher) and addressed to the performer.
 */
import type { KindHandlers } from '../../../lib/ingest/participant.js';

export const ingestHandlers: KindHandlers = {
  referral: {
    table: 'referral',
    category: 'referrals',
    addresseesColumn: 'addressee_organization_ids',
    organizationColumn: 'requester_organization_id',
    columns: ['requester_practitioner_id', 'performer_organization_id', 'status', 'reason_code', 'reason_display', 'note', 'authored_on', 'appointment_time', 'sensitivity_labels', 'status_changed_at'],
    order: 1,
    check: async (_tx, entry, organizationId) => (entry.record.performer_organization_id === organizationId
      ? { status: 422, code: 'business-rule', message: 'A referral goes to another organisation', expression: `${entry.path}.performer[0]` }
      : null),
  },
  encounter: {
    table: 'encounter',
    category: 'encounters',
    addresseesColumn: 'addressee_organization_ids',
    columns: ['practitioner_id', 'class', 'status', 'period_start', 'period_end', 'reason_code', 'reason_display', 'sensitivity_labels', 'participant', 'locations', 'reason_code_system', 'reason_codes', 'types'],
    order: 2,
  },
  allergy: {
    table: 'allergy_intolerance',
    category: 'allergies',
    columns: ['recorder_id', 'code', 'clinical_status', 'verification_status', 'type', 'categories', 'criticality', 'onset_date_time', 'onset_string',
      'recorded_date', 'reactions', 'sensitivity_labels', 'recorder_reference', 'asserter'],
    order: 4,
  },
  procedure: {
    table: 'procedure',
    category: 'procedures',
    columns: ['status', 'code', 'performed_date_time', 'performed_period_start', 'performed_period_end', 'performed_at', 'reason_codes', 'body_sites',
      'outcome', 'performers', 'location', 'sensitivity_labels', 'performed_string', 'performed_age', 'performed_range', 'reason_reference_display'],
    refs: {
      encounter: { column: 'encounter_id', table: 'encounter', kinds: ['encounter'], expression: 'encounter' },
      reason: { column: 'reason_condition_id', table: 'condition', kinds: ['condition'], expression: 'reasonReference[0]' },
    },
    // After the encounters and the diagnoses it names.
    order: 5,
  },
  // Medications: after the encounters and diagnoses they name; an administration after the prescription it carries out.
  medicationRequest: {
    table: 'medication_request',
    category: 'medications',
    columns: ['requester_id', 'status', 'status_reason', 'intent', 'categories', 'priority', 'medication_code', 'medication', 'authored_on', 'reason_codes',
      'dosage_instructions', 'sensitivity_labels'],
    refs: {
      encounter: { column: 'encounter_id', table: 'encounter', kinds: ['encounter'], expression: 'encounter' },
      reason: { column: 'reason_condition_id', table: 'condition', kinds: ['condition'], expression: 'reasonReference[0]' },
    },
    order: 5,
  },
  medicationAdministration: {
    table: 'medication_administration',
    category: 'medications',
    columns: ['status', 'status_reasons', 'category', 'medication_code', 'medication', 'effective_start', 'effective_end', 'effective_is_period', 'performers',
      'reason_codes', 'dosage', 'sensitivity_labels'],
    refs: {
      encounter: { column: 'encounter_id', table: 'encounter', kinds: ['encounter'], expression: 'context' },
      reason: { column: 'reason_condition_id', table: 'condition', kinds: ['condition'], expression: 'reasonReference[0]' },
      request: { column: 'request_id', table: 'medication_request', kinds: ['medicationRequest'], expression: 'request' },
    },
    order: 6,
  },
  medicationStatement: {
    table: 'medication_statement',
    category: 'medications',
    columns: ['information_source_id', 'status', 'status_reasons', 'category', 'medication_code', 'medication', 'effective_start', 'effective_date_time',
      'effective_period_start', 'effective_period_end', 'date_asserted', 'reason_codes', 'dosages', 'sensitivity_labels'],
    refs: {
      encounter: { column: 'encounter_id', table: 'encounter', kinds: ['encounter'], expression: 'context' },
      reason: { column: 'reason_condition_id', table: 'condition', kinds: ['condition'], expression: 'reasonReference[0]' },
    },
    order: 6,
  },
  condition: {
    table: 'condition',
    category: 'diagnoses',
    columns: ['code', 'display', 'clinical_status', 'recorded_date', 'sensitivity_labels', 'code_system', 'codings', 'onset_date_time', 'abatement_date_time', 'verification_status'],
    refs: { encounter: { column: 'encounter_id', table: 'encounter', kinds: ['encounter'], expression: 'encounter' } },
    order: 3,
  },
};
