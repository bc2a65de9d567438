/** Encounters resolvers: Encounter, Condition (ICD-10), AllergyIntolerance, the medication records and Referral, and their lists on Patient. */
import type { GraphQLResolverMap } from '@apollo/subgraph';
import { isUuid, loadById, loadReference, loadChildren, loadPatientPage, maySee, type PageArgs, patientList } from '../../../lib/records/connection.js';
import type { RecordAccess } from '../../../lib/consent/record-access.js';
import { coding, entityRef, recordFields, type Row } from '../../../lib/records/records.js';
import { SYSTEM } from '../../../lib/records/terminology.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { ALLERGY, CONDITION, ENCOUNTER, MEDICATION_ADMINISTRATION, MEDICATION_REQUEST, MEDICATION_STATEMENT, PROCEDURE, REFERRAL } from './access.js';
import { DISCHARGE_DISPOSITIONS, recordDischarge, type DischargeInput } from './discharge.js';
import {
  changeReferralStatus, consentRequestOf, createReferral, incomingReferrals, participantsOf, scheduleRemoteConsultation,
  type ReferralInput, type RemoteConsultationInput,
} from './referrals.js';

export const ENCOUNTER_CLASS = { OUTPATIENT: 'AMB', INPATIENT: 'IMP', EMERGENCY: 'EMER', VIRTUAL: 'VR' } as const;
const CLASS_NAME = Object.fromEntries(Object.entries(ENCOUNTER_CLASS).map(([name, code]) => [code, name]));

/** What the three medication record types share: status, the medication (concept or referenced resource), encounter, reasons. */
const medicationFields = {
  status: (row: Row) => row.status,
  statusReason: (row: Row) => row.status_reason,
  category: (row: Row) => row.category,
  medication: (row: Row) => row.medication_code,
  medicationReference: (row: Row) => row.medication,
  encounter: (row: Row, _: unknown, context: SubgraphContext) => (row.encounter_id ? loadReference(context, 'encounter', row.encounter_id, ENCOUNTER) : null),
  reasonCode: (row: Row) => row.reason_codes,
  reasonReference: (row: Row, _: unknown, context: SubgraphContext) => (row.reason_condition_id ? loadReference(context, 'condition', row.reason_condition_id, CONDITION) : null),
};

/** How many records naming one Medication are read per type (a Medication entry is named by the few records of its Bundle). */
const MEDICATION_USES = 100;

/**
 * The records naming a Medication resource (`medication` holds it with the id the transaction-response gave it; a
 * contained one only has its local id), each kept only when the caller may see it, as `loadById` keeps a record.
 */
async function medicationUses(context: SubgraphContext, medicationId: string) {
  if (!isUuid(medicationId)) return { requests: [], administrations: [], statements: [] };
  const naming = async (table: string, access: RecordAccess) => {
    const rows = await context.db.query<Row>(
      `SELECT * FROM ${table} WHERE medication->>'id' = $1 AND COALESCE((medication->>'contained')::boolean, false) = false ORDER BY last_updated DESC, id DESC LIMIT ${MEDICATION_USES}`,
      [medicationId],
    );
    const visible = await Promise.all(rows.map((row) => maySee(context, access, row)));
    return rows.filter((_, i) => visible[i]);
  };
  const [requests, administrations, statements] = await Promise.all([
    naming('medication_request', MEDICATION_REQUEST), naming('medication_administration', MEDICATION_ADMINISTRATION), naming('medication_statement', MEDICATION_STATEMENT),
  ]);
  return { requests, administrations, statements };
}

