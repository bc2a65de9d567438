/** The encounters subgraph's kinds of timeline entries (see lib/timeline.ts). */
import type { TimelineSource } from '../../../lib/timeline.js';
import { CONDITION, ENCOUNTER, REFERRAL } from './access.js';

export const timeline: TimelineSource[] = [
  { kind: 'ENCOUNTER', typename: 'Encounter', ...ENCOUNTER, table: 'encounter', timeColumn: 'period_start' },
  { kind: 'DIAGNOSIS', typename: 'Condition', ...CONDITION, table: 'condition', timeColumn: 'recorded_date' },
  { kind: 'REFERRAL', typename: 'Referral', ...REFERRAL, table: 'referral', timeColumn: 'authored_on' },
];
