/**
 * Where export files go: local disk by default, an S3-compatible object
 * store when EXPORT_S3_BUCKET is set (@aws-sdk/client-s3, the maintained
 * AWS client, which speaks to MinIO, Ceph and other S3-compatible stores
 * through EXPORT_S3_ENDPOINT).
 *
 * A part is written under a temporary name and becomes readable only when
 * finished (a rename on disk; one PutObject of the finished file for S3), so
 * nothing half-written is ever under a part's name. The job store lists a
 * part only once the whole job completed (store.ts).
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Settings } from './config.js';

export interface PartWriter {
  /** Appends one line (an NDJSON resource, newline added). */
  write(line: string): Promise<void>;
  /** Makes the part readable under its key; its size in bytes. */
  finish(): Promise<number>;
  /** Drops what was written. */
  abort(): Promise<void>;
}

export interface ExportStorage {
  readonly kind: 'local' | 's3';
  open(jobId: string, name: string): Promise<PartWriter>;
  /** A finished part's bytes, streamed; null when gone. */
  read(key: string): Promise<Readable | null>;
  /** Deletes everything of a job (finished parts and leftovers). */
  removeJob(jobId: string): Promise<void>;
}

const SAFE = /^[A-Za-z0-9._-]+$/;

/** Writes lines to a file, honouring back-pressure. */
function fileWriter(file: string, onFinish: (bytes: number) => Promise<void>, onAbort: () => Promise<void>): PartWriter {
  const stream: WriteStream = createWriteStream(file, { flags: 'w' });
  let bytes = 0;
  let failed: Error | null = null;
  stream.on('error', (error) => { failed = error; });
  const closed = () => new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return {
    async write(line) {
      if (failed) throw failed;
      const chunk = `${line}\n`;
      bytes += Buffer.byteLength(chunk);
      if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
    },
    async finish() {
      await closed();
      if (failed) throw failed;
      await onFinish(bytes);
      return bytes;
    },
    async abort() {
      await closed().catch(() => undefined);
      await onAbort();
    },
  };
}

export function localStorage(root: string): ExportStorage {
  const dirOf = (jobId: string) => {
    if (!SAFE.test(jobId)) throw new Error('bad job id');
    return path.join(root, jobId);
  };
  return {
    kind: 'local',
    async open(jobId, name) {
      if (!SAFE.test(name)) throw new Error('bad part name');
      const dir = dirOf(jobId);
      await mkdir(dir, { recursive: true });
      const final = path.join(dir, name);
      const partial = `${final}.partial`;
      return fileWriter(partial, async () => rename(partial, final), async () => rm(partial, { force: true }));
    },
    async read(key) {
      const [jobId, name] = key.split('/');
      if (!jobId || !name || !SAFE.test(name)) return null;
      const file = path.join(dirOf(jobId), name);
      try {
        await stat(file);
      } catch {
        return null;
      }
      return createReadStream(file);
    },
    async removeJob(jobId) {
      await rm(dirOf(jobId), { recursive: true, force: true });
    },
  };
}

/**
 * S3-compatible storage. Each part is staged on local disk (stagingDir) and
 * sent whole when finished, so an object exists only complete; downloads
 * are streamed from the store through the gateway (the token is checked
 * here; no pre-signed URL leaves the gateway).
 */
export async function s3Storage(settings: S3Settings, stagingDir: string): Promise<ExportStorage> {
  const { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command, DeleteObjectsCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ region: settings.region, endpoint: settings.endpoint, forcePathStyle: settings.forcePathStyle });
  const staging = localStorage(stagingDir);
  const keyOf = (key: string) => `${settings.prefix}${key}`;
  return {
    kind: 's3',
    async open(jobId, name) {
      if (!SAFE.test(name) || !SAFE.test(jobId)) throw new Error('bad part name');
      const dir = path.join(stagingDir, jobId);
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, `${name}.partial`);
      return fileWriter(file, async (bytes) => {
        try {
          await client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: keyOf(`${jobId}/${name}`), Body: createReadStream(file), ContentLength: bytes, ContentType: 'application/fhir+ndjson' }));
        } finally {
          await rm(file, { force: true });
        }
      }, async () => rm(file, { force: true }));
    },
    async read(key) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: settings.bucket, Key: keyOf(key) }));
        return (answer.Body as Readable | undefined) ?? null;
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return null;
        throw error;
      }
    },
    async removeJob(jobId) {
      await staging.removeJob(jobId);
      let token: string | undefined;
      do {
        const listed = await client.send(new ListObjectsV2Command({ Bucket: settings.bucket, Prefix: keyOf(`${jobId}/`), ContinuationToken: token }));
        const objects = (listed.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
        if (objects.length) await client.send(new DeleteObjectsCommand({ Bucket: settings.bucket, Delete: { Objects: objects } }));
        token = listed.IsTruncated ? listed.NextContinuationToken : undefined;
      } while (token);
    },
  };
}
