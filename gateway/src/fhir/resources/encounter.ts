/**
 * Encounter: a visit or stay (encounters). The class is HL7 v3 ActCode; the
 * reasons are kept as sent (issue 27), like a Condition's code: every
 * reasonCode with every coding, in any recognised system (formats and check
 * digits checked: code-systems.ts) or a local one with its system, and the
 * text; what the alliance requires of them is the coding policy's
 * (../coding-policy.ts). The diagnoses made during it are linked from the
 * Conditions in the bundle (Encounter.diagnosis).
 */
import { SYSTEM } from '../../../../lib/records/terminology.js';
import { ICD10_CM } from './code-systems.js';
import type { GqlCoding, GqlOrganization, GqlPeriod, GqlPractitioner } from '../graphql-types.js';
import { maskedExtension, SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, concept, instant, isObject, labelsOf, ORGANIZATION_FIELDS, ownOrganization, patientLink, PRACTITIONER_FIELDS, practitionerId, text, REFERENCE,
  EVERY_CODING, fhirReferenceOf, logicalReference, LOGICAL_REFERENCE_FIELDS, type LogicalRef,
} from './elements.js';
import { conceptOf, fhirConcept } from './clinical-observation.js';
import type { FhirResourceModule, Mapped } from './module.js';

/** GraphQL EncounterClass → HL7 v3 ActCode (the R4 Encounter.class value set). */
export const ENCOUNTER_CLASS: Record<string, { code: string; display: string }> = {
  OUTPATIENT: { code: 'AMB', display: 'ambulatory' },
  INPATIENT: { code: 'IMP', display: 'inpatient encounter' },
  EMERGENCY: { code: 'EMER', display: 'emergency' },
  VIRTUAL: { code: 'VR', display: 'virtual' },
};
const CLASS_CODES = new Map(Object.values(ENCOUNTER_CLASS).map((c) => [c.code, c.code]));

/** R4 encounter-status codes; anything else the store might hold becomes `unknown`. */
export const ENCOUNTER_STATUS = new Set(['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled', 'entered-in-error', 'unknown']);

export interface GqlEncounter {
  id: string; status: string | null; class: string | null; period: GqlPeriod | null;
  organization: GqlOrganization | null; practitioner: GqlPractitioner | null; reason: GqlCoding | null;
  sensitivityLabels: string[] | null;
  practitionerReference?: LogicalRef | null; practitionerTypes?: { coding: GqlCoding[]; text: string | null }[] | null; locations?: LogicalRef[] | null;
  reasonCode?: { coding: GqlCoding[]; text: string | null }[] | null;
  type?: { coding: GqlCoding[]; text: string | null }[] | null; practitionerPeriod?: GqlPeriod | null;
}

/** A registry practitioner's literal reference (Practitioner/{registry id}): kept as the registry's practitioner; any other person, logically. */
const REGISTRY_PRACTITIONER = /^Practitioner\/[A-Za-z0-9\-.]{1,64}$/;
const MAX_LOCATIONS = 10;
const MAX_REASONS = 10;
const MAX_TYPES = 10;
/** The coding an encounter's reason is listed under (GraphQL `reason`): ICD-10 where sent, else ICD-10-CM, else SNOMED CT, else the first. */
const PRIMARY_SYSTEMS = [SYSTEM.icd10, ICD10_CM, SYSTEM.snomed];
/** A period as the export writes it: the ends that were sent. */
const periodOf = (p: GqlPeriod) => Object.fromEntries(Object.entries({ start: p.start, end: p.end }).filter(([, v]) => v !== null && v !== undefined));
/** Nulls (GraphQL's absent) out of a logical reference. */
const present = (ref: LogicalRef): LogicalRef => Object.fromEntries(Object.entries(ref).filter(([, v]) => v !== null && v !== undefined)) as LogicalRef;

