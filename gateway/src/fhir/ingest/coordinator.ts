/**
 * Publishing records all or nothing across the subgraphs that own them.
 *
 * A FHIR `transaction` Bundle (and every single write, and every HL7 v2
 * message, which are transactions of their own) touches up to five
 * databases: identity (patients, the master patient index), encounters,
 * labs, imaging and public-health. No database transaction spans them, so
 * the gateway runs a two-phase commit whose decision is durable in identity:
 *
 *   0. validate    every entry at the gateway (map.ts): shapes, codes,
 *                  scopes, provenance. Any issue → 4xx, nothing sent.
 *   1. open+stage  identity: records the transaction as `pending` in its log
 *                  (`ingest_decision`, with the participants and the actor),
 *                  matches or creates the patients (master patient index)
 *                  and resolves every patient reference. Identity's own
 *                  writes are staged, not applied.
 *   2. stage       every other owner, in parallel (lib/ingest/participant.ts):
 *                  conditional-create matching, business rules, reservations
 *                  of identifiers; the entries wait in `ingest_staged`,
 *                  invisible to every read. An owner whose entries link to
 *                  another owner's entries of the Bundle (a care plan's
 *                  Conditions: `foreignLinks`) stages after the others, with
 *                  the record ids they staged.
 *   3. decide      identity, in ONE local transaction: the decision
 *                  (`committed`), the transaction's audit events (one per
 *                  patient and action, counts per category: no write without
 *                  its audit event) and identity's own staged writes. This is
 *                  the commit point. If any stage failed, the decision is
 *                  `aborted` instead.
 *   4. deliver     the decision to every participant (commit or abort,
 *                  idempotent), then mark the transaction delivered.
 *
 * Failure windows, and what closes each:
 *
 * - Before 3 (a bad entry found by an owner, an owner down or failing while
 *   staging, identity refusing): the gateway records `aborted` and tells the
 *   owners that staged; nothing was ever visible. If it cannot tell them (an
 *   owner down, the gateway dying), their staged entries stay invisible and
 *   keep their reservations until recovery delivers the abort.
 * - The gateway stops between 1 and 3: the transaction stays `pending` in
 *   identity's log; recovery (any gateway, every RECOVERY_INTERVAL_MS) aborts
 *   pending transactions older than identity's INGEST_STALE_SECONDS (far
 *   longer than one publication may take) and delivers the abort. Nothing
 *   becomes visible.
 * - 3 itself fails: identity's local transaction rolls back (the decision is
 *   still `pending`, no audit event, no patient written); the gateway
 *   records `aborted` if identity answers, and the caller gets 503. If
 *   identity did not answer at all (a timeout), the outcome is unknown to the
 *   gateway: the caller gets 503 and retries the same Bundle later (its
 *   conditional creates make the retry safe), and recovery settles the first
 *   attempt either way.
 * - After 3 (an owner down or failing when the commit is delivered): the
 *   decision stands. The owner's records become visible when recovery
 *   delivers the commit (the owner's staged entries survive its restart:
 *   they are rows in its own database). Until then the response says which
 *   owner has not confirmed (an OperationOutcome warning on its entries);
 *   this is the only window in which part of a committed transaction is
 *   visible before the rest.
 *
 * A `batch` is a series of independent one-entry transactions, each answered
 * on its own.
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../../../../lib/trust/actor.js';
import type {
  EntryResult, IdentityStageAnswer, IdentityStageRequest, PatientRef, StageAnswer, StageEntry, UndeliveredDecision, WriteAudit,
} from '../../../../lib/ingest/types.js';
import { INTERNAL_APIS, InternalApiError, internalCaller, type InternalCaller, type InternalCallerOptions } from '../../../../lib/runtime/internal-api.js';
import { UNKNOWN_PATIENT } from '../../../../lib/ingest/types.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../../../../lib/runtime/services.js';
import type { Issue, MappedEntry } from './map.js';

/** What a transaction gave: every entry's result, and the owners that have not confirmed the commit yet. */
export interface TransactionResult {
  transactionId: string;
  results: EntryResult[];
  /** Owners the commit could not be delivered to (recovery will). */
  undelivered: SubgraphName[];
}

