/**
 * MedicationStatement: a medication the patient takes, took or will take, as
 * reported (encounters), with its medication (a CodeableConcept or a
 * Medication: medication.ts), status, when (an instant or a period), when it
 * was reported (dateAsserted), by whom (informationSource), the encounter
 * (context), reasons and dosages, kept as sent and exported back as it came.
 */
import type { GqlPractitioner } from '../graphql-types.js';
import { EVERY_CODING, instant, isObject, labelsOf, patientLink, practitionerId, PRACTITIONER_FIELDS, recordRef, REFERENCE } from './elements.js';
import { effectiveOf, medicationUseToFhir, type GqlMedicationUse } from './medication-administration.js';
import {
  codeIn, concept, CONCEPT_FIELDS, concepts, DOSAGE, DOSAGE_FIELDS, dosages, fromFhirJson, MEDICATION_ELEMENTS, MEDICATION_FIELDS, medicationOf,
} from './medication.js';
import type { FhirResourceModule, Json, Mapped } from './module.js';

export const STATEMENT_STATUS = ['active', 'completed', 'entered-in-error', 'intended', 'stopped', 'on-hold', 'unknown', 'not-taken'];

export interface GqlMedicationStatement extends GqlMedicationUse {
  dateAsserted: string | null; informationSource: GqlPractitioner | null; reasonCode: Json[] | null; reasonReference: { id: string } | null;
  dosage: { fhirJson: string | null }[] | null;
}

export const medicationStatement: FhirResourceModule = {
  resourceType: 'MedicationStatement',
  keeps: {
    identifier: { system: true, value: true }, status: true, statusReason: EVERY_CODING, category: EVERY_CODING,
    ...MEDICATION_ELEMENTS, subject: REFERENCE, context: { reference: true }, effectiveDateTime: true, effectivePeriod: { start: true, end: true },
    dateAsserted: true, informationSource: REFERENCE, reasonCode: EVERY_CODING, reasonReference: { $max: 1, reference: true }, dosage: DOSAGE,
  },
  exports: [{
    from: 'medicationStatements',
    select: () => ({
      medicationStatements: `id status statusReason ${CONCEPT_FIELDS} category ${CONCEPT_FIELDS} ${MEDICATION_FIELDS} encounter { id }
    effectiveDateTime effectivePeriod { start end } dateAsserted informationSource ${PRACTITIONER_FIELDS} reasonCode ${CONCEPT_FIELDS} reasonReference { id }
    dosage ${DOSAGE_FIELDS} sensitivityLabels`,
    }),
    toFhir(m: GqlMedicationStatement, x) {
      if (!m.status || (!m.medication && !m.medicationReference)) return x.withheld();
      return {
        ...medicationUseToFhir('MedicationStatement', m, x),
        dateAsserted: m.dateAsserted,
        informationSource: x.practitioner(m.informationSource),
        reasonCode: m.reasonCode,
        reasonReference: m.reasonReference ? [x.link('Condition', m.reasonReference.id)] : undefined,
        dosage: m.dosage?.map(fromFhirJson),
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const encounter = recordRef(r.context, ['Encounter'], context, issues, 'context');
    const reasons = Array.isArray(r.reasonReference) ? r.reasonReference : r.reasonReference === undefined ? [] : (issues.add(400, 'structure', 'reasonReference must be a list', 'reasonReference'), []);
    const reason = reasons[0] !== undefined ? recordRef(reasons[0], ['Condition'], context, issues, 'reasonReference[0]') : null;
    const effective = effectiveOf(r, issues, false);
    const asserted = instant(r.dateAsserted, issues, 'dateAsserted');
    // Its place on the timeline: when it is taken, or (none given) when it was reported.
    const time = effective.start ?? effective.end ?? asserted;
    if (!time && !issues.list.some((i) => i.index === issues.index)) issues.add(400, 'required', 'effective[x] or dateAsserted is required: when it is taken, or when it was reported', 'effectiveDateTime');
    return {
      recordType: 'MedicationStatement', kind: 'medicationStatement',
      refs: { ...(encounter ? { encounter } : {}), ...(reason ? { reason } : {}) },
      patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        ...medicationOf(r, context, issues),
        status: codeIn(r.status, STATEMENT_STATUS, issues, 'status', true),
        status_reasons: concepts(r.statusReason, issues, 'statusReason'),
        category: concept(r.category, issues, 'category'),
        effective_start: time,
        effective_date_time: effective.dateTime,
        effective_period_start: effective.period ? effective.start : null,
        effective_period_end: effective.period ? effective.end : null,
        date_asserted: asserted,
        information_source_id: isObject(r.informationSource) ? practitionerId(r.informationSource, issues, 'informationSource') : null,
        reason_codes: concepts(r.reasonCode, issues, 'reasonCode'),
        dosages: dosages(r.dosage, issues, 'dosage'),
        sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
