/**
 * What the three medication resources share (MedicationRequest,
 * MedicationAdministration, MedicationStatement: encounters): the medication
 * itself, as a CodeableConcept or a Medication resource, and the FHIR data
 * types they carry (Dosage, Timing, Quantity, Ratio), read and written once.
 *
 * Codes are kept as sent, every coding with its system (RxNorm, SNOMED CT,
 * ATC, national drug codes, local codes); only a malformed code of a system
 * the product knows is refused (an RxNorm code that is not an RXCUI, a SNOMED
 * CT id with a wrong check digit, an ATC code of the wrong shape).
 *
 * A Medication has no patient: it is no record of its own. It is accepted
 * where a record references it (medicationReference), contained in the
 * record or as an entry of the same transaction Bundle, stored with the
 * record and exported back the way it came: contained, or as a Medication
 * entry of the export (its id the one the transaction-response gave the
 * entry). A Medication entry no record of the Bundle references is refused.
 */
import { randomUUID } from 'node:crypto';
import { SYSTEM, isSnomedCtId, looksLikeSnomedCt } from '../../../../lib/records/terminology.js';
import { type CodeCheck, codingsOf, EVERY_CODING, instant, isObject, QUANTITY, text, unkeptElements, RESOURCE_BOOKKEEPING } from './elements.js';
import { EntryIssues, type BundleContext, type ExportContext, type FhirResourceModule, type Json, type KeptElements, type KeptObject, type Resource } from './module.js';

/** Resource types accepted only with the records that reference them (publishing's map.ts). */
export const HELD_BY_RECORDS = ['Medication'];

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const ATC = 'http://www.whocc.no/atc';

/** The checks of the drug code systems the product knows; any other system's codes are kept as sent. */
export const DRUG_CODES: Record<string, CodeCheck> = {
  [RXNORM]: { name: 'RxNorm (an RXCUI)', valid: (code) => /^\d{1,12}$/.test(code) },
  [SYSTEM.snomed]: { name: 'SNOMED CT', valid: isSnomedCtId, shape: looksLikeSnomedCt },
  [ATC]: { name: 'ATC', valid: (code) => /^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$/.test(code) },
};

/* ----------------------------------------------------------- what is kept */

export const RATIO: KeptObject = { numerator: QUANTITY, denominator: QUANTITY };
export const TIMING: KeptObject = {
  event: true,
  repeat: {
    boundsPeriod: { start: true, end: true }, count: true, duration: true, durationUnit: true, frequency: true, frequencyMax: true,
    period: true, periodMax: true, periodUnit: true, dayOfWeek: true, timeOfDay: true, when: true, offset: true,
  },
  code: EVERY_CODING,
};
/** FHIR Dosage (MedicationRequest.dosageInstruction, MedicationStatement.dosage). */
export const DOSAGE: KeptObject = {
  sequence: true, text: true, additionalInstruction: EVERY_CODING, patientInstruction: true, timing: TIMING, asNeededBoolean: true,
  asNeededCodeableConcept: EVERY_CODING, site: EVERY_CODING, route: EVERY_CODING, method: EVERY_CODING,
  doseAndRate: { type: EVERY_CODING, doseQuantity: QUANTITY, rateQuantity: QUANTITY }, maxDosePerPeriod: RATIO,
};
/** A Medication's elements (contained, or an entry of the Bundle). */
export const MEDICATION_KEEPS: { [element: string]: KeptElements } = {
  ...RESOURCE_BOOKKEEPING,
  code: EVERY_CODING, status: true, form: EVERY_CODING, amount: RATIO,
  ingredient: { itemCodeableConcept: EVERY_CODING, isActive: true, strength: RATIO },
  batch: { lotNumber: true, expirationDate: true },
};
/** The elements every medication resource keeps of its medication. */
export const MEDICATION_ELEMENTS: { [element: string]: KeptElements } = {
  medicationCodeableConcept: EVERY_CODING, medicationReference: { reference: true }, contained: true,
};

