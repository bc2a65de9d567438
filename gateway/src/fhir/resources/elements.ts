/**
 * FHIR data types as every resource module reads and writes them, written
 * once: Codings and CodeableConcepts, quantities, names, dates, references
 * and the provenance rule.
 *
 * Reading (publishing) is strict: a value the product stores is checked
 * (shape, code system, check digit) and each problem is an issue naming the
 * element by its FHIRPath below the entry's resource. Provenance: the
 * producing organisation of every record is the caller's organisation (the
 * token's `org`), never a value from the payload. An element that names the
 * producer may be left out, or name the caller's own organisation; naming
 * another is refused (403), never silently rewritten, so an integration that
 * mixes up its organisations finds out at once.
 */
import { isUuidText, type EntryRef } from '../../../../lib/ingest/types.js';
import { sensitivityLabelOf, SYSTEM, type SensitivityLabel } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlHumanName } from '../graphql-types.js';
import { SYSTEMS, type FhirCoding } from '../terminology.js';
import type { BundleContext, EntryIssues, Json, KeptElements, KeptObject, PatientLink } from './module.js';

/* ------------------------------------------------------------- writing */

/** GraphQL selections of the value types the exports read. */
export const CODING_FIELDS = '{ system code display }';
export const ORGANIZATION_FIELDS = '{ id name active lastUpdated }';
export const PRACTITIONER_FIELDS = '{ id name { family given text } active lastUpdated }';

export const coding = (c: GqlCoding | FhirCoding): FhirCoding => ({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) });
export const concept = (c: GqlCoding | FhirCoding | null | undefined) => (c ? { coding: [coding(c)], ...(c.display ? { text: c.display } : {}) } : undefined);
export const ucum = (value: number, unit: string | null | undefined) => ({ value, ...(unit ? { unit, system: SYSTEMS.ucum, code: unit } : {}) });
export const humanName = (name: GqlHumanName) => ({ use: name.use ?? undefined, family: name.family, given: name.given, text: name.text });

/* ------------------------------------------------------------- reading */

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

export function text(value: unknown, issues: EntryIssues, element: string, options: { required?: boolean; max?: number } = {}): string | null {
  if (value === undefined || value === null) return options.required ? issues.add(400, 'required', `${element} is required`, element) ?? null : null;
  if (typeof value !== 'string' || !value.trim()) return issues.add(400, 'value', `${element} must be a non-empty string`, element) ?? null;
  if (value.length > (options.max ?? 2000)) return issues.add(400, 'value', `${element} is longer than ${options.max ?? 2000} characters`, element) ?? null;
  return value;
}

/** A FHIR dateTime / instant with a time zone (or a date), as an ISO instant. */
export function instant(value: unknown, issues: EntryIssues, element: string, required = false): string | null {
  if (value === undefined || value === null) return required ? issues.add(400, 'required', `${element} is required`, element) ?? null : null;
  if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    return issues.add(400, 'value', `${element} must be a FHIR dateTime, e.g. 2026-03-01T08:30:00Z`, element) ?? null;
  }
  if (value.includes('T') && !/(Z|[+-]\d{2}:\d{2})$/.test(value)) return issues.add(400, 'value', `${element} needs a time zone`, element) ?? null;
  return new Date(value).toISOString();
}

export function date(value: unknown, issues: EntryIssues, element: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !DATE.test(value) || Number.isNaN(Date.parse(value))) return issues.add(400, 'value', `${element} must be a date, YYYY-MM-DD`, element) ?? null;
  return value;
}

export function number(value: unknown, issues: EntryIssues, element: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value)) return issues.add(400, 'value', `${element} must be a number`, element) ?? null;
  return value;
}

export function integer(value: unknown, issues: EntryIssues, element: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || (value as number) < 0) return issues.add(400, 'value', `${element} must be a non-negative integer`, element) ?? fallback;
  return value as number;
}

/** How a code of a system is checked: its name for messages, validity, and (optionally) its shape, to tell a wrong system from a wrong check digit. */
export interface CodeCheck {
  name: string;
  valid: (code: string) => boolean;
  shape?: (code: string) => boolean;
  required?: boolean;
}

