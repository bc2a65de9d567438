/** The labs subgraph's kinds of timeline entries (see lib/timeline.ts). */
import type { TimelineSource } from '../../../lib/timeline.js';
import { DIAGNOSTIC_REPORT, OBSERVATION } from './access.js';

export const timeline: TimelineSource[] = [
  { kind: 'LAB_RESULT', ...OBSERVATION, table: 'observation', timeColumn: 'effective' },
  { kind: 'DIAGNOSTIC_REPORT', ...DIAGNOSTIC_REPORT, table: 'diagnostic_report', timeColumn: 'effective' },
];
