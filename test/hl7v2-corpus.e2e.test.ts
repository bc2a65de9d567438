/**
 * HL7 v2 as laboratories send it: a corpus of messages written for this test
 * (no third-party samples), each POSTed to /hl7v2 through the gateway over
 * HTTP, on every backend. Every message gets an ACK with the expected code
 * (AA, AE, AR) or a 4xx, never a 5xx; every accepted result is read back
 * through GraphQL and FHIR `$everything` with its values intact
 * (comparators, ranges as sent, units, local codes, notes, decoded escape
 * sequences, names in each character set); a reused control id with new
 * content is never acknowledged without being stored; a correction updates
 * the earlier result and keeps its history.
 *
 * The corpus covers: trailing fields omitted (short OBR, OBX without OBX-14,
 * PID with fewer than 8 fields), PID-7 with a time, BOM, LF and CRLF endings,
 * LOINC with and without LN, local codes, every OBX value type (NM, SN, ST,
 * TX, FT, CE, CWE, ED), every escape sequence, NTE notes, several OBR groups,
 * ECG and pathology reports, each character set (UTF-8, GB 18030, GBK,
 * 8859/1), batches, and hostile messages (truncated, binary, 1 MB OBX,
 * unknown segments, another organisation's MRN, missing required values,
 * unknown message types).
 */
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

type Json = Record<string, any>;
const ORG = 'org-county-north';
const OTHER_ORG = 'org-county-south';
const LOINC = 'http://loinc.org';
const HC = SYSTEM.healthCard;

