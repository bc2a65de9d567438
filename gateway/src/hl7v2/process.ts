/**
 * One HL7 v2 message from an authenticated sending system → its ACK, whatever
 * way it came (POST /hl7v2, MLLP). Never throws for anything the sender did:
 * every message is answered AA (stored), AE (understood, its content refused:
 * ERR names segment, sequence and field) or AR (rejected as a whole: not a
 * message type the product takes, unreadable, a service unavailable).
 *
 * Idempotency: the ACK is stored with the results, with the digest of the
 * message's content (MSH-7, the send time, left out). The same control id
 * (MSH-10) with the same content is a replay: it gets the very same ACK and
 * creates nothing. The same control id with other content is refused (AE,
 * ERR on MSH-10): an AA always means this message's own content is stored.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Hl7Message, Hl7Segment } from '@medplum/core';
import type { Actor } from '../../../lib/trust/actor.js';
import { INTERNAL_APIS, internalCaller } from '../../../lib/runtime/internal-api.js';
import { statusOf, TransactionFailed, type Coordinator, type CoordinatorOptions } from '../fhir/ingest/coordinator.js';
import { mapEntries, type BundleContext, type Issue, type MappedEntry } from '../fhir/ingest/map.js';
import { Fields, parseMessage, Unreadable } from './message.js';
import { ADT_EVENTS, adtToResources, dischargeOf, mergeOf } from './adt.js';
import { hl7v2ResultSystem, oruToResources, resultKeys, type MappedResource, type Origin } from './oru.js';

export type AckCode = 'AA' | 'AE' | 'AR';

/** An answer: the ACK text, its code, and the HTTP status that says the same. */
export interface Hl7Answer {
  status: number;
  code: AckCode;
  ack: string;
}

/** HL7 table 0357 (message error condition codes) for an issue. */
export function errorCode(issue: Pick<Issue, 'code'>): [string, string] {
  if (issue.code === 'required') return ['101', 'Required field missing'];
  if (issue.code === 'value' || issue.code === 'structure') return ['102', 'Data type error'];
  if (issue.code === 'code-invalid') return ['103', 'Table value not found'];
  if (issue.code === 'not-found') return ['204', 'Unknown key identifier'];
  if (issue.code === 'duplicate' || issue.code === 'multiple-matches') return ['205', 'Duplicate key identifier'];
  if (issue.code === 'conflict') return ['206', 'Application record locked'];
  if (issue.code === 'not-supported') return ['200', 'Unsupported message type'];
  if (issue.code === 'forbidden' || issue.code === 'security') return ['207', 'Application internal error'];
  return ['207', 'Application internal error'];
}

/** Text for an ERR field: delimiters escaped, line breaks flattened, bounded. */
const escapeText = (text: string) => text.slice(0, 500).replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/&/g, '\\T\\').replace(/~/g, '\\R\\').replace(/[\r\n\u0000-\u001f]+/g, ' ');
/** A location component (segment id, sequence): only what is safe in ER7. */
const safe = (text: string) => text.replace(/[^A-Za-z0-9 ._-]/g, '').slice(0, 20);

/** An ERR segment: ERR-2 location (segment^sequence^field), ERR-3 code (table 0357), ERR-4 severity E, ERR-8 the message. */
export function errSegment(location: string, code: [string, string], text: string): Hl7Segment {
  return Hl7Segment.parse(`ERR||${location}|${code[0]}^${code[1]}^HL70357|E||||${escapeText(text)}`);
}

const FALLBACK_HEADER = 'MSH|^~\\&|||||||ACK|||P|2.5.1';

/** The ACK of a message (or of an unreadable one: a bare header). */
export function buildAck(message: Hl7Message | null, code: AckCode, errors: Hl7Segment[] = []): string {
  let reply: Hl7Message;
  try {
    reply = (message ?? Hl7Message.parse(FALLBACK_HEADER)).buildAck({ ackCode: code });
  } catch {
    reply = Hl7Message.parse(FALLBACK_HEADER).buildAck({ ackCode: code });
  }
  for (const segment of errors) reply.setSegment(reply.segments.length, segment);
  return reply.toString();
}

