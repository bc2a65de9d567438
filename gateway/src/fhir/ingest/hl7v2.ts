/**
 * POST /hl7v2 — laboratories that speak HL7 v2: ORU^R01 result messages (ER7
 * text, `x-application/hl7-v2+er7` or `text/plain`) from a laboratory's system
 * client, answered with an ACK (MSA-1 AA, AE or AR, with ERR segments) as ER7.
 *
 * Parsing uses @medplum/core's Hl7Message (a maintained, typed, dependency-free
 * library: the HL7 v2 support of the Medplum FHIR platform). Each message
 * becomes the FHIR resources the FHIR path takes, and goes through the same
 * validation, provenance rules, scopes, master patient index and all-or-
 * nothing transaction (coordinator.ts):
 *
 * - PID → Patient: PID-3 identifiers (CX.5 type HC: the regional health card;
 *   MR: the laboratory organisation's own medical record number, CX.4 empty or
 *   the organisation's id), PID-5 name, PID-7 birth date, PID-8 sex. The
 *   patient is found, or registered, exactly as a published Patient is.
 * - each OBR → a DiagnosticReport (OBR-4 LOINC panel, OBR-7 time, OBR-22
 *   issued, OBR-25 status) grouping the OBX that follow it;
 * - ORC-28 and ARV-3 confidentiality codes → meta.security labels of the
 *   results they cover (hl7v2-confidentiality.ts);
 * - each OBX → an Observation: OBX-3 LOINC code (check digit verified), OBX-5
 *   value by OBX-2 type (NM → valueQuantity with OBX-6 units, ST/TX/FT →
 *   valueString, CE/CWE → its text), OBX-7 reference range (`low-high`,
 *   `<high`, `>low`), OBX-8 abnormal flags → interpretation, OBX-11 status,
 *   OBX-14 time (default OBR-7).
 *
 * Idempotency: every record carries a business identifier derived from the
 * message control id (MSH-10), with ifNoneExist, and the ACK given is stored
 * with the results (labs' `hl7v2_message`): a replayed message creates
 * nothing and gets the very same ACK back.
 *
 * AA: accepted and stored. AE: understood, but its content was refused (a bad
 * code or value, a patient that cannot be matched): ERR names the segment,
 * field and the FHIRPath of the issue; nothing stored. AR: rejected as a whole
 * (not an ORU^R01, unreadable, unauthorised, a service unavailable: resend
 * later). The HTTP status says the same (200, 4xx, 401/403/503).
 */
import { randomUUID } from 'node:crypto';
import { Hl7Message, Hl7Segment } from '@medplum/core';
import type { Actor } from '../../../../lib/trust/actor.js';
import type { HttpRequestInfo, Route } from '../../../../lib/runtime/http.js';
import { INTERNAL_APIS, internalCaller } from '../../../../lib/runtime/internal-api.js';
import { SYSTEM } from '../../../../lib/records/terminology.js';
import type { TokenVerifier } from '../../auth.js';
import { SYSTEMS } from '../terminology.js';
import { statusOf, TransactionFailed, type Coordinator, type CoordinatorOptions } from './coordinator.js';
import { Hl7Confidentiality } from './hl7v2-confidentiality.js';
import { mapEntries, type BundleContext, type Issue, type MappedEntry } from './map.js';
import { publisher } from './route.js';

export const HL7V2_CONTENT_TYPES = ['x-application/hl7-v2+er7', 'application/hl7-v2', 'text/plain'];
const ER7 = 'x-application/hl7-v2+er7; charset=utf-8';

/** The identifier system of records published from one organisation's HL7 v2 messages. */
export const hl7v2IdentifierSystem = (organizationId: string) => `https://fhir.alliance.example.org/sid/hl7v2/${organizationId}`;

type Json = Record<string, any>;

