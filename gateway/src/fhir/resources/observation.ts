/**
 * Observation: two record types of the catalogue share it. Lab results
 * (labs, category `laboratory`, LOINC coded) are exported and published;
 * home measurements (public-health, category `vital-signs`) are exported
 * only: the patient submits them, institutions do not publish them.
 */
import { SYSTEM, isLoincCode, isSnomedCtId, looksLikeLoinc, looksLikeSnomedCt } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlOrganization } from '../graphql-types.js';
import { MASKED_REASON, SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, codingOf, concept, instant, isObject, labelsOf, number, ORGANIZATION_FIELDS, ownOrganization, patientLink, fhirReferenceOf, logicalReference, LOGICAL_REFERENCE_FIELDS, type LogicalRef, text, ucum, withDisplay, ONE_CODING, REFERENCE, QUANTITY, codingsOf, coding, EVERY_CODING, type CodeCheck,
} from './elements.js';
import type { EntryIssues, FhirResourceModule, Json, Mapped } from './module.js';
import { encounterOf, ENCOUNTER_KEEPS, ENCOUNTER_SELECTION } from './encounter-link.js';
import { CLINICAL_CATEGORIES, clinicalObservationExport, clinicalObservationFromFhir, observationCategoryCodes } from './clinical-observation.js';

/**
 * A laboratory code (Observation.code, DiagnosticReport.code): LOINC when a
 * LOINC coding is there (its check digit verified), else the first coding
 * with a system (a laboratory's local code); a local coding beside a LOINC
 * one is kept too, as sent. `system` is null for LOINC (the stores' default).
 */
export function labCodeOf(concept: unknown, issues: EntryIssues, element: string): { code: string; display: string; system: string | null; local: { code: string; system: string; display: string | null } | null } | null {
  const codings = isObject(concept) && Array.isArray(concept.coding) ? (concept.coding as unknown[]).filter(isObject) as Json[] : [];
  const others = codings.filter((c) => c.system !== SYSTEM.loinc && typeof c.system === 'string' && c.system.length > 0 && c.system.length <= 500 && typeof c.code === 'string' && c.code.trim().length > 0 && c.code.length <= 200);
  const local = others[0] ? { code: String(others[0].code).trim(), system: String(others[0].system), display: typeof others[0].display === 'string' ? others[0].display.slice(0, 500) : null } : null;
  if (codings.some((c) => c.system === SYSTEM.loinc) || !local) {
    const loinc = withDisplay(codingOf(concept, SYSTEM.loinc, issues, element, { name: 'LOINC', valid: isLoincCode, shape: looksLikeLoinc, required: true }));
    return loinc ? { ...loinc, system: null, local } : null;
  }
  const display = local.display ?? (isObject(concept) && typeof concept.text === 'string' ? concept.text.slice(0, 500) : null) ?? local.code;
  return { code: local.code, display, system: local.system, local: null };
}

/** FHIR Quantity.comparator codes. */
export const COMPARATORS = new Set(['<', '<=', '>=', '>']);

export const OBSERVATION_STATUS = new Set(['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown']);
const INTERPRETATIONS = new Set(['N', 'H', 'L', 'A', 'HH', 'LL', 'HU', 'LU', 'AA', 'POS', 'NEG', 'IND', 'DET', 'ND', 'R', 'S', 'I']);
const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/** Home blood pressure is a panel (85354-9) with two components, as in the FHIR vital-signs profile. */
export const BLOOD_PRESSURE_COMPONENTS = {
  systolic: { system: SYSTEMS.loinc, code: '8480-6', display: 'Systolic blood pressure' },
  diastolic: { system: SYSTEMS.loinc, code: '8462-4', display: 'Diastolic blood pressure' },
};

export interface GqlObservation {
  id: string; status: string | null; category: string | null; code: GqlCoding | null;
  valueQuantity: { value: number; unit: string | null } | null; valueComparator?: string | null; valueString: string | null; localCode?: GqlCoding | null; note?: string | null;
  valueCodeableConcept?: { coding: GqlCoding[]; text: string | null } | null;
  referenceRange: { low: number | null; high: number | null; unit: string | null; text: string | null } | null;
  interpretation: GqlCoding | null; effectiveDateTime: string | null; issued: string | null;
  organization: GqlOrganization | null; report: { id: string } | null; encounter?: { id: string } | null; sensitivityLabels: string[] | null;
  performers?: LogicalRef[] | null; categories?: { coding: GqlCoding[]; text: string | null }[] | null;
}

/** A logical reference read back from GraphQL (its nulls are absent elements). */
const compactReference = (ref: LogicalRef): LogicalRef => JSON.parse(JSON.stringify(ref, (_k, v) => (v === null ? undefined : v)));

