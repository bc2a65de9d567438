/** How the consent policy sees the encounters subgraph's records (their facts: lib/records/record-types.ts). */
import { recordAccess } from '../../../lib/consent/record-access.js';
import { ownedRecordRules, type ConsentRules } from '../../../lib/consent/shield.js';

export const ENCOUNTER = recordAccess('Encounter');
export const CONDITION = recordAccess('Condition');
export const ALLERGY = recordAccess('AllergyIntolerance');
export const PROCEDURE = recordAccess('Procedure');
export const REFERRAL = recordAccess('Referral');
export const MEDICATION_REQUEST = recordAccess('MedicationRequest');
export const MEDICATION_ADMINISTRATION = recordAccess('MedicationAdministration');
export const MEDICATION_STATEMENT = recordAccess('MedicationStatement');

export const consentRules: ConsentRules = {
  records: ownedRecordRules('encounters', {
    Encounter: { fieldCategories: { diagnoses: 'diagnoses', referral: 'referrals' } },
    Referral: { fieldCategories: { consultations: 'encounters' } },
    // A procedure's encounter and the diagnosis it was for are records of their own categories.
    Procedure: { fieldCategories: { encounter: 'encounters', reasonReference: 'diagnoses', reasonReferenceDisplay: 'diagnoses' } },
  }),
  // A discharge result holds the finished encounter and references (the owners check their fields).
  open: ['Query', 'Mutation', 'Discharge', 'FollowUpTask', 'EncounterParticipant', 'ReferralConsentRequest', 'Patient', 'Organization', 'Practitioner', 'Coding', 'Period', 'PageInfo', 'EncounterConnection', 'EncounterEdge',
    'ConditionConnection', 'ConditionEdge', 'ReferralConnection', 'ReferralEdge', '_Service',
    // An allergy's parts, reached only through its checked fields.
    'CodeableConcept', 'AllergyReaction', 'AllergyIntoleranceConnection', 'AllergyIntoleranceEdge',
    // A procedure's parts, reached only through its checked fields.
    'ProcedurePerformer', 'LogicalReference', 'ReferenceIdentifier', 'ProcedureConnection', 'ProcedureEdge',
    // A medication record's parts, reached only through its checked fields.
    'MedicationRequestConnection', 'MedicationRequestEdge', 'MedicationAdministrationConnection', 'MedicationAdministrationEdge',
    'MedicationStatementConnection', 'MedicationStatementEdge', 'MedicationUses', 'Medication', 'MedicationIngredient', 'MedicationBatch', 'Ratio', 'SimpleQuantity', 'QuantityRange',
    'Dosage', 'DoseAndRate', 'Timing', 'TimingRepeat', 'TextPeriod', 'AdministrationDosage', 'MedicationPerformer'],
};
