/** How the consent policy sees the encounters subgraph's records. */
import type { RecordAccess } from '../../../lib/connection.js';
import type { ConsentRules } from '../../../lib/consent/shield.js';

/** Remote consultations are addressed to every organisation taking part. */
export const ENCOUNTER: RecordAccess = { category: 'encounters', addresseesColumn: 'addressee_organization_ids' };
export const CONDITION: RecordAccess = { category: 'diagnoses' };
/** A referral is produced by the referring organisation and addressed to the receiving one. */
export const REFERRAL: RecordAccess = { category: 'referrals', organizationColumn: 'requester_organization_id', addresseesColumn: 'addressee_organization_ids' };

export const consentRules: ConsentRules = {
  records: {
    Encounter: { ...ENCOUNTER, fieldCategories: { diagnoses: 'diagnoses', referral: 'referrals' } },
    Condition: CONDITION,
    Referral: { ...REFERRAL, fieldCategories: { consultations: 'encounters' } },
  },
  // A discharge result holds the finished encounter and references (the owners check their fields).
  open: ['Query', 'Mutation', 'Discharge', 'FollowUpTask', 'EncounterParticipant', 'ReferralConsentRequest', 'Patient', 'Organization', 'Practitioner', 'Coding', 'Period', 'PageInfo', 'EncounterConnection', 'EncounterEdge',
    'ConditionConnection', 'ConditionEdge', 'ReferralConnection', 'ReferralEdge', '_Service'],
};
