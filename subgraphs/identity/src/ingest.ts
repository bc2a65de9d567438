/**
 * Identity's part in publishing (see gateway/src/fhir/ingest/coordinator.ts
 * for the protocol):
 *
 * - **the coordinator's log** (`ingest_decision`): the gateway opens every
 *   publishing transaction here (stage), records its decision here (decide),
 *   and recovery reads here which owners still have to be told. A decision
 *   is taken once; commit also stores the transaction's audit events and
 *   writes identity's own entries in the same local transaction, so a
 *   publication is never visible without its audit events, and identity's
 *   records never without the decision.
 * - **the master patient index**: a published Patient is matched on the
 *   regional health card or the institution's own medical record number.
 *   A match links the new identifiers to the existing patient (the
 *   institution now holds a registration); no match creates a patient, and
 *   an existing patient with the same name, birth date and gender but no
 *   shared identifier becomes a match candidate for administrators to
 *   resolve, never an automatic merge.
 * - **patient references** of the other entries (`Patient/{id}`, or by
 *   identifier) are resolved to the patient (the survivor, for a merged-away
 *   id), and only for patients the publishing organisation holds a
 *   registration for.
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../../../lib/actor.js';
import type { Database, Queryable } from '../../../lib/db.js';
import { badInput, ErrorCode, productError } from '../../../lib/errors.js';
import { publishingOrganization } from '../../../lib/ingest/participant.js';
import type {
  DecideRequest, EntryIssue, EntryResult, IdentityStageAnswer, IdentityStageRequest, StageEntry, UndeliveredDecision, WriteAudit,
} from '../../../lib/ingest/types.js';
import { isUuidText } from '../../../lib/ingest/types.js';
import type { InternalRequest } from '../../../lib/internal-api.js';
import { CATEGORIES } from '../../../lib/scopes.js';
import { SUBGRAPH_NAMES } from '../../../lib/services.js';
import { SYSTEM } from '../../../lib/terminology.js';
import { appendAuditEventsIn } from './audit.js';

type Row = Record<string, any>;

/**
 * How long a transaction may stay undecided before recovery aborts it: far
 * longer than the gateway's deadline for one publication (its calls time out
 * after INTERNAL_API_TIMEOUT_MS each), so only an abandoned one is aborted.
 */
export const STALE_TRANSACTION_SECONDS = Number(process.env.INGEST_STALE_SECONDS ?? 120);

/** What identity stages for one Patient entry, applied when the transaction commits. */
interface PatientWrite {
  action: 'create' | 'link' | 'update';
  patientId: string;
  demographics: Row | null;
  identifiers: { system: string; value: string; type: 'HC' | 'MR' }[];
  candidates: string[];
}

class Refused extends Error {
  constructor(readonly issues: EntryIssue[]) {
    super('refused');
  }
}

const identifierType = (system: string, organizationId: string): 'HC' | 'MR' | null =>
  system === SYSTEM.healthCard ? 'HC' : system === SYSTEM.mrnPrefix + organizationId ? 'MR' : null;

const DEMOGRAPHICS = ['family', 'given', 'birth_date', 'gender', 'phone', 'email', 'address_line', 'address_city', 'address_postal_code'];

function parseStage(body: unknown): IdentityStageRequest {
  const request = body as Partial<IdentityStageRequest> | null;
  if (!request || !isUuidText(request.transactionId) || !Array.isArray(request.entries) || !Array.isArray(request.patientRefs) || !Array.isArray(request.participants)
    || !request.participants.every((p) => (SUBGRAPH_NAMES as readonly string[]).includes(p)) || request.entries.length + request.patientRefs.length > 20_000) {
    throw badInput('Malformed stage request');
  }
  for (const entry of request.entries) {
    if (!entry || entry.kind !== 'patient' || !isUuidText(entry.id) || !['create', 'update'].includes(entry.op) || !Number.isInteger(entry.index)) throw badInput('Malformed stage entry');
  }
  return request as IdentityStageRequest;
}

/** Follows a merged-away patient to its survivor (links are kept one hop deep). */
async function survivors(tx: Queryable, ids: string[]): Promise<Map<string, string>> {
  const rows = ids.length ? await tx.query<Row>('SELECT id, merged_into FROM patient WHERE id = ANY($1::uuid[])', [ids]) : [];
  return new Map(rows.map((row) => [String(row.id), String(row.merged_into ?? row.id)]));
}

