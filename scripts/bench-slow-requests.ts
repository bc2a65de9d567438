/**
 * Where the slowest requests of a benchmark round spent their time, from the
 * services' own request log lines (lib/runtime/http.ts: one line per request
 * a service answers, with the request id the gateway gave it and the
 * milliseconds it took). Every call the gateway makes for a request carries
 * that id, so joining the lines by id gives, for each request the client
 * measured: how long it waited before the gateway started on it, how long
 * each service worked on it, and how many other requests the gateway had in
 * hand when it arrived. The slowest 1% are set beside the typical request
 * (p40–p60): a service whose time grows in the slow ones is where the tail
 * comes from; time before the gateway is the client's or the kernel's; and a
 * slow request that arrived with others in hand was queued behind them, one
 * that arrived alone was held up by something else (a pause, another
 * process).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** One request as the client measured it: its id (the x-request-id answer header), when it was due to leave, and its latency. */
export interface ClientSample {
  requestId: string | null;
  scheduledAt: number;
  latencyMs: number;
}

/** One service's line for a request: when it started and finished it (epoch ms; the line's time less its ms). */
interface LogLine {
  service: string;
  start: number;
  end: number;
}

/** How far each log file had been written at a moment: a round reads only what was written after. */
export type LogOffsets = Record<string, number>;

export function logOffsets(files: Record<string, string>): LogOffsets {
  return Object.fromEntries(Object.entries(files).map(([service, file]) => [service, statSync(file).size]));
}

/** What each file gained since `offsets`: the log lines written during a round, by service. */
export function logsSince(files: Record<string, string>, offsets: LogOffsets): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([service, file]) => [service, readSince(file, offsets[service] ?? 0)]));
}

function readSince(file: string, offset: number): string {
  const size = statSync(file).size;
  if (size <= offset) return '';
  const buffer = Buffer.alloc(size - offset);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('utf8');
}

/** The request lines of each service's log text, by request id. */
function requestLines(logs: Record<string, string>): Map<string, LogLine[]> {
  const byRequest = new Map<string, LogLine[]>();
  for (const [service, log] of Object.entries(logs)) {
    for (const text of log.split('\n')) {
      if (!text.includes('"msg":"request"')) continue;
      try {
        const line = JSON.parse(text) as { rid?: string; ms?: number; time?: string | number };
        if (!line.rid || typeof line.ms !== 'number' || line.time === undefined) continue;
        const end = new Date(line.time).getTime();
        const entries = byRequest.get(line.rid) ?? [];
        entries.push({ service, start: end - line.ms, end });
        byRequest.set(line.rid, entries);
      } catch { /* a line cut at the round's start */ }
    }
  }
  return byRequest;
}

/** How many milliseconds the lines' intervals cover together (overlaps counted once). */
function covered(lines: LogLine[]): number {
  let total = 0;
  let reach = -Infinity;
  for (const { start, end } of [...lines].sort((a, b) => a.start - b.start)) {
    if (end <= reach) continue;
    total += end - Math.max(start, reach);
    reach = end;
  }
  return total;
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};

export interface SlowRequestReport {
  slow: number;
  /** When each of the slowest was due, in seconds from the round's first request (at `firstAt`): one moment, or spread out. */
  slowAtSeconds: number[];
  firstAt: string;
  /** Medians over the slowest 1% and over the typical requests (p40–p60). */
  slowest: Breakdown;
  typical: Breakdown;
}

interface Breakdown {
  latencyMs: number;
  /** From when the request was due to when the gateway started on it. */
  beforeGatewayMs: number;
  gatewayMs: number;
  /**
   * The gateway's milliseconds while no subgraph was working on the request: its own work (parsing, planning,
   * merging, the audit append's wait) and its own waits for a CPU.
   */
  gatewayAloneMs: number;
  /** Requests the gateway was already working on when this one arrived. */
  inHand: number;
  /** Each subgraph's milliseconds for the request (its calls added up). */
  services: Record<string, number>;
}

/**
 * The slowest 1% of `samples` against the typical ones, from each service's log lines (by service name);
 * undefined when fewer than 100 requests are found in them (LOG_LEVEL above info, or no request id in the answers).
 */
export function slowRequests(samples: ClientSample[], logs: Record<string, string>, gateway = 'gateway'): SlowRequestReport | undefined {
  const lines = requestLines(logs);
  const gatewayLines = [...lines.values()].flatMap((ls) => ls.filter((l) => l.service === gateway));
  const inHandAt = (at: number) => gatewayLines.filter(({ start, end }) => start < at && end > at).length;
  const sorted = samples.filter((s) => s.requestId && lines.has(s.requestId)).sort((a, b) => a.latencyMs - b.latencyMs);
  if (sorted.length < 100) return undefined;
  const breakdown = (group: ClientSample[]): Breakdown => {
    const rows = group.map((sample) => {
      const own = lines.get(sample.requestId!)!;
      const gw = own.find((l) => l.service === gateway);
      const gatewayMs = gw ? gw.end - gw.start : NaN;
      const services: Record<string, number> = {};
      for (const l of own) if (l.service !== gateway) services[l.service] = (services[l.service] ?? 0) + l.end - l.start;
      return {
        latency: sample.latencyMs, before: (gw?.start ?? NaN) - sample.scheduledAt, gateway: gatewayMs,
        alone: gatewayMs - covered(own.filter((l) => l !== gw)), inHand: gw ? inHandAt(gw.start) : NaN, services,
      };
    });
    const names = [...new Set(rows.flatMap((r) => Object.keys(r.services)))].sort();
    return {
      latencyMs: median(rows.map((r) => r.latency)),
      beforeGatewayMs: median(rows.map((r) => r.before)),
      gatewayMs: median(rows.map((r) => r.gateway)),
      gatewayAloneMs: median(rows.map((r) => r.alone)),
      inHand: median(rows.map((r) => r.inHand)),
      services: Object.fromEntries(names.map((n) => [n, median(rows.map((r) => r.services[n] ?? 0))])),
    };
  };
  const slow = sorted.slice(Math.floor(sorted.length * 0.99));
  const typical = sorted.slice(Math.floor(sorted.length * 0.4), Math.ceil(sorted.length * 0.6));
  const first = Math.min(...samples.map((s) => s.scheduledAt));
  const slowAtSeconds = slow.map((s) => Math.round((s.scheduledAt - first) / 100) / 10).sort((a, b) => a - b);
  return { slow: slow.length, slowAtSeconds, firstAt: new Date(first).toISOString(), slowest: breakdown(slow), typical: breakdown(typical) };
}

/** One line: the slowest 1% against the typical request. */
export function describeSlowRequests(report: SlowRequestReport): string {
  const r = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : '?');
  const { slowest: s, typical: t } = report;
  const services = Object.keys({ ...s.services, ...t.services }).sort().map((n) => `${n} ${r(s.services[n] ?? 0)}/${r(t.services[n] ?? 0)}`).join(', ');
  return `slowest 1% (${report.slow}, due at ${report.slowAtSeconds.join(', ')} s after ${report.firstAt.slice(11, 23)}) / typical, medians in ms: latency ${r(s.latencyMs)}/${r(t.latencyMs)}, before the gateway ${r(s.beforeGatewayMs)}/${r(t.beforeGatewayMs)}, `
    + `gateway ${r(s.gatewayMs)}/${r(t.gatewayMs)} (alone ${r(s.gatewayAloneMs)}/${r(t.gatewayAloneMs)}) with ${r(s.inHand)}/${r(t.inHand)} others in hand; ${services}`;
}
