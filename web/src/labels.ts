/** Display labels of API enums. */
import type { ConsentActorType, DataCategory, TimelineKind } from './gql/graphql';

export const TIMELINE_KINDS: { kind: TimelineKind; label: string }[] = [
  { kind: 'ENCOUNTER', label: 'Encounters' },
  { kind: 'DIAGNOSIS', label: 'Diagnoses' },
  { kind: 'REFERRAL', label: 'Referrals' },
  { kind: 'LAB_RESULT', label: 'Lab results' },
  { kind: 'DIAGNOSTIC_REPORT', label: 'Reports' },
  { kind: 'IMAGING_STUDY', label: 'Imaging' },
  { kind: 'IMMUNIZATION', label: 'Immunisations' },
  { kind: 'PROGRAM_ENROLLMENT', label: 'Programmes' },
  { kind: 'FOLLOW_UP_TASK', label: 'Follow-up tasks' },
  { kind: 'HOME_MEASUREMENT', label: 'Home measurements' },
];

export const kindLabel = (kind: TimelineKind) => TIMELINE_KINDS.find((k) => k.kind === kind)?.label ?? kind;

export const CATEGORIES: { category: DataCategory; label: string }[] = [
  { category: 'DEMOGRAPHICS', label: 'Name, birth date, contact' },
  { category: 'IDENTIFIERS', label: 'Record numbers' },
  { category: 'ENCOUNTERS', label: 'Visits' },
  { category: 'DIAGNOSES', label: 'Diagnoses' },
  { category: 'REFERRALS', label: 'Referrals' },
  { category: 'LABS', label: 'Lab results' },
  { category: 'IMAGING', label: 'Imaging' },
  { category: 'IMAGING_REPORTS', label: 'Radiology reports' },
  { category: 'IMMUNIZATIONS', label: 'Vaccinations' },
  { category: 'PROGRAMS', label: 'Programmes' },
  { category: 'FOLLOW_UPS', label: 'Follow-up tasks' },
  { category: 'HOME_MEASUREMENTS', label: 'Home measurements' },
  { category: 'CONSENTS', label: 'Consents' },
];

export const ACTOR_TYPES: { type: ConsentActorType; label: string }[] = [
  { type: 'ORGANIZATION', label: 'An organisation' },
  { type: 'PRACTITIONER', label: 'A practitioner' },
  { type: 'APP', label: 'An app' },
  { type: 'ALLIANCE', label: 'Every organisation of the alliance' },
];

export const formatDateTime = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }) + ' UTC' : '—';
export const formatDate = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleDateString('en-GB', { dateStyle: 'medium', timeZone: 'UTC' }) : '—');
