/**
 * A gateway killed (SIGKILL) in the middle of a FHIR Bulk Data export, with
 * the six services as processes (scripts/process-stack.ts) and the export's
 * job store on disk (PGlite) or in PostgreSQL (with TEST_DATABASE_URL): once
 * the gateway runs again, the job is taken up and completes with exactly the
 * cohort, its manifest naming only complete files — never the parts the
 * killed gateway was writing.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcessStack, type ProcessStack } from '../scripts/process-stack.js';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { PROGRAMS } from '../lib/synthetic/registry.js';

const PATIENTS = 60;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
/** Every patient with an enrolment in force in a programme org-cdc runs: what its Patient-level export holds. */
const cdcPrograms = new Set(PROGRAMS.filter((p) => p.organizationId === 'org-cdc').map((p) => p.id));
const enrolled = bundles.filter((b) => b.enrollments.some((e) => cdcPrograms.has(e.programId) && e.status === 'active' && e.periodEnd === null));

describe('FHIR Bulk Data export across a gateway kill', () => {
  let stack: ProcessStack;
  let scratch: string;
  let exportDb: string | null = null;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'bulk-restart-'));
    let databaseUrl = `pglite://${path.join(scratch, 'store')}`;
    if (process.env.TEST_DATABASE_URL) {
      exportDb = `bulk_restart_${process.pid}_${Date.now()}`;
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${exportDb}`);
      await admin.end();
      const url = new URL(process.env.TEST_DATABASE_URL);
      url.pathname = `/${exportDb}`;
      databaseUrl = url.toString();
    }
    stack = await startProcessStack({
      patients: PATIENTS,
      backend: process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite',
      env: {
        EXPORT_DATABASE_URL: databaseUrl, EXPORT_STORAGE_DIR: path.join(scratch, 'files'), EXPORT_MAX_RESOURCES_PER_FILE: '5',
        EXPORT_STALE_AFTER_SECONDS: '2', EXPORT_MIN_POLL_SECONDS: '0', EXPORT_TICK_MS: '200',
      },
    });
  }, 300_000);

  afterAll(async () => {
    await stack?.close();
    await rm(scratch, { recursive: true, force: true });
    if (exportDb) {
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${exportDb} WITH (FORCE)`);
      await admin.end();
    }
  }, 120_000);

  it('takes the job up after the restart and completes it with complete files only', async () => {
    const token = await stack.token({ sub: 'ph-restart', role: 'public_health', org: 'org-cdc' });
    const base = stack.url.replace(/\/graphql$/, '');
    const kicked = await fetch(`${base}/fhir/Patient/$export`, { headers: { authorization: `Bearer ${token}`, prefer: 'respond-async' } });
    expect(kicked.status).toBe(202);
    const statusUrl = kicked.headers.get('content-location')!;
    const id = statusUrl.split('/').pop()!;
    // Kill the gateway once it has exported some patients (and written parts), before it is done.
    let progress = '';
    for (let i = 0; i < 600; i++) {
      const response = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status, 'the export finished before the gateway could be killed: raise PATIENTS').toBe(202);
      progress = response.headers.get('x-progress') ?? '';
      if (/^[1-9]\d* patients exported/.test(progress)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    stack.signal('gateway', 'SIGKILL');
    expect(await stack.exited('gateway', 30_000)).not.toBe(0);
    const left = await readdir(path.join(scratch, 'files', id)).catch(() => [] as string[]);
    await stack.restart('gateway');

    let manifest: { output: { type: string; url: string; count: number }[]; error: unknown[] } | null = null;
    for (let i = 0; i < 900 && !manifest; i++) {
      const response = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
      if (response.status === 200) manifest = await response.json() as typeof manifest;
      else expect([202, 429], await response.text()).toContain(response.status);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(manifest, `no manifest (killed at "${progress}", files then: ${left.join(', ')})`).not.toBeNull();
    expect(manifest!.error).toEqual([]);
    const patients: string[] = [];
    let total = 0;
    for (const file of manifest!.output) {
      const text = await (await fetch(file.url, { headers: { authorization: `Bearer ${token}` } })).text();
      const lines = text.split('\n').filter(Boolean);
      expect(lines.length, file.url).toBe(file.count);
      for (const line of lines) {
        const resource = JSON.parse(line) as { resourceType: string; id: string };
        expect(resource.resourceType).toBe(file.type);
        if (resource.resourceType === 'Patient') patients.push(resource.id);
      }
      total += lines.length;
    }
    expect(total).toBeGreaterThan(patients.length);
    expect(new Set(patients).size).toBe(patients.length);
    expect(patients.sort()).toEqual(enrolled.map((b) => b.patient.id).sort());
    const files = await readdir(path.join(scratch, 'files', id));
    expect(files.filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(files.length).toBe(manifest!.output.length);
  }, 600_000);
});
