/**
 * ADT (admission, discharge, transfer) messages from a hospital's system →
 * the FHIR resources of the write path, or a request to the master patient
 * index (docs/hl7v2.md):
 *
 * - A01 (admit) and A04 (register an outpatient): the patient (PID) is
 *   matched or registered through the master patient index, exactly as a
 *   published Patient, and the visit (PV1) is recorded as an Encounter:
 *   PV1-2 patient class (I inpatient, E emergency, O/R/P… outpatient),
 *   PV1-19 visit number (its business identifier: the same visit sent again
 *   is the same encounter), PV1-44 admit time (else EVN-2, else MSH-7).
 * - A08 (update patient information): the organisation's registration of
 *   the patient takes the demographics sent (the index keeps what each
 *   organisation sent).
 * - A03 (discharge): the inpatient stay the organisation published under
 *   PV1-19, of the patient of PID-3, is discharged exactly as the GraphQL
 *   `recordDischarge` does (the same follow-up plan for primary care): PV1-45
 *   discharge time (else EVN-2, else MSH-7), PV1-36 disposition (HL7 table
 *   0112), PD1-3 the primary-care organisation (else the patient's programme's).
 * - A40 (merge patient identifiers): never a silent merge. The two patients
 *   (PID-3 the survivor, MRG-1 the identifier merged away) become a match
 *   candidate for administrators to confirm (LINK) or refuse (DISTINCT).
 */
import { randomUUID } from 'node:crypto';
import type { Hl7Message } from '@medplum/core';
import type { Issue } from '../fhir/ingest/map.js';
import { Fields } from './message.js';
import { hl7Time, identifiersOf, patientResource, PID_ORIGIN, type MappedResource, type Origin } from './oru.js';

type Json = Record<string, any>;

/** The ADT events the product takes, and what each does (the AR for any other names these). */
export const ADT_EVENTS: Record<string, string> = {
  A01: 'admit', A03: 'discharge', A04: 'register', A08: 'update patient information', A40: 'merge patient identifiers',
};

/** The identifier system of one organisation's visits (PV1-19). */
export const hl7v2VisitSystem = (organizationId: string) => `https://fhir.alliance.example.org/sid/hl7v2-visit/${organizationId}`;

/** HL7 table 0004 (patient class) → HL7 v3 ActCode encounter class. */
const PATIENT_CLASS: Record<string, string> = { I: 'IMP', B: 'IMP', E: 'EMER', O: 'AMB', R: 'AMB', P: 'AMB', C: 'AMB', N: 'AMB', U: 'AMB' };

const PV1_FIELDS = { class: 2, identifier: 19, period: 44, status: 0 };

/** The resources of an A01, A04 or A08: the patient, and for A01/A04 the visit. */
export function adtToResources(message: Hl7Message, event: string, organizationId: string, controlId: string, issues: Issue[]): { resources: MappedResource[]; origins: Map<number, Origin> } {
  const resources: MappedResource[] = [];
  const origins = new Map<number, Origin>();
  const pidSegment = message.getSegment('PID');
  if (!pidSegment) {
    issues.push({ index: -1, status: 400, code: 'required', message: 'The message has no PID segment', expression: 'PID' });
    return { resources, origins };
  }
  const patientUrl = `urn:uuid:${randomUUID()}`;
  resources.push(patientResource(new Fields(pidSegment), organizationId, patientUrl, issues));
  origins.set(0, PID_ORIGIN);
  if (event === 'A08') return { resources, origins };

  const pv1Segment = message.getSegment('PV1');
  if (!pv1Segment) {
    issues.push({ index: -1, status: 400, code: 'required', message: `ADT^${event} needs a PV1 segment (the visit)`, expression: 'PV1' });
    return { resources, origins };
  }
  const pv1 = new Fields(pv1Segment);
  const index = resources.length;
  origins.set(index, { segment: 'PV1', sequence: 1, fields: PV1_FIELDS });
  const patientClass = pv1.value(2).toUpperCase();
  const klass = PATIENT_CLASS[patientClass];
  if (!klass) issues.push({ index, status: 400, code: patientClass ? 'code-invalid' : 'required', message: `PV1-2 (patient class) must be an HL7 table 0004 code such as I, O or E${patientClass ? `, not ${patientClass.slice(0, 10)}` : ''}`, expression: `Bundle.entry[${index}].resource.class` });
  const evn = message.getSegment('EVN');
  const start = hl7Time(pv1.value(44)) ?? (evn ? hl7Time(new Fields(evn).value(2)) : undefined) ?? hl7Time(new Fields(message.getSegment('MSH')!).value(7));
  if (!start) issues.push({ index, status: 400, code: 'required', message: 'The admit time (PV1-44, else EVN-2, else MSH-7) is required', expression: `Bundle.entry[${index}].resource.period` });
  const visit = pv1.component(19).trim();
  const identifier = { system: hl7v2VisitSystem(organizationId), value: visit || `${controlId}/PV1` };
  const encounter: Json = {
    resourceType: 'Encounter', identifier: [identifier],
    status: event === 'A04' && klass !== 'IMP' ? 'arrived' : 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: klass ?? 'AMB' },
    subject: { reference: patientUrl }, period: { start },
  };
  // The same visit sent again (a resend, an A04 then an A01) is the same encounter.
  resources.push({ fullUrl: `urn:uuid:${randomUUID()}`, request: { method: 'POST', ifNoneExist: `identifier=${identifier.system}|${encodeURIComponent(identifier.value)}` }, resource: encounter });
  return { resources, origins };
}

