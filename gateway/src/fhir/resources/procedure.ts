/**
 * Procedure: an operation, an intervention, a diagnostic or therapeutic act
 * performed on the patient (encounters: performed and recorded during an
 * encounter). The code is kept with every coding as sent (SNOMED CT with its
 * Verhoeff digit checked, ICD-10-PCS and CPT by shape, any other system as a
 * local code with its system), so are the reasons, body sites and outcome;
 * the performers and the location are kept as the references they were sent
 * as (a practitioner by identifier or a location the registry does not hold
 * is kept, not refused); an organisation named as performer must be the
 * publisher. Exported back as it came.
 */
import { SYSTEM, isSnomedCtId, looksLikeSnomedCt } from '../../../../lib/records/terminology.js';
import { CODING_FIELDS, codingsOf, instant, isObject, labelsOf, ownOrganization, patientLink, recordRef, text, type CodeCheck, EVERY_CODING, REFERENCE } from './elements.js';
import type { BundleContext, EntryIssues, FhirResourceModule, Json, Mapped } from './module.js';

/** FHIR event-status (Procedure.status, a required binding). */
const STATUS = new Set(['preparation', 'in-progress', 'not-done', 'on-hold', 'stopped', 'completed', 'entered-in-error', 'unknown']);
/** performed[x] forms without an instant of their own: kept as sent, the procedure placed on the timeline when published (encounters migration 014). */
const OTHER_PERFORMED = ['performedString', 'performedAge', 'performedRange'];
/** An Age or a Range's bound (SimpleQuantity: no comparator kept). */
const AGE = { value: true, unit: true, system: true, code: true } as const;
type Quantity = { value?: number; unit?: string; system?: string; code?: string };

/** An Age (or a Range's bound) as sent: value, unit, system, code. */
function quantityOf(value: unknown, issues: EntryIssues, element: string): Quantity | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return issues.add(400, 'structure', `${element} must be a Quantity`, element);
  const out: Quantity = {};
  if (value.value !== undefined) {
    if (typeof value.value !== 'number' || !Number.isFinite(value.value) || value.value < 0) issues.add(400, 'value', `${element}.value must be a non-negative number`, `${element}.value`);
    else out.value = value.value;
  }
  for (const key of ['unit', 'system', 'code'] as const) {
    if (value[key] === undefined) continue;
    const t = text(value[key], issues, `${element}.${key}`, { max: 200 });
    if (t) out[key] = t;
  }
  if (out.code !== undefined && out.system === undefined) issues.add(400, 'required', `${element}.system is required with a code (qty-3)`, `${element}.system`);
  return out;
}
const MAX_LIST = 20;

/** Procedure code systems checked where a coding claims them; every other system is kept as a local code with its system. */
export const PROCEDURE_SYSTEMS = {
  snomed: SYSTEM.snomed,
  icd10pcs: 'http://www.cms.gov/Medicare/Coding/ICD10',
  cpt: 'http://www.ama-assn.org/go/cpt',
} as const;
const CHECKS: Record<string, CodeCheck> = {
  [PROCEDURE_SYSTEMS.snomed]: { name: 'SNOMED CT', valid: isSnomedCtId, shape: looksLikeSnomedCt },
  // Seven characters, digits and letters but I and O.
  [PROCEDURE_SYSTEMS.icd10pcs]: { name: 'ICD-10-PCS', valid: (code) => /^[0-9A-HJ-NP-Z]{7}$/.test(code) },
  // Five characters: four digits and a digit, F (category II) or T/U (category III).
  [PROCEDURE_SYSTEMS.cpt]: { name: 'CPT', valid: (code) => /^\d{4}[0-9FTU]$/.test(code) },
};

export type ConceptValue = { coding: { system: string; code: string; display: string | null }[]; text: string | null };
/** A Reference kept as sent (LogicalReference in the schema). */
export interface ReferenceValue { reference: string | null; type: string | null; identifier: { system: string | null; value: string | null } | null; display: string | null }

export interface GqlProcedure {
  id: string; status: string | null; code: ConceptValue | null; performedDateTime: string | null; performedPeriod: { start: string | null; end: string | null } | null;
  performedString?: string | null; performedAge?: Quantity | null; performedRange?: { low: Quantity | null; high: Quantity | null } | null;
  reasonCode: ConceptValue[] | null; reasonReference: { id: string }[] | null; reasonReferenceDisplay?: string | null; bodySite: ConceptValue[] | null; outcome: ConceptValue | null;
  performer: { function: ConceptValue | null; actor: ReferenceValue | null }[] | null; location: ReferenceValue | null; encounter: { id: string } | null;
  sensitivityLabels: string[] | null;
}

