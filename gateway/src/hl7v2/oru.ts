/**
 * ORU^R01 → the FHIR resources the FHIR write path takes (see
 * ../fhir/ingest/hl7v2.ts for the route, and docs/hl7v2.md):
 *
 * - PID → Patient: PID-3 identifiers (CX.5 type HC: the regional health card;
 *   MR: the laboratory organisation's own medical record number), PID-5 name,
 *   PID-7 birth date (a time after the date is dropped), PID-8 sex. Only
 *   PID-3 is required.
 * - each OBR → a DiagnosticReport: OBR-4 code, OBR-7 time, OBR-22 issued,
 *   OBR-24 diagnostic service section (EC: ECG; SP, PAT: pathology; else
 *   laboratory), OBR-25 status; NTE after an OBR → the report's conclusion.
 * - each OBX → an Observation: OBX-3 code (LOINC, with or without `LN`; a
 *   local code kept with its system, beside the LOINC code of OBX-3.4-6 when
 *   there is one), OBX-5 by OBX-2 value type (NM, SN with its comparator,
 *   ST/TX/FT text of any length, CE/CWE, ED as a reference: type, size and
 *   digest, never the bytes), OBX-6 units, OBX-7 range (`4.3-6.2`, `<5`,
 *   `>1` parsed; anything else kept as text), OBX-8 flag, OBX-11 status,
 *   OBX-14 time (default OBR-7); NTE after an OBX → its note.
 *
 * Every record carries a business identifier from the message control id
 * (replays create nothing); results also carry one from the order (OBR-3 or
 * OBR-2), OBX-3 and OBX-4, so a result sent again for the same order — a
 * correction (OBX-11 C), a final after a preliminary — updates the earlier
 * one (the labs subgraph keeps its previous versions) instead of standing
 * beside it.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Hl7Message } from '@medplum/core';
import type { Actor } from '../../../lib/trust/actor.js';
import { SYSTEM, isLoincCode, looksLikeLoinc } from '../../../lib/records/terminology.js';
import { SYSTEMS } from '../fhir/terminology.js';
import { Hl7Confidentiality } from '../fhir/ingest/hl7v2-confidentiality.js';
import type { Issue } from '../fhir/ingest/map.js';
import { Fields } from './message.js';

type Json = Record<string, any>;

/** The identifier system of records published from one organisation's HL7 v2 messages. */
export const hl7v2IdentifierSystem = (organizationId: string) => `https://fhir.alliance.example.org/sid/hl7v2/${organizationId}`;
/** The identifier system of one organisation's results by order, test and sub-id (what a correction names). */
export const hl7v2ResultSystem = (organizationId: string) => `https://fhir.alliance.example.org/sid/hl7v2-result/${organizationId}`;
/** A laboratory's local code system (OBX-3.3 / OBR-4.3 other than LN). */
export const localCodeSystem = (organizationId: string, system: string) => `https://fhir.alliance.example.org/CodeSystem/hl7v2/${organizationId}/${encodeURIComponent(system || 'local')}`;

/** Where in the message each Bundle entry came from (segment, set id), and which HL7 field each FHIR element is. */
export interface Origin {
  segment: string;
  sequence: number;
  fields: Record<string, number>;
}

const PID_FIELDS = { identifier: 3, name: 5, birthDate: 7, gender: 8 };
const OBR_FIELDS = { code: 4, effectiveDateTime: 7, issued: 22, status: 25, conclusion: 0 };
const OBX_FIELDS = { code: 3, valueQuantity: 5, valueString: 5, referenceRange: 7, interpretation: 8, status: 11, effectiveDateTime: 14, identifier: 3 };

/** HL7 v2 TS (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) → a FHIR dateTime; undefined when absent; null when unreadable. */
export function hl7Time(value: string): string | null | undefined {
  if (!value) return undefined;
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?$/.exec(value.trim());
  if (!match) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = match;
  if (!h) return `${y}-${mo}-${d}`;
  const tz = zone ? `${zone.slice(0, 3)}:${zone.slice(3)}` : 'Z';
  return `${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ? `.${frac}` : ''}${tz}`;
}

/** A birth date: PID-7 may carry a time after the date (`197103041230`); the date is what is kept. */
export function hl7Date(value: string): string | null | undefined {
  const time = hl7Time(value);
  return time ? time.slice(0, 10) : time;
}

