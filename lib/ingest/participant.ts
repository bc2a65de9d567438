/**
 * An owner's side of publishing (FHIR writes, HL7 v2): stage, commit, abort.
 * The protocol and its failure windows are described where it is
 * coordinated, gateway/src/fhir/ingest/coordinator.ts; this module is what
 * each owner (encounters, labs, imaging, public-health, and identity for its
 * own entries) does with the entries the gateway sends it.
 *
 * - **stage** (one local transaction): decides, for every entry, whether it
 *   creates a record, updates one, or matches one the organisation created
 *   before (conditional create on business identifiers); checks the owner's
 *   business rules (the record to update exists and was produced by the
 *   caller's organisation, references point at records of the same patient,
 *   the programme exists…); reserves the identifiers and records it is about
 *   to create or change; and keeps the resolved entries in `ingest_staged`.
 *   Nothing is written to the owner's record tables, so nothing is visible.
 *   Any issue rolls the whole stage back and is answered with its FHIRPath.
 * - **commit** (one local transaction): writes the staged records, their
 *   identifiers, releases the reservations. Idempotent: a second commit of
 *   the same transaction changes nothing.
 * - **abort**: forgets the staged entries and reservations, and remembers
 *   the transaction as aborted so a stage arriving late is refused.
 *
 * Only the gateway calls these APIs, with the publishing actor in its call
 * token: the producing organisation is always that actor's organisation.
 */
import { maxBundleEntries } from './limits.js';
import { GraphQLError } from 'graphql';
import { mayPublish } from '../trust/actor.js';
import { ConsentAccess, remoteConsentSources } from '../consent/access.js';
import type { RecordFacts } from '../consent/policy.js';
import type { Category } from '../trust/scopes.js';
import type { Database, Queryable } from '../runtime/db.js';
import { badInput, forbidden } from '../runtime/errors.js';
import { INTERNAL_APIS, internalRoute, type InternalRequest, type InternalRouteDeps } from '../runtime/internal-api.js';
import type { Route } from '../runtime/http.js';
import type { BusinessIdentifier, EntryIssue, EntryResult, StageAnswer, StageEntry, StageRequest } from './types.js';
import { isUuidText } from './types.js';

type Row = Record<string, any>;

/** A reference field of a kind: the column it fills and the table (and kind) of its target. */
export interface RefSpec {
  column: string;
  table: string;
  /** Kinds an in-request reference may point at. */
  kinds: string[];
  /** The FHIRPath (below the resource) of the reference, for issues. */
  expression: string;
}

/** How an owner stores one kind of record. */
export interface KindHandler {
  table: string;
  /** The consent category of the kind's records (whether the caller may see one decides how a refusal answers). */
  category: Category;
  /** The FHIR resource type, where the category spans several (RecordFacts.resourceType). */
  resourceType?: string;
  /** Column (text[]) of organisations the record is addressed to, whose staff see it as the producer's (a referral's receiver). */
  addresseesColumn?: string;
  /** Columns written from `entry.record` (besides id, patient_id, the organisation column and resolved references). */
  columns: string[];
  /** Column of the producing organisation (default organization_id); null when the row has none (its parent's counts). */
  organizationColumn?: string | null;
  /** Column of the patient (default patient_id); null when the row has none (a radiology report: its study's). */
  patientColumn?: string | null;
  /** Rows as `id, patient_id, producer, labels, own_labels, addressees` for update checks, when the table lacks them (default: the table's own columns). */
  lookup?: string;
  refs?: Record<string, RefSpec>;
  /** Write order at commit: parents first (an encounter before its diagnoses). */
  order: number;
  /** Extra stage checks (inside the stage transaction), after references are resolved; an issue refuses the entry. */
  check?: (tx: Queryable, entry: ResolvedEntry, organizationId: string) => Promise<Omit<EntryIssue, 'index'> | null>;
  /** Reservation keys besides identifiers and updated ids (a DICOM Study Instance UID). */
  keys?: (entry: ResolvedEntry) => string[];
  /** Replaces the generic insert (identity's patients, with their identifiers). */
  insert?: (tx: Queryable, entries: ResolvedEntry[], organizationId: string) => Promise<void>;
  /** Replaces the generic update. */
  update?: (tx: Queryable, entries: ResolvedEntry[], organizationId: string) => Promise<void>;
}

