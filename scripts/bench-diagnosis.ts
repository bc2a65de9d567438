/**
 * Where a benchmark round's time went, from the services' own Prometheus
 * metrics (lib/runtime/telemetry.ts), read just before and just after the
 * round: the evidence for where tail latency comes from (issue 23), per
 * service:
 *
 * - garbage collection: collector time per request, and pauses of 10 ms and
 *   more, and of 100 ms and more (`nodejs_gc_duration_seconds`);
 * - the event loop: its delay's p99 and maximum during the round
 *   (`nodejs_eventloop_lag_*`, which prom-client resets at every scrape, so
 *   the scrape before the round starts them afresh);
 * - PostgreSQL statements as the service saw them (pool wait included): time
 *   per request and the number of statements of 50 ms or more
 *   (`fpr_db_query_duration_seconds`);
 * - the audit append before a response leaves the gateway: its p99, as the
 *   upper bound of the histogram bucket it falls in
 *   (`fpr_audit_write_duration_seconds`).
 */
import { parsePrometheusText, type MetricFamily } from './prometheus-text.js';

type Families = Map<string, MetricFamily>;

/** Every service's metrics at one moment, by service name. */
export type MetricsSnapshot = Record<string, Families>;

export interface ServiceDiagnosis {
  gcMsPerRequest: number;
  gcPauses10ms: number;
  gcPauses100ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  dbMsPerRequest: number;
  dbStatements50ms: number;
  /** Gateway only: the audit append's p99 (bucket upper bound, ms) and how many appends took 50 ms or more. */
  auditP99Ms?: number;
  audit50ms?: number;
}

/** Reads every service's /metrics (ports by service name). */
export async function snapshotMetrics(ports: Record<string, number>): Promise<MetricsSnapshot> {
  return Object.fromEntries(await Promise.all(Object.entries(ports).map(async ([service, port]) => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    if (!response.ok) throw new Error(`${service}'s /metrics answered ${response.status}`);
    return [service, new Map(parsePrometheusText(await response.text()).map((family) => [family.name, family]))] as const;
  })));
}

/** The sum of a family's samples named `sample` whose labels include `labels`. */
function total(families: Families, family: string, sample: string, labels: Record<string, string> = {}): number {
  return (families.get(family)?.samples ?? [])
    .filter((s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** The change of a histogram between two snapshots: count, sum, and the count in each bucket (`le` → cumulative). */
function histogramDelta(before: Families, after: Families, family: string) {
  // Each bucket's count after, less its count before (summed over label sets).
  const buckets = new Map<number, number>();
  for (const [families, sign] of [[after, 1], [before, -1]] as const) {
    for (const s of families.get(family)?.samples ?? []) {
      if (!s.name.endsWith('_bucket')) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + sign * s.value);
    }
  }
  const count = total(after, family, `${family}_count`) - total(before, family, `${family}_count`);
  const sum = total(after, family, `${family}_sum`) - total(before, family, `${family}_sum`);
  const sorted = [...buckets.entries()].sort(([a], [b]) => a - b);
  return {
    count, sum,
    /** How many observations were above `seconds` (a bucket bound). */
    above: (seconds: number) => count - (buckets.get(seconds) ?? 0),
    /** The upper bound of the bucket the q-quantile falls in. */
    quantile: (q: number) => sorted.find(([, n]) => n >= q * count)?.[0] ?? Infinity,
  };
}

const ms = (seconds: number) => Math.round(seconds * 10_000) / 10;

/** What each service spent on what during a round of `requests` requests. */
export function diagnose(before: MetricsSnapshot, after: MetricsSnapshot, requests: number): Record<string, ServiceDiagnosis> {
  return Object.fromEntries(Object.keys(after).map((service) => {
    const a = before[service]!;
    const b = after[service]!;
    const gc = histogramDelta(a, b, 'nodejs_gc_duration_seconds');
    const db = histogramDelta(a, b, 'fpr_db_query_duration_seconds');
    const audit = histogramDelta(a, b, 'fpr_audit_write_duration_seconds');
    const diagnosis: ServiceDiagnosis = {
      gcMsPerRequest: ms(gc.sum / Math.max(1, requests)),
      gcPauses10ms: gc.above(0.01),
      gcPauses100ms: gc.above(0.1),
      loopDelayP99Ms: ms(total(b, 'nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_p99_seconds')),
      loopDelayMaxMs: ms(total(b, 'nodejs_eventloop_lag_max_seconds', 'nodejs_eventloop_lag_max_seconds')),
      dbMsPerRequest: ms(db.sum / Math.max(1, requests)),
      dbStatements50ms: db.above(0.05),
    };
    if (audit.count > 0) Object.assign(diagnosis, { auditP99Ms: ms(audit.quantile(0.99)), audit50ms: audit.above(0.05) });
    return [service, diagnosis];
  }));
}