/* ----------------------------------------------------------------- reading */

export type Concept = { coding: { system: string; code: string; display: string | null }[]; text: string | null };

/** A CodeableConcept kept as sent: every coding (drug code systems checked) and the text; `required`: one of them. */
export function concept(value: unknown, issues: EntryIssues, element: string, required = false): Concept | null {
  if (value === undefined || value === null) return required ? issues.add(400, 'required', `${element} is required`, element) ?? null : null;
  if (!isObject(value)) return issues.add(400, 'structure', `${element} must be a CodeableConcept`, element) ?? null;
  const coding = codingsOf(value, issues, element, DRUG_CODES);
  const words = value.text === undefined ? null : text(value.text, issues, `${element}.text`, { max: 1000 });
  if (!coding.length && !words) return issues.add(400, 'required', `${element} needs a coding (with its system) or text`, element) ?? null;
  return { coding, text: words };
}

/** A list of CodeableConcepts. */
export function concepts(value: unknown, issues: EntryIssues, element: string): Concept[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return issues.add(400, 'structure', `${element} must be a list`, element) ?? [];
  return value.map((v, n) => concept(v, issues, `${element}[${n}]`, true)).filter((c): c is Concept => Boolean(c));
}

/** A code of a required binding: one of `allowed` (`required`: present). */
export function codeIn(value: unknown, allowed: readonly string[], issues: EntryIssues, element: string, required = false): string | null {
  if (value === undefined || value === null) return required ? issues.add(400, 'required', `${element} is required (${allowed.join(', ')})`, element) ?? null : null;
  if (typeof value !== 'string' || !allowed.includes(value)) return issues.add(400, 'code-invalid', `${element} must be one of ${allowed.join(', ')}`, element) ?? null;
  return value;
}

const num = (value: unknown, issues: EntryIssues, element: string, integer = false): number | null => {
  if (value === undefined || value === null) return null;
  // Integers within FHIR's integer (32 bits, as GraphQL's Int).
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !(Number.isInteger(value) && Math.abs(value) <= 2_147_483_647))) {
    return issues.add(400, 'value', `${element} must be ${integer ? 'an integer (32 bits)' : 'a number'}`, element) ?? null;
  }
  return value;
};
const bool = (value: unknown, issues: EntryIssues, element: string): boolean | null => {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'boolean') return issues.add(400, 'value', `${element} must be true or false`, element) ?? null;
  return value;
};
const str = (value: unknown, issues: EntryIssues, element: string, max = 1000) => (value === undefined ? null : text(value, issues, element, { max }));
/** A dateTime kept as sent (checked). */
const dateTimeText = (value: unknown, issues: EntryIssues, element: string) => (value === undefined || value === null ? null : instant(value, issues, element) === null ? null : (value as string));
const strings = (value: unknown, issues: EntryIssues, element: string, each: (v: unknown, at: string) => string | null) => {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) return issues.add(400, 'structure', `${element} must be a list`, element) ?? null;
  return value.map((v, n) => each(v, `${element}[${n}]`)).filter((v): v is string => v !== null);
};
const objectAt = (value: unknown, issues: EntryIssues, element: string): Json | null => {
  if (value === undefined || value === null) return null;
  return isObject(value) ? value : issues.add(400, 'structure', `${element} must be an object`, element) ?? null;
};
const listAt = (value: unknown, issues: EntryIssues, element: string): unknown[] => {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : issues.add(400, 'structure', `${element} must be a list`, element) ?? [];
};

