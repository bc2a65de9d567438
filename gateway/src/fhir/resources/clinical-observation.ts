/**
 * Clinical observations: FHIR Observations of every category but laboratory
 * (vital-signs, social-history, survey, exam, imaging, procedure, therapy,
 * activity), owned by labs (record type ClinicalObservation, consent
 * category `observations`). Read by the Observation module (observation.ts),
 * which tells them from laboratory results by their category.
 *
 * Kept as sent, element by element: every coding of every CodeableConcept
 * (code, category, value, interpretation, bodySite, method, components),
 * value[x] of every type (Quantity with its comparator, CodeableConcept,
 * string, boolean, integer, Range, Ratio, dateTime, Period), components,
 * hasMember and derivedFrom (other clinical observations of the request or
 * stored), notes, performers (the publisher, or practitioners and locations
 * as logical references). LOINC and SNOMED CT codes (and the other
 * recognised systems: code-systems.ts) are checked; local codes are kept
 * with their system.
 */
import type { EntryRef } from '../../../../lib/ingest/types.js';
import type { GqlOrganization } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import { CODE_CHECKS } from './code-systems.js';
import {
  CODING_FIELDS, codingsOf, EVERY_CODING, fhirReferenceOf, instant, isObject, labelsOf, logicalReference, LOGICAL_REFERENCE_FIELDS, number, ORGANIZATION_FIELDS,
  patientLink, QUANTITY, recordRef, REFERENCE, text, type LogicalRef,
} from './elements.js';
import { encounterOf, ENCOUNTER_KEEPS, ENCOUNTER_SELECTION } from './encounter-link.js';
import type { BundleContext, EntryIssues, Json, KeptElements, KeptObject, Mapped, RecordExport, Resource } from './module.js';

/** The observation-category codes this record type holds (laboratory is the lab results'). */
export const CLINICAL_CATEGORIES = new Set(['vital-signs', 'social-history', 'survey', 'exam', 'imaging', 'procedure', 'therapy', 'activity']);
const CATEGORY_DISPLAY: Record<string, string> = {
  'vital-signs': 'Vital Signs', 'social-history': 'Social History', survey: 'Survey', exam: 'Exam', imaging: 'Imaging', procedure: 'Procedure', therapy: 'Therapy', activity: 'Activity', laboratory: 'Laboratory',
};
export const categoryDisplay = (code: string) => CATEGORY_DISPLAY[code];

const STATUS = new Set(['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown']);
const COMPARATORS = new Set(['<', '<=', '>=', '>']);
/** hasMember and derivedFrom: at most this many each (a panel's members). */
export const MAX_LINKS = 20;
const MAX_COMPONENTS = 50;
/** referenceRange: at most this many (a range per population, say). */
const MAX_RANGES = 10;
/** What Observation.specimen may name: a Specimen (not a record of its own: kept as a logical reference). */
const SPECIMEN_TYPES = ['Specimen'];

type Concept = { coding: { system: string; code: string; display: string | null }[]; text: string | null };
type Quantity = { value?: number; comparator?: string; unit?: string; system?: string; code?: string };
/** value[x] as stored: one key, named after the FHIR type. */
/** A reference range as stored (FHIR's shape, what was sent). */
export type ReferenceRange = { low?: Quantity; high?: Quantity; type?: Concept; appliesTo?: Concept[]; age?: { low?: Quantity; high?: Quantity }; text?: string };
export type Value = { quantity?: Quantity; codeableConcept?: Concept; string?: string; boolean?: boolean; integer?: number; range?: { low?: Quantity; high?: Quantity };
  ratio?: { numerator?: Quantity; denominator?: Quantity }; dateTime?: string; period?: { start?: string; end?: string } };

const VALUE_TYPES = ['valueQuantity', 'valueCodeableConcept', 'valueString', 'valueBoolean', 'valueInteger', 'valueRange', 'valueRatio', 'valueDateTime', 'valuePeriod'] as const;
const SIMPLE_QUANTITY: KeptObject = QUANTITY;
const FULL_QUANTITY: KeptObject = { ...QUANTITY, comparator: true };
const VALUE_KEEPS: { [element: string]: KeptElements } = {
  valueQuantity: FULL_QUANTITY, valueCodeableConcept: EVERY_CODING, valueString: true, valueBoolean: true, valueInteger: true,
  valueRange: { low: SIMPLE_QUANTITY, high: SIMPLE_QUANTITY }, valueRatio: { numerator: FULL_QUANTITY, denominator: FULL_QUANTITY }, valueDateTime: true, valuePeriod: { start: true, end: true },
};

