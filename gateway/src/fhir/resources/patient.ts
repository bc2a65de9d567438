/**
 * Patient: the patient's own record (identity). Exported from the patient's
 * fields (demographics, identifiers); published as an institution registers
 * a patient: its own medical record number (and the regional health card),
 * matched by the master patient index.
 */
import { SYSTEM } from '../../../../lib/records/terminology.js';
import type { GqlHumanName, GqlOrganization } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import { date, EVERY_CODING, humanName, instant, isObject, ORGANIZATION_FIELDS, ownOrganization, REFERENCE, text } from './elements.js';
import type { EntryIssues, ExportContext, FhirResourceModule, Json, Mapped, Resource } from './module.js';
import { conceptOf, fhirConcept } from './clinical-observation.js';
import type { Concept } from './medication.js';

export interface GqlPatient {
  id: string;
  /** When the patient's record last changed (meta.lastUpdated). */
  lastUpdated?: string | null;
  name?: (GqlHumanName & { prefix?: string[] | null; suffix?: string[] | null })[] | null;
  deceasedDateTime?: string | null;
  deceasedBoolean?: boolean | null;
  extensionJson?: string | null;
  birthDate?: string | null;
  gender?: 'FEMALE' | 'MALE' | 'OTHER' | 'UNKNOWN' | null;
  telecom?: { system: string; value: string; use: string | null }[] | null;
  address?: {
    line: string[]; city: string | null; postalCode: string | null; country: string | null; state?: string | null; district?: string | null; use?: string | null; type?: string | null;
    extensionJson?: string | null;
  }[] | null;
  maritalStatus?: Concept | null;
  multipleBirthBoolean?: boolean | null;
  multipleBirthInteger?: number | null;
  communication?: { language: Concept; preferred: boolean | null }[] | null;
  identifiers?: { system: string; value: string; type: 'MR' | 'HC'; assigner: GqlOrganization | null }[] | null;
}

/** The patient's own fields the export asks for. */
export const PATIENT_FIELDS = `
  id
  lastUpdated
  name { family given text use prefix suffix }
  birthDate
  gender
  deceasedDateTime
  deceasedBoolean
  extensionJson
  telecom { system value use }
  address { line city district state postalCode country use type extensionJson }
  maritalStatus { coding { system code display } text }
  multipleBirthBoolean
  multipleBirthInteger
  communication { language { coding { system code display } text } preferred }
  identifiers { system value type assigner ${ORGANIZATION_FIELDS} }`;

export function patientToFhir(p: GqlPatient, x: ExportContext): Resource {
  const extension = p.extensionJson ? (JSON.parse(p.extensionJson) as Json[]) : undefined;
  return {
    resourceType: 'Patient',
    id: p.id,
    meta: x.meta(p, []),
    extension,
    identifier: (p.identifiers ?? []).map((i) => ({
      use: i.type === 'MR' ? 'usual' : 'official',
      type: { coding: [i.type === 'MR'
        ? { system: SYSTEMS.identifierType, code: 'MR', display: 'Medical record number' }
        : { system: SYSTEMS.identifierType, code: 'HC', display: 'Health Card Number' }] },
      system: i.system,
      value: i.value,
      assigner: x.org(i.assigner),
    })),
    name: (p.name ?? []).map((n) => ({ ...humanName(n), prefix: n.prefix ?? undefined, suffix: n.suffix ?? undefined })),
    telecom: (p.telecom ?? []).map((t) => ({ system: t.system, value: t.value, use: t.use ?? undefined })),
    gender: p.gender ? p.gender.toLowerCase() : undefined,
    birthDate: p.birthDate,
    deceasedDateTime: p.deceasedDateTime ?? undefined,
    deceasedBoolean: p.deceasedBoolean ?? undefined,
    maritalStatus: fhirConcept(p.maritalStatus),
    multipleBirthBoolean: p.multipleBirthBoolean ?? undefined,
    multipleBirthInteger: p.multipleBirthInteger ?? undefined,
    communication: p.communication?.length ? p.communication.map((c) => ({ language: fhirConcept(c.language), ...(typeof c.preferred === 'boolean' ? { preferred: c.preferred } : {}) })) : undefined,
    address: (p.address ?? []).map((a) => ({
      extension: a.extensionJson ? (JSON.parse(a.extensionJson) as Json[]) : undefined,
      use: a.use ?? undefined, type: a.type ?? undefined, line: a.line.length ? a.line : undefined, city: a.city ?? undefined, district: a.district ?? undefined,
      state: a.state ?? undefined, postalCode: a.postalCode ?? undefined, country: a.country ?? undefined,
    })),
  };
}