/** Opens the transaction, resolves patient references and stages the Patient entries (module comment). */
export async function stagePatients(db: Database, call: InternalRequest, body: unknown): Promise<IdentityStageAnswer> {
  const organizationId = publishingOrganization(call);
  const request = parseStage(body);
  try {
    return await db.transaction((tx) => stageIn(tx, call.actor, organizationId, request));
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    await db.query(
      `INSERT INTO ingest_decision (transaction_id, organization_id, actor, participants, state, delivered, decided_at)
       VALUES ($1, $2, $3::jsonb, $4::text[], 'aborted', true, now()) ON CONFLICT (transaction_id) DO NOTHING`,
      [request.transactionId, organizationId, JSON.stringify(call.actor), request.participants]);
    return { ok: false, issues: error.issues };
  }
}

async function stageIn(tx: Queryable, actor: Actor, organizationId: string, request: IdentityStageRequest): Promise<IdentityStageAnswer> {
  const { transactionId } = request;
  const opened = await tx.query(
    `INSERT INTO ingest_decision (transaction_id, organization_id, actor, participants, state) VALUES ($1, $2, $3::jsonb, $4::text[], 'pending')
     ON CONFLICT (transaction_id) DO NOTHING RETURNING transaction_id`,
    [transactionId, organizationId, JSON.stringify(actor), request.participants]);
  if (!opened.length) throw new Refused([{ index: -1, status: 409, code: 'conflict', message: 'This transaction was already opened', expression: 'Bundle' }]);
  await tx.query(`INSERT INTO ingest_transaction (id, state, organization_id) VALUES ($1, 'staged', $2)`, [transactionId, organizationId]);

  const issues: EntryIssue[] = [];
  const issue = (entry: StageEntry, status: number, code: EntryIssue['code'], message: string, element = '') =>
    issues.push({ index: entry.index, status, code, message, expression: element ? `${entry.path}.${element}` : entry.path });

  // Every identifier the Patient entries carry, looked up once.
  const all = request.entries.flatMap((e) => e.identifiers);
  const refIdentifiers = request.patientRefs.flatMap((r) => (r.identifier ? [r.identifier] : []));
  const lookups = [...all, ...refIdentifiers];
  const found = lookups.length
    ? await tx.query<Row>(
      `SELECT i.system, i.value, i.patient_id, i.assigner_organization_id, COALESCE(p.merged_into, p.id) AS survivor
       FROM patient_identifier i JOIN patient p ON p.id = i.patient_id
       JOIN jsonb_to_recordset($1::jsonb) AS w(system text, value text) ON w.system = i.system AND w.value = i.value`, [JSON.stringify(lookups)])
    : [];
  const holder = new Map(found.map((row) => [`${row.system}|${row.value}`, String(row.survivor)]));

  const writes: PatientWrite[] = [];
  const results: EntryResult[] = [];
  const registeredHere = new Set<string>();
  const seen = new Map<string, number>();
  for (const entry of request.entries) {
    const identifiers: PatientWrite['identifiers'] = [];
    entry.identifiers.forEach((identifier, n) => {
      const type = identifierType(identifier.system, organizationId);
      if (!type) issue(entry, 403, 'forbidden', 'Only the health card and your own organisation\'s medical record numbers may be published', `identifier[${n}]`);
      const key = `${identifier.system}|${identifier.value}`;
      if (seen.has(key) && seen.get(key) !== entry.index) issue(entry, 400, 'duplicate', `Entry ${seen.get(key)} of this request has the same identifier`, `identifier[${n}]`);
      seen.set(key, entry.index);
      if (type) identifiers.push({ ...identifier, type });
    });
    const demographics = Object.fromEntries(DEMOGRAPHICS.map((column) => [column, entry.record[column] ?? null]));
    if (entry.op === 'update') {
      const [row] = await tx.query<Row>('SELECT id, merged_into FROM patient WHERE id = $1', [entry.id]);
      if (!row || row.merged_into) {
        issue(entry, 404, 'not-found', `No Patient with id ${entry.id}${row?.merged_into ? ` (it was linked to Patient/${row.merged_into})` : ''}`, 'id');
        continue;
      }
      const [registered] = await tx.query('SELECT 1 FROM patient_identifier WHERE patient_id = $1 AND type = $2 AND assigner_organization_id = $3', [entry.id, 'MR', organizationId]);
      if (!registered) {
        issue(entry, 403, 'forbidden', 'Only an organisation that registered the patient updates their demographics', 'id');
        continue;
      }
      const foreign = identifiers.find((i) => holder.has(`${i.system}|${i.value}`) && holder.get(`${i.system}|${i.value}`) !== entry.id);
      if (foreign) {
        issue(entry, 409, 'conflict', `Identifier ${foreign.system}|${foreign.value} belongs to another patient`, 'identifier');
        continue;
      }
      writes.push({ action: 'update', patientId: entry.id, demographics, identifiers: identifiers.filter((i) => !holder.has(`${i.system}|${i.value}`)), candidates: [] });
      results.push({ index: entry.index, id: entry.id, outcome: 'updated', patientId: entry.id, category: 'demographics', resourceType: 'Patient' });
      registeredHere.add(entry.id);
      continue;
    }
    const matches = [...new Set(identifiers.map((i) => holder.get(`${i.system}|${i.value}`)).filter((id): id is string => Boolean(id)))];
    if (matches.length > 1) {
      issue(entry, entry.ifNoneExist?.length ? 412 : 409, entry.ifNoneExist?.length ? 'multiple-matches' : 'conflict',
        `The identifiers of this Patient belong to ${matches.length} different patients; an administrator must link them first`, 'identifier');
      continue;
    }
    if (matches.length === 1) {
      // One person, already known: this institution's registration joins them (linking its new identifiers).
      const patientId = matches[0]!;
      const added = identifiers.filter((i) => !holder.has(`${i.system}|${i.value}`));
      if (added.length) writes.push({ action: 'link', patientId, demographics: null, identifiers: added, candidates: [] });
      results.push({
        index: entry.index, id: patientId, outcome: added.length ? 'updated' : 'matched', patientId, category: 'identifiers', resourceType: 'Patient',
        notes: added.length ? ['Matched an existing patient by identifier; your identifiers were added to their record'] : undefined,
      });
      registeredHere.add(patientId);
      continue;
    }
    if (!identifiers.some((i) => i.type === 'MR')) {
      issue(entry, 422, 'business-rule', 'A new patient needs your organisation\'s medical record number (an identifier of type MR in your system)', 'identifier');
      continue;
    }
    // A new patient. Probable duplicates (same name, birth date and gender, no shared identifier) become match candidates.
    const candidates = demographics.birth_date
      ? (await tx.query<Row>(
        `SELECT id FROM patient WHERE merged_into IS NULL AND lower(family) = lower($1) AND birth_date = $2::date AND gender = $3
           AND lower(array_to_string(given, ' ')) = lower($4) ORDER BY id LIMIT 20`,
        [demographics.family, demographics.birth_date, demographics.gender, (demographics.given as string[] | null ?? []).join(' ')])).map((r) => String(r.id))
      : [];
    writes.push({ action: 'create', patientId: entry.id, demographics, identifiers, candidates });
    results.push({
      index: entry.index, id: entry.id, outcome: 'created', patientId: entry.id, category: 'demographics', resourceType: 'Patient',
      notes: candidates.length ? [`Possibly the same person as ${candidates.length} existing patient(s): kept apart until an administrator resolves the match candidate`] : undefined,
    });
    registeredHere.add(entry.id);
  }

  // References to existing patients: the survivor, registered at the publishing organisation.
  const patients: Record<string, string> = {};
  const byId = await survivors(tx, request.patientRefs.flatMap((r) => (r.id && isUuidText(r.id) ? [r.id] : [])));
  const candidates = [...new Set(request.patientRefs.map((r) => (r.id ? byId.get(r.id) : r.identifier ? holder.get(`${r.identifier.system}|${r.identifier.value}`) : undefined)).filter((id): id is string => Boolean(id)))];
  const registered = new Set(candidates.length
    ? (await tx.query<Row>(`SELECT DISTINCT patient_id FROM patient_identifier WHERE patient_id = ANY($1::uuid[]) AND type = 'MR' AND assigner_organization_id = $2`, [candidates, organizationId])).map((r) => String(r.patient_id))
    : []);
  for (const ref of request.patientRefs) {
    const patientId = ref.id ? byId.get(ref.id) : ref.identifier ? holder.get(`${ref.identifier.system}|${ref.identifier.value}`) : undefined;
    if (!patientId || !(registered.has(patientId) || registeredHere.has(patientId))) {
      issues.push({ index: ref.index, status: 404, code: 'not-found', message: 'No patient registered at your organisation matches this reference (publish the Patient in the same Bundle to register them)', expression: ref.expression });
      continue;
    }
    patients[ref.key] = patientId;
  }
  if (issues.length) throw new Refused(issues);

  // Reservations: the identifiers this transaction adds, so a concurrent one cannot give them to another patient.
  const keys = writes.flatMap((w) => w.identifiers.map((i) => `patient-identifier|${i.system}|${i.value}`));
  const updated = writes.filter((w) => w.action === 'update').map((w) => `patient|${w.patientId}`);
  if (keys.length + updated.length) {
    const all = [...keys, ...updated];
    const taken = await tx.query<{ key: string }>(
      `INSERT INTO ingest_reservation (key, transaction_id) SELECT k, $2 FROM unnest($1::text[]) AS k ON CONFLICT (key) DO NOTHING RETURNING key`, [all, transactionId]);
    if (taken.length !== all.length) {
      throw new Refused([{ index: -1, status: 409, code: 'conflict', message: 'Another publication of the same patient is in progress; retry when it has finished', expression: 'Bundle' }]);
    }
  }
  if (writes.length) {
    await tx.query(
      `INSERT INTO ingest_staged (transaction_id, seq, entry) SELECT $1, (e.ord)::int, e.value FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(value, ord)`,
      [transactionId, JSON.stringify(writes)]);
  }
  return { ok: true, results, patients };
}

