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
  A01: 'admit', A04: 'register', A08: 'update patient information', A40: 'merge patient identifiers',
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