/** A staged entry whose references are resolved to record ids. */
export interface ResolvedEntry extends StageEntry {
  resolved: Record<string, string>;
}

export type KindHandlers = Record<string, KindHandler>;

/**
 * Whether the publishing actor may see each of these records (the consent policy, with the patient's facts from
 * identity). A write naming a record the caller may not see is answered exactly like one naming no record: no
 * write is an existence oracle.
 */
export type Visibility = (records: RecordFacts[]) => Promise<boolean[]>;

/** Visibility for owners that never name other organisations' records (tests, identity): only the caller's own. */
const OWN_RECORDS_ONLY: Visibility = async (records) => records.map(() => false);

/** Thrown inside the stage transaction to roll it back with the issues found. */
class StageRefused extends Error {
  constructor(readonly issues: EntryIssue[]) {
    super('stage refused');
  }
}

const issue = (entry: StageEntry, status: number, code: EntryIssue['code'], message: string, element = ''): EntryIssue => ({
  index: entry.index, status, code, message, expression: element ? `${entry.path}.${element}` : entry.path,
});

const identifierKey = (organizationId: string, resourceType: string, id: BusinessIdentifier) => `identifier|${organizationId}|${resourceType}|${id.system}|${id.value}`;
const recordKey = (table: string, id: string) => `record|${table}|${id}`;

/** Checks the shape of a stage request (the gateway built it; an owner still refuses nonsense). */
export function parseStageRequest(body: unknown): StageRequest {
  const request = body as Partial<StageRequest> | null;
  if (!request || !isUuidText(request.transactionId) || !Array.isArray(request.entries) || request.entries.length > maxBundleEntries()) throw badInput('Malformed stage request');
  for (const entry of request.entries) {
    if (!entry || typeof entry.kind !== 'string' || !isUuidText(entry.id) || !isUuidText(entry.patientId) || !['create', 'update', 'relabel'].includes(entry.op)
      || typeof entry.record !== 'object' || !Number.isInteger(entry.index) || typeof entry.path !== 'string') throw badInput('Malformed stage entry');
  }
  return request as StageRequest;
}

/**
 * Stages the entries inside `tx` (see the module comment). Throws StageRefused
 * with every issue found; the caller's transaction then rolls back.
 */
