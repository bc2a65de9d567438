/**
 * Runs export jobs in the background, through the gateway's own GraphQL
 * pipeline: the operations of `$everything` (../collect.ts) executed by the
 * same Apollo server as /graphql, as the caller who started the export (its
 * actor, stored with the job), for a batch of patients at once
 * (`collectPatients`: one `patients(ids: …)` operation with the first page of
 * every record type, then per patient only for the rest of a long record).
 * So the subgraphs apply exactly the consent rules of a single read to every
 * record (Query.patients resolves each patient as Query.patient does, and
 * each connection for the whole batch in one SQL statement), the scope
 * ceiling holds, and the audit plugin stores one event per patient and
 * operation, under the export's id, before the result is used — long before
 * the file holding the patient can be downloaded (files are listed only when
 * the whole job completed).
 *
 * Resources are then narrowed as FHIR search narrows them (a granular scope's
 * category), and by the kick-off: `_type`, `_since`, `_typeFilter` (matched
 * by search's own matcher). Each type goes to its own NDJSON parts of at most
 * `maxResourcesPerFile` resources; memory holds the records of the batches
 * in flight (`batchesInFlight`, each bounded by count and by bytes:
 * batches.ts) and a page of cohort ids at a time.
 *
 * Interactive requests come first: at most `concurrency` exports run per
 * gateway, a bounded number of operations in flight each, yielding to the
 * event loop between batches.
 */
import type { ApolloServer } from '@apollo/server';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { roleMaySee } from '../../../../lib/consent/policy.js';
import type { RequestLog } from '../../../../lib/runtime/http.js';
import type { Logger } from '../../../../lib/runtime/logger.js';
import type { GatewayContext } from '../../context.js';
import { collectPatient, collectPatients, interpret, pipelineExecutor, type Collected, type Executor } from '../collect.js';
import { toResources, type Resource } from '../mapping.js';
import { Masks } from '../masks.js';
import { errors, FhirError } from '../outcome.js';
import { CONNECTION_RESOURCES, exportPlan, type ExportPlan } from '../plan.js';
import { granularCodes } from '../../../../lib/trust/scopes.js';
import { meets, type Criterion } from '../search/match.js';
import type { BulkExportSettings } from './config.js';
import { BatchSizer } from './batches.js';
import { REGISTRY_TYPES, sinceCriterion, typeFilterCriteria } from './parameters.js';
import type { ExportStorage, PartWriter } from './storage.js';
import type { ExportFile, ExportJob, JobStore } from './store.js';

/** The programmes (FHIR Groups) the actor may export. */
export async function exportableGroups(execute: Executor): Promise<{ id: string; name: string; organization: { id: string; name: string | null } | null }[]> {
  const result = await retrying(async () => {
    const answer = await execute({ query: 'query BulkExportGroups { cohortPrograms { id name organization { id name } } }', variables: {} });
    interpret(answer, new Masks());
    return answer;
  });
  return (result.data?.cohortPrograms ?? []) as { id: string; name: string; organization: { id: string; name: string | null } | null }[];
}

const COHORT_PAGE = 500;

/** Delays before the retries of a read a service did not answer (SUBGRAPH_UNAVAILABLE, AUDIT_UNAVAILABLE: 502/503). */
const RETRY_DELAYS_MS = [500, 2000, 5000];

/**
 * Runs a read again when a service behind the gateway did not answer (a
 * subgraph restarting, a timeout under load): an export is hours of work
 * that one missed call should not throw away. Other failures, and the last
 * retry's, go to the caller.
 */
export async function retrying<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const transient = error instanceof FhirError && (error.status === 502 || error.status === 503);
      if (!transient || attempt >= RETRY_DELAYS_MS.length) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
    }
  }
}

/** A member of a programme's cohort: the patient, and when their enrolment in force started and was last recorded. */
interface Member {
  id: string;
  start: string | null;
  recorded: string | null;
}

/** The members of a programme's cohort, page by page (each page audited as a disclosure of the enrolments). */
async function* cohort(execute: Executor, programId: string): AsyncGenerator<Member[]> {
  let after: string | null = null;
  for (;;) {
    const result = await retrying(async () => {
      const answer = await execute({
        query: 'query BulkExportCohort($programId: ID!, $first: Int, $after: String) { programCohort(programId: $programId, first: $first, after: $after) { edges { node { id patient { id } period { start } lastUpdated } } pageInfo { hasNextPage endCursor } } }',
        variables: { programId, first: COHORT_PAGE, after },
      });
      interpret(answer, new Masks());
      return answer;
    });
    type Node = { patient: { id: string } | null; period: { start: string | null } | null; lastUpdated: string | null };
    const page = result.data?.programCohort as { edges: { node: Node }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } | null | undefined;
    if (!page) throw errors.upstream(result.errors);
    yield page.edges.flatMap(({ node }) => (node.patient?.id ? [{ id: node.patient.id, start: node.period?.start ?? null, recorded: node.lastUpdated ?? null }] : []));
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return;
    after = page.pageInfo.endCursor;
  }
}