/** HL7 table 0357 (message error condition codes) for an issue. */
function errorCode(issue: Issue): [string, string] {
  if (issue.code === 'required') return ['101', 'Required field missing'];
  if (issue.code === 'value' || issue.code === 'structure') return ['102', 'Data type error'];
  if (issue.code === 'code-invalid') return ['103', 'Table value not found'];
  if (issue.code === 'not-found') return ['204', 'Unknown key identifier'];
  if (issue.code === 'duplicate' || issue.code === 'multiple-matches') return ['205', 'Duplicate key identifier'];
  if (issue.code === 'conflict') return ['206', 'Application record locked'];
  return ['207', 'Application internal error'];
}

const escape = (text: string) => text.replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/&/g, '\\T\\').replace(/~/g, '\\R\\').replace(/[\r\n]+/g, ' ');

/** Where in the message each Bundle entry came from (segment, set id), and which HL7 field each FHIR element is. */
interface Origin {
  segment: string;
  sequence: number;
  fields: Record<string, number>;
}

const PID_FIELDS = { identifier: 3, name: 5, birthDate: 7, gender: 8 };
const OBR_FIELDS = { code: 4, effectiveDateTime: 7, issued: 22, status: 25 };
const OBX_FIELDS = { code: 3, valueQuantity: 5, valueString: 5, referenceRange: 7, interpretation: 8, status: 11, effectiveDateTime: 14 };

function errSegment(issue: Issue, origins: Map<number, Origin>): Hl7Segment {
  const origin = origins.get(issue.index);
  const element = issue.expression.replace(/^Bundle\.entry\[\d+\]\.resource\.?/, '').split(/[.[]/)[0] ?? '';
  const location = origin ? `${origin.segment}^${origin.sequence}${origin.fields[element] ? `^${origin.fields[element]}` : ''}` : '';
  const [code, text] = errorCode(issue);
  return Hl7Segment.parse(`ERR||${location}|${code}^${text}^HL70357|E||||${escape(`${issue.message}${issue.expression ? ` (${issue.expression})` : ''}`)}`);
}

function ack(message: Hl7Message | null, code: 'AA' | 'AE' | 'AR', errors: Hl7Segment[] = []): string {
  const base = message ?? Hl7Message.parse('MSH|^~\\&|||||||ORU^R01|||P|2.5.1');
  const reply = base.buildAck({ ackCode: code });
  for (const segment of errors) reply.setSegment(reply.segments.length, segment);
  return reply.toString();
}

/** HL7 v2 TS (YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ]) → a FHIR dateTime; undefined when absent; null when unreadable. */
export function hl7Time(value: string): string | null | undefined {
  if (!value) return undefined;
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?$/.exec(value);
  if (!match) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = match;
  if (!h) return `${y}-${mo}-${d}`;
  const tz = zone ? `${zone.slice(0, 3)}:${zone.slice(3)}` : 'Z';
  return `${y}-${mo}-${d}T${h}:${mi}:${s ?? '00'}${frac ? `.${frac}` : ''}${tz}`;
}

const STATUS: Record<string, string> = { F: 'final', C: 'corrected', P: 'preliminary', R: 'preliminary', I: 'registered', X: 'cancelled', W: 'entered-in-error', D: 'entered-in-error', A: 'amended' };
const SEX: Record<string, string> = { M: 'male', F: 'female', O: 'other', U: 'unknown', A: 'other', N: 'unknown' };

/** Parses OBX-7 (`12.0-17.5`, `<5.2`, `>1.0`). */
function referenceRange(text: string, unit: string | undefined): Json | undefined {
  const range = /^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text);
  const quantity = (value: string) => ({ value: Number(value), ...(unit ? { unit } : {}) });
  if (range) return { low: quantity(range[1]!), high: quantity(range[2]!) };
  const upper = /^\s*<=?\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (upper) return { high: quantity(upper[1]!) };
  const lower = /^\s*>=?\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (lower) return { low: quantity(lower[1]!) };
  return text ? { text } : undefined;
}

