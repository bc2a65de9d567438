/**
 * HL7 v2 messages as laboratory and hospital systems send them, before any
 * mapping: bytes → text in the message's own character set (MSH-18), a
 * byte-order mark dropped, CR, LF or CRLF segment endings, batch files
 * (FHS/BHS … BTS/FTS) split into their messages, and safe access to
 * fields, components and repetitions that the sender left out.
 *
 * Parsing is @medplum/core's Hl7Message. It leaves HL7 escape sequences in
 * place (`\F\`, `\S\`, `\T\`, `\R\`, `\E\`, `\X..\`, `\.br\`), so values read
 * through `Fields` are decoded here; character-set conversion is iconv-lite
 * (the converter Node's own HTTP stack and most HL7 tools use).
 */
import iconv from 'iconv-lite';
import { Hl7Message, type Hl7Segment } from '@medplum/core';

/** HL7 table 0211 (alternate character sets) names, and the names Chinese HIS/LIS systems use, → iconv-lite encodings. */
const CHARSETS: Record<string, string> = {
  'UNICODE UTF-8': 'utf8', 'UTF-8': 'utf8', UTF8: 'utf8', UNICODE: 'utf8', ASCII: 'utf8',
  '8859/1': 'latin1', 'ISO-8859-1': 'latin1', '8859/15': 'iso-8859-15',
  'GB 18030-2000': 'gb18030', 'GB18030': 'gb18030', 'GB 18030': 'gb18030', GBK: 'gbk', GB2312: 'gbk', 'CNS 11643-1992': 'big5', 'BIG-5': 'big5',
};

/** A message that cannot be read at all: answered AR with an ERR naming where. */
export class Unreadable extends Error {
  constructor(message: string, readonly location = 'MSH^1', readonly code: '100' | '102' | '200' | '203' = '100') {
    super(message);
  }
}

/** MSH-18 of the first MSH in `bytes` (read as Latin-1, which keeps every ASCII delimiter where it is). */
function declaredCharset(head: string): string {
  const start = head.indexOf('MSH');
  if (start < 0) return '';
  const line = head.slice(start).split(/\r\n|\r|\n/)[0]!;
  const separator = line[3] ?? '|';
  // MSH-1 is the separator itself: MSH-n is element n of the split.
  return (line.split(separator)[17] ?? '').split((line[4] ?? '^'))[0]!.trim().toUpperCase();
}

/** Bytes → text, honouring MSH-18 (default UTF-8) and dropping a byte-order mark. */
export function decodeBytes(bytes: Buffer): string {
  let body = bytes;
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
  const charset = declaredCharset(body.subarray(0, 4096).toString('latin1'));
  const encoding = charset ? CHARSETS[charset] : 'utf8';
  if (!encoding) throw new Unreadable(`Character set "${charset}" (MSH-18) is not supported: send UNICODE UTF-8, GB 18030-2000, GBK or 8859/1`, 'MSH^1^18', '203');
  return iconv.decode(body, encoding).replace(/^\uFEFF/, '');
}

/** The segments of a text, whatever its line endings; blank lines and trailing whitespace dropped. */
export function segmentsOf(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/).map((line) => line.replace(/[\s\u0000]+$/, '')).filter((line) => line.length > 0);
}

/**
 * The messages of a body: one message, or a batch (FHS/BHS … BTS/FTS) split
 * into its messages. Each message's text is returned on its own (it is
 * answered on its own).
 */
export function splitMessages(text: string): string[] {
  const messages: string[][] = [];
  for (const line of segmentsOf(text)) {
    const name = line.slice(0, 3);
    if (name === 'FHS' || name === 'BHS' || name === 'BTS' || name === 'FTS') continue;
    if (name === 'MSH' || !messages.length) messages.push([line]);
    else messages[messages.length - 1]!.push(line);
  }
  return messages.map((segments) => segments.join('\r'));
}

/** Whether a body is a batch file (answered with one ACK per message). */
export const isBatch = (text: string) => /^(\uFEFF)?(FHS|BHS)/.test(text.trimStart());

