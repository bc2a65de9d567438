/**
 * Logs as a person sees them (issue 24, item 4: one GraphQL request printed
 * about 80 lines in a terminal): on a terminal, in development, a request is
 * one short line and debug-level routine work prints nothing; when the output
 * is not a terminal, or in production, the same lines are JSON for a
 * collector. Run in a real pseudo-terminal (util-linux `script`), with the
 * logger every service creates (lib/runtime/logger.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../lib/runtime/subgraph.js';

const run = promisify(execFile);
const SCRIPT = ['/usr/bin/script', '/bin/script'].find(existsSync);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'logger-terminal-'));
const program = path.join(scratch, 'log.ts');
// A request line as lib/runtime/http.ts writes it, a routine poll at debug, and a failure with its stack.
writeFileSync(program, `
import { createLogger } from ${JSON.stringify(path.join(ROOT, 'lib', 'runtime', 'logger.ts'))};
const log = createLogger('gateway');
log.info({ rid: 'r-1', trace: 't-1', method: 'POST', path: '/graphql', op: 'Chart', status: 200, ms: 41, role: 'clinician', org: 'org-county-south' }, 'request');
log.debug({ settled: 0, pending: 0 }, 'ingest recovery');
log.info({ settled: 2 }, 'ingest recovery');
`);
const env = (extra: Record<string, string>) => {
  const { NODE_ENV: _mode, LOG_LEVEL: _level, ...rest } = process.env;
  return { ...rest, LOG_LEVEL: 'info', ...extra };
};
const command = `${process.execPath} --import tsx ${program}`;
const lines = (text: string) => text.replace(/\r/g, '').split('\n').filter((line) => line.trim());

describe('the services\' logs', () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it.runIf(SCRIPT)('on a terminal in development: one short line per request, nothing for routine work that did nothing', { timeout: 120_000 }, async () => {
    const { stdout } = await run(SCRIPT!, ['-qec', command, '/dev/null'], { cwd: ROOT, env: env({}) });
    const shown = lines(stdout.replace(/\x1b\[[0-9;]*m/g, ''));
    expect(shown).toHaveLength(2);
    expect(shown[0]).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: gateway POST \/graphql Chart → 200 41 ms clinician@org-county-south$/);
    expect(shown[1]).toMatch(/INFO: gateway ingest recovery settled=2$/);
  });

  it.runIf(SCRIPT)('on a terminal in production: JSON lines', { timeout: 120_000 }, async () => {
    const { stdout } = await run(SCRIPT!, ['-qec', command, '/dev/null'], { cwd: ROOT, env: env({ NODE_ENV: 'production' }) });
    const parsed = lines(stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.map((line) => line.msg)).toEqual(['request', 'ingest recovery']);
    expect(parsed[0]).toMatchObject({ service: 'gateway', op: 'Chart', status: 200, rid: 'r-1', trace: 't-1' });
  });

  it('not on a terminal (a pipe, a collector): JSON lines, in development too', { timeout: 120_000 }, async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', program], { cwd: ROOT, env: env({ NODE_ENV: 'development' }) });
    const parsed = lines(stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.map((line) => line.msg)).toEqual(['request', 'ingest recovery']);
    expect(parsed[0]).toMatchObject({ level: 'info', method: 'POST', path: '/graphql', ms: 41 });
  });
});