const loincConcept = (segment: Hl7Segment, field: number) => {
  const system = segment.getComponent(field, 3);
  return {
    coding: [{ system: system === 'LN' || system === 'LOINC' ? SYSTEM.loinc : system || 'urn:hl7v2:coding-system:none', code: segment.getComponent(field, 1), ...(segment.getComponent(field, 2) ? { display: segment.getComponent(field, 2) } : {}) }],
    ...(segment.getComponent(field, 2) ? { text: segment.getComponent(field, 2) } : {}),
  };
};

/**
 * The FHIR resources of one ORU^R01 (see the module comment), in Bundle
 * order: the Patient, then each report followed by its results. Problems the
 * FHIR mapping cannot see (a number that is not a number) are issues here.
 */
export function oruToResources(message: Hl7Message, actor: Actor, controlId: string, issues: Issue[]): { resources: Json[]; origins: Map<number, Origin> } {
  const organizationId = actor.org!;
  const identifierSystem = hl7v2IdentifierSystem(organizationId);
  const resources: Json[] = [];
  const origins = new Map<number, Origin>();
  const pid = message.getSegment('PID');
  const patientUrl = `urn:uuid:${randomUUID()}`;
  if (!pid) {
    issues.push({ index: -1, status: 400, code: 'required', message: 'The message has no PID segment', expression: '' });
    return { resources, origins };
  }
  const identifiers: Json[] = [];
  const repetitions = pid.getField(3).components.length;
  for (let r = 0; r < repetitions; r++) {
    const value = pid.getComponent(3, 1, undefined, r);
    const authority = pid.getComponent(3, 4, undefined, r);
    const type = pid.getComponent(3, 5, undefined, r);
    if (!value) continue;
    if (type === 'HC' || authority === 'HC') identifiers.push({ system: SYSTEM.healthCard, value, type: { coding: [{ system: SYSTEMS.identifierType, code: 'HC' }] } });
    else if (type === 'MR') {
      // The laboratory's own medical record number; another organisation's is refused by the mapping, as on the FHIR path.
      const assigner = authority || organizationId;
      identifiers.push({ system: SYSTEM.mrnPrefix + assigner, value, type: { coding: [{ system: SYSTEMS.identifierType, code: 'MR' }] }, assigner: { reference: `Organization/${assigner}` } });
    }
  }
  const given = [pid.getComponent(5, 2), pid.getComponent(5, 3)].filter(Boolean);
  resources.push({
    fullUrl: patientUrl,
    resource: {
      resourceType: 'Patient', identifier: identifiers,
      name: [{ family: pid.getComponent(5, 1) || undefined, given }],
      birthDate: hl7Time(pid.getField(7).toString()) ?? undefined,
      gender: SEX[pid.getField(8).toString()] ?? 'unknown',
    },
  });
  origins.set(0, { segment: 'PID', sequence: 1, fields: PID_FIELDS });

  let report: Json | null = null;
  let reportTime: string | undefined;
  let obrCount = 0;
  let obxCount = 0;
  // ORC-28 and ARV-3, where the sender fills them: the labels of each order group (hl7v2-confidentiality.ts).
  const confidentiality = new Hl7Confidentiality();
  for (const segment of message.segments) {
    if (confidentiality.segment(segment)) continue;
    if (segment.name === 'OBR') {
      obrCount++;
      obxCount = 0;
      const setId = segment.getField(1).toString() || String(obrCount);
      reportTime = hl7Time(segment.getField(7).toString()) ?? undefined;
      const identifier = { system: identifierSystem, value: `${controlId}/OBR/${setId}` };
      report = {
        fullUrl: `urn:uuid:${randomUUID()}`,
        request: { method: 'POST', url: 'DiagnosticReport', ifNoneExist: `identifier=${identifier.system}|${identifier.value}` },
        resource: {
          resourceType: 'DiagnosticReport', identifier: [identifier],
          status: STATUS[segment.getField(25).toString()] ?? 'final',
          category: [{ coding: [{ system: SYSTEMS.diagnosticServiceSection, code: ['EC', 'PAT'].includes(segment.getField(24).toString()) ? segment.getField(24).toString() : 'LAB' }] }],
          code: loincConcept(segment, 4), subject: { reference: patientUrl },
          effectiveDateTime: reportTime, issued: hl7Time(segment.getField(22).toString()) ?? undefined, result: [],
        },
      };
      origins.set(resources.length, { segment: 'OBR', sequence: obrCount, fields: OBR_FIELDS });
      resources.push(report);
      confidentiality.startGroup();
      confidentiality.add(report.resource);
      continue;
    }
    if (segment.name !== 'OBX') continue;
    obxCount++;
    const index = resources.length;
    origins.set(index, { segment: 'OBX', sequence: obxCount, fields: OBX_FIELDS });
    if (!report) {
      issues.push({ index, status: 400, code: 'structure', message: 'OBX before any OBR', expression: '' });
      continue;
    }
    const setId = segment.getField(1).toString() || String(obxCount);
    const type = segment.getField(2).toString();
    const raw = segment.getField(5).toString();
    const unit = segment.getComponent(6, 1) || undefined;
    const observation: Json = {
      resourceType: 'Observation',
      identifier: [{ system: identifierSystem, value: `${controlId}/OBR/${report.resource.identifier[0].value.split('/').pop()}/OBX/${setId}` }],
      status: STATUS[segment.getField(11).toString()] ?? 'final',
      category: [{ coding: [{ system: SYSTEMS.observationCategory, code: 'laboratory' }] }],
      code: loincConcept(segment, 3), subject: { reference: patientUrl },
      effectiveDateTime: hl7Time(segment.getField(14).toString()) ?? reportTime,
      issued: report.resource.issued,
    };
    if (type === 'NM' || type === 'SN') {
      const value = type === 'SN' ? segment.getComponent(5, 2) : raw;
      if (!/^-?\d+(\.\d+)?$/.test(value.trim())) issues.push({ index, status: 400, code: 'value', message: `OBX-5 "${raw}" is not a number (value type ${type})`, expression: `Bundle.entry[${index}].resource.valueQuantity` });
      else observation.valueQuantity = { value: Number(value), ...(unit ? { unit, system: 'http://unitsofmeasure.org', code: unit } : {}) };
    } else if (type === 'CE' || type === 'CWE') {
      observation.valueString = segment.getComponent(5, 2) || segment.getComponent(5, 1);
    } else if (raw) {
      observation.valueString = raw;
    }
    const range = referenceRange(segment.getField(7).toString(), unit);
    if (range) observation.referenceRange = [range];
    const flag = segment.getField(8).toString();
    if (flag) observation.interpretation = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: flag }] }];
    const fullUrl = `urn:uuid:${randomUUID()}`;
    resources.push({ fullUrl, request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${observation.identifier[0].system}|${observation.identifier[0].value}` }, resource: observation });
    confidentiality.add(observation);
    report.resource.result.push({ reference: fullUrl });
  }
  if (!obrCount) issues.push({ index: -1, status: 400, code: 'required', message: 'The message has no OBR segment', expression: '' });
  confidentiality.apply();
  return { resources, origins };
}

export interface Hl7v2RouteOptions extends CoordinatorOptions {
  verifyToken: TokenVerifier;
  coordinator: Coordinator;
}

export function hl7v2Route(options: Hl7v2RouteOptions): Route {
  return async (request: HttpRequestInfo) => {
    if (request.url.pathname !== '/hl7v2') return undefined;
    const answer = (status: number, text: string) => ({ status, body: text, contentType: ER7 });
    let message: Hl7Message | null = null;
    try {
      const text = request.body.replace(/\r\n|\n/g, '\r').replace(/\r+$/, '');
      if (text.startsWith('MSH')) message = Hl7Message.parse(text);
    } catch {
      message = null;
    }
    const reject = (status: number, issue: Omit<Issue, 'index' | 'expression' | 'status'>, segment = 'MSH^1') => {
      const [code, text] = errorCode({ ...issue, index: -1, status, expression: '' });
      return answer(status, ack(message, 'AR', [Hl7Segment.parse(`ERR||${segment}|${code}^${text}^HL70357|E||||${escape(issue.message)}`)]));
    };
    if (request.method !== 'POST') return reject(405, { code: 'not-supported', message: 'POST ORU^R01 messages' });
    const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!HL7V2_CONTENT_TYPES.includes(type)) return reject(415, { code: 'not-supported', message: `Send ER7 text (Content-Type: ${HL7V2_CONTENT_TYPES.join(' or ')})` });
    if (!message || !message.getSegment('MSH')) return reject(400, { code: 'structure', message: 'Not an HL7 v2 message (ER7 starting with MSH)' });
    const caller = await publisher(options.verifyToken, request);
    if (!('sub' in caller)) return reject(caller.status, { code: caller.code === 'login' ? 'security' : 'forbidden', message: caller.message });
    const msh = message.getSegment('MSH')!;
    if (msh.getComponent(9, 1) !== 'ORU' || msh.getComponent(9, 2) !== 'R01') {
      return answer(400, ack(message, 'AR', [Hl7Segment.parse(`ERR||MSH^1^9|200^Unsupported message type^HL70357|E||||${escape('Only ORU^R01 result messages are accepted')}`)]));
    }
    const controlId = msh.getField(10).toString();
    if (!controlId || controlId.length > 100) return answer(400, ack(message, 'AR', [Hl7Segment.parse('ERR||MSH^1^10|101^Required field missing^HL70357|E||||The message control id (MSH-10) is required')]));
    // The request id of the response (x-request-id) is the requestId of the write's audit events.
    const requestId = request.requestId;
    request.log.operation = 'HL7v2 ORU^R01';
    request.log.actor = { role: caller.role, org: caller.org, clientId: caller.clientId };
    const internal = internalCaller({ ...options, requestId, actor: caller });

    // A replay: the same answer as the first time, nothing created.
    try {
      const stored = await internal.call<{ ack: string | null }>(INTERNAL_APIS.hl7v2Ack, { controlId }, 'labs');
      if (stored.ack) return answer(200, stored.ack);
    } catch {
      return reject(503, { code: 'transient', message: 'The laboratory results service is unavailable; resend later' });
    }

    const issues: Issue[] = [];
    const { resources, origins } = oruToResources(message, caller, controlId, issues);
    const context: BundleContext = { actor: caller, organizationId: caller.org!, fullUrls: new Map(), independent: false };
    resources.forEach((entry, index) => context.fullUrls.set(entry.fullUrl, { index, resourceType: entry.resource.resourceType }));
    const mapped = issues.length ? [] : mapEntries(resources.map((entry, index) => ({
      index, base: `Bundle.entry[${index}].resource`, resource: entry.resource,
      request: { method: 'POST' as const, ifNoneExist: entry.request?.ifNoneExist ?? null, expression: `Bundle.entry[${index}].request.url` },
    })), context, issues);
    const errors = (list: Issue[]) => list.map((i) => errSegment(i, origins));
    if (issues.length) return answer(statusOf(issues), ack(message, 'AE', errors(issues)));

    // The ACK is stored with the results, so a replay gets exactly this text.
    const accepted = ack(message, 'AA');
    const log: MappedEntry = {
      index: resources.length, path: 'MessageHeader', resourceType: 'MessageHeader', kind: 'hl7v2-message', owner: 'labs', op: 'create', id: randomUUID(),
      category: 'labs', ifNoneExist: null, identifiers: [], record: { control_id: controlId, ack: accepted }, refs: {},
      patient: { entry: 0 }, patientExpression: 'PID',
    };
    try {
      await options.coordinator.run(caller, requestId, [...mapped, log]);
      return answer(200, accepted);
    } catch (error) {
      if (!(error instanceof TransactionFailed)) throw error;
      const code = error.status === 503 ? 'AR' : 'AE';
      return answer(error.status, ack(message, code, errors(error.issues)));
    }
  };
}