/**
 * Whether a Group member was added to the Group after `since` (Bulk Data IG v2: such a patient's data is exported
 * whatever `_since` says): their enrolment in force started after it, or was recorded after it (an enrolment entered
 * late, its start backdated, is new to the Group for whoever exported at `since`). The enrolment's last-updated time
 * stands for when it was recorded (the store keeps no separate creation time), so an enrolment changed after `since`
 * also counts: its patient's data is sent whole, which is more than needed, never less.
 */
const addedSince = (member: Member, since: Date) => [member.start, member.recorded].some((t) => t !== null && Date.parse(t) > since.getTime());

/**
 * The patients of a job: explicit ones, a group's cohort, or every group's (deduplicated); `whole`: a Group
 * member added after the job's `_since`, whose data is exported whole.
 */
async function* patientsOf(job: ExportJob, execute: Executor): AsyncGenerator<{ id: string; whole: boolean }> {
  const explicit = job.patients ? new Set(job.patients) : null;
  if (job.level === 'group') {
    for await (const members of cohort(execute, job.groupId!)) {
      for (const member of members) if (!explicit || explicit.has(member.id)) yield { id: member.id, whole: job.since !== null && addedSince(member, job.since) };
    }
    return;
  }
  if (explicit) {
    for (const id of explicit) yield { id, whole: false };
    return;
  }
  const seen = new Set<string>();
  for (const group of await exportableGroups(execute)) {
    for await (const members of cohort(execute, group.id)) {
      for (const { id } of members) {
        if (seen.has(id)) continue;
        seen.add(id);
        yield { id, whole: false };
      }
    }
  }
}

/** A resource passes a granular scope's category restriction (as FHIR search and read apply it). */
function passesGranularScope(scope: string, resource: Resource): boolean {
  const granular = granularCodes(scope, resource.resourceType);
  if (!granular) return true;
  return meets(resource, { param: { name: 'category', type: 'token', definition: '', expression: '', paths: ['category'] }, type: 'token', values: [...granular].map((code) => ({ code })) });
}

class TypeOutput {
  private writer: PartWriter | null = null;
  private count = 0;
  readonly finished: ExportFile[] = [];
  constructor(private readonly storage: ExportStorage, private readonly jobId: string, readonly type: string, private readonly max: number, private readonly nextSeq: () => number) {}

  /** Writes one resource; answers its size (characters of JSON). */
  async write(resource: Resource): Promise<number> {
    if (!this.writer) this.writer = await this.storage.open(this.jobId, `${this.type}-${this.finished.length + 1}.ndjson`);
    const line = JSON.stringify(resource);
    await this.writer.write(line);
    if (++this.count >= this.max) await this.close();
    return line.length;
  }

  async close(): Promise<void> {
    if (!this.writer) return;
    const bytes = await this.writer.finish();
    const name = `${this.type}-${this.finished.length + 1}.ndjson`;
    this.finished.push({ seq: this.nextSeq(), resourceType: this.type, kind: 'output', count: this.count, bytes, storageKey: `${this.jobId}/${name}` });
    this.writer = null;
    this.count = 0;
  }

  async abort(): Promise<void> {
    await this.writer?.abort();
    this.writer = null;
  }
}

class Cancelled extends Error {}
class Abandoned extends Error {}

export class ExportWorker {
  private running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private ticking: Promise<void> | null = null;