export async function stageIn(tx: Queryable, handlers: KindHandlers, organizationId: string, request: StageRequest, visible: Visibility = OWN_RECORDS_ONLY): Promise<EntryResult[]> {
  const { transactionId, entries } = request;
  const [known] = await tx.query<{ state: string }>('SELECT state FROM ingest_transaction WHERE id = $1', [transactionId]);
  if (known) throw new StageRefused([{ index: -1, status: 409, code: 'conflict', message: `Transaction already ${known.state}`, expression: 'Bundle' }]);
  await tx.query('INSERT INTO ingest_transaction (id, state, organization_id) VALUES ($1, $2, $3)', [transactionId, 'staged', organizationId]);

  const issues: EntryIssue[] = [];
  for (const entry of entries) if (!handlers[entry.kind]) issues.push(issue(entry, 400, 'not-supported', `This service does not store ${entry.resourceType} (${entry.kind})`));
  if (issues.length) throw new StageRefused(issues);

  // Pass 1: what each entry does. Identifiers already recorded for the organisation, in one statement.
  const wanted = entries.flatMap((e) => [...(e.ifNoneExist ?? []), ...e.identifiers].map((i) => ({ resource_type: e.resourceType, system: i.system, value: i.value })));
  const recorded = wanted.length
    ? await tx.query<Row>(
      `SELECT r.resource_type, r.system, r.value, r.record_id FROM record_identifier r
       JOIN jsonb_to_recordset($2::jsonb) AS w(resource_type text, system text, value text)
         ON r.resource_type = w.resource_type AND r.system = w.system AND r.value = w.value
       WHERE r.organization_id = $1`, [organizationId, JSON.stringify(wanted)])
    : [];
  const recordOf = new Map(recorded.map((r) => [`${r.resource_type}|${r.system}|${r.value}`, String(r.record_id)]));
  const updates = entries.filter((e) => e.op === 'update' || e.op === 'relabel');
  const existing = new Map<string, Row>();
  for (const kind of new Set(updates.map((e) => e.kind))) {
    const handler = handlers[kind]!;
    const ids = updates.filter((e) => e.kind === kind).map((e) => e.id);
    const rows = await tx.query<Row>(`SELECT id, patient_id, producer, labels, own_labels, addressees FROM ${lookupOf(handler)} AS l WHERE id = ANY($1::uuid[])`, [ids]);
    for (const row of rows) existing.set(`${handler.table}|${row.id}`, row);
  }
  // Records of other organisations the entries name: does the caller see them at all?
  const foreignUpdates = updates.flatMap((e) => {
    const row = existing.get(`${handlers[e.kind]!.table}|${e.id}`);
    return row && row.producer !== organizationId ? [{ handler: handlers[e.kind]!, row }] : [];
  });
  const seenForeign = await seenByCaller(visible, foreignUpdates, organizationId);

  const finalId = new Map<number, string>();
  const relabelled = new Map<number, { removed: string[]; remaining: string[] }>();
  const outcome = new Map<number, EntryResult['outcome']>();
  const seenIdentifiers = new Map<string, number>();
  for (const entry of entries) {
    const handler = handlers[entry.kind]!;
    if (entry.op !== 'create') {
      const row = existing.get(`${handler.table}|${entry.id}`);
      // A record of another organisation the caller may not see answers exactly like no record at all.
      if (!row || (row.producer !== organizationId && !seenForeign.has(`${handler.table}|${row.id}`))) {
        issues.push(issue(entry, 404, 'not-found', `No ${entry.resourceType} with id ${entry.id}`, 'id'));
        continue;
      }
      if (row.producer !== organizationId) {
        issues.push(issue(entry, 403, 'forbidden', `Only the organisation that produced this ${entry.resourceType} updates it`, 'id'));
        continue;
      }
      if (entry.op === 'relabel') {
        // The record's own patient; the labels it carries and those that go.
        const remove = (entry.record.remove as string[] | undefined) ?? [];
        const stored = (row.own_labels ?? []) as string[];
        const removed = stored.filter((l) => remove.includes(l));
        entry.patientId = String(row.patient_id);
        finalId.set(entry.index, entry.id);
        outcome.set(entry.index, removed.length ? 'relabelled' : 'matched');
        relabelled.set(entry.index, { removed, remaining: stored.filter((l) => !remove.includes(l)) });
        continue;
      }
      if (String(row.patient_id) !== entry.patientId) {
        issues.push(issue(entry, 422, 'business-rule', 'An update cannot move a record to another patient', entry.patientElement ?? 'subject'));
        continue;
      }
      finalId.set(entry.index, entry.id);
      outcome.set(entry.index, 'updated');
      continue;
    }
    // Conditional create: ifNoneExist names identifiers; one match → that record, several → 412.
    if (entry.ifNoneExist?.length) {
      const matches = [...new Set(entry.ifNoneExist.map((i) => recordOf.get(`${entry.resourceType}|${i.system}|${i.value}`)).filter((id): id is string => Boolean(id)))];
      if (matches.length > 1) {
        issues.push(issue(entry, 412, 'multiple-matches', `ifNoneExist matches ${matches.length} ${entry.resourceType} records of your organisation`));
        continue;
      }
      if (matches.length === 1) {
        finalId.set(entry.index, matches[0]!);
        outcome.set(entry.index, 'matched');
        continue;
      }
    }
    for (const [n, identifier] of entry.identifiers.entries()) {
      const key = `${entry.resourceType}|${identifier.system}|${identifier.value}`;
      if (recordOf.has(key)) {
        issues.push(issue(entry, 409, 'duplicate', `Your organisation already published a ${entry.resourceType} with identifier ${identifier.system}|${identifier.value} (send ifNoneExist to make the create conditional)`, `identifier[${n}]`));
      } else if (seenIdentifiers.has(key) && seenIdentifiers.get(key) !== entry.index) {
        issues.push(issue(entry, 400, 'duplicate', `Entry ${seenIdentifiers.get(key)} of this request has the same identifier`, `identifier[${n}]`));
      }
      seenIdentifiers.set(key, entry.index);
    }
    finalId.set(entry.index, entry.id);
    outcome.set(entry.index, 'created');
  }
  if (issues.length) throw new StageRefused(issues);

  // Pass 2: references, resolved to the records the entries became.
  const byIndex = new Map(entries.map((e) => [e.index, e]));
  const resolvedEntries: ResolvedEntry[] = [];
  const existingRefs: { entry: StageEntry; field: string; spec: RefSpec; id: string }[] = [];
  for (const entry of entries) {
    const handler = handlers[entry.kind]!;
    const resolved: Record<string, string> = {};
    for (const [field, ref] of Object.entries(entry.refs ?? {})) {
      const spec = handler.refs?.[field];
      if (!spec) {
        issues.push(issue(entry, 400, 'not-supported', `Unknown reference ${field}`));
        continue;
      }
      if ('entry' in ref) {
        const target = byIndex.get(ref.entry);
        if (!target || !spec.kinds.includes(target.kind)) {
          issues.push(issue(entry, 400, 'invalid', `The reference does not point at a ${spec.kinds.join(' or ')} of this request`, spec.expression));
          continue;
        }
        if (target.patientId !== entry.patientId) {
          issues.push(issue(entry, 422, 'business-rule', 'The reference points at a record of another patient', spec.expression));
          continue;
        }
        resolved[field] = finalId.get(target.index)!;
      } else if (isUuidText(ref.id)) {
        existingRefs.push({ entry, field, spec, id: ref.id });
        resolved[field] = ref.id;
      } else {
        issues.push(issue(entry, 400, 'invalid', 'The reference is not a record id', spec.expression));
      }
    }
    resolvedEntries.push({ ...entry, id: finalId.get(entry.index)!, resolved });
  }
  for (const table of new Set(existingRefs.map((r) => r.spec.table))) {
    const refs = existingRefs.filter((r) => r.spec.table === table);
    const handler = Object.values(handlers).find((h) => h.table === table)!;
    const rows = await tx.query<Row>(`SELECT id, patient_id, producer, labels, own_labels, addressees FROM ${lookupOf(handler)} AS l WHERE id = ANY($1::uuid[])`, [refs.map((r) => r.id)]);
    const byId = new Map(rows.map((row) => [String(row.id), row]));
    // A record of another organisation the caller may not see is no record to refer to (as an unknown id).
    const seen = await seenByCaller(visible, rows.filter((row) => row.producer !== organizationId).map((row) => ({ handler, row })), organizationId);
    for (const ref of refs) {
      const row = byId.get(ref.id);
      if (!row || (row.producer !== organizationId && !seen.has(`${handler.table}|${row.id}`))) issues.push(issue(ref.entry, 404, 'not-found', `No record ${ref.id} to refer to`, ref.spec.expression));
      else if (String(row.patient_id) !== ref.entry.patientId) issues.push(issue(ref.entry, 422, 'business-rule', 'The reference points at a record of another patient', ref.spec.expression));
    }
  }
  if (issues.length) throw new StageRefused(issues);

  const toWrite = resolvedEntries.filter((e) => outcome.get(e.index) !== 'matched');
  for (const entry of toWrite.filter((e) => e.op !== 'relabel')) {
    const found = await handlers[entry.kind]!.check?.(tx, entry, organizationId);
    if (found) issues.push({ ...found, index: entry.index });
  }
  if (issues.length) throw new StageRefused(issues);

  // Reservations: a concurrent transaction staging the same identifier or updating the same record waits for this one's outcome.
  const keyOwners = new Map<string, StageEntry>();
  for (const entry of toWrite) {
    const handler = handlers[entry.kind]!;
    const keys = entry.op !== 'create'
      ? [recordKey(handler.table, entry.id)]
      : entry.identifiers.map((i) => identifierKey(organizationId, entry.resourceType, i));
    for (const key of [...keys, ...(handler.keys?.(entry) ?? [])]) keyOwners.set(key, entry);
  }
  if (keyOwners.size) {
    const taken = await tx.query<{ key: string }>(
      `INSERT INTO ingest_reservation (key, transaction_id) SELECT k, $2 FROM unnest($1::text[]) AS k
       ON CONFLICT (key) DO NOTHING RETURNING key`, [[...keyOwners.keys()], transactionId]);
    const mine = new Set(taken.map((t) => t.key));
    for (const [key, entry] of keyOwners) {
      if (!mine.has(key)) issues.push(issue(entry, 409, 'conflict', 'Another publication of the same record is in progress; retry when it has finished'));
    }
    if (issues.length) throw new StageRefused(issues);
  }
  if (toWrite.length) {
    await tx.query(
      `INSERT INTO ingest_staged (transaction_id, seq, entry)
       SELECT $1, (e.ord)::int, e.value FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(value, ord)`,
      [transactionId, JSON.stringify(toWrite)]);
  }
  return resolvedEntries.map((e) => ({
    index: e.index, id: e.id, outcome: outcome.get(e.index)!, patientId: e.patientId, category: e.category, resourceType: e.resourceType,
    ...(relabelled.has(e.index) ? { security: relabelled.get(e.index) } : {}),
  }));
}

