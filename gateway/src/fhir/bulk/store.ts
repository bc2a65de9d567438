/**
 * The export job store: the gateway's own small database (it has none
 * otherwise), opened like the subgraphs' stores (lib/runtime/db.ts):
 * PostgreSQL when EXPORT_DATABASE_URL names a server, else embedded PGlite
 * under the data directory. Migrations: gateway/migrations/, applied at start.
 */
import path from 'node:path';
import type { Actor } from '../../../../lib/trust/actor.js';
import { migrate, openDatabase, type Database, type Queryable } from '../../../../lib/runtime/db.js';
import { ROOT } from '../../../../lib/runtime/subgraph.js';

export const EXPORT_MIGRATIONS = path.join(ROOT, 'gateway', 'migrations');

export type JobStatus = 'queued' | 'running' | 'complete' | 'failed' | 'cancelled';
export type ExportLevel = 'system' | 'patient' | 'group';

export interface TypeFilter { type: string; query: string }

export interface ExportJob {
  id: string;
  ownerSub: string;
  ownerClient: string | null;
  actor: Actor;
  level: ExportLevel;
  groupId: string | null;
  types: string[];
  since: Date | null;
  typeFilters: TypeFilter[];
  patients: string[] | null;
  requestUrl: string;
  baseUrl: string;
  status: JobStatus;
  attempts: number;
  patientsDone: number;
  patientsTotal: number | null;
  transactionTime: Date;
  expiresAt: Date | null;
  lastPolledAt: Date | null;
  error: string | null;
}

export interface ExportFile { seq: number; resourceType: string; kind: 'output' | 'error'; count: number; bytes: number; storageKey: string }

type Row = Record<string, unknown>;
const date = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string | Date));
const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) as T : v as T);

function toJob(row: Row): ExportJob {
  return {
    id: String(row.id),
    ownerSub: String(row.owner_sub),
    ownerClient: (row.owner_client as string | null) ?? null,
    actor: json<Actor>(row.actor),
    level: row.level as ExportLevel,
    groupId: (row.group_id as string | null) ?? null,
    types: row.types as string[],
    since: date(row.since),
    typeFilters: json<TypeFilter[]>(row.type_filters) ?? [],
    patients: json<string[] | null>(row.patients) ?? null,
    requestUrl: String(row.request_url),
    baseUrl: String(row.base_url),
    status: row.status as JobStatus,
    attempts: Number(row.attempts),
    patientsDone: Number(row.patients_done),
    patientsTotal: row.patients_total === null ? null : Number(row.patients_total),
    transactionTime: date(row.transaction_time)!,
    expiresAt: date(row.expires_at),
    lastPolledAt: date(row.last_polled_at),
    error: (row.error as string | null) ?? null,
  };
}

export class JobStore {
  private constructor(readonly db: Database) {}

