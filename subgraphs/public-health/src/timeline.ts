/** The public-health subgraph's kinds of timeline entries (see lib/timeline.ts). */
import type { TimelineSource } from '../../../lib/timeline.js';
import { ENROLLMENT, FOLLOW_UP_TASK, HOME_MEASUREMENT, IMMUNIZATION } from './access.js';

export const timeline: TimelineSource[] = [
  { kind: 'IMMUNIZATION', ...IMMUNIZATION, table: 'immunization', timeColumn: 'occurrence' },
  { kind: 'PROGRAM_ENROLLMENT', ...ENROLLMENT, table: 'program_enrollment', timeColumn: 'period_start' },
  { kind: 'FOLLOW_UP_TASK', ...FOLLOW_UP_TASK, table: 'follow_up_task', timeColumn: 'authored_on' },
  { kind: 'HOME_MEASUREMENT', ...HOME_MEASUREMENT, table: 'home_measurement', timeColumn: 'effective' },
];
