/** The encounters subgraph's kinds of timeline entries (see lib/timeline.ts). */
import type { TimelineSource } from '../../../lib/timeline.js';
import { CONDITION, ENCOUNTER, REFERRAL } from './access.js';

export const timeline: TimelineSource[] = [
  { kind: 'ENCOUNTER', ...ENCOUNTER, table: 'encounter', timeColumn: 'period_start' },
  { kind: 'DIAGNOSIS', ...CONDITION, table: 'condition', timeColumn: 'recorded_date' },
  { kind: 'REFERRAL', ...REFERRAL, table: 'referral', timeColumn: 'authored_on' },
];
