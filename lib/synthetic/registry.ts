/**
 * The alliance's fixed registry used by the demo and benchmark data:
 * organisations, their practitioners and the public-health programmes.
 * Organisation ids are readable slugs so tokens and tests can name them.
 */
import { Random } from './random.js';

export type OrganizationType =
  | 'provincial-hospital'
  | 'county-hospital'
  | 'specialty-hospital'
  | 'township-health-centre'
  | 'public-health-agency';

export interface Organization {
  id: string;
  name: string;
  type: OrganizationType;
  /** The county hospital a township health centre refers to. */
  partOf: string | null;
  city: string;
}

export const ORGANIZATIONS: Organization[] = [
  { id: 'org-provincial', name: "Provincial People's Hospital", type: 'provincial-hospital', partOf: null, city: 'Fuzhou' },
  { id: 'org-county-north', name: 'North County Hospital', type: 'county-hospital', partOf: 'org-provincial', city: 'Minqing' },
  { id: 'org-county-south', name: 'South County Hospital', type: 'county-hospital', partOf: 'org-provincial', city: 'Yongtai' },
  { id: 'org-mental-health', name: 'Provincial Mental Health Centre', type: 'specialty-hospital', partOf: null, city: 'Fuzhou' },
  { id: 'org-maternal-child', name: 'Provincial Maternal and Child Health Hospital', type: 'specialty-hospital', partOf: null, city: 'Fuzhou' },
  { id: 'org-thc-baisha', name: 'Baisha Township Health Centre', type: 'township-health-centre', partOf: 'org-county-north', city: 'Minqing' },
  { id: 'org-thc-meixi', name: 'Meixi Township Health Centre', type: 'township-health-centre', partOf: 'org-county-north', city: 'Minqing' },
  { id: 'org-thc-gaiyang', name: 'Gaiyang Township Health Centre', type: 'township-health-centre', partOf: 'org-county-south', city: 'Yongtai' },
  { id: 'org-thc-qingliang', name: 'Qingliang Township Health Centre', type: 'township-health-centre', partOf: 'org-county-south', city: 'Yongtai' },
  { id: 'org-cdc', name: 'Regional Center for Disease Control and Prevention', type: 'public-health-agency', partOf: null, city: 'Fuzhou' },
];

export const TOWNSHIP_CENTRES = ORGANIZATIONS.filter((o) => o.type === 'township-health-centre');

export type PractitionerRole = 'clinician' | 'nurse' | 'radiologist' | 'public_health';

export interface Practitioner {
  id: string;
  organizationId: string;
  family: string;
  given: string;
  role: PractitionerRole;
}

/** Practitioners per organisation: readable ids (`prac-<org>-<n>`), deterministic. */
export function generatePractitioners(seed: number): Practitioner[] {
  const random = new Random(seed, 0x9e37);
  const practitioners: Practitioner[] = [];
  for (const org of ORGANIZATIONS) {
    const roles: PractitionerRole[] = org.type === 'public-health-agency'
      ? ['public_health', 'public_health', 'nurse']
      : org.type === 'township-health-centre'
        ? ['clinician', 'clinician', 'nurse', 'nurse']
        : ['clinician', 'clinician', 'clinician', 'nurse', 'nurse', 'radiologist'];
    roles.forEach((role, n) => {
      const name = random.personName(random.bool(0.5) ? 'female' : 'male');
      practitioners.push({ id: `prac-${org.id.slice(4)}-${n + 1}`, organizationId: org.id, family: name.family, given: name.given, role });
    });
  }
  return practitioners;
}

export interface Program {
  id: string;
  /** Short code used across the alliance. */
  code: 'HTN' | 'DM' | 'MCH' | 'EPI' | 'ELD';
  name: string;
  /** The organisation that runs the programme (public-health staff there see its enrolees). */
  organizationId: string;
}

export const PROGRAMS: Program[] = [
  { id: 'prog-htn', code: 'HTN', name: 'Hypertension management', organizationId: 'org-cdc' },
  { id: 'prog-dm', code: 'DM', name: 'Diabetes management', organizationId: 'org-cdc' },
  { id: 'prog-mch', code: 'MCH', name: 'Maternal and child health', organizationId: 'org-maternal-child' },
  { id: 'prog-epi', code: 'EPI', name: 'Childhood immunisation', organizationId: 'org-cdc' },
  { id: 'prog-eld', code: 'ELD', name: 'Elderly care', organizationId: 'org-cdc' },
];