/** The digest of a message's content: its segments as sent, without MSH-7 (the send time a resend may change). */
export function contentHash(message: Hl7Message): string {
  const hash = createHash('sha256');
  message.segments.forEach((segment, n) => {
    if (n === 0) {
      const fields = segment.toString().split(segment.context.fieldSeparator);
      fields[6] = '';
      hash.update(fields.join(segment.context.fieldSeparator));
    } else hash.update(segment.toString());
    hash.update('\r');
  });
  return hash.digest('hex');
}

export interface ProcessorOptions extends CoordinatorOptions {
  coordinator: Coordinator;
}

/** What each issue's ERR says: the segment, sequence and field its entry and element came from. */
function errOf(issue: Issue, origins: Map<number, Origin>): Hl7Segment {
  const origin = origins.get(issue.index);
  const element = issue.expression.replace(/^Bundle\.entry\[\d+\]\.resource\.?/, '').split(/[.[]/)[0] ?? '';
  const bare = /^(PID|PV1|MRG|OBR|OBX|MSH)$/.exec(issue.expression)?.[1];
  const location = origin ? `${origin.segment}^${origin.sequence}${origin.fields[element] ? `^${origin.fields[element]}` : ''}` : bare ? `${bare}^1` : '';
  const expression = issue.expression && !bare ? ` (${issue.expression})` : '';
  return errSegment(location, errorCode(issue), `${issue.message}${expression}`);
}

/**
 * Answers one message's text for an authenticated system actor (its
 * organisation is the producer of everything stored; see the provenance rules
 * in ../fhir/ingest/map.ts).
 */
export async function processMessage(text: string, actor: Actor, requestId: string, options: ProcessorOptions): Promise<Hl7Answer> {
  try {
    return await answerMessage(text, actor, requestId, options);
  } catch {
    // A message the mapping could not follow (a shape no rule foresaw): refused as a whole, never a 5xx, nothing stored.
    return { status: 400, code: 'AR', ack: buildAck(null, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], 'The message could not be read; nothing was stored')]) };
  }
}

