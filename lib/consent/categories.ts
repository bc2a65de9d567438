/**
 * The consent categories: the grain at which the policy decides, patients
 * share and SMART scopes reach (through the FHIR resource types each stands
 * for: lib/records/record-types.ts). Node-free: the web client reads the labels.
 */
export const CATEGORIES = [
  'demographics', 'identifiers', 'encounters', 'diagnoses', 'allergies', 'referrals', 'labs', 'imaging', 'imaging-reports',
  'immunizations', 'programs', 'follow-ups', 'home-measurements', 'consents',
  'procedures', 'care-plans',
  'medications',
  'observations',
  'notes',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** GraphQL `DataCategory` enum value <-> policy category (HOME_MEASUREMENTS <-> home-measurements). */
export const categoryFromEnum = (value: string) => value.toLowerCase().replace(/_/g, '-') as Category;
export const categoryToEnum = (category: string) => category.toUpperCase().replace(/-/g, '_');

/** Human labels of the categories (what a patient is asked to share). */
export const CATEGORY_LABELS: Record<Category, string> = {
  demographics: 'Name, birth date, contact',
  identifiers: 'Record numbers',
  encounters: 'Visits',
  diagnoses: 'Diagnoses',
  allergies: 'Allergies and intolerances',
  referrals: 'Referrals',
  labs: 'Lab results',
  imaging: 'Imaging',
  'imaging-reports': 'Radiology reports',
  immunizations: 'Vaccinations',
  programs: 'Programmes',
  'follow-ups': 'Follow-up tasks',
  'home-measurements': 'Home measurements',
  consents: 'Consents',
  procedures: 'Procedures and operations',
  'care-plans': 'Care plans and care teams',
  medications: 'Medications',
  observations: 'Vital signs and clinical observations (social history included)',
  notes: 'Clinical notes',
};
