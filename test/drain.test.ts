/**
 * Stopping with a deregistration delay (SHUTDOWN_DELAY_MS), seen from outside:
 * a real process running the shared HTTP front (lib/runtime/http.ts) under the
 * services' signal handling (lib/runtime/lifecycle.ts drainOnSignals), spoken
 * to over real connections. After SIGTERM, for the delay, `/ready` answers 503
 * while everything else is served as before: a new connection is accepted and
 * answered, and so is a request on a keep-alive connection opened before the
 * signal (a balancer that has not yet seen the 503 loses nothing). Then it
 * drains and exits 0. A second signal exits at once, during the delay too.
 * Without the variable there is no delay: the listener closes at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../lib/runtime/subgraph.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'drain-'));
// .mts: an ES module wherever it lies (top-level await), outside the repository's package.json.
const program = path.join(scratch, 'service.mts');
const lib = (file: string) => JSON.stringify(path.join(ROOT, 'lib', 'runtime', file));
// As scripts/service.ts starts a service: its HTTP front, then drainOnSignals with SHUTDOWN_GRACE_MS and SHUTDOWN_DELAY_MS.
writeFileSync(program, `
import { ApolloServer } from ${JSON.stringify(createRequire(path.join(ROOT, 'package.json')).resolve('@apollo/server'))};
import { millisecondsFromEnv, startHttpService } from ${lib('http.ts')};
import { DEFAULT_SHUTDOWN_DELAY_MS, drainOnSignals } from ${lib('lifecycle.ts')};
import { createLogger } from ${lib('logger.ts')};
const logger = createLogger('drain-test');
const apollo = new ApolloServer({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'world' } }, stopOnTerminationSignals: false });
const service = await startHttpService({
  apollo, context: async () => ({}), health: () => ({}), ready: async () => ({ ready: true }), maxBodyBytes: 10_000, logger, host: '127.0.0.1', port: 0,
});
drainOnSignals((graceMs, delayMs) => service.drain(graceMs, delayMs), logger, millisecondsFromEnv('SHUTDOWN_GRACE_MS', 2000),
  millisecondsFromEnv('SHUTDOWN_DELAY_MS', DEFAULT_SHUTDOWN_DELAY_MS, process.env, true));
console.log('PORT ' + service.port);
`);

interface Running { child: ChildProcess; port: number; exited: Promise<number | null> }

async function start(env: Record<string, string>): Promise<Running> {
  const { SHUTDOWN_DELAY_MS: _delay, ...rest } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', program], { cwd: ROOT, env: { ...rest, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /PORT (\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    void exited.then((code) => reject(new Error(`the service exited (${code}) before listening: ${output}`)));
  });
  return { child, port, exited };
}

/** One request on `agent`'s connections: its status, body, and whether it went on a connection already open. */
function request(port: number, agent: http.Agent, method: 'GET' | 'POST', route: string): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const body = method === 'POST' ? JSON.stringify({ query: '{ hello }' }) : undefined;
    const sent = http.request({ host: '127.0.0.1', port, method, path: route, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text, reused: sent.reusedSocket }));
      response.on('error', reject);
    });
    sent.on('error', reject);
    sent.end(body);
  });
}

const within = <T>(promise: Promise<T>, ms: number) => Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms))]);

describe('stopping with a deregistration delay (SHUTDOWN_DELAY_MS)', () => {
  const running: Running[] = [];
  afterAll(() => {
    for (const { child } of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  });

  it('after SIGTERM, for the delay: /ready 503, a new connection served, a keep-alive one opened before served; then it drains and exits 0', { timeout: 60_000 }, async () => {
    const delayMs = 3000;
    const service = await start({ SHUTDOWN_DELAY_MS: String(delayMs) });
    running.push(service);
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const fresh = () => new http.Agent({ keepAlive: false });
    expect((await request(service.port, keepAlive, 'POST', '/graphql')).status).toBe(200);
    expect((await request(service.port, fresh(), 'GET', '/ready')).status).toBe(200);

    const signalled = Date.now();
    service.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ready = await request(service.port, fresh(), 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'unavailable', ready: false, draining: true });
    // A connection opened now is accepted and answered in full.
    const answered = await request(service.port, fresh(), 'POST', '/graphql');
    expect([answered.status, JSON.parse(answered.body)]).toEqual([200, { data: { hello: 'world' } }]);
    // The keep-alive connection from before the signal is still open, and a request on it is answered.
    const onKept = await request(service.port, keepAlive, 'POST', '/graphql');
    expect([onKept.status, onKept.reused, JSON.parse(onKept.body)]).toEqual([200, true, { data: { hello: 'world' } }]);
    expect((await request(service.port, fresh(), 'GET', '/health')).status).toBe(200);
    expect(Date.now() - signalled).toBeLessThan(delayMs);
    keepAlive.destroy();

    expect(await within(service.exited, 20_000)).toBe(0);
    // It served on for the whole delay before stopping.
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(delayMs);
    await expect(request(service.port, fresh(), 'GET', '/health')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('a second signal during the delay exits at once', { timeout: 60_000 }, async () => {
    const service = await start({ SHUTDOWN_DELAY_MS: '30000' });
    running.push(service);
    service.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await request(service.port, new http.Agent(), 'GET', '/ready')).status).toBe(503);
    const signalled = Date.now();
    service.child.kill('SIGTERM');
    expect(await within(service.exited, 5_000)).toBe(1);
    expect(Date.now() - signalled).toBeLessThan(5_000);
  });

  it('without SHUTDOWN_DELAY_MS there is no delay: the listener closes at once and it exits 0', { timeout: 60_000 }, async () => {
    const service = await start({});
    running.push(service);
    const signalled = Date.now();
    service.child.kill('SIGTERM');
    expect(await within(service.exited, 10_000)).toBe(0);
    // Well under any delay a balancer would need: the default leaves it to Kubernetes' preStop pause.
    expect(Date.now() - signalled).toBeLessThan(2_000);
  });
});
