/**
 * AllergyIntolerance: an allergy or intolerance (encounters), the substance
 * in SNOMED CT or as free text, with its clinical and verification status,
 * type, categories, criticality, onset, recorder, asserter and reactions
 * (substance, manifestations, severity, onset). Every coding of the substance
 * and of each reaction is kept as sent, with its system (SNOMED CT codes
 * checked, Verhoeff digit included), and exported back as it came. A recorder
 * of the registry (Practitioner/<registry id>) is the registry's; one the
 * registry does not know (by identifier, a display) and the asserter are kept
 * as logical references, as sent.
 */
import { SYSTEM, isSnomedCtId, looksLikeSnomedCt } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlPractitioner } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, coding, codingOf, codingsOf, instant, isObject, labelsOf, patientLink, PRACTITIONER_FIELDS, practitionerId, text, type CodeCheck, ONE_CODING, EVERY_CODING, REFERENCE,
  fhirReferenceOf, logicalReference, LOGICAL_REFERENCE_FIELDS, type LogicalRef,
} from './elements.js';
import type { BundleContext, EntryIssues, FhirResourceModule, Json, Mapped } from './module.js';

const CLINICAL = new Set(['active', 'inactive', 'resolved']);
const VERIFICATION = new Set(['unconfirmed', 'confirmed', 'refuted', 'entered-in-error']);
const TYPES = new Set(['allergy', 'intolerance']);
const CATEGORIES = new Set(['food', 'medication', 'environment', 'biologic']);
const CRITICALITY = new Set(['low', 'high', 'unable-to-assess']);
const SEVERITY = new Set(['mild', 'moderate', 'severe']);
/** onset[x] forms the product does not store: refused by name rather than dropped. */
const OTHER_ONSETS = ['onsetAge', 'onsetPeriod', 'onsetRange'];
const MAX_REACTIONS = 20;
/** A registry practitioner's literal reference: kept as the registry's practitioner; anyone else, logically. */
const REGISTRY_PRACTITIONER = /^Practitioner\/[A-Za-z0-9\-.]{1,64}$/;
const RECORDER_TYPES = ['Practitioner', 'PractitionerRole'];
const ASSERTER_TYPES = ['Practitioner', 'PractitionerRole', 'RelatedPerson', 'Patient'];
/** Nulls (GraphQL's absent) out of a logical reference. */
const present = (ref: LogicalRef): LogicalRef => Object.fromEntries(Object.entries(ref).filter(([, v]) => v !== null && v !== undefined)) as LogicalRef;

/**
 * A person kept as a logical reference (recorder, asserter). An organisation is not one: refused by name (the generic
 * logical reference would take the publisher's own as the record's producer and keep nothing, losing what was sent).
 */
function personReference(value: unknown, context: BundleContext, issues: EntryIssues, element: string, types: string[]): LogicalRef | null {
  if (isObject(value)) {
    const named = typeof value.reference === 'string' ? /^(?:.*\/)?([A-Z][A-Za-z]+)\/[^/]+$/.exec(value.reference)?.[1] : undefined;
    if (named === 'Organization' || value.type === 'Organization' || (isObject(value.identifier) && value.identifier.system === SYSTEM.organization)) {
      return issues.add(400, 'invalid', `${element} must name a ${types.join(' or ')}, not an organisation`, element) ?? null;
    }
  }
  return logicalReference(value, context, issues, element, types);
}

const SNOMED: Record<string, CodeCheck> = { [SYSTEM.snomed]: { name: 'SNOMED CT', valid: isSnomedCtId, shape: looksLikeSnomedCt } };

export interface GqlCodeableConcept { coding: GqlCoding[]; text: string | null }

export interface GqlAllergyIntolerance {
  id: string; code: GqlCodeableConcept | null; clinicalStatus: string | null; verificationStatus: string | null; type: string | null;
  category: string[] | null; criticality: string | null; onsetDateTime: string | null; onsetString: string | null; recordedDate: string | null;
  recorder: GqlPractitioner | null; recorderReference?: LogicalRef | null; asserter?: LogicalRef | null; sensitivityLabels: string[] | null;
  reactions: { substance: GqlCodeableConcept | null; manifestations: GqlCodeableConcept[] | null; severity: string | null; onset: string | null; description: string | null }[] | null;
}