/** The rows (of other organisations) the caller may see, as `table|id`: as their producer's records, or an addressee's. */
async function seenByCaller(visible: Visibility, rows: { handler: KindHandler; row: Row }[], organizationId: string): Promise<Set<string>> {
  if (!rows.length) return new Set();
  const asked = rows.flatMap(({ handler, row }) => [row.producer, ...((row.addressees as string[] | null) ?? [])].map((org) => ({
    key: `${handler.table}|${row.id}`,
    facts: { patientId: String(row.patient_id), category: handler.category, organizationId: org, sensitivityLabels: row.labels ?? [], resourceType: handler.resourceType },
  })));
  const answers = await visible(asked.map((a) => a.facts));
  return new Set(asked.filter((_, i) => answers[i]).map((a) => a.key));
}

/** Runs stageIn in its own transaction; issues come back as an answer, not an error. */
export async function stage(db: Database, handlers: KindHandlers, organizationId: string, request: StageRequest, visible?: Visibility): Promise<StageAnswer> {
  try {
    return { ok: true, results: await db.transaction((tx) => stageIn(tx, handlers, organizationId, request, visible)) };
  } catch (error) {
    if (error instanceof StageRefused) {
      // Remember the refusal, so a late retry of this stage is refused too.
      await db.query(`INSERT INTO ingest_transaction (id, state, organization_id, decided_at) VALUES ($1, 'aborted', $2, now()) ON CONFLICT (id) DO NOTHING`,
        [request.transactionId, organizationId]);
      return { ok: false, issues: error.issues };
    }
    throw error;
  }
}