const STATUS: Record<string, string> = { F: 'final', C: 'corrected', P: 'preliminary', R: 'preliminary', S: 'preliminary', I: 'registered', O: 'registered', X: 'cancelled', W: 'entered-in-error', D: 'entered-in-error', A: 'amended', U: 'final' };
const REPORT_STATUS: Record<string, string> = { F: 'final', C: 'corrected', P: 'preliminary', R: 'preliminary', S: 'partial', I: 'registered', O: 'registered', X: 'cancelled', A: 'amended', Y: 'unknown', Z: 'unknown' };
const SEX: Record<string, string> = { M: 'male', F: 'female', O: 'other', U: 'unknown', A: 'other', N: 'unknown' };
const COMPARATORS = new Set(['<', '<=', '>=', '>']);
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const UCUM = 'http://unitsofmeasure.org';

/** OBX-7 as sent: `12.0-17.5`, `<5.2`, `>1.0` are parsed; any other text (`4.3 to 6.2`, `negative`) is kept as text. */
export function referenceRange(text: string, unit: string | undefined): Json | undefined {
  const value = text.trim();
  if (!value) return undefined;
  const quantity = (n: string) => ({ value: Number(n), ...(unit ? { unit } : {}) });
  const range = /^(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)$/.exec(value);
  if (range) return { low: quantity(range[1]!), high: quantity(range[2]!), text: value };
  const upper = /^<=?\s*(-?\d+(?:\.\d+)?)$/.exec(value);
  if (upper) return { high: quantity(upper[1]!), text: value };
  const lower = /^>=?\s*(-?\d+(?:\.\d+)?)$/.exec(value);
  if (lower) return { low: quantity(lower[1]!), text: value };
  return { text: value };
}

/**
 * A CE/CWE code (OBX-3, OBR-4) → a CodeableConcept: the LOINC coding (from
 * the identifier or the alternate identifier; `LN` or no system with a
 * valid LOINC code) and the local coding as sent, with its system. Null when
 * there is no code at all.
 */
export function codeOf(f: Fields, field: number, organizationId: string): Json | null {
  const triples = [[f.component(field, 1), f.component(field, 2), f.component(field, 3)], [f.component(field, 4), f.component(field, 5), f.component(field, 6)]]
    .map(([code, display, system]) => ({ code: code!.trim(), display: display!.trim(), system: system!.trim().toUpperCase() }))
    .filter((t) => t.code);
  if (!triples.length) return null;
  const isLoinc = (t: { code: string; system: string }) => t.system === 'LN' || t.system === 'LOINC' || (!t.system && isLoincCode(t.code));
  const loinc = triples.find(isLoinc);
  const local = triples.find((t) => t !== loinc);
  const coding = [
    ...(loinc ? [{ system: SYSTEM.loinc, code: loinc.code, ...(loinc.display ? { display: loinc.display } : {}) }] : []),
    // A code in no system that looks like LOINC but fails its check digit is kept as the laboratory's own.
    ...(local ? [{ system: localCodeSystem(organizationId, local.system || (looksLikeLoinc(local.code) ? 'unchecked' : 'local')), code: local.code, ...(local.display ? { display: local.display } : {}) }] : []),
  ];
  const text = loinc?.display || local?.display;
  return { coding, ...(text ? { text } : {}) };
}

/** The `value` HL7 v2 sends in OBX-5 by value type, as FHIR value[x] (and issues when it cannot be read). */
function valueOf(obx: Fields, type: string, unit: string | undefined, issue: (message: string, element: string) => void): Json {
  const quantity = (value: string, comparator?: string) => ({
    value: Number(value), ...(comparator ? { comparator } : {}), ...(unit ? { unit, system: UCUM, code: unit } : {}),
  });
  const raw = obx.component(5).trim();
  switch (type) {
    case 'NM': {
      // A comparator before the number (`<5.0`, `>= 200`) is kept, never dropped.
      const match = /^(<=|>=|<|>)?\s*(\S+)$/.exec(raw);
      if (!match || !NUMBER.test(match[2]!)) {
        issue(`OBX-5 "${raw.slice(0, 50)}" is not a number (value type NM)`, 'valueQuantity');
        return {};
      }
      return { valueQuantity: quantity(match[2]!, match[1]) };
    }
    case 'SN': {
      // SN: comparator ^ number ^ separator/suffix ^ number (`<^5.0`, `^1^:^128` a ratio, `^10^-^20` a range).
      const [comparator = '', first = '', separator = '', second = ''] = obx.components(5).map((c) => c.trim());
      if (!first || !NUMBER.test(first) || (comparator && !COMPARATORS.has(comparator) && comparator !== '=' && comparator !== '<>')) {
        issue(`OBX-5 "${obx.text(5).slice(0, 50)}" is not a structured numeric (value type SN)`, 'valueQuantity');
        return {};
      }
      if (separator || second) return { valueString: `${comparator}${first}${separator}${second}` };
      return { valueQuantity: quantity(first, COMPARATORS.has(comparator) ? comparator : undefined) };
    }
    case 'CE': case 'CWE': case 'CNE': case 'CF': {
      const [code = '', display = '', system = ''] = obx.components(5);
      const text = display || code;
      return text ? { valueString: text, ...(system ? { _valueCode: { code, system } } : {}) } : {};
    }
    case 'ED': {
      // Encapsulated data: the document stays with the sender; the record keeps what it is, its size and its digest.
      const [, typeOf = '', subtype = '', encoding = '', data = ''] = obx.components(5);
      const bytes = encoding.toUpperCase() === 'BASE64' ? Buffer.from(data, 'base64') : Buffer.from(data, 'utf8');
      const digest = createHash('sha256').update(bytes).digest('hex');
      return { valueString: `Encapsulated document ${[typeOf, subtype].filter(Boolean).join('/') || 'of unknown type'}, ${bytes.length} bytes, sha256 ${digest} (kept by the sender)` };
    }
    case 'RP': return raw ? { valueString: `Reference: ${obx.components(5).filter(Boolean).join(' ')}` } : {};
    case 'TS': case 'DT': case 'TM': case 'ST': case 'TX': case 'FT': case 'ID': case 'IS': case '':
    default: {
      const text = obx.text(5);
      return text.trim() ? { valueString: text } : {};
    }
  }
}