  static async open(url: string): Promise<JobStore> {
    const db = await openDatabase(url, 'EXPORT_DATABASE_URL');
    try {
      await migrate(db, EXPORT_MIGRATIONS);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
    return new JobStore(db);
  }

  async create(job: Omit<ExportJob, 'status' | 'attempts' | 'patientsDone' | 'patientsTotal' | 'expiresAt' | 'lastPolledAt' | 'error'>, maxActive: number): Promise<'created' | 'too-many'> {
    return this.db.transaction(async (tx) => {
      // One caller's exports counted and the new one added under one lock, so two kick-offs cannot both pass the limit.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`bulk-export:${job.ownerSub}`]);
      const [active] = await tx.query<{ n: string }>("SELECT count(*) AS n FROM bulk_export_job WHERE owner_sub = $1 AND status IN ('queued', 'running')", [job.ownerSub]);
      if (Number(active?.n ?? 0) >= maxActive) return 'too-many';
      await tx.query(
        `INSERT INTO bulk_export_job (id, owner_sub, owner_client, actor, level, group_id, types, since, type_filters, patients, request_url, base_url, status, transaction_time)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::text[], $8, $9::jsonb, $10::jsonb, $11, $12, 'queued', $13)`,
        [job.id, job.ownerSub, job.ownerClient, JSON.stringify(job.actor), job.level, job.groupId, job.types, job.since?.toISOString() ?? null,
          JSON.stringify(job.typeFilters), job.patients ? JSON.stringify(job.patients) : null, job.requestUrl, job.baseUrl, job.transactionTime.toISOString()],
      );
      return 'created';
    });
  }

  async get(id: string): Promise<ExportJob | null> {
    const [row] = await this.db.query<Row>('SELECT * FROM bulk_export_job WHERE id = $1', [id]);
    return row ? toJob(row) : null;
  }

  async files(id: string): Promise<ExportFile[]> {
    const rows = await this.db.query<Row>('SELECT * FROM bulk_export_file WHERE job_id = $1 ORDER BY seq', [id]);
    return rows.map((r) => ({ seq: Number(r.seq), resourceType: String(r.resource_type), kind: r.kind as 'output' | 'error', count: Number(r.count), bytes: Number(r.bytes), storageKey: String(r.storage_key) }));
  }

  /** Records a poll unless the last one was under `minSeconds` ago; false: too soon. */
  async poll(id: string, minSeconds: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE bulk_export_job SET last_polled_at = now()
       WHERE id = $1 AND (last_polled_at IS NULL OR last_polled_at <= now() - make_interval(secs => $2::double precision)) RETURNING id`,
      [id, minSeconds],
    );
    return rows.length > 0;
  }

  /** Claims the oldest queued job, when fewer than `concurrency` run here. */
  async claim(): Promise<ExportJob | null> {
    const [row] = await this.db.query<Row>(
      `UPDATE bulk_export_job SET status = 'running', attempts = attempts + 1, started_at = now(), heartbeat_at = now(), patients_done = 0
       WHERE id = (SELECT id FROM bulk_export_job WHERE status = 'queued' ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
    );
    return row ? toJob(row) : null;
  }

  async progress(id: string, done: number, total: number | null): Promise<JobStatus | null> {
    const [row] = await this.db.query<{ status: JobStatus }>(
      'UPDATE bulk_export_job SET patients_done = $2, patients_total = $3, heartbeat_at = now() WHERE id = $1 RETURNING status', [id, done, total]);
    return row?.status ?? null;
  }

  /** Completes a running job with its files, in one transaction; false when it was cancelled meanwhile. */
  async complete(id: string, files: ExportFile[], expiresAt: Date, done: number): Promise<boolean> {
    return this.db.transaction(async (tx: Queryable) => {
      const [row] = await tx.query<{ status: string }>('SELECT status FROM bulk_export_job WHERE id = $1 FOR UPDATE', [id]);
      if (row?.status !== 'running') return false;
      for (const f of files) {
        await tx.query('INSERT INTO bulk_export_file (job_id, seq, resource_type, kind, count, bytes, storage_key) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [id, f.seq, f.resourceType, f.kind, f.count, f.bytes, f.storageKey]);
      }
      await tx.query("UPDATE bulk_export_job SET status = 'complete', finished_at = now(), expires_at = $2, patients_done = $3, patients_total = $3 WHERE id = $1",
        [id, expiresAt.toISOString(), done]);
      return true;
    });
  }

  async fail(id: string, message: string): Promise<void> {
    await this.db.query("UPDATE bulk_export_job SET status = 'failed', finished_at = now(), error = $2, expires_at = now() + interval '1 hour' WHERE id = $1 AND status = 'running'", [id, message]);
  }

  /** Cancels a job that is not over yet or completed; false when there is nothing to cancel. */
  async cancel(id: string): Promise<boolean> {
    const rows = await this.db.query("UPDATE bulk_export_job SET status = 'cancelled', finished_at = now() WHERE id = $1 AND status IN ('queued', 'running', 'complete', 'failed') RETURNING id", [id]);
    return rows.length > 0;
  }

  /**
   * Jobs left running by a gateway that stopped (no beat for `staleSeconds`):
   * queued again, or failed after `maxAttempts`. Their partial parts are the
   * caller's to delete (returned).
   */
  async recover(staleSeconds: number, maxAttempts: number, runningHere: string[]): Promise<{ requeued: string[]; failed: string[] }> {
    const stale = await this.db.query<{ id: string; attempts: number }>(
      `SELECT id, attempts FROM bulk_export_job WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1::double precision))
         AND NOT (id = ANY($2::uuid[]))`, [staleSeconds, runningHere]);
    const requeued: string[] = [];
    const failed: string[] = [];
    for (const job of stale) {
      if (Number(job.attempts) >= maxAttempts) {
        await this.db.query("UPDATE bulk_export_job SET status = 'failed', finished_at = now(), error = $2, expires_at = now() + interval '1 hour' WHERE id = $1 AND status = 'running'",
          [job.id, `The export was interrupted ${job.attempts} times (gateway restarts) and was given up`]);
        failed.push(String(job.id));
      } else {
        await this.db.query("UPDATE bulk_export_job SET status = 'queued', patients_done = 0 WHERE id = $1 AND status = 'running'", [job.id]);
        requeued.push(String(job.id));
      }
    }
    return { requeued, failed };
  }

  /** Jobs to delete now: expired ones, and cancelled ones (their files go, then the row). */
  async expired(): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      "SELECT id FROM bulk_export_job WHERE (status IN ('complete', 'failed') AND expires_at <= now()) OR status = 'cancelled' ORDER BY created_at LIMIT 100");
    return rows.map((r) => String(r.id));
  }

  /** Deletes a job row (and its file rows), unless it is running (a cancelled running job is deleted by its worker). */
  async remove(id: string): Promise<void> {
    await this.db.query("DELETE FROM bulk_export_job WHERE id = $1 AND status <> 'running'", [id]);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