/** Writes a transaction's staged entries inside `tx`; true when it was staged here and is now committed. */
export async function commitIn(tx: Queryable, handlers: KindHandlers, transactionId: string): Promise<boolean> {
  const [state] = await tx.query<{ state: string; organization_id: string }>('SELECT state, organization_id FROM ingest_transaction WHERE id = $1 FOR UPDATE', [transactionId]);
  if (!state || state.state === 'committed') return false;
  if (state.state === 'aborted') throw new GraphQLError('The transaction was aborted here', { extensions: { code: 'CONFLICT' } });
  const rows = await tx.query<{ entry: ResolvedEntry }>('SELECT entry FROM ingest_staged WHERE transaction_id = $1 ORDER BY seq', [transactionId]);
  const entries = rows.map((r) => r.entry);
  const organizationId = state.organization_id;
  const kinds = [...new Set(entries.map((e) => e.kind))].sort((a, b) => handlers[a]!.order - handlers[b]!.order);
  for (const kind of kinds) {
    const handler = handlers[kind]!;
    const creates = entries.filter((e) => e.kind === kind && e.op === 'create');
    const updates = entries.filter((e) => e.kind === kind && e.op === 'update');
    if (creates.length) await (handler.insert ?? genericInsert(handler))(tx, creates, organizationId);
    if (updates.length) await (handler.update ?? genericUpdate(handler))(tx, updates, organizationId);
    for (const entry of entries.filter((e) => e.kind === kind && e.op === 'relabel')) await relabelIn(tx, handler, entry);
  }
  const identifiers = entries.filter((e) => e.op === 'create').flatMap((e) => e.identifiers.map((i) => ({ resource_type: e.resourceType, system: i.system, value: i.value, record_id: e.id })));
  if (identifiers.length) {
    await tx.query(
      `INSERT INTO record_identifier (resource_type, organization_id, system, value, record_id)
       SELECT resource_type, $1, system, value, record_id FROM jsonb_to_recordset($2::jsonb) AS i(resource_type text, system text, value text, record_id uuid)`,
      [organizationId, JSON.stringify(identifiers)]);
  }
  await tx.query('DELETE FROM ingest_staged WHERE transaction_id = $1', [transactionId]);
  await tx.query('DELETE FROM ingest_reservation WHERE transaction_id = $1', [transactionId]);
  await tx.query(`UPDATE ingest_transaction SET state = 'committed', decided_at = now() WHERE id = $1`, [transactionId]);
  return true;
}

