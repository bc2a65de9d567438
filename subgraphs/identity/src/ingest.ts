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
 * - **the master patient index**: one person, one patient. A published
 *   Patient is matched on the publishing organisation's own medical record
 *   number, then on the regional health card. Whatever the index decides,
 *   the organisation's *registration* records what it sent (demographics,
 *   identifiers: patient_registration) and is all its staff see of the
 *   patient until the patient authorises more (docs/consent.md). The answer
 *   depends only on the organisation's own records: a first registration is
 *   `created` (201) whether the card was new to the alliance or named a
 *   patient registered elsewhere; notes name only probable duplicates among
 *   the organisation's own patients. A card another patient already holds,
 *   or a card published for a patient who has one, never moves: it becomes a
 *   match candidate for administrators, like probable duplicates (same name,
 *   birth date and gender, no shared identifier), never an automatic merge.
 * - **patient references** of the other entries (`Patient/{id}`, or by an
 *   identifier the organisation's registration carries: its own medical
 *   record number, the card it sent) are resolved to the patient (the
 *   survivor, for a merged-away id), and only for patients the publishing
 *   organisation holds a registration for; anything else answers like an
 *   unknown patient.
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../../../lib/trust/actor.js';
import type { Database, Queryable } from '../../../lib/runtime/db.js';
import { badInput, ErrorCode, productError } from '../../../lib/runtime/errors.js';
import { publishingOrganization } from '../../../lib/ingest/participant.js';
import type {
  DecideRequest, EntryIssue, EntryResult, IdentityStageAnswer, IdentityStageRequest, StageEntry, UndeliveredDecision, WriteAudit,
} from '../../../lib/ingest/types.js';
import { isUuidText } from '../../../lib/ingest/types.js';
import type { InternalRequest } from '../../../lib/runtime/internal-api.js';
import { CATEGORIES } from '../../../lib/trust/scopes.js';
import { SUBGRAPH_NAMES } from '../../../lib/runtime/services.js';
import { SENSITIVITY_LABELS, SYSTEM } from '../../../lib/records/terminology.js';
import { appendAuditEventsIn } from './audit.js';
import { DEMOGRAPHICS, legacyIdentifiersSql } from './registrations.js';

type Row = Record<string, any>;

/**
 * How long a transaction may stay undecided before recovery aborts it: far
 * longer than the gateway's deadline for one publication (its calls time out
 * after INTERNAL_API_TIMEOUT_MS each), so only an abandoned one is aborted.
 */
export const STALE_TRANSACTION_SECONDS = Number(process.env.INGEST_STALE_SECONDS ?? 120);

/** An identifier a Patient entry carries: the health card, or the publishing organisation's own medical record number. */
interface SentIdentifier {
  system: string;
  value: string;
  type: 'HC' | 'MR';
}

/** A probable duplicate to record for administrators (patient_match_candidate). */
interface Candidate {
  patientId: string;
  candidateId: string;
  reason: string;
}

/**
 * What identity stages for one Patient entry, applied when the transaction commits:
 * - create: a new patient, and the publishing organisation's registration of them (basis created);
 * - join: the organisation registers a patient the alliance already knew by the card (basis matched);
 * - register: more identifiers on a registration the organisation holds already;
 * - update: PUT Patient/{id}: the organisation's registration changes (and, when its registration
 *   created the patient, the patient's record too).
 */
interface PatientWrite {
  action: 'create' | 'join' | 'register' | 'update';
  patientId: string;
  /** The demographics the organisation sent (create, join, update). */
  demographics: Row | null;
  /** Identifiers new to the master patient index (patient_identifier). */
  identifiers: SentIdentifier[];
  /** Every identifier the organisation sent: its registration keeps them, whatever the index did with them. */
  sent: SentIdentifier[];
  candidates: Candidate[];
  /** update: the organisation's registration created the patient, so its changes are the patient's record. */
  patientRecord?: boolean;
}

