/**
 * What the observability and failure tests follow through the services: the
 * generated patients, a chart patient, its clinician's organisation, the
 * query, and a caller's traceparent.
 */
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../../lib/synthetic/generator.js';

export const PATIENTS = 30;
export const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
/** A patient of a county hospital with encounters, results and imaging studies there. */
export const chartPatient = bundles.find((b) => {
  const county = b.patient.identifiers.find((i) => i.assignerOrganizationId?.startsWith('org-county-'))?.assignerOrganizationId;
  return county && b.imagingStudies.some((s) => s.organizationId === county && !s.sensitivityLabels.length)
    && b.observations.some((o) => o.organizationId === county) && b.encounters.some((e) => e.organizationId === county);
}) as PatientBundle;
export const COUNTY = chartPatient.patient.identifiers.find((i) => i.assignerOrganizationId?.startsWith('org-county-'))!.assignerOrganizationId!;

/** The README's chart, plus the timeline (identity asks every owner for its entries: internal calls). */
export const CHART_WITH_TIMELINE = `query ChartWithTimeline($id: ID!) { patient(id: $id) {
  name { text } birthDate
  encounters(first: 5) { edges { node { class period { start } } } }
  observations(first: 5) { edges { node { code { code } valueQuantity { value unit } } } }
  imagingStudies(first: 5) { edges { node { modality { code } } } }
  immunizations(first: 5) { edges { node { vaccineCode { code } } } }
  timeline(first: 10) { edges { kind node { __typename } } }
} }`;

/** A W3C traceparent as a calling system would send it. */
export function clientTraceparent(): { traceparent: string; traceId: string; spanId: string } {
  const hex = (bytes: number) => Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join('');
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}