const NAME_USE = new Set(['usual', 'official', 'temp', 'nickname', 'anonymous', 'old', 'maiden']);
const CONTACT_SYSTEM = new Set(['phone', 'fax', 'email', 'pager', 'url', 'sms', 'other']);
const CONTACT_USE = new Set(['home', 'work', 'temp', 'old', 'mobile']);
const ADDRESS_USE = new Set(['home', 'work', 'temp', 'old', 'billing']);
const ADDRESS_TYPE = new Set(['postal', 'physical', 'both']);

/** A list element of the Patient, each item read by `read` (null: refused, the issue added). */
function listOf<T>(value: unknown, issues: EntryIssues, element: string, read: (item: Json, at: string) => T | null): T[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) return issues.add(400, 'structure', `${element} must be a list`, element) ?? null;
  if (value.length > 20) return issues.add(400, 'value', `At most 20 items in ${element}`, element) ?? null;
  return value.map((item, n) => (isObject(item) ? read(item, `${element}[${n}]`) : issues.add(400, 'structure', `${element}[${n}] must be an object`, `${element}[${n}]`) ?? null))
    .filter((item): item is Awaited<T> & T => item !== null);
}

const strings = (value: unknown, issues: EntryIssues, element: string): string[] | undefined => {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return issues.add(400, 'structure', `${element} must be a list of strings`, element);
  return value.map((v, n) => text(v, issues, `${element}[${n}]`, { required: true, max: 200 })).filter((v): v is string => v !== null);
};
const codeIn = (value: unknown, codes: Set<string>, issues: EntryIssues, element: string): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !codes.has(value)) return issues.add(400, 'code-invalid', `${element} must be one of ${[...codes].join(', ')}`, element);
  return value;
};
/** A list of FHIR Extensions, each with its url (kept as sent); undefined (the issue added) if it is not one. */
const extensionsOf = (value: unknown, issues: EntryIssues, element: string): Json[] | undefined => {
  if (Array.isArray(value) && value.every((e: unknown) => isObject(e) && typeof e.url === 'string')) return value as Json[];
  return issues.add(400, 'structure', `${element} must be a list of Extensions, each with its url`, element);
};
/** Drops the undefined members (JSON keeps the element as sent, nothing more). */
const compact = (o: Json) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

