/**
 * The audit trail, stored by identity: append-only events chained by hash.
 * An event records a disclosure (what the gateway reports a request
 * returned) or a consent change (written in the same transaction as the
 * change itself, so neither exists without the other).
 *
 * Each event's hash is SHA-256 over the previous event's hash and the event's
 * own fields in a fixed order, so changing, removing or reordering any event
 * breaks every link after it. Appends take an advisory lock so concurrent
 * gateways extend one chain.
 */
import { createHash, randomUUID } from 'node:crypto';
import { PURPOSES, ROLES, type AuditActor } from '../../../lib/trust/actor.js';
import { isUuid } from '../../../lib/records/connection.js';
import type { Database, Queryable } from '../../../lib/runtime/db.js';
import { badInput } from '../../../lib/runtime/errors.js';
import { CATEGORIES } from '../../../lib/trust/scopes.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface DisclosedPatient {
  patientId: string;
  /** Records disclosed per category. */
  recordCounts: Record<string, number>;
  breakGlass: boolean;
}

/**
 * What an event records (AuditAction in the schema, lower-kebab here): a disclosure, a consent change (a
 * directive granted, requested by staff, confirmed, declined, revoked), a publication (create, update), the
 * removal of sensitivity labels, a master patient index decision.
 */
export type AuditAction = 'disclosure' | 'consent-granted' | 'consent-requested' | 'consent-confirmed' | 'consent-declined' | 'consent-revoked'
  | 'create' | 'update' | 'labels-removed' | 'patient-linked' | 'patient-kept-distinct';

export interface AuditEntry extends DisclosedPatient {
  action?: AuditAction;
  /** What changed (consent changes): kept in the event and covered by its hash. */
  details?: Record<string, unknown> | null;
}

export interface AuditEventRow {
  seq: string | number;
  id: string;
  occurred_at: Date;
  request_id: string;
  actor_sub: string;
  actor_role: string;
  actor_organization_id: string | null;
  client_id: string | null;
  patient_id: string;
  categories: string[];
  record_counts: Record<string, number>;
  purpose_of_use: string;
  break_glass: boolean;
  break_glass_reason: string | null;
  decision: string;
  action: AuditAction;
  details: Record<string, unknown> | null;
  prev_hash: string;
  hash: string;
}

type EventFields = Omit<AuditEventRow, 'seq' | 'hash' | 'prev_hash'>;

const sortedKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sortedKeys(v)]));
  return value;
};

/**
 * The canonical text an event's hash covers. Disclosures hash exactly as
 * they did before events had an action, so chains written then still verify.
 */
function canonical(event: EventFields): string {
  const fields: unknown[] = [
    event.id, new Date(event.occurred_at).toISOString(), event.request_id, event.actor_sub, event.actor_role, event.actor_organization_id,
    event.client_id, event.patient_id, [...event.categories].sort(), sortedKeys(event.record_counts), event.purpose_of_use, event.break_glass, event.break_glass_reason, event.decision,
  ];
  if (event.action && event.action !== 'disclosure') fields.push(event.action, sortedKeys(event.details ?? null));
  return JSON.stringify(fields);
}

export const eventHash = (prevHash: string, event: EventFields) => createHash('sha256').update(prevHash).update('\n').update(canonical(event)).digest('hex');

/**
 * The disclosures in the gateway's report (at most 1000 patients): only
 * disclosures, whatever else the body holds; anything malformed is refused.
 */
export function disclosuresOf(body: unknown): DisclosedPatient[] {
  const patients = (body as { patients?: unknown } | null)?.patients;
  if (!Array.isArray(patients) || patients.length > 1000) throw badInput('Malformed audit report');
  return patients.map((p: Partial<DisclosedPatient> | null) => {
    const counts = p?.recordCounts;
    if (!p || !isUuid(p.patientId) || !counts || typeof counts !== 'object' || Array.isArray(counts)
      || !Object.entries(counts).every(([category, n]) => (CATEGORIES as readonly string[]).includes(category) && Number.isInteger(n) && (n as number) >= 0)) {
      throw badInput('Malformed audit report');
    }
    return { patientId: p.patientId, recordCounts: counts, breakGlass: p.breakGlass === true };
  });
}

const text = (value: unknown, max = 200): value is string => typeof value === 'string' && value.length > 0 && value.length <= max;
const textOrNull = (value: unknown, max = 500) => value === null || text(value, max);

/**
 * The gateway's report of what several requests disclosed (it gathers the
 * requests that finish while an append is in flight, gateway/src/audit.ts):
 * for each, its id, its actor and its disclosures. The actor travels in the
 * body because one call carries several requests; the body is bound to the
 * call token, which only the gateway can make (INTERNAL_APIS.auditEvents),
 * and the gateway is what verified each actor's bearer token. Anything
 * malformed refuses the whole report.
 */