async function answerMessage(text: string, actor: Actor, requestId: string, options: ProcessorOptions): Promise<Hl7Answer> {
  let message: Hl7Message | null = null;
  try {
    message = parseMessage(text);
  } catch (error) {
    const reason = error instanceof Unreadable ? error : new Unreadable('The message could not be read');
    return { status: 400, code: 'AR', ack: buildAck(null, 'AR', [errSegment(reason.location, [reason.code, reason.code === '203' ? 'Unsupported version id' : reason.code === '102' ? 'Data type error' : 'Segment sequence error'], reason.message)]) };
  }
  const answer = (status: number, code: AckCode, errors: Hl7Segment[] = []): Hl7Answer => ({ status, code, ack: buildAck(message, code, errors) });
  const msh = new Fields(message.getSegment('MSH')!);
  const type = `${msh.component(9, 1).trim().toUpperCase()}^${msh.component(9, 2).trim().toUpperCase()}`;
  const event = msh.component(9, 2).trim().toUpperCase();
  const isAdt = type.startsWith('ADT^') && Boolean(ADT_EVENTS[event]);
  if (type !== 'ORU^R01' && !isAdt) {
    return answer(400, 'AR', [errSegment('MSH^1^9', ['200', 'Unsupported message type'],
      `Message type ${safe(msh.component(9, 1)) || '(none)'}^${safe(msh.component(9, 2))} is not accepted: send ORU^R01, or ADT^${Object.keys(ADT_EVENTS).join('/')}`)]);
  }
  const controlId = msh.value(10);
  if (!controlId || controlId.length > 100) return answer(400, 'AR', [errSegment('MSH^1^10', ['101', 'Required field missing'], 'The message control id (MSH-10) is required, at most 100 characters')]);
  if (/\u0000/.test(text)) return answer(400, 'AR', [errSegment('MSH^1', ['102', 'Data type error'], 'The message contains a NUL character')]);

  const hash = contentHash(message);
  const keys = isAdt ? [] : resultKeys(message).filter((k): k is string => Boolean(k));
  const internal = internalCaller({ ...options, requestId, actor });
  let known: { ack: string | null; contentHash?: string | null; results?: Record<string, string> };
  try {
    known = await internal.call(INTERNAL_APIS.hl7v2Ack, { controlId, resultSystem: hl7v2ResultSystem(actor.org!), resultValues: keys }, 'labs');
  } catch {
    return answer(503, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], 'The laboratory results service is unavailable; resend later')]);
  }
  if (known.ack) {
    // A replay (same content; messages stored before digests were kept count as replays): the same answer as the first time.
    if (!known.contentHash || known.contentHash === hash) return { status: 200, code: 'AA', ack: known.ack };
    return answer(409, 'AE', [errSegment('MSH^1^10', ['205', 'Duplicate key identifier'],
      `Control id ${controlId} (MSH-10) was already used for a message with other content; nothing of this message was stored. Send it with a new control id.`)]);
  }

  const issues: Issue[] = [];
  if (event === 'A40' && isAdt) return merge(message, actor, internal, answer, hash, controlId, requestId, options);
  if (event === 'A03' && isAdt) return discharge(message, actor, internal, answer, hash, controlId, requestId, options);
  const { resources, origins }: { resources: MappedResource[]; origins: Map<number, Origin> } = isAdt
    ? adtToResources(message, event, actor.org!, controlId, issues)
    : oruToResources(message, { actor, controlId, existingResults: new Map(Object.entries(known.results ?? {})) }, issues);
  if (event === 'A08' && isAdt && !issues.length && resources[0]?.resource.identifier?.length) {
    // An update of a patient the organisation registered: its registration takes the demographics sent (else it is registered).
    try {
      const { patientId } = await internal.call<{ patientId: string | null }>(INTERNAL_APIS.hl7v2Merge, { find: resources[0].resource.identifier.map((i: { system: string; value: string }) => ({ system: i.system, value: i.value })) }, 'identity');
      if (patientId) {
        resources[0].request = { method: 'PUT', id: patientId };
        resources[0].resource.id = patientId;
      }
    } catch {
      return answer(503, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], 'The patient index is unavailable; resend later')]);
    }
  }
  const context: BundleContext = { actor, organizationId: actor.org!, fullUrls: new Map(), independent: false };
  resources.forEach((entry, index) => context.fullUrls.set(entry.fullUrl, { index, resourceType: entry.resource.resourceType }));
  const mapped = issues.length ? [] : mapEntries(resources.map((entry, index) => ({
    index, base: `Bundle.entry[${index}].resource`, resource: entry.resource,
    request: entry.request.method === 'PUT'
      ? { method: 'PUT' as const, id: entry.request.id, expression: `Bundle.entry[${index}].request.url` }
      : { method: 'POST' as const, ifNoneExist: entry.request.ifNoneExist ?? null, expression: `Bundle.entry[${index}].request.url` },
  })), context, issues);
  const errors = (list: Issue[]) => list.slice(0, 50).map((i) => errOf(i, origins));
  if (issues.length) return answer(statusOf(issues), 'AE', errors(issues));

  // The ACK is stored with the results, so a replay gets exactly this text.
  const accepted = buildAck(message, 'AA');
  const log: MappedEntry = {
    index: resources.length, path: 'MessageHeader', resourceType: 'MessageHeader', kind: 'hl7v2-message', owner: 'labs', op: 'create', id: randomUUID(),
    category: 'labs', ifNoneExist: null, identifiers: [], record: { control_id: controlId, ack: accepted, content_hash: hash }, refs: {},
    patient: { entry: 0 }, patientExpression: 'PID',
  };
  try {
    await options.coordinator.run(actor, requestId, [...mapped, log]);
    return { status: 200, code: 'AA', ack: accepted };
  } catch (error) {
    if (!(error instanceof TransactionFailed)) {
      return answer(503, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], 'The message could not be stored now; nothing was written. Resend later.')]);
    }
    // Another publication of the same records is still in progress (a concurrent message with the same control id or
    // order, or one left unfinished by a gateway that died until recovery settles it): nothing is wrong with this
    // message, so an AR (resend later), never an AE a sender would not resend. Else: refused as the issues say.
    const transient = error.status === 503 || (error.issues.length > 0 && error.issues.every((i) => i.code === 'conflict' || i.status === 503));
    return answer(error.status, transient ? 'AR' : 'AE', errors(error.issues));
  }
}

