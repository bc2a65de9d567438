/**
 * Mutual recognition of imaging studies ("avoid repeated tests").
 *
 * Before ordering a study, a clinician asks for the patient's recent studies
 * of the same DICOM modality (and body site) from every organisation whose
 * records they may see. Each study says whether it is recognised across the
 * alliance: an entry of `imaging_result_recognition` names the performing
 * organisation, the modality (or every modality) and the period during which
 * its studies count. Imaging keeps this table itself; it never reads
 * identity's registry.
 *
 * The demo alliance's entries are derived here from the registry's
 * organisation types, deterministically: provincial and county hospitals for
 * every modality, specialty hospitals for ultrasound, township health centres
 * for plain radiography and ultrasound, the public-health agency for none.
 */
import { badInput } from '../../../lib/errors.js';
import type { Row } from '../../../lib/records.js';
import type { SubgraphContext } from '../../../lib/subgraph.js';
import { ORGANIZATIONS, type OrganizationType } from '../../../lib/synthetic/registry.js';

export const DEFAULT_WITHIN_DAYS = 180;
export const MAX_WITHIN_DAYS = 3650;
const DAY = 86_400_000;

export interface ImagingRecognitionEntry {
  id: string;
  organizationId: string;
  /** DICOM modality code; null for every modality. */
  modality: string | null;
  periodStart: Date;
  periodEnd: Date | null;
  basis: string;
}

const POLICY: Record<OrganizationType, { modalities: string[] | null; since: string; basis: string } | null> = {
  'provincial-hospital': { modalities: null, since: '2018-01-01T00:00:00Z', basis: 'Provincial medical imaging quality-control centre, full accreditation' },
  'county-hospital': { modalities: null, since: '2021-01-01T00:00:00Z', basis: 'Provincial medical imaging quality-control centre, full accreditation' },
  'specialty-hospital': { modalities: ['US'], since: '2022-01-01T00:00:00Z', basis: 'Alliance ultrasound quality assessment' },
  'township-health-centre': { modalities: ['DX', 'US'], since: '2024-01-01T00:00:00Z', basis: 'Alliance basic imaging quality assessment' },
  'public-health-agency': null,
};

/** The demo alliance's recognition entries, in a fixed order. */
export function imagingRecognitionEntries(): ImagingRecognitionEntry[] {
  return ORGANIZATIONS.flatMap((organization) => {
    const policy = POLICY[organization.type];
    if (!policy) return [];
    return (policy.modalities ?? [null]).map((modality) => ({
      id: `img-${organization.id.slice(4)}-${modality ?? 'all'}`,
      organizationId: organization.id,
      modality,
      periodStart: new Date(policy.since),
      periodEnd: null,
      basis: policy.basis,
    }));
  });
}

/** Whether a study of `modality` started at `started` is covered by one of its organisation's entries. */
export function isRecognized(entries: Row[], modality: string, started: Date): boolean {
  const time = new Date(started).getTime();
  return entries.some((entry) =>
    (entry.modality === null || entry.modality === modality)
    && new Date(entry.period_start).getTime() <= time
    && (entry.period_end === null || time < new Date(entry.period_end).getTime()));
}

/** The recognition entries of an organisation, one statement per request for every organisation asked. */
export function recognitionOf(context: SubgraphContext, organizationId: string): Promise<Row[]> {
  return context
    .loader<string, Row[]>('imagingResultRecognition', async (organizationIds) => {
      const rows = await context.db.query<Row>(
        'SELECT organization_id, modality, period_start, period_end FROM imaging_result_recognition WHERE organization_id = ANY($1::text[])',
        [[...organizationIds]],
      );
      return organizationIds.map((id) => rows.filter((row) => row.organization_id === id));
    })
    .load(organizationId);
}

/** A DICOM modality code (a code string of CID 29, e.g. CT, MR, DX); refuses anything else with BAD_USER_INPUT. */
export function modalityCode(value: unknown): string {
  const code = typeof value === 'string' ? value.trim() : '';
  if (!/^[A-Z][A-Z0-9_]{1,15}$/.test(code)) throw badInput('modality must be a DICOM modality code in capitals, such as CT or MR');
  return code;
}

// Verhoeff tables: SNOMED CT identifiers end in a Verhoeff check digit.
const VERHOEFF_D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1], [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1], [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/** A SNOMED CT concept id (6 to 18 digits, Verhoeff check digit), e.g. 51185008; null when omitted. */
export function bodySiteCode(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const code = typeof value === 'string' ? value.trim() : '';
  if (!/^[1-9]\d{5,17}$/.test(code)) throw badInput('bodySite must be a SNOMED CT concept id such as 51185008');
  let check = 0;
  [...code].reverse().forEach((digit, i) => {
    check = VERHOEFF_D[check]![VERHOEFF_P[i % 8]![Number(digit)]!]!;
  });
  if (check !== 0) throw badInput(`bodySite ${code} is not a SNOMED CT identifier: its check digit is wrong`);
  return code;
}

/** The start of the look-back window: `withinDays` (1 to 3650, default 180) before `now`. */
export function windowStart(now: Date, withinDays: number | null | undefined, fallback = DEFAULT_WITHIN_DAYS): Date {
  const days = withinDays ?? fallback;
  if (!Number.isInteger(days) || days < 1 || days > MAX_WITHIN_DAYS) throw badInput(`withinDays must be between 1 and ${MAX_WITHIN_DAYS}`);
  return new Date(now.getTime() - days * DAY);
}