export const patient: FhirResourceModule = {
  resourceType: 'Patient',
  // Every element stored (migration 009 of identity) and exported back; anything else is refused, named.
  keeps: {
    identifier: { system: true, value: true, use: true, type: true, assigner: REFERENCE },
    extension: true,
    name: { use: true, text: true, family: true, given: true, prefix: true, suffix: true },
    telecom: { system: true, value: true, use: true },
    gender: true, birthDate: true, deceasedDateTime: true, deceasedBoolean: true,
    address: { use: true, type: true, line: true, city: true, district: true, state: true, postalCode: true, country: true, extension: true },
    // As sent (identity migration 011).
    maritalStatus: EVERY_CODING, multipleBirthBoolean: true, multipleBirthInteger: true, communication: { $max: 20, language: EVERY_CODING, preferred: true },
  },
  fromFhir(r, context, issues, index): Mapped {
    const names = listOf(r.name, issues, 'name', (n, at) => compact({
      use: codeIn(n.use, NAME_USE, issues, `${at}.use`), text: n.text === undefined ? undefined : text(n.text, issues, `${at}.text`, { max: 500 }),
      family: n.family === undefined ? undefined : text(n.family, issues, `${at}.family`, { max: 200 }),
      given: strings(n.given, issues, `${at}.given`), prefix: strings(n.prefix, issues, `${at}.prefix`), suffix: strings(n.suffix, issues, `${at}.suffix`),
    })) ?? [];
    // The name matching and search read: the official (or usual, or first) one with a family name.
    const main = names.find((n) => n.use === 'official' && n.family) ?? names.find((n) => n.use === 'usual' && n.family) ?? names.find((n) => n.family);
    const family = main ? (main.family as string) : (issues.add(400, 'required', 'name[0].family is required', 'name[0].family') ?? null);
    const given = (main?.given as string[] | undefined) ?? [];
    if (main && !given.length) issues.add(400, 'required', `name[${names.indexOf(main)}].given is required`, `name[${names.indexOf(main)}].given`);
    const gender = r.gender === undefined ? 'unknown' : ['male', 'female', 'other', 'unknown'].includes(r.gender) ? r.gender : issues.add(400, 'code-invalid', 'gender must be male, female, other or unknown', 'gender');
    const telecoms = listOf(r.telecom, issues, 'telecom', (t, at) => compact({
      system: codeIn(t.system, CONTACT_SYSTEM, issues, `${at}.system`) ?? issues.add(400, 'required', `${at}.system is required`, `${at}.system`),
      value: text(t.value, issues, `${at}.value`, { required: true, max: 200 }), use: codeIn(t.use, CONTACT_USE, issues, `${at}.use`),
    }));
    const addresses = listOf(r.address, issues, 'address', (a, at) => compact({
      use: codeIn(a.use, ADDRESS_USE, issues, `${at}.use`), type: codeIn(a.type, ADDRESS_TYPE, issues, `${at}.type`),
      line: strings(a.line, issues, `${at}.line`),
      // Its extensions (a geolocation, say) as sent, each with its url.
      extension: a.extension === undefined ? undefined : extensionsOf(a.extension, issues, `${at}.extension`),
      ...Object.fromEntries(['city', 'district', 'state', 'postalCode', 'country'].map((k) => [k, a[k] === undefined ? undefined : text(a[k], issues, `${at}.${k}`, { max: 200 })])),
    }));
    if (r.deceasedDateTime !== undefined && r.deceasedBoolean !== undefined) issues.add(400, 'invalid', 'deceased[x] is one element: send deceasedDateTime or deceasedBoolean', 'deceasedBoolean');
    if (r.deceasedDateTime !== undefined) instant(r.deceasedDateTime, issues, 'deceasedDateTime');
    if (r.deceasedBoolean !== undefined && typeof r.deceasedBoolean !== 'boolean') issues.add(400, 'value', 'deceasedBoolean must be true or false', 'deceasedBoolean');
    if (r.extension !== undefined) extensionsOf(r.extension, issues, 'extension');
    if (r.multipleBirthBoolean !== undefined && r.multipleBirthInteger !== undefined) issues.add(400, 'invalid', 'multipleBirth[x] is one element: send multipleBirthBoolean or multipleBirthInteger', 'multipleBirthInteger');
    if (r.multipleBirthBoolean !== undefined && typeof r.multipleBirthBoolean !== 'boolean') issues.add(400, 'value', 'multipleBirthBoolean must be true or false', 'multipleBirthBoolean');
    if (r.multipleBirthInteger !== undefined && !(Number.isInteger(r.multipleBirthInteger) && r.multipleBirthInteger >= 1)) issues.add(400, 'value', 'multipleBirthInteger must be a positive integer', 'multipleBirthInteger');
    const maritalStatus = conceptOf(r.maritalStatus, issues, 'maritalStatus');
    const communications = listOf(r.communication, issues, 'communication', (c, at) => {
      const language = conceptOf(c.language, issues, `${at}.language`, true);
      if (c.preferred !== undefined && typeof c.preferred !== 'boolean') issues.add(400, 'value', `${at}.preferred must be true or false`, `${at}.preferred`);
      return language ? compact({ language, preferred: typeof c.preferred === 'boolean' ? c.preferred : undefined }) : null;
    });
    const address = (addresses ?? []).find((a) => a.use === 'home') ?? addresses?.[0];
    (Array.isArray(r.identifier) ? r.identifier : []).forEach((identifier: unknown, n: number) => {
      if (!isObject(identifier)) return;
      ownOrganization(identifier.assigner, context, issues, `identifier[${n}].assigner`);
      if (typeof identifier.system === 'string' && identifier.system.startsWith(SYSTEM.mrnPrefix) && identifier.system !== SYSTEM.mrnPrefix + context.organizationId) {
        issues.add(403, 'forbidden', 'An institution adds only its own medical record numbers; other organisations register the patient themselves', `identifier[${n}].system`);
      }
    });
    return {
      recordType: 'Patient', kind: 'patient', refs: {}, patient: { entry: index }, patientElement: '',
      record: {
        family, given, birth_date: date(r.birthDate, issues, 'birthDate'), gender,
        phone: telecoms?.find((t) => t.system === 'phone')?.value ?? null,
        email: telecoms?.find((t) => t.system === 'email')?.value ?? null,
        address_line: Array.isArray(address?.line) ? address!.line.join(', ') : null,
        address_city: typeof address?.city === 'string' ? address.city : null,
        address_postal_code: typeof address?.postalCode === 'string' ? address.postalCode : null,
        // As sent (identity migration 009): exported back unchanged.
        names, telecoms, addresses,
        deceased: r.deceasedDateTime !== undefined ? { dateTime: r.deceasedDateTime } : typeof r.deceasedBoolean === 'boolean' ? { boolean: r.deceasedBoolean } : null,
        extensions: Array.isArray(r.extension) ? r.extension : null,
        marital_status: maritalStatus,
        multiple_birth: typeof r.multipleBirthBoolean === 'boolean' ? { boolean: r.multipleBirthBoolean } : Number.isInteger(r.multipleBirthInteger) ? { integer: r.multipleBirthInteger } : null,
        communications: communications?.length ? communications : null,
      },
    };
  },
};