const UNITS = ['s', 'min', 'h', 'd', 'wk', 'mo', 'a'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** A Quantity (value, unit, system, code), as sent. */
export function quantity(value: unknown, issues: EntryIssues, element: string): Json | null {
  const q = objectAt(value, issues, element);
  if (!q) return null;
  const out = { value: num(q.value, issues, `${element}.value`), unit: str(q.unit, issues, `${element}.unit`, 100), system: str(q.system, issues, `${element}.system`, 500), code: str(q.code, issues, `${element}.code`, 100) };
  if (out.value === null) issues.add(400, 'required', `${element}.value is required`, `${element}.value`);
  return out;
}

export function ratio(value: unknown, issues: EntryIssues, element: string): Json | null {
  const r = objectAt(value, issues, element);
  return r ? { numerator: quantity(r.numerator, issues, `${element}.numerator`), denominator: quantity(r.denominator, issues, `${element}.denominator`) } : null;
}

function timing(value: unknown, issues: EntryIssues, element: string): Json | null {
  const t = objectAt(value, issues, element);
  if (!t) return null;
  const r = objectAt(t.repeat, issues, `${element}.repeat`);
  const at = `${element}.repeat`;
  const bounds = r ? objectAt(r.boundsPeriod, issues, `${at}.boundsPeriod`) : null;
  return {
    event: strings(t.event, issues, `${element}.event`, (v, p) => dateTimeText(v, issues, p)),
    repeat: r ? {
      boundsPeriod: bounds ? { start: dateTimeText(bounds.start, issues, `${at}.boundsPeriod.start`), end: dateTimeText(bounds.end, issues, `${at}.boundsPeriod.end`) } : null,
      count: num(r.count, issues, `${at}.count`, true), duration: num(r.duration, issues, `${at}.duration`),
      durationUnit: codeIn(r.durationUnit, UNITS, issues, `${at}.durationUnit`),
      frequency: num(r.frequency, issues, `${at}.frequency`, true), frequencyMax: num(r.frequencyMax, issues, `${at}.frequencyMax`, true),
      period: num(r.period, issues, `${at}.period`), periodMax: num(r.periodMax, issues, `${at}.periodMax`),
      periodUnit: codeIn(r.periodUnit, UNITS, issues, `${at}.periodUnit`),
      dayOfWeek: strings(r.dayOfWeek, issues, `${at}.dayOfWeek`, (v, p) => codeIn(v, DAYS, issues, p)),
      timeOfDay: strings(r.timeOfDay, issues, `${at}.timeOfDay`, (v, p) => (typeof v === 'string' && /^\d{2}:\d{2}:\d{2}$/.test(v) ? v : issues.add(400, 'value', `${p} must be a time, hh:mm:ss`, p) ?? null)),
      when: strings(r.when, issues, `${at}.when`, (v, p) => str(v, issues, p, 10)),
      offset: num(r.offset, issues, `${at}.offset`, true),
    } : null,
    code: concept(t.code, issues, `${element}.code`),
  };
}

/** A Dosage (how a medication is to be or was taken), every element it keeps checked, as sent. */
export function dosage(value: unknown, issues: EntryIssues, element: string): Json | null {
  const d = objectAt(value, issues, element);
  if (!d) return null;
  return {
    sequence: num(d.sequence, issues, `${element}.sequence`, true),
    text: str(d.text, issues, `${element}.text`, 2000),
    additionalInstruction: concepts(d.additionalInstruction, issues, `${element}.additionalInstruction`),
    patientInstruction: str(d.patientInstruction, issues, `${element}.patientInstruction`, 2000),
    timing: timing(d.timing, issues, `${element}.timing`),
    asNeededBoolean: bool(d.asNeededBoolean, issues, `${element}.asNeededBoolean`),
    asNeededCodeableConcept: concept(d.asNeededCodeableConcept, issues, `${element}.asNeededCodeableConcept`),
    site: concept(d.site, issues, `${element}.site`),
    route: concept(d.route, issues, `${element}.route`),
    method: concept(d.method, issues, `${element}.method`),
    doseAndRate: listAt(d.doseAndRate, issues, `${element}.doseAndRate`).map((x, n) => {
      const at = `${element}.doseAndRate[${n}]`;
      const item = objectAt(x, issues, at) ?? {};
      return { type: concept(item.type, issues, `${at}.type`), doseQuantity: quantity(item.doseQuantity, issues, `${at}.doseQuantity`), rateQuantity: quantity(item.rateQuantity, issues, `${at}.rateQuantity`) };
    }),
    maxDosePerPeriod: ratio(d.maxDosePerPeriod, issues, `${element}.maxDosePerPeriod`),
  };
}

export const dosages = (value: unknown, issues: EntryIssues, element: string): Json[] =>
  listAt(value, issues, element).map((d, n) => dosage(d, issues, `${element}[${n}]`)).filter((d): d is Json => d !== null);

const MEDICATION_STATUS = ['active', 'inactive', 'entered-in-error'];

/** A Medication resource's kept elements, checked (issues name them below `issues`' base). */
function medicationResource(m: Json, issues: EntryIssues): Json {
  const before = issues.list.length;
  const out = {
    code: concept(m.code, issues, 'code'),
    status: codeIn(m.status, MEDICATION_STATUS, issues, 'status'),
    form: concept(m.form, issues, 'form'),
    amount: ratio(m.amount, issues, 'amount'),
    ingredient: listAt(m.ingredient, issues, 'ingredient').map((x, n) => {
      const at = `ingredient[${n}]`;
      const item = objectAt(x, issues, at) ?? {};
      return { itemCodeableConcept: concept(item.itemCodeableConcept, issues, `${at}.itemCodeableConcept`, true), isActive: bool(item.isActive, issues, `${at}.isActive`), strength: ratio(item.strength, issues, `${at}.strength`) };
    }),
    batch: (() => {
      const b = objectAt(m.batch, issues, 'batch');
      return b ? { lotNumber: str(b.lotNumber, issues, 'batch.lotNumber', 100), expirationDate: dateTimeText(b.expirationDate, issues, 'batch.expirationDate') } : null;
    })(),
  };
  if (!out.code && !out.ingredient.length) issues.add(400, 'required', 'A Medication needs its code (or its ingredients)', 'code');
  if (issues.list.length === before) unkeptElements(m, MEDICATION_KEEPS, issues);
  return out;
}

/** Medication entries of a transaction, read once whoever references them: index → the id given and what is kept. */
const bundleMedications = new WeakMap<BundleContext, Map<number, { id: string; resource: Json | null }>>();

/** The Medication entries of a request that records referenced (the response gives each its id). */
export const medicationEntriesOf = (context: BundleContext) => bundleMedications.get(context) ?? new Map<number, { id: string; resource: Json | null }>();

/**
 * medication[x] of a published record: a CodeableConcept, or a reference to a
 * Medication contained in it or an entry of its Bundle. Exactly one. Returns
 * the owner's two columns (one of them null).
 */
export function medicationOf(r: Json, context: BundleContext, issues: EntryIssues): { medication_code: Concept | null; medication: Json | null } {
  const contained = listAt(r.contained, issues, 'contained');
  const hasConcept = r.medicationCodeableConcept !== undefined;
  const hasReference = r.medicationReference !== undefined;
  if (hasConcept === hasReference) {
    issues.add(400, 'required', 'Give the medication once: medicationCodeableConcept or medicationReference', hasConcept ? 'medicationReference' : 'medication[x]');
    return { medication_code: null, medication: null };
  }
  if (hasConcept) {
    contained.forEach((_, n) => issues.add(422, 'not-supported', `contained[${n}] is not kept: only the Medication medicationReference names is`, `contained[${n}]`));
    return { medication_code: concept(r.medicationCodeableConcept, issues, 'medicationCodeableConcept', true), medication: null };
  }
  const ref = isObject(r.medicationReference) ? r.medicationReference.reference : undefined;
  if (typeof ref !== 'string') {
    issues.add(400, 'invalid', 'medicationReference.reference is required: a contained Medication (#id) or a Medication entry of this Bundle', 'medicationReference');
    return { medication_code: null, medication: null };
  }
  if (ref.startsWith('#')) {
    const id = ref.slice(1);
    let found: Json | null = null;
    for (const [n, c] of contained.entries()) {
      if (isObject(c) && c.resourceType === 'Medication' && c.id === id && !found) {
        found = { id, contained: true, ...medicationResource(c, new EntryIssues(issues.list, issues.index, `${issues.base}.contained[${n}]`)) };
      } else issues.add(422, 'not-supported', `contained[${n}] is not kept: only the Medication medicationReference names is`, `contained[${n}]`);
    }
    if (!found) issues.add(400, 'invalid', `${ref} names no contained Medication`, 'medicationReference.reference');
    return { medication_code: null, medication: found };
  }
  contained.forEach((_, n) => issues.add(422, 'not-supported', `contained[${n}] is not kept: only the Medication medicationReference names is`, `contained[${n}]`));
  const target = context.fullUrls.get(ref);
  if (!target || target.resourceType !== 'Medication' || context.independent) {
    issues.add(400, 'invalid', 'medicationReference must name a Medication contained in the resource (#id) or an entry of this transaction Bundle', 'medicationReference.reference');
    return { medication_code: null, medication: null };
  }
  let entries = bundleMedications.get(context);
  if (!entries) bundleMedications.set(context, (entries = new Map()));
  let read = entries.get(target.index);
  if (!read) {
    const sub = new EntryIssues(issues.list, target.index, `Bundle.entry[${target.index}].resource`);
    const resource = isObject(target.resource) ? target.resource : {};
    const before = issues.list.length;
    const kept = medicationResource(resource, sub);
    read = { id: randomUUID(), resource: issues.list.length === before ? kept : null };
    entries.set(target.index, read);
  }
  return { medication_code: null, medication: read.resource ? { id: read.id, contained: false, ...read.resource } : null };
}

/* ----------------------------------------------------------------- writing */

const CC = '{ coding { system code display } text }';
const QTY = '{ value unit system code }';
export const CONCEPT_FIELDS = CC;
export const QUANTITY_FIELDS = QTY;
/**
 * Dosages and Medications are read for the export as the FHIR JSON kept (`fhirJson`): their typed GraphQL fields
 * nest five deep, and the export's one operation (a page of 100 of every record type) would cost four times the
 * gateway's limit (test/record-types.test.ts).
 */
export const DOSAGE_FIELDS = '{ fhirJson }';
/** The GraphQL fields of the medication (concept or resource) every medication export reads. */
export const MEDICATION_FIELDS = `medication ${CC} medicationReference { id contained fhirJson }`;

export interface GqlMedicationParts { medication: Json | null; medicationReference: { id: string; contained: boolean; fhirJson: string | null } | null }

/** Dosages read as their FHIR JSON. */
export const fromFhirJson = (value: { fhirJson: string | null } | null | undefined): Json | undefined => (value?.fhirJson ? JSON.parse(value.fhirJson) as Json : undefined);

/**
 * medication[x] of an exported record, as it came: the concept; or the
 * Medication, contained (`#id`) or as an entry of the export beside it
 * (`Medication/{id}`, once however many records name it).
 */
export function medicationToFhir(node: GqlMedicationParts, x: ExportContext): Json {
  if (node.medication) return { medicationCodeableConcept: node.medication };
  const m = node.medicationReference;
  if (!m) return {};
  const { id, contained } = m;
  const resource: Resource = { resourceType: 'Medication', id, ...fromFhirJson(m) };
  if (contained) return { contained: [resource], medicationReference: { reference: `#${id}` } };
  x.include(resource);
  return { medicationReference: { reference: `Medication/${id}` } };
}

/** Medication: accepted only inside or beside the records that reference it (no fromFhir of its own, no export of its own). */
export const medication: FhirResourceModule = {
  resourceType: 'Medication',
  keeps: MEDICATION_KEEPS,
};
