/**
 * MedicationAdministration: a medication given to the patient (encounters),
 * with its medication (a CodeableConcept or a Medication: medication.ts),
 * status, when (an instant or a period), who gave it, the encounter
 * (context), the prescription it carried out (request), reasons and the
 * dose (text, site, route, method, dose, rate), kept as sent and exported
 * back as it came.
 */
import type { GqlPractitioner } from '../graphql-types.js';
import { EVERY_CODING, instant, isObject, labelsOf, patientLink, practitionerId, PRACTITIONER_FIELDS, recordRef, REFERENCE, QUANTITY } from './elements.js';
import {
  codeIn, concept, CONCEPT_FIELDS, concepts, MEDICATION_ELEMENTS, MEDICATION_FIELDS, fromFhirJson, medicationOf, medicationToFhir, quantity, type GqlMedicationParts,
} from './medication.js';
import type { EntryIssues, ExportContext, FhirResourceModule, Json, Mapped } from './module.js';

export const ADMINISTRATION_STATUS = ['in-progress', 'not-done', 'on-hold', 'completed', 'entered-in-error', 'stopped', 'unknown'];

/** What an administration and a statement share: FHIR R4 gives both these elements, and they are mapped alike. */
export interface GqlMedicationUse extends GqlMedicationParts {
  id: string; status: string | null; statusReason: Json[] | null; category: Json | null; encounter: { id: string } | null;
  effectiveDateTime: string | null; effectivePeriod: { start: string | null; end: string | null } | null; sensitivityLabels: string[] | null;
}

/** The elements of an administration or a statement they share, from resourceType to effective[x]. */
export const medicationUseToFhir = (resourceType: string, m: GqlMedicationUse, x: ExportContext) => ({
  resourceType,
  id: m.id,
  meta: x.meta(m, m.sensitivityLabels),
  ...medicationToFhir(m, x),
  status: m.status,
  statusReason: m.statusReason,
  category: m.category,
  subject: x.patientRef,
  context: x.link('Encounter', m.encounter?.id),
  effectiveDateTime: m.effectiveDateTime,
  effectivePeriod: m.effectivePeriod,
});

export interface GqlMedicationAdministration extends GqlMedicationUse {
  performer: { function: Json | null; actor: GqlPractitioner | null }[] | null; reasonCode: Json[] | null; reasonReference: { id: string } | null;
  request: { id: string } | null; dosage: { fhirJson: string | null } | null; sensitivityLabels: string[] | null;
}

/** effective[x] of an administration or a statement: an instant or a period (its start required for an administration). */
export function effectiveOf(r: Json, issues: EntryIssues, required: boolean): { dateTime: string | null; start: string | null; end: string | null; period: boolean } {
  if (r.effectiveDateTime !== undefined && r.effectivePeriod !== undefined) {
    issues.add(400, 'invalid', 'Give effectiveDateTime or effectivePeriod, not both', 'effectivePeriod');
    return { dateTime: null, start: null, end: null, period: false };
  }
  if (r.effectivePeriod !== undefined) {
    if (!isObject(r.effectivePeriod)) return { dateTime: null, start: issues.add(400, 'structure', 'effectivePeriod must be a Period', 'effectivePeriod') ?? null, end: null, period: true };
    const start = instant(r.effectivePeriod.start, issues, 'effectivePeriod.start', required);
    const end = instant(r.effectivePeriod.end, issues, 'effectivePeriod.end');
    if (start && end && end < start) issues.add(400, 'invalid', 'effectivePeriod ends before it starts', 'effectivePeriod.end');
    return { dateTime: null, start, end, period: true };
  }
  const dateTime = instant(r.effectiveDateTime, issues, 'effectiveDateTime', required);
  return { dateTime, start: dateTime, end: null, period: false };
}