/** Forgets a transaction's staged entries inside `tx` and remembers it as aborted. */
export async function abortIn(tx: Queryable, transactionId: string): Promise<void> {
  const [state] = await tx.query<{ state: string }>('SELECT state FROM ingest_transaction WHERE id = $1 FOR UPDATE', [transactionId]);
  if (state?.state === 'committed') throw new GraphQLError('The transaction was committed here', { extensions: { code: 'CONFLICT' } });
  await tx.query('DELETE FROM ingest_staged WHERE transaction_id = $1', [transactionId]);
  await tx.query('DELETE FROM ingest_reservation WHERE transaction_id = $1', [transactionId]);
  await tx.query(
    `INSERT INTO ingest_transaction (id, state, organization_id, decided_at) VALUES ($1, 'aborted', '', now())
     ON CONFLICT (id) DO UPDATE SET state = 'aborted', decided_at = now()`, [transactionId]);
}

/** The rows of a kind as `id, patient_id, producer, labels (it is read under), own_labels (stored on it), addressees`. */
function lookupOf(handler: KindHandler): string {
  if (handler.lookup) return handler.lookup;
  const organization = handler.organizationColumn === undefined ? 'organization_id' : handler.organizationColumn;
  return `(SELECT id, ${handler.patientColumn ?? 'patient_id'} AS patient_id, ${organization ?? 'NULL::text'} AS producer, sensitivity_labels AS labels,
    sensitivity_labels AS own_labels, ${handler.addresseesColumn ?? 'NULL::text[]'} AS addressees FROM ${handler.table})`;
}

function writtenColumns(handler: KindHandler): string[] {
  const columns = new Set(['id', ...handler.columns]);
  if (handler.organizationColumn !== null) columns.add(handler.organizationColumn ?? 'organization_id');
  if (handler.patientColumn !== null) columns.add(handler.patientColumn ?? 'patient_id');
  for (const spec of Object.values(handler.refs ?? {})) columns.add(spec.column);
  return [...columns];
}

/** Column values of a resolved entry, as one JSON object per row (jsonb_populate_recordset fills the table's types). */
function rowOf(handler: KindHandler, entry: ResolvedEntry, organizationId: string): Row {
  const row: Row = { id: entry.id };
  for (const column of handler.columns) row[column] = entry.record[column] ?? null;
  if (handler.organizationColumn !== null) row[handler.organizationColumn ?? 'organization_id'] = organizationId;
  if (handler.patientColumn !== null) row[handler.patientColumn ?? 'patient_id'] = entry.patientId;
  for (const [field, spec] of Object.entries(handler.refs ?? {})) row[spec.column] = entry.resolved[field] ?? null;
  return row;
}

const genericInsert = (handler: KindHandler) => async (tx: Queryable, entries: ResolvedEntry[], organizationId: string) => {
  const columns = writtenColumns(handler).join(', ');
  await tx.query(
    `INSERT INTO ${handler.table} (${columns}) SELECT ${columns} FROM jsonb_populate_recordset(NULL::${handler.table}, $1::jsonb)`,
    [JSON.stringify(entries.map((e) => rowOf(handler, e, organizationId)))]);
};

/**
 * An update keeps the labels stored: they are added to, never removed by a write that leaves them out (a label is
 * removed only by the explicit, audited `$meta-delete`: relabelIn). Stored labels first, in their order.
 */