/** The labs' earlier results by their order identifier (value → record id), and the message control id. */
export interface OruContext {
  actor: Actor;
  controlId: string;
  /** Results already stored for their order identifier (corrections, finals after preliminaries update them). */
  existingResults: Map<string, string>;
}

export interface MappedResource {
  fullUrl: string;
  resource: Json;
  request: { method: 'POST' | 'PUT'; id?: string; ifNoneExist?: string };
}

/**
 * The order identifier of each OBX of a message, in order (null without an
 * order number or a code): order (OBR-3, else OBR-2) / OBX-3 / OBX-4; a
 * second OBX with the same key in one message (text lines without sub-ids)
 * adds its set id.
 */
export function resultKeys(message: Hl7Message): (string | null)[] {
  const keys: (string | null)[] = [];
  const used = new Set<string>();
  let order = '';
  for (const segment of message.segments) {
    const f = new Fields(segment);
    if (f.name === 'OBR') order = f.component(3).trim() || f.component(2).trim();
    if (f.name !== 'OBX') continue;
    const code = (f.component(3, 1) || f.component(3, 4)).trim();
    if (!order || !code) {
      keys.push(null);
      continue;
    }
    let key = `${order}/${code}/${f.value(4)}`;
    if (used.has(key)) key = `${key}#${f.value(1) || keys.length + 1}`;
    used.add(key);
    keys.push(key);
  }
  return keys;
}

/** The identifiers of PID-3 (or MRG-1): the health card (type HC) and the organisation's record numbers (MR, PI, or no type). */
export function identifiersOf(pid: Fields, field: number, organizationId: string): Json[] {
  const identifiers: Json[] = [];
  for (let r = 0; r < pid.repetitions(field); r++) {
    const value = pid.component(field, 1, r).trim();
    const authority = pid.component(field, 4, r).trim();
    const type = pid.component(field, 5, r).trim().toUpperCase();
    if (!value) continue;
    if (type === 'HC' || authority === 'HC') identifiers.push({ system: SYSTEM.healthCard, value, type: { coding: [{ system: SYSTEMS.identifierType, code: 'HC' }] } });
    else if (type === 'MR' || type === 'PI' || type === '') {
      // The sender's own record number; another organisation's is refused by the mapping, as on the FHIR path.
      const assigner = authority || organizationId;
      identifiers.push({ system: SYSTEM.mrnPrefix + assigner, value, type: { coding: [{ system: SYSTEMS.identifierType, code: 'MR' }] }, assigner: { reference: `Organization/${assigner}` } });
    }
  }
  return identifiers;
}

export const PID_ORIGIN: Origin = { segment: 'PID', sequence: 1, fields: PID_FIELDS };