export const CONCEPT_SELECTION = `{ coding ${CODING_FIELDS} text }`;
const QUANTITY_SELECTION = '{ value unit system code }';
/** A stored quantity (or range) back as sent: GraphQL's nulls are absent elements. */
const compact = <T>(value: T | null | undefined): T | undefined => (value === null || value === undefined ? undefined : JSON.parse(JSON.stringify(value, (_k, v) => (v === null ? undefined : v))));
export const REFERENCE_SELECTION = '{ reference type identifier { system value } display }';

/** A CodeableConcept back to FHIR (nulls dropped by the export's cleaning). */
export const conceptToFhir = (c: ConceptValue | null | undefined) => (c ? { coding: c.coding.map((x) => ({ system: x.system, code: x.code, ...(x.display ? { display: x.display } : {}) })), text: c.text } : undefined);
/** A kept Reference back to FHIR. */
export const referenceToFhir = (r: ReferenceValue | null | undefined) => (r ? {
  reference: r.reference, type: r.type, identifier: r.identifier ? { system: r.identifier.system, value: r.identifier.value } : undefined, display: r.display,
} : undefined);

/** A CodeableConcept as kept: every coding as sent (the checked systems checked), and the text; `required`: a coding or text. */
export function conceptOf(value: unknown, issues: EntryIssues, element: string, required = false, checks: Record<string, CodeCheck> = CHECKS): ConceptValue | null {
  if (value === undefined || value === null) return required ? issues.add(400, 'required', `${element} is required`, element) ?? null : null;
  const coding = codingsOf(value, issues, element, checks);
  const words = isObject(value) && value.text !== undefined ? text(value.text, issues, `${element}.text`, { max: 500 }) : null;
  if (!coding.length && !words) return issues.add(400, 'required', `${element} needs a coding (with its system) or text`, element) ?? null;
  return { coding, text: words };
}

/** A list of CodeableConcepts, each kept as sent. */
export function conceptsOf(value: unknown, issues: EntryIssues, element: string, checks: Record<string, CodeCheck> = CHECKS): ConceptValue[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return issues.add(400, 'structure', `${element} must be a list`, element) ?? [];
  if (value.length > MAX_LIST) issues.add(400, 'value', `At most ${MAX_LIST} items`, element);
  return value.slice(0, MAX_LIST).map((item, n) => conceptOf(item, issues, `${element}[${n}]`, true, checks)).filter((c): c is ConceptValue => Boolean(c));
}

/**
 * A Reference kept as sent: a literal reference (`Type/id`, or a conditional one `Type?identifier=…` as EHR exports
 * write them), a logical one by identifier, and/or a display. `types`: the resource types it may name.
 */
export function logicalReference(value: unknown, types: string[], issues: EntryIssues, element: string): ReferenceValue | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) return issues.add(400, 'invalid', `${element} must be a Reference`, element) ?? null;
  const { reference, type, identifier, display } = value;
  const named = typeof reference === 'string' ? /^([A-Z][A-Za-z]+)[/?]/.exec(reference)?.[1] : undefined;
  if (reference !== undefined && (typeof reference !== 'string' || !named || reference.length > 500)) {
    return issues.add(400, 'invalid', `${element}.reference must be ${types.join(' or ')}/id or ${types[0]}?identifier=system|value`, `${element}.reference`) ?? null;
  }
  if (named && !types.includes(named)) return issues.add(400, 'invalid', `${element} must reference a ${types.join(' or ')}`, `${element}.reference`) ?? null;
  if (type !== undefined && (typeof type !== 'string' || !types.includes(type))) return issues.add(400, 'invalid', `${element}.type must be ${types.join(' or ')}`, `${element}.type`) ?? null;
  if (named && typeof type === 'string' && type !== named) return issues.add(400, 'invalid', `${element}.type says ${type} but the reference names a ${named}`, `${element}.type`) ?? null;
  let kept: ReferenceValue['identifier'] = null;
  if (identifier !== undefined) {
    if (!isObject(identifier)) return issues.add(400, 'invalid', `${element}.identifier must be an Identifier`, `${element}.identifier`) ?? null;
    kept = {
      system: text(identifier.system, issues, `${element}.identifier.system`, { required: true, max: 500 }),
      value: text(identifier.value, issues, `${element}.identifier.value`, { required: true, max: 200 }),
    };
  }
  const words = display === undefined ? null : text(display, issues, `${element}.display`, { max: 500 });
  if (reference === undefined && !kept && !words) return issues.add(400, 'invalid', `${element} needs a reference, an identifier or a display`, element) ?? null;
  return { reference: (reference as string | undefined) ?? null, type: (type as string | undefined) ?? null, identifier: kept, display: words };
}