const assignment = (column: string) => (column === 'sensitivity_labels'
  ? 'sensitivity_labels = ARRAY(SELECT l FROM unnest(t.sensitivity_labels || s.sensitivity_labels) WITH ORDINALITY AS u(l, n) GROUP BY l ORDER BY min(n))'
  : `${column} = s.${column}`);

/** `$meta-delete`: the explicit, audited removal of sensitivity labels from one record (the owner keeps the rest, in order). */
async function relabelIn(tx: Queryable, handler: KindHandler, entry: ResolvedEntry): Promise<void> {
  await tx.query(
    `UPDATE ${handler.table} SET sensitivity_labels = ARRAY(SELECT l FROM unnest(sensitivity_labels) WITH ORDINALITY AS u(l, n) WHERE l <> ALL($2::text[]) ORDER BY n)
     WHERE id = $1`, [entry.id, (entry.record.remove as string[] | undefined) ?? []]);
}

const genericUpdate = (handler: KindHandler) => async (tx: Queryable, entries: ResolvedEntry[], organizationId: string) => {
  const columns = writtenColumns(handler).filter((c) => c !== 'id');
  await tx.query(
    `UPDATE ${handler.table} AS t SET ${columns.map(assignment).join(', ')}
     FROM jsonb_populate_recordset(NULL::${handler.table}, $1::jsonb) AS s WHERE t.id = s.id`,
    [JSON.stringify(entries.map((e) => rowOf(handler, e, organizationId)))]);
};

/** What the publishing actor may see, decided by the consent policy with the patient's facts from identity (lib/consent/access.ts). */
export function callerSees(call: InternalRequest): Visibility {
  const access = new ConsentAccess(call.actor, call.internal, remoteConsentSources());
  return (records) => Promise.all(records.map(async (record) => (await access.decide(record)).allow));
}

/** The producing organisation of a publication: the caller's own, never one from the payload. */
export function publishingOrganization(call: InternalRequest): string {
  if (!mayPublish(call.actor)) throw forbidden('Records are published by an institution\'s system or its clinical staff');
  return call.actor.org!;
}

const transactionIdOf = (body: unknown): string => {
  const id = (body as { transactionId?: unknown } | null)?.transactionId;
  if (!isUuidText(id)) throw badInput('Malformed transaction id');
  return id;
};

/** The stage, commit and abort APIs of an owner of clinical records. */
export function participantRoutes(deps: InternalRouteDeps & { db: Database }, handlers: KindHandlers): Route[] {
  return [
    internalRoute(INTERNAL_APIS.ingestStage, deps, async (body, call) => stage(deps.db, handlers, publishingOrganization(call), parseStageRequest(body), callerSees(call))),
    internalRoute(INTERNAL_APIS.ingestCommit, deps, async (body) => {
      const transactionId = transactionIdOf(body);
      return { committed: await deps.db.transaction((tx) => commitIn(tx, handlers, transactionId)) };
    }),
    internalRoute(INTERNAL_APIS.ingestAbort, deps, async (body) => {
      const transactionId = transactionIdOf(body);
      await deps.db.transaction((tx) => abortIn(tx, transactionId));
      return { aborted: true };
    }),
  ];
}

/**
 * The master patient index linked two patients (identity): this owner's
 * records of the merged-away patient now belong to the survivor. Idempotent,
 * one transaction for every table the owner holds patient records in.
 */
export function patientLinkRoute(deps: InternalRouteDeps & { db: Database }, tables: string[]): Route {
  return internalRoute(INTERNAL_APIS.patientLink, deps, async (body) => {
    const { mergedId, survivorId } = (body ?? {}) as { mergedId?: unknown; survivorId?: unknown };
    if (!isUuidText(mergedId) || !isUuidText(survivorId) || mergedId === survivorId) throw badInput('Malformed patient link');
    let moved = 0;
    await deps.db.transaction(async (tx) => {
      for (const table of tables) {
        moved += (await tx.query(`UPDATE ${table} SET patient_id = $2 WHERE patient_id = $1 RETURNING id`, [mergedId, survivorId])).length;
      }
    });
    return { moved };
  });
}