/** What a clinical observation keeps (publishing refuses, named, any other element: nothing accepted is lost). */
export const CLINICAL_OBSERVATION_KEEPS: { [element: string]: KeptElements } = {
  identifier: { system: true, value: true }, status: true, category: EVERY_CODING, code: EVERY_CODING, subject: REFERENCE,
  effectiveDateTime: true, effectivePeriod: { start: true, end: true }, issued: true, performer: REFERENCE,
  ...VALUE_KEEPS, dataAbsentReason: EVERY_CODING, interpretation: EVERY_CODING, note: { text: true }, bodySite: EVERY_CODING, method: EVERY_CODING,
  hasMember: { reference: true }, derivedFrom: { reference: true }, encounter: ENCOUNTER_KEEPS,
  referenceRange: { $max: MAX_RANGES, low: SIMPLE_QUANTITY, high: SIMPLE_QUANTITY, type: EVERY_CODING, appliesTo: EVERY_CODING, age: { low: SIMPLE_QUANTITY, high: SIMPLE_QUANTITY }, text: true },
  specimen: REFERENCE,
  component: { code: EVERY_CODING, ...VALUE_KEEPS, dataAbsentReason: EVERY_CODING, interpretation: EVERY_CODING },
};

/** A CodeableConcept kept whole: every coding (recognised systems checked), and the text. */
export function conceptOf(value: unknown, issues: EntryIssues, element: string, required = false): Concept | null {
  if (value === undefined || value === null) return required ? issues.add(400, 'required', `${element} is required`, element) ?? null : null;
  const coding = codingsOf(value, issues, element, CODE_CHECKS);
  const words = isObject(value) && value.text !== undefined ? text(value.text, issues, `${element}.text`, { max: 2000 }) : null;
  if (!coding.length && !words) return issues.add(400, 'required', `${element} needs a coding or a text`, element) ?? null;
  return { coding, text: words };
}

function concepts(value: unknown, issues: EntryIssues, element: string): Concept[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) return issues.add(400, 'structure', `${element} must be a list of CodeableConcepts`, element) ?? null;
  return value.map((c, n) => conceptOf(c, issues, `${element}[${n}]`)).filter((c): c is Concept => c !== null);
}

function quantityOf(value: unknown, issues: EntryIssues, element: string, comparator: boolean): Quantity | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return issues.add(400, 'structure', `${element} must be a Quantity`, element);
  const out: Quantity = {};
  const v = number(value.value, issues, `${element}.value`);
  if (v !== null) out.value = v;
  if (value.comparator !== undefined) {
    if (!comparator) issues.add(400, 'invalid', `${element}.comparator is not allowed in a SimpleQuantity`, `${element}.comparator`);
    else if (!COMPARATORS.has(value.comparator)) issues.add(400, 'code-invalid', `${element}.comparator is one of <, <=, >=, >`, `${element}.comparator`);
    else out.comparator = value.comparator;
  }
  for (const key of ['unit', 'system', 'code'] as const) {
    if (value[key] === undefined) continue;
    const t = text(value[key], issues, `${element}.${key}`, { max: 500 });
    if (t) out[key] = t;
  }
  if (out.code !== undefined && out.system === undefined) issues.add(400, 'required', `${element}.system is required with a code (qty-3)`, `${element}.system`);
  return out;
}

/** A dateTime kept as sent (its precision and zone), checked as one. */
function dateTimeAsSent(value: unknown, issues: EntryIssues, element: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  return instant(value, issues, element) === null ? undefined : (value as string);
}

function periodOf(value: unknown, issues: EntryIssues, element: string): { start?: string; end?: string } | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return issues.add(400, 'structure', `${element} must be a Period`, element);
  const start = dateTimeAsSent(value.start, issues, `${element}.start`);
  const end = dateTimeAsSent(value.end, issues, `${element}.end`);
  if (start && end && Date.parse(start) > Date.parse(end)) issues.add(400, 'invalid', `${element}.start is after its end (per-1)`, element);
  return { ...(start ? { start } : {}), ...(end ? { end } : {}) };
}

