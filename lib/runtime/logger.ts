/**
 * Structured logs (pino, JSON lines) for every service: one line per request
 * and one per server-side failure (with its stack), each carrying the request
 * id (the same id as the `x-request-id` header and the audit events) and the
 * trace id, so a request can be followed through every service's log.
 *
 * What never goes into a log: tokens, request bodies, query variables, and
 * anything about a patient (ids included). The request line names the
 * operation, the actor's role, organisation and app, the status, the duration
 * and the error codes — enough to operate, nothing to disclose.
 *
 * `LOG_LEVEL` sets the level (default `info`; `silent` turns logging off, as
 * the test suite does). In development on a terminal each line is printed as
 * one short line (pino-pretty with its own message format: `12:04:31 gateway
 * POST /graphql Chart → 200 41 ms clinician@org-county-south`), so a request
 * is one line and the start-up banner stays in view; in production, or when
 * the output is not a terminal, they stay JSON lines for the collector.
 *
 * Routine background work (publishing's recovery poll finding nothing to do)
 * logs at debug: only work that did something reaches the info level.
 */
import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where lines go (tests pass a stream to read them); default stdout. */
  destination?: pino.DestinationStream;
  production?: boolean;
}

const REDACTED = [
  'req.headers.authorization', 'req.headers["x-actor-token"]', 'headers.authorization', 'headers["x-actor-token"]',
  'authorization', 'token', 'variables', 'body', 'patientId', 'patient',
];

export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const production = options.production ?? process.env.NODE_ENV === 'production';
  const base = { service };
  const settings: pino.LoggerOptions = {
    level,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (options.destination) return pino(settings, options.destination);
  if (!production && process.stdout.isTTY && level !== 'silent') {
    // In this thread (not a transport worker), so the message format can be a function; a terminal is a person reading.
    return pino(settings, pinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', hideObject: true, messageFormat: terminalLine, sync: true }));
  }
  // Buffered, asynchronous writes: lines gather up to 4 KiB (about twenty
  // request lines) and go out in one system call, and at least every 250 ms.
  // One write per line (seven lines per chart request across the services,
  // each a trip through libuv's thread pool) cost about 13% of the chart's
  // throughput; pino flushes what is left on exit.
  return pino(settings, pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 }));
}

/** The keys of a request line (lib/runtime/http.ts) and of every line (pino's own). */
const OWN_KEYS = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname', 'err']);

/**
 * One line for a person: a request as `service METHOD path operation → status
 * ms actor [error codes]`, anything else as its message with its fields as
 * key=value (an error's stack on the lines after, where it helps most).
 */
export function terminalLine(log: Record<string, unknown>): string {
  const service = String(log.service ?? '');
  if (log.msg === 'request' || log.msg === 'probe') {
    const op = log.op && log.op !== log.path ? ` ${String(log.op)}` : '';
    const who = log.role ? ` ${String(log.role)}${log.org ? `@${String(log.org)}` : ''}${log.app ? ` app=${String(log.app)}` : ''}` : '';
    const codes = Array.isArray(log.codes) && log.codes.length ? ` [${log.codes.join(', ')}]` : '';
    return `${service} ${String(log.method)} ${String(log.path)}${op} → ${String(log.status)} ${String(log.ms)} ms${who}${codes}${log.aborted ? ' (aborted)' : ''}`;
  }
  const fields = Object.entries(log).filter(([key]) => !OWN_KEYS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`).join(' ');
  const err = log.err as { stack?: string; message?: string } | undefined;
  return `${service} ${String(log.msg ?? '')}${fields ? ` ${fields}` : ''}${err ? `\n${err.stack ?? err.message ?? ''}` : ''}`;
}