export const encounter: FhirResourceModule = {
  resourceType: 'Encounter',
  keeps: {
    identifier: { system: true, value: true }, status: true, class: { system: true, code: true, display: true }, subject: REFERENCE,
    type: { $max: MAX_TYPES, ...EVERY_CODING },
    participant: { $max: 1, individual: REFERENCE, type: EVERY_CODING, period: { start: true, end: true } }, location: { $max: MAX_LOCATIONS, location: REFERENCE }, period: { start: true, end: true }, reasonCode: { $max: MAX_REASONS, ...EVERY_CODING }, serviceProvider: REFERENCE,
    // Derived, as the export writes it: the Conditions that name this encounter (their own link is what is kept).
    diagnosis: { condition: { reference: true } },
  },
  exports: [{
    from: 'encounters',
    select: () => ({ encounters: `id status class period { start end } organization ${ORGANIZATION_FIELDS} practitioner ${PRACTITIONER_FIELDS} reason ${CODING_FIELDS} sensitivityLabels
    practitionerReference ${LOGICAL_REFERENCE_FIELDS} practitionerTypes { coding ${CODING_FIELDS} text } locations ${LOGICAL_REFERENCE_FIELDS} reasonCode { coding ${CODING_FIELDS} text }
    type { coding ${CODING_FIELDS} text } practitionerPeriod { start end }` }),
    toFhir(e: GqlEncounter, x) {
      const klass = e.class ? ENCOUNTER_CLASS[e.class] : undefined;
      if (!e.status || !(klass || x.masks.has(e, 'class'))) return x.withheld();
      return {
        resourceType: 'Encounter',
        id: e.id,
        meta: x.meta(e, e.sensitivityLabels),
        status: ENCOUNTER_STATUS.has(e.status) ? e.status : 'unknown',
        class: klass ? { system: SYSTEMS.actCode, code: klass.code, display: klass.display } : maskedExtension(),
        type: e.type?.length ? e.type.map((t) => fhirConcept(t)!) : undefined,
        subject: x.patientRef,
        participant: e.practitioner || e.practitionerReference || e.practitionerTypes?.length || e.practitionerPeriod
          ? [{
            ...(e.practitionerTypes?.length ? { type: e.practitionerTypes.map((t) => fhirConcept(t)!) } : {}),
            ...(e.practitionerPeriod ? { period: periodOf(e.practitionerPeriod) } : {}),
            ...(e.practitioner ? { individual: x.practitioner(e.practitioner) } : e.practitionerReference ? { individual: fhirReferenceOf(present(e.practitionerReference)) } : {}),
          }]
          : undefined,
        location: e.locations?.length ? e.locations.map((l) => ({ location: fhirReferenceOf(present(l)) })) : undefined,
        period: e.period ? { start: e.period.start, end: e.period.end } : undefined,
        // As sent (an encounter recorded before reasons were kept whole, or by a referral: its one ICD-10 reason).
        reasonCode: e.reasonCode?.length ? e.reasonCode.map((c) => fhirConcept(c)!) : e.reason ? [concept(e.reason)] : undefined,
        serviceProvider: x.org(e.organization),
      };
    },
    /** Encounter.diagnosis, from the conditions' own encounter links (both ends in the bundle). */
    complete(x) {
      const conditions = x.resources('Condition');
      for (const resource of x.resources('Encounter')) {
        const diagnosis = conditions.filter((c) => (c.encounter as { reference?: string } | undefined)?.reference === `Encounter/${resource.id}`)
          .map((c) => ({ condition: { reference: `Condition/${c.id}` } }));
        if (diagnosis.length) resource.diagnosis = diagnosis;
      }
    },
  }],
  fromFhir(r, context, issues): Mapped {
    ownOrganization(r.serviceProvider, context, issues, 'serviceProvider');
    const klass = isObject(r.class) ? r.class : null;
    if (!klass) issues.add(400, 'required', 'class is required', 'class');
    else if (klass.system !== SYSTEMS.actCode || !CLASS_CODES.has(klass.code)) issues.add(400, 'code-invalid', `class must be one of ${[...CLASS_CODES.keys()].join(', ')} in ${SYSTEMS.actCode}`, 'class.code');
    const status = text(r.status, issues, 'status', { required: true });
    if (status && !ENCOUNTER_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an encounter-status code', 'status');
    // Every reason as sent, each coding of a recognised system checked; the primary coding is what GraphQL's `reason` shows.
    const reasons = r.reasonCode === undefined ? [] : Array.isArray(r.reasonCode)
      ? (r.reasonCode as unknown[]).slice(0, MAX_REASONS).map((c, n) => conceptOf(c, issues, `reasonCode[${n}]`)).filter((c) => c !== null)
      : issues.add(400, 'structure', 'reasonCode must be a list of CodeableConcepts', 'reasonCode') ?? [];
    const codings = reasons.flatMap((c) => c.coding);
    const primary = PRIMARY_SYSTEMS.map((system) => codings.find((c) => c.system === system)).find(Boolean) ?? codings[0];
    const reason = primary ? { code: primary.code, display: primary.display ?? reasons.find((c) => c.coding.includes(primary))?.text ?? primary.code, system: primary.system } : null;
    // Encounter.diagnosis is the export's view of the Conditions' own encounter links: only Conditions, kept through them.
    (Array.isArray(r.diagnosis) ? r.diagnosis : []).forEach((d: unknown, n: number) => {
      const ref = isObject(d) && isObject(d.condition) ? d.condition.reference : undefined;
      const target = typeof ref === 'string' ? context.fullUrls.get(ref)?.resourceType ?? /^([A-Za-z]+)\//.exec(ref)?.[1] : undefined;
      if (target !== 'Condition') issues.add(400, 'invalid', `diagnosis[${n}].condition must reference a Condition (its encounter element is what is kept)`, `diagnosis[${n}].condition`);
    });
    const first = Array.isArray(r.participant) && isObject(r.participant[0]) ? r.participant[0] : undefined;
    const participant = first?.individual;
    // A registry practitioner (Practitioner/{id}) is the registry's; anyone else (by identifier, a display) is kept as sent, logically.
    const registry = isObject(participant) && participant.reference !== undefined && typeof participant.reference === 'string' && REGISTRY_PRACTITIONER.test(participant.reference);
    const logical = participant !== undefined && !registry ? logicalReference(participant, context, issues, 'participant[0].individual', ['Practitioner', 'PractitionerRole', 'RelatedPerson']) : null;
    const types = first?.type === undefined ? [] : Array.isArray(first.type)
      ? (first.type as unknown[]).map((t, n) => conceptOf(t, issues, `participant[0].type[${n}]`)).filter((t) => t !== null)
      : issues.add(400, 'structure', 'participant[0].type must be a list of CodeableConcepts', 'participant[0].type') ?? [];
    // The participant's period as sent (its start required of a period, its end after it).
    const participantPeriod = first?.period === undefined ? null : isObject(first.period)
      ? { start: instant(first.period.start, issues, 'participant[0].period.start'), end: instant(first.period.end, issues, 'participant[0].period.end') }
      : issues.add(400, 'structure', 'participant[0].period must be a Period', 'participant[0].period') ?? null;
    // The kinds of visit as sent (Encounter.type: SNOMED CT, local codes), each coding of a recognised system checked.
    const kinds = r.type === undefined ? [] : Array.isArray(r.type)
      ? (r.type as unknown[]).slice(0, MAX_TYPES).map((c, n) => conceptOf(c, issues, `type[${n}]`)).filter((c) => c !== null)
      : issues.add(400, 'structure', 'type must be a list of CodeableConcepts', 'type') ?? [];
    const locations = r.location === undefined ? [] : Array.isArray(r.location)
      ? (r.location as unknown[]).slice(0, MAX_LOCATIONS).map((l, n) => (isObject(l) ? logicalReference(l.location, context, issues, `location[${n}].location`, ['Location'])
        : issues.add(400, 'structure', `location[${n}] must be an EncounterLocation`, `location[${n}]`) ?? null)).filter((l): l is LogicalRef => l !== null)
      : issues.add(400, 'structure', 'location must be a list', 'location') ?? [];
    return {
      recordType: 'Encounter', kind: 'encounter', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        class: klass?.code, status, period_start: instant(r.period?.start, issues, 'period.start', true), period_end: instant(r.period?.end, issues, 'period.end'),
        reason_code: reason?.code ?? null, reason_display: reason?.display ?? null, reason_code_system: reason?.system ?? null, reason_codes: reasons.length ? reasons : null,
        practitioner_id: registry ? practitionerId(participant, issues, 'participant[0].individual') : null, sensitivity_labels: labelsOf(r, issues),
        participant: logical || types.length || participantPeriod
          ? { ...(logical ? { individual: logical } : {}), ...(types.length ? { type: types } : {}), ...(participantPeriod ? { period: participantPeriod } : {}) } : null,
        types: kinds.length ? kinds : null,
        locations: locations.length ? locations : null,
      },
    };
  },
};
