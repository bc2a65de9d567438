/**
 * The HTTP client for calls between services (gateway to subgraphs,
 * subgraph to subgraph): a JSON POST over node:http with keep-alive
 * connections and a deadline. Calls between services are the hot path of
 * every request, and node:http costs a fraction of what `fetch` (web streams,
 * Request/Response objects) costs per call; this is all they need.
 */
import http from 'node:http';
import { startOutgoingCall, type OutgoingCall } from './telemetry.js';

/** Connections are kept open and reused (per host and port). */
const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 1_000, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' });

export interface JsonAnswer {
  status: number;
  body: string;
}

/** Why a call got no answer: the deadline passed, or the connection failed. */
export class CallFailed extends Error {
  constructor(readonly reason: 'timeout' | 'unreachable', message: string) {
    super(message);
  }
}

/**
 * POSTs `body` (JSON text) to `url` and reads the whole answer, within
 * `timeoutMs` (connection, request and response together). With `call`, the
 * call is measured and traced (lib/runtime/telemetry.ts), its `traceparent` sent on.
 */
export function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number, call?: OutgoingCall): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    let settled = false;
    const ended = call ? startOutgoingCall(call, headers) : undefined;
    const finish = (error: Error | null, answer?: JsonAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ended?.(error instanceof CallFailed ? error.reason : error ? 'error' : answer!.status >= 200 && answer!.status < 300 ? 'ok' : 'error', answer?.status);
      if (error) reject(error);
      else resolve(answer!);
    };
    const request = http.request({
      agent, method: 'POST', hostname: target.hostname, port: target.port, path: target.pathname + target.search,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => finish(null, { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', (error) => finish(new CallFailed('unreachable', error.message)));
    });
    const timer = setTimeout(() => {
      finish(new CallFailed('timeout', `no answer from ${target.host} within ${timeoutMs} ms`));
      request.destroy();
    }, timeoutMs);
    request.on('error', (error) => finish(new CallFailed('unreachable', error.message)));
    request.end(body);
  });
}