/** value[x] of an Observation or a component: at most one, of any type. */
export function valueOf(holder: Json, issues: EntryIssues, base: string): Value | null {
  const sent = VALUE_TYPES.filter((key) => holder[key] !== undefined);
  const at = (key: string) => (base ? `${base}.${key}` : key);
  if (sent.length > 1) return issues.add(400, 'invalid', `value[x] is one element: ${sent.join(' and ')} were both sent`, at(sent[1]!)) ?? null;
  const key = sent[0];
  if (!key) return null;
  const v = holder[key];
  switch (key) {
    case 'valueQuantity': {
      const q = quantityOf(v, issues, at(key), true);
      if (q && q.value === undefined) issues.add(400, 'required', `${at(key)}.value is required`, `${at(key)}.value`);
      return q ? { quantity: q } : null;
    }
    case 'valueCodeableConcept': {
      const c = conceptOf(v, issues, at(key), true);
      return c ? { codeableConcept: c } : null;
    }
    case 'valueString': {
      const s = text(v, issues, at(key), { max: 100_000 });
      return s === null ? null : { string: s };
    }
    case 'valueBoolean':
      return typeof v === 'boolean' ? { boolean: v } : issues.add(400, 'value', `${at(key)} must be true or false`, at(key)) ?? null;
    case 'valueInteger':
      return Number.isInteger(v) && Math.abs(v) <= 2_147_483_647 ? { integer: v } : issues.add(400, 'value', `${at(key)} must be a 32-bit integer`, at(key)) ?? null;
    case 'valueRange': {
      if (!isObject(v)) return issues.add(400, 'structure', `${at(key)} must be a Range`, at(key)) ?? null;
      const low = quantityOf(v.low, issues, `${at(key)}.low`, false);
      const high = quantityOf(v.high, issues, `${at(key)}.high`, false);
      return { range: { ...(low ? { low } : {}), ...(high ? { high } : {}) } };
    }
    case 'valueRatio': {
      if (!isObject(v)) return issues.add(400, 'structure', `${at(key)} must be a Ratio`, at(key)) ?? null;
      const numerator = quantityOf(v.numerator, issues, `${at(key)}.numerator`, true);
      const denominator = quantityOf(v.denominator, issues, `${at(key)}.denominator`, true);
      return { ratio: { ...(numerator ? { numerator } : {}), ...(denominator ? { denominator } : {}) } };
    }
    case 'valueDateTime': {
      const d = dateTimeAsSent(v, issues, at(key));
      return d ? { dateTime: d } : null;
    }
    case 'valuePeriod': {
      const p = periodOf(v, issues, at(key));
      return p ? { period: p } : null;
    }
  }
  return null;
}

/** The stored value back as FHIR value[x]. */
export function fhirValue(value: Value | null | undefined): Json {
  if (!value) return {};
  const q = (quantity: Quantity | null | undefined) => (quantity ? Object.fromEntries(Object.entries(quantity).filter(([, v]) => v !== null && v !== undefined)) : undefined);
  const clean = (o: Json) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
  if (value.quantity) return { valueQuantity: q(value.quantity) };
  if (value.codeableConcept) return { valueCodeableConcept: fhirConcept(value.codeableConcept) };
  if (typeof value.string === 'string') return { valueString: value.string };
  if (typeof value.boolean === 'boolean') return { valueBoolean: value.boolean };
  if (typeof value.integer === 'number') return { valueInteger: value.integer };
  if (value.range) return { valueRange: clean({ low: q(value.range.low), high: q(value.range.high) }) };
  if (value.ratio) return { valueRatio: clean({ numerator: q(value.ratio.numerator), denominator: q(value.ratio.denominator) }) };
  if (value.dateTime) return { valueDateTime: value.dateTime };
  if (value.period) return { valuePeriod: clean({ start: value.period.start, end: value.period.end }) };
  return {};
}

/** A stored CodeableConcept back as FHIR (codings in the order sent, the text). */
export function fhirConcept(c: { coding?: { system: string; code: string; display?: string | null }[] | null; text?: string | null } | null | undefined): Json | undefined {
  if (!c) return undefined;
  return {
    ...(c.coding?.length ? { coding: c.coding.map((x) => ({ system: x.system, code: x.code, ...(x.display ? { display: x.display } : {}) })) } : {}),
    ...(c.text ? { text: c.text } : {}),
  };
}