export const medicationAdministration: FhirResourceModule = {
  resourceType: 'MedicationAdministration',
  keeps: {
    identifier: { system: true, value: true }, status: true, statusReason: EVERY_CODING, category: EVERY_CODING,
    ...MEDICATION_ELEMENTS, subject: REFERENCE, context: { reference: true }, effectiveDateTime: true, effectivePeriod: { start: true, end: true },
    performer: { function: EVERY_CODING, actor: REFERENCE }, reasonCode: EVERY_CODING, reasonReference: { $max: 1, reference: true },
    request: { reference: true }, dosage: { text: true, site: EVERY_CODING, route: EVERY_CODING, method: EVERY_CODING, dose: QUANTITY, rateQuantity: QUANTITY },
  },
  exports: [{
    from: 'medicationAdministrations',
    select: () => ({
      medicationAdministrations: `id status statusReason ${CONCEPT_FIELDS} category ${CONCEPT_FIELDS} ${MEDICATION_FIELDS} encounter { id }
    effectiveDateTime effectivePeriod { start end } performer { function ${CONCEPT_FIELDS} actor ${PRACTITIONER_FIELDS} } reasonCode ${CONCEPT_FIELDS} reasonReference { id }
    request { id } dosage { fhirJson } sensitivityLabels`,
    }),
    toFhir(m: GqlMedicationAdministration, x) {
      if (!m.status || (!m.medication && !m.medicationReference) || (!m.effectiveDateTime && !m.effectivePeriod)) return x.withheld();
      return {
        ...medicationUseToFhir('MedicationAdministration', m, x),
        performer: m.performer?.map((p) => ({ function: p.function, actor: x.practitioner(p.actor) })),
        reasonCode: m.reasonCode,
        reasonReference: m.reasonReference ? [x.link('Condition', m.reasonReference.id)] : undefined,
        request: x.link('MedicationRequest', m.request?.id),
        dosage: fromFhirJson(m.dosage),
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const encounter = recordRef(r.context, ['Encounter'], context, issues, 'context');
    const request = recordRef(r.request, ['MedicationRequest'], context, issues, 'request');
    const reasons = Array.isArray(r.reasonReference) ? r.reasonReference : r.reasonReference === undefined ? [] : (issues.add(400, 'structure', 'reasonReference must be a list', 'reasonReference'), []);
    const reason = reasons[0] !== undefined ? recordRef(reasons[0], ['Condition'], context, issues, 'reasonReference[0]') : null;
    const effective = effectiveOf(r, issues, true);
    if (r.effectiveDateTime === undefined && r.effectivePeriod === undefined) issues.add(400, 'required', 'effective[x] is required: when it was given (effectiveDateTime or effectivePeriod)', 'effectiveDateTime');
    const performers = r.performer === undefined ? [] : Array.isArray(r.performer) ? r.performer : (issues.add(400, 'structure', 'performer must be a list', 'performer'), []);
    const d = r.dosage === undefined ? null : isObject(r.dosage) ? r.dosage : (issues.add(400, 'structure', 'dosage must be an object', 'dosage'), null);
    return {
      recordType: 'MedicationAdministration', kind: 'medicationAdministration',
      refs: { ...(encounter ? { encounter } : {}), ...(reason ? { reason } : {}), ...(request ? { request } : {}) },
      patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        ...medicationOf(r, context, issues),
        status: codeIn(r.status, ADMINISTRATION_STATUS, issues, 'status', true),
        status_reasons: concepts(r.statusReason, issues, 'statusReason'),
        category: concept(r.category, issues, 'category'),
        effective_start: effective.start,
        effective_end: effective.end,
        effective_is_period: effective.period,
        performers: performers.map((p: unknown, n: number) => {
          const item = isObject(p) ? p : (issues.add(400, 'structure', `performer[${n}] must be a performer`, `performer[${n}]`), {} as Json);
          const actor = practitionerId(item.actor, issues, `performer[${n}].actor`);
          if (!actor) issues.add(400, 'required', `performer[${n}].actor is required: a Practitioner of the registry`, `performer[${n}].actor`);
          return { function: concept(item.function, issues, `performer[${n}].function`), actor };
        }),
        reason_codes: concepts(r.reasonCode, issues, 'reasonCode'),
        dosage: d ? {
          text: d.text === undefined ? null : typeof d.text === 'string' && d.text.trim() ? d.text : issues.add(400, 'value', 'dosage.text must be a non-empty string', 'dosage.text') ?? null,
          site: concept(d.site, issues, 'dosage.site'), route: concept(d.route, issues, 'dosage.route'), method: concept(d.method, issues, 'dosage.method'),
          dose: quantity(d.dose, issues, 'dosage.dose'), rateQuantity: quantity(d.rateQuantity, issues, 'dosage.rateQuantity'),
        } : null,
        sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
