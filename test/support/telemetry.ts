/**
 * What the observability tests read: each service's log lines (a pino logger
 * writing into memory), and the chart patient and query they follow through
 * the services.
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../lib/logger.js';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../../lib/synthetic/generator.js';

export interface LogLine {
  level: string;
  service: string;
  msg: string;
  rid?: string;
  trace?: string;
  op?: string;
  role?: string;
  org?: string;
  status?: number;
  [key: string]: unknown;
}

/** Loggers for a stack (StackOptions.loggers) whose JSON lines land in `lines`. */
export function capturingLoggers(): { loggers: (service: string) => Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim()) lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  return { lines, loggers: (service) => createLogger(service, { destination, level: 'info', production: true }) };
}

export const PATIENTS = 30;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
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