let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${++sequence}`.toUpperCase();

interface MessageParts {
  control?: string;
  type?: string;
  charset?: string;
  pid?: string;
  body?: string[];
}

/** One ORU^R01 (or another type), segments joined by CR unless the case says otherwise. */
function oru(hc: string, parts: MessageParts = {}): { text: string; control: string } {
  const control = parts.control ?? unique('C');
  const msh = `MSH|^~\\&|LIS|NORTH-LAB|FPR|ALLIANCE|20260301083000||${parts.type ?? 'ORU^R01^ORU_R01'}|${control}|P|2.5.1${parts.charset ? `||||||${parts.charset}` : ''}`;
  const pid = parts.pid ?? `PID|1||${hc}^^^^HC~MR${hc}^^^${ORG}^MR||Zhang^San||19650412|M`;
  const body = parts.body ?? [obr(), 'OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|12.0-17.5|N|||F|||20260301080000'];
  return { text: [msh, pid, ...body].join('\r'), control };
}

/** An OBR with the order number, the code, the time and (optionally) the section and status, trailing fields left out. */
function obr(options: { set?: number; order?: string; code?: string; section?: string; status?: string } = {}): string {
  const fields = ['OBR', String(options.set ?? 1), '', options.order ?? unique('F'), options.code ?? '58410-2^CBC panel^LN', '', '', '20260301080000'];
  if (options.section || options.status) {
    while (fields.length < 24) fields.push('');
    fields[24] = options.section ?? '';
    if (options.status) fields[25] = options.status;
  }
  return fields.join('|');
}

/** A PV1: patient class, visit number (PV1-19), admit time (PV1-44); trailing fields left out. */
function pv1(patientClass: string, visit: string, admitted = '20260301070000'): string {
  const fields = ['PV1', '1', patientClass, 'WARD^101^1', ...Array<string>(15).fill(''), visit];
  while (fields.length < 44) fields.push('');
  fields[44] = admitted;
  return fields.join('|');
}

/** An ADT message of one event: EVN, PID, then the given segments (PV1, MRG). */
function adt(hc: string, event: string, ...segments: (string | null | undefined)[]): { text: string; control: string } {
  const control = unique('A');
  return {
    control,
    text: [`MSH|^~\\&|HIS|NORTH|FPR|ALLIANCE|20260301083000||ADT^${event}^ADT_A01|${control}|P|2.5.1`, `EVN|${event}|20260301075000`,
      `PID|1||${hc}^^^^HC~MR${hc}^^^${ORG}^MR||Zhang^San||19650412|M`, ...segments.filter((x): x is string => Boolean(x))].join('\r'),
  };
}

/** What a case's accepted result must read back as (GraphQL node, and the FHIR Observation). */
interface ResultCheck {
  graphql?: (nodes: Json[], reports: Json[]) => void;
  fhir?: (observations: Json[], reports: Json[]) => void;
}

interface Case {
  name: string;
  hc: string;
  body: string | Buffer;
  contentType?: string;
  /** The expected MSA-1 per message (a batch: several), or an HTTP status for a refusal before any ACK. */
  ack: ('AA' | 'AE' | 'AR')[] | number;
  /** ERR-2 of the first ERR (AE/AR). */
  err?: RegExp;
  check?: ResultCheck;
  patientName?: string;
}

const only = (nodes: Json[]) => {
  expect(nodes).toHaveLength(1);
  return nodes[0]!;
};

function corpus(): Case[] {
  const cases: Case[] = [];
  const add = (name: string, build: (hc: string) => Omit<Case, 'name' | 'hc'>) => {
    const hc = unique('HC');
    cases.push({ name, hc, ...build(hc) });
  };
  const accepted = (name: string, body: string[], check?: ResultCheck, parts: MessageParts = {}) =>
    add(name, (hc) => ({ body: oru(hc, { ...parts, body }).text, ack: ['AA'], check }));
  const value = (expected: Json, fhir?: Json) => ({
    graphql: (nodes: Json[]) => expect(only(nodes)).toMatchObject(expected),
    ...(fhir ? { fhir: (observations: Json[]) => expect(only(observations)).toMatchObject(fhir) } : {}),
  });

  // Trailing fields omitted, and the patient segment as short as it gets.
  accepted('a complete ORU^R01', [obr(), 'OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|12.0-17.5|N|||F|||20260301080000'],
    value({ code: { system: LOINC, code: '718-7' }, valueQuantity: { value: 13.2, unit: 'g/dL' }, referenceRange: { low: 12, high: 17.5 }, interpretation: { code: 'N' } },
      { valueQuantity: { value: 13.2, unit: 'g/dL' }, referenceRange: [{ low: { value: 12 }, high: { value: 17.5 } }] }));
  accepted('an OBR that stops after field 7', ['OBR|1||F7|58410-2^CBC panel^LN|||20260301080000', 'OBX|1|NM|718-7^Hemoglobin^LN||13.3|g/dL|||||F'],
    value({ valueQuantity: { value: 13.3 }, effectiveDateTime: '2026-03-01T08:00:00.000Z' }));
  accepted('an OBR that stops after field 4 (the report takes its results\' time)', ['OBR|1||F4|58410-2^CBC panel^LN', 'OBX|1|NM|718-7^Hemoglobin^LN||13.4|g/dL|||||F|||20260301080000'],
    value({ valueQuantity: { value: 13.4 } }));
  accepted('an OBX without field 14', [obr(), 'OBX|1|NM|718-7^Hemoglobin^LN||13.5|g/dL|12-17.5|N|||F'], value({ valueQuantity: { value: 13.5 } }));
  accepted('an OBX that stops at its value', [obr(), 'OBX|1|ST|56888-1^HIV 1+2 Ab^LN||Negative'], value({ valueString: 'Negative', status: 'final' }));
  add('a PID with fewer than 8 fields', (hc) => ({ body: oru(hc, { pid: `PID|1||${hc}^^^^HC~MR${hc}^^^^MR||Lin^Tao` }).text, ack: ['AA'], check: value({ valueQuantity: { value: 13.2 } }) }));
  add('a PID-7 birth date with a time', (hc) => ({ body: oru(hc, { pid: `PID|1||${hc}^^^^HC~MR${hc}^^^^MR||Lin^Tao||197103041230|F` }).text, ack: ['AA'], check: value({ valueQuantity: { value: 13.2 } }) }));
  add('a PID with the laboratory\'s own MRN beside the card', (hc) => ({ body: oru(hc, { pid: `PID|1||${hc}^^^^HC~${unique('MR')}^^^${ORG}^MR||Lin^Tao||19710304|F` }).text, ack: ['AA'] }));

  // Transport forms: BOM, line endings.
  add('a byte-order mark before MSH', (hc) => ({ body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(oru(hc).text, 'utf8')]), ack: ['AA'], check: value({ valueQuantity: { value: 13.2 } }) }));
  add('LF segment endings', (hc) => ({ body: oru(hc).text.replace(/\r/g, '\n'), ack: ['AA'], check: value({ valueQuantity: { value: 13.2 } }) }));
  add('CRLF segment endings', (hc) => ({ body: oru(hc).text.replace(/\r/g, '\r\n'), ack: ['AA'], check: value({ valueQuantity: { value: 13.2 } }) }));
  add('trailing blank lines', (hc) => ({ body: `${oru(hc).text}\r\n\r\n\n`, ack: ['AA'] }));

  // Codes.
  accepted('LOINC without a coding system', [obr(), 'OBX|1|NM|718-7^Hemoglobin^||14.1|g/dL|||||F'], value({ code: { system: LOINC, code: '718-7' }, localCode: null, valueQuantity: { value: 14.1 } }));
  accepted('LOINC named LOINC', [obr(), 'OBX|1|NM|718-7^Hemoglobin^LOINC||14.2|g/dL|||||F'], value({ code: { system: LOINC, code: '718-7' } }));
  accepted('a local code only', [obr(), 'OBX|1|NM|GLU^Glucose fasting^99NLAB||5.4|mmol/L|3.9-6.1||||F'],
    value({ code: { system: `https://fhir.alliance.example.org/CodeSystem/hl7v2/${ORG}/99NLAB`, code: 'GLU', display: 'Glucose fasting' }, valueQuantity: { value: 5.4, unit: 'mmol/L' } },
      { code: { coding: [{ system: `https://fhir.alliance.example.org/CodeSystem/hl7v2/${ORG}/99NLAB`, code: 'GLU' }] } }));
  accepted('a local code with its LOINC translation', [obr(), 'OBX|1|NM|GLU^Glucose^L^2345-7^Glucose SerPl-mCnc^LN||99|mg/dL|70-99||||F'],
    value({ code: { system: LOINC, code: '2345-7' }, localCode: { system: `https://fhir.alliance.example.org/CodeSystem/hl7v2/${ORG}/L`, code: 'GLU' } },
      { code: { coding: [{ system: LOINC, code: '2345-7' }, { system: `https://fhir.alliance.example.org/CodeSystem/hl7v2/${ORG}/L`, code: 'GLU' }] } }));
  accepted('one local code in an otherwise LOINC message', [obr(), 'OBX|1|NM|718-7^Hemoglobin^LN||13.9|g/dL|||||F', 'OBX|2|ST|XMORPH^Red cell morphology^99NLAB||Normocytic|||||F'],
    { graphql: (nodes) => expect(nodes.map((n) => n.code.code).sort()).toEqual(['718-7', 'XMORPH']) });
  accepted('a local panel code on the OBR', ['OBR|1||F9|CHEM7^Basic chemistry^99NLAB|||20260301080000', 'OBX|1|NM|2345-7^Glucose^LN||101|mg/dL|||||F'],
    { graphql: (_, reports) => expect(only(reports).code).toMatchObject({ code: 'CHEM7', system: `https://fhir.alliance.example.org/CodeSystem/hl7v2/${ORG}/99NLAB` }) });

  // Values: comparators, ranges, every value type.
  accepted('NM with a comparator', [obr(), 'OBX|1|NM|1988-5^CRP^LN||<5.0|mg/L|<10||||F'],
    value({ valueQuantity: { value: 5, unit: 'mg/L' }, valueComparator: '<', referenceRange: { high: 10, text: '<10' } }, { valueQuantity: { value: 5, comparator: '<' } }));
  accepted('NM with >=', [obr(), 'OBX|1|NM|2345-7^Glucose^LN||>=200|mg/dL|||||F'], value({ valueQuantity: { value: 200 }, valueComparator: '>=' }, { valueQuantity: { comparator: '>=' } }));
  accepted('SN with a comparator', [obr(), 'OBX|1|SN|1988-5^CRP^LN||<^5.0|mg/L|||||F'], value({ valueQuantity: { value: 5 }, valueComparator: '<' }, { valueQuantity: { value: 5, comparator: '<' } }));
  accepted('SN without a comparator', [obr(), 'OBX|1|SN|718-7^Hemoglobin^LN||^7.1|g/dL|||||F'], value({ valueQuantity: { value: 7.1 }, valueComparator: null }));
  accepted('SN as a ratio', [obr(), 'OBX|1|SN|5048-4^ANA titer^LN||^1^:^128||||||F'], value({ valueString: '1:128', valueQuantity: null }));
  accepted('a text reference range', [obr(), 'OBX|1|NM|789-8^RBC^LN||5.1|10*6/uL|4.3 to 6.2||||F'],
    value({ referenceRange: { low: null, high: null, text: '4.3 to 6.2' } }, { referenceRange: [{ text: '4.3 to 6.2' }] }));
  accepted('an upper-limit range', [obr(), 'OBX|1|NM|2093-3^Cholesterol^LN||4.1|mmol/L|<5.2||||F'], value({ referenceRange: { high: 5.2, low: null } }));
  accepted('a lower-limit range', [obr(), 'OBX|1|NM|33914-3^eGFR^LN||95|mL/min|>60||||F'], value({ referenceRange: { low: 60, high: null } }));
  accepted('ST', [obr(), 'OBX|1|ST|5778-6^Color of Urine^LN||Straw yellow|||||F'], value({ valueString: 'Straw yellow' }, { valueString: 'Straw yellow' }));
  const long = 'Moderately differentiated adenocarcinoma. '.repeat(80);
  accepted('TX longer than 2,000 characters', [obr(), `OBX|1|TX|22637-3^Pathology report final diagnosis^LN||${long}|||||F`], value({ valueString: long }, { valueString: long }));
  accepted('FT over several repetitions', [obr(), 'OBX|1|FT|11529-5^Surgical pathology study^LN||Line one~Line two~Line three|||||F'], value({ valueString: 'Line one\nLine two\nLine three' }));
  accepted('CE', [obr(), 'OBX|1|CE|5196-1^HBsAg^LN||NEG^Negative^HL70078|||N|||F'], value({ valueString: 'Negative' }));
  accepted('CWE', [obr(), 'OBX|1|CWE|600-7^Blood culture^LN||3092008^Staphylococcus aureus^SCT|||A|||F'], value({ valueString: 'Staphylococcus aureus', interpretation: { code: 'A' } }));
  accepted('ED as a reference, not the bytes', [obr(), `OBX|1|ED|11502-2^Laboratory report^LN||^application^pdf^Base64^${Buffer.from('%PDF-1.4 report').toString('base64')}|||||F`],
    value({ valueString: expect.stringMatching(/^Encapsulated document application\/pdf, 15 bytes, sha256 [0-9a-f]{64}/) }));

  // Notes and report structure.
  accepted('an NTE after an OBX', [obr(), 'OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL|||||F', 'NTE|1|L|Sample slightly haemolysed', 'NTE|2|L|Repeat advised'],
    value({ note: 'Sample slightly haemolysed\nRepeat advised' }, { note: [{ text: 'Sample slightly haemolysed\nRepeat advised' }] }));
  accepted('an NTE after an OBR', [obr(), 'NTE|1|L|Fasting specimen', 'OBX|1|NM|718-7^Hemoglobin^LN||13.0|g/dL|||||F'],
    { graphql: (_, reports) => expect(only(reports).conclusion).toBe('Fasting specimen') });
  accepted('two OBR groups', [obr({ set: 1 }), 'OBX|1|NM|718-7^Hemoglobin^LN||12.9|g/dL|||||F', obr({ set: 2, code: '24323-8^Comprehensive metabolic panel^LN' }), 'OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|||||F'],
    { graphql: (nodes, reports) => { expect(nodes).toHaveLength(2); expect(reports.map((r) => r.code.code).sort()).toEqual(['24323-8', '58410-2']); } });
  accepted('three OBR groups', [obr({ set: 1 }), 'OBX|1|NM|718-7^Hemoglobin^LN||12.8|g/dL|||||F', obr({ set: 2 }), 'OBX|1|NM|6690-2^WBC^LN||7.2|10*3/uL|||||F', obr({ set: 3 }), 'OBX|1|NM|777-3^Platelets^LN||250|10*3/uL|||||F'],
    { graphql: (nodes, reports) => { expect(nodes).toHaveLength(3); expect(reports).toHaveLength(3); } });
  accepted('an ECG report (section EC)', [obr({ code: '11524-6^EKG study^LN', section: 'EC' }), 'OBX|1|NM|8867-4^Heart rate^LN||72|/min|60-100||||F', 'OBX|2|TX|18844-1^EKG impression^LN||Sinus rhythm, normal ECG|||||F'],
    { graphql: (nodes, reports) => { expect(only(reports).category).toBe('ECG'); expect(nodes).toHaveLength(2); }, fhir: (_, reports) => expect(only(reports).category[0].coding[0].code).toBe('EC') });
  accepted('a pathology report (section SP)', [obr({ code: '11526-1^Pathology study^LN', section: 'SP' }), 'OBX|1|TX|22634-0^Pathology report gross observation^LN||Skin ellipse 2 cm|||||F'],
    { graphql: (_, reports) => expect(only(reports).category).toBe('PATHOLOGY') });
  accepted('a pathology report (PAT) with text lines of one code', [obr({ code: '11526-1^Pathology study^LN', section: 'PAT' }), 'OBX|1|TX|22637-3^Final diagnosis^LN||Basal cell carcinoma,|||||F', 'OBX|2|TX|22637-3^Final diagnosis^LN||margins clear.|||||F'],
    { graphql: (nodes, reports) => { expect(only(reports).category).toBe('PATHOLOGY'); expect(nodes.map((n) => n.valueString).sort()).toEqual(['Basal cell carcinoma,', 'margins clear.']); } });
  accepted('an ORC before its OBR', [`ORC|RE|P1|${unique('F')}`, obr(), 'OBX|1|NM|718-7^Hemoglobin^LN||13.6|g/dL|||||F'], value({ valueQuantity: { value: 13.6 } }));
  accepted('unknown segment types (Z segments, SPM) are passed over', [obr(), 'SPM|1|||BLD^Blood^HL70487', 'OBX|1|NM|718-7^Hemoglobin^LN||13.7|g/dL|||||F', 'ZDS|1|vendor^specific'], value({ valueQuantity: { value: 13.7 } }));
  accepted('a preliminary result', [obr({ status: 'P' }), 'OBX|1|NM|718-7^Hemoglobin^LN||13.8|g/dL|||||P'], value({ status: 'preliminary' }));

  // Escape sequences, each decoded.
  for (const [sequenceName, sent, read] of [['\\F\\', 'A\\F\\B', 'A|B'], ['\\S\\', 'A\\S\\B', 'A^B'], ['\\T\\', 'A\\T\\B', 'A&B'], ['\\R\\', 'A\\R\\B', 'A~B'], ['\\E\\', 'A\\E\\B', 'A\\B'], ['\\X..\\', 'A\\X4F4B\\B', 'AOKB'], ['\\.br\\', 'A\\.br\\B', 'A\nB']] as const) {
    accepted(`the escape sequence ${sequenceName}`, [obr(), `OBX|1|ST|5778-6^Color^LN||${sent}|||||F`], value({ valueString: read }, { valueString: read }));
  }

  // Character sets: the same name in each, read back identical.
  const NAME = { family: '欧阳', given: '兰' };
  for (const [charset, encoding] of [['UNICODE UTF-8', 'utf8'], ['GB 18030-2000', 'gb18030'], ['GBK', 'gbk'], ['', 'utf8']] as const) {
    add(`a Chinese name in ${charset || 'the default (UTF-8)'}`, (hc) => ({
      body: iconv.encode(oru(hc, { charset: charset || undefined, pid: `PID|1||${hc}^^^^HC~MR${hc}^^^^MR||${NAME.family}^${NAME.given}||19800101|F`, body: [obr(), 'OBX|1|ST|5778-6^颜色^LN||淡黄色|||||F'] }).text, encoding),
      contentType: 'x-application/hl7-v2+er7', ack: ['AA'], patientName: `${NAME.family} ${NAME.given}`, check: value({ valueString: '淡黄色' }),
    }));
  }
  add('a Latin-1 name in 8859/1', (hc) => ({
    body: iconv.encode(oru(hc, { charset: '8859/1', pid: `PID|1||${hc}^^^^HC~MR${hc}^^^^MR||Müller^Zoë||19800101|F`, body: [obr(), 'OBX|1|ST|5778-6^Color^LN||Trübe|||||F'] }).text, 'latin1'),
    ack: ['AA'], patientName: 'Müller Zoë', check: value({ valueString: 'Trübe' }),
  }));

  // Batches: each message its own ACK, in order.
  add('a batch of three messages', (hc) => ({
    body: ['FHS|^~\\&|LIS|NORTH-LAB', 'BHS|^~\\&|LIS|NORTH-LAB', oru(hc).text, oru(hc, { body: [obr(), 'OBX|1|NM|6690-2^WBC^LN||7.7|10*3/uL|||||F'] }).text, oru(hc, { body: [obr(), 'OBX|1|NM|777-3^Platelets^LN||240|10*3/uL|||||F'] }).text, 'BTS|3', 'FTS|1'].join('\r'),
    ack: ['AA', 'AA', 'AA'], check: { graphql: (nodes) => expect(nodes.map((n) => n.code.code).sort()).toEqual(['6690-2', '718-7', '777-3']) },
  }));
  add('a batch with one bad message among good ones', (hc) => ({
    body: ['BHS|^~\\&|LIS|NORTH-LAB', oru(hc).text, oru(hc, { body: [obr(), 'OBX|1|NM|6690-2^WBC^LN||many|10*3/uL|||||F'] }).text, oru(hc, { body: [obr(), 'OBX|1|NM|777-3^Platelets^LN||241|10*3/uL|||||F'] }).text, 'BTS|3'].join('\n'),
    ack: ['AA', 'AE', 'AA'], check: { graphql: (nodes) => expect(nodes.map((n) => n.code.code).sort()).toEqual(['718-7', '777-3']) },
  }));

  // Refused content: AE, the ERR naming segment^sequence^field.
  add('no PID-3', () => ({ body: oru('x', { pid: 'PID|1||||Zhang^San||19650412|M' }).text, ack: ['AE'], err: /^PID\^1\^3$/ }));
  add('no OBX-3', (hc) => ({ body: oru(hc, { body: [obr(), 'OBX|1|NM|||13.2|g/dL|||||F'] }).text, ack: ['AE'], err: /^OBX\^1\^3$/ }));
  add('no OBX-3 in the second result', (hc) => ({ body: oru(hc, { body: [obr(), 'OBX|1|NM|718-7^Hb^LN||13.2|g/dL|||||F', 'OBX|2|NM|||13.2|g/dL|||||F'] }).text, ack: ['AE'], err: /^OBX\^2\^3$/ }));
  add('no OBR-4', (hc) => ({ body: oru(hc, { body: ['OBR|1||F1||||20260301080000', 'OBX|1|NM|718-7^Hb^LN||13.2|g/dL|||||F'] }).text, ack: ['AE'], err: /^OBR\^1\^4$/ }));
  add('no PID segment', (hc) => ({ body: oru(hc).text.replace(/\rPID\|[^\r]*/, ''), ack: ['AE'], err: /^PID\^1$/ }));
  add('no OBR segment', (hc) => ({ body: oru(hc, { body: [] }).text, ack: ['AE'], err: /^OBR\^1$/ }));
  add('an NM value that is not a number', (hc) => ({ body: oru(hc, { body: [obr(), 'OBX|1|NM|718-7^Hb^LN||high|g/dL|||||F'] }).text, ack: ['AE'], err: /^OBX\^1\^5$/ }));
  add('a LOINC code with a wrong check digit', (hc) => ({ body: oru(hc, { body: [obr(), 'OBX|1|NM|718-8^Hb^LN||13.2|g/dL|||||F'] }).text, ack: ['AE'], err: /^OBX\^1\^3$/ }));
  add('an OBX before any OBR', (hc) => ({ body: oru(hc, { body: ['OBX|1|NM|718-7^Hb^LN||13.2|g/dL|||||F', obr()] }).text, ack: ['AE'], err: /^OBX\^1$/ }));
  add('an unreadable OBR-7', (hc) => ({ body: oru(hc, { body: ['OBR|1||F1|58410-2^CBC^LN|||yesterday', 'OBX|1|NM|718-7^Hb^LN||13.2|g/dL|||||F'] }).text, ack: ['AE'], err: /^OBR\^1\^7$/ }));
  add('a PID naming another organisation\'s MRN', (hc) => ({ body: oru(hc, { pid: `PID|1||${hc}^^^^HC~${unique('MR')}^^^${OTHER_ORG}^MR||Zhang^San||19650412|M` }).text, ack: ['AE'], err: /^PID\^1/ }));

  // Rejected messages: AR (or a 4xx before any message is read).
  add('ADT^A02 (transfer: not taken)', (hc) => ({ body: adt(hc, 'A02', pv1('I', unique('V'))).text, ack: ['AR'], err: /^MSH\^1\^9$/ }));
  add('ADT^A01 without PV1', (hc) => ({ body: adt(hc, 'A01', null).text, ack: ['AE'], err: /^PV1\^1$/ }));
  add('ADT^A01 with an unknown patient class', (hc) => ({ body: adt(hc, 'A01', 'PV1|1|Q').text, ack: ['AE'], err: /^PV1\^1\^2$/ }));
  add('ADT^A03 without PV1', (hc) => ({ body: adt(hc, 'A03', null).text, ack: ['AE'], err: /^PV1\^1$/ }));
  add('ADT^A03 without a visit number (PV1-19)', (hc) => ({ body: adt(hc, 'A03', 'PV1|1|I').text, ack: ['AE'], err: /^PV1\^1\^19$/ }));
  add('ADT^A03 of a patient never registered', (hc) => ({ body: adt(hc, 'A03', pv1('I', unique('V'))).text, ack: ['AE'], err: /^PID\^1\^3$/ }));
  add('ADT^A40 without MRG', (hc) => ({ body: adt(hc, 'A40', null).text, ack: ['AE'], err: /^MRG\^1$/ }));
  add('QRY^A19', (hc) => ({ body: oru(hc, { type: 'QRY^A19' }).text, ack: ['AR'], err: /^MSH\^1\^9$/ }));
  add('no message type', (hc) => ({ body: oru(hc, { type: '' }).text, ack: ['AR'], err: /^MSH\^1\^9$/ }));
  add('no control id', (hc) => ({ body: oru(hc, { control: '' }).text, ack: ['AR'], err: /^MSH\^1\^10$/ }));
  add('a truncated header', () => ({ body: 'MSH|^~', ack: ['AR'] }));
  add('a message cut in the middle of a segment', (hc) => ({ body: oru(hc).text.slice(0, 140), ack: ['AE'] }));
  add('binary garbage', () => ({ body: Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256)), ack: ['AR'] }));
  add('an empty body', () => ({ body: '', ack: ['AR'] }));
  add('bad encoding characters', (hc) => ({ body: oru(hc).text.replace('MSH|^~\\&|', 'MSH|AB|'), ack: ['AR'], err: /^MSH\^1\^2$/ }));
  add('an unsupported character set', (hc) => ({ body: oru(hc, { charset: 'ISO IR87' }).text, ack: ['AR'], err: /^MSH\^1\^18$/ }));
  add('a NUL character in a value', (hc) => ({ body: oru(hc, { body: [obr(), 'OBX|1|ST|5778-6^Color^LN||Ye\u0000llow|||||F'] }).text, ack: ['AR'] }));
  add('a 1 MB OBX', (hc) => ({ body: oru(hc, { body: [obr(), `OBX|1|TX|22637-3^Diagnosis^LN||${'x'.repeat(1_050_000)}|||||F`] }).text, ack: 413 }));
  add('a wrong content type', (hc) => ({ body: oru(hc).text, contentType: 'application/json', ack: 415 }));
  return cases;
}