/** Writes identity's staged Patient entries (inside the decision's transaction). */
async function applyPatients(tx: Queryable, transactionId: string, organizationId: string): Promise<void> {
  const rows = await tx.query<{ entry: PatientWrite }>('SELECT entry FROM ingest_staged WHERE transaction_id = $1 ORDER BY seq', [transactionId]);
  const writes = rows.map((r) => r.entry);
  const created = writes.filter((w) => w.action === 'create');
  if (created.length) {
    await tx.query(
      `INSERT INTO patient (id, ${DEMOGRAPHICS.join(', ')})
       SELECT id, ${DEMOGRAPHICS.join(', ')} FROM jsonb_populate_recordset(NULL::patient, $1::jsonb)`,
      [JSON.stringify(created.map((w) => ({ ...w.demographics, id: w.patientId })))]);
  }
  for (const update of writes.filter((w) => w.action === 'update')) {
    await tx.query(
      `UPDATE patient AS p SET ${DEMOGRAPHICS.map((c) => `${c} = s.${c}`).join(', ')}
       FROM jsonb_populate_record(NULL::patient, $2::jsonb) AS s WHERE p.id = $1`, [update.patientId, JSON.stringify(update.demographics)]);
  }
  const identifiers = writes.flatMap((w) => w.identifiers.map((i) => ({ patient_id: w.patientId, system: i.system, value: i.value, type: i.type, assigner: i.type === 'MR' ? organizationId : null })));
  if (identifiers.length) {
    await tx.query(
      `INSERT INTO patient_identifier (patient_id, system, value, type, assigner_organization_id)
       SELECT patient_id, system, value, type, assigner FROM jsonb_to_recordset($1::jsonb) AS i(patient_id uuid, system text, value text, type text, assigner text)
       ON CONFLICT (system, value) DO NOTHING`, [JSON.stringify(identifiers)]);
  }
  const candidates = created.flatMap((w) => w.candidates.map((candidate) => ({ id: randomUUID(), patient_id: w.patientId, candidate_patient_id: candidate })));
  if (candidates.length) {
    await tx.query(
      `INSERT INTO patient_match_candidate (id, patient_id, candidate_patient_id, reason)
       SELECT id, patient_id, candidate_patient_id, 'Same family and given names, birth date and gender; no shared identifier'
       FROM jsonb_to_recordset($1::jsonb) AS c(id uuid, patient_id uuid, candidate_patient_id uuid) ON CONFLICT DO NOTHING`, [JSON.stringify(candidates)]);
  }
  await tx.query('DELETE FROM ingest_staged WHERE transaction_id = $1', [transactionId]);
  await tx.query('DELETE FROM ingest_reservation WHERE transaction_id = $1', [transactionId]);
  await tx.query(`UPDATE ingest_transaction SET state = 'committed', decided_at = now() WHERE id = $1`, [transactionId]);
}

