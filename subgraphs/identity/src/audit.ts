/**
 * The audit trail, stored by identity: append-only events chained by hash.
 *
 * Each event's hash is SHA-256 over the previous event's hash and the event's
 * own fields in a fixed order, so changing, removing or reordering any event
 * breaks every link after it. Appends take an advisory lock so concurrent
 * gateways extend one chain.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Actor } from '../../../lib/actor.js';
import type { Database, Queryable } from '../../../lib/db.js';

export const GENESIS_HASH = '0'.repeat(64);
const APPEND_LOCK = 727_001;

export interface DisclosedPatient {
  patientId: string;
  /** Records disclosed per category. */
  recordCounts: Record<string, number>;
  breakGlass: boolean;
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
  prev_hash: string;
  hash: string;
}

type EventFields = Omit<AuditEventRow, 'seq' | 'hash' | 'prev_hash'>;

/** The canonical text an event's hash covers. */
function canonical(event: EventFields): string {
  const counts = Object.fromEntries(Object.entries(event.record_counts).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify([
    event.id, new Date(event.occurred_at).toISOString(), event.request_id, event.actor_sub, event.actor_role, event.actor_organization_id,
    event.client_id, event.patient_id, [...event.categories].sort(), counts, event.purpose_of_use, event.break_glass, event.break_glass_reason, event.decision,
  ]);
}

export const eventHash = (prevHash: string, event: EventFields) => createHash('sha256').update(prevHash).update('\n').update(canonical(event)).digest('hex');

/** Appends one event per disclosed patient, in one transaction. Throws if the store refuses. */
export async function appendAuditEvents(db: Database, actor: Actor, requestId: string, patients: DisclosedPatient[]): Promise<number> {
  if (patients.length === 0) return 0;
  return db.transaction(async (tx: Queryable) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
    const [last] = await tx.query<{ hash: string }>('SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1');
    let prevHash = last?.hash ?? GENESIS_HASH;
    const occurredAt = new Date();
    const rows = patients.map((patient) => {
      const fields: EventFields = {
        id: randomUUID(), occurred_at: occurredAt, request_id: requestId, actor_sub: actor.sub, actor_role: actor.role,
        actor_organization_id: actor.org, client_id: actor.clientId, patient_id: patient.patientId,
        categories: Object.keys(patient.recordCounts).sort(), record_counts: patient.recordCounts, purpose_of_use: actor.purposeOfUse,
        break_glass: patient.breakGlass, break_glass_reason: patient.breakGlass ? actor.breakGlassReason : null, decision: 'permit',
      };
      const hash = eventHash(prevHash, fields);
      const row = { ...fields, occurred_at: occurredAt.toISOString(), prev_hash: prevHash, hash };
      prevHash = hash;
      return row;
    });
    // One statement; rows go in the chain's order so seq follows the links.
    await tx.query(
      `INSERT INTO audit_event (id, occurred_at, request_id, actor_sub, actor_role, actor_organization_id, client_id, patient_id, categories,
         record_counts, purpose_of_use, break_glass, break_glass_reason, decision, prev_hash, hash)
       SELECT (e->>'id')::uuid, (e->>'occurred_at')::timestamptz, e->>'request_id', e->>'actor_sub', e->>'actor_role',
         e->>'actor_organization_id', e->>'client_id', (e->>'patient_id')::uuid, ARRAY(SELECT jsonb_array_elements_text(e->'categories')),
         e->'record_counts', e->>'purpose_of_use', (e->>'break_glass')::boolean, e->>'break_glass_reason', e->>'decision', e->>'prev_hash', e->>'hash'
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, ord)
       ORDER BY ord`,
      [JSON.stringify(rows)],
    );
    return rows.length;
  });
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