/** hasMember / derivedFrom: references to other clinical observations (of the request, or stored: Observation/{id}), one ref field each. */
function links(value: unknown, name: 'hasMember' | 'derivedFrom', context: BundleContext, issues: EntryIssues, refs: Record<string, EntryRef>): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) return void issues.add(400, 'structure', `${name} must be a list of References`, name);
  if (value.length > MAX_LINKS) return void issues.add(422, 'not-supported', `At most ${MAX_LINKS} ${name} references are kept`, `${name}[${MAX_LINKS}]`);
  value.forEach((item, n) => {
    const ref = recordRef(item, ['Observation'], context, issues, `${name}[${n}]`);
    if (ref) refs[`${name}.${n}`] = ref;
  });
}

/** Observation.referenceRange, every element as sent (ObservationReferenceRange: low, high, type, appliesTo, age, text; obs-3: a bound or a text). */
function referenceRangesOf(value: unknown, issues: EntryIssues): ReferenceRange[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) return issues.add(400, 'structure', 'referenceRange must be a list', 'referenceRange') ?? null;
  return value.slice(0, MAX_RANGES).flatMap((item: unknown, n: number) => {
    const at = `referenceRange[${n}]`;
    if (!isObject(item)) return issues.add(400, 'structure', `${at} must be a reference range`, at) ?? [];
    const range: ReferenceRange = {};
    const low = quantityOf(item.low, issues, `${at}.low`, false);
    const high = quantityOf(item.high, issues, `${at}.high`, false);
    if (low) range.low = low;
    if (high) range.high = high;
    const type = conceptOf(item.type, issues, `${at}.type`);
    if (type) range.type = type;
    const appliesTo = concepts(item.appliesTo, issues, `${at}.appliesTo`);
    if (appliesTo?.length) range.appliesTo = appliesTo;
    if (item.age !== undefined) {
      if (!isObject(item.age)) issues.add(400, 'structure', `${at}.age must be a Range`, `${at}.age`);
      else {
        const ageLow = quantityOf(item.age.low, issues, `${at}.age.low`, false);
        const ageHigh = quantityOf(item.age.high, issues, `${at}.age.high`, false);
        range.age = { ...(ageLow ? { low: ageLow } : {}), ...(ageHigh ? { high: ageHigh } : {}) };
      }
    }
    const words = item.text === undefined ? null : text(item.text, issues, `${at}.text`, { max: 2000 });
    if (words) range.text = words;
    if (!range.low && !range.high && !range.text) issues.add(400, 'required', `${at} needs a low, a high or a text (obs-3)`, at);
    return [range];
  });
}

