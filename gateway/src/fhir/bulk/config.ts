/**
 * Settings of the FHIR Bulk Data export (docs/bulk-export.md), from the
 * environment unless the gateway is given them (tests).
 */
import path from 'node:path';

export interface S3Settings {
  bucket: string;
  /** An S3-compatible endpoint (MinIO, Ceph, …); AWS when absent. */
  endpoint?: string;
  region: string;
  /** Key prefix inside the bucket. */
  prefix: string;
  forcePathStyle: boolean;
}

export interface BulkExportSettings {
  /** The job store: postgres://…, pglite://<dir>, memory:// (tests), or off. */
  databaseUrl: string;
  /** Where parts are written (local disk; also the staging area of S3 uploads). */
  storageDir: string;
  /** Files go to this object store when set. */
  s3: S3Settings | null;
  /** At most this many resources per file. */
  maxResourcesPerFile: number;
  /** How long the files of a completed export stay (then deleted, and the status URL answers 404). */
  expirySeconds: number;
  /** Exports running at once in this gateway (the rest queue). */
  concurrency: number;
  /** Patients of a batch read at once with operations of their own (those with more than a page of some record type). */
  patientsInFlight: number;
  /** At most this many patients in one operation of an export (Query.patients; at most 100). */
  batchPatients: number;
  /** Fewer patients per operation when their resources would pass this many bytes (estimated from the last batches). */
  batchBytes: number;
  /** Operations (batches) one export has in flight at once: the next ones are read while one is written. */
  batchesInFlight: number;
  /** Exports one caller may have queued or running at once (429 beyond). */
  maxActivePerCaller: number;
  /** A caller polling one status URL more often than this gets 429 (Retry-After). */
  minPollSeconds: number;
  /** A running job whose gateway stopped beating this long ago is started again (or failed). */
  staleAfterSeconds: number;
  /** Attempts before a job that keeps being interrupted is failed. */
  maxAttempts: number;
  /** How often the worker looks for work and expired files. */
  tickMs: number;
}

const num = (env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min} (got ${raw})`);
  return value;
};

export function bulkExportSettings(env: NodeJS.ProcessEnv = process.env, overrides: Partial<BulkExportSettings> = {}): BulkExportSettings {
  const dataDir = env.PGLITE_DATA_DIR ?? '.data/pglite';
  const bucket = env.EXPORT_S3_BUCKET;
  return {
    databaseUrl: env.EXPORT_DATABASE_URL ?? `pglite://${dataDir}/gateway-export`,
    storageDir: env.EXPORT_STORAGE_DIR ?? path.join(path.dirname(dataDir), 'bulk-export'),
    s3: bucket ? {
      bucket,
      endpoint: env.EXPORT_S3_ENDPOINT || undefined,
      region: env.EXPORT_S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
      prefix: env.EXPORT_S3_PREFIX ?? 'bulk-export/',
      forcePathStyle: env.EXPORT_S3_FORCE_PATH_STYLE === 'true' || Boolean(env.EXPORT_S3_ENDPOINT),
    } : null,
    maxResourcesPerFile: num(env, 'EXPORT_MAX_RESOURCES_PER_FILE', 10_000, 1),
    expirySeconds: num(env, 'EXPORT_EXPIRY_SECONDS', 24 * 3600, 1),
    concurrency: num(env, 'EXPORT_CONCURRENCY', 1, 1),
    patientsInFlight: num(env, 'EXPORT_PATIENTS_IN_FLIGHT', 2, 1),
    batchPatients: Math.min(100, num(env, 'EXPORT_BATCH_PATIENTS', 25, 1)),
    batchBytes: num(env, 'EXPORT_BATCH_BYTES', 1024 * 1024, 1024),
    batchesInFlight: num(env, 'EXPORT_BATCHES_IN_FLIGHT', 2, 1),
    maxActivePerCaller: num(env, 'EXPORT_MAX_ACTIVE_PER_CALLER', 2, 1),
    minPollSeconds: num(env, 'EXPORT_MIN_POLL_SECONDS', 2, 0),
    staleAfterSeconds: num(env, 'EXPORT_STALE_AFTER_SECONDS', 60, 1),
    maxAttempts: num(env, 'EXPORT_MAX_ATTEMPTS', 3, 1),
    tickMs: num(env, 'EXPORT_TICK_MS', 1000, 10),
    ...overrides,
  };
}
