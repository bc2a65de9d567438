/**
 * MedicationRequest: a prescription or medication order (encounters), with
 * its medication (a CodeableConcept or a Medication: medication.ts), status,
 * intent, categories, priority, authoredOn, prescriber, encounter, reasons
 * and dosage instructions (text, timing, route, dose), every element kept as
 * sent and exported back as it came.
 */
import type { GqlPractitioner } from '../graphql-types.js';
import { EVERY_CODING, instant, isObject, labelsOf, patientLink, practitionerId, PRACTITIONER_FIELDS, recordRef, REFERENCE } from './elements.js';
import {
  codeIn, concept, CONCEPT_FIELDS, concepts, DOSAGE, DOSAGE_FIELDS, dosages, fromFhirJson, MEDICATION_ELEMENTS, MEDICATION_FIELDS, medicationOf, medicationToFhir,
  type GqlMedicationParts,
} from './medication.js';
import type { FhirResourceModule, Json, Mapped } from './module.js';

export const REQUEST_STATUS = ['active', 'on-hold', 'cancelled', 'completed', 'entered-in-error', 'stopped', 'draft', 'unknown'];
export const REQUEST_INTENT = ['proposal', 'plan', 'order', 'original-order', 'reflex-order', 'filler-order', 'instance-order', 'option'];
const PRIORITY = ['routine', 'urgent', 'asap', 'stat'];

export interface GqlMedicationRequest extends GqlMedicationParts {
  id: string; status: string | null; statusReason: Json | null; intent: string | null; category: Json[] | null; priority: string | null;
  authoredOn: string | null; requester: GqlPractitioner | null; encounter: { id: string } | null; reasonCode: Json[] | null; reasonReference: { id: string } | null;
  dosageInstruction: { fhirJson: string | null }[] | null; sensitivityLabels: string[] | null;
}

export const medicationRequest: FhirResourceModule = {
  resourceType: 'MedicationRequest',
  keeps: {
    identifier: { system: true, value: true }, status: true, statusReason: EVERY_CODING, intent: true, category: EVERY_CODING, priority: true,
    ...MEDICATION_ELEMENTS, subject: REFERENCE, encounter: { reference: true }, authoredOn: true, requester: REFERENCE,
    reasonCode: EVERY_CODING, reasonReference: { $max: 1, reference: true }, dosageInstruction: DOSAGE,
  },
  exports: [{
    from: 'medicationRequests',
    select: () => ({
      medicationRequests: `id status statusReason ${CONCEPT_FIELDS} intent category ${CONCEPT_FIELDS} priority ${MEDICATION_FIELDS} authoredOn
    requester ${PRACTITIONER_FIELDS} encounter { id } reasonCode ${CONCEPT_FIELDS} reasonReference { id } dosageInstruction ${DOSAGE_FIELDS} sensitivityLabels`,
    }),
    toFhir(m: GqlMedicationRequest, x) {
      // status, intent and the medication are required: without them (withheld) the resource would not be valid.
      if (!m.status || !m.intent || (!m.medication && !m.medicationReference)) return x.withheld();
      return {
        resourceType: 'MedicationRequest',
        id: m.id,
        meta: x.meta(m, m.sensitivityLabels),
        ...medicationToFhir(m, x),
        status: m.status,
        statusReason: m.statusReason,
        intent: m.intent,
        category: m.category,
        priority: m.priority,
        subject: x.patientRef,
        encounter: x.link('Encounter', m.encounter?.id),
        authoredOn: m.authoredOn,
        requester: x.practitioner(m.requester),
        reasonCode: m.reasonCode,
        reasonReference: m.reasonReference ? [x.link('Condition', m.reasonReference.id)] : undefined,
        dosageInstruction: m.dosageInstruction?.map(fromFhirJson),
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const encounter = recordRef(r.encounter, ['Encounter'], context, issues, 'encounter');
    const reasons = Array.isArray(r.reasonReference) ? r.reasonReference : r.reasonReference === undefined ? [] : (issues.add(400, 'structure', 'reasonReference must be a list', 'reasonReference'), []);
    const reason = reasons[0] !== undefined ? recordRef(reasons[0], ['Condition'], context, issues, 'reasonReference[0]') : null;
    const categories = r.category === undefined ? [] : concepts(r.category, issues, 'category');
    return {
      recordType: 'MedicationRequest', kind: 'medicationRequest',
      refs: { ...(encounter ? { encounter } : {}), ...(reason ? { reason } : {}) },
      patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        ...medicationOf(r, context, issues),
        status: codeIn(r.status, REQUEST_STATUS, issues, 'status', true),
        status_reason: concept(r.statusReason, issues, 'statusReason'),
        intent: codeIn(r.intent, REQUEST_INTENT, issues, 'intent', true),
        categories,
        priority: codeIn(r.priority, PRIORITY, issues, 'priority'),
        authored_on: instant(r.authoredOn, issues, 'authoredOn', true),
        requester_id: isObject(r.requester) ? practitionerId(r.requester, issues, 'requester') : null,
        reason_codes: concepts(r.reasonCode, issues, 'reasonCode'),
        dosage_instructions: dosages(r.dosageInstruction, issues, 'dosageInstruction'),
        sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