  constructor(private readonly store: JobStore, private readonly storage: ExportStorage, private readonly apollo: ApolloServer<GatewayContext>,
    private readonly settings: BulkExportSettings, private readonly logger: Logger) {}

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.tick().catch((error: unknown) => this.logger.error({ err: error }, 'bulk export worker tick failed')).finally(() => {
        this.ticking = null;
        if (!this.stopped) this.timer = setTimeout(loop, this.settings.tickMs);
      });
    };
    loop();
  }

  /** Wakes the worker now (a kick-off just queued a job). */
  nudge(): void {
    if (this.stopped || this.ticking) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.start();
  }

  /** Exports running in this gateway now. */
  get active(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Stops taking work. Jobs in flight are abandoned at their next patient as
   * a crash would leave them (still `running` in the store, parts on disk):
   * the next start, here or in another gateway, recovers them once their beat
   * is stale — nothing depends on a clean stop.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking?.catch(() => undefined);
    await this.idle();
  }

  /** Jobs in flight finish (tests, graceful drain). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  private async tick(): Promise<void> {
    const recovered = await this.store.recover(this.settings.staleAfterSeconds, this.settings.maxAttempts, this.active);
    for (const id of [...recovered.requeued, ...recovered.failed]) {
      if (this.running.has(id)) continue;
      await this.storage.removeJob(id);
      this.logger.warn({ exportId: id, requeued: recovered.requeued.includes(id) }, 'bulk export interrupted by a gateway stop: its partial files were deleted');
    }
    for (const id of await this.store.expired()) {
      if (this.running.has(id)) continue;
      await this.storage.removeJob(id);
      await this.store.remove(id);
    }
    while (!this.stopped && this.running.size < this.settings.concurrency) {
      const job = await this.store.claim();
      if (!job) break;
      const work = this.run(job).finally(() => this.running.delete(job.id));
      this.running.set(job.id, work);
    }
  }

  private async run(job: ExportJob): Promise<void> {
    const log: RequestLog = { requestId: job.id, errorCodes: new Set(), operation: 'FHIR bulk export', actor: { role: job.actor.role, org: job.actor.org, clientId: job.actor.clientId } };
    const execute = pipelineExecutor(this.apollo, job.actor, job.id, log);
    let seq = 0;
    const outputs = new Map<string, TypeOutput>();
    const output = (type: string) => {
      let o = outputs.get(type);
      if (!o) outputs.set(type, (o = new TypeOutput(this.storage, job.id, type, this.settings.maxResourcesPerFile, () => ++seq)));
      return o;
    };
    try {
      await this.storage.removeJob(job.id); // leftovers of an interrupted attempt
      const types = new Set(job.types);
      const fullPlan = exportPlan(job.actor);
      const plan: ExportPlan = {
        ...fullPlan,
        patient: fullPlan.patient && types.has('Patient'),
        // Nor what the caller's role never sees (public health: the programme categories only, consent rule 6): every
        // patient's page would be empty, yet each would cost a consent filter, a statement and a subgraph call.
        connections: fullPlan.connections.filter((c) => {
          if (!roleMaySee(job.actor.role, CONNECTION_RESOURCES[c].category)) return false;
          const resourceType = (CONNECTION_TYPES as Record<string, string>)[c];
          return (resourceType && types.has(resourceType)) || (c === 'imagingStudies' && fullPlan.radiologyReports && types.has('DiagnosticReport'));
        }),
        registry: fullPlan.registry && REGISTRY_TYPES.some((t) => types.has(t)),
        // `_since`: the subgraphs return only records changed after it (their last-updated time), see sinceCriterion.
        ...(job.since ? { updatedSince: job.since.toISOString() } : {}),
      };
      plan.radiologyReports = fullPlan.radiologyReports && types.has('DiagnosticReport') && plan.connections.includes('imagingStudies');
      plan.reportLinks = plan.connections.includes('observations') && plan.connections.includes('diagnosticReports');
      const filters = new Map<string, Criterion[][]>();
      for (const f of job.typeFilters) filters.set(f.type, [...(filters.get(f.type) ?? []), typeFilterCriteria(f)]);
      const since = new Map<string, Criterion | null>();
      const sinceOf = (type: string) => {
        if (!job.since) return null;
        if (!since.has(type)) since.set(type, sinceCriterion(type, job.since));
        return since.get(type)!;
      };
      const registrySeen = new Set<string>();
      // A Group member added after `_since` (patientsOf): `_since` does not narrow their resources.
      const wanted = (resource: Resource, whole: boolean) => {
        if (!types.has(resource.resourceType)) return false;
        if ((REGISTRY_TYPES as readonly string[]).includes(resource.resourceType)) {
          const key = `${resource.resourceType}/${resource.id}`;
          if (registrySeen.has(key)) return false;
          registrySeen.add(key);
          return true;
        }
        if (!passesGranularScope(job.actor.scope, resource)) return false;
        const sinceCriterionOf = whole ? null : sinceOf(resource.resourceType);
        if (sinceCriterionOf && !meets(resource, sinceCriterionOf)) return false;
        const alternatives = filters.get(resource.resourceType);
        return !alternatives || alternatives.some((criteria) => criteria.every((c) => meets(resource, c)));
      };

      let done = 0;
      let lastBeat = Date.now();
      // Beats well within the time after which another gateway would take the job for abandoned.
      const beatMs = Math.min(1000, (this.settings.staleAfterSeconds * 1000) / 4);
      // A patient's resources, from its outcome in a batch (collectPatients): not visible (consent, no longer
      // enrolled, a token bound elsewhere) is nothing of the patient, as a read would answer; a service that did
      // not answer for this patient's later pages reads the patient again on its own (retrying), as before.
      const wholePlan: ExportPlan = { ...plan };
      delete wholePlan.updatedSince;
      const wholes = new Set<string>();
      const planOf = (patientId: string): ExportPlan => (wholes.has(patientId) ? wholePlan : plan);
      const resourcesOf = async (patientId: string, outcome: Collected | FhirError): Promise<Resource[]> => {
        let collected: Collected;
        try {
          if (outcome instanceof FhirError) {
            if (outcome.status !== 502 && outcome.status !== 503) throw outcome;
            collected = await retrying(() => collectPatient(execute, patientId, planOf(patientId)));
          } else collected = outcome;
        } catch (error) {
          if (error instanceof FhirError && (error.status === 404 || error.status === 403)) return [];
          throw error;
        }
        return toResources(collected, { base: job.baseUrl, plan }).map((e) => e.resource);
      };
      // Several patients per operation (EXPORT_BATCH_PATIENTS, fewer when their records are large: EXPORT_BATCH_BYTES),
      // EXPORT_BATCHES_IN_FLIGHT operations at once: the next batches are read while one is written.
      const batches = new BatchSizer(this.settings.batchPatients, this.settings.batchBytes);
      const readBatch = async (ids: string[]) => {
        const outcomes = await retrying(() => collectPatients(execute, ids, plan, this.settings.patientsInFlight, planOf));
        // Mapped one patient at a time, yielding between them: interactive requests wait for one patient's mapping at most.
        const results: Resource[][] = [];
        for (const [i, id] of ids.entries()) {
          results.push(await resourcesOf(id, outcomes[i]!));
          await yieldToEventLoop();
        }
        return results;
      };
      const writeBatch = async (ids: string[], results: Resource[][]) => {
        let bytes = 0;
        for (const [i, resources] of results.entries()) {
          const whole = wholes.has(ids[i]!);
          for (const resource of resources) if (wanted(resource, whole)) bytes += await output(resource.resourceType).write(resource);
          wholes.delete(ids[i]!);
        }
        batches.observe(ids.length, bytes);
        done += ids.length;
        if (this.stopped) throw new Abandoned();
        if (Date.now() - lastBeat > beatMs || done % 50 < ids.length) {
          lastBeat = Date.now();
          const status = await this.store.progress(job.id, done, job.patients?.length ?? null);
          if (status !== 'running') throw new Cancelled();
        }
        await yieldToEventLoop();
      };
      const reading: { ids: string[]; results: Promise<Resource[][]> }[] = [];
      const launch = (ids: string[]) => {
        const results = readBatch(ids);
        results.catch(() => undefined); // awaited in order below; a later batch's failure must not go unhandled meanwhile
        reading.push({ ids, results });
      };
      const writeOldest = async () => {
        const { ids, results } = reading.shift()!;
        await writeBatch(ids, await results);
      };
      let batch: string[] = [];
      for await (const { id: patientId, whole } of patientsOf(job, execute)) {
        if (whole) wholes.add(patientId);
        batch.push(patientId);
        if (batch.length >= batches.size) {
          launch(batch);
          batch = [];
          if (reading.length >= this.settings.batchesInFlight) await writeOldest();
        }
      }
      if (batch.length) launch(batch);
      while (reading.length) await writeOldest();
      for (const o of outputs.values()) await o.close();
      const files = [...outputs.values()].flatMap((o) => o.finished).sort((a, b) => a.seq - b.seq);
      const completed = await this.store.complete(job.id, files, new Date(Date.now() + this.settings.expirySeconds * 1000), done);
      if (!completed) throw new Cancelled();
      this.logger.info({ exportId: job.id, patients: done, files: files.length, resources: files.reduce((n, f) => n + f.count, 0) }, 'bulk export complete');
    } catch (error) {
      if (error instanceof Abandoned) {
        // As a crash: the store still says running, the parts stay; recovery deletes them and starts again.
        this.logger.warn({ exportId: job.id }, 'bulk export abandoned: the gateway is stopping');
        return;
      }
      for (const o of outputs.values()) await o.abort().catch(() => undefined);
      await this.storage.removeJob(job.id).catch(() => undefined);
      if (error instanceof Cancelled) {
        await this.store.remove(job.id);
        this.logger.info({ exportId: job.id }, 'bulk export cancelled');
        return;
      }
      const message = error instanceof FhirError ? error.message : 'The export failed on the server';
      this.logger.error({ exportId: job.id, err: error instanceof FhirError ? error.cause ?? error : error }, `bulk export failed: ${message}`);
      await this.store.fail(job.id, message);
    }
  }
}

const CONNECTION_TYPES = Object.fromEntries(Object.entries(CONNECTION_RESOURCES).map(([c, v]) => [c, v.resourceType]));