/** PID → the Patient entry (index 0 of the message's resources); only PID-3 is required. */
export function patientResource(pid: Fields, organizationId: string, patientUrl: string, issues: Issue[]): MappedResource {
  const identifiers = identifiersOf(pid, 3, organizationId);
  if (!identifiers.length) {
    issues.push({ index: 0, status: 400, code: 'required', message: 'PID-3 (patient identifier list) needs a health card (HC) or a medical record number (MR)', expression: 'Bundle.entry[0].resource.identifier' });
  }
  const given = [pid.component(5, 2), pid.component(5, 3)].map((g) => g.trim()).filter(Boolean);
  const family = pid.component(5, 1).trim();
  const birthDate = hl7Date(pid.value(7));
  if (birthDate === null) issues.push({ index: 0, status: 400, code: 'value', message: `PID-7 "${pid.value(7).slice(0, 30)}" is not an HL7 date (YYYYMMDD)`, expression: 'Bundle.entry[0].resource.birthDate' });
  return {
    fullUrl: patientUrl, request: { method: 'POST' },
    resource: {
      resourceType: 'Patient', identifier: identifiers,
      ...(family || given.length ? { name: [{ ...(family ? { family } : {}), given }] } : {}),
      ...(birthDate ? { birthDate } : {}),
      gender: SEX[pid.value(8).toUpperCase()] ?? 'unknown',
    },
  };
}

/**
 * The FHIR resources of one ORU^R01 (see the module comment), in Bundle
 * order: the Patient, then each report followed by its results. Problems the
 * FHIR mapping cannot see (a number that is not a number, a missing code) are
 * issues here.
 */