describe.each(BACKENDS)('HL7 v2 corpus on %s', (backend) => {
  let stack: TestStack;
  let base: string;
  let system: string;
  let clinician: string;

  const post = async (body: string | Buffer, token: string | null = system, contentType = 'x-application/hl7-v2+er7') => {
    const response = await fetch(`${base}/hl7v2`, { method: 'POST', headers: { 'content-type': contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: typeof body === 'string' ? body : new Uint8Array(body) });
    return { status: response.status, text: await response.text() };
  };
  /** Each ACK's MSA-1 and its first ERR-2, in order. */
  const acks = (text: string) => text.split('\r').reduce<{ code: string; err?: string }[]>((list, line) => {
    if (line.startsWith('MSA|')) list.push({ code: line.split('|')[1]! });
    else if (line.startsWith('ERR|') && list.length && list[list.length - 1]!.err === undefined) list[list.length - 1]!.err = line.split('|')[2]!;
    return list;
  }, []);
  const read = async (hc: string) => {
    const found = await stack.graphql(clinician, `query($hc: String!) { patientByIdentifier(system: "${HC}", value: $hc) { id name { family given }
      observations(first: 100) { edges { node { status code { system code display } localCode { system code } valueQuantity { value unit } valueComparator valueString
        referenceRange { low high text } interpretation { code } note effectiveDateTime } } }
      diagnosticReports(first: 100) { edges { node { category status conclusion code { system code } } } } } }`, { hc });
    expect(found.errors, JSON.stringify(found.errors)).toBeUndefined();
    return found.data.patientByIdentifier as Json | null;
  };
  const everything = async (id: string) => {
    const response = await fetch(`${base}/fhir/Patient/${id}/$everything`, { headers: { authorization: `Bearer ${clinician}`, accept: 'application/fhir+json' } });
    expect(response.status).toBe(200);
    const bundle = (await response.json()) as Json;
    return (bundle.entry ?? []).map((e: Json) => e.resource) as Json[];
  };

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 0 });
    base = stack.url.replace(/\/graphql$/, '');
    system = await stack.token({ sub: `${ORG}-lis`, role: 'system', org: ORG, client_id: `${ORG}-lis`, scope: 'system/*.cru' });
    clinician = await stack.token({ sub: 'dr-north', role: 'clinician', org: ORG });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const cases = corpus();
  it(`has a corpus of at least 60 messages (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const response = await post(c.body, system, c.contentType);
    expect(response.status, response.text).toBeLessThan(500);
    if (typeof c.ack === 'number') {
      expect(response.status).toBe(c.ack);
      return;
    }
    const got = acks(response.text);
    expect(got.map((a) => a.code), response.text).toEqual(c.ack);
    if (c.err) expect(got[0]!.err, response.text).toMatch(c.err);
    const patient = await read(c.hc);
    if (!c.ack.includes('AA')) {
      // Nothing stored: no patient, or one without any result of this message.
      expect(patient?.observations.edges ?? []).toEqual([]);
      return;
    }
    expect(patient, `patient ${c.hc}`).not.toBeNull();
    if (c.patientName) expect(`${patient!.name[0].family} ${patient!.name[0].given.join(' ')}`).toBe(c.patientName);
    const nodes = patient!.observations.edges.map((e: Json) => e.node);
    const reports = patient!.diagnosticReports.edges.map((e: Json) => e.node);
    expect(nodes.length).toBeGreaterThan(0);
    c.check?.graphql?.(nodes, reports);
    const resources = await everything(patient!.id);
    const observations = resources.filter((r) => r.resourceType === 'Observation');
    expect(observations).toHaveLength(nodes.length);
    c.check?.fhir?.(observations, resources.filter((r) => r.resourceType === 'DiagnosticReport'));
  });

  it('answers a replay with the same ACK and creates nothing; a reused control id with new content is refused (AE), never acknowledged and dropped', async () => {
    const hc = unique('HC');
    const first = oru(hc);
    const accepted = await post(first.text);
    expect(acks(accepted.text)[0]!.code).toBe('AA');
    const replay = await post(first.text.replace('20260301083000', '20260301090000')); // resent later: MSH-7 differs
    expect(replay.text).toBe(accepted.text);
    expect((await read(hc))!.observations.edges).toHaveLength(1);

    // Another patient's haemoglobin with the same control id: refused, so the sender knows; never AA.
    const other = unique('HC');
    const reused = await post(oru(other, { control: first.control, body: [obr(), 'OBX|1|NM|718-7^Hemoglobin^LN||7.1|g/dL|||||F'] }).text);
    expect(reused.status).toBe(409);
    expect(acks(reused.text)).toEqual([{ code: 'AE', err: 'MSH^1^10' }]);
    expect(await read(other)).toBeNull();
    // With a new control id it is stored.
    const resent = await post(oru(other, { body: [obr(), 'OBX|1|NM|718-7^Hemoglobin^LN||7.1|g/dL|||||F'] }).text);
    expect(acks(resent.text)[0]!.code).toBe('AA');
    expect((await read(other))!.observations.edges.map((e: Json) => e.node.valueQuantity.value)).toEqual([7.1]);
  });

  it('updates a result corrected later (OBX-11 C) and keeps its history; a final after a preliminary replaces it too', async () => {
    const hc = unique('HC');
    const order = unique('ORD');
    const send = (value: string, status: string) => post(oru(hc, { body: [obr({ order, status: status === 'C' ? 'C' : status }), `OBX|1|NM|718-7^Hemoglobin^LN||${value}|g/dL|12-17.5||||${status}|||20260301080000`] }).text);
    expect(acks((await send('11.0', 'P')).text)[0]!.code).toBe('AA');
    expect(acks((await send('12.0', 'F')).text)[0]!.code).toBe('AA');
    expect(acks((await send('12.4', 'C')).text)[0]!.code).toBe('AA');
    const patient = (await read(hc))!;
    const nodes = patient.observations.edges.map((e: Json) => e.node);
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ status: 'corrected', valueQuantity: { value: 12.4 } });
    expect(patient.diagnosticReports.edges).toHaveLength(1);
    const [observation] = (await everything(patient.id)).filter((r) => r.resourceType === 'Observation');
    expect(observation).toMatchObject({ status: 'corrected', valueQuantity: { value: 12.4 } });
    const history = await stack.databases.labs.query<{ value: number; status: string }>(
      `SELECT (version->>'value_quantity')::float AS value, version->>'status' AS status FROM observation_history WHERE observation_id = $1 ORDER BY replaced_at, (version->>'value_quantity')::float`, [observation.id]);
    expect(history).toEqual([{ value: 11, status: 'preliminary' }, { value: 12, status: 'final' }]);
  });

  it('accepts results of a patient not yet registered, and the later registration (FHIR) finds the same patient', async () => {
    const hc = unique('HC');
    expect(acks((await post(oru(hc).text)).text)[0]!.code).toBe('AA');
    const before = (await read(hc))!;
    const registration = await fetch(`${base}/fhir/Patient`, {
      method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${system}` },
      body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: HC, value: hc }, { system: SYSTEM.mrnPrefix + ORG, value: unique('MR') }], name: [{ family: 'Zhang', given: ['San'] }], birthDate: '1965-04-12', gender: 'male' }),
    });
    expect(registration.status).toBeLessThan(300);
    const after = (await read(hc))!;
    expect(after.id).toBe(before.id);
    expect(after.observations.edges).toHaveLength(1);
  });

  const encountersOf = async (hc: string) => {
    const found = await stack.graphql(clinician, `query($hc: String!) { patientByIdentifier(system: "${HC}", value: $hc) { id name { family given }
      encounters(first: 20) { edges { node { id class status period { start end } } } } } }`, { hc });
    expect(found.errors, JSON.stringify(found.errors)).toBeUndefined();
    return found.data.patientByIdentifier as Json | null;
  };

  it('ADT^A01 and A04 register (or match) the patient and record the visit once; A08 updates the demographics', async () => {
    const hc = unique('HC');
    const visit = unique('V');
    const admit = await post(adt(hc, 'A01', pv1('I', visit)).text);
    expect(acks(admit.text), admit.text).toEqual([{ code: 'AA' }]);
    const again = await post(adt(hc, 'A01', pv1('I', visit)).text); // resent with a new control id: the same visit
    expect(acks(again.text)[0]!.code).toBe('AA');
    let patient = (await encountersOf(hc))!;
    expect(patient.encounters.edges.map((e: Json) => e.node)).toMatchObject([{ class: 'INPATIENT', status: 'in-progress', period: { start: '2026-03-01T07:00:00.000Z', end: null } }]);

    // An outpatient registration (A04) of the same patient: a second visit, arrived; the PV1 stops at the class (time from EVN-2).
    const registered = await post(adt(hc, 'A04', `PV1|1|O|||||||||||||||||${unique('V')}`).text);
    expect(acks(registered.text)[0]!.code).toBe('AA');
    patient = (await encountersOf(hc))!;
    expect(patient.encounters.edges.map((e: Json) => e.node.class).sort()).toEqual(['INPATIENT', 'OUTPATIENT']);
    expect(patient.encounters.edges.find((e: Json) => e.node.class === 'OUTPATIENT').node).toMatchObject({ status: 'arrived', period: { start: '2026-03-01T07:50:00.000Z' } });

    // A08: the new name is what the organisation's staff see.
    const updated = await post(adt(hc, 'A08', pv1('I', visit)).text.replace('Zhang^San', 'Zhang^Sanfeng'));
    expect(acks(updated.text)[0]!.code).toBe('AA');
    const after = (await encountersOf(hc))!;
    expect(after.id).toBe(patient.id);
    expect(after.name[0].given).toEqual(['Sanfeng']);
    expect(after.encounters.edges).toHaveLength(2);

    // A result sent before the registration is the same patient's (the index matched on the card and MRN).
    const lab = unique('HC');
    expect(acks((await post(oru(lab).text)).text)[0]!.code).toBe('AA');
    expect(acks((await post(adt(lab, 'A04', pv1('O', unique('V'))).text)).text)[0]!.code).toBe('AA');
    const both = (await read(lab))!;
    expect(both.observations.edges).toHaveLength(1);
    expect((await encountersOf(lab))!.id).toBe(both.id);
  });

  it('ADT^A40 becomes a match candidate for administrators, never a silent merge', async () => {
    const [first, second] = [unique('HC'), unique('HC')];
    expect(acks((await post(adt(first, 'A04', pv1('O', unique('V'))).text)).text)[0]!.code).toBe('AA');
    expect(acks((await post(adt(second, 'A04', pv1('O', unique('V'))).text.replace('Zhang^San', 'Zhang^Shan'))).text)[0]!.code).toBe('AA');
    const survivor = (await encountersOf(first))!.id;
    const prior = (await encountersOf(second))!.id;
    const merge = await post(adt(first, 'A40', `MRG|MR${second}^^^${ORG}^MR`).text);
    expect(acks(merge.text), merge.text).toEqual([{ code: 'AA' }]);
    // Both patients are still there, apart.
    expect((await encountersOf(first))!.id).toBe(survivor);
    expect((await encountersOf(second))!.id).toBe(prior);
    const admin = await stack.token({ sub: 'mpi-admin', role: 'admin' });
    const candidates = await stack.graphql(admin, '{ matchCandidates(first: 100) { edges { node { patientId candidatePatientId reason status } } } }');
    expect(candidates.errors).toBeUndefined();
    const mine = candidates.data.matchCandidates.edges.map((e: Json) => e.node).filter((n: Json) => n.patientId === prior);
    expect(mine).toEqual([{ patientId: prior, candidatePatientId: survivor, reason: expect.stringContaining('ADT^A40'), status: 'PENDING' }]);
    // A merge naming an identifier the organisation never registered: AE on MRG-1.
    const unknown = await post(adt(first, 'A40', `MRG|${unique('NOPE')}^^^${ORG}^MR`).text);
    expect(acks(unknown.text)).toEqual([{ code: 'AE', err: 'MRG^1^1' }]);
  });

  it('ADT^A03 discharges the stay with the follow-up plan of recordDischarge; a resend is the same discharge', async () => {
    const hc = unique('HC');
    const visit = unique('V');
    expect(acks((await post(adt(hc, 'A01', pv1('I', visit)).text)).text)).toEqual([{ code: 'AA' }]);
    const stayId = (await encountersOf(hc))!.encounters.edges[0].node.id;
    const tasks = async () => (await stack.databases['public-health'].query<{ rule_code: string; organization_id: string; due_date: unknown; description: string; patient_id: string }>(
      'SELECT rule_code, organization_id, due_date::text AS due_date, description, patient_id FROM follow_up_task WHERE based_on_encounter_id = $1 ORDER BY rule_code', [stayId]));
    /** A PV1 of the visit discharged: PV1-36 disposition, PV1-45 discharge time. */
    const discharged = (at: string, disposition = '01', patientClass = 'I', number = visit) => {
      const fields = pv1(patientClass, number).split('|');
      while (fields.length < 46) fields.push('');
      fields[36] = disposition;
      fields[45] = at;
      return fields.join('|');
    };
    const PD1 = 'PD1|||Gaiyang Township Health Centre^^^^^^^^^org-thc-gaiyang';

    // No primary-care organisation named and no programme that names one: refused (AE on PD1-3), the stay stays open.
    const unplanned = await post(adt(hc, 'A03', discharged('20260302100000')).text);
    expect(acks(unplanned.text), unplanned.text).toEqual([{ code: 'AE', err: 'PD1^1^3' }]);
    expect(unplanned.text).toMatch(/primary-care organisation/);
    expect(await tasks()).toEqual([]);
    expect((await encountersOf(hc))!.encounters.edges[0].node.status).toBe('in-progress');

    // Another organisation's system cannot discharge this hospital's stay: the visit and the patient are the sender's own.
    const south = await stack.token({ sub: `${OTHER_ORG}-his`, role: 'system', org: OTHER_ORG, client_id: `${OTHER_ORG}-his`, scope: 'system/*.cru' });
    const foreign = await post(adt(hc, 'A03', PD1, discharged('20260302100000')).text.replace(`^^^${ORG}^MR`, `^^^${OTHER_ORG}^MR`), south);
    expect(acks(foreign.text)[0]!.code).toBe('AE');
    expect((await encountersOf(hc))!.encounters.edges[0].node.status).toBe('in-progress');

    // Discharged home on 2 March at 10:00, followed up by the township health centre named in PD1-3.
    const message = adt(hc, 'A03', PD1, discharged('20260302100000'));
    const discharge = await post(message.text);
    expect(acks(discharge.text), discharge.text).toEqual([{ code: 'AA' }]);
    const stay = await stack.graphql(clinician, `query($id: ID!) { encounter(id: $id) { id status class period { start end } dischargeDisposition { system code } } }`, { id: stayId });
    expect(stay.errors).toBeUndefined();
    expect(stay.data.encounter).toEqual({ id: stayId, status: 'finished', class: 'INPATIENT', period: { start: '2026-03-01T07:00:00.000Z', end: '2026-03-02T10:00:00.000Z' },
      dischargeDisposition: { system: 'http://terminology.hl7.org/CodeSystem/discharge-disposition', code: 'home' } });
    // The same plan as recordDischarge: the nurses' visit within 7 days, the clinicians' medication review within 14, for the patient, from this stay.
    const plan = await tasks();
    const patientId = (await encountersOf(hc))!.id;
    expect(plan).toEqual([
      { rule_code: 'DISCHARGE-MEDREC', organization_id: 'org-thc-gaiyang', due_date: '2026-03-16', description: expect.stringContaining(`after discharge from ${ORG}`), patient_id: patientId },
      { rule_code: 'DISCHARGE-VISIT', organization_id: 'org-thc-gaiyang', due_date: '2026-03-09', description: expect.stringContaining(`after discharge from ${ORG}`), patient_id: patientId },
    ]);
    // The township's nurses and clinicians see them in their work lists, as after recordDischarge.
    const OPEN = '{ openFollowUpTasks(first: 100) { edges { node { id ruleCode dueDate patient { id } basedOnEncounter { id } } } } }';
    for (const [role, rule] of [['nurse', 'DISCHARGE-VISIT'], ['clinician', 'DISCHARGE-MEDREC']] as const) {
      const token = await stack.token({ sub: `${role}-gaiyang`, role, org: 'org-thc-gaiyang' });
      const open = await stack.graphql(token, OPEN);
      expect(open.errors, JSON.stringify(open.errors)).toBeUndefined();
      const mine = open.data.openFollowUpTasks.edges.map((e: Json) => e.node).filter((t: Json) => t.basedOnEncounter?.id === stayId);
      expect(mine.map((t: Json) => t.ruleCode)).toEqual([rule]);
    }

    // The same message again: the same ACK. The same discharge under a new control id: AA, nothing created twice.
    expect((await post(message.text)).text).toBe(discharge.text);
    const resent = await post(adt(hc, 'A03', PD1, discharged('20260302100000')).text);
    expect(acks(resent.text)).toEqual([{ code: 'AA' }]);
    expect(await tasks()).toHaveLength(2);
    // Another discharge of the ended stay: AE, the stay as it was.
    const again = await post(adt(hc, 'A03', PD1, discharged('20260303100000')).text);
    expect(acks(again.text)).toEqual([{ code: 'AE', err: 'PV1^1^19' }]);
    expect((await encountersOf(hc))!.encounters.edges[0].node.period.end).toBe('2026-03-02T10:00:00.000Z');

    // A visit never admitted, an outpatient visit, a discharge before the admission: AE naming the field.
    expect(acks((await post(adt(hc, 'A03', discharged('20260302100000', '01', 'I', unique('V')), PD1).text)).text)).toEqual([{ code: 'AE', err: 'PV1^1^19' }]);
    const outpatient = unique('V');
    expect(acks((await post(adt(hc, 'A04', pv1('O', outpatient)).text)).text)[0]!.code).toBe('AA');
    expect(acks((await post(adt(hc, 'A03', PD1, discharged('20260302100000', '01', 'O', outpatient)).text)).text)).toEqual([{ code: 'AE', err: 'PV1^1^2' }]);
    const early = unique('V');
    expect(acks((await post(adt(hc, 'A01', pv1('I', early)).text)).text)[0]!.code).toBe('AA');
    expect(acks((await post(adt(hc, 'A03', PD1, discharged('20260228100000', '01', 'I', early)).text)).text)).toEqual([{ code: 'AE', err: 'PV1^1^45' }]);
    // HL7 table 0112: 07 left against medical advice.
    expect(acks((await post(adt(hc, 'A03', PD1, discharged('20260302120000', '07', 'I', early)).text)).text)).toEqual([{ code: 'AA' }]);
    const left = (await encountersOf(hc))!.encounters.edges.map((e: Json) => e.node).find((n: Json) => n.period.end === '2026-03-02T12:00:00.000Z');
    expect(left).toBeTruthy();
    const disposition = await stack.graphql(clinician, 'query($id: ID!) { encounter(id: $id) { dischargeDisposition { code } } }', { id: left.id });
    expect(disposition.data.encounter.dischargeDisposition.code).toBe('aadvice');
  });

  it('answers an unauthenticated message with AR and 401', async () => {
    const response = await post(oru(unique('HC')).text, null);
    expect(response.status).toBe(401);
    expect(acks(response.text)[0]!.code).toBe('AR');
  });
});