/** The coding of `system` in a CodeableConcept, its code checked. */
export function codingOf(concept: unknown, system: string, issues: EntryIssues, element: string, check: CodeCheck): { code: string; display: string | null } | null {
  if (concept === undefined || concept === null) return check.required ? issues.add(400, 'required', `${element} is required (${check.name})`, element) ?? null : null;
  if (!isObject(concept) || (concept.coding !== undefined && !Array.isArray(concept.coding))) return issues.add(400, 'structure', `${element} must be a CodeableConcept`, element) ?? null;
  const codings = (concept.coding ?? []) as unknown[];
  const position = codings.findIndex((c) => isObject(c) && c.system === system);
  if (position < 0) return issues.add(400, 'code-invalid', `${element} needs a coding in ${system} (${check.name})`, `${element}.coding`) ?? null;
  const coding = codings[position] as Json;
  const code = typeof coding.code === 'string' ? coding.code.trim() : '';
  if (!check.valid(code)) return invalidCode(code, system, check, issues, `${element}.coding[${position}].code`);
  const display = typeof coding.display === 'string' ? coding.display : typeof concept.text === 'string' ? concept.text : null;
  return { code, display };
}

/** The Coding of `system` in a list of Codings (ImagingStudy.modality), or a single Coding (`single`: series.bodySite). */
export function codingInList(list: unknown, system: string, issues: EntryIssues, element: string, check: CodeCheck, single = false): { code: string; display: string | null } | null {
  const codings = Array.isArray(list) ? (list as unknown[]) : [];
  const position = codings.findIndex((c) => isObject(c) && c.system === system);
  if (position < 0) return check.required || codings.length ? issues.add(400, 'code-invalid', `${element} needs a Coding in ${system} (${check.name})`, element) ?? null : null;
  const coding = codings[position] as Json;
  const code = typeof coding.code === 'string' ? coding.code.trim() : '';
  if (!check.valid(code)) return invalidCode(code, system, check, issues, single ? `${element}.code` : `${element}[${position}].code`);
  return { code, display: typeof coding.display === 'string' ? coding.display : null };
}

function invalidCode(code: string, system: string, check: CodeCheck, issues: EntryIssues, at: string): null {
  const why = check.shape && check.shape(code) ? 'its check digit is wrong' : `it is not a ${check.name} code`;
  return issues.add(400, 'code-invalid', `${code || 'The code'} is not valid in ${system}: ${why}`, at) ?? null;
}

/** A coding's display, or its code where it has none (the stores keep a display for every code). */
export const withDisplay = (coding: { code: string; display: string | null } | null) => (coding ? { code: coding.code, display: coding.display ?? coding.code } : null);

/** Sensitivity labels from meta.security, as sent (V included); derived confidentiality (R…) is recomputed on export. */
export function labelsOf(resource: Json, issues: EntryIssues): SensitivityLabel[] {
  const security = resource.meta?.security;
  if (security === undefined) return [];
  if (!Array.isArray(security)) return issues.add(400, 'structure', 'meta.security must be a list of Codings', 'meta.security') ?? [];
  const labels = new Set<SensitivityLabel>();
  security.forEach((coding: unknown, n: number) => {
    if (isObject(coding) && coding.system === SYSTEMS.securityObservation && coding.code === 'REDACTED') {
      issues.add(422, 'business-rule', 'A redacted resource (elements withheld from you) cannot be published: publish the complete record', `meta.security[${n}]`);
      return;
    }
    const label = isObject(coding) ? sensitivityLabelOf(coding) : undefined;
    if (label === undefined) issues.add(400, 'code-invalid', 'Unknown security label: use HL7 v3 ActCode sensitivity codes (HIV, PSY, ETH, GDIS, SDV, SEX, STD) or v3-Confidentiality', `meta.security[${n}]`);
    else if (label) labels.add(label);
  });
  return [...labels];
}

/** A conditional reference by identifier (`Type?identifier=system|value`): its type. */
const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?identifier=([^&|\s]*\|)?[^&\s]+$/;