const CONCEPT_FIELDS = `{ coding ${CODING_FIELDS} text }`;
const concept = (c: GqlCodeableConcept | null | undefined) => (c ? { coding: c.coding.map(coding), text: c.text } : undefined);

/** A CodeableConcept as the product keeps it: every coding as sent, and the text; SNOMED CT codes checked. Needs a SNOMED CT coding or text. */
function substance(value: unknown, issues: EntryIssues, element: string, required: boolean): { coding: { system: string; code: string; display: string | null }[]; text: string | null } | null {
  if (value === undefined || value === null) return required ? issues.add(400, 'required', `${element} is required: the substance, in SNOMED CT or as text`, element) ?? null : null;
  const codings = codingsOf(value, issues, element, SNOMED);
  const words = isObject(value) && value.text !== undefined ? text(value.text, issues, `${element}.text`, { max: 500 }) : null;
  if (!words && !codings.some((c) => c.system === SYSTEM.snomed)) {
    return issues.add(400, 'code-invalid', `${element} needs a coding in ${SYSTEM.snomed} (SNOMED CT) or the substance as text`, element) ?? null;
  }
  return { coding: codings, text: words };
}

/** A code of a required binding (type, criticality, severity): absent, or one of `allowed`. */
function codeIn(value: unknown, allowed: Set<string>, issues: EntryIssues, element: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !allowed.has(value)) return issues.add(400, 'code-invalid', `${element} must be one of ${[...allowed].join(', ')}`, element) ?? null;
  return value;
}

