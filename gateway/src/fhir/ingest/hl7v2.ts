/**
 * POST /hl7v2 — laboratories that speak HL7 v2 over HTTP (MLLP is
 * ../../hl7v2/mllp.ts): ORU^R01 result messages as ER7 text
 * (`x-application/hl7-v2+er7`, `application/hl7-v2` or `text/plain`), one
 * message or a batch file (FHS/BHS … BTS/FTS), from a laboratory's system
 * client. Answered with an ACK per message (MSA-1 AA, AE or AR, with ERR
 * segments) as ER7; a batch's ACKs follow one another in the body, in order.
 *
 * The bytes are read in the message's character set (MSH-18: UNICODE UTF-8
 * by default, GB 18030-2000, GBK, 8859/1), with or without a byte-order mark,
 * with CR, LF or CRLF segment endings (../../hl7v2/message.ts). Each message
 * is answered by ../../hl7v2/process.ts: the FHIR resources of the message
 * (../../hl7v2/oru.ts) go through the same validation, provenance rules,
 * scopes, master patient index and all-or-nothing transaction as a FHIR
 * Bundle (coordinator.ts).
 *
 * AA: accepted and stored. AE: understood, but its content was refused (a bad
 * code or value, a missing identifier, a reused control id with other
 * content): ERR names the segment, sequence and field; nothing stored. AR:
 * rejected as a whole (not an ORU^R01, unreadable, unauthorised, a service
 * unavailable: resend later). The HTTP status says the same (200, 4xx,
 * 401/403/503); a batch answers 200 with each message's own ACK. Never a 5xx
 * for what a sender did.
 */
import type { HttpRequestInfo, Route } from '../../../../lib/runtime/http.js';
import type { TokenVerifier } from '../../auth.js';
import { decodeBytes, isBatch, parseMessage, splitMessages, Unreadable } from '../../hl7v2/message.js';
import { buildAck, errSegment, processMessage, type ProcessorOptions } from '../../hl7v2/process.js';
import { publisher } from './route.js';

export { hl7v2IdentifierSystem } from '../../hl7v2/oru.js';

/** Most messages in one batch file. */
export const MAX_BATCH_MESSAGES = 500;

export const HL7V2_CONTENT_TYPES = ['x-application/hl7-v2+er7', 'application/hl7-v2', 'text/plain'];
const ER7 = 'x-application/hl7-v2+er7; charset=utf-8';


export interface Hl7v2RouteOptions extends ProcessorOptions {
  verifyToken: TokenVerifier;
}

export function hl7v2Route(options: Hl7v2RouteOptions): Route {
  return async (request: HttpRequestInfo) => {
    if (request.url.pathname !== '/hl7v2') return undefined;
    const answer = (status: number, text: string) => ({ status, body: text, contentType: ER7 });
    const reject = (status: number, location: string, code: [string, string], text: string) => answer(status, buildAck(null, 'AR', [errSegment(location, code, text)]));
    if (request.method !== 'POST') return reject(405, 'MSH^1', ['200', 'Unsupported message type'], 'POST ORU^R01 messages');
    const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!HL7V2_CONTENT_TYPES.includes(type)) return reject(415, 'MSH^1', ['200', 'Unsupported message type'], `Send ER7 text (Content-Type: ${HL7V2_CONTENT_TYPES.join(' or ')})`);
    let text: string;
    try {
      text = decodeBytes(request.bytes ?? Buffer.from(request.body, 'utf8'));
    } catch (error) {
      const reason = error instanceof Unreadable ? error : new Unreadable('The body could not be decoded');
      return reject(400, reason.location, [reason.code, 'Unsupported character set'], reason.message);
    }
    const messages = splitMessages(text);
    if (!messages.length) return reject(400, 'MSH^1', ['100', 'Segment sequence error'], 'Not an HL7 v2 message (ER7 text starting with MSH)');
    if (messages.length > MAX_BATCH_MESSAGES) return reject(413, 'MSH^1', ['100', 'Segment sequence error'], `At most ${MAX_BATCH_MESSAGES} messages per batch`);
    const caller = await publisher(options.verifyToken, request);
    if (!('sub' in caller)) {
      const first = (() => { try { return parseMessage(messages[0]!); } catch { return null; } })();
      return answer(caller.status, buildAck(first, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], caller.message)]));
    }
    // The request id of the response (x-request-id) is the requestId of the write's audit events.
    request.log.operation = 'HL7v2 ORU^R01';
    request.log.actor = { role: caller.role, org: caller.org, clientId: caller.clientId };
    const answers = [];
    for (const message of messages) answers.push(await processMessage(message, caller, request.requestId, options));
    if (!isBatch(text)) return answer(answers[0]!.status, answers[0]!.ack);
    // A batch: every message's ACK, in order (each message stands on its own).
    return answer(200, answers.map((a) => a.ack).join('\r'));
  };
}
