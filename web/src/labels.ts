/**
 * Display labels of API enums. The timeline kinds and the consent categories
 * come from the product's catalogue (lib/records/record-types.ts, lib/consent/categories.ts:
 * Node-free modules the client bundles), so a record type added there shows
 * here; the generated API types check that every kind is one the API has.
 */
import { CATEGORIES as CATEGORY_NAMES, CATEGORY_LABELS, categoryToEnum } from '../../lib/consent/categories.js';
import { RECORD_TYPES } from '../../lib/records/record-types.js';
import type { ConsentActorType, DataCategory, TimelineKind } from './gql/graphql';

export const TIMELINE_KINDS: { kind: TimelineKind; label: string }[] = RECORD_TYPES.map((row) => ({ kind: row.kind, label: row.label }));

export const kindLabel = (kind: TimelineKind) => TIMELINE_KINDS.find((k) => k.kind === kind)?.label ?? kind;

export const CATEGORIES: { category: DataCategory; label: string }[] = CATEGORY_NAMES.map((category) => ({ category: categoryToEnum(category) as DataCategory, label: CATEGORY_LABELS[category] }));

export const ACTOR_TYPES: { type: ConsentActorType; label: string }[] = [
  { type: 'ORGANIZATION', label: 'An organisation' },
  { type: 'PRACTITIONER', label: 'A practitioner' },
  { type: 'APP', label: 'An app' },
  { type: 'ALLIANCE', label: 'Every organisation of the alliance' },
];

export const formatDateTime = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }) + ' UTC' : '—';
export const formatDate = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleDateString('en-GB', { dateStyle: 'medium', timeZone: 'UTC' }) : '—');
