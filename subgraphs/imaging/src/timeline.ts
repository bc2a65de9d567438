/** The imaging subgraph's kind of timeline entries (see lib/timeline.ts). */
import type { TimelineSource } from '../../../lib/timeline.js';
import { IMAGING_STUDY } from './access.js';

export const timeline: TimelineSource[] = [
  { kind: 'IMAGING_STUDY', ...IMAGING_STUDY, table: 'imaging_study', timeColumn: 'started' },
];
