/** Identity's part of the synthetic data: the registry, patients and identifiers. */
import { tableRows, type Seeder } from '../../../lib/seed-types.js';
import { ORGANIZATIONS, generatePractitioners } from '../../../lib/synthetic/registry.js';

export const seeder: Seeder = {
  referenceRows: (seed) => [
    tableRows('organization', ORGANIZATIONS.filter((o) => !o.partOf), { id: (o) => o.id, name: (o) => o.name, type: (o) => o.type, part_of: (o) => o.partOf, city: (o) => o.city }),
    tableRows('organization', ORGANIZATIONS.filter((o) => o.partOf), { id: (o) => o.id, name: (o) => o.name, type: (o) => o.type, part_of: (o) => o.partOf, city: (o) => o.city }),
    tableRows('practitioner', generatePractitioners(seed), { id: (p) => p.id, organization_id: (p) => p.organizationId, family: (p) => p.family, given: (p) => p.given, role: (p) => p.role }),
  ],
  patientRows: (bundles) => [
    tableRows('patient', bundles.map((b) => b.patient), {
      id: (p) => p.id, family: (p) => p.family, given: (p) => p.given, birth_date: (p) => p.birthDate, gender: (p) => p.sex,
      phone: (p) => p.phone, email: (p) => p.email, address_line: (p) => p.address.line, address_city: (p) => p.address.city, address_postal_code: (p) => p.address.postalCode,
    }),
    tableRows('patient_identifier', bundles.flatMap((b) => b.patient.identifiers.map((i) => ({ ...i, patientId: b.patient.id }))), {
      patient_id: (i) => i.patientId, system: (i) => i.system, value: (i) => i.value, type: (i) => i.type, assigner_organization_id: (i) => i.assignerOrganizationId,
    }),
  ],
};