export function oruToResources(message: Hl7Message, context: OruContext, issues: Issue[]): { resources: MappedResource[]; origins: Map<number, Origin> } {
  const organizationId = context.actor.org!;
  const { controlId } = context;
  const identifierSystem = hl7v2IdentifierSystem(organizationId);
  const resources: MappedResource[] = [];
  const origins = new Map<number, Origin>();
  const pidSegment = message.getSegment('PID');
  const patientUrl = `urn:uuid:${randomUUID()}`;
  if (!pidSegment) {
    issues.push({ index: -1, status: 400, code: 'required', message: 'The message has no PID segment', expression: 'PID' });
    return { resources, origins };
  }
  resources.push(patientResource(new Fields(pidSegment), organizationId, patientUrl, issues));
  origins.set(0, { segment: 'PID', sequence: 1, fields: PID_FIELDS });

  const keys = resultKeys(message);
  let report: MappedResource | null = null;
  let reportTime: string | undefined;
  let order = '';
  let obrCount = 0;
  let obxCount = 0;
  let obxTotal = 0;
  let last: Json | null = null;
  // ORC-28 and ARV-3, where the sender fills them: the labels of each order group (hl7v2-confidentiality.ts).
  const confidentiality = new Hl7Confidentiality();
  for (const segment of message.segments) {
    if (confidentiality.segment(segment)) continue;
    const f = new Fields(segment);
    if (f.name === 'NTE') {
      // Notes: of the result before them, or of the report (its conclusion).
      const note = f.text(3).trim();
      if (!note || !last) continue;
      if (last.resourceType === 'Observation') last.note = [{ text: [last.note?.[0]?.text, note].filter(Boolean).join('\n') }];
      else last.conclusion = [last.conclusion, note].filter(Boolean).join('\n');
      continue;
    }
    if (f.name === 'OBR') {
      obrCount++;
      obxCount = 0;
      const setId = f.value(1) || String(obrCount);
      const index = resources.length;
      origins.set(index, { segment: 'OBR', sequence: obrCount, fields: OBR_FIELDS });
      order = f.component(3).trim() || f.component(2).trim();
      const time = hl7Time(f.value(7));
      if (time === null) issues.push({ index, status: 400, code: 'value', message: `OBR-7 "${f.value(7).slice(0, 30)}" is not an HL7 date/time`, expression: `Bundle.entry[${index}].resource.effectiveDateTime` });
      reportTime = time ?? undefined;
      const issued = hl7Time(f.value(22)) ?? undefined;
      const code = codeOf(f, 4, organizationId);
      if (!code) issues.push({ index, status: 400, code: 'required', message: 'OBR-4 (universal service identifier) is required', expression: `Bundle.entry[${index}].resource.code` });
      const section = f.value(24).toUpperCase();
      const identifier = { system: identifierSystem, value: `${controlId}/OBR/${setId}` };
      const byOrder = order ? { system: hl7v2ResultSystem(organizationId), value: `${order}/OBR` } : null;
      report = {
        fullUrl: `urn:uuid:${randomUUID()}`,
        // A report of the same order sent earlier is the same report (its new and corrected results join it).
        request: { method: 'POST', ifNoneExist: [identifier, ...(byOrder ? [byOrder] : [])].map((i) => `identifier=${i.system}|${encodeURIComponent(i.value)}`).join('&').replace(/&identifier=/g, ',') },
        resource: {
          resourceType: 'DiagnosticReport', identifier: [identifier, ...(byOrder ? [byOrder] : [])],
          status: REPORT_STATUS[f.value(25).toUpperCase()] ?? 'final',
          category: [{ coding: [{ system: SYSTEMS.diagnosticServiceSection, code: section === 'EC' ? 'EC' : section === 'SP' || section === 'PAT' ? 'PAT' : 'LAB' }] }],
          code: code ?? { coding: [] }, subject: { reference: patientUrl },
          effectiveDateTime: reportTime, ...(issued ? { issued } : {}), result: [],
        },
      };
      resources.push(report);
      last = report.resource;
      confidentiality.startGroup();
      confidentiality.add(report.resource);
      continue;
    }
    if (f.name !== 'OBX') continue;
    obxCount++;
    obxTotal++;
    const index = resources.length;
    origins.set(index, { segment: 'OBX', sequence: obxCount, fields: OBX_FIELDS });
    const issue = (message: string, element: string, code: Issue['code'] = 'value') => issues.push({ index, status: 400, code, message, expression: `Bundle.entry[${index}].resource${element ? `.${element}` : ''}` });
    if (!report) {
      issues.push({ index: -1, status: 400, code: 'structure', message: `OBX ${obxCount} comes before any OBR`, expression: 'OBX' });
      continue;
    }
    const setId = f.value(1) || String(obxCount);
    const type = f.value(2).toUpperCase();
    const unit = f.component(6, 1).trim() || undefined;
    const code = codeOf(f, 3, organizationId);
    if (!code) issue('OBX-3 (observation identifier) is required', 'code', 'required');
    const effective = hl7Time(f.value(14));
    if (effective === null) issue(`OBX-14 "${f.value(14).slice(0, 30)}" is not an HL7 date/time`, 'effectiveDateTime');
    const status = STATUS[f.value(11).toUpperCase()] ?? 'final';
    const value = valueOf(f, type, unit, (message, element) => issue(message, element));
    delete value._valueCode;
    const key = keys[obxTotal - 1] ?? null;
    const byOrder = key ? { system: hl7v2ResultSystem(organizationId), value: key } : null;
    const observation: Json = {
      resourceType: 'Observation',
      identifier: [{ system: identifierSystem, value: `${controlId}/OBR/${report.resource.identifier[0].value.split('/').pop()}/OBX/${setId}` }, ...(byOrder ? [byOrder] : [])],
      status,
      category: [{ coding: [{ system: SYSTEMS.observationCategory, code: 'laboratory' }] }],
      code: code ?? { coding: [] }, subject: { reference: patientUrl },
      effectiveDateTime: effective ?? reportTime,
      ...(report.resource.issued ? { issued: report.resource.issued } : {}),
      ...value,
    };
    const range = referenceRange(f.text(7), unit);
    if (range) observation.referenceRange = [range];
    const flag = f.value(8).toUpperCase();
    if (flag) observation.interpretation = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: flag === '<' ? 'LU' : flag === '>' ? 'HU' : flag }] }];
    const fullUrl = `urn:uuid:${randomUUID()}`;
    // A result of the same order, test and sub-id stored before (a correction, a final after a preliminary): an update.
    const earlier = key ? context.existingResults.get(key) : undefined;
    resources.push(earlier
      ? { fullUrl, request: { method: 'PUT', id: earlier }, resource: { ...observation, id: earlier, identifier: undefined } }
      : { fullUrl, request: { method: 'POST', ifNoneExist: `identifier=${observation.identifier[0].system}|${encodeURIComponent(observation.identifier[0].value)}` }, resource: observation });
    confidentiality.add(observation);
    report.resource.result.push({ reference: fullUrl });
    last = observation;
  }
  if (!obrCount) issues.push({ index: -1, status: 400, code: 'required', message: 'The message has no OBR segment', expression: 'OBR' });
  // Times a sender left out: a report without OBR-7 takes its first result's time; whatever still has none, the message's (MSH-7).
  const messageTime = hl7Time(new Fields(message.getSegment('MSH')!).value(7)) ?? undefined;
  const byUrl = new Map(resources.map((r) => [r.fullUrl, r.resource]));
  for (const { resource } of resources) {
    if (resource.resourceType !== 'DiagnosticReport' || resource.effectiveDateTime) continue;
    const first = resource.result.map((ref: Json) => byUrl.get(ref.reference)?.effectiveDateTime).find(Boolean);
    resource.effectiveDateTime = first ?? messageTime;
    for (const ref of resource.result) {
      const result = byUrl.get(ref.reference);
      if (result && !result.effectiveDateTime) result.effectiveDateTime = resource.effectiveDateTime;
    }
  }
  confidentiality.apply();
  return { resources, origins };
}
