/**
 * The audit trail, stored by identity: append-only events chained by hash.
 * An event records a disclosure (what the gateway reports a request
 * returned) or a consent change (written in the same transaction as the
 * change itself, so neither exists without the other).
 *
 * Each event's hash is SHA-256 over the previous event's hash and the event's
 * own fields in a fixed order, so changing, removing or reordering any event
 * breaks every link after it. The events written before migration 030 form
 * one chain (shard null); since then the trail is partitioned by month and
 * split into shard chains, each anchored on that first chain's last hash, so
 * appends from several identity replicas proceed in parallel, one per shard
 * (migration 030 says why; docs/security.md#audit).
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
 * database function `audit_append` (migrations 007, 030) makes the month's
 * partition if it is missing, takes a free shard chain, reads its head and
 * links each event's canonical text (built here, the same text
 * verifyAuditChain checks) to the one before.
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
 * none; answers how many each request got. `occurredAt` is now (tests pass
 * another time to cross a month).
 */
export async function appendRequestEvents(db: Queryable, requests: RequestEvents[], occurredAt = new Date()): Promise<number[]> {
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
  /** The first event (in seq order) whose link does not hold, or null when the trail is intact. */
  firstBroken: {
    seq: number;
    id: string;
    reason: string;
    /** Its chain: a shard, or null for the chain written before the trail was sharded. */
    shard?: number | null;
    /** The partition holding it. */
    partition?: string;
  } | null;
  /** Events per chain ('legacy' or the shard number), up to the first broken link. */
  chains?: Record<string, number>;
  /** Events per partition, up to the first broken link. */
  partitions?: Record<string, number>;
}

type StoredEvent = AuditEventRow & { shard: number | null; partition: string };

/**
 * Walks the whole trail in seq order, across its partitions and chains, and
 * reports the first broken link. One snapshot (REPEATABLE READ): appends that
 * commit meanwhile on other shards cannot show up as gaps. Checks:
 *
 * - every event links to the event before it in its own chain: the legacy
 *   chain (shard null, from the genesis hash) or its shard's chain, whose
 *   first event links to the legacy chain's last hash (the anchor recorded by
 *   migration 030); and its hash covers it;
 * - no legacy event after the first sharded one;
 * - the legacy chain ends at the recorded anchor, and each shard's chain at
 *   its recorded head (audit_chain_head): events removed from a chain's end.
 *
 * Within a shard, seq grows in chain order (an append draws its seq numbers
 * while it holds the shard), so one pass in seq order suffices.
 */
export async function verifyAuditChain(db: Database, batchSize = 10_000): Promise<ChainReport> {
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    // A store not yet migrated to 030 has the one chain alone.
    const [layout] = await tx.query<{ sharded: boolean }>("SELECT to_regclass('audit_legacy_segment') IS NOT NULL AS sharded");
    const [segment] = layout?.sharded ? await tx.query<{ head: string; last_seq: string | null }>('SELECT head, last_seq FROM audit_legacy_segment') : [];
    const anchor = segment?.head ?? null;
    const heads = layout?.sharded ? await tx.query<{ shard: number; hash: string; last_seq: string | null }>('SELECT shard, hash, last_seq FROM audit_chain_head ORDER BY shard') : [];
    const knownShards = new Set(heads.map((h) => Number(h.shard)));
    let legacyHead = GENESIS_HASH;
    let sharded = false;
    const shardHeads = new Map<number, string>();
    const chains: Record<string, number> = {};
    const partitions: Record<string, number> = {};
    let afterSeq = 0;
    let events = 0;
    const report = (row: StoredEvent | { seq: string | number; id: string; shard: number | null; partition?: string }, reason: string): ChainReport => ({
      events, chains, partitions,
      firstBroken: { seq: Number(row.seq), id: row.id, reason, shard: row.shard, partition: row.partition },
    });
    const anchorMismatch = 'the chain written before the trail was sharded does not end at the hash its shards were anchored to (events were removed from or added to its end)';
    for (;;) {
      const rows = await tx.query<StoredEvent>('SELECT *, tableoid::regclass::text AS partition FROM audit_event WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, batchSize]);
      if (rows.length === 0) break;
      for (const row of rows) {
        const shard = row.shard === null || row.shard === undefined ? null : Number(row.shard);
        let expected: string;
        if (shard === null) {
          if (sharded) return report(row, 'an event of the chain written before the trail was sharded comes after sharded events (an event was inserted)');
          expected = legacyHead;
        } else {
          if (!knownShards.has(shard)) return report(row, `shard ${shard} is not one of the trail's shards (an event was inserted or moved)`);
          if (!sharded) {
            sharded = true;
            if (anchor !== null && legacyHead !== anchor) return report(row, anchorMismatch);
          }
          expected = shardHeads.get(shard) ?? anchor ?? GENESIS_HASH;
        }
        if (row.prev_hash !== expected) return report(row, 'previous hash does not match the event before it in its chain (an event was removed, inserted or reordered)');
        if (eventHash(row.prev_hash, row) !== row.hash) return report(row, 'hash does not match the event (the event was changed)');
        if (shard === null) legacyHead = row.hash;
        else shardHeads.set(shard, row.hash);
        const chain = shard === null ? 'legacy' : String(shard);
        chains[chain] = (chains[chain] ?? 0) + 1;
        partitions[row.partition] = (partitions[row.partition] ?? 0) + 1;
        afterSeq = Number(row.seq);
        events++;
      }
    }
    if (anchor !== null && !sharded && legacyHead !== anchor) {
      return { events, chains, partitions, firstBroken: { seq: Number(segment!.last_seq ?? 0), id: '', reason: anchorMismatch, shard: null } };
    }
    for (const head of heads) {
      const shard = Number(head.shard);
      const last = shardHeads.get(shard) ?? anchor ?? GENESIS_HASH;
      if (head.hash !== last) {
        return { events, chains, partitions, firstBroken: { seq: Number(head.last_seq ?? 0), id: '', shard,
          reason: `shard ${shard} does not end at its recorded head (event #${head.last_seq}): events were removed from or added to its end` } };
      }
    }
    return { events, chains, partitions, firstBroken: null };
  });
}