export const resolvers: GraphQLResolverMap<SubgraphContext> = {
  Query: {
    encounter: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'encounter', id, ENCOUNTER),
    referral: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'referral', id, REFERRAL),
    condition: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'condition', id, CONDITION),
    allergyIntolerance: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'allergy_intolerance', id, ALLERGY),
    procedure: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'procedure', id, PROCEDURE),
    medicationRequest: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'medication_request', id, MEDICATION_REQUEST),
    medicationAdministration: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'medication_administration', id, MEDICATION_ADMINISTRATION),
    medicationStatement: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'medication_statement', id, MEDICATION_STATEMENT),
    medicationUses: (_: unknown, { medicationId }: { medicationId: string }, context: SubgraphContext) => medicationUses(context, medicationId),
    incomingReferrals: (_: unknown, args: { status?: string | null; first?: number | null; after?: string | null }, context: SubgraphContext) =>
      incomingReferrals(context, args),
  },
  Mutation: {
    createReferral: (_: unknown, { input }: { input: ReferralInput }, context: SubgraphContext) => createReferral(context, input),
    acceptReferral: (_: unknown, args: { id: string; appointmentTime: Date }, context: SubgraphContext) =>
      changeReferralStatus(context, 'accept', args.id, { appointmentTime: args.appointmentTime }),
    declineReferral: (_: unknown, args: { id: string; reason: string }, context: SubgraphContext) => changeReferralStatus(context, 'decline', args.id, { reason: args.reason }),
    completeReferral: (_: unknown, args: { id: string }, context: SubgraphContext) => changeReferralStatus(context, 'complete', args.id),
    cancelReferral: (_: unknown, args: { id: string; reason?: string | null }, context: SubgraphContext) => changeReferralStatus(context, 'cancel', args.id, { reason: args.reason }),
    scheduleRemoteConsultation: (_: unknown, { input }: { input: RemoteConsultationInput }, context: SubgraphContext) => scheduleRemoteConsultation(context, input),
    recordDischarge: (_: unknown, { input }: { input: DischargeInput }, context: SubgraphContext) => recordDischarge(context, input),
  },
  Patient: {
    encounters: (patient: { id: string }, args: PageArgs & { class?: keyof typeof ENCOUNTER_CLASS }, context: SubgraphContext) =>
      loadPatientPage(context, 'encounters', {
        ...patientList('Encounter'),
        ...(args.class ? { where: 'r.class = $7', params: [ENCOUNTER_CLASS[args.class]] } : {}),
      }, patient.id, args),
    conditions: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'conditions', patientList('Condition'), patient.id, args),
    allergies: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'allergies', patientList('AllergyIntolerance'), patient.id, args),
    procedures: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'procedures', patientList('Procedure'), patient.id, args),
    medicationRequests: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'medicationRequests', patientList('MedicationRequest'), patient.id, args),
    medicationAdministrations: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'medicationAdministrations', patientList('MedicationAdministration'), patient.id, args),
    medicationStatements: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'medicationStatements', patientList('MedicationStatement'), patient.id, args),
    referrals: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'referrals', patientList('Referral'), patient.id, args),
  },
  Encounter: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'encounter', reference.id, ENCOUNTER),
    ...recordFields,
    class: (row: Row) => CLASS_NAME[row.class],
    period: (row: Row) => ({ start: row.period_start, end: row.period_end }),
    practitioner: (row: Row) => entityRef(row.practitioner_id),
    reason: (row: Row) => coding(row.reason_code_system ?? SYSTEM.icd10, row.reason_code, row.reason_display),
    // Every reasonCode as sent (migration 012); null for encounters recorded before and those referrals create.
    reasonCode: (row: Row) => row.reason_codes ?? null,
    diagnoses: (row: Row, _: unknown, context: SubgraphContext) => loadChildren(context, 'condition', 'encounter_id', row.id, 'recorded_date, id', CONDITION),
    referral: (row: Row, _: unknown, context: SubgraphContext) => (row.referral_id ? loadReference(context, 'referral', row.referral_id, REFERRAL) : null),
    participants: (row: Row, _: unknown, context: SubgraphContext) => participantsOf(context, row.id),
    dischargeDisposition: (row: Row) => coding(SYSTEM.dischargeDisposition, row.discharge_disposition, DISCHARGE_DISPOSITIONS[row.discharge_disposition]),
    // Logical references kept as sent (jsonb in the shape of LogicalReference).
    practitionerReference: (row: Row) => row.participant?.individual ?? null,
    practitionerTypes: (row: Row) => row.participant?.type ?? null,
    locations: (row: Row) => row.locations ?? null,
    // Kept as sent (migration 015): the kinds of visit, and the responsible participant's period.
    type: (row: Row) => row.types ?? null,
    practitionerPeriod: (row: Row) => row.participant?.period ?? null,
  },
  EncounterParticipant: {
    practitioner: (row: Row) => entityRef(row.practitioner_id),
    organization: recordFields.organization,
    type: (row: Row) => row.type_code,
  },
  Condition: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'condition', reference.id, CONDITION),
    ...recordFields,
    // The primary coding (ICD-10 where sent, else SNOMED CT…), and the concept as sent.
    code: (row: Row) => coding(row.code_system ?? SYSTEM.icd10, row.code, row.display),
    codeableConcept: (row: Row) => row.codings ?? { coding: [{ system: SYSTEM.icd10, code: row.code, display: row.display }], text: null },
    clinicalStatus: (row: Row) => row.clinical_status,
    recordedDate: (row: Row) => row.recorded_date,
    onsetDateTime: (row: Row) => row.onset_date_time ?? null,
    abatementDateTime: (row: Row) => row.abatement_date_time ?? null,
    verificationStatus: (row: Row) => row.verification_status ?? null,
    encounter: (row: Row, _: unknown, context: SubgraphContext) => (row.encounter_id ? loadReference(context, 'encounter', row.encounter_id, ENCOUNTER) : null),
  },
  AllergyIntolerance: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'allergy_intolerance', reference.id, ALLERGY),
    ...recordFields,
    // The substance and the reactions are kept as sent (jsonb in the shape of the schema's CodeableConcept and AllergyReaction).
    code: (row: Row) => row.code,
    clinicalStatus: (row: Row) => row.clinical_status,
    verificationStatus: (row: Row) => row.verification_status,
    type: (row: Row) => row.type,
    category: (row: Row) => row.categories,
    criticality: (row: Row) => row.criticality,
    onsetDateTime: (row: Row) => row.onset_date_time,
    onsetString: (row: Row) => row.onset_string,
    recordedDate: (row: Row) => row.recorded_date,
    recorder: (row: Row) => entityRef(row.recorder_id),
    // Logical references kept as sent (migration 013).
    recorderReference: (row: Row) => row.recorder_reference ?? null,
    asserter: (row: Row) => row.asserter ?? null,
    reactions: (row: Row) => row.reactions,
  },
  Procedure: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'procedure', reference.id, PROCEDURE),
    ...recordFields,
    // Concepts and references are kept as sent (jsonb in the shape of the schema's CodeableConcept, ProcedurePerformer and LogicalReference).
    status: (row: Row) => row.status,
    code: (row: Row) => row.code,
    performedDateTime: (row: Row) => row.performed_date_time,
    performedPeriod: (row: Row) => (row.performed_period_start || row.performed_period_end ? { start: row.performed_period_start, end: row.performed_period_end } : null),
    performedAt: (row: Row) => row.performed_at,
    performedString: (row: Row) => row.performed_string ?? null,
    performedAge: (row: Row) => row.performed_age ?? null,
    performedRange: (row: Row) => row.performed_range ?? null,
    reasonCode: (row: Row) => row.reason_codes,
    // The display sent beside the diagnosis link (migration 015), under the diagnoses category like the link (access.ts).
    reasonReferenceDisplay: (row: Row) => (row.reason_condition_id ? row.reason_reference_display ?? null : null),
    reasonReference: async (row: Row, _: unknown, context: SubgraphContext) => {
      if (!row.reason_condition_id) return [];
      const condition = await loadReference(context, 'condition', row.reason_condition_id, CONDITION);
      return condition ? [condition] : [];
    },
    bodySite: (row: Row) => row.body_sites,
    outcome: (row: Row) => row.outcome,
    performer: (row: Row) => row.performers,
    location: (row: Row) => row.location,
    encounter: (row: Row, _: unknown, context: SubgraphContext) => (row.encounter_id ? loadReference(context, 'encounter', row.encounter_id, ENCOUNTER) : null),
  },
  // Medications: coded elements, the referenced Medication and dosages are kept in FHIR's shape (jsonb), which the schema's types mirror.
  MedicationRequest: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'medication_request', reference.id, MEDICATION_REQUEST),
    ...recordFields,
    ...medicationFields,
    intent: (row: Row) => row.intent,
    category: (row: Row) => row.categories,
    priority: (row: Row) => row.priority,
    authoredOn: (row: Row) => row.authored_on,
    requester: (row: Row) => entityRef(row.requester_id),
    dosageInstruction: (row: Row) => row.dosage_instructions,
  },
  MedicationAdministration: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'medication_administration', reference.id, MEDICATION_ADMINISTRATION),
    ...recordFields,
    ...medicationFields,
    statusReason: (row: Row) => row.status_reasons,
    effectiveDateTime: (row: Row) => (row.effective_is_period ? null : row.effective_start),
    effectivePeriod: (row: Row) => (row.effective_is_period ? { start: row.effective_start, end: row.effective_end } : null),
    performer: (row: Row) => (row.performers as { function: unknown; actor: string | null }[]).map((p) => ({ function: p.function, actor: entityRef(p.actor) })),
    request: (row: Row, _: unknown, context: SubgraphContext) => (row.request_id ? loadReference(context, 'medication_request', row.request_id, MEDICATION_REQUEST) : null),
    dosage: (row: Row) => row.dosage,
  },
  MedicationStatement: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'medication_statement', reference.id, MEDICATION_STATEMENT),
    ...recordFields,
    ...medicationFields,
    statusReason: (row: Row) => row.status_reasons,
    effectiveDateTime: (row: Row) => row.effective_date_time,
    effectivePeriod: (row: Row) => (row.effective_period_start || row.effective_period_end ? { start: row.effective_period_start, end: row.effective_period_end } : null),
    dateAsserted: (row: Row) => row.date_asserted,
    informationSource: (row: Row) => entityRef(row.information_source_id),
    dosage: (row: Row) => row.dosages,
  },
  // The FHIR JSON of the parts the export gives back whole (kept in FHIR's shape: the stored value itself).
  Dosage: { fhirJson: (dosage: object) => JSON.stringify(dosage) },
  AdministrationDosage: { fhirJson: (dosage: object) => JSON.stringify(dosage) },
  Medication: { fhirJson: ({ id: _id, contained: _contained, ...elements }: { id: string; contained: boolean }) => JSON.stringify(elements) },
  Referral: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'referral', reference.id, REFERRAL),
    patient: recordFields.patient,
    lastUpdated: recordFields.lastUpdated,
    status: (row: Row) => String(row.status).toUpperCase(),
    reason: (row: Row) => coding(SYSTEM.icd10, row.reason_code, row.reason_display),
    authoredOn: (row: Row) => row.authored_on,
    requester: (row: Row) => entityRef(row.requester_organization_id),
    requesterPractitioner: (row: Row) => entityRef(row.requester_practitioner_id),
    performer: (row: Row) => entityRef(row.performer_organization_id),
    appointmentTime: (row: Row) => row.appointment_time,
    statusReason: (row: Row) => row.status_reason,
    sensitivityLabels: recordFields.sensitivityLabels,
    statusChangedAt: (row: Row) => row.status_changed_at,
    consentRequest: (row: Row, _: unknown, context: SubgraphContext) => consentRequestOf(context, row),
    consultations: (row: Row, _: unknown, context: SubgraphContext) => loadChildren(context, 'encounter', 'referral_id', row.id, 'period_start DESC, id DESC', ENCOUNTER),
  },
};