async function dropStaged(tx: Queryable, transactionId: string): Promise<void> {
  await tx.query('DELETE FROM ingest_staged WHERE transaction_id = $1', [transactionId]);
  await tx.query('DELETE FROM ingest_reservation WHERE transaction_id = $1', [transactionId]);
  await tx.query(`UPDATE ingest_transaction SET state = 'aborted', decided_at = now() WHERE id = $1`, [transactionId]);
}

function parseAudit(audit: unknown): WriteAudit[] {
  if (!Array.isArray(audit) || audit.length > 5000) throw badInput('Malformed audit of the transaction');
  return audit.map((a: Partial<WriteAudit> | null) => {
    const counts = a?.recordCounts;
    if (!a || !isUuidText(a.patientId) || !['create', 'update'].includes(a.action ?? '') || !counts || typeof counts !== 'object'
      || !Object.entries(counts).every(([category, n]) => (CATEGORIES as readonly string[]).includes(category) && Number.isInteger(n) && n >= 0)) {
      throw badInput('Malformed audit of the transaction');
    }
    return a as WriteAudit;
  });
}

/**
 * Records the decision, once. Commit: in one local transaction, the decision,
 * the audit events (one per patient and action, counts per category) and
 * identity's own staged entries. Abort: the decision and identity's staged
 * entries forgotten. Deciding again the same way is a no-op; the other way,
 * a conflict (the first decision stands).
 */
