/** Labs resolvers: Observation (LOINC) and DiagnosticReport, and their lists on Patient. */
import type { GraphQLResolverMap } from '@apollo/subgraph';
import { loadById, loadReference, loadChildren, loadPatientPage, type PageArgs, patientList } from '../../../lib/records/connection.js';
import { coding, entityRef, recordFields, type Row } from '../../../lib/records/records.js';
import { SYSTEM } from '../../../lib/records/terminology.js';
import { ErrorCode, productError } from '../../../lib/runtime/errors.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { granularReadCodes } from '../../../lib/trust/scopes.js';
import { CLINICAL_OBSERVATION, DIAGNOSTIC_REPORT, OBSERVATION } from './access.js';
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
    clinicalObservation: async (_: unknown, { id }: { id: string }, context: SubgraphContext) => withinGranular(context, await loadById<Row>(context, 'clinical_observation', id, CLINICAL_OBSERVATION)),
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
    clinicalObservations: (patient: { id: string }, args: PageArgs & { code?: string | null; category?: string | null }, context: SubgraphContext) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (args.code) where.push(`$${7 + params.push(args.code) - 1} = ANY(r.codes)`);
      if (args.category) where.push(`$${7 + params.push(args.category) - 1} = ANY(r.category_codes)`);
      // A granular scope (Observation.rs?category=vital-signs) reaches only its codes, not the rest of the category.
      const granular = granularReadCodes(context.actor.scope ?? '', 'Observation');
      if (granular) where.push(`r.category_codes && $${7 + params.push(granular) - 1}::text[]`);
      return loadPatientPage(context, 'clinicalObservations', { ...patientList('ClinicalObservation'), ...(where.length ? { where: where.join(' AND '), params } : {}) }, patient.id, args);
    },
  },
  Observation: {
    // Identity's timeline refers to a result with its patient (the key `id patientId`): read from that patient's partition.
    __resolveReference: (reference: { id: string; patientId?: string | null }, context: SubgraphContext) =>
      loadReference(context, 'observation', reference.id, OBSERVATION, reference.patientId ?? undefined),
    patientId: (row: Row) => row.patient_id,
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
    // The encounter is the encounters subgraph's record: an entity reference its own consent rule resolves.
    encounter: (row: Row) => entityRef(row.encounter_id),
    performers: (row: Row) => row.performers ?? null,
    categories: (row: Row) => row.categories ?? null,
    recognizedAllianceWide: (row: Row, _: unknown, context: SubgraphContext) => recognized(context, LAB_RECOGNITION, row.organization_id, row.code, row.effective),
  },
  // Kept as sent: the jsonb columns are in the shape of the schema's CodeableConcept, ObservationValue and ObservationComponent.
  ClinicalObservation: {
    __resolveReference: async (reference: { id: string }, context: SubgraphContext) => {
      const row = await loadReference<Row>(context, 'clinical_observation', reference.id, CLINICAL_OBSERVATION);
      if (row && !withinGranular(context, row)) throw productError(ErrorCode.forbidden, 'Your token does not reach this record', { category: 'observations' });
      return row;
    },
    ...recordFields,
    status: (row: Row) => row.status,
    categories: (row: Row) => row.categories,
    code: (row: Row) => row.code,
    value: (row: Row) => row.value ?? null,
    dataAbsentReason: (row: Row) => row.data_absent_reason ?? null,
    interpretation: (row: Row) => row.interpretation ?? null,
    bodySite: (row: Row) => row.body_site ?? null,
    method: (row: Row) => row.method ?? null,
    components: (row: Row) => row.components ?? null,
    hasMember: (row: Row, _: unknown, context: SubgraphContext) => linkedObservations(context, row.has_member),
    derivedFrom: (row: Row, _: unknown, context: SubgraphContext) => linkedObservations(context, row.derived_from),
    notes: (row: Row) => row.notes ?? null,
    effectiveDateTime: (row: Row) => row.effective,
    effectivePeriod: (row: Row) => (row.effective_source?.period ? { start: row.effective_source.period.start ?? null, end: row.effective_source.period.end ?? null } : null),
    issued: (row: Row) => row.issued,
    performers: (row: Row) => row.performers ?? null,
    referenceRanges: (row: Row) => row.reference_ranges ?? null,
    specimen: (row: Row) => row.specimen ?? null,
    encounter: (row: Row) => entityRef(row.encounter_id),
  },
  ObservationReferenceRange: { fhirJson: (range: object) => JSON.stringify(range) },
  DiagnosticReport: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'diagnostic_report', reference.id, DIAGNOSTIC_REPORT),
    ...recordFields,
    code: (row: Row) => coding(row.code_system ?? SYSTEM.loinc, row.code, row.display),
    effectiveDateTime: (row: Row) => row.effective,
    // A report's results are its patient's: named, so only that patient's partition of observation is read.
    results: (row: Row, _: unknown, context: SubgraphContext) => loadChildren(context, 'observation', 'report_id', row.id, 'code, id', OBSERVATION, row.patient_id),
    performer: (row: Row) => entityRef(row.performer_id),
    encounter: (row: Row) => entityRef(row.encounter_id),
  },
};

/** The linked clinical observations the caller may see (others are left out, not named). */
async function linkedObservations(context: SubgraphContext, ids: string[] | null): Promise<Row[]> {
  const rows = await Promise.all((ids ?? []).map(async (id) => withinGranular(context, await loadById<Row>(context, 'clinical_observation', id, CLINICAL_OBSERVATION))));
  return rows.filter((row): row is Row => row !== null);
}

/** A clinical observation within the token's granular Observation scopes (its category codes), else null. */
function withinGranular(context: SubgraphContext, row: Row | null): Row | null {
  const granular = granularReadCodes(context.actor.scope ?? '', 'Observation');
  return !row || !granular || (row.category_codes as string[]).some((code) => granular.includes(code)) ? row : null;
}