/** A transaction that wrote nothing: the issues, and the HTTP status they call for. */
export class TransactionFailed extends Error {
  constructor(readonly status: number, readonly issues: Issue[]) {
    super(issues[0]?.message ?? 'transaction failed');
  }
}

export interface CoordinatorOptions extends Omit<InternalCallerOptions, 'requestId' | 'actor'> {}

/** The HTTP status of a set of issues: the first of 401, 403, 400, 404, 412, 409, 422, 503 present. */
export function statusOf(issues: Issue[]): number {
  for (const status of [401, 403, 400, 404, 412, 409, 422, 503, 500]) if (issues.some((i) => i.status === status)) return status;
  return 400;
}

const unavailable = (owner: string, message = `The ${owner} service is unavailable; nothing was written. Try again later.`): Issue =>
  ({ index: -1, status: 503, code: 'transient', message, expression: 'Bundle' });

/** The error an internal call raised, as issues: a product error from the owner (4xx) or an owner that could not answer (503). */
function issuesOfError(error: unknown, owner: string): Issue[] {
  if (error instanceof InternalApiError) return [unavailable(owner)];
  const code = (error as { extensions?: { code?: string } })?.extensions?.code;
  const status = code === 'FORBIDDEN' ? 403 : code === 'BAD_USER_INPUT' ? 400 : code === 'NOT_FOUND' ? 404 : code === 'CONFLICT' ? 409 : 503;
  return [{ index: -1, status, code: status === 503 ? 'transient' : status === 403 ? 'forbidden' : 'processing', message: error instanceof Error ? error.message : 'failed', expression: 'Bundle' }];
}

/** The audit events of a committed transaction: one per patient and action, records counted per category. */
export function auditOf(results: EntryResult[]): WriteAudit[] {
  const events = new Map<string, WriteAudit>();
  for (const result of results) {
    if (result.outcome === 'matched' || result.resourceType === 'MessageHeader') continue;
    const action = result.outcome === 'created' ? 'create' : result.outcome === 'relabelled' ? 'relabel' : 'update';
    const key = `${result.patientId}|${action}`;
    const event: WriteAudit = events.get(key) ?? { patientId: result.patientId, action, recordCounts: {} };
    event.recordCounts[result.category] = (event.recordCounts[result.category] ?? 0) + 1;
    // A label's removal names the record and the labels (shown in the trail).
    if (result.security) (event.labelsRemoved ??= []).push({ resourceType: result.resourceType, id: result.id, labels: result.security.removed });
    events.set(key, event);
  }
  return [...events.values()];
}

/** How much longer an owner's call may take per entry it carries (see Coordinator.caller). */
const PER_ENTRY_MS = 20;

export class Coordinator {
  constructor(private readonly options: CoordinatorOptions) {}