const SAME_NAMES = 'Same family and given names, birth date and gender; no shared identifier';
const SAME_CARD = 'The same health card number was published for both patients';

class Refused extends Error {
  constructor(readonly issues: EntryIssue[]) {
    super('refused');
  }
}

const identifierType = (system: string, organizationId: string): 'HC' | 'MR' | null =>
  system === SYSTEM.healthCard ? 'HC' : system === SYSTEM.mrnPrefix + organizationId ? 'MR' : null;


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

  // What the publishing organisation already holds: its registrations among the patients these
  // identifiers name (any medical record number of its own), their cards, and what its registrations carry.
  const named = [...new Set([...holder.values(), ...request.entries.filter((e) => e.op === 'update').map((e) => e.id)])];
  const [registrationRows, cardRows, registrationViews] = named.length
    ? await Promise.all([
      tx.query<Row>(`SELECT DISTINCT p.id AS patient_id FROM patient p JOIN patient_identifier i ON i.patient_id = COALESCE(p.merged_into, p.id)
        WHERE p.id = ANY($1::uuid[]) AND i.type = 'MR' AND i.assigner_organization_id = $2`, [named, organizationId]),
      tx.query<Row>(`SELECT patient_id, value FROM patient_identifier WHERE patient_id = ANY($1::uuid[]) AND type = 'HC'`, [named]),
      tx.query<Row>('SELECT patient_id, identifiers FROM patient_registration WHERE patient_id = ANY($1::uuid[]) AND organization_id = $2', [named, organizationId]),
    ])
    : [[], [], []];
  const registeredAtOrg = new Set(registrationRows.map((r) => String(r.patient_id)));
  const cardOf = new Map(cardRows.map((r) => [String(r.patient_id), String(r.value)]));
  /** The identifiers an organisation's registration carries: as recorded, or (registered before registrations were recorded) its own numbers and the card. */
  const carried = (patientId: string): Set<string> | null => {
    const view = registrationViews.find((r) => String(r.patient_id) === patientId);
    return view ? new Set((view.identifiers as SentIdentifier[]).map((i) => `${i.system}|${i.value}`)) : null;
  };
  /** Patients this organisation registered with the same names, birth date and gender (probable duplicates of its own). */
  const sameNames = async (demographics: Row): Promise<{ all: string[]; here: string[] }> => {
    if (!demographics.birth_date) return { all: [], here: [] };
    const rows = await tx.query<Row>(
      `SELECT p.id, EXISTS (SELECT 1 FROM patient_identifier i WHERE i.patient_id = p.id AND i.type = 'MR' AND i.assigner_organization_id = $5) AS here
       FROM patient p WHERE merged_into IS NULL AND lower(family) = lower($1) AND birth_date = $2::date AND gender = $3
         AND lower(array_to_string(given, ' ')) = lower($4) ORDER BY id LIMIT 20`,
      [demographics.family, demographics.birth_date, demographics.gender, (demographics.given as string[] | null ?? []).join(' '), organizationId]);
    return { all: rows.map((r) => String(r.id)), here: rows.filter((r) => r.here).map((r) => String(r.id)) };
  };
  // The answer says no more than the organisation's own records tell it (docs/consent.md): a note names
  // only probable duplicates among the patients it registered itself.
  const duplicateNote = (here: string[]) => (here.length
    ? [`Possibly the same person as ${here.length} other patient(s) your organisation registered: kept apart until an administrator resolves the match candidate`]
    : undefined);

  const writes: PatientWrite[] = [];
  const results: EntryResult[] = [];
  const registeredHere = new Set<string>();
  const seen = new Map<string, number>();
  for (const entry of request.entries) {
    const identifiers: SentIdentifier[] = [];
    entry.identifiers.forEach((identifier, n) => {
      const type = identifierType(identifier.system, organizationId);
      if (!type) issue(entry, 403, 'forbidden', 'Only the health card and your own organisation\'s medical record numbers may be published', `identifier[${n}]`);
      const key = `${identifier.system}|${identifier.value}`;
      if (seen.has(key) && seen.get(key) !== entry.index) issue(entry, 400, 'duplicate', `Entry ${seen.get(key)} of this request has the same identifier`, `identifier[${n}]`);
      seen.set(key, entry.index);
      if (type) identifiers.push({ ...identifier, type });
    });
    const cards = identifiers.filter((i) => i.type === 'HC');
    if (new Set(cards.map((c) => c.value)).size > 1) issue(entry, 400, 'value', 'A person has one regional health card: send one health card number', 'identifier');
    const card = cards[0];
    const cardHolder = card ? holder.get(`${card.system}|${card.value}`) : undefined;
    const demographics = Object.fromEntries(DEMOGRAPHICS.map((column) => [column, entry.record[column] ?? null]));
    /** The index takes a card only for a patient who has none, and only when no other patient holds it (else: a candidate). */
    const cardFor = (patientId: string, candidates: Candidate[]): SentIdentifier[] => {
      if (!card) return [];
      if (cardHolder && cardHolder !== patientId) candidates.push({ patientId, candidateId: cardHolder, reason: SAME_CARD });
      return !cardHolder && !cardOf.has(patientId) ? [card] : [];
    };
    const ownNumbers = identifiers.filter((i) => i.type === 'MR');
    const newNumbers = ownNumbers.filter((i) => !holder.has(`${i.system}|${i.value}`));

    if (entry.op === 'update') {
      const [row] = await tx.query<Row>('SELECT id, merged_into, registered_by FROM patient WHERE id = $1', [entry.id]);
      // A patient this organisation has not registered answers exactly like one that does not exist.
      if (!row || !registeredAtOrg.has(entry.id)) {
        issue(entry, 404, 'not-found', `No Patient with id ${entry.id} is registered at your organisation`, 'id');
        continue;
      }
      if (row.merged_into) {
        issue(entry, 404, 'not-found', `Patient ${entry.id} was linked to Patient/${row.merged_into}: update that one`, 'id');
        continue;
      }
      const foreign = ownNumbers.find((i) => holder.has(`${i.system}|${i.value}`) && holder.get(`${i.system}|${i.value}`) !== entry.id);
      if (foreign) {
        issue(entry, 409, 'conflict', `Your medical record number ${foreign.value} belongs to another patient your organisation registered`, 'identifier');
        continue;
      }
      const candidates: Candidate[] = [];
      const legacy = carried(entry.id) === null;
      writes.push({
        action: 'update', patientId: entry.id, demographics, identifiers: [...newNumbers, ...cardFor(entry.id, candidates)], sent: identifiers, candidates,
        patientRecord: row.registered_by === organizationId || (row.registered_by === null && legacy),
      });
      results.push({ index: entry.index, id: entry.id, outcome: 'updated', patientId: entry.id, category: 'demographics', resourceType: 'Patient' });
      registeredHere.add(entry.id);
      continue;
    }

    // The organisation's own patient: one of its medical record numbers, or the card of a patient it registered.
    const own = [...new Set(ownNumbers.map((i) => holder.get(`${i.system}|${i.value}`)).filter((id): id is string => Boolean(id)))];
    if (own.length > 1) {
      issue(entry, entry.ifNoneExist?.length ? 412 : 409, entry.ifNoneExist?.length ? 'multiple-matches' : 'conflict',
        `Your organisation's medical record numbers in this Patient belong to ${own.length} different patients`, 'identifier');
      continue;
    }
    const mine = own[0] ?? (cardHolder && registeredAtOrg.has(cardHolder) ? cardHolder : undefined);
    if (mine) {
      const candidates: Candidate[] = [];
      const holds = carried(mine);
      const added = identifiers.filter((i) => !(holds ? holds.has(`${i.system}|${i.value}`) : holder.get(`${i.system}|${i.value}`) === mine));
      const indexed = [...newNumbers, ...cardFor(mine, candidates)];
      // A replay (nothing new) writes nothing, so concurrent replays never wait on each other.
      if (added.length || indexed.length || candidates.length) writes.push({ action: 'register', patientId: mine, demographics: null, identifiers: indexed, sent: identifiers, candidates });
      results.push({
        index: entry.index, id: mine, outcome: added.length ? 'updated' : 'matched', patientId: mine, category: 'identifiers', resourceType: 'Patient',
        notes: added.length ? ['Your organisation had registered this patient: its registration now carries these identifiers too'] : undefined,
      });
      registeredHere.add(mine);
      continue;
    }
    // A registration: the same answer whether the alliance knew the card or not (201, the patient's id, no notes
    // about anyone else), and the same requirement: the organisation's own medical record number.
    if (!ownNumbers.length) {
      issue(entry, 422, 'business-rule', 'A new registration needs your organisation\'s medical record number (an identifier of type MR in your system)', 'identifier');
      continue;
    }
    const duplicates = await sameNames(demographics);
    if (cardHolder) {
      // One person, known by the card: this organisation's registration joins them, and gives it what it sent.
      const candidates = duplicates.here.filter((id) => id !== cardHolder).map((id) => ({ patientId: id, candidateId: cardHolder, reason: SAME_NAMES }));
      writes.push({ action: 'join', patientId: cardHolder, demographics, identifiers: newNumbers, sent: identifiers, candidates });
      results.push({ index: entry.index, id: cardHolder, outcome: 'created', patientId: cardHolder, category: 'demographics', resourceType: 'Patient', notes: duplicateNote(candidates.map((c) => c.patientId)) });
      registeredHere.add(cardHolder);
      continue;
    }
    // A new patient. Probable duplicates (same name, birth date and gender, no shared identifier) become match
    // candidates for administrators; the answer mentions only those the organisation registered itself.
    const candidates = duplicates.all.map((id) => ({ patientId: entry.id, candidateId: id, reason: SAME_NAMES }));
    writes.push({ action: 'create', patientId: entry.id, demographics, identifiers, sent: identifiers, candidates });
    results.push({ index: entry.index, id: entry.id, outcome: 'created', patientId: entry.id, category: 'demographics', resourceType: 'Patient', notes: duplicateNote(duplicates.here) });
    registeredHere.add(entry.id);
  }

  // References to existing patients: the survivor, registered at the publishing organisation, named by id or by an
  // identifier its own registration carries (its medical record number, the card it sent): another organisation's
  // number opens nothing, and answers like an unknown one.
  const patients: Record<string, string> = {};
  const byId = await survivors(tx, request.patientRefs.flatMap((r) => (r.id && isUuidText(r.id) ? [r.id] : [])));
  const referenced = [...new Set(request.patientRefs.map((r) => (r.id ? byId.get(r.id) : r.identifier ? holder.get(`${r.identifier.system}|${r.identifier.value}`) : undefined)).filter((id): id is string => Boolean(id)))];
  const [registered, views] = referenced.length
    ? await Promise.all([
      tx.query<Row>(`SELECT DISTINCT patient_id FROM patient_identifier WHERE patient_id = ANY($1::uuid[]) AND type = 'MR' AND assigner_organization_id = $2`, [referenced, organizationId]),
      tx.query<Row>('SELECT patient_id, identifiers FROM patient_registration WHERE patient_id = ANY($1::uuid[]) AND organization_id = $2', [referenced, organizationId]),
    ])
    : [[], []];
  const registeredRefs = new Set(registered.map((r) => String(r.patient_id)));
  const sentHere = (patientId: string) => writes.filter((w) => w.patientId === patientId).flatMap((w) => w.sent);
  const carriedByRegistration = (patientId: string, identifier: { system: string; value: string }): boolean => {
    if (identifier.system === SYSTEM.mrnPrefix + organizationId) return true;
    if (identifier.system !== SYSTEM.healthCard) return false;
    if (sentHere(patientId).some((i) => i.system === identifier.system && i.value === identifier.value)) return true;
    const view = views.find((v) => String(v.patient_id) === patientId);
    // Registered before registrations were recorded: the card counts as the organisation's.
    return view ? (view.identifiers as SentIdentifier[]).some((i) => i.system === identifier.system && i.value === identifier.value) : registeredRefs.has(patientId);
  };
  for (const ref of request.patientRefs) {
    const patientId = ref.id ? byId.get(ref.id) : ref.identifier ? holder.get(`${ref.identifier.system}|${ref.identifier.value}`) : undefined;
    const reachable = patientId && (registeredRefs.has(patientId) || registeredHere.has(patientId)) && (!ref.identifier || carriedByRegistration(patientId, ref.identifier));
    if (!reachable) {
      issues.push({ index: ref.index, status: 404, code: 'not-found', message: 'No patient registered at your organisation matches this reference (publish the Patient in the same Bundle to register them)', expression: ref.expression });
      continue;
    }
    patients[ref.key] = patientId;
  }
  if (issues.length) throw new Refused(issues);

  // Reservations: the identifiers this transaction adds, so a concurrent one cannot give them to another patient.
  const keys = writes.flatMap((w) => w.identifiers.map((i) => `patient-identifier|${i.system}|${i.value}`));
  const updated = writes.map((w) => `registration|${w.patientId}|${organizationId}`);
  if (keys.length + updated.length) {
    const all = [...new Set([...keys, ...updated])];
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
  type Staged = Omit<PatientWrite, 'action' | 'candidates' | 'sent'> & { action: PatientWrite['action'] | 'link'; candidates: (Candidate | string)[]; sent?: SentIdentifier[] };
  const rows = await tx.query<{ entry: Staged }>(
    'SELECT entry FROM ingest_staged WHERE transaction_id = $1 ORDER BY seq', [transactionId]);
  // Entries staged before registrations were recorded (a deploy in between): a link is a registration.
  const writes: PatientWrite[] = rows.map(({ entry }) => ({
    ...entry, action: entry.action === 'link' ? 'register' : entry.action, sent: entry.sent ?? entry.identifiers,
    candidates: entry.candidates.map((c) => (typeof c === 'string' ? { patientId: entry.patientId, candidateId: c, reason: SAME_NAMES } : c)),
  }));
  const created = writes.filter((w) => w.action === 'create');
  if (created.length) {
    await tx.query(
      `INSERT INTO patient (id, registered_by, ${DEMOGRAPHICS.join(', ')})
       SELECT id, $2, ${DEMOGRAPHICS.join(', ')} FROM jsonb_populate_recordset(NULL::patient, $1::jsonb)`,
      [JSON.stringify(created.map((w) => ({ ...w.demographics, id: w.patientId }))), organizationId]);
  }
  // Registrations: a new one (create, join) records what the organisation sent; an existing one made before
  // registrations were recorded is first written down as it reads (the patient row, its numbers, the card).
  for (const write of writes) {
    if (write.action === 'create' || write.action === 'join') {
      await tx.query(
        `INSERT INTO patient_registration (patient_id, organization_id, basis, ${DEMOGRAPHICS.join(', ')}, identifiers)
         SELECT $1, $2, $3, ${DEMOGRAPHICS.join(', ')}, $5::jsonb FROM jsonb_populate_record(NULL::patient, $4::jsonb)
         ON CONFLICT (patient_id, organization_id) DO NOTHING`,
        [write.patientId, organizationId, write.action === 'create' ? 'created' : 'matched', JSON.stringify(write.demographics), JSON.stringify(write.sent)]);
      continue;
    }
    await tx.query(
      `INSERT INTO patient_registration (patient_id, organization_id, basis, ${DEMOGRAPHICS.join(', ')}, identifiers)
       SELECT p.id, $2, 'created', ${DEMOGRAPHICS.map((c) => `p.${c}`).join(', ')},
         ${legacyIdentifiersSql('p.id', '$2')}
       FROM patient p WHERE p.id = $1
       ON CONFLICT (patient_id, organization_id) DO NOTHING`, [write.patientId, organizationId]);
    await tx.query(
      `UPDATE patient_registration r SET updated_at = now(),
         identifiers = (SELECT COALESCE(jsonb_agg(DISTINCT x), '[]'::jsonb) FROM jsonb_array_elements(r.identifiers || $3::jsonb) AS x)
         ${write.action === 'update' ? `, ${DEMOGRAPHICS.map((c) => `${c} = s.${c}`).join(', ')}` : ''}
       FROM jsonb_populate_record(NULL::patient, $4::jsonb) AS s
       WHERE r.patient_id = $1 AND r.organization_id = $2`,
      [write.patientId, organizationId, JSON.stringify(write.sent), JSON.stringify(write.demographics ?? {})]);
    if (write.action === 'update' && write.patientRecord) {
      await tx.query(
        `UPDATE patient AS p SET ${DEMOGRAPHICS.map((c) => `${c} = s.${c}`).join(', ')}
         FROM jsonb_populate_record(NULL::patient, $2::jsonb) AS s WHERE p.id = $1`, [write.patientId, JSON.stringify(write.demographics)]);
    }
  }
  const identifiers = writes.flatMap((w) => w.identifiers.map((i) => ({ patient_id: w.patientId, system: i.system, value: i.value, type: i.type, assigner: i.type === 'MR' ? organizationId : null })));
  if (identifiers.length) {
    await tx.query(
      `INSERT INTO patient_identifier (patient_id, system, value, type, assigner_organization_id)
       SELECT patient_id, system, value, type, assigner FROM jsonb_to_recordset($1::jsonb) AS i(patient_id uuid, system text, value text, type text, assigner text)
       ON CONFLICT (system, value) DO NOTHING`, [JSON.stringify(identifiers)]);
  }
  const candidates = writes.flatMap((w) => w.candidates).filter((c) => c.patientId !== c.candidateId)
    .map((c) => ({ id: randomUUID(), patient_id: c.patientId, candidate_patient_id: c.candidateId, reason: c.reason }));
  if (candidates.length) {
    await tx.query(
      `INSERT INTO patient_match_candidate (id, patient_id, candidate_patient_id, reason)
       SELECT id, patient_id, candidate_patient_id, reason
       FROM jsonb_to_recordset($1::jsonb) AS c(id uuid, patient_id uuid, candidate_patient_id uuid, reason text) ON CONFLICT DO NOTHING`, [JSON.stringify(candidates)]);
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
    if (!a || !isUuidText(a.patientId) || !['create', 'update', 'relabel'].includes(a.action ?? '') || !counts || typeof counts !== 'object'
      || !Object.entries(counts).every(([category, n]) => (CATEGORIES as readonly string[]).includes(category) && Number.isInteger(n) && n >= 0)) {
      throw badInput('Malformed audit of the transaction');
    }
    const removed = a.labelsRemoved;
    if (removed !== undefined && (a.action !== 'relabel' || !Array.isArray(removed) || removed.length > 1000
      || !removed.every((r) => r && typeof r.resourceType === 'string' && isUuidText(r.id) && Array.isArray(r.labels) && r.labels.every((l) => (SENSITIVITY_LABELS as readonly string[]).includes(l))))) {
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
      // A label's removal is an event of its own, naming the records and the labels, shown to the patient like any other.
      await appendAuditEventsIn(tx, call.actor, call.requestId, audit.map((a) => ({
        patientId: a.patientId, recordCounts: a.recordCounts, breakGlass: false, action: a.action === 'relabel' ? 'labels-removed' as const : a.action,
        details: { transactionId: request.transactionId, ...(a.labelsRemoved ? { labelsRemoved: a.labelsRemoved } : {}) },
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