export const allergyIntolerance: FhirResourceModule = {
  resourceType: 'AllergyIntolerance',
  keeps: {
    identifier: { system: true, value: true }, clinicalStatus: ONE_CODING, verificationStatus: ONE_CODING, type: true, category: true, criticality: true, code: EVERY_CODING,
    patient: REFERENCE, onsetDateTime: true, onsetString: true, recordedDate: true, recorder: REFERENCE, asserter: REFERENCE,
    reaction: { substance: EVERY_CODING, manifestation: EVERY_CODING, severity: true, onset: true, description: true },
  },
  exports: [{
    from: 'allergies',
    select: () => ({
      allergies: `id code ${CONCEPT_FIELDS} clinicalStatus verificationStatus type category criticality onsetDateTime onsetString recordedDate
    recorder ${PRACTITIONER_FIELDS} recorderReference ${LOGICAL_REFERENCE_FIELDS} asserter ${LOGICAL_REFERENCE_FIELDS} reactions { substance ${CONCEPT_FIELDS} manifestations ${CONCEPT_FIELDS} severity onset description } sensitivityLabels`,
    }),
    toFhir(a: GqlAllergyIntolerance, x) {
      // ait-1: a clinical status unless the record was entered in error; without it (withheld) the resource would not be valid.
      if (!a.clinicalStatus && a.verificationStatus !== 'entered-in-error' && x.masks.has(a, 'clinicalStatus')) return x.withheld();
      return {
        resourceType: 'AllergyIntolerance',
        id: a.id,
        meta: x.meta(a, a.sensitivityLabels),
        clinicalStatus: a.clinicalStatus ? { coding: [{ system: SYSTEMS.allergyClinical, code: a.clinicalStatus }] } : undefined,
        verificationStatus: a.verificationStatus ? { coding: [{ system: SYSTEMS.allergyVerification, code: a.verificationStatus }] } : undefined,
        type: a.type,
        category: a.category,
        criticality: a.criticality,
        code: concept(a.code),
        patient: x.patientRef,
        onsetDateTime: a.onsetDateTime,
        onsetString: a.onsetString,
        recordedDate: a.recordedDate,
        recorder: a.recorder ? x.practitioner(a.recorder) : a.recorderReference ? fhirReferenceOf(present(a.recorderReference)) : undefined,
        asserter: a.asserter ? fhirReferenceOf(present(a.asserter)) : undefined,
        reaction: a.reactions?.map((r) => ({
          substance: concept(r.substance),
          manifestation: (r.manifestations ?? []).map(concept),
          description: r.description,
          onset: r.onset,
          severity: r.severity,
        })),
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const clinical = codingOf(r.clinicalStatus, SYSTEMS.allergyClinical, issues, 'clinicalStatus', { name: 'allergyintolerance-clinical', valid: (code) => CLINICAL.has(code) });
    const verification = codingOf(r.verificationStatus, SYSTEMS.allergyVerification, issues, 'verificationStatus', { name: 'allergyintolerance-verification', valid: (code) => VERIFICATION.has(code) });
    const enteredInError = verification?.code === 'entered-in-error';
    if (enteredInError && r.clinicalStatus !== undefined) issues.add(400, 'invalid', 'A record entered in error has no clinicalStatus (ait-2)', 'clinicalStatus');
    if (!enteredInError && r.clinicalStatus === undefined) issues.add(400, 'required', 'clinicalStatus is required unless the record was entered in error (ait-1)', 'clinicalStatus');
    const categories = r.category === undefined ? [] : Array.isArray(r.category)
      ? (r.category as unknown[]).map((c, n) => codeIn(c, CATEGORIES, issues, `category[${n}]`)).filter((c): c is string => Boolean(c))
      : issues.add(400, 'structure', 'category must be a list', 'category') ?? [];
    for (const element of OTHER_ONSETS) if (r[element] !== undefined) issues.add(422, 'not-supported', `${element} is not kept: send onsetDateTime or onsetString`, element);
    const reactions = r.reaction === undefined ? [] : Array.isArray(r.reaction) ? (r.reaction as unknown[]) : issues.add(400, 'structure', 'reaction must be a list', 'reaction') ?? [];
    if (reactions.length > MAX_REACTIONS) issues.add(400, 'value', `At most ${MAX_REACTIONS} reactions`, 'reaction');
    // The recorder: a registry practitioner (Practitioner/{id}) is the registry's; anyone else (by identifier, a display) is kept as sent.
    const recorder = r.recorder;
    const registry = isObject(recorder) && typeof recorder.reference === 'string' && REGISTRY_PRACTITIONER.test(recorder.reference);
    const recorderReference = recorder !== undefined && !registry ? personReference(recorder, context, issues, 'recorder', RECORDER_TYPES) : null;
    return {
      recordType: 'AllergyIntolerance', kind: 'allergy', refs: {}, patient: patientLink(r.patient, context, issues, 'patient'), patientElement: 'patient',
      record: {
        code: substance(r.code, issues, 'code', true),
        clinical_status: clinical?.code ?? null,
        verification_status: verification?.code ?? null,
        type: codeIn(r.type, TYPES, issues, 'type'),
        categories,
        criticality: codeIn(r.criticality, CRITICALITY, issues, 'criticality'),
        onset_date_time: instant(r.onsetDateTime, issues, 'onsetDateTime'),
        onset_string: r.onsetString === undefined ? null : text(r.onsetString, issues, 'onsetString', { max: 200 }),
        // Its place on the timeline: when it was recorded (or, when not given, its onset).
        recorded_date: instant(r.recordedDate ?? r.onsetDateTime, issues, r.recordedDate === undefined && r.onsetDateTime !== undefined ? 'onsetDateTime' : 'recordedDate', true),
        recorder_id: registry ? practitionerId(recorder, issues, 'recorder') : null,
        recorder_reference: recorderReference,
        asserter: personReference(r.asserter, context, issues, 'asserter', ASSERTER_TYPES),
        reactions: reactions.slice(0, MAX_REACTIONS).map((reaction, n) => {
          const at = `reaction[${n}]`;
          const item: Json = isObject(reaction) ? reaction : (issues.add(400, 'structure', `${at} must be a reaction`, at), {});
          const manifestations = Array.isArray(item.manifestation) ? (item.manifestation as unknown[]) : [];
          if (!manifestations.length) issues.add(400, 'required', `${at}.manifestation is required: what was seen`, `${at}.manifestation`);
          return {
            substance: substance(item.substance, issues, `${at}.substance`, false),
            manifestations: manifestations.map((m, k) => substance(m, issues, `${at}.manifestation[${k}]`, true)),
            severity: codeIn(item.severity, SEVERITY, issues, `${at}.severity`),
            onset: instant(item.onset, issues, `${at}.onset`),
            description: item.description === undefined ? null : text(item.description, issues, `${at}.description`, { max: 2000 }),
          };
        }),
        sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
