/**
 * Identity's part of the synthetic data: the registry, patients and
 * identifiers. The registry is written entry by entry through the same
 * functions as the administrators' mutations (registry.ts), which validate
 * each one and record it in the registry change log under the seed's name.
 */
import { JsonValue, type Database } from '../../../lib/runtime/db.js';
import { tableRows, type Seeder } from '../../../lib/synthetic/seed-types.js';
import { ORGANIZATIONS, generatePractitioners } from '../../../lib/synthetic/registry.js';
import { upsertOrganization, upsertPractitioner, type RegistryAuthor } from './registry.js';

/** The author of the demo registry's entries in the change log. */
export const SEED_AUTHOR = (seed: number): RegistryAuthor => ({ sub: 'demo-seed', role: 'admin', requestId: `demo-seed-${seed}` });

/** The synthetic registry's kebab-case values as the API's enum values (county-hospital → COUNTY_HOSPITAL). */
const enumValue = (value: string) => value.toUpperCase().replace(/-/g, '_');

async function seedOrganizations(db: Database, seed: number): Promise<void> {
  // Parents first: partOf must name an organisation already registered.
  const ordered = [...ORGANIZATIONS.filter((o) => !o.partOf), ...ORGANIZATIONS.filter((o) => o.partOf)];
  for (const o of ordered) await upsertOrganization(db, SEED_AUTHOR(seed), { id: o.id, name: o.name, type: enumValue(o.type), partOf: o.partOf, city: o.city });
}

async function seedPractitioners(db: Database, seed: number): Promise<void> {
  for (const p of generatePractitioners(seed)) {
    await upsertPractitioner(db, SEED_AUTHOR(seed), { id: p.id, organizationId: p.organizationId, family: p.family, given: p.given, role: enumValue(p.role) });
  }
}

export const seeder: Seeder = {
  reference: (seed) => [
    { table: 'organization', write: (db) => seedOrganizations(db, seed) },
    { table: 'practitioner', write: (db) => seedPractitioners(db, seed) },
  ],
  patientRows: (bundles) => [
    tableRows('patient', bundles.map((b) => b.patient), {
      id: (p) => p.id, family: (p) => p.family, given: (p) => p.given, birth_date: (p) => p.birthDate, gender: (p) => p.sex,
      phone: (p) => p.phone, email: (p) => p.email, address_line: (p) => p.address.line, address_city: (p) => p.address.city, address_postal_code: (p) => p.address.postalCode,
      // The demo's patients live in the alliance's province (China): their lists say so, as an institution would send them.
      telecoms: (p) => new JsonValue([{ system: 'phone', value: p.phone, use: 'mobile' }, ...(p.email ? [{ system: 'email', value: p.email, use: 'home' }] : [])]),
      addresses: (p) => new JsonValue([{ line: [p.address.line], city: p.address.city, postalCode: p.address.postalCode, country: 'CN' }]),
    }),
    tableRows('patient_identifier', bundles.flatMap((b) => b.patient.identifiers.map((i) => ({ ...i, patientId: b.patient.id }))), {
      patient_id: (i) => i.patientId, system: (i) => i.system, value: (i) => i.value, type: (i) => i.type, assigner_organization_id: (i) => i.assignerOrganizationId,
    }),
  ],
};
