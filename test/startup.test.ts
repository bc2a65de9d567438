/**
 * `npm start` (scripts/start.ts) as someone typing it: start-up failures are
 * one line naming the service and what to do, never a raw stack, and nothing
 * is left half-open; production mode is refused rather than half-applied; a
 * stop drains and exits 0. Each case runs the real script in its own
 * scratch folders and ports.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/process-stack.js';
import { GATEWAY, SUBGRAPH_NAMES, SUBGRAPHS } from '../lib/runtime/services.js';
import { ROOT } from '../lib/runtime/subgraph.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-startup-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm start`'s script with its own data and key folders and free ports; stops it (SIGTERM) once ready if `stopWhenReady`. */
async function npmStart(name: string, env: Record<string, string> = {}, stopWhenReady = false): Promise<Run> {
  const dir = path.join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const ports: Record<string, string> = {};
  for (const service of [GATEWAY, ...SUBGRAPH_NAMES.map((n) => SUBGRAPHS[n])]) ports[`${service.envPrefix}_PORT`] = String(await freePort());
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'start.ts')], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', PGLITE_DATA_DIR: path.join(dir, 'pglite'), DEV_KEY_DIR: path.join(dir, 'keys'), DEMO_PATIENTS: '3', ...ports, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
    if (stopWhenReady && stdout.includes('Ready in')) child.kill('SIGTERM');
  });
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(null); }, 150_000);
    child.once('exit', (exitCode) => { clearTimeout(timer); resolve(exitCode); });
  });
  return { code, stdout, stderr };
}

const noStack = (run: Run) => expect(run.stderr + run.stdout).not.toMatch(/\n\s+at .+:\d+:\d+/);

/** With a port held by another process and `variable` set to it, npm start stops at once, naming `what` and the variable. */
async function expectTakenPortNamed(name: string, variable: string, what: string): Promise<void> {
  const taken: Server = createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
  try {
    const run = await npmStart(name, { [variable]: String(port) });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${what}: port ${port} is already in use`);
    expect(run.stderr).toContain(variable);
    noStack(run);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
}

describe('npm start', () => {
  it('refuses production mode with a clear message', async () => {
    const run = await npmStart('production', { NODE_ENV: 'production' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/development demo.*never production/s);
    expect(run.stderr).toContain('npm run service --');
    // It points at a document that exists.
    const doc = /see (docs\/[\w-]+\.md)/.exec(run.stderr)?.[1];
    expect(doc && existsSync(path.join(ROOT, doc))).toBe(true);
    noStack(run);
  });

  it('names the service and the port when a port is taken, before opening any database', async () => {
    await expectTakenPortNamed('port', 'LABS_PORT', 'labs');
  });

  it('names a taken metrics port and its variable, before opening any database', async () => {
    await expectTakenPortNamed('metrics-port', 'IMAGING_METRICS_PORT', 'imaging metrics');
  });

  it('names a corrupt development key file and what to do', async () => {
    const keys = path.join(scratch, 'corrupt-keys', 'keys');
    mkdirSync(keys, { recursive: true });
    writeFileSync(path.join(keys, 'dev-keys.json'), '{ not json');
    const run = await npmStart('corrupt-keys');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(path.join(keys, 'dev-keys.json'));
    expect(run.stderr).toMatch(/Delete it and start again/);
    noStack(run);
  });

  it('names a damaged embedded database directory and what to do', async () => {
    const labs = path.join(scratch, 'damaged', 'pglite', 'labs');
    mkdirSync(path.join(labs, 'base'), { recursive: true });
    writeFileSync(path.join(labs, 'PG_VERSION'), 'garbage\n');
    writeFileSync(path.join(labs, 'postgresql.conf'), '\u0000\u0001 not a config');
    const run = await npmStart('damaged');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/labs: .*embedded database in .*labs cannot be opened/);
    expect(run.stderr).toMatch(/move it away|delete it/);
    noStack(run);
  }, 180_000);

  it('seeds, drains on SIGTERM and exits 0; a store deleted afterwards is named instead of served empty', async () => {
    const first = await npmStart('deleted', {}, true);
    expect(first.stdout).toContain('Ready in');
    expect(first.code).toBe(0);
    rmSync(path.join(scratch, 'deleted', 'pglite', 'labs'), { recursive: true, force: true });
    const second = await npmStart('deleted');
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/labs: its database .* is empty while identity's holds the demo patients/);
    // Never advice that would wipe the stores that still hold data.
    expect(second.stderr.replace(/\([^)]*\)/g, '')).not.toMatch(/delete|remove|rm -rf/i);
    noStack(second);
  }, 300_000);

  it('refuses a database URL of another kind (mysql://) in one line, creating nothing', async () => {
    for (const url of ['mysql://x@127.0.0.1/labs', 'postgress://postgres@127.0.0.1/labs', 'http://127.0.0.1/labs']) {
      const run = await npmStart('foreign-url', { LABS_DATABASE_URL: url });
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(/labs: LABS_DATABASE_URL has the scheme \w+:\/\/ .*postgres:\/\/user@host:5432\/database/);
      noStack(run);
      // Nothing was taken for a directory: not inside the repository, not under the data directory.
      expect(existsSync(path.join(ROOT, url.split(':')[0]! + ':'))).toBe(false);
      expect(existsSync(path.join(scratch, 'foreign-url', 'pglite'))).toBe(false);
    }
  }, 180_000);

  it.skipIf(!process.env.TEST_DATABASE_URL)('names a PostgreSQL database that does not exist in plain words, not a server code', async () => {
    const url = new URL(process.env.TEST_DATABASE_URL!);
    url.pathname = '/fpr_no_such_database';
    const run = await npmStart('missing-database', { LABS_DATABASE_URL: url.toString() });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/labs: its PostgreSQL database does not exist \(database "fpr_no_such_database" does not exist\): create it .* or correct LABS_DATABASE_URL/);
    expect(run.stderr).not.toMatch(/3D000/);
    noStack(run);
  }, 180_000);
});
