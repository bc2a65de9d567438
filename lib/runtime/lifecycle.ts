/**
 * Starting and stopping a service the way an operator expects:
 *
 * - a start-up failure is one line naming the service, what failed (the port,
 *   the file, the database directory) and what to do — never a raw stack;
 * - SIGTERM (and SIGINT) drains: its readiness turns 503 at once, and for
 *   SHUTDOWN_DELAY_MS it still serves as before (new connections, keep-alive
 *   ones), while a balancer's health checks take it out; then it stops
 *   accepting, requests in flight finish within SHUTDOWN_GRACE_MS, the
 *   databases close and the process exits 0. A second signal exits at once,
 *   during the delay too.
 */
import net from 'node:net';
import { ConfigurationError } from '../trust/keys.js';
import type { Logger } from './logger.js';

export const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;
/**
 * No deregistration delay unless set: under Kubernetes the pod leaves the Service's endpoints as it starts
 * terminating, and the manifests' preStop pause (5 s) already waits for the proxies before SIGTERM, so a delay here
 * would make every pod wait twice; `npm start` has no balancer. Behind a balancer that learns only from `/ready`
 * (HAProxy: scripts/replicas.ts), set it above the time its checks take to mark a replica down.
 */
export const DEFAULT_SHUTDOWN_DELAY_MS = 0;

/** A start-up failure an operator can act on. */
export class StartupError extends Error {
  constructor(readonly service: string, message: string) {
    super(`${service}: ${message}`);
  }
}

/** Turns what went wrong while starting `service` into one actionable sentence. */
export function describeStartupError(service: string, error: unknown, ports: Record<string, { variable: string; port: number }> = {}): string {
  return error instanceof StartupError ? error.message : `${service}: ${startupDetail(service, error, ports)}`;
}

/** The same, as a StartupError (keeps one naming the service as it is). */
export const startupError = (service: string, error: unknown, ports: Record<string, { variable: string; port: number }> = {}) =>
  error instanceof StartupError ? error : new StartupError(service, startupDetail(service, error, ports));

function startupDetail(service: string, error: unknown, ports: Record<string, { variable: string; port: number }>): string {
  if (error instanceof ConfigurationError) return `configuration error: ${error.message}`;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const where = ports[service];
  if (code === 'EADDRINUSE') {
    return `port ${where?.port ?? (error as { port?: number }).port ?? '?'} is already in use: stop the process using it, or set ${where?.variable ?? 'its _PORT variable'} to a free port`;
  }
  if (code === 'EACCES') return `not allowed to listen on port ${where?.port ?? '?'}: use a port above 1024 (${where?.variable ?? '_PORT'})`;
  const variable = `${service.toUpperCase().replace(/-/g, '_')}_DATABASE_URL`;
  const server = (error as { address?: string; port?: number } | null);
  // PostgreSQL's answers in plain words (its SQLSTATE codes mean nothing to an operator), with what to do.
  if (code === '3D000') {
    return `its PostgreSQL database does not exist (${(error as Error).message}): create it (createdb <name>, or CREATE DATABASE) or correct ${variable}`;
  }
  if (code === '28P01' || code === '28000') {
    return `the PostgreSQL server refused the user or password in ${variable} (${(error as Error).message}): correct them, or grant that user access`;
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ETIMEDOUT') {
    const where = server?.address ? ` at ${server.address}${server.port ? `:${server.port}` : ''}` : '';
    return `cannot reach its PostgreSQL server${where} (${code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'unknown host' : 'nothing answers there'}): check ${variable} and that the server is running`;
  }
  return `failed to start: ${error instanceof Error ? error.message : String(error)}`;
}

/** Fails early, before any database is opened, when a port is taken. */
export async function assertPortsFree(host: string, ports: Record<string, { variable: string; port: number }>): Promise<void> {
  for (const [service, { variable, port }] of Object.entries(ports)) {
    if (port === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const probe = net.createServer();
      probe.once('error', (error: NodeJS.ErrnoException) => {
        reject(new StartupError(service, error.code === 'EADDRINUSE'
          ? `port ${port} is already in use: stop the process using it, or set ${variable} to a free port`
          : `cannot listen on ${host}:${port} (${error.code ?? error.message}): set ${variable}`));
      });
      probe.listen(port, host, () => probe.close(() => resolve()));
    });
  }
}

/** Drains on SIGTERM/SIGINT (after the deregistration delay, `delayMs`), then exits; a second signal exits at once. */
export function drainOnSignals(drain: (graceMs: number, delayMs: number) => Promise<void>, logger: Logger, graceMs = DEFAULT_SHUTDOWN_GRACE_MS, delayMs = DEFAULT_SHUTDOWN_DELAY_MS): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, delayMs, graceMs }, delayMs > 0
      ? 'stopping: /ready answers 503 and serving goes on for the deregistration delay, then draining'
      : 'draining: no new connections, finishing requests in flight');
    const started = Date.now();
    drain(graceMs, delayMs).then(
      () => {
        logger.info({ ms: Date.now() - started }, 'stopped');
        process.exit(0);
      },
      (error) => {
        logger.error({ err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