/**
 * ADT^A40: the two patients become a match candidate for administrators
 * (identity, merge-request.ts), never merged here. AA once recorded (or
 * already recorded); AE when the organisation registered no patient under one
 * of the identifiers.
 */
async function merge(message: Hl7Message, actor: Actor, internal: ReturnType<typeof internalCaller>, answer: (status: number, code: AckCode, errors?: Hl7Segment[]) => Hl7Answer,
  hash: string, controlId: string, requestId: string, options: ProcessorOptions): Promise<Hl7Answer> {
  const { survivor, prior, problem } = mergeOf(message, actor.org!);
  if (problem) return answer(400, 'AE', [errSegment(problem.location, ['101', 'Required field missing'], problem.text)]);
  let outcome: string;
  try {
    ({ outcome } = await internal.call<{ outcome: string }>(INTERNAL_APIS.hl7v2Merge, { survivor, prior }, 'identity'));
  } catch (error) {
    const code = (error as { extensions?: { code?: string } })?.extensions?.code;
    if (code === 'FORBIDDEN') return answer(403, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], 'This caller may not publish patients')]);
    if (code === 'BAD_USER_INPUT') return answer(400, 'AE', [errSegment('MRG^1^1', ['102', 'Data type error'], 'The identifiers to merge are malformed')]);
    return answer(503, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], 'The patient index is unavailable; resend later')]);
  }
  if (outcome === 'unknown-survivor') return answer(404, 'AE', [errSegment('PID^1^3', ['204', 'Unknown key identifier'], 'Your organisation registered no patient with the PID-3 identifier')]);
  if (outcome === 'unknown-prior') return answer(404, 'AE', [errSegment('MRG^1^1', ['204', 'Unknown key identifier'], 'Your organisation registered no patient with the MRG-1 identifier')]);
  // Recorded (or nothing to do): the ACK is kept like any other, so a replay gets it back.
  const accepted = buildAck(message, 'AA');
  const log: MappedEntry = {
    index: 0, path: 'MessageHeader', resourceType: 'MessageHeader', kind: 'hl7v2-message', owner: 'labs', op: 'create', id: randomUUID(),
    category: 'labs', ifNoneExist: null, identifiers: [], record: { control_id: controlId, ack: accepted, content_hash: hash }, refs: {},
    patient: { identifier: { system: survivor[0]!.system, value: survivor[0]!.value } }, patientExpression: 'PID',
  };
  try {
    await options.coordinator.run(actor, requestId, [log]);
  } catch {
    // The match candidate is recorded; only the replay log failed: a resend records nothing twice (the candidate is unique).
  }
  return { status: 200, code: 'AA', ack: accepted };
}

/**
 * ADT^A03: the sender's inpatient stay of PV1-19, of the patient of PID-3, is
 * discharged by the encounters subgraph exactly as the GraphQL
 * `recordDischarge` does, follow-up plan included (both happen, or neither).
 * AA once discharged (a resend of the same discharge too); AE naming the field
 * when the visit, the patient or the plan does not fit.
 */
