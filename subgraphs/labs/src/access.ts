/** How the consent policy sees the labs subgraph's records. */
import type { RecordAccess } from '../../../lib/connection.js';
import type { ConsentRules } from '../../../lib/consent/shield.js';

export const OBSERVATION: RecordAccess = { category: 'labs' };
export const DIAGNOSTIC_REPORT: RecordAccess = { category: 'labs' };

export const consentRules: ConsentRules = {
  records: { Observation: OBSERVATION, DiagnosticReport: DIAGNOSTIC_REPORT },
  open: ['Query', 'Patient', 'Organization', 'Practitioner', 'Coding', 'Period', 'PageInfo', 'Quantity', 'ReferenceRange',
    'ObservationConnection', 'ObservationEdge', 'DiagnosticReportConnection', 'DiagnosticReportEdge', '_Service'],
};
