/**
 * Patient: the patient's own record (identity). Exported from the patient's
 * fields (demographics, identifiers); published as an institution registers
 * a patient: its own medical record number (and the regional health card),
 * matched by the master patient index.
 */
import { SYSTEM } from '../../../../lib/records/terminology.js';
import type { GqlHumanName, GqlOrganization } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import { date, humanName, isObject, ORGANIZATION_FIELDS, ownOrganization, text } from './elements.js';
import type { ExportContext, FhirResourceModule, Json, Mapped, Resource } from './module.js';

export interface GqlPatient {
  id: string;
  name?: GqlHumanName[] | null;
  birthDate?: string | null;
  gender?: 'FEMALE' | 'MALE' | 'OTHER' | 'UNKNOWN' | null;
  telecom?: { system: string; value: string; use: string | null }[] | null;
  address?: { line: string[]; city: string | null; postalCode: string | null; country: string | null }[] | null;
  identifiers?: { system: string; value: string; type: 'MR' | 'HC'; assigner: GqlOrganization | null }[] | null;
}

/** The patient's own fields the export asks for. */
export const PATIENT_FIELDS = `
  id
  name { family given text use }
  birthDate
  gender
  telecom { system value use }
  address { line city postalCode country }
  identifiers { system value type assigner ${ORGANIZATION_FIELDS} }`;

export function patientToFhir(p: GqlPatient, x: ExportContext): Resource {
  return {
    resourceType: 'Patient',
    id: p.id,
    meta: x.meta(p, []),
    identifier: (p.identifiers ?? []).map((i) => ({
      use: i.type === 'MR' ? 'usual' : 'official',
      type: { coding: [i.type === 'MR'
        ? { system: SYSTEMS.identifierType, code: 'MR', display: 'Medical record number' }
        : { system: SYSTEMS.identifierType, code: 'HC', display: 'Health Card Number' }] },
      system: i.system,
      value: i.value,
      assigner: x.org(i.assigner),
    })),
    name: (p.name ?? []).map(humanName),
    telecom: (p.telecom ?? []).map((t) => ({ system: t.system, value: t.value, use: t.use })),
    gender: p.gender ? p.gender.toLowerCase() : undefined,
    birthDate: p.birthDate,
    address: (p.address ?? []).map((a) => ({ line: a.line, city: a.city, postalCode: a.postalCode, country: a.country })),
  };
}

export const patient: FhirResourceModule = {
  resourceType: 'Patient',
  fromFhir(r, context, issues, index): Mapped {
    const name = Array.isArray(r.name) && isObject(r.name[0]) ? r.name[0] : null;
    const family = text(name?.family, issues, 'name[0].family', { required: true, max: 200 });
    const given = Array.isArray(name?.given) ? (name!.given as unknown[]).filter((g): g is string => typeof g === 'string') : [];
    if (!given.length) issues.add(400, 'required', 'name[0].given is required', 'name[0].given');
    const gender = r.gender === undefined ? 'unknown' : ['male', 'female', 'other', 'unknown'].includes(r.gender) ? r.gender : issues.add(400, 'code-invalid', 'gender must be male, female, other or unknown', 'gender');
    const telecom = Array.isArray(r.telecom) ? (r.telecom as Json[]) : [];
    const address = Array.isArray(r.address) && isObject(r.address[0]) ? r.address[0] : null;
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
        phone: telecom.find((t) => t?.system === 'phone')?.value ?? null,
        email: telecom.find((t) => t?.system === 'email')?.value ?? null,
        address_line: Array.isArray(address?.line) ? address!.line.join(', ') : null,
        address_city: typeof address?.city === 'string' ? address.city : null,
        address_postal_code: typeof address?.postalCode === 'string' ? address.postalCode : null,
      },
    };
  },
};