/** An A40's two patients, by the identifiers the organisation registered them with: PID-3 survives, MRG-1 is merged away. */
export function mergeOf(message: Hl7Message, organizationId: string): { survivor: Json[]; prior: Json[]; problem?: { location: string; text: string } } {
  const pid = message.getSegment('PID');
  const mrg = message.getSegment('MRG');
  const survivor = pid ? identifiersOf(new Fields(pid), 3, organizationId) : [];
  const prior = mrg ? identifiersOf(new Fields(mrg), 1, organizationId) : [];
  if (!survivor.length) return { survivor, prior, problem: { location: pid ? 'PID^1^3' : 'PID^1', text: 'PID-3 (the surviving patient\'s identifier) is required' } };
  if (!prior.length) return { survivor, prior, problem: { location: mrg ? 'MRG^1^1' : 'MRG^1', text: 'MRG-1 (the identifier merged away) is required' } };
  return { survivor, prior };
}

/**
 * HL7 table 0112 (discharge disposition, the codes US and Chinese ADT systems
 * send) → FHIR discharge-disposition. A FHIR code sent as is is taken; any
 * other value is `oth` (Other), never a refusal.
 */
const DISPOSITION: Record<string, string> = {
  '01': 'home', '02': 'other-hcf', '03': 'snf', '04': 'long', '05': 'other-hcf', '06': 'home', '07': 'aadvice',
  '20': 'exp', '40': 'exp', '41': 'exp', '42': 'exp', '43': 'other-hcf', '50': 'hosp', '51': 'hosp', '61': 'snf', '62': 'rehab', '63': 'long', '64': 'snf', '65': 'psy', '66': 'other-hcf',
};
const FHIR_DISPOSITIONS = new Set(['home', 'alt-home', 'other-hcf', 'hosp', 'long', 'aadvice', 'exp', 'psy', 'rehab', 'snf', 'oth']);

export interface DischargeRequest {
  patient: Json[];
  visit: { system: string; value: string };
  dischargedAt: string;
  disposition: string | null;
  primaryCareOrganizationId: string | null;
}

/** An A03's discharge: the patient (PID-3), the visit (PV1-19), when (PV1-45), where to (PV1-36), who follows up (PD1-3); or the ERR of what is missing. */
export function dischargeOf(message: Hl7Message, organizationId: string): { request?: DischargeRequest; problem?: { location: string; code: [string, string]; text: string } } {
  const required: [string, string] = ['101', 'Required field missing'];
  const pid = message.getSegment('PID');
  const patient = pid ? identifiersOf(new Fields(pid), 3, organizationId) : [];
  if (!patient.length) return { problem: { location: pid ? 'PID^1^3' : 'PID^1', code: required, text: 'PID-3 (the patient\'s identifier) is required' } };
  const pv1Segment = message.getSegment('PV1');
  if (!pv1Segment) return { problem: { location: 'PV1^1', code: required, text: 'ADT^A03 needs a PV1 segment (the visit discharged)' } };
  const pv1 = new Fields(pv1Segment);
  const visit = pv1.component(19).trim();
  if (!visit) return { problem: { location: 'PV1^1^19', code: required, text: 'PV1-19 (the visit number the admission was sent with) is required' } };
  const evn = message.getSegment('EVN');
  const sent = pv1.value(45).trim();
  const at = hl7Time(sent);
  if (sent && !at) return { problem: { location: 'PV1^1^45', code: ['102', 'Data type error'], text: `PV1-45 "${sent.slice(0, 30)}" is not an HL7 time (YYYYMMDDHHMM[SS])` } };
  const dischargedAt = at ?? (evn ? hl7Time(new Fields(evn).value(2)) : undefined) ?? hl7Time(new Fields(message.getSegment('MSH')!).value(7));
  if (!dischargedAt) return { problem: { location: 'PV1^1^45', code: required, text: 'The discharge time (PV1-45, else EVN-2, else MSH-7) is required' } };
  const code = pv1.component(36).trim();
  const disposition = !code ? null : FHIR_DISPOSITIONS.has(code.toLowerCase()) ? code.toLowerCase() : DISPOSITION[code.padStart(2, '0')] ?? 'oth';
  const pd1 = message.getSegment('PD1');
  // PD1-3 (XON): the organisation identifier (component 10), else its name component as the registry id.
  const primaryCare = pd1 ? (new Fields(pd1).component(3, 10).trim() || new Fields(pd1).component(3, 1).trim()) : '';
  return {
    request: {
      patient: patient.map((i) => ({ system: i.system, value: i.value })),
      visit: { system: hl7v2VisitSystem(organizationId), value: visit },
      dischargedAt: new Date(dischargedAt).toISOString(), disposition, primaryCareOrganizationId: primaryCare || null,
    },
  };
}
