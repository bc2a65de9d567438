/** Labs resolvers: Observation (LOINC) and DiagnosticReport, and their lists on Patient. */
import type { GraphQLResolverMap } from '@apollo/subgraph';
import { loadById, loadReference, loadChildren, loadPatientPage, type PageArgs, patientList } from '../../../lib/records/connection.js';
import { coding, entityRef, recordFields, type Row } from '../../../lib/records/records.js';
import { SYSTEM } from '../../../lib/records/terminology.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { DIAGNOSTIC_REPORT, OBSERVATION } from './access.js';
import {
  addRecognitionEntry, endRecognitionEntry, listRecognitionEntries, recognitionEntryFields, recognized, windowStart, type RecognitionFilter,
} from '../../../lib/records/recognition.js';
import { DEFAULT_WITHIN_DAYS, LAB_RECOGNITION, loincCode, RELEASED_STATUSES } from './recognition.js';

const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const INTERPRETATION_DISPLAY: Record<string, string> = { N: 'Normal', H: 'High', L: 'Low', POS: 'Positive', NEG: 'Negative', A: 'Abnormal' };

export const resolvers: GraphQLResolverMap<SubgraphContext> = {
  Query: {
    observation: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'observation', id, OBSERVATION),
    diagnosticReport: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'diagnostic_report', id, DIAGNOSTIC_REPORT),
    labResultRecognitions: (_: unknown, args: RecognitionFilter, context: SubgraphContext) => listRecognitionEntries(context, LAB_RECOGNITION, args),
  },
  Mutation: {
    addLabResultRecognition: (_: unknown, { input }: { input: { organizationId: string; code?: string | null; periodStart?: Date | null; periodEnd?: Date | null; basis: string } }, context: SubgraphContext) =>
      addRecognitionEntry(context, LAB_RECOGNITION, { ...input, code: input.code ?? null }),
    endLabResultRecognition: (_: unknown, { id, end }: { id: string; end?: Date | null }, context: SubgraphContext) => endRecognitionEntry(context, LAB_RECOGNITION, id, end),
  },
  LabResultRecognition: { ...recognitionEntryFields, code: (row: Row) => row.code },
  Patient: {
    observations: (patient: { id: string }, args: PageArgs & { code?: string }, context: SubgraphContext) =>
      loadPatientPage(context, 'observations', {
        ...patientList('Observation'),
        ...(args.code ? { where: 'r.code = $7', params: [args.code] } : {}),
      }, patient.id, args),
    // Result recognition: released results of one LOINC code within the window, from every organisation the actor may see.
    equivalentLabResults: (patient: { id: string }, args: { code: string; withinDays?: number | null; first?: number | null; after?: string | null }, context: SubgraphContext) => {
      const code = loincCode(args.code);
      const from = windowStart(context.consent.now, args.withinDays, DEFAULT_WITHIN_DAYS);
      return loadPatientPage(context, 'equivalentLabResults', {
        ...patientList('Observation'),
        where: 'r.code = $7 AND r.status = ANY($8::text[])', params: [code, RELEASED_STATUSES],
      }, patient.id, { first: args.first, after: args.after, from });
    },
    diagnosticReports: (patient: { id: string }, args: PageArgs & { category?: string }, context: SubgraphContext) =>
      loadPatientPage(context, 'diagnosticReports', {
        ...patientList('DiagnosticReport'),
        ...(args.category ? { where: 'r.category = $7', params: [args.category] } : {}),
      }, patient.id, args),
  },
  Observation: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'observation', reference.id, OBSERVATION),
    ...recordFields,
    code: (row: Row) => coding(row.code_system ?? SYSTEM.loinc, row.code, row.display),
    localCode: (row: Row) => (row.local_code ? coding(row.local_system, row.local_code, row.local_display) : null),
    valueQuantity: (row: Row) => (row.value_quantity === null ? null : { value: row.value_quantity, unit: row.unit }),
    valueComparator: (row: Row) => (row.value_quantity === null ? null : row.value_comparator ?? null),
    valueString: (row: Row) => row.value_string,
    valueCodeableConcept: (row: Row) => (row.value_concept ? { coding: row.value_concept.coding ?? [], text: row.value_concept.text ?? null } : null),
    note: (row: Row) => row.note ?? null,
    // The range as the laboratory sent it when it did (`4.3 to 6.2`), else written from its limits.
    referenceRange: (row: Row) =>
      row.reference_low === null && row.reference_high === null && !row.reference_text
        ? null
        : {
            low: row.reference_low, high: row.reference_high, unit: row.unit,
            text: row.reference_text ?? (row.reference_low !== null && row.reference_high !== null ? `${row.reference_low}-${row.reference_high} ${row.unit}`
              : row.reference_high !== null ? `<${row.reference_high} ${row.unit}` : `>${row.reference_low} ${row.unit}`),
          },
    interpretation: (row: Row) => coding(INTERPRETATION_SYSTEM, row.interpretation, INTERPRETATION_DISPLAY[row.interpretation]),
    effectiveDateTime: (row: Row) => row.effective,
    report: (row: Row, _: unknown, context: SubgraphContext) => (row.report_id ? loadReference(context, 'diagnostic_report', row.report_id, DIAGNOSTIC_REPORT) : null),
    recognizedAllianceWide: (row: Row, _: unknown, context: SubgraphContext) => recognized(context, LAB_RECOGNITION, row.organization_id, row.code, row.effective),
  },
  DiagnosticReport: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'diagnostic_report', reference.id, DIAGNOSTIC_REPORT),
    ...recordFields,
    code: (row: Row) => coding(row.code_system ?? SYSTEM.loinc, row.code, row.display),
    effectiveDateTime: (row: Row) => row.effective,
    results: (row: Row, _: unknown, context: SubgraphContext) => loadChildren(context, 'observation', 'report_id', row.id, 'code, id', OBSERVATION),
    performer: (row: Row) => entityRef(row.performer_id),
  },
};