/** A literal reference, relative or absolute (any base, with or without _history): its type and id. */
const LITERAL_REFERENCE = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/[^?#]*\/)?([A-Z][A-Za-z]+)\/([^/?#]+)(?:\/_history\/[^/?#]+)?$/;

/**
 * An element naming the producer: absent, display only, or the caller's own organisation, in every form a
 * reference takes — `Organization/{id}`, an absolute URL ending in it, a logical reference by identifier
 * (`SYSTEM.organization`, the registry id). Anything else that could name an organisation (another one, a
 * contained or bundled resource, a PractitionerRole, an identifier the product cannot check) is refused (403,
 * the element named), never rewritten or dropped. Where the element may name a person, a Practitioner is fine.
 */
export function ownOrganization(reference: unknown, context: BundleContext, issues: EntryIssues, element: string, practitioner = false): void {
  if (reference === undefined || reference === null) return;
  if (!isObject(reference)) {
    issues.add(400, 'invalid', `${element} must be a Reference`, element);
    return;
  }
  const own = context.organizationId;
  const refuse = (named: string) =>
    issues.add(403, 'forbidden', `Records are published as your own organisation (${own}); ${named} cannot be named as their producer`, element);
  const { reference: ref, identifier, type } = reference;
  const person = practitioner && (type === undefined || type === 'Practitioner');
  if (ref !== undefined) {
    const match = typeof ref === 'string' ? LITERAL_REFERENCE.exec(ref) : null;
    if (typeof ref !== 'string') issues.add(400, 'invalid', `${element}.reference must be a string`, element);
    else if (match?.[1] === 'Organization') {
      if (match[2] !== own) refuse(ref);
    } else if (!(match?.[1] === 'Practitioner' && person)) refuse(ref);
  }
  if (identifier !== undefined) {
    const ownIdentifier = isObject(identifier) && identifier.system === SYSTEM.organization && identifier.value === own;
    if (!ownIdentifier && !(type === 'Practitioner' && practitioner)) refuse(`the organisation identified as ${isObject(identifier) ? `${String(identifier.system)}|${String(identifier.value)}` : 'given'}`);
  }
  if (type !== undefined && type !== 'Organization' && !(type === 'Practitioner' && practitioner)) refuse(`a ${String(type)}`);
}

/** A Practitioner reference → the registry id. */
export function practitionerId(reference: unknown, issues: EntryIssues, element: string): string | null {
  if (!isObject(reference) || reference.reference === undefined) return null;
  const match = typeof reference.reference === 'string' ? /^Practitioner\/([A-Za-z0-9\-.]{1,64})$/.exec(reference.reference) : null;
  if (!match) return issues.add(400, 'invalid', `${element} must reference a Practitioner of the registry`, element) ?? null;
  return match[1]!;
}

/** A reference to another record: an entry of this request (urn:uuid or Type/id fullUrl), or an existing record Type/id. */
export function recordRef(reference: unknown, types: string[], context: BundleContext, issues: EntryIssues, element: string): EntryRef | null {
  if (reference === undefined || reference === null) return null;
  const ref = isObject(reference) ? reference.reference : undefined;
  if (typeof ref !== 'string') return issues.add(400, 'invalid', `${element} must be a reference`, element) ?? null;
  const target = context.fullUrls.get(ref);
  if (target) {
    if (context.independent) return issues.add(400, 'invalid', 'Entries of a batch are independent: reference existing records, not other entries', element) ?? null;
    if (!types.includes(target.resourceType)) return issues.add(400, 'invalid', `${element} must reference a ${types.join(' or ')}`, element) ?? null;
    return { entry: target.index };
  }
  const match = /^([A-Za-z]+)\/([0-9a-fA-F-]{36})$/.exec(ref);
  if (match && types.includes(match[1]!) && isUuidText(match[2])) return { id: match[2]!.toLowerCase() };
  if (ref.startsWith('urn:uuid:')) return issues.add(400, 'invalid', `${ref} is not the fullUrl of an entry of this Bundle`, element) ?? null;
  return issues.add(400, 'invalid', `${element} must reference a ${types.join(' or ')} (an entry of this Bundle, or Type/id)`, element) ?? null;
}

/** The patient an entry is about: a Patient entry, Patient/{id}, or a logical reference by identifier. */
export function patientLink(reference: unknown, context: BundleContext, issues: EntryIssues, element: string): PatientLink | null {
  if (!isObject(reference)) return issues.add(400, 'required', `${element} is required: the Patient the record is about`, element) ?? null;
  // The export names the patient by reference alone: a display sent beside it would be lost (issue 27), so it is refused by name.
  if (reference.display !== undefined) issues.add(422, 'not-supported', `${element}.display is not kept: the patient is named by the reference (remove the display)`, `${element}.display`);
  if (reference.reference === undefined && isObject(reference.identifier)) {
    const system = text(reference.identifier.system, issues, `${element}.identifier.system`, { required: true, max: 500 });
    const value = text(reference.identifier.value, issues, `${element}.identifier.value`, { required: true, max: 200 });
    return system && value ? { identifier: { system, value } } : null;
  }
  const ref = recordRef(reference, ['Patient'], context, issues, element);
  if (!ref) return null;
  return 'entry' in ref ? { entry: ref.entry } : { id: ref.id };
}

/** The codings of a CodeableConcept under `element`, every one kept as sent (system, code, display), those of `checks`' systems checked. */
export function codingsOf(concept: unknown, issues: EntryIssues, element: string, checks: Record<string, CodeCheck> = {}): { system: string; code: string; display: string | null }[] {
  if (concept === undefined || concept === null) return [];
  if (!isObject(concept) || (concept.coding !== undefined && !Array.isArray(concept.coding))) return issues.add(400, 'structure', `${element} must be a CodeableConcept`, element) ?? [];
  const out: { system: string; code: string; display: string | null }[] = [];
  ((concept.coding ?? []) as unknown[]).forEach((c, n) => {
    const at = `${element}.coding[${n}]`;
    if (!isObject(c)) return void issues.add(400, 'structure', `${at} must be a Coding`, at);
    const system = text(c.system, issues, `${at}.system`, { required: true, max: 500 });
    const code = text(c.code, issues, `${at}.code`, { required: true, max: 200 });
    const display = c.display === undefined ? null : text(c.display, issues, `${at}.display`, { max: 500 });
    const check = system ? checks[system] : undefined;
    if (system && code && check && !check.valid(code.trim())) return void invalidCode(code.trim(), system, check, issues, `${at}.code`);
    if (system && code) out.push({ system, code: code.trim(), display });
  });
  return out;
}

/* ------------------------------------------------------- what is kept */

/**
 * The elements a module stores, so nothing accepted is lost (issue 27): an
 * object lists the elements kept below it (applied to every item of a list),
 * `true` keeps the element whole as sent; `$max` caps how many items of a
 * list are kept. `unkeptElements` refuses (422, the element named by its
 * FHIRPath) every element a resource carries that its module would not
 * store and export again — never accepted then silently dropped.
 */

/** What every resource may carry besides its own elements: the server's bookkeeping (meta: only the labels are the record's) and the narrative (derived from the structured elements, regenerated by readers). */
export const RESOURCE_BOOKKEEPING: { [element: string]: KeptElements } = {
  resourceType: true, id: true, text: true,
  meta: { security: true, profile: true, lastUpdated: true, versionId: true, source: true },
};

/** A CodeableConcept of which the module keeps one coding (its system's) and the text. */
export const ONE_CODING: KeptObject = { coding: { $max: 1, system: true, code: true, display: true }, text: true };
/** A CodeableConcept kept whole: every coding with its system, and the text. */
export const EVERY_CODING: KeptObject = { coding: { system: true, code: true, display: true }, text: true };
/** A Reference as the modules read it (a literal reference, a logical one by identifier, a display). */
export const REFERENCE: KeptObject = { reference: true, type: true, identifier: { system: true, value: true }, display: true };

export function unkeptElements(value: unknown, kept: KeptElements, issues: EntryIssues, element = ''): void {
  if (kept === true || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    const max = kept.$max;
    value.forEach((item, n) => {
      if (max !== undefined && n >= max) issues.add(422, 'not-supported', `${element}[${n}] is not kept: only the first ${max === 1 ? 'one is' : `${max} are`} stored, so it would be lost; send at most ${max}`, `${element}[${n}]`);
      else unkeptElements(item, kept, issues, `${element}[${n}]`);
    });
    return;
  }
  for (const [name, child] of Object.entries(value as Json)) {
    const path = element ? `${element}.${name}` : name;
    const rule = name.startsWith('$') ? undefined : kept[name];
    if (rule === undefined || typeof rule === 'number') {
      // `_element` (a primitive's id/extensions) is refused like any other element the product does not keep.
      issues.add(422, 'not-supported', `${path} is not kept by this service: it would be lost, so the resource is refused (remove it, or see docs/records.md for what each type keeps)`, path);
      continue;
    }
    unkeptElements(child, rule, issues, path);
  }
}
/** A Quantity as stored (value and unit; UCUM system and code, exported back with the unit as the code). */
export const QUANTITY: KeptObject = { value: true, unit: true, system: true, code: true };

/* ------------------------------------------------- logical references */

/** A reference kept as sent (issue 27): what the registry may not know, a practitioner by identifier or a Location, with its display (GraphQL LogicalReference). */
export interface LogicalRef {
  reference?: string;
  type?: string;
  /** The business identifier, as sent (FHIR Identifier: system, value). */
  identifier?: { system?: string; value?: string };
  display?: string;
}

/** The resource types a logical reference may name where a person or place took part (a performer, a recorder). */
export const LOGICAL_REFERENCE_TYPES = ['Practitioner', 'PractitionerRole', 'Location', 'CareTeam', 'RelatedPerson'];

/**
 * A reference to someone or somewhere the registry need not know: kept as a
 * logical reference (its literal reference, type, identifier and display, as
 * sent), not refused. An organisation is still the producer's to name: the
 * publisher itself (returns null: the record's own organisation stands for
 * it), any other organisation refused (403) as by ownOrganization. A
 * reference to an entry of the Bundle (urn:uuid) or of a type not in `types`
 * is refused (400), named.
 */
export function logicalReference(reference: unknown, context: BundleContext, issues: EntryIssues, element: string, types: readonly string[] = LOGICAL_REFERENCE_TYPES): LogicalRef | null {
  if (reference === undefined || reference === null) return null;
  if (!isObject(reference)) return issues.add(400, 'invalid', `${element} must be a Reference`, element) ?? null;
  const { reference: ref, identifier, type, display } = reference;
  // A conditional reference (`Practitioner?identifier=system|value`, as EHR exports such as Synthea write them) names its type as a literal one does.
  const match = typeof ref === 'string' ? LITERAL_REFERENCE.exec(ref) ?? CONDITIONAL_REFERENCE.exec(ref) : null;
  const organisation = type === 'Organization' || match?.[1] === 'Organization' || (isObject(identifier) && identifier.system === SYSTEM.organization);
  if (organisation) {
    ownOrganization(reference, context, issues, element);
    return null;
  }
  const out: LogicalRef = {};
  if (type !== undefined) {
    if (typeof type !== 'string' || !types.includes(type)) return issues.add(400, 'invalid', `${element}.type must be one of ${types.join(', ')} (or the publishing Organization)`, `${element}.type`) ?? null;
    out.type = type;
  }
  if (ref !== undefined) {
    if (typeof ref !== 'string') return issues.add(400, 'invalid', `${element}.reference must be a string`, `${element}.reference`) ?? null;
    if (!match || !types.includes(match[1]!)) {
      return issues.add(400, 'invalid', `${element}.reference must name a ${types.join(', ')} (Type/id or Type?identifier=system|value), or give an identifier; entries of the Bundle cannot be referenced here`, `${element}.reference`) ?? null;
    }
    if (type !== undefined && type !== match[1]) return issues.add(400, 'invalid', `${element}.type differs from the type of ${element}.reference`, `${element}.type`) ?? null;
    if (ref.length > 500) return issues.add(400, 'value', `${element}.reference is longer than 500 characters`, `${element}.reference`) ?? null;
    out.reference = ref;
  }
  if (identifier !== undefined) {
    if (!isObject(identifier)) return issues.add(400, 'structure', `${element}.identifier must be an Identifier`, `${element}.identifier`) ?? null;
    const system = text(identifier.system, issues, `${element}.identifier.system`, { required: true, max: 500 });
    const value = text(identifier.value, issues, `${element}.identifier.value`, { required: true, max: 200 });
    if (system || value) out.identifier = { ...(system ? { system } : {}), ...(value ? { value } : {}) };
  }
  if (display !== undefined) {
    const words = text(display, issues, `${element}.display`, { max: 500 });
    if (words) out.display = words;
  }
  if (!out.reference && !out.identifier?.value && !out.display) return issues.add(400, 'invalid', `${element} needs a reference, an identifier or a display`, element) ?? null;
  return out;
}

/** A logical reference as FHIR sends it (the export: as it came). */
export function fhirReferenceOf(ref: LogicalRef): Json {
  return {
    ...(ref.reference ? { reference: ref.reference } : {}),
    ...(ref.type ? { type: ref.type } : {}),
    ...(ref.identifier?.system || ref.identifier?.value ? { identifier: { ...(ref.identifier.system ? { system: ref.identifier.system } : {}), ...(ref.identifier.value ? { value: ref.identifier.value } : {}) } } : {}),
    ...(ref.display ? { display: ref.display } : {}),
  };
}

/** GraphQL selection of a LogicalReference. */
export const LOGICAL_REFERENCE_FIELDS = '{ reference type identifier { system value } display }';