/** A performer or member: a Practitioner (literal, conditional or by identifier, kept as sent) or the publisher's own Organization. */
export function actorOf(value: unknown, context: BundleContext, issues: EntryIssues, element: string, others: string[] = []): ReferenceValue | null {
  if (!isObject(value)) return value === undefined ? null : issues.add(400, 'invalid', `${element} must be a Reference`, element) ?? null;
  const named = typeof value.reference === 'string' ? /^([A-Z][A-Za-z]+)[/?]/.exec(value.reference)?.[1] : undefined;
  const organisation = named === 'Organization' || value.type === 'Organization';
  if (organisation) {
    // The producer's rule: only the publisher's own organisation may be named.
    const before = issues.list.length;
    ownOrganization(value, context, issues, element);
    if (issues.list.length > before) return null;
  } else if (value.reference === undefined && value.identifier !== undefined && value.type === undefined) {
    return issues.add(400, 'invalid', `${element}.type is required with an identifier alone: Practitioner${others.length ? `, ${others.join(', ')}` : ''} or Organization (yours)`, `${element}.type`) ?? null;
  }
  return logicalReference(value, ['Practitioner', 'PractitionerRole', ...others, 'Organization'], issues, element);
}

export const procedure: FhirResourceModule = {
  resourceType: 'Procedure',
  keeps: {
    identifier: { system: true, value: true }, status: true, code: EVERY_CODING, subject: REFERENCE, encounter: { reference: true },
    performedDateTime: true, performedPeriod: { start: true, end: true }, performedString: true, performedAge: AGE, performedRange: { low: AGE, high: AGE },
    reasonCode: EVERY_CODING, reasonReference: { $max: 1, reference: true, display: true },
    bodySite: EVERY_CODING, outcome: EVERY_CODING,
    performer: { function: EVERY_CODING, actor: REFERENCE },
    location: REFERENCE,
  },
  exports: [{
    from: 'procedures',
    select: () => ({
      procedures: `id status code ${CONCEPT_SELECTION} performedDateTime performedPeriod { start end } performedString performedAge ${QUANTITY_SELECTION}
    performedRange { low ${QUANTITY_SELECTION} high ${QUANTITY_SELECTION} } reasonCode ${CONCEPT_SELECTION} reasonReference { id } reasonReferenceDisplay
    bodySite ${CONCEPT_SELECTION} outcome ${CONCEPT_SELECTION} performer { function ${CONCEPT_SELECTION} actor ${REFERENCE_SELECTION} } location ${REFERENCE_SELECTION}
    encounter { id } sensitivityLabels`,
    }),
    toFhir(p: GqlProcedure, x) {
      // status and code are required: without them (withheld) the resource would not be valid.
      if (!p.status || !p.code) return x.withheld();
      // The display as sent, beside the link only (written when the caller may see the Condition: it is then in the export).
      const reasons = (p.reasonReference ?? []).map((c) => x.link('Condition', c.id)).filter(Boolean)
        .map((link) => (p.reasonReferenceDisplay ? { ...link, display: p.reasonReferenceDisplay } : link));
      return {
        resourceType: 'Procedure',
        id: p.id,
        meta: x.meta(p, p.sensitivityLabels),
        status: p.status,
        code: conceptToFhir(p.code),
        subject: x.patientRef,
        encounter: x.link('Encounter', p.encounter?.id),
        performedDateTime: p.performedDateTime,
        performedPeriod: p.performedPeriod ? { start: p.performedPeriod.start, end: p.performedPeriod.end } : undefined,
        performedString: p.performedString ?? undefined,
        performedAge: compact(p.performedAge),
        performedRange: compact(p.performedRange),
        performer: p.performer?.map((f) => ({ function: conceptToFhir(f.function), actor: referenceToFhir(f.actor) })),
        location: referenceToFhir(p.location),
        reasonCode: p.reasonCode?.map(conceptToFhir),
        reasonReference: reasons.length ? reasons : undefined,
        bodySite: p.bodySite?.map(conceptToFhir),
        outcome: conceptToFhir(p.outcome),
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const status = typeof r.status === 'string' && STATUS.has(r.status) ? r.status
      : issues.add(400, r.status === undefined ? 'required' : 'code-invalid', `status is required, one of ${[...STATUS].join(', ')}`, 'status') ?? null;
    const otherForms = OTHER_PERFORMED.filter((element) => r[element] !== undefined);
    if (otherForms.length && [...otherForms, ...['performedDateTime', 'performedPeriod'].filter((e) => r[e] !== undefined)].length > 1) {
      issues.add(400, 'invalid', 'performed[x] is one element: send one of performedDateTime, performedPeriod, performedString, performedAge, performedRange', otherForms[otherForms.length - 1] ?? 'performedPeriod');
    }
    const performedString = text(r.performedString, issues, 'performedString', { max: 500 });
    const performedAge = quantityOf(r.performedAge, issues, 'performedAge');
    const rangeSent = r.performedRange === undefined ? undefined : isObject(r.performedRange) ? r.performedRange : issues.add(400, 'structure', 'performedRange must be a Range', 'performedRange');
    const performedRange = rangeSent ? { low: quantityOf(rangeSent.low, issues, 'performedRange.low'), high: quantityOf(rangeSent.high, issues, 'performedRange.high') } : undefined;
    const performedDateTime = instant(r.performedDateTime, issues, 'performedDateTime');
    const period = r.performedPeriod === undefined ? null : isObject(r.performedPeriod) ? r.performedPeriod : issues.add(400, 'structure', 'performedPeriod must be a Period', 'performedPeriod') ?? null;
    const start = period ? instant(period.start, issues, 'performedPeriod.start') : null;
    const end = period ? instant(period.end, issues, 'performedPeriod.end') : null;
    if (r.performedDateTime !== undefined && r.performedPeriod !== undefined) issues.add(400, 'invalid', 'Only one performed[x]: performedDateTime or performedPeriod', 'performedPeriod');
    if (start && end && end < start) issues.add(400, 'invalid', 'performedPeriod.end is before its start (per-1)', 'performedPeriod.end');
    // Its place on the timeline and in its list: when it was performed (or began).
    // A procedure known by a text or an age has no instant: it is placed on the timeline when it is published.
    const otherForm = otherForms.length > 0;
    const performedAt = performedDateTime ?? start ?? (otherForm ? new Date().toISOString() : null);
    if (!performedAt && !otherForm && r.performedDateTime === undefined && !period?.start) {
      issues.add(400, 'required', 'performedDateTime or performedPeriod.start is required: when the procedure was performed (or began)', r.performedPeriod === undefined ? 'performedDateTime' : 'performedPeriod.start');
    }
    const encounter = recordRef(r.encounter, ['Encounter'], context, issues, 'encounter');
    const reasonRefs = r.reasonReference === undefined ? [] : Array.isArray(r.reasonReference) ? (r.reasonReference as unknown[]) : issues.add(400, 'structure', 'reasonReference must be a list', 'reasonReference') ?? [];
    const reason = reasonRefs.length ? recordRef(reasonRefs[0], ['Condition'], context, issues, 'reasonReference[0]') : null;
    const performers = r.performer === undefined ? [] : Array.isArray(r.performer) ? (r.performer as unknown[]) : issues.add(400, 'structure', 'performer must be a list', 'performer') ?? [];
    if (performers.length > MAX_LIST) issues.add(400, 'value', `At most ${MAX_LIST} performers`, 'performer');
    return {
      recordType: 'Procedure', kind: 'procedure', patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      refs: { ...(encounter ? { encounter } : {}), ...(reason ? { reason } : {}) },
      record: {
        status,
        code: conceptOf(r.code, issues, 'code', true),
        performed_date_time: performedDateTime,
        performed_period_start: start,
        performed_period_end: end,
        performed_at: performedAt,
        performed_string: performedString,
        performed_age: performedAge ?? null,
        performed_range: performedRange ?? null,
        reason_codes: conceptsOf(r.reasonCode, issues, 'reasonCode'),
        body_sites: conceptsOf(r.bodySite, issues, 'bodySite'),
        outcome: conceptOf(r.outcome, issues, 'outcome'),
        performers: performers.slice(0, MAX_LIST).map((item, n) => {
          const at = `performer[${n}]`;
          const performer: Json = isObject(item) ? item : (issues.add(400, 'structure', `${at} must be a performer`, at), {});
          if (performer.actor === undefined) issues.add(400, 'required', `${at}.actor is required`, `${at}.actor`);
          return { function: conceptOf(performer.function, issues, `${at}.function`), actor: actorOf(performer.actor, context, issues, `${at}.actor`) };
        }),
        location: logicalReference(r.location, ['Location'], issues, 'location'),
        sensitivity_labels: labelsOf(r, issues),
        reason_reference_display: reasonRefs.length && isObject(reasonRefs[0]) && reasonRefs[0].display !== undefined
          ? text(reasonRefs[0].display, issues, 'reasonReference[0].display', { max: 1000 }) : null,
      },
    };
  },
};