export async function decide(db: Database, call: InternalRequest, body: unknown): Promise<{ state: string }> {
  const request = body as Partial<DecideRequest> | null;
  if (!request || !isUuidText(request.transactionId) || !['commit', 'abort'].includes(request.decision ?? '')) throw badInput('Malformed decision');
  const audit = request.decision === 'commit' ? parseAudit(request.audit ?? []) : [];
  const wanted = request.decision === 'commit' ? 'committed' : 'aborted';
  return db.transaction(async (tx) => {
    const [row] = await tx.query<Row>('SELECT state, organization_id FROM ingest_decision WHERE transaction_id = $1 FOR UPDATE', [request.transactionId]);
    if (!row) {
      if (wanted === 'committed') throw productError(ErrorCode.notFound, 'No such transaction');
      return { state: 'aborted' };
    }
    if (row.state === wanted) return { state: wanted };
    if (row.state !== 'pending') throw productError(ErrorCode.conflict, `The transaction was already ${row.state}`);
    if (wanted === 'committed') {
      await applyPatients(tx, request.transactionId!, row.organization_id);
      await appendAuditEventsIn(tx, call.actor, call.requestId, audit.map((a) => ({
        patientId: a.patientId, recordCounts: a.recordCounts, breakGlass: false, action: a.action, details: { transactionId: request.transactionId },
      })));
    } else {
      await dropStaged(tx, request.transactionId!);
    }
    // A transaction with no other owner has nobody left to tell.
    await tx.query('UPDATE ingest_decision SET state = $2, decided_at = now(), delivered = cardinality(participants) = 0 WHERE transaction_id = $1', [request.transactionId, wanted]);
    return { state: wanted };
  });
}

/**
 * Recovery: aborts transactions left undecided past STALE_TRANSACTION_SECONDS
 * (a gateway that stopped between stage and decision), then lists decided
 * transactions not yet delivered to every owner; `delivered` marks them done.
 */
export async function recovery(db: Database, body: unknown): Promise<{ decisions: UndeliveredDecision[] } | { delivered: number }> {
  const request = body as { delivered?: unknown; staleSeconds?: unknown } | null;
  if (Array.isArray(request?.delivered)) {
    const ids = request.delivered.filter(isUuidText);
    const rows = await db.query(`UPDATE ingest_decision SET delivered = true WHERE transaction_id = ANY($1::uuid[]) AND state <> 'pending' RETURNING transaction_id`, [ids]);
    return { delivered: rows.length };
  }
  const stale = typeof request?.staleSeconds === 'number' && request.staleSeconds >= 0 ? request.staleSeconds : STALE_TRANSACTION_SECONDS;
  await db.transaction(async (tx) => {
    const abandoned = await tx.query<{ transaction_id: string }>(
      `UPDATE ingest_decision SET state = 'aborted', decided_at = now()
       WHERE state = 'pending' AND created_at < now() - make_interval(secs => $1) RETURNING transaction_id`, [stale]);
    for (const { transaction_id } of abandoned) await dropStaged(tx, transaction_id);
  });
  const rows = await db.query<Row>(
    `SELECT transaction_id, state, participants, actor FROM ingest_decision WHERE state <> 'pending' AND NOT delivered ORDER BY created_at LIMIT 100`);
  return { decisions: rows.map((row) => ({ transactionId: String(row.transaction_id), state: row.state, participants: row.participants, actor: row.actor })) };
}
