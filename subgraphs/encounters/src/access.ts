/** How the consent policy sees the encounters subgraph's records. */
import type { RecordAccess } from '../../../lib/connection.js';
import type { ConsentRules } from '../../../lib/consent/shield.js';

export const ENCOUNTER: RecordAccess = { category: 'encounters' };
export const CONDITION: RecordAccess = { category: 'diagnoses' };
/** A referral is produced by the referring organisation. */
export const REFERRAL: RecordAccess = { category: 'referrals', organizationColumn: 'requester_organization_id' };

export const consentRules: ConsentRules = {
  records: {
    Encounter: { ...ENCOUNTER, fieldCategories: { diagnoses: 'diagnoses' } },
    Condition: CONDITION,
    Referral: REFERRAL,
  },
  open: ['Query', 'Patient', 'Organization', 'Practitioner', 'Coding', 'Period', 'PageInfo', 'EncounterConnection', 'EncounterEdge',
    'ConditionConnection', 'ConditionEdge', 'ReferralConnection', 'ReferralEdge', '_Service'],
};