/** Parses one message's text; throws Unreadable when it is not an ER7 message starting with MSH. */
export function parseMessage(text: string): Hl7Message {
  if (!/^MSH[|^~\\&#!$%*+,./:;=?@_-]/.test(text)) throw new Unreadable('Not an HL7 v2 message (ER7 text starting with MSH)');
  // MSH-2: the encoding characters must be four (or five, with the truncation character) distinct delimiters.
  const separator = text[3]!;
  const encoding = text.slice(4).split(separator)[0] ?? '';
  if (encoding.length < 4 || new Set([separator, ...encoding]).size !== encoding.length + 1 || /[A-Za-z0-9\r\n]/.test(encoding)) {
    throw new Unreadable('MSH-2 (encoding characters) must be four distinct delimiters, e.g. ^~\\&', 'MSH^1^2', '102');
  }
  let message: Hl7Message;
  try {
    message = Hl7Message.parse(segmentsOf(text).join('\r'));
  } catch (error) {
    throw new Unreadable(`The message could not be parsed: ${error instanceof Error ? error.message : 'unknown error'}`);
  }
  if (!message.getSegment('MSH')) throw new Unreadable('The message has no MSH segment');
  return message;
}

/** Decodes the HL7 escape sequences of a value (component text as sent). */
export function unescapeHl7(value: string, escapeCharacter = '\\', delimiters = { field: '|', component: '^', repetition: '~', subcomponent: '&' }): string {
  if (!value.includes(escapeCharacter)) return value;
  const e = escapeCharacter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return value.replace(new RegExp(`${e}([^${e}]*)${e}`, 'g'), (whole, sequence: string) => {
    switch (sequence) {
      case 'F': return delimiters.field;
      case 'S': return delimiters.component;
      case 'R': return delimiters.repetition;
      case 'T': return delimiters.subcomponent;
      case 'E': return escapeCharacter;
      case '.br': return '\n';
      case 'H': case 'N': return ''; // highlighting on/off: formatting only
      default: break;
    }
    const hex = /^X((?:[0-9A-Fa-f]{2})+)$/.exec(sequence);
    if (hex) return Buffer.from(hex[1]!, 'hex').toString('utf8');
    return whole; // an unknown sequence is kept as sent
  });
}

/**
 * Reading a segment where every field, component and repetition may be
 * missing (a sender drops trailing empty fields): absent is ''. Values are
 * unescaped.
 */
export class Fields {
  private readonly delimiters;
  constructor(readonly segment: Hl7Segment) {
    const c = segment.context;
    this.delimiters = { field: c.fieldSeparator, component: c.componentSeparator, repetition: c.repetitionSeparator, subcomponent: c.subcomponentSeparator };
  }

  get name(): string {
    return this.segment.name;
  }

  /** The number of fields present (MSH counts MSH-1). */
  get length(): number {
    return this.segment.fields.length - 1;
  }

  private raw(field: number) {
    return field < this.segment.fields.length ? this.segment.getField(field) : undefined;
  }

  /** Field n's repetitions. */
  repetitions(field: number): number {
    return this.raw(field)?.components.length ?? 0;
  }

  /** Component c (1-based) of repetition r of field n, unescaped; '' when absent. */
  component(field: number, component = 1, repetition = 0): string {
    const value = this.raw(field)?.components[repetition]?.[component - 1] ?? '';
    return unescapeHl7(value.split(this.delimiters.subcomponent)[0] ?? '', this.segment.context.escapeCharacter, this.delimiters);
  }

  /** A whole component with its subcomponents (ED references, SN), unescaped per subcomponent. */
  subcomponents(field: number, component = 1, repetition = 0): string[] {
    const value = this.raw(field)?.components[repetition]?.[component - 1] ?? '';
    return value.split(this.delimiters.subcomponent).map((s) => unescapeHl7(s, this.segment.context.escapeCharacter, this.delimiters));
  }

  /** The components of repetition r of field n, unescaped. */
  components(field: number, repetition = 0): string[] {
    return (this.raw(field)?.components[repetition] ?? []).map((_, i) => this.component(field, i + 1, repetition));
  }

  /** Field n as one value: its first component (for fields of one component). */
  value(field: number): string {
    return this.component(field, 1, 0).trim();
  }

  /** A text field: every repetition (a TX/FT value is split on repetitions), components joined as sent. */
  text(field: number): string {
    const lines: string[] = [];
    for (let r = 0; r < this.repetitions(field); r++) lines.push(this.components(field, r).join(this.delimiters.component));
    return lines.join('\n');
  }
}