async function discharge(message: Hl7Message, actor: Actor, internal: ReturnType<typeof internalCaller>, answer: (status: number, code: AckCode, errors?: Hl7Segment[]) => Hl7Answer,
  hash: string, controlId: string, requestId: string, options: ProcessorOptions): Promise<Hl7Answer> {
  const { request, problem } = dischargeOf(message, actor.org!);
  if (problem || !request) return answer(400, 'AE', [errSegment(problem!.location, problem!.code, problem!.text)]);
  const unavailable = (what: string) => answer(503, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], `${what} is unavailable; nothing was recorded. Resend later.`)]);
  let patientId: string | null;
  try {
    ({ patientId } = await internal.call<{ patientId: string | null }>(INTERNAL_APIS.hl7v2Merge, { find: request.patient }, 'identity'));
  } catch (error) {
    const code = (error as { extensions?: { code?: string } })?.extensions?.code;
    if (code === 'FORBIDDEN') return answer(403, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], 'This caller may not publish patients')]);
    if (code === 'BAD_USER_INPUT') return answer(400, 'AE', [errSegment('PID^1^3', ['102', 'Data type error'], 'The patient identifiers are malformed')]);
    return unavailable('The patient index');
  }
  if (!patientId) return answer(404, 'AE', [errSegment('PID^1^3', ['204', 'Unknown key identifier'], 'Your organisation registered no patient with the PID-3 identifier')]);
  let outcome: string;
  try {
    ({ outcome } = await internal.call<{ outcome: string }>(INTERNAL_APIS.hl7v2Discharge, {
      visit: request.visit, patientId, dischargedAt: request.dischargedAt, disposition: request.disposition, primaryCareOrganizationId: request.primaryCareOrganizationId,
    }, 'encounters'));
  } catch (error) {
    const failure = error as { message?: string; extensions?: { code?: string } };
    const code = failure?.extensions?.code;
    const reason = (failure.message ?? '').slice(0, 300);
    if (code === 'CONFLICT') return answer(409, 'AE', [errSegment('PV1^1^19', ['206', 'Application record locked'], `The stay of visit ${request.visit.value} has already ended: ${reason}`)]);
    if (code === 'BAD_USER_INPUT') {
      const location = /primaryCareOrganizationId|primary-care/i.test(reason) ? 'PD1^1^3' : /admission|future|dischargedAt/.test(reason) ? 'PV1^1^45' : /inpatient/.test(reason) ? 'PV1^1^2' : 'PV1^1';
      return answer(400, 'AE', [errSegment(location, ['207', 'Application internal error'], reason.replace(/dischargedAt/g, 'The discharge time').replace(/primaryCareOrganizationId/g, 'PD1-3'))]);
    }
    if (code === 'FORBIDDEN') return answer(403, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], reason || 'This caller may not record discharges')]);
    if (code === 'NOT_FOUND') return answer(404, 'AE', [errSegment('PV1^1^19', ['204', 'Unknown key identifier'], reason)]);
    return unavailable('The encounters or public-health service');
  }
  if (outcome === 'unknown-visit') return answer(404, 'AE', [errSegment('PV1^1^19', ['204', 'Unknown key identifier'], `Your organisation sent no admission (ADT^A01) for visit ${request.visit.value}`)]);
  if (outcome === 'other-patient') return answer(409, 'AE', [errSegment('PID^1^3', ['205', 'Duplicate key identifier'], `Visit ${request.visit.value} is another patient's stay`)]);
  // Discharged (or this very discharge was already recorded): the ACK is kept like any other, so a replay gets it back.
  const accepted = buildAck(message, 'AA');
  const log: MappedEntry = {
    index: 0, path: 'MessageHeader', resourceType: 'MessageHeader', kind: 'hl7v2-message', owner: 'labs', op: 'create', id: randomUUID(),
    category: 'labs', ifNoneExist: null, identifiers: [], record: { control_id: controlId, ack: accepted, content_hash: hash }, refs: {},
    patient: { identifier: { system: request.patient[0]!.system, value: request.patient[0]!.value } }, patientExpression: 'PID',
  };
  try {
    await options.coordinator.run(actor, requestId, [log]);
  } catch {
    // The discharge is recorded; only the replay log failed: a resend finds the stay discharged at the same time and answers AA again.
  }
  return { status: 200, code: 'AA', ack: accepted };
}