export interface GqlHomeMeasurement {
  id: string; kind: string | null; code: GqlCoding | null; systolic: number | null; diastolic: number | null; value: number | null;
  unit: string | null; effectiveDateTime: string | null; source: string | null; organization: GqlOrganization | null; fasting: boolean | null;
  sensitivityLabels: string[] | null;
}

/** SNOMED CT codes of a coded result are checked (their Verhoeff digit); codes of other systems are kept as sent. */
const SNOMED_CHECK: Record<string, CodeCheck> = { [SYSTEM.snomed]: { name: 'SNOMED CT', valid: isSnomedCtId, shape: looksLikeSnomedCt } };

export const observation: FhirResourceModule = {
  resourceType: 'Observation',
  keeps: {
    // The code: its LOINC coding and one laboratory code beside it, as sent (labCodeOf); a range's text as sent ("4.3 to 6.2"); notes (HL7 v2 NTE).
    identifier: { system: true, value: true }, status: true, category: EVERY_CODING, code: { ...ONE_CODING, coding: { $max: 2, system: true, code: true, display: true } }, subject: REFERENCE,
    performer: REFERENCE, valueQuantity: { ...QUANTITY, comparator: true }, valueString: true, valueCodeableConcept: EVERY_CODING, referenceRange: { $max: 1, low: QUANTITY, high: QUANTITY, text: true }, note: { text: true },
    interpretation: { $max: 1, coding: { $max: 1, system: true, code: true, display: true }, text: true }, effectiveDateTime: true, issued: true,
    encounter: ENCOUNTER_KEEPS,
  },
  exports: [
    {
      from: 'observations',
      select: () => ({
        observations: `id status category code ${CODING_FIELDS} localCode ${CODING_FIELDS} valueQuantity { value unit } valueComparator valueString valueCodeableConcept { coding ${CODING_FIELDS} text } referenceRange { low high unit text } note
    interpretation ${CODING_FIELDS} effectiveDateTime issued organization ${ORGANIZATION_FIELDS} ${ENCOUNTER_SELECTION} performers ${LOGICAL_REFERENCE_FIELDS} categories { coding ${CODING_FIELDS} text } sensitivityLabels`,
      }),
      toFhir(o: GqlObservation, x) {
        const primary = x.requiredConcept(o, 'code', o.code);
        if (!o.status || !primary) return x.withheld();
        // The laboratory's own code, as sent, beside the LOINC code.
        const code = o.localCode ? { ...primary, coding: [...(primary.coding ?? []), { system: o.localCode.system, code: o.localCode.code, ...(o.localCode.display ? { display: o.localCode.display } : {}) }] } : primary;
        const hasValue = Boolean(o.valueQuantity || o.valueString || o.valueCodeableConcept);
        const valueMasked = !hasValue && (x.masks.has(o, 'valueQuantity') || x.masks.has(o, 'valueString') || x.masks.has(o, 'valueCodeableConcept'));
        const range = o.referenceRange;
        return {
          resourceType: 'Observation',
          id: o.id,
          meta: x.meta(o, o.sensitivityLabels),
          status: OBSERVATION_STATUS.has(o.status) ? o.status : 'unknown',
          // As sent (labs migration 008); a result stored before: its one category.
          category: o.categories?.length ? o.categories.map((c) => ({ coding: c.coding.map(coding), ...(c.text ? { text: c.text } : {}) }))
            : [{ coding: [{ system: SYSTEMS.observationCategory, code: o.category ?? 'laboratory', display: o.category === 'vital-signs' ? 'Vital Signs' : 'Laboratory' }] }],
          code,
          subject: x.patientRef,
          encounter: x.link('Encounter', o.encounter?.id),
          effectiveDateTime: o.effectiveDateTime,
          issued: o.issued,
          performer: [...(o.organization ? [x.org(o.organization)!] : []), ...(o.performers ?? []).map((p) => fhirReferenceOf(compactReference(p)))],
          valueQuantity: o.valueQuantity ? { ...(o.valueComparator ? { comparator: o.valueComparator } : {}), ...ucum(o.valueQuantity.value, o.valueQuantity.unit) } : undefined,
          valueString: o.valueQuantity ? undefined : o.valueString ?? undefined,
          valueCodeableConcept: o.valueCodeableConcept && !o.valueQuantity
            ? { coding: o.valueCodeableConcept.coding.map(coding), ...(o.valueCodeableConcept.text ? { text: o.valueCodeableConcept.text } : {}) } : undefined,
          note: o.note ? [{ text: o.note }] : undefined,
          // Observation has its own element for "why is there no value" (obs-6: only without a value).
          dataAbsentReason: valueMasked ? MASKED_REASON : undefined,
          interpretation: o.interpretation ? [concept(o.interpretation)] : undefined,
          referenceRange: range && (range.low !== null || range.high !== null || range.text)
            ? [{
              low: range.low !== null ? ucum(range.low, range.unit) : undefined,
              high: range.high !== null ? ucum(range.high, range.unit) : undefined,
              text: range.text,
            }]
            : undefined,
        };
      },
    },
    {
      from: 'homeMeasurements',
      select: () => ({ homeMeasurements: `id kind code ${CODING_FIELDS} systolic diastolic value unit effectiveDateTime source organization ${ORGANIZATION_FIELDS} fasting sensitivityLabels` }),
      /** A home measurement is an Observation of category vital-signs; blood pressure is a two-component panel. */
      toFhir(m: GqlHomeMeasurement, x) {
        const code = x.requiredConcept(m, 'code', m.code);
        if (!code) return x.withheld();
        const bloodPressure = m.kind === 'BLOOD_PRESSURE';
        const component = (which: 'systolic' | 'diastolic') => {
          const value = m[which];
          return {
            code: { coding: [BLOOD_PRESSURE_COMPONENTS[which]], text: BLOOD_PRESSURE_COMPONENTS[which].display },
            valueQuantity: value !== null ? ucum(value, m.unit) : undefined,
            dataAbsentReason: value === null && x.masks.has(m, which) ? MASKED_REASON : undefined,
          };
        };
        return {
          resourceType: 'Observation',
          id: m.id,
          meta: x.meta(m, m.sensitivityLabels),
          status: 'final',
          category: [{ coding: [{ system: SYSTEMS.observationCategory, code: 'vital-signs', display: 'Vital Signs' }] }],
          code,
          subject: x.patientRef,
          effectiveDateTime: m.effectiveDateTime,
          // The patient took the reading (themselves or through an app acting for them).
          performer: [x.patientRef],
          valueQuantity: !bloodPressure && m.value !== null ? ucum(m.value, m.unit) : undefined,
          dataAbsentReason: !bloodPressure && m.value === null && x.masks.has(m, 'value') ? MASKED_REASON : undefined,
          component: bloodPressure ? [component('systolic'), component('diastolic')] : undefined,
          note: m.fasting ? [{ text: 'Fasting' }] : undefined,
        };
      },
    },
    // Clinical observations of every other category (vital signs, social history, exam…): clinical-observation.ts.
    clinicalObservationExport,
  ],
  /**
   * A laboratory result (category laboratory, or none), or a clinical observation (vital-signs, social-history,
   * survey, exam, imaging, procedure, therapy, activity: clinical-observation.ts). Home measurements are the patient's
   * to submit: an institution's vital signs are clinical observations.
   */
  fromFhir(r, context, issues): Mapped {
    const categoryCodes = observationCategoryCodes(r);
    const unknown = categoryCodes.filter((code) => code !== 'laboratory' && !CLINICAL_CATEGORIES.has(code));
    if (unknown.length) issues.add(400, 'code-invalid', `${unknown.join(', ')} is not an observation-category code (laboratory, ${[...CLINICAL_CATEGORIES].join(', ')})`, 'category');
    if (!categoryCodes.includes('laboratory') && categoryCodes.some((code) => CLINICAL_CATEGORIES.has(code))) return clinicalObservationFromFhir(r, context, issues, categoryCodes);
    if (categoryCodes.some((code) => code !== 'laboratory')) {
      issues.add(422, 'not-supported', 'A laboratory Observation has the laboratory category only: send other categories as observations of their own', 'category');
    }
    const status = text(r.status, issues, 'status', { required: true });
    if (status && !OBSERVATION_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an observation-status code', 'status');
    const code = labCodeOf(r.code, issues, 'code');
    // The publisher stands for itself (the record's organisation); a practitioner (by registry id or by identifier) or a
    // location is kept as the logical reference sent, as clinical observations keep theirs (labs migration 008).
    if (r.performer !== undefined && !Array.isArray(r.performer)) issues.add(400, 'structure', 'performer must be a list of References', 'performer');
    // Anything else names a producer: the publisher itself, or refused (403), as before.
    const performers = (Array.isArray(r.performer) ? r.performer : []).map((p: unknown, n: number) => {
      const at = `performer[${n}]`;
      const practitioner = isObject(p) && (p.type === 'Practitioner' || (typeof p.reference === 'string' && /^Practitioner[/?]/.test(p.reference)));
      const displayOnly = isObject(p) && p.display !== undefined && p.reference === undefined && p.identifier === undefined && p.type === undefined;
      if (practitioner || displayOnly) return logicalReference(p, context, issues, at, ['Practitioner']);
      ownOrganization(p, context, issues, at, true);
      return null;
    }).filter((p: LogicalRef | null): p is LogicalRef => p !== null);
    const quantity = isObject(r.valueQuantity) ? r.valueQuantity : null;
    const value = quantity ? number(quantity.value, issues, 'valueQuantity.value') : null;
    if (quantity && value === null && quantity.value === undefined) issues.add(400, 'required', 'valueQuantity.value is required', 'valueQuantity.value');
    const comparator = quantity?.comparator;
    if (comparator !== undefined && !COMPARATORS.has(comparator)) issues.add(400, 'code-invalid', 'valueQuantity.comparator is one of <, <=, >=, >', 'valueQuantity.comparator');
    // Result texts (pathology, microbiology) run long: up to 100,000 characters.
    const valueText = r.valueString !== undefined ? text(r.valueString, issues, 'valueString', { max: 100_000 }) : null;
    // A coded result is kept coded (every coding, the text), not turned into text (labs migration 005).
    const valueCodings = r.valueCodeableConcept === undefined ? [] : codingsOf(r.valueCodeableConcept, issues, 'valueCodeableConcept', SNOMED_CHECK);
    const valueConcept = r.valueCodeableConcept === undefined ? null : {
      coding: valueCodings, text: isObject(r.valueCodeableConcept) && r.valueCodeableConcept.text !== undefined ? text(r.valueCodeableConcept.text, issues, 'valueCodeableConcept.text', { max: 500 }) : null,
    };
    if ([r.valueQuantity, r.valueString, r.valueCodeableConcept].filter((v) => v !== undefined).length > 1) issues.add(400, 'invalid', 'value[x] is one element: send valueQuantity, valueString or valueCodeableConcept', 'value');
    const range = Array.isArray(r.referenceRange) && isObject(r.referenceRange[0]) ? r.referenceRange[0] : null;
    // A range's text is kept as sent ("4.3 to 6.2", HL7 v2 OBX-7), beside its bounds (labs migration 004).
    const interpretation = Array.isArray(r.interpretation) && isObject(r.interpretation[0]) ? r.interpretation[0].coding?.[0] : undefined;
    if (interpretation !== undefined && (interpretation?.system !== INTERPRETATION_SYSTEM || !INTERPRETATIONS.has(interpretation.code))) {
      issues.add(400, 'code-invalid', `interpretation must be a code of ${INTERPRETATION_SYSTEM} (N, H, L, A, POS, NEG…)`, 'interpretation[0].coding[0].code');
    }
    const encounter = encounterOf(r.encounter, context, issues);
    return {
      recordType: 'Observation', kind: 'observation', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      ...(encounter.foreignLinks ? { foreignLinks: encounter.foreignLinks } : {}),
      record: {
        code: code?.code, display: code?.display, category: 'laboratory', status,
        value_quantity: value, value_string: quantity ? null : valueText, value_concept: valueConcept, unit: quantity?.unit ?? quantity?.code ?? range?.low?.unit ?? range?.high?.unit ?? null,
        reference_low: range ? number(range.low?.value, issues, 'referenceRange[0].low.value') : null,
        reference_high: range ? number(range.high?.value, issues, 'referenceRange[0].high.value') : null,
        reference_text: range?.text !== undefined ? text(range.text, issues, 'referenceRange[0].text', { max: 500 }) : null,
        value_comparator: quantity && COMPARATORS.has(comparator) ? comparator : null,
        code_system: code?.system ?? null, local_code: code?.local?.code ?? null, local_system: code?.local?.system ?? null, local_display: code?.local?.display ?? null,
        note: Array.isArray(r.note) ? r.note.map((n: unknown) => (isObject(n) && typeof n.text === 'string' ? n.text : '')).filter(Boolean).join('\n').slice(0, 100_000) || null : null,
        interpretation: interpretation?.code ?? null, effective: instant(r.effectiveDateTime, issues, 'effectiveDateTime', true), issued: instant(r.issued, issues, 'issued'),
        sensitivity_labels: labelsOf(r, issues), encounter_id: encounter.encounterId, performers: performers.length ? performers : null,
        categories: Array.isArray(r.category) && r.category.length ? (r.category as unknown[]).map((c, n) => ({
          coding: codingsOf(c, issues, `category[${n}]`),
          text: isObject(c) && c.text !== undefined ? text(c.text, issues, `category[${n}].text`, { max: 500 }) : null,
        })) : null,
      },
    };
  },
};