export function auditReportOf(body: unknown): RequestEvents[] {
  const requests = (body as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests) || requests.length === 0 || requests.length > 200) throw badInput('Malformed audit report');
  let patients = 0;
  const report = requests.map((request: { requestId?: unknown; actor?: Partial<Record<keyof AuditActor, unknown>>; patients?: unknown } | null) => {
    const actor = request?.actor;
    if (!request || !text(request.requestId, 100) || !actor || !text(actor.sub) || !(ROLES as readonly unknown[]).includes(actor.role)
      || !textOrNull(actor.org) || !textOrNull(actor.clientId) || !(PURPOSES as readonly unknown[]).includes(actor.purposeOfUse) || !textOrNull(actor.breakGlassReason)) {
      throw badInput('Malformed audit report');
    }
    const entries = disclosuresOf({ patients: request.patients });
    patients += entries.length;
    return {
      requestId: request.requestId,
      actor: { sub: actor.sub, role: actor.role, org: actor.org, clientId: actor.clientId, purposeOfUse: actor.purposeOfUse, breakGlassReason: actor.breakGlassReason } as AuditActor,
      patients: entries,
    };
  });
  if (patients > 5000) throw badInput('Malformed audit report');
  return report;
}

/**
 * Appends the events, inside the caller's transaction when given one (a
 * consent change and its event commit together). One round trip: the
 * database function `audit_append` (migration 007) takes the chain lock,
 * reads the head and links each event's canonical text (built here, the same
 * text verifyAuditChain checks) to the one before.
 */
export async function appendAuditEventsIn(db: Queryable, actor: AuditActor, requestId: string, patients: AuditEntry[]): Promise<number> {
  return (await appendRequestEvents(db, [{ actor, requestId, patients }]))[0]!;
}

/** One request's events: its actor, its id, one entry per patient. */
export interface RequestEvents {
  actor: AuditActor;
  requestId: string;
  patients: AuditEntry[];
}

/**
 * Appends the events of several requests in one statement, in order, all or
 * none; answers how many each request got.
 */
export async function appendRequestEvents(db: Queryable, requests: RequestEvents[]): Promise<number[]> {
  const occurredAt = new Date();
  const events = requests.flatMap(({ actor, requestId, patients }) => patients.map((patient) => {
    const fields: EventFields = {
      id: randomUUID(), occurred_at: occurredAt, request_id: requestId, actor_sub: actor.sub, actor_role: actor.role,
      actor_organization_id: actor.org, client_id: actor.clientId, patient_id: patient.patientId,
      categories: Object.keys(patient.recordCounts).sort(), record_counts: patient.recordCounts, purpose_of_use: actor.purposeOfUse,
      break_glass: patient.breakGlass, break_glass_reason: patient.breakGlass ? actor.breakGlassReason : null, decision: 'permit',
      action: patient.action ?? 'disclosure', details: patient.details ?? null,
    };
    return { ...fields, occurred_at: occurredAt.toISOString(), canonical: canonical(fields) };
  }));
  if (events.length === 0) return requests.map(() => 0);
  const [row] = await db.query<{ appended: number }>('SELECT audit_append($1::jsonb) AS appended', [JSON.stringify(events)]);
  // One statement: every event was appended, or none (the statement failed and threw).
  if (Number(row?.appended ?? 0) !== events.length) throw new Error('the audit store appended fewer events than sent');
  return requests.map((request) => request.patients.length);
}

export interface ChainReport {
  events: number;
  /** The first event whose link does not hold, or null when the chain is intact. */
  firstBroken: { seq: number; id: string; reason: string } | null;
}

/** Walks the whole chain in order and reports the first broken link. */
export async function verifyAuditChain(db: Database, batchSize = 10_000): Promise<ChainReport> {
  let prevHash = GENESIS_HASH;
  let afterSeq = 0;
  let events = 0;
  for (;;) {
    const rows = await db.query<AuditEventRow>('SELECT * FROM audit_event WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, batchSize]);
    if (rows.length === 0) return { events, firstBroken: null };
    for (const row of rows) {
      const seq = Number(row.seq);
      if (row.prev_hash !== prevHash) return { events, firstBroken: { seq, id: row.id, reason: 'previous hash does not match the event before it (an event was removed or reordered)' } };
      if (eventHash(row.prev_hash, row) !== row.hash) return { events, firstBroken: { seq, id: row.id, reason: 'hash does not match the event (the event was changed)' } };
      prevHash = row.hash;
      afterSeq = seq;
      events++;
    }
  }
}