  /**
   * The owners' calls of one request. Their deadline grows with the records they carry (PER_ENTRY_MS each): a
   * hospital's 3,000-entry history is staged and committed in one call per owner, which a fixed deadline made for
   * a handful of records would cut short on a busy machine (a 503 for a request that would have succeeded).
   */
  private caller(actor: Actor, requestId: string, entries = 0): InternalCaller {
    const timeoutMs = this.options.timeoutMs === undefined ? undefined : this.options.timeoutMs + entries * PER_ENTRY_MS;
    return internalCaller({ ...this.options, requestId, actor, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  }

  /**
   * Runs one transaction over validated entries (see the module comment).
   * Throws TransactionFailed when nothing was written.
   */
  async run(actor: Actor, requestId: string, entries: MappedEntry[]): Promise<TransactionResult> {
    const caller = this.caller(actor, requestId, entries.length);
    const transactionId = randomUUID();
    const patientEntries = entries.filter((e) => e.owner === 'identity');
    const others = entries.filter((e) => e.owner !== 'identity');
    const participants = SUBGRAPH_NAMES.filter((name) => name !== 'identity' && others.some((e) => e.owner === name));

    // 1. Identity opens the transaction, stages the patients and resolves the references to existing ones.
    const refs = new Map<string, PatientRef>();
    const keyOf = (entry: MappedEntry) => {
      const link = entry.patient;
      if ('entry' in link) return null;
      const key = 'id' in link ? `id|${link.id}` : `identifier|${link.identifier.system}|${link.identifier.value}`;
      if (!refs.has(key)) refs.set(key, { key, expression: entry.patientExpression, index: entry.index, ...('id' in link ? { id: link.id } : { identifier: link.identifier }) });
      return key;
    };
    const patientIndexes = new Set(patientEntries.map((e) => e.index));
    for (const entry of others) {
      if (entry.op === 'relabel') continue; // names a record, not a patient: its owner answers with the record's
      if ('entry' in entry.patient && !patientIndexes.has(entry.patient.entry)) {
        throw new TransactionFailed(400, [{ index: entry.index, status: 400, code: 'invalid', message: 'The subject must reference a Patient entry of this Bundle', expression: entry.patientExpression }]);
      }
      keyOf(entry);
    }
    const identityRequest: IdentityStageRequest = {
      transactionId, participants, patientRefs: [...refs.values()],
      entries: patientEntries.map((e) => toStage(e, e.id)),
    };
    let identity: IdentityStageAnswer;
    try {
      identity = await caller.call<IdentityStageAnswer>(INTERNAL_APIS.ingestStage, identityRequest, 'identity');
    } catch (error) {
      // Identity may have opened the transaction before failing: recovery aborts it when it is stale.
      throw new TransactionFailed(503, issuesOfError(error, 'identity'));
    }
    if (!identity.ok) throw new TransactionFailed(statusOf(identity.issues ?? []), identity.issues ?? []);
    const patientOf = new Map(identity.results!.map((r) => [r.index, r.patientId]));
    const patientIdOf = (entry: MappedEntry): string => {
      if (entry.op === 'relabel') return UNKNOWN_PATIENT;
      const link = entry.patient;
      if ('entry' in link) return patientOf.get(link.entry)!;
      return identity.patients![keyOf(entry)!]!;
    };

    // 2. Every other owner stages its entries, in parallel; an owner whose entries link to another owner's entries
    //    of the Bundle (a care plan's Conditions) stages after the others, with the record ids they staged.
    const issues: Issue[] = [];
    const results: EntryResult[] = [...identity.results!];
    const linking = new Set(others.filter((e) => e.foreignLinks?.length).map((e) => e.owner));
    const stageWave = async (owners: SubgraphName[], prepare: (entry: MappedEntry) => StageEntry) => {
      const requests = owners.map((owner) => others.filter((e) => e.owner === owner).map(prepare));
      if (issues.length) return;
      const staged = await Promise.allSettled(owners.map((owner, i) =>
        caller.call<StageAnswer>(INTERNAL_APIS.ingestStage, { transactionId, entries: requests[i]! }, owner)));
      staged.forEach((outcome, i) => {
        if (outcome.status === 'rejected') issues.push(...issuesOfError(outcome.reason, owners[i]!));
        else if (!outcome.value.ok) issues.push(...outcome.value.issues);
        else results.push(...outcome.value.results);
      });
    };
    await stageWave(participants.filter((owner) => !linking.has(owner)), (e) => toStage(e, patientIdOf(e)));
    if (!issues.length && linking.size) {
      const stagedIds = new Map(results.map((r) => [r.index, r]));
      await stageWave(participants.filter((owner) => linking.has(owner)), (e) => {
        const stage = toStage(e, patientIdOf(e));
        if (!e.foreignLinks?.length) return stage;
        const record = { ...stage.record };
        for (const link of e.foreignLinks) {
          // A list column (a care plan's Conditions) or a single one (an observation's encounter).
          const resolve = (value: unknown, expression: string) => {
            const match = typeof value === 'string' ? /^entry:(\d+)$/.exec(value) : null;
            if (!match) return value;
            const target = stagedIds.get(Number(match[1]));
            if (!target || target.patientId !== stage.patientId) {
              issues.push({ index: e.index, status: target ? 422 : 400, code: target ? 'business-rule' : 'invalid',
                message: target ? 'The reference points at a record of another patient' : 'The reference does not point at a record another service staged', expression: `${e.path}.${expression}` });
            }
            return target?.id ?? null;
          };
          const value = record[link.column];
          record[link.column] = Array.isArray(value) ? value.map((item, n) => resolve(item, `${link.expression}[${n}]`)) : resolve(value, link.expression);
        }
        return { ...stage, record };
      });
    }
    if (issues.length) {
      await this.abort(caller, transactionId, participants);
      throw new TransactionFailed(statusOf(issues), issues);
    }

    // 3. The decision, with the audit events and identity's own writes, in one transaction at identity.
    try {
      await caller.call(INTERNAL_APIS.ingestDecide, { transactionId, decision: 'commit', audit: auditOf(results) }, 'identity');
    } catch (error) {
      if (error instanceof InternalApiError && !/answered/.test(error.message)) {
        // No answer: the decision may or may not be recorded. Recovery settles it; the caller retries safely.
        throw new TransactionFailed(503, [unavailable('identity', 'The transaction\'s outcome could not be confirmed (the audit trail did not answer). Retry the same request later: conditional creates make a retry safe.')]);
      }
      await this.abort(caller, transactionId, participants);
      throw new TransactionFailed(503, [unavailable('identity', 'The audit trail could not record this publication, so nothing was written. Try again later.')]);
    }

    // 4. Delivery: a participant that misses it commits when recovery delivers it.
    const undelivered = await this.deliver(caller, transactionId, 'committed', participants);
    results.sort((a, b) => a.index - b.index);
    return { transactionId, results, undelivered };
  }

  /** Records the abort (if identity answers) and tells every participant; failures are left to recovery. */
  private async abort(caller: InternalCaller, transactionId: string, participants: SubgraphName[]): Promise<void> {
    try {
      await caller.call(INTERNAL_APIS.ingestDecide, { transactionId, decision: 'abort' }, 'identity');
    } catch {
      return; // identity's log still says pending: recovery aborts it when stale, and tells the owners then
    }
    await this.deliver(caller, transactionId, 'aborted', participants);
  }

  /** Tells each participant the decision; marks the transaction delivered when all confirmed. Returns those that did not. */
  private async deliver(caller: InternalCaller, transactionId: string, state: 'committed' | 'aborted', participants: SubgraphName[]): Promise<SubgraphName[]> {
    const api = state === 'committed' ? INTERNAL_APIS.ingestCommit : INTERNAL_APIS.ingestAbort;
    const outcomes = await Promise.allSettled(participants.map((owner) => caller.call(api, { transactionId }, owner)));
    const missed = participants.filter((_, i) => outcomes[i]!.status === 'rejected');
    if (!missed.length && participants.length) {
      await caller.call(INTERNAL_APIS.ingestRecovery, { delivered: [transactionId] }, 'identity').catch(() => undefined);
    }
    return missed;
  }

  /**
   * Recovery: asks identity for decisions some owners have not been told
   * (after aborting stale pending transactions) and delivers them, with the
   * publishing actor of each. Returns how many transactions were settled.
   */
  async recover(options: { staleSeconds?: number } = {}): Promise<{ settled: number; pending: number }> {
    const service: Actor = { sub: 'gateway-ingest-recovery', role: 'admin', org: null, scope: '', patient: null, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: null };
    const requestId = randomUUID();
    const { decisions } = await this.caller(service, requestId).call<{ decisions: UndeliveredDecision[] }>(INTERNAL_APIS.ingestRecovery, { staleSeconds: options.staleSeconds }, 'identity');
    let settled = 0;
    for (const decision of decisions) {
      const missed = await this.deliver(this.caller(decision.actor as Actor, requestId), decision.transactionId, decision.state, decision.participants);
      if (!missed.length) settled++;
      if (!decision.participants.length) await this.caller(service, requestId).call(INTERNAL_APIS.ingestRecovery, { delivered: [decision.transactionId] }, 'identity').catch(() => undefined);
    }
    return { settled, pending: decisions.length - settled };
  }
}

function toStage(entry: MappedEntry, patientId: string): StageEntry {
  return {
    index: entry.index, path: entry.path, resourceType: entry.resourceType, kind: entry.kind, op: entry.op, id: entry.id, patientId,
    ...(entry.patientElement ? { patientElement: entry.patientElement } : {}), category: entry.category, ifNoneExist: entry.ifNoneExist, identifiers: entry.identifiers, record: entry.record, refs: entry.refs,
  };
}
