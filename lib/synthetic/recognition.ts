/**
 * The demo alliance's result-recognition entries, derived deterministically
 * from the registry's organisation types. Seeders only: in a deployment the
 * recognition tables are administered at run time.
 */
import { ORGANIZATIONS, type OrganizationType } from './registry.js';

/** One entry, before it is written to the owner's table. */
export interface RecognitionEntry {
  id: string;
  organizationId: string;
  /** The code recognised; null for every code. */
  code: string | null;
  periodStart: Date;
  periodEnd: Date | null;
  basis: string;
}

/** What each kind of organisation is recognised for in the demo alliance. */
export type RecognitionPolicy = Record<OrganizationType, { codes: string[] | null; since: string; basis: string } | null>;

export function recognitionEntries(idPrefix: string, policy: RecognitionPolicy): RecognitionEntry[] {
  return ORGANIZATIONS.flatMap((organization) => {
    const rule = policy[organization.type];
    if (!rule) return [];
    return (rule.codes ?? [null]).map((code) => ({
      id: `${idPrefix}-${organization.id.slice(4)}-${code ?? 'all'}`,
      organizationId: organization.id,
      code,
      periodStart: new Date(rule.since),
      periodEnd: null,
      basis: rule.basis,
    }));
  });
}

/**
 * Basic tests recognised from every laboratory in the alliance's external
 * quality-control programme: hemoglobin, leukocytes, platelets, glucose.
 */
export const BASIC_LAB_TESTS = ['718-7', '6690-2', '777-3', '14749-6'];

/** Laboratories: provincial and county hospitals for every code, the others for basic tests only. */
export const LAB_RECOGNITION_POLICY: RecognitionPolicy = {
  'provincial-hospital': { codes: null, since: '2018-01-01T00:00:00Z', basis: 'ISO 15189 accredited clinical laboratory' },
  'county-hospital': { codes: null, since: '2021-01-01T00:00:00Z', basis: 'Provincial clinical laboratory quality-control centre, full accreditation' },
  'specialty-hospital': { codes: BASIC_LAB_TESTS, since: '2022-01-01T00:00:00Z', basis: 'Alliance external quality assessment, basic tests' },
  'township-health-centre': { codes: BASIC_LAB_TESTS, since: '2024-01-01T00:00:00Z', basis: 'Alliance external quality assessment, basic tests' },
  'public-health-agency': null,
};

/** Imaging: hospitals for every modality, specialty hospitals for ultrasound, township centres for radiography and ultrasound. */
export const IMAGING_RECOGNITION_POLICY: RecognitionPolicy = {
  'provincial-hospital': { codes: null, since: '2018-01-01T00:00:00Z', basis: 'Provincial medical imaging quality-control centre, full accreditation' },
  'county-hospital': { codes: null, since: '2021-01-01T00:00:00Z', basis: 'Provincial medical imaging quality-control centre, full accreditation' },
  'specialty-hospital': { codes: ['US'], since: '2022-01-01T00:00:00Z', basis: 'Alliance ultrasound quality assessment' },
  'township-health-centre': { codes: ['DX', 'US'], since: '2024-01-01T00:00:00Z', basis: 'Alliance basic imaging quality assessment' },
  'public-health-agency': null,
};