/** Reads a published clinical observation (the caller checked its category). */
export function clinicalObservationFromFhir(r: Json, context: BundleContext, issues: EntryIssues, categoryCodes: string[]): Mapped {
  const status = text(r.status, issues, 'status', { required: true });
  if (status && !STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an observation-status code', 'status');
  const categories = concepts(r.category, issues, 'category') ?? [];
  const code = conceptOf(r.code, issues, 'code', true);
  if (r.effectiveDateTime !== undefined && r.effectivePeriod !== undefined) issues.add(400, 'invalid', 'effective[x] is one element: send effectiveDateTime or effectivePeriod', 'effectivePeriod');
  const period = periodOf(r.effectivePeriod, issues, 'effectivePeriod');
  if (r.effectivePeriod !== undefined && period && !period.start) issues.add(400, 'required', 'effectivePeriod.start is required: the record is filed under it', 'effectivePeriod.start');
  const effective = r.effectivePeriod !== undefined
    ? (period?.start ? new Date(period.start).toISOString() : null)
    : instant(r.effectiveDateTime, issues, 'effectiveDateTime', true);
  const value = valueOf(r, issues, '');
  if (value && r.dataAbsentReason !== undefined) issues.add(400, 'invalid', 'dataAbsentReason is only for an observation without a value (obs-6)', 'dataAbsentReason');
  const components = r.component === undefined ? null : Array.isArray(r.component) ? r.component : issues.add(400, 'structure', 'component must be a list', 'component') ?? null;
  if (components && components.length > MAX_COMPONENTS) issues.add(422, 'not-supported', `At most ${MAX_COMPONENTS} components are kept`, `component[${MAX_COMPONENTS}]`);
  const performers: LogicalRef[] = [];
  if (r.performer !== undefined && !Array.isArray(r.performer)) issues.add(400, 'structure', 'performer must be a list of References', 'performer');
  (Array.isArray(r.performer) ? r.performer : []).forEach((p: unknown, n: number) => {
    const ref = logicalReference(p, context, issues, `performer[${n}]`);
    if (ref) performers.push(ref);
  });
  const refs: Record<string, EntryRef> = {};
  links(r.hasMember, 'hasMember', context, issues, refs);
  links(r.derivedFrom, 'derivedFrom', context, issues, refs);
  const notes = r.note === undefined ? null : Array.isArray(r.note)
    ? r.note.map((n: unknown, i: number) => text(isObject(n) ? n.text : undefined, issues, `note[${i}].text`, { required: true, max: 100_000 })).filter((t: string | null): t is string => t !== null)
    : issues.add(400, 'structure', 'note must be a list of Annotations', 'note') ?? null;
  const codes = code ? [...new Set(code.coding.map((c) => c.code))] : [];
  const encounter = encounterOf(r.encounter, context, issues);
  return {
    recordType: 'ClinicalObservation', kind: 'clinical-observation', refs, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
    ...(encounter.foreignLinks ? { foreignLinks: encounter.foreignLinks } : {}),
    keeps: CLINICAL_OBSERVATION_KEEPS,
    record: {
      status, category_codes: categoryCodes, categories, codes, code, value,
      value_quantity: value?.quantity?.value ?? null,
      data_absent_reason: conceptOf(r.dataAbsentReason, issues, 'dataAbsentReason'),
      interpretation: concepts(r.interpretation, issues, 'interpretation'),
      body_site: conceptOf(r.bodySite, issues, 'bodySite'),
      method: conceptOf(r.method, issues, 'method'),
      components: components ? components.slice(0, MAX_COMPONENTS).map((c: unknown, n: number) => {
        const at = `component[${n}]`;
        if (!isObject(c)) return issues.add(400, 'structure', `${at} must be a component`, at) ?? null;
        const v = valueOf(c, issues, at);
        if (v && c.dataAbsentReason !== undefined) issues.add(400, 'invalid', `${at}.dataAbsentReason is only for a component without a value (obs-6)`, `${at}.dataAbsentReason`);
        return {
          code: conceptOf(c.code, issues, `${at}.code`, true), value: v,
          dataAbsentReason: conceptOf(c.dataAbsentReason, issues, `${at}.dataAbsentReason`),
          interpretation: concepts(c.interpretation, issues, `${at}.interpretation`),
        };
      }) : null,
      notes,
      effective,
      effective_source: r.effectivePeriod !== undefined ? { period: period ?? {} } : { dateTime: r.effectiveDateTime },
      issued: instant(r.issued, issues, 'issued'),
      performers: performers.length ? performers : null,
      sensitivity_labels: labelsOf(r, issues),
      encounter_id: encounter.encounterId,
      reference_ranges: referenceRangesOf(r.referenceRange, issues),
      specimen: logicalReference(r.specimen, context, issues, 'specimen', SPECIMEN_TYPES),
    },
  };
}

/* ------------------------------------------------------------- export */

const CONCEPT = `{ coding ${CODING_FIELDS} text }`;
const QUANTITY_FIELDS = '{ value comparator unit system code }';
const VALUE_FIELDS = `{ quantity ${QUANTITY_FIELDS} codeableConcept ${CONCEPT} string boolean integer range { low ${QUANTITY_FIELDS} high ${QUANTITY_FIELDS} }
  ratio { numerator ${QUANTITY_FIELDS} denominator ${QUANTITY_FIELDS} } dateTime period { start end } }`;

export interface GqlClinicalObservation {
  id: string; status: string | null; categories: Concept[] | null; code: Concept | null; value: Value | null; dataAbsentReason: Concept | null;
  interpretation: Concept[] | null; bodySite: Concept | null; method: Concept | null;
  components: { code: Concept | null; value: Value | null; dataAbsentReason: Concept | null; interpretation: Concept[] | null }[] | null;
  hasMember: { id: string }[] | null; derivedFrom: { id: string }[] | null; notes: string[] | null; effectiveDateTime: string | null;
  effectivePeriod: { start: string | null; end: string | null } | null; issued: string | null; performers: LogicalRef[] | null; encounter: { id: string } | null;
  referenceRanges: { fhirJson: string | null }[] | null; specimen: LogicalRef | null;
  organization: GqlOrganization | null; sensitivityLabels: string[] | null;
}

/** Nulls (GraphQL's absent) out of a stored value, so the export gives back only what was sent. */
const compact = <T>(value: T): T => (value === null || value === undefined ? value : JSON.parse(JSON.stringify(value, (_k, v) => (v === null ? undefined : v))));

export const clinicalObservationExport: RecordExport<GqlClinicalObservation> = {
  from: 'clinicalObservations',
  select: () => ({
    clinicalObservations: `id status categories ${CONCEPT} code ${CONCEPT} value ${VALUE_FIELDS} dataAbsentReason ${CONCEPT} interpretation ${CONCEPT} bodySite ${CONCEPT}
  method ${CONCEPT} components { code ${CONCEPT} value ${VALUE_FIELDS} dataAbsentReason ${CONCEPT} interpretation ${CONCEPT} } hasMember { id } derivedFrom { id } notes
  effectiveDateTime effectivePeriod { start end } issued performers ${LOGICAL_REFERENCE_FIELDS}
  referenceRanges { fhirJson } specimen ${LOGICAL_REFERENCE_FIELDS} organization ${ORGANIZATION_FIELDS} ${ENCOUNTER_SELECTION} sensitivityLabels`,
  }),
  toFhir(o, x) {
    if (!o.status || !o.code) return x.withheld();
    const value = compact(o.value);
    const resource: Resource = {
      resourceType: 'Observation',
      id: o.id,
      meta: x.meta(o, o.sensitivityLabels),
      status: o.status,
      category: o.categories?.length ? o.categories.map((c) => fhirConcept(c)!) : undefined,
      code: fhirConcept(o.code),
      subject: x.patientRef,
      encounter: x.link('Encounter', o.encounter?.id),
      ...(o.effectivePeriod ? { effectivePeriod: compact(o.effectivePeriod) } : { effectiveDateTime: o.effectiveDateTime }),
      issued: o.issued ?? undefined,
      performer: [...(o.organization ? [x.org(o.organization)!] : []), ...(o.performers ?? []).map((p) => fhirReferenceOf(compact(p)))],
      ...fhirValue(value),
      dataAbsentReason: fhirConcept(o.dataAbsentReason),
      interpretation: o.interpretation?.map((c) => fhirConcept(c)!),
      note: o.notes?.map((t) => ({ text: t })),
      bodySite: fhirConcept(o.bodySite),
      specimen: o.specimen ? fhirReferenceOf(compact(o.specimen)) : undefined,
      // Read as the FHIR JSON kept (one field: the export's operation stays within the gateway's query cost).
      referenceRange: o.referenceRanges?.map((range) => JSON.parse(range.fhirJson ?? '{}') as ReferenceRange),
      method: fhirConcept(o.method),
      component: o.components?.map((c) => ({
        code: fhirConcept(c.code),
        ...fhirValue(compact(c.value)),
        dataAbsentReason: fhirConcept(c.dataAbsentReason),
        interpretation: c.interpretation?.map((i) => fhirConcept(i)!),
      })),
    };
    // The links are made once every record is in the bundle (complete): a panel may come before its members.
    return resource;
  },
  /** hasMember / derivedFrom: links to the observations in the bundle (one the caller may not see is left out, never named). */
  complete(x) {
    const byId = new Map(x.resources('Observation').map((r) => [r.id, r]));
    for (const node of x.nodes.clinicalObservations as readonly GqlClinicalObservation[]) {
      const resource = byId.get(node.id);
      if (!resource) continue;
      for (const name of ['hasMember', 'derivedFrom'] as const) {
        const out = (node[name] ?? []).map((m) => x.link('Observation', m.id)).filter((l): l is { reference: string } => Boolean(l));
        if (out.length) resource[name] = out;
      }
    }
  },
};



/** The observation-category codes of a published Observation (FHIR's system only). */
export function observationCategoryCodes(r: Json): string[] {
  const codings = Array.isArray(r.category) ? (r.category as unknown[]).flatMap((c) => (isObject(c) && Array.isArray(c.coding) ? c.coding : [])) : [];
  return [...new Set(codings.filter((c: unknown) => isObject(c) && c.system === SYSTEMS.observationCategory && typeof c.code === 'string').map((c: Json) => String(c.code)))];
}
